"""Databases: Alembic migrations equal the models, the simulation rule, SQLite settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from gdcluster.engine import Engine, NotInitialized, SimulationOnly
from gdcluster.engine.clock import FakeClock, SystemClock
from gdcluster.engine.errors import PermissionDenied
from gdcluster.engine.models import SCHEMA_REVISION


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    """`gdcluster init` (Alembic to head) yields the schema the models describe: autogenerate
    finds nothing to change, and the recorded revision is the head the code expects."""
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlmodel import SQLModel

    from gdcluster.engine import migrations
    from gdcluster.engine.models import load_all

    load_all()
    engine = Engine.init(db_url)
    try:
        with engine.store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
            assert context.get_current_revision() == SCHEMA_REVISION
        config = Config()
        config.set_main_option("script_location", os.path.dirname(migrations.__file__))
        assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION
    finally:
        engine.close()


def test_init_is_idempotent_and_keeps_data(db_url: str) -> None:
    """Running init again on a populated database changes nothing it holds."""
    engine = Engine.init(db_url, simulation=True, clock=FakeClock())
    engine.open_round(2024, "province")
    engine.close()
    again = Engine.init(db_url, simulation=True, clock=FakeClock())
    try:
        assert again.round_summary(2024).year == 2024
        assert again.verify_audit().rows == 1
    finally:
        again.close()


def test_uninitialized_database_is_refused(db_url: str) -> None:
    """Opening a database that is there and reachable but has no gdcluster schema (a SQLite
    file holding another application's table; an empty PostgreSQL schema) says to run
    `gdcluster init` (exit 2)."""
    if db_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as other:
            other.execute("CREATE TABLE other (x)")
    with pytest.raises(NotInitialized, match="gdcluster init") as caught:
        Engine.open(db_url)
    assert caught.value.exit_code == 2


def test_clock_can_only_be_set_on_a_simulation_database(db_url: str) -> None:
    """A real database refuses any clock but the system's, so no act can be backdated; and no
    command turns a real database into a simulation one."""
    Engine.init(db_url).close()
    with pytest.raises(SimulationOnly) as caught:
        Engine.open(db_url, clock=FakeClock("2020-01-01"))
    assert caught.value.exit_code == 4
    with pytest.raises(PermissionDenied):
        Engine.init(db_url, simulation=True)
    engine = Engine.open(db_url)
    try:
        assert not engine.simulation and isinstance(engine.clock, SystemClock)
    finally:
        engine.close()


def test_sqlite_file_is_opened_for_crash_safety(tmp_path: Path) -> None:
    """The embedded database runs in WAL mode with synchronous=FULL and a busy timeout, and
    writers take the lock up front (BEGIN IMMEDIATE)."""
    engine = Engine.init(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        with engine.store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
        with engine.store.write() as session:
            raw = session.connection().connection.dbapi_connection
            assert raw.in_transaction
    finally:
        engine.close()


def test_default_database_is_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --db or GDCLUSTER_DB the engine uses ./gdcluster.db."""
    from gdcluster.engine.store import resolve_url

    monkeypatch.delenv("GDCLUSTER_DB", raising=False)
    assert resolve_url(None) == "sqlite:///gdcluster.db"
    assert resolve_url("x/y.db") == "sqlite:///x/y.db"
    monkeypatch.setenv("GDCLUSTER_DB", "postgresql+psycopg://u@h/d")
    assert resolve_url(None) == "postgresql+psycopg://u@h/d"
