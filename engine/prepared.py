"""Core statements compiled once, run on the driver's cursor: the act path's statements.

An act sends a handful of statements (its case with its round, the case written back, the
audit row, the chain head, the case read back). Written as SQLAlchemy Core and built once
(bind parameters), each still costs SQLAlchemy's execution machinery every time it runs:
the compiled-cache lookup, the execution context, the result object and its row processors,
several times the driver's own work. :class:`Prepared` compiles its statement once per
dialect — the SQL text, the order of its parameters, the type conversions SQLAlchemy would
apply to each parameter and each result column — and runs it on the DBAPI cursor of the
connection the transaction already holds, in that transaction.

What is observed stays observed: while anything listens to the engine's
``before_cursor_execute`` (the tests that count statements, the benchmarks' counters), the
same SQL goes through ``Connection.exec_driver_sql``, which those listeners see (and which
does not compile the statement again: a multi-row ``VALUES`` is not in SQLAlchemy's
compiled cache).
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Prepared", "unobserved"]

#: (connection, its driver connection) while the store's writer connection is in a transaction
#: that nothing observes (``Store._held``): its statements skip the listener check and the
#: lookup of the driver's connection. Only the thread holding that connection uses it; the
#: pair is replaced whole (one assignment), so a reader never sees half of another's.
_quiet: tuple[Any, Any] = (None, None)


def unobserved(connection: Any, driver: Any) -> None:
    """Mark ``connection`` (and its driver's connection ``driver``) as observed by no listener
    until the next call; ``unobserved(None, None)`` ends it."""
    global _quiet
    _quiet = (connection, driver)


def _driver(connection: Any) -> Any:
    """The driver's connection to run on, or None when listeners observe ``connection``."""
    quiet = _quiet
    if connection is quiet[0]:
        return quiet[1]
    if connection.dispatch.before_cursor_execute:
        return None
    return connection.connection.dbapi_connection


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]  # the parameters in the order the SQL takes them (positional)
    defaults: dict[str, Any]  # values fixed in the statement (literals, IN lists)
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    converts: tuple[tuple[int, Callable[[Any], Any]], ...]  # result columns to convert
    #: the positional arguments from the values (``names``, in order), as a tuple
    take: Callable[[dict[str, Any]], tuple[Any, ...]]


def _taker(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``tuple(values[name] for name in names)``, made once (``itemgetter`` answers one name
    with the bare value, none with an error: a tuple either way here)."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    if names:
        name = names[0]
        return lambda values: (values[name],)
    return lambda _values: ()


class Prepared:
    """A Core statement, compiled on first use per dialect; see the module's docstring."""

    __slots__ = ("_by_dialect", "statement")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Any) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            defaults = {key: value for key, value in compiled.construct_params(_check=False).items()
                        if value is not None}
            processors = compiled._bind_processors
            escaped = compiled.escaped_bind_names or {}
            results = [entry.type._cached_result_processor(dialect, None)
                       for entry in (compiled._result_columns or ())]
            names = tuple(compiled.positiontup or ()) if dialect.positional else ()
            found = _Compiled(
                sql=compiled.string, positional=dialect.positional, names=names,
                defaults=defaults,
                binds=tuple((escaped.get(name, name), processor)
                            for name, processor in processors.items()
                            if callable(processor)),
                converts=tuple((index, convert) for index, convert in enumerate(results)
                               if convert is not None),
                take=_taker(names))
            if (escaped and not dialect.positional) or compiled.post_compile_params:
                # parameters renamed in the SQL, or expanded when run (``IN`` lists): such a
                # statement is not for this path
                raise NotImplementedError(f"not a prepared statement: {compiled.string!r}")
            self._by_dialect[dialect.name] = found
        return found

    def _cursor(self, connection: Any, params: dict[str, Any] | None, driver: Any = None
                ) -> tuple[Any, _Compiled, Any]:
        """The statement run on the driver's connection (``driver``, or looked up): its cursor,
        its compiled form and its arguments; while listeners observe ``connection``, not run
        (no cursor: the caller runs the same SQL through SQLAlchemy). One call for what every
        statement of an act does."""
        compiled = self._by_dialect.get(connection.dialect.name)
        if compiled is None:
            compiled = self._compiled(connection.dialect)
        if compiled.defaults:
            values = {**compiled.defaults, **params} if params else dict(compiled.defaults)
        elif compiled.binds:
            values = dict(params) if params else {}
        else:  # nothing to change: the caller's own values, read only
            values = params or {}
        for name, processor in compiled.binds:
            if name in values:
                values[name] = processor(values[name])
        arguments: Any = compiled.take(values) if compiled.positional else values
        if driver is None:
            quiet = _quiet
            driver = quiet[1] if connection is quiet[0] else _driver(connection)
            if driver is None:
                return None, compiled, arguments
        try:
            # the driver's ``execute``: a new cursor, run (one call; a failed one is closed)
            return driver.execute(compiled.sql, arguments), compiled, arguments
        except Exception as error:
            # as ``Connection.execute`` would: wrapped (``DBAPIError``), a lost connection
            # invalidated, so that the store reports it as it reports any other
            connection._handle_dbapi_exception(error, compiled.sql, arguments, None, None)
            raise  # not reached: the handler raises

    def rows(self, connection: Any, params: dict[str, Any] | None = None
             ) -> list[Sequence[Any]]:
        """The result rows (as tuples, each column converted as SQLAlchemy would)."""
        cursor, compiled, arguments = self._cursor(connection, params)
        if cursor is None:  # observed: the same SQL, seen
            fetched: list[Any] = [tuple(row) for row in
                                  connection.exec_driver_sql(compiled.sql, arguments)]
        else:
            try:
                fetched = cursor.fetchall()
            finally:
                cursor.close()
        converts = compiled.converts
        if not converts:
            return fetched
        rows: list[Sequence[Any]] = []
        for row in fetched:
            values = list(row)
            for index, convert in converts:
                if values[index] is not None:
                    values[index] = convert(values[index])
            rows.append(values)
        return rows

    def first(self, connection: Any, params: dict[str, Any] | None = None
              ) -> Sequence[Any] | None:
        """The first result row, or None."""
        found = self.rows(connection, params)
        return found[0] if found else None

    def run(self, connection: Any, params: dict[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        cursor, compiled, arguments = self._cursor(connection, params)
        if cursor is None:  # observed: the same SQL, seen
            return int(connection.exec_driver_sql(compiled.sql, arguments).rowcount)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    @contextlib.contextmanager
    def batches(self, connection: Any, params: dict[str, Any] | None = None, *,
                size: int = 1000) -> Iterator[Iterator[Sequence[Sequence[Any]]]]:
        """The result rows of a long read, in lists of ``size`` rows fetched at a time: on
        SQLite the driver's own tuples (for a statement whose result columns SQLAlchemy
        would not convert); elsewhere, or while observed, SQLAlchemy's rows read with
        ``yield_per`` (a server-side cursor on PostgreSQL)."""
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None and dialect.name == "sqlite":
            compiled = self._compiled(dialect)
        driver = _driver(connection) if dialect.name == "sqlite" else None
        if compiled is None or compiled.converts or driver is None:
            with connection.execute(self.statement, params or {},
                                    execution_options={"yield_per": size}) as result:
                yield result.partitions()
            return
        cursor, compiled, _arguments = self._cursor(connection, params, driver)

        def fetched() -> Iterator[list[Any]]:
            while True:
                try:
                    rows = cursor.fetchmany(size)
                except Exception as error:  # wrapped as SQLAlchemy's own fetch would be
                    connection._handle_dbapi_exception(error, compiled.sql, None, cursor,
                                                       None)
                if not rows:
                    return
                yield rows

        try:
            yield fetched()
        finally:
            cursor.close()
