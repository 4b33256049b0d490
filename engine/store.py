"""Opening databases and running transactions.

SQLite is the embedded default. Writers open ``BEGIN IMMEDIATE`` so two processes never both
read-then-write the same row under a deferred transaction (DESIGN §13: deferred transactions lost
26% of updates in a 4-process test). Readers stay deferred, so WAL readers never wait. The file is
opened with ``journal_mode=WAL`` and ``synchronous=FULL``: a committed transition survives power
loss, and a crash leaves either the whole transaction or none of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from gdcluster.engine.errors import ConcurrentModification, InvalidInput, PermissionDenied
from gdcluster.engine.models import SCHEMA_REVISION, Meta

DEFAULT_URL = "sqlite:///gdcluster.db"
BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "gdcluster_immediate"


def resolve_url(url: str | None) -> str:
    """``--db`` / ``GDCLUSTER_DB`` / ``./gdcluster.db``; a bare path means a SQLite file."""
    url = url or os.environ.get("GDCLUSTER_DB") or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{url}"
    return url


def make_engine(url: str) -> SAEngine:
    from sqlalchemy import create_engine

    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidInput(f"not a database URL: {url!r}", field="db") from exc
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        kwargs: dict[str, Any] = {
            "connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        }
        if memory:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        _sqlite_setup(engine, memory=memory)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_setup(engine: SAEngine, *, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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


@contextmanager
def _transaction(bind: SAEngine) -> Iterator[Session]:
    """A session in one transaction on ``bind``; a lost lock race is exit 5, never exit 1."""
    try:
        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session
    except OperationalError as exc:
        if _is_lock_timeout(exc):
            raise ConcurrentModification(None) from exc
        raise


class Store:
    """A database: sessions for reading and for writing (one transaction each)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})

    def read(self) -> AbstractContextManager[Session]:
        """One read transaction; a database too busy to answer is ``ConcurrentModification``
        (exit 5, retry), as for writers: never an unexpected error."""
        return _transaction(self.engine)

    def write(self) -> AbstractContextManager[Session]:
        """One transaction (``BEGIN IMMEDIATE`` on SQLite); commits on normal exit, rolls back
        on any exception."""
        return _transaction(self._writer)

    def schema_revision(self) -> str | None:
        try:
            with self.read() as session:
                row = session.get(Meta, "schema_revision")
                return row.value if row else None
        except (OperationalError, ProgrammingError) as exc:
            if isinstance(exc, OperationalError) and _is_lock_timeout(exc):  # busy, not empty
                raise ConcurrentModification(None) from exc
            return None

    def meta(self, key: str) -> str | None:
        with self.read() as session:
            value = session.scalar(select(Meta.value).where(Meta.key == key))
            return value

    def dispose(self) -> None:
        self.engine.dispose()


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


def upgrade(store: Store, *, simulation: bool = False) -> str:
    """Bring the schema to head with Alembic (``gdcluster init``); returns the revision."""
    from alembic import command
    from alembic.config import Config

    from gdcluster.engine import migrations

    config = Config()
    config.set_main_option("script_location", os.path.dirname(migrations.__file__))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with store.write() as session:
        existing = session.get(Meta, "simulation")
        if existing is None:
            session.add(Meta(key="simulation", value="true" if simulation else "false"))
        elif simulation and existing.value != "true":
            raise PermissionDenied(
                "this database holds real acts; it cannot be turned into a simulation database",
                actor=None,
            )
        revision = session.get(Meta, "schema_revision")
        if revision is None:
            session.add(Meta(key="schema_revision", value=SCHEMA_REVISION))
        else:
            revision.value = SCHEMA_REVISION
    return SCHEMA_REVISION
