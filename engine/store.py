"""Opening databases and running transactions.

SQLite is the embedded default. Writers open ``BEGIN IMMEDIATE`` so two processes never both
read-then-write the same row under a deferred transaction (DESIGN §13: deferred transactions lost
26% of updates in a 4-process test). Readers stay deferred, so WAL readers never wait. The file is
opened with ``journal_mode=WAL`` and ``synchronous=FULL``: a committed transition survives power
loss, and a crash leaves either the whole transaction or none of it.

Opening says what is wrong, as :class:`DatabaseUnavailable` (exit 2), before anything else:

* a SQLite file is never created except by ``gdcluster init`` (``Store(url, create=True)``);
  a missing file, a folder, an unreadable file or one that is not SQLite is named as such;
* a file this user may read but not write (or whose folder it may not write) is opened
  read-only (SQLite ``mode=ro``), so reading commands work and nothing is written; when no
  ``-wal``/``-shm`` exists beside it (no connection has it open) it is opened ``immutable``, so
  SQLite creates nothing in a folder that is not ours. Acts on it are refused up front;
* a PostgreSQL server that refuses, does not answer (``connect_timeout``, default
  :data:`CONNECT_TIMEOUT_S` s) or has no such database is reported with the driver's cause;
* ``postgres://`` and ``postgresql://`` mean psycopg 3; any back-end but SQLite and PostgreSQL
  is refused.

Only a database that is there, reachable and without the gdcluster tables is
``NotInitialized`` ("run ``gdcluster init``").

The SQLite file's device and inode are recorded when it is opened. Every write transaction, and
``notifications.delivery`` before each send, checks the path still names that file
(:meth:`Store.ensure_same`): after ``rm gdcluster.db*`` the open connections would go on writing
into the deleted file, and notices would announce acts that exist in no database.

A PostgreSQL connection that drops mid-transaction is :class:`ConnectionLost` (exit 5): the
server rolls the transaction back, so retrying is safe. One the server ended while it waited in
the pool (a restart, ``pg_terminate_backend``) is replaced before it is used: the server's
goodbye (its error message, the socket's end) makes the idle connection's socket readable, so
a pooled connection whose socket has nothing to read is taken as it is, and one that does is
pinged, and replaced if the ping fails (:func:`_server_setup`) — what ``pool_pre_ping`` does,
without its round trip on every act.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

from gdcluster.engine.errors import (
    ConcurrentModification,
    ConnectionLost,
    DatabaseReplaced,
    DatabaseUnavailable,
    InvalidInput,
)
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import is_session
from gdcluster.engine.prepared import unobserved

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

DEFAULT_URL = "sqlite:///gdcluster.db"
BUSY_TIMEOUT_MS = 30_000
#: Seconds a PostgreSQL connection attempt may take, unless the URL sets ``connect_timeout``.
CONNECT_TIMEOUT_S = 10
_IMMEDIATE = "gdcluster_immediate"
#: PostgreSQL drivers gdcluster runs on: psycopg 3 (``psycopg2`` URLs are served by it too).
_PG_DRIVERS = ("", "psycopg", "psycopg2")


def resolve_url(url: str | None) -> str:
    """``--db`` / ``GDCLUSTER_DB`` / ``./gdcluster.db``; a bare path means a SQLite file."""
    url = url or os.environ.get("GDCLUSTER_DB") or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{url}"
    return url


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL gdcluster opens: SQLite, or PostgreSQL through psycopg 3."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidInput(Message("not a database URL: {url!r}", url=url), field="db") from exc
    backend, _, driver = parsed.drivername.partition("+")  # without loading any dialect
    if backend in ("postgres", "postgresql") and driver in _PG_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    raise InvalidInput(
        Message("unsupported database URL scheme {scheme!r}: use a SQLite file "
                "(sqlite:///PATH, or just PATH) or PostgreSQL (postgresql://USER@HOST/DB)",
                scheme=parsed.drivername),
        field="db",
    )


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _cause(exc: BaseException) -> str:
    """The driver's own words, on one line."""
    origin = getattr(exc, "orig", None) or exc
    words = " ".join(str(origin).split())
    return words if len(words) <= 400 else words[:400] + "…"


def _access(path: str, mode: int) -> bool:
    """Whether this process may access ``path`` so (effective ids where the OS knows them)."""
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)


def _sqlite_mode(path: str, *, create: bool) -> str:
    """How to open the SQLite file at ``path`` (``rwc``, ``rw``, ``ro``, ``immutable``), or
    :class:`DatabaseUnavailable` with the reason it cannot be."""
    url = f"sqlite:///{path}"
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise DatabaseUnavailable(Message("{path} is a folder, not a database file", path=path),
                                  url=url)
    if not os.path.exists(path):
        if not create:
            raise DatabaseUnavailable(
                Message("no database file at {path}: `gdcluster init` creates one (or check "
                        "--db and GDCLUSTER_DB)", path=path), url=url)
        if not os.path.isdir(folder):
            raise DatabaseUnavailable(
                Message("cannot create {path}: the folder {folder} does not exist", path=path,
                        folder=folder), url=url)
        if not _access(folder, os.W_OK | os.X_OK):
            raise DatabaseUnavailable(
                Message("cannot create {path}: no permission to write in {folder}", path=path,
                        folder=folder), url=url)
        return "rwc"
    if not _access(path, os.R_OK):
        raise DatabaseUnavailable(Message("cannot read {path}: permission denied", path=path),
                                  url=url)
    if _access(path, os.W_OK) and _access(folder, os.W_OK | os.X_OK):
        return "rw"
    if create:
        raise DatabaseUnavailable(
            Message("{path} is read-only for this user (the file or its folder): `gdcluster "
                    "init` needs to write both", path=path), url=url)
    # A live writer keeps -wal and -shm beside the file: read through them. Without them no
    # connection has the file open and its content is whole: read it as it is, creating nothing.
    if any(os.path.exists(path + suffix) for suffix in ("-wal", "-shm")):
        return "ro"
    return "immutable"


#: SQLite ``synchronous`` settings a store may be opened with (FULL is the default).
SYNCHRONOUS = ("FULL", "NORMAL")


def open_engine(url: str, *, create: bool = False,
                synchronous: str = "FULL") -> tuple[SAEngine, str]:
    """An SQLAlchemy engine for ``url`` (nothing connected yet) and how it opens the database:
    ``server``, ``memory``, or a SQLite file's ``rwc``, ``rw``, ``ro`` or ``immutable``."""
    from sqlalchemy import create_engine

    if synchronous not in SYNCHRONOUS:
        from gdcluster.engine.i18n import Message

        raise InvalidInput(Message("synchronous must be FULL or NORMAL, not {value}",
                                   value=synchronous), field="synchronous")
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        engine = create_engine(parsed, connect_args=connect_args)
        _server_setup(engine)
        return engine, "server"
    if parsed.database in (None, "", ":memory:"):
        engine = create_engine(parsed, poolclass=StaticPool, connect_args={
            "timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        _sqlite_setup(engine, memory=True, read_only=False, synchronous=synchronous)
        return engine, "memory"
    path = os.path.abspath(parsed.database)
    mode = _sqlite_mode(path, create=create)
    target = f"file:{quote(path)}?" + ("mode=ro&immutable=1" if mode == "immutable"
                                       else f"mode={mode}")

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)

    engine = create_engine(parsed.set(database=path), creator=connect)
    _sqlite_setup(engine, memory=False, read_only=mode in READ_ONLY_MODES,
                  synchronous=synchronous)
    return engine, mode


#: How a SQLite file is opened when this user may not write it (see ``_sqlite_mode``).
READ_ONLY_MODES = ("ro", "immutable")


def _sqlite_setup(engine: SAEngine, *, memory: bool, read_only: bool,
                  synchronous: str = "FULL") -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory and not read_only:  # setting the journal mode writes the file header
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")  # one of SYNCHRONOUS
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        if connection.connection.dbapi_connection.in_transaction:
            return  # the store's own transaction (``Store._held``): SQLAlchemy joins it
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        if connection.dispatch.before_cursor_execute:  # observed: as any statement
            connection.exec_driver_sql(sql)
            return
        try:  # on the driver's connection (``gdcluster.engine.prepared`` says why)
            connection.connection.dbapi_connection.execute(sql)
        except Exception as error:  # wrapped as ``exec_driver_sql`` would (busy: exit 5)
            connection._handle_dbapi_exception(error, sql, (), None, None)


def _server_setup(engine: SAEngine) -> None:
    @event.listens_for(engine, "checkout")
    def _alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _quiet(dbapi_connection):
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool replaces it (and tries again)
            raise DisconnectionError(str(error)) from error
        if not alive:
            raise DisconnectionError("the connection does not answer")


def _quiet(dbapi_connection: Any) -> bool:
    """An idle connection with nothing to read: the server has not ended it (a connection the
    server ends receives its error message and the socket's end first). False when it cannot
    be told (the connection is then pinged)."""
    import select

    if getattr(dbapi_connection, "closed", True) or getattr(dbapi_connection, "broken", False):
        return False
    try:
        descriptor = dbapi_connection.fileno()
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(descriptor, select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        return not select.select([descriptor], [], [], 0)[0]
    except (OSError, ValueError, AttributeError):
        return False


def connection_of(session: Session) -> Any:
    """The session's connection in its current transaction, looked up once per transaction:
    ``Session.connection()`` walks the transaction state each time, and an act asks several
    times."""
    transaction = session.get_transaction()
    cached = session.info.get("gdcluster.connection")
    if cached is not None and cached[0] is transaction:
        return cached[1]
    connection = session.connection()
    session.info["gdcluster.connection"] = (transaction, connection)
    return connection


def sql_connection(source: Session | Any) -> Any:
    """Where to run Core statements: a session's connection (the session flushed first, so
    that its pending changes are seen and its locks taken first), or ``source`` itself when
    it is a connection (an act of the kernel that made no session)."""
    if is_session(source):
        source.flush()
        return connection_of(source)
    return source


@contextmanager
def _transaction(bind: SAEngine) -> Iterator[Session]:
    """A session in one transaction on ``bind``; a lost lock race is exit 5, never exit 1,
    and so is a connection that drops (the server rolls back what it had)."""
    committing = False
    try:
        from sqlalchemy.orm import Session

        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session
            committing = True  # the body is done: what fails now fails in the commit
    except DBAPIError as exc:
        _translate(exc, bind.dialect.name, committing)
        raise


@contextmanager
def _connection_transaction(bind: SAEngine) -> Iterator[Any]:
    """:func:`_transaction` without a session: a connection in one transaction, its errors
    reported alike. The act kernel's transactions (``Kernel.transaction``) make a session on
    it only when something asks for one."""
    committing = False
    try:
        with bind.begin() as connection:
            yield connection
            committing = True
    except DBAPIError as exc:
        _translate(exc, bind.dialect.name, committing)
        raise


def _observed(engine: SAEngine) -> bool:
    """Listeners on ``engine`` (or every ``Engine``) see statements, commits or rollbacks: read
    from its listener collections, not through the views SQLAlchemy joins on each lookup."""
    dispatch = engine.dispatch
    return any(listened.listeners or listened.parent_listeners for listened in (
        dispatch.before_cursor_execute, dispatch.commit, dispatch.rollback))


def _begin_immediate(connection: Any, driver: Any) -> None:
    """``BEGIN IMMEDIATE`` on the driver's connection, no SQLAlchemy transaction (what goes
    through SQLAlchemy joins it); errors wrapped as its own (busy past the timeout: exit 5)."""
    try:
        driver.execute("BEGIN IMMEDIATE")
    except Exception as error:
        connection._handle_dbapi_exception(error, "BEGIN IMMEDIATE", (), None, None)


def _commit(connection: Any, driver: Any) -> None:
    """Commit it: through SQLAlchemy if a statement or session joined it, else on the driver;
    one rolled back on the way is refused, as SQLAlchemy refuses an inactive transaction."""
    if not driver.in_transaction:
        raise sa_exc.InvalidRequestError("This transaction is inactive")
    if connection._transaction is not None:
        return connection.commit()  # joined by a statement or a session
    try:
        driver.commit()
    except Exception as error:
        connection._handle_dbapi_exception(error, None, None, None, None)


def joined_session(connection: Any, **options: Any) -> Session:
    """An ORM session joining the transaction ``connection`` is in, which its close never ends
    (SQLAlchemy first told of one begun on the driver, else the session would own it)."""
    if (not connection.in_transaction()
            and getattr(connection.connection.dbapi_connection, "in_transaction", False)):
        connection.begin()
    from sqlalchemy.orm import Session

    return Session(bind=connection, **options)


def _translate(exc: DBAPIError, dialect: str, committing: bool) -> None:
    """Raise what a failed transaction's ``exc`` means to the caller (exit 5, exit 2), if
    anything; return to let it propagate as it is."""
    if _is_connection_lost(exc, dialect):
        raise ConnectionLost(_cause(exc), committing=committing) from exc
    if isinstance(exc, OperationalError) and _is_lock_timeout(exc):
        raise ConcurrentModification(None) from exc
    if isinstance(exc, OperationalError) and "readonly database" in _cause(exc):
        raise DatabaseUnavailable(
            Message("the database is read-only for this user ({cause}): reading commands "
                    "work; acts need write access to the file and its folder",
                    cause=_cause(exc))) from exc


class Store:
    """A database: sessions for reading and for writing (one transaction each).

    Opening connects once, so an unreachable or missing database is reported here, with its
    cause, as :class:`DatabaseUnavailable`; only ``create=True`` (``gdcluster init``) may
    create a SQLite file.
    """

    def __init__(self, url: str, *, create: bool = False, synchronous: str = "FULL") -> None:
        self.url = url
        self.engine, self.mode = open_engine(url, create=create, synchronous=synchronous)
        self.dialect = self.engine.dialect.name
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})
        #: a SQLite file's writer connection, kept between transactions (see :meth:`_held`)
        self._held_connection: Any = None
        self._holding = threading.Lock()
        self._hold = self.mode in ("rw", "rwc")
        #: the SQLite file's absolute path (None on PostgreSQL and in memory)
        self.path: str | None = (self.engine.url.database
                                 if self.mode not in ("server", "memory") else None)
        #: this user may read the SQLite file but not write it (or its folder): no acts
        self.read_only = self.mode in READ_ONLY_MODES
        self._identity: tuple[int, int] | None = None
        try:
            self._probe()
        except BaseException:
            self.engine.dispose()
            raise

    def _probe(self) -> None:
        """Connect and read once; record what the SQLite file is (its device and inode)."""
        where = _safe(self.engine.url)
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT count(*) FROM sqlite_master"
                                        if self.dialect == "sqlite" else "SELECT 1"))
        except DBAPIError as exc:
            if self.path is not None:
                raise DatabaseUnavailable(Message("cannot open the SQLite database {path}: "
                                                  "{cause}", path=self.path, cause=_cause(exc)),
                                          url=where) from exc
            raise DatabaseUnavailable(Message("cannot connect to the database {url}: {cause}",
                                              url=where, cause=_cause(exc)),
                                      url=where) from exc
        if self.path is not None:
            found = os.stat(self.path)
            self._identity = (found.st_dev, found.st_ino)

    def ensure_same(self) -> None:
        """Refuse (:class:`DatabaseReplaced`) when the SQLite file opened is no longer at its
        path: deleted, or replaced by another file. PostgreSQL has nothing to check here: a
        dropped connection fails the next statement (:class:`ConnectionLost`)."""
        if self.path is None or self._identity is None:
            return
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            raise DatabaseReplaced(self.path, deleted=True) from None
        if (found.st_dev, found.st_ino) != self._identity:
            raise DatabaseReplaced(self.path, deleted=False)

    def read(self) -> AbstractContextManager[Session]:
        """One read transaction; a database too busy to answer is ``ConcurrentModification``
        (exit 5, retry), as for writers: never an unexpected error."""
        return _transaction(self.engine)

    def read_connection(self) -> AbstractContextManager[Any]:
        """:meth:`read` on a plain Core connection, no ORM session (nor its import): for the
        reads of a command's hot path (``case show``)."""
        return _connection_transaction(self.engine)

    def write(self) -> AbstractContextManager[Session]:
        """One transaction (``BEGIN IMMEDIATE`` on SQLite); commits on normal exit, rolls back
        on any exception. Refused up front on a read-only file, or when the SQLite file opened
        is no longer there (:meth:`ensure_same`)."""
        self._writable()
        return _transaction(self._writer)

    def write_connection(self) -> AbstractContextManager[Any]:
        """:meth:`write` as a ``Connection`` in the transaction, without a session."""
        self._writable()
        if self._hold:
            return self._held()
        return _connection_transaction(self._writer)

    @contextmanager
    def _held(self) -> Iterator[Any]:
        """:func:`_connection_transaction` on a SQLite file's writer connection, kept checked
        out between transactions (no pool checkout and check-in per act), its transaction the
        driver's own unless listeners watch (:func:`_begin_immediate`). SQLite has one writer
        at a time: a transaction that finds it in use (another thread's, or this thread's
        enclosing one) takes a connection from the pool; one that fails gives it back to the
        pool (which rolls back whatever it still holds), as every transaction did."""
        if not self._holding.acquire(blocking=False):
            with _connection_transaction(self._writer) as connection:
                yield connection
            return
        try:
            connection = self._held_connection
            if connection is None:
                connection = self._held_connection = self._writer.connect()
            committing = False
            try:
                if _observed(self.engine):  # they see BEGIN and COMMIT as before
                    with connection.begin():
                        yield connection
                        committing = True
                else:
                    driver = connection.connection.dbapi_connection
                    _begin_immediate(connection, driver)
                    unobserved(connection, driver)
                    yield connection
                    unobserved(None, None)
                    committing = True
                    _commit(connection, driver)
            except BaseException as exc:
                unobserved(None, None)
                self._held_connection = None
                connection.close()
                if isinstance(exc, DBAPIError):
                    _translate(exc, self.dialect, committing)
                raise
        finally:
            self._holding.release()

    def _writable(self) -> None:
        if self.read_only:
            raise DatabaseUnavailable(
                Message("{path} is read-only for this user (the file or its folder): reading "
                        "commands work; acts need write access to both", path=self.path),
                url=self.url)
        self.ensure_same()

    def schema_revision(self) -> str | None:
        """The schema's revision; None when the gdcluster tables are not there."""
        found = self.metas("schema_revision")
        return None if found is None else found.get("schema_revision")

    def metas(self, *keys: str) -> dict[str, str] | None:
        """The ``gd_meta`` values of ``keys`` that are set, read by one statement in plain SQL
        (opening the engine so configures no ORM mapper and compiles no ORM query); None when
        the gdcluster tables are not there."""
        try:
            return self._metas(keys)
        except (OperationalError, ProgrammingError) as exc:
            if _is_missing_table(exc):
                return None
            raise

    def meta(self, key: str) -> str | None:
        return self._metas((key,)).get(key)

    def _metas(self, keys: tuple[str, ...]) -> dict[str, str]:
        names = ", ".join(f":key{index}" for index in range(len(keys)))
        statement = text(f'SELECT "key", value FROM gd_meta WHERE "key" IN ({names})')
        with self.read_connection() as connection:
            rows = connection.execute(statement, {f"key{index}": key
                                                  for index, key in enumerate(keys)})
            return {key: value for key, value in rows}

    def dispose(self) -> None:
        if self._holding.acquire(blocking=False):
            try:
                if self._held_connection is not None:
                    self._held_connection.close()
                    self._held_connection = None
            finally:
                self._holding.release()
        self.engine.dispose()


def _is_missing_table(exc: DBAPIError) -> bool:
    if getattr(exc.orig, "sqlstate", None) == "42P01":  # PostgreSQL undefined_table
        return True
    return "no such table" in _cause(exc)


def _is_connection_lost(exc: DBAPIError, dialect: str) -> bool:
    """The connection is gone (PostgreSQL): the server ended it (57P0x: an administrator,
    a shutdown, a crash), the link failed (class 08), or no new connection could be made."""
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    if sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03"):
        return True
    return (dialect != "sqlite" and isinstance(exc, OperationalError) and exc.statement is None
            and not sqlstate)


#: PostgreSQL's "try again" errors: serialization failure, deadlock, lock not available.
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _is_lock_timeout(exc: OperationalError) -> bool:
    """Another writer held what we needed (SQLite busy past the timeout, a PostgreSQL
    deadlock, serialization failure or lock timeout): a lost race, exit 5, never exit 1."""
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return any(sign in text for sign in ("database is locked", "database table is locked",
                                         "deadlock detected", "could not serialize",
                                         "lock timeout"))
