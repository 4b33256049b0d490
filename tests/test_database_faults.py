"""The database going away under a running command.

* A PostgreSQL connection ended by the server mid act (``pg_terminate_backend``, what a
  restart, a failover or an administrator does): exit 5, "connection lost … retry", nothing
  half-written, and the retry works — through the engine and through the ``gdcluster``
  program.
* The SQLite files removed (or replaced) during ``round publicize``: the command stops and
  exits non-zero, and no notice is written or delivered for acts that exist in no database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, event, func, select, text
from support import CITY, PROVINCE, Walker, full_scores
from test_delivery import HookServer, free_port

from gdcluster.cli import cli
from gdcluster.engine import Engine, TransitionEvent
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.models import Case
from gdcluster.engine.records import AuditEntry

COUNTY = "county:佛山市南海区@李四"
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None, "GDCLUSTER_SETTINGS": None})


def facts(engine: Engine, case_id: int) -> tuple[str, int, int]:
    """The case's state and version, and how many audit rows there are."""
    with engine.store.read() as session:
        case = session.get(Case, case_id)
        assert case is not None
        rows = session.scalar(select(func.count()).select_from(AuditEntry))
        return case.state, case.version, int(rows or 0)


# ---------------------------------------------------------------------------- PostgreSQL
def terminate(admin: Any, pid: int) -> None:
    """End backend ``pid`` as an administrator would, and wait until it is gone."""
    with admin.begin() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid, 10000)"),
                                  {"pid": pid}).scalar()


@pytest.mark.parametrize("moment", ["mid-act", "at-commit"])
def test_a_connection_dropped_mid_act_is_retryable_and_writes_nothing(
    pg_schema_url: str, clock: FakeClock, application: dict, moment: str
) -> None:
    """The server ends the act's connection after the act has updated the case and appended
    its audit row: the act fails with exit 5 ("connection lost … retry"), the case, its
    version and the audit chain are as before, and the same act on the same engine then
    succeeds."""
    admin = create_engine(os.environ["GDCLUSTER_TEST_PG"])
    engine = Engine.init(pg_schema_url, simulation=True, clock=clock)
    try:
        case_id = Walker(engine, clock, application).create()
        before = facts(engine, case_id)

        dropped: list[int] = []

        def drop(session: Any, *_args: Any) -> None:
            if dropped:
                return
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            terminate(admin, pid)
            dropped.append(pid)
            if moment == "mid-act":  # the act's next statement meets the dead connection
                session.execute(text("SELECT 1"))

        if moment == "mid-act":  # inside the act, after its case row and audit row
            remove = engine.on_transaction(drop)
        else:  # the act is done; its COMMIT meets the dead connection (the act's transaction
            # is a connection's, with a session only when something asks for one)
            def drop_at_commit(connection: Any) -> None:
                if not dropped:
                    drop(connection)

            event.listen(engine.store.engine, "commit", drop_at_commit)

            def remove() -> None:
                event.remove(engine.store.engine, "commit", drop_at_commit)
        try:
            with pytest.raises(Exception) as caught:
                engine.fire(case_id, "submit", COUNTY)
        finally:
            remove()
        assert dropped
        error = caught.value
        assert (type(error).__name__, error.exit_code, error.code) == (
            "ConnectionLost", 5, "connection_lost")
        assert "connection lost" in error.message and "retry" in error.message
        assert ("while committing" in error.message) == (moment == "at-commit")
        assert facts(engine, case_id) == before
        assert engine.verify_audit().ok
        assert engine.refusals(case_id=case_id) == []
        assert engine.fire(case_id, "submit", COUNTY).state == "submitted"
        assert facts(engine, case_id) == ("submitted", before[1] + 1, before[2] + 1)
        assert engine.verify_audit().ok
    finally:
        engine.close()
        admin.dispose()


def test_a_pooled_connection_the_server_ended_is_replaced_before_the_next_act(
    pg_schema_url: str, clock: FakeClock, application: dict
) -> None:
    """The server ends the engine's connections while they wait in the pool (a restart, an
    administrator): the next act takes a new connection and succeeds — no ping on every act
    (``gdcluster.engine.store``: a connection the server ended has its goodbye to read)."""
    admin = create_engine(os.environ["GDCLUSTER_TEST_PG"])
    engine = Engine.init(pg_schema_url, simulation=True, clock=clock)
    try:
        case_id = Walker(engine, clock, application).create()
        used: set[int] = set()

        def note(dbapi_connection: Any, *_args: Any) -> None:
            used.add(dbapi_connection.info.backend_pid)

        event.listen(engine.store.engine, "checkout", note)
        try:
            engine.fire(case_id, "submit", COUNTY)
        finally:
            event.remove(engine.store.engine, "checkout", note)
        assert used  # the act's connection, now back in the pool
        for pid in used:
            terminate(admin, pid)
        time.sleep(0.2)  # the goodbye reaches the client's socket
        assert engine.fire(case_id, "review", CITY).state == "city_reviewed"
        assert engine.verify_audit().ok
    finally:
        engine.close()
        admin.dispose()


def test_the_gdcluster_program_exits_5_when_its_connection_is_dropped_mid_act(
    pg_schema_url: str, clock: FakeClock, application: dict, tmp_path: Path
) -> None:
    """`gdcluster case submit 1`, a separate process, is stopped inside its act (the case row
    updated, the audit head awaited: the test holds it) and its connection ended by the
    server: exit 5 with "connection lost … retry", nothing written; run again, it succeeds."""
    engine = Engine.init(pg_schema_url, simulation=True, clock=clock)
    admin = create_engine(os.environ["GDCLUSTER_TEST_PG"])
    holder = create_engine(pg_schema_url)
    try:
        case_id = Walker(engine, clock, application).create()
        before = facts(engine, case_id)
        name = f"gdcluster-victim-{uuid.uuid4().hex[:8]}"
        command = [sys.executable, "-c", "from gdcluster.cli import main; main()",
                   "--db", f"{pg_schema_url}&application_name={name}", "--as", COUNTY,
                   "--now", "2024-03-02T09:00", "case", "submit", str(case_id)]
        environment = {**{key: value for key, value in os.environ.items()
                          if not key.startswith("GDCLUSTER_")},
                       "GDCLUSTER_SETTINGS": str(tmp_path / "none.toml"), "GDCLUSTER_LANG": "en"}
        (tmp_path / "none.toml").write_text("", encoding="utf-8")
        with holder.connect() as lock:
            lock.execute(text("SELECT seq FROM gd_audit_head WHERE id = 1 FOR UPDATE"))
            process = subprocess.Popen(command, env=environment, cwd=tmp_path,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
            try:
                pid = wait_for(lambda: waiting_backend(admin, name), seconds=60)
                with admin.connect() as look:  # the act has written its case row by now
                    assert look.execute(text(
                        "SELECT count(*) FROM pg_locks WHERE pid = :pid AND granted "
                        "AND mode = 'RowExclusiveLock'"), {"pid": pid}).scalar()
                terminate(admin, pid)
                stdout, stderr = process.communicate(timeout=120)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            lock.rollback()
        assert process.returncode == 5, (stdout, stderr)
        assert "connection lost" in stderr and "retry" in stderr
        assert facts(engine, case_id) == before
        assert engine.verify_audit().ok
        again = subprocess.run(command, env=environment, cwd=tmp_path, capture_output=True,
                               text=True, timeout=120, check=False)
        assert again.returncode == 0, again.stderr
        assert facts(engine, case_id)[0] == "submitted"
        assert engine.verify_audit().ok
    finally:
        engine.close()
        admin.dispose()
        holder.dispose()


def waiting_backend(admin: Any, name: str) -> int | None:
    with admin.connect() as connection:
        return connection.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :name "
            "AND wait_event_type = 'Lock'"), {"name": name}).scalar()


def wait_for(probe: Callable[[], Any], *, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not seen within {seconds} s")


def test_a_lost_connection_never_reports_as_unexpected_through_the_scheduler(
    pg_schema_url: str, clock: FakeClock, application: dict
) -> None:
    """A sweep whose connection is ended mid deadline reports that deadline busy (retried at
    the next sweep), never as a refusal that would close it; the next sweep fires it."""
    admin = create_engine(os.environ["GDCLUSTER_TEST_PG"])
    engine = Engine.init(pg_schema_url, simulation=True, clock=clock)
    try:
        case_id = Walker(engine, clock, application).to("publicized")
        clock.set("2024-10-12T09:00")

        def drop(session: Any, event: TransitionEvent) -> None:
            if event.trigger == "close_publicity":
                terminate(admin, session.execute(text("SELECT pg_backend_pid()")).scalar())
                session.execute(text("SELECT 1"))

        remove = engine.on_transaction(drop)
        [outcome] = [row for row in engine.run_due() if row.case_id == case_id]
        remove()
        assert outcome.outcome == "busy", outcome
        assert engine.get(case_id).state == "publicized"
        [again] = [row for row in engine.run_due() if row.case_id == case_id]
        assert again.outcome == "publicity_closed"
        assert engine.verify_audit().ok
    finally:
        engine.close()
        admin.dispose()


# ---------------------------------------------------------------------------- SQLite files removed
@pytest.fixture
def round_ready(tmp_path: Path, application: dict) -> Path:
    """A SQLite simulation database with three expert-reviewed cases of round 2024."""
    db = tmp_path / "db" / "gdcluster.db"
    db.parent.mkdir()
    clock = FakeClock("2024-03-01T09:00")
    engine = Engine.init(f"sqlite:///{db}", simulation=True, clock=clock)
    try:
        walker = Walker(engine, clock, application)
        for name, county in (("佛山市南海区铝型材产业集群", "佛山市南海区"),
                             ("中山市古镇镇灯饰产业集群", "中山市古镇镇"),
                             ("东莞市长安镇五金模具产业集群", "东莞市长安镇")):
            case_id = walker.create(name=name, county=county)
            for step in ("submit", "review", "recommend"):
                walker.step(case_id, step)
            for index in range(3):
                engine.fire(case_id, "score", PROVINCE, expert=f"专家{index + 1}",
                            scores=full_scores(minus=index))
            engine.fire(case_id, "expert_review", PROVINCE)
    finally:
        engine.close()
    return db


def remove_database(db: Path, *, replace_with: Path | None) -> None:
    """``rm gdcluster.db*`` (then, to replace it, a copy put in its place)."""
    for path in db.parent.glob(db.name + "*"):
        path.unlink()
    if replace_with is not None:
        shutil.copyfile(replace_with, db)


@pytest.fixture
def on_event(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[TransitionEvent], None]]]:
    """Subscribers put on every engine the CLI opens, ahead of its notice service."""
    callbacks: list[Callable[[TransitionEvent], None]] = []
    opened = Engine.open.__func__  # type: ignore[attr-defined]

    def open_and_subscribe(cls: type[Engine], *args: Any, **kwargs: Any) -> Engine:
        engine = opened(cls, *args, **kwargs)
        for callback in callbacks:
            engine.subscribe(callback)
        return engine

    monkeypatch.setattr(Engine, "open", classmethod(open_and_subscribe))
    yield callbacks


@pytest.mark.parametrize("how", ["deleted", "replaced"])
@pytest.mark.parametrize("when", ["between-case-acts", "before-the-notice-is-delivered"])
def test_round_publicize_stops_when_its_database_files_are_removed(
    round_ready: Path, tmp_path: Path, on_event: list[Any], how: str, when: str
) -> None:
    """`rm gdcluster.db*` (or a copy put back in its place) while `round publicize` runs —
    after its first case act, or after its round act but before the publicity notice is
    delivered: the command exits 2 naming the file as deleted or replaced, the webhook gets
    nothing and no notice file is written."""
    backup = tmp_path / "backup.db"
    shutil.copyfile(round_ready, backup)
    port = free_port()
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[notices]\noutbox = "{(tmp_path / "outbox").as_posix()}"\n\n'
                        f'[[webhooks]]\nurl = "http://127.0.0.1:{port}/hook"\n', "utf-8")
    trigger = "publicize" if when == "between-case-acts" else "publicize_round"
    removed: list[str] = []

    def remove(event: TransitionEvent) -> None:
        if event.trigger in (trigger, "close") and not removed:
            remove_database(round_ready, replace_with=backup if how == "replaced" else None)
            removed.append(event.trigger)

    on_event.append(remove)
    with HookServer(port) as hook:
        result = RUNNER.invoke(cli, ["--db", str(round_ready), "--as", PROVINCE, "--now",
                                     "2024-09-27T10:00", "--settings", str(settings), "round",
                                     "publicize", "2024", "--select", "1,2"],
                               catch_exceptions=False)
    assert removed, "the files were never removed"
    assert result.exit_code == 2, (result.stdout, result.stderr)
    word = "deleted" if how == "deleted" else "replaced"
    assert f"the database file {round_ready} was {word}" in result.stderr
    assert "publicized:" not in result.stdout
    assert hook.requests == []
    assert not (tmp_path / "outbox").exists() or list((tmp_path / "outbox").iterdir()) == []


def test_notice_deliver_refuses_a_removed_database(
    round_ready: Path, tmp_path: Path, on_event: list[Any]
) -> None:
    """Delivering (what `notice deliver` runs) pending deliveries whose database file has been
    removed since it was opened (their act is in no database any more): refused as
    ``DatabaseReplaced`` (exit 2) before anything is sent."""
    port = free_port()
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[notices]\noutbox = "{(tmp_path / "outbox").as_posix()}"\n\n'
                        f'[[webhooks]]\nurl = "http://127.0.0.1:{port}/hook"\n', "utf-8")
    args = ["--db", str(round_ready), "--settings", str(settings), "--now"]
    published = RUNNER.invoke(cli, [*args, "2024-09-27T10:00", "--as", PROVINCE, "round",
                                    "publicize", "2024", "--select", "1,2"], catch_exceptions=False)
    assert published.exit_code == 0, published.stderr  # nothing listened: webhook failed
    from gdcluster.notifications import deliver, load_settings

    engine = Engine.open(f"sqlite:///{round_ready}", clock=FakeClock("2024-09-28T10:00"))
    try:
        remove_database(round_ready, replace_with=None)
        with HookServer(port) as hook, pytest.raises(Exception) as caught:
            deliver(engine, load_settings(settings))
        assert (type(caught.value).__name__, caught.value.exit_code) == ("DatabaseReplaced", 2)
        assert hook.requests == []
    finally:
        engine.close()
