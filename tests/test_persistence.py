"""Databases: Alembic migrations equal the models, the simulation rule, SQLite settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from support import database_made_at

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


def test_a_database_of_the_previous_version_upgrades_and_nothing_changes_silently(
        db_url: str) -> None:
    """A database at the previous head (0005) holding a recognized case, a case in publicity
    with its pending deadline, a case rejected as 未入选 by the earlier version, and an
    unfinished recognition batch of that version, upgraded by `gdcluster init`: the recognized
    case keeps its dates, the rejected one stays as it was (no previous state is guessed, so it
    cannot be reopened), the publicity deadline firing after the upgrade closes the publicity
    (and recognizes nobody), the old batch is set aside, and the next `round recognize` issues
    the 通告. The chain verifies throughout."""
    from datetime import date

    from sqlalchemy.orm import Session

    from gdcluster.engine import Reason, TransitionRefused, audit
    from gdcluster.engine.clock import end_of_day, parse_instant
    from gdcluster.states.policy import load_policy

    store = database_made_at(db_url, "0005_renderings")
    try:
        policy = load_policy("guangdong-2023")
        at = parse_instant("2024-10-11T09:00")
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO gd_round (year, policy, policy_version, policy_digest, opened_at, "
                "version, recognition_batch) VALUES (2024, :name, :version, :digest, :at, 1, "
                ":batch)"), {"name": policy.name, "version": policy.version,
                             "digest": policy.digest, "at": at,
                             "batch": '{"batch": 1, "by": "province", "at": "x", '
                                      '"valid_from": null, "doc_no": null, "cases": [], '
                                      '"done": false}'})
            for case_id, state, dates in (
                    (1, "recognized", ("2024-09-13", "2024-09-26", "2024-09-27", "2027-09-26")),
                    (2, "publicized", ("2024-09-27", "2024-10-11", None, None)),
                    (3, "rejected", (None, None, None, None))):
                connection.execute(text(
                    "INSERT INTO gd_case (id, round_year, name, city, county, industry, state, "
                    "version, policy, policy_version, policy_digest, application, "
                    "publicity_start, publicity_end, valid_from, valid_until, created_at, "
                    "updated_at) VALUES (:id, 2024, :name, '佛山市', '佛山市南海区', '铝型材', "
                    ":state, 3, :policy, :version, :digest, '{}', :ps, :pe, :vf, :vu, :at, "
                    ":at)"), {"id": case_id, "name": f"升级前的集群{case_id}", "state": state,
                              "policy": policy.name, "version": policy.version,
                              "digest": policy.digest, "ps": dates[0], "pe": dates[1],
                              "vf": dates[2], "vu": dates[3], "at": at})
            connection.execute(text(
                "INSERT INTO gd_deadline (case_id, kind, key, due_at, status, created_at) "
                "VALUES (2, 'publicity_end', 'case:2:publicity_end', :due, 'pending', :at)"),
                {"due": end_of_day(date(2024, 10, 11)), "at": at})
        with Session(store.engine) as session, session.begin():
            audit.append(session, actor="province", trigger="seed", article="升级前的记录",
                         at=at, round_year=2024, payload={"cases": [1, 2, 3]})
    finally:
        store.dispose()

    engine = Engine.init(db_url, simulation=True, clock=FakeClock("2024-10-12T09:00"))
    try:
        recognized = engine.get(1)
        assert (recognized.state, recognized.valid_from, recognized.valid_until,
                recognized.version) == ("recognized", date(2024, 9, 27), date(2027, 9, 26), 3)
        rejected = engine.get(3)
        assert (rejected.state, rejected.previous_state, rejected.version) == (
            "rejected", None, 3)
        with pytest.raises(TransitionRefused) as caught:
            engine.fire(3, "reopen", "province", reason="纠错")
        assert caught.value.reasons == [Reason.NO_PREVIOUS_STATE]
        assert [(item.case_id, item.outcome) for item in engine.run_due()] == [
            (2, "publicity_closed")]
        assert (engine.get(2).state, engine.get(2).valid_from) == ("publicity_closed", None)
        result = engine.recognize_round(2024, "province", doc_no="粤工信服务函〔2024〕95号")
        assert (result.recognized, result.valid_from) == ([2], "2024-10-12")
        assert engine.round_summary(2024).recognition_batch["doc_date"] == "2024-10-12"
        assert engine.get(1).valid_from == date(2024, 9, 27)  # still its own dates
        report = engine.verify_audit()
        assert report.ok, report.message()
    finally:
        engine.close()


def test_a_database_at_0006_upgrades_to_review_rounds(db_url: str) -> None:
    """A database at 0006 with a round and a recognized case, upgraded by `gdcluster init`:
    the round becomes a recognition round, the case is covered by no 复核 round and keeps its
    version and dates; a 复核 round then covers it and it applies as any other."""
    import json
    from datetime import date

    from sqlalchemy.orm import Session

    from gdcluster.engine import audit
    from gdcluster.engine.clock import parse_instant
    from gdcluster.states.policy import load_policy

    data = Path(__file__).parent / "data"
    store = database_made_at(db_url, "0006_lifecycle_recognition")
    try:
        policy = load_policy("guangdong-2023")
        at = parse_instant("2023-07-10T09:00")
        application = (data / "application-complete.json").read_text(encoding="utf-8")
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO gd_round (year, policy, policy_version, policy_digest, opened_at, "
                "version) VALUES (2023, :name, :version, :digest, :at, 1)"),
                {"name": policy.name, "version": policy.version, "digest": policy.digest,
                 "at": at})
            connection.execute(text(
                "INSERT INTO gd_case (id, round_year, name, city, county, industry, state, "
                "version, policy, policy_version, policy_digest, application, valid_from, "
                "valid_until, created_at, updated_at) VALUES (1, 2023, '升级前的集群', '佛山市', "
                "'佛山市南海区', '铝型材', 'recognized', 9, :policy, :version, :digest, :app, "
                "'2023-07-10', '2026-07-09', :at, :at)"),
                {"policy": policy.name, "version": policy.version, "digest": policy.digest,
                 "app": application, "at": at})
        with Session(store.engine) as session, session.begin():
            audit.append(session, actor="province", trigger="seed", article="升级前的记录",
                         at=at, round_year=2023, payload={"cases": [1]})
    finally:
        store.dispose()

    clock = FakeClock("2026-06-15T09:00")
    engine = Engine.init(db_url, simulation=True, clock=clock)
    try:
        assert engine.round_summary(2023).kind == "recognition"
        view = engine.get(1)
        assert (view.state, view.version, view.valid_until, view.review_round) == (
            "recognized", 9, date(2026, 7, 9), None)
        summary = engine.open_round(2026, "province", kind="review", apply_by="2026-07-31",
                                    check_by="2026-08-14")
        assert [row["id"] for row in summary.covered] == [1]
        review = json.loads((data / "review-2026.json").read_text(encoding="utf-8"))
        assert engine.fire(1, "apply_review", "county:佛山市南海区",
                           data=review).state == "under_review"
        report = engine.verify_audit()
        assert report.ok, report.message()
    finally:
        engine.close()
