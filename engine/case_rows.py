"""The case and its round as an act reads and writes them: plain rows, no ORM.

An act on one case (``Kernel.act``) reads the case with its round — and the case's deadlines,
objections and reports (:func:`case_parts`), which the case's view shows — by one prepared
statement (``gdcluster.engine.prepared``), locking only the case row, and builds a
:class:`CaseRow` and a :class:`RoundRow` from it: objects with the tables' columns as
attributes, which guards, effects and the case view read as they would a ``Case`` and a
``Round``, without an identity map, attribute instrumentation or a unit of work. The act's
changes to the case are written by one ``UPDATE … WHERE id = ? AND version = <as loaded>`` of
the changed columns (:func:`write`); a case changed meanwhile is ``CaseChanged``, which
the kernel reports as ``ConcurrentModification``. The round is only read by an act.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam, select, update

from gdcluster.engine.case_tables import (
    ANNUAL_REPORT,
    APPLICATION,
    CASE,
    DEADLINE,
    OBJECTION,
    ROUND,
)
from gdcluster.engine.ormless import CaseChanged
from gdcluster.engine.plain_reads import DEADLINE_PART, OBJECTION_PART, REPORT_PART
from gdcluster.engine.prepared import Prepared

__all__ = ["CaseRow", "Loaded", "RoundRow", "case_parts", "load", "load_for_timer", "write"]

CASE_COLUMNS: tuple[str, ...] = tuple(column.name for column in CASE.columns)
#: The round's columns an act reads: its stored batches (a pick of up to thousands of ids)
#: are read only by the round acts, which load the round themselves.
ROUND_COLUMNS: tuple[str, ...] = tuple(
    column.name for column in ROUND.columns
    if column.name not in ("publicity_pick", "recognition_batch"))
#: JSON columns of the case: copied when loaded, so that a change made in place is written.
_JSON = frozenset(name for name in CASE_COLUMNS
                  if type(CASE.c[name].type).__name__ == "JSON")


def _made(name: str, source: str, **names: Any) -> Any:
    """The function ``name`` defined by ``source`` (a row's ``__init__`` or ``changes``
    written out column by column, as ``dataclasses`` writes its ``__init__``: every act runs
    them, and a loop of ``setattr``/``getattr`` over the columns costs several times more)."""
    scope: dict[str, Any] = dict(names)
    exec(source, scope)  # the source is made here, from the tables' column names
    return scope[name]


def _row_init(columns: tuple[str, ...], json: frozenset[str], keep: bool) -> Any:
    """``__init__(self, values)``: each column set from ``values`` (as many as the columns,
    else ``ValueError``); a JSON column's value copied (deeply) when it is not empty; with
    ``keep``, the values kept as loaded (``_loaded``)."""
    lines = ["def __init__(self, values):",
             f"    ({', '.join(f'self.{name}' for name in columns)},) = values"]
    lines += [f"    if self.{name}:\n        self.{name} = deepcopy(self.{name})"
              for name in columns if name in json]
    if keep:
        lines.append("    self._loaded = tuple(values)")
    return _made("__init__", "\n".join(lines), deepcopy=copy.deepcopy)


def _row_changes(columns: tuple[str, ...]) -> Any:
    """``changes(self)``: the columns whose value is not (``is not`` and ``!=``) as loaded."""
    lines = ["def changes(self):", "    changed = {}",
             f"    ({', '.join(f'_{index}' for index in range(len(columns)))},) = self._loaded"]
    for index, name in enumerate(columns):
        lines += [f"    value = self.{name}",
                  f"    if value is not _{index} and value != _{index}:",
                  f"        changed[{name!r}] = value"]
    lines.append("    return changed")
    return _made("changes", "\n".join(lines))


class CaseRow:
    """A case row read by an act: its columns as attributes; :meth:`changes` tells what the
    act changed since it was loaded."""

    __slots__ = (*CASE_COLUMNS, "_loaded")

    #: ``__init__(self, values)``: the columns from the row's values (JSON ones copied)
    __init__ = _row_init(CASE_COLUMNS, _JSON, keep=True)
    #: ``changes(self) -> dict[str, Any]``: the columns changed since the row was loaded,
    #: with their new values
    changes = _row_changes(CASE_COLUMNS)

    def loaded(self, name: str) -> Any:
        """The column as loaded."""
        return self._loaded[CASE_COLUMNS.index(name)]

    def __repr__(self) -> str:
        return f"CaseRow(id={self.id!r}, state={self.state!r}, version={self.version!r})"

    if TYPE_CHECKING:  # the columns, set by name
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...


class RoundRow:
    """A round read with an act's case: its columns (but its stored batches) as attributes."""

    __slots__ = ROUND_COLUMNS

    #: ``__init__(self, values)``: the columns from the row's values
    __init__ = _row_init(ROUND_COLUMNS, frozenset(), keep=False)

    if TYPE_CHECKING:  # the columns, set by name
        def __getattr__(self, name: str) -> Any: ...


def case_parts() -> Any:
    """A case's deadlines, objections and annual reports as one ``UNION ALL``, in columns of
    one shape: part, a number (deadline id, objection id, report year), a time (due, filed)
    and up to five texts."""
    from sqlalchemy import Integer, Text, literal_column, null, type_coerce, union_all

    deadline = DEADLINE.c
    objection = OBJECTION.c
    report = ANNUAL_REPORT.c
    case_id: Any = bindparam("case_id")

    def shape(part: int, number: Any, at: Any, *texts: Any) -> list[Any]:
        texts = texts + (null(),) * (5 - len(texts))
        # type_coerce, not CAST: the columns already agree on both back-ends, and SQLite's
        # CAST(… AS DATETIME) would turn a stored time into a number
        return [literal_column(str(part), Integer).label("part"),
                type_coerce(number, Integer).label("number"),
                type_coerce(at, deadline.due_at.type).label("at"),  # aware UTC, both
                *(type_coerce(text, Text).label(f"text{index}")
                  for index, text in enumerate(texts, start=1))]

    return union_all(
        select(*shape(DEADLINE_PART, deadline.id, deadline.due_at, deadline.kind,
                      deadline.key, deadline.status, deadline.result))
        .where(deadline.case_id == case_id),
        select(*shape(OBJECTION_PART, objection.id, objection.filed_at, objection.name,
                      objection.unit, objection.status, objection.evidence,
                      objection.resolution))
        .where(objection.case_id == case_id),
        select(*shape(REPORT_PART, report.year, null()))
        .where(report.case_id == case_id),
    )


#: The columns of :func:`case_parts`.
_PARTS = 8


def _load_statement(parts: bool = True, lock_round: bool = False) -> Any:
    """The case with its round; with ``parts``, joined (``ON true``) to the case's parts: one
    row per part, or one row with the parts' columns null when it has none. Each branch of
    the parts names the case itself, so that the union is read by the case's indexes, not
    joined. ``lock_round``: the round's row is locked too (``FOR UPDATE OF`` both, the case
    first; a case always has its round, so the join is inner: a lock needs one)."""
    from sqlalchemy import null, true

    joined = (CASE.join(ROUND, ROUND.c.year == CASE.c.round_year) if lock_round
              else CASE.outerjoin(ROUND, ROUND.c.year == CASE.c.round_year))
    if parts:
        side = case_parts().subquery("parts")
        joined = joined.outerjoin(side, true())
        columns = list(side.c)
    else:  # the same columns, null
        columns = [null().label(f"part{index}") for index in range(_PARTS)]
    return (select(*(CASE.c[name] for name in CASE_COLUMNS),
                   *(ROUND.c[name] for name in ROUND_COLUMNS), *columns)
            .select_from(joined)
            .where(CASE.c.id == bindparam("case_id"))
            .with_for_update(of=[CASE, ROUND] if lock_round else CASE))


def _load_with_application(parts: bool = True, lock_round: bool = False) -> Any:
    side = APPLICATION
    statement = _load_statement(parts, lock_round)
    return (statement.add_columns(side.c.data)
            .outerjoin(side, side.c.case_id == CASE.c.id))


@cache
def _loads(application: bool, parts: bool, lock_round: bool) -> Prepared:
    """The case with its round, and the case's application (as stored, for the acts whose
    guards judge it), its parts (for an act that hands back its view), the round locked too
    (PostgreSQL, for the acts that count against the round): each built when first used (a
    command acts once or twice, and building all eight costs more than the act's own SQL)."""
    return Prepared(_load_with_application(parts, lock_round) if application
                    else _load_statement(parts, lock_round))


_SPLIT = len(CASE_COLUMNS)
_ROUND_END = _SPLIT + len(ROUND_COLUMNS)
_PARTS_END = _ROUND_END + _PARTS


class Loaded(NamedTuple):
    """What :func:`load` read: the case, its round, its application as stored (when asked
    for), and the rows of :func:`case_parts` as they were when the act began."""

    case: CaseRow
    round: RoundRow | None
    application: str | None
    parts: list[Sequence[Any]]


def load(connection: Any, case_id: int, *, application: bool = False,
         parts: bool = True, lock_round: bool = False) -> Loaded | None:
    """The case ``case_id`` (its row locked ``FOR UPDATE`` on PostgreSQL; SQLite's writer
    holds the database) with its round (locked too with ``lock_round``), its parts (none read
    without ``parts``), and its application as stored when asked (else None); None when there
    is no such case."""
    return _loaded(_loads(application, parts, lock_round).rows(connection, {"case_id": case_id}),
                   application)


#: A timer's load (``engine/sweep.py``): the case with its round and its parts, the case row
#: locked — or, with ``skip_locked`` (PostgreSQL), not read at all while another transaction
#: holds it.
@cache
def _timer_load(skip_locked: bool) -> Prepared:
    return Prepared(_load_statement().with_for_update(of=CASE, skip_locked=skip_locked))


def load_for_timer(connection: Any, case_id: int, *, skip_locked: bool = False) -> Loaded | None:
    """:func:`load` with the case's parts, for a due deadline: None when there is no such case
    (or, with ``skip_locked``, when another transaction holds its row)."""
    return _loaded(_timer_load(skip_locked).rows(connection, {"case_id": case_id}), False)


def _loaded(rows: list[Sequence[Any]], application: bool) -> Loaded | None:
    if not rows:
        return None
    row = rows[0]
    case = CaseRow(row[:_SPLIT])
    round_row = RoundRow(row[_SPLIT:_ROUND_END]) if row[_SPLIT] is not None else None
    found = [part[_ROUND_END:_PARTS_END] for part in rows if part[_ROUND_END] is not None]
    return Loaded(case, round_row, row[_PARTS_END] if application else None, found)


@cache
def _round_locked() -> Prepared:
    return Prepared(select(*(ROUND.c[name] for name in ROUND_COLUMNS))
                    .where(ROUND.c.year == bindparam("year")).with_for_update())


def load_round_locked(connection: Any, year: int) -> RoundRow:
    """The round ``year`` read again under its row lock (``FOR UPDATE``: PostgreSQL)."""
    row = _round_locked().first(connection, {"year": year})
    if row is None:
        from gdcluster.engine.errors import NotFound

        raise NotFound("round", year)
    return RoundRow(row)


#: One prepared ``UPDATE`` per set of changed columns (an act changes two to six of them).
_UPDATES: dict[frozenset[str], Prepared] = {}


def _update(names: frozenset[str]) -> Prepared:
    found = _UPDATES.get(names)
    if found is None:
        found = _UPDATES[names] = Prepared(
            update(CASE).where(CASE.c.id == bindparam("_case_id"),
                               CASE.c.version == bindparam("_loaded_version"))
            .values({name: bindparam(name, type_=CASE.c[name].type)
                     for name in sorted(names)}))
    return found


def write(connection: Any, case: CaseRow) -> None:
    """Write what the act changed on ``case`` (``UPDATE … WHERE version = <as loaded>``);
    ``CaseChanged`` when another writer changed the case first."""
    changed = case.changes()
    if not changed:
        return
    values = dict(changed)
    values["_case_id"] = case.id
    values["_loaded_version"] = case.loaded("version")
    if _update(frozenset(changed)).run(connection, values) != 1:
        raise CaseChanged(f"case {case.id} changed under this act")
