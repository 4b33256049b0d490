"""New simulation databases for the tests, made once per test process and copied after that
(importable: pytest puts tests/ on the path).

``Engine.init`` brings an empty database to head through every Alembic migration: about 0.2 s
on SQLite and 0.5–1 s on PostgreSQL, paid by each of the hundreds of tests that start from a new
database (conftest's ``engine``). The first database of each back-end is made by
``Engine.init`` itself; each later one is the same database:

- SQLite: a copy of the first file, made with the engine closed (its WAL checkpointed into it).
- PostgreSQL: the statements the first ``Engine.init`` sent, recorded with their parameters
  bound, sent again in one transaction to the new schema (every name is unqualified, resolved
  through the schema's ``search_path``): the same tables, indexes, constraints and rows, without
  Alembic's and SQLAlchemy's round trips.

The tests of ``Engine.init`` and of the migrations themselves call ``Engine.init`` directly.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gdcluster.engine import Engine
from gdcluster.engine.clock import Clock

_sqlite_template: Path | None = None
_pg_script: list[str] | None = None


def initialized(url: str, clock: Clock) -> Engine:
    """``Engine.init(url, simulation=True, clock=clock)`` on a new, empty database ``url``."""
    if url.startswith("sqlite:///"):
        return _sqlite(url, clock)
    if url.startswith("postgresql"):
        return _postgresql(url, clock)
    return Engine.init(url, simulation=True, clock=clock)


def _sqlite(url: str, clock: Clock) -> Engine:
    global _sqlite_template
    target = Path(url.removeprefix("sqlite:///"))
    if _sqlite_template is None:
        folder = Path(tempfile.mkdtemp(prefix="gd-template-"))
        atexit.register(shutil.rmtree, folder, True)
        template = folder / "template.db"
        Engine.init(f"sqlite:///{template}", simulation=True, clock=clock).close()
        assert not Path(f"{template}-wal").exists(), "the template's WAL was not checkpointed"
        _sqlite_template = template
    assert not target.exists(), target
    shutil.copyfile(_sqlite_template, target)
    return Engine.open(url, clock=clock)


def _postgresql(url: str, clock: Clock) -> Engine:
    global _pg_script
    if _pg_script is None:
        script = _recorded(lambda: Engine.init(url, simulation=True, clock=clock).close())
        _pg_script = script
    else:
        from sqlalchemy import create_engine

        sent = create_engine(url)
        try:
            with sent.begin() as connection:
                driver: Any = connection.connection.driver_connection
                driver.execute(";\n".join(_pg_script))  # one round trip
        finally:
            sent.dispose()
    return Engine.open(url, clock=clock)


def _recorded(action: Any) -> list[str]:
    """Run ``action`` and return every statement it sent, its parameters bound (psycopg's own
    client-side binding, so the values are quoted exactly as the server would read them)."""
    import psycopg
    from sqlalchemy import event
    from sqlalchemy.engine import Engine as SQLEngine

    statements: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, parameters: Any,
               context: Any, executemany: bool) -> None:
        assert not executemany, statement
        if parameters:
            bound = psycopg.ClientCursor(cursor.connection).mogrify(statement, parameters)
            statements.append(bound)
        else:
            statements.append(statement)

    event.listen(SQLEngine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(SQLEngine, "before_cursor_execute", record)
    return statements
