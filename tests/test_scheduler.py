"""The sweep and the scheduler process: exactly once across processes and crashes, cost that
follows what is due, catch-up after downtime, and the real APScheduler waker.

Only one test waits on real time (the waker, a few seconds); everything else moves the fake
clock or sweeps at a given ``--now``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from deadline_support import (
    audit_rows,
    count_audit,
    insert_cases,
    publicized,
    rows,
    states,
)
from sqlalchemy import event, select

from gdcluster.engine import DeadlineOutcome, Engine, SimulationOnly, deadlines, sweep
from gdcluster.engine.clock import FakeClock, end_of_day, start_of_day
from gdcluster.engine.models import Case, Deadline, Notice
from gdcluster.engine.scheduler import (
    RESYNC_JOB,
    WAKE_JOB,
    DeadlineScheduler,
    make_scheduler,
)

SWEEP_AT = "2024-10-12T08:00"
PROCESS_TIMEOUT = 240


def gdcluster_command() -> list[str]:
    """The installed console script, or the same entry point through this interpreter."""
    script = Path(sys.executable).with_name("gdcluster")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from gdcluster.cli import main; main()"]


def clean_env(folder: Path) -> dict[str, str]:
    """No clock, database or actor from the developer's shell; notices as plain text into
    ``folder``/outbox (the docx renderer would dominate the run time of these tests)."""
    settings = folder / "notices.toml"
    settings.write_text('[notices]\noutbox = "outbox"\nformats = ["txt"]\n', "utf-8")
    env = {key: value for key, value in os.environ.items()
           if key not in ("GDCLUSTER_NOW", "GDCLUSTER_DB", "GDCLUSTER_ACTOR")}
    env["GDCLUSTER_SETTINGS"] = str(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


#: What each seeded deadline comes to, by kind: (the sweep's outcome, the system's act, the
#: case's state after it, the notice it issues).
EXPECTED = {
    deadlines.PUBLICITY_END: ("publicity_closed", "close_publicity", "publicity_closed", None),
    deadlines.CORRECTION_REMINDER: ("reminded", "correction_reminder", "drafted",
                                    "correction_reminder"),
    deadlines.REPORT_GRACE: ("revocation_proposed", "propose_revocation", "revocation_proposed",
                             "revocation_proposal"),
}


def seed_due(engine: Engine, count: int) -> dict[str, list[int]]:
    """``count`` cases with one due deadline each at SWEEP_AT, by kind: a third at the end of
    publicity (→ close_publicity), a third with a 退回补正 deadline two days away (→ its
    reminder), the rest with the 2023 report still missing at the end of its 催报 grace (→ the
    18.3 procedure opened)."""
    third = count // 3
    closing = publicized(engine, third, end=date(2024, 10, 11))
    reminding = insert_cases(
        engine, third, state="drafted", correction_due=date(2024, 10, 14),
        deadline=(deadlines.CORRECTION_REMINDER, start_of_day(date(2024, 10, 10))))
    revoking = insert_cases(
        engine, count - 2 * third, state="recognized",
        validity=(date(2023, 7, 10), date(2026, 7, 9)),
        deadline=(deadlines.REPORT_GRACE, end_of_day(date(2024, 4, 17))))
    return {deadlines.PUBLICITY_END: closing, deadlines.CORRECTION_REMINDER: reminding,
            deadlines.REPORT_GRACE: revoking}


def outcomes_of(seeded: dict[str, list[int]]) -> set[str]:
    return {EXPECTED[kind][0] for kind in seeded}


def check_exactly_once(engine: Engine, seeded: dict[str, list[int]],
                       handled_ids: list[int], *, notices: bool = False) -> None:
    """Every seeded deadline fired once, every case acted on once by the system (and, where
    the sweeping processes issue notices, its notice issued once), chain intact."""
    ids = [case_id for group in seeded.values() for case_id in group]
    with engine.store.read() as session:
        fired = dict(session.execute(
            select(Deadline.id, Deadline.status).where(Deadline.case_id.in_(ids),
                                                       Deadline.kind.in_(tuple(EXPECTED)),
                                                       Deadline.due_at <= end_of_day(
                                                           date(2024, 10, 11)))
        ).all())
        issued = Counter((row.kind, row.case_id) for row in session.execute(
            select(Notice.kind, Notice.case_id).where(Notice.case_id.in_(ids),
                                                      Notice.format == "txt")))
    assert len(fired) == len(ids)
    assert set(fired.values()) == {"fired"}
    duplicates = [item for item, seen in Counter(handled_ids).items() if seen > 1]
    assert duplicates == []
    assert sorted(handled_ids) == sorted(fired)
    acts = Counter((row.trigger, row.case_id) for row in audit_rows(engine, actor="system"))
    found = states(engine, ids)
    for kind, group in seeded.items():
        _outcome, trigger, state, notice = EXPECTED[kind]
        assert {acts[(trigger, case_id)] for case_id in group} == {1}, kind
        assert {found[case_id] for case_id in group} == {state}, kind
        if notice is not None and notices:
            assert {issued[(notice, case_id)] for case_id in group} == {1}, kind
    assert engine.pending(SWEEP_AT) == []
    report = engine.verify_audit()
    assert report.ok, report.message()


# ---------------------------------------------------------------------------- cost
def test_sweep_query_uses_the_due_index_on_sqlite(tmp_path: Path) -> None:
    """EXPLAIN QUERY PLAN of every query the sweep and the waker make on gd_deadline searches
    ix_gd_deadline_due (status=? AND due_at range) — no table scan, no sort."""
    engine = Engine.init(f"sqlite:///{tmp_path / 'plan.db'}", simulation=True,
                         clock=FakeClock())
    plans: list[str] = []

    def explain(_conn, cursor, statement, parameters, _context, _many):
        if statement.lstrip().startswith("SELECT") and "FROM gd_deadline" in statement:
            found = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append(" | ".join(str(row[-1]) for row in found.fetchall()))

    event.listen(engine.store.engine, "before_cursor_execute", explain)
    now = end_of_day(date(2025, 1, 1))
    try:
        with engine.store.read() as session:
            sweep.due_rows(session, now)
            sweep.due_rows(session, now, after=(now, 7))
            sweep.due_rows(session, now, exclude={3, 4})
            sweep.next_due(session, now)
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", explain)
        engine.close()
    assert len(plans) == 4
    for plan in plans:
        assert "ix_gd_deadline_due" in plan, plan
        assert "SCAN gd_deadline" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_sweep_cost_follows_what_is_due(engine: Engine, clock: FakeClock,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """With 600 deadlines pending in the future and 400 already closed, a sweep with 5 due
    reads 5 deadline rows and loads only those 5 cases (by primary key)."""
    insert_cases(engine, 600, state="recognized", validity=(date(2023, 7, 10), date(2026, 7, 9)),
                 deadline=(deadlines.VALIDITY_END, end_of_day(date(2026, 7, 9))))
    closed = insert_cases(engine, 400, state="publicized",
                          deadline=(deadlines.PUBLICITY_END, end_of_day(date(2024, 1, 5))))
    with engine.store.write() as session:
        session.execute(Deadline.__table__.update().where(Deadline.case_id.in_(closed))
                        .values(status="done"))
    due = publicized(engine, 5, end=date(2024, 10, 11))
    read: list[int] = []
    real = sweep.due_rows

    def counted(*args, **kwargs):
        found = real(*args, **kwargs)
        read.append(len(found))
        return found

    monkeypatch.setattr(sweep, "due_rows", counted)
    case_queries: list[str] = []

    def watch(_conn, _cursor, statement, _parameters, _context, _many):
        if "FROM gd_case" in statement:
            case_queries.append(statement)

    event.listen(engine.store.engine, "before_cursor_execute", watch)
    try:
        clock.set(SWEEP_AT)
        handled = engine.run_due()
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", watch)
    assert sorted(item.case_id for item in handled) == due
    assert sum(read) == 5
    assert case_queries and all("gd_case.id = " in query for query in case_queries)


# ---------------------------------------------------------------------------- exactly once
@pytest.mark.slow
def test_four_scheduler_processes_fire_each_deadline_once(engine: Engine, db_url: str,
                                                        tmp_path: Path) -> None:
    """Four `gdcluster scheduler run --once` processes sweep the same 500 due deadlines at
    once — ends of publicity, 退回补正 reminders and 催报 graces ending: each deadline is fired
    by exactly one of them (each publicity closed once, each reminder sent once, each 18.3
    procedure opened once, each notice issued once), and the audit chain verifies — on SQLite (BEGIN
    IMMEDIATE) and PostgreSQL (row locks + claim)."""
    seeded = seed_due(engine, 500)
    command = [*gdcluster_command(), "--db", db_url, "--now", SWEEP_AT, "--json",
               "scheduler", "run", "--once"]
    env = clean_env(tmp_path)
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, cwd=tmp_path) for _ in range(4)]
    handled: list[int] = []
    for process in processes:
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
        assert process.returncode == 0, err.decode()
        items = json.loads(out)
        assert {item["outcome"] for item in items} <= outcomes_of(seeded)
        handled += [item["id"] for item in items]
    check_exactly_once(engine, seeded, handled, notices=True)


KILLER = """
import os, signal, sys
from gdcluster.engine import Engine
from gdcluster.engine.clock import FixedClock, parse_instant

engine = Engine.open(sys.argv[1], clock=FixedClock(parse_instant(sys.argv[2])))
kill_at, seen = int(sys.argv[3]), []

def crash(session, event):
    seen.append(event.case_id)
    if len(seen) == kill_at:        # inside the transaction: transition and audit row flushed
        session.flush()
        os.kill(os.getpid(), signal.SIGKILL)

engine.on_transaction(crash)
engine.run_due()
"""


@pytest.mark.slow
def test_a_sweeper_killed_mid_transaction_loses_nothing(engine: Engine, db_url: str,
                                                       tmp_path: Path) -> None:
    """A sweeping process SIGKILLed inside its 60th transaction leaves exactly 59 deadlines
    fired (the 60th rolled back with its transition); a restarted scheduler fires the rest,
    each once — ends of publicity, reminders and revocations alike — and the audit chain
    verifies."""
    seeded = seed_due(engine, 200)
    audit_before = count_audit(engine)
    env = clean_env(tmp_path)
    killed = subprocess.run([sys.executable, "-c", KILLER, db_url, SWEEP_AT, "60"],
                            capture_output=True, env=env, cwd=tmp_path, timeout=PROCESS_TIMEOUT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    with engine.store.read() as session:
        fired = list(session.scalars(select(Deadline.id).where(Deadline.status == "fired")))
    assert len(fired) == 59
    assert count_audit(engine) == audit_before + 59
    assert engine.verify_audit().ok
    restarted = subprocess.run(
        [*gdcluster_command(), "--db", db_url, "--now", SWEEP_AT, "--json", "scheduler", "run",
         "--once"], capture_output=True, env=env, cwd=tmp_path, timeout=PROCESS_TIMEOUT)
    assert restarted.returncode == 0, restarted.stderr.decode()
    items = json.loads(restarted.stdout)
    assert {item["outcome"] for item in items} <= outcomes_of(seeded), items
    rest = [item["id"] for item in items]
    assert len(rest) == 200 - 59
    check_exactly_once(engine, seeded, fired + rest)


# ---------------------------------------------------------------------------- the waker
@pytest.fixture
def waker(engine: Engine) -> Iterator[DeadlineScheduler]:
    """The scheduler machinery on a started but paused background scheduler: jobs get their
    run times computed, none runs by itself; the test calls them as APScheduler would."""
    scheduler = make_scheduler("background")
    scheduler.start(paused=True)
    try:
        yield DeadlineScheduler(engine, scheduler=scheduler)
    finally:
        scheduler.shutdown(wait=False)


def test_jobs_are_configured_as_the_design_requires(waker: DeadlineScheduler,
                                                    engine: Engine, clock: FakeClock) -> None:
    """Asia/Shanghai, an in-memory job store, one worker, and jobs with fixed ids that never
    drop a late run (misfire_grace_time=None), coalesce, and never overlap."""
    from apscheduler.jobstores.memory import MemoryJobStore

    publicized(engine, 1)
    waker.rearm()
    waker.add_resync()
    scheduler = waker.scheduler
    assert str(scheduler.timezone) == "Asia/Shanghai"
    assert isinstance(scheduler._jobstores["default"], MemoryJobStore)
    assert scheduler._executors["default"]._pool._max_workers == 1
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {WAKE_JOB, RESYNC_JOB}
    for job in jobs.values():
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (None, True, 1)
    assert jobs[RESYNC_JOB].trigger.interval == timedelta(minutes=1)
    assert jobs[WAKE_JOB].next_run_time == end_of_day(date(2024, 10, 11))


def test_catch_up_at_start_then_a_wake_up_at_each_due_time(
    waker: DeadlineScheduler, engine: Engine, clock: FakeClock
) -> None:
    """Deadlines that fell due while no scheduler ran fire in the start-up sweep; the wake-up
    job is then armed for the next due time, fires it when the clock gets there, re-arms for
    the one after, and is removed when nothing is pending."""
    late = publicized(engine, 2, end=date(2024, 10, 11))
    [later] = insert_cases(engine, 1, state="recognized",
                           validity=(date(2024, 2, 1), date(2027, 1, 31)),
                           deadline=(deadlines.EXPIRY_REMINDER, start_of_day(date(2026, 11, 2))))
    [reminded] = insert_cases(engine, 1, state="drafted", correction_due=date(2024, 10, 25),
                              deadline=(deadlines.CORRECTION_REMINDER,
                                        start_of_day(date(2024, 10, 23))))
    clock.set("2024-10-20T09:00")  # the scheduler was down at 24:00 of 10-11
    handled = waker.sweep()
    assert [(item.case_id, item.outcome) for item in handled] == [
        (late[0], "publicity_closed"), (late[1], "publicity_closed")]
    wake = waker.scheduler.get_job(WAKE_JOB)
    first_reminder = start_of_day(date(2024, 10, 23))
    assert wake.next_run_time == first_reminder
    clock.set(first_reminder)
    assert [(item.case_id, item.outcome) for item in wake.func()] == [(reminded, "reminded")]
    clock.set("2026-11-02T00:00")
    assert [item.case_id for item in waker.scheduler.get_job(WAKE_JOB).func()] == [later]
    assert waker.scheduler.get_job(WAKE_JOB) is None


def test_resync_sees_rows_other_processes_wrote(waker: DeadlineScheduler, engine: Engine,
                                                 db_url: str, clock: FakeClock) -> None:
    """A deadline written by another process, earlier than the armed wake-up, is picked up by
    the minute resync: the wake-up moves to it."""
    publicized(engine, 1, end=date(2024, 10, 11))
    waker.sweep()
    assert waker.scheduler.get_job(WAKE_JOB).next_run_time == end_of_day(date(2024, 10, 11))
    other = Engine.open(db_url, clock=FakeClock("2024-03-01T09:00"))
    try:
        publicized(other, 1, start=date(2024, 9, 2), end=date(2024, 9, 10))
    finally:
        other.close()
    waker.add_resync()
    waker.scheduler.get_job(RESYNC_JOB).func()
    assert waker.scheduler.get_job(WAKE_JOB).next_run_time == end_of_day(date(2024, 9, 10))


def test_stop_ends_a_sweep_between_deadlines(waker: DeadlineScheduler, engine: Engine,
                                             clock: FakeClock) -> None:
    """Once stopping, a sweep finishes the deadline in hand and handles no other; nothing is
    left half-done (the rest stays pending for the next start)."""
    publicized(engine, 3)
    clock.set(SWEEP_AT)
    stop = waker.stopping
    handled = sweep.run_due(engine.kernel, stop=stop, on_handled=lambda _item: stop.set())
    assert len(handled) == 1
    assert len(engine.pending()) == 2
    assert waker.sweep() == []


@pytest.mark.slow
def test_real_scheduler_process_wakes_at_the_due_time_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """`gdcluster scheduler run --now T` on a simulation database: its time starts at T and
    runs on (issue 15.15: never the wall clock). The deadline that fell due before T fires in
    the start-up sweep, dated T; one due a few seconds after T fires when the wake-up job comes
    due (logged as armed first); one due later than T — though long past by the wall clock —
    stays pending; SIGTERM then stops it with exit status 0."""
    url = f"sqlite:///{tmp_path / 'waker.db'}"
    engine = Engine.init(url, simulation=True, clock=FakeClock("2024-03-01T09:00"))
    try:
        start = datetime(2025, 6, 1, 1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai
        [overdue] = insert_cases(engine, 1, state="recognized",
                                 validity=(date(2023, 7, 10), date(2026, 7, 9)),
                                 deadline=(deadlines.REPORT_GRACE, start - timedelta(days=1)))
        [soon] = insert_cases(engine, 1, state="recognized",
                              validity=(date(2024, 7, 10), date(2027, 7, 9)),
                              deadline=(deadlines.REPORT_GRACE, start + timedelta(seconds=4)))
        [later] = insert_cases(engine, 1, state="recognized",
                               validity=(date(2024, 7, 10), date(2027, 7, 9)),
                               deadline=(deadlines.REPORT_GRACE, start + timedelta(days=30)))
        process = subprocess.Popen([*gdcluster_command(), "--db", url, "--now",
                                    start.isoformat(), "scheduler", "run"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=clean_env(tmp_path), cwd=tmp_path, text=True)
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr],
                                  daemon=True)
        reader.start()
        log: list[str] = []

        def wait_for(text: str) -> None:
            while not any(text in line for line in log):
                try:
                    log.append(lines.get(timeout=60))
                except queue.Empty:
                    process.kill()
                    pytest.fail(f"no {text!r} in the scheduler's log:\n" + "".join(log))

        try:
            wait_for(f"case {overdue} due")
            wait_for("next wake-up at")
            wait_for(f"case {soon} due")
        finally:
            process.send_signal(signal.SIGTERM)
            status = process.wait(timeout=60)
        reader.join(timeout=30)
        process.stderr.close()
        while not lines.empty():
            log.append(lines.get())
        assert status == 0, "".join(log)
        assert "scheduler stopped" in log[-1]
        armed = next(i for i, line in enumerate(log) if "next wake-up at" in line)
        fired = next(i for i, line in enumerate(log) if f"case {soon} due" in line)
        assert armed < fired
        assert states(engine, [overdue, soon, later]) == {
            overdue: "revocation_proposed", soon: "revocation_proposed", later: "recognized"}
        [row] = rows(engine, soon, kind=deadlines.REPORT_GRACE)
        assert row.status == "fired" and row.fired_at >= row.due_at
        assert row.fired_at < start + timedelta(minutes=10)  # the simulation's time, not today
        [first] = rows(engine, overdue, kind=deadlines.REPORT_GRACE)
        assert start <= first.fired_at < start + timedelta(minutes=10)
        assert [row.status for row in rows(engine, later, kind=deadlines.REPORT_GRACE)] == [
            "pending"]
        assert engine.verify_audit().ok
    finally:
        engine.close()


# ---------------------------------------------------------------------------- the commands
def invoke(*args: str) -> object:
    from gdcluster.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={
        "GDCLUSTER_NOW": None, "GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None})


def test_pending_command_lists_without_writing(engine: Engine, db_url: str) -> None:
    """`scheduler pending --json` lists what is due with the action a sweep would take;
    --until widens the view to 24:00 of a day; nothing is written."""
    [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
    audit_before = count_audit(engine)
    result = invoke("--db", db_url, "--now", SWEEP_AT, "scheduler", "pending", "--json")
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    assert (item["case_id"], item["kind"], item["action"]) == (
        case_id, deadlines.PUBLICITY_END, "close_publicity")
    early = invoke("--db", db_url, "--now", "2024-10-11T23:00", "scheduler", "pending", "--json")
    assert json.loads(early.stdout) == []
    wider = invoke("--db", db_url, "--now", "2024-10-11T23:00", "scheduler", "pending",
                   "--until", "2024-10-11", "--json")
    assert [row["id"] for row in json.loads(wider.stdout)] == [item["id"]]
    human = invoke("--db", db_url, "--now", SWEEP_AT, "scheduler", "pending")
    assert "2024-10-11 24:00" in human.stdout and "close_publicity" in human.stdout
    assert count_audit(engine) == audit_before
    assert {row.status for row in rows(engine, case_id)} == {"pending"}


def test_run_once_command_sweeps_at_the_given_now(engine: Engine, db_url: str) -> None:
    """`scheduler run --once --now` fires what is due at that instant, one line each, and a
    second run finds nothing."""
    [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
    result = invoke("--db", db_url, "--now", SWEEP_AT, "scheduler", "run", "--once")
    assert result.exit_code == 0, result.output
    assert "publicity_end" in result.stdout and f"case {case_id}" in result.stdout
    assert "publicity closed by system" in result.stdout
    assert engine.get(case_id).state == "publicity_closed"
    again = invoke("--db", db_url, "--now", SWEEP_AT, "--json", "scheduler", "run", "--once")
    assert json.loads(again.stdout) == []


def test_clock_rules_of_the_commands(tmp_path: Path) -> None:
    """A real database refuses --now for a sweep and for the running scheduler (exit 4);
    the running scheduler on a simulation database refuses to start without --now (exit 2,
    naming it, writing nothing): it never follows the wall clock there."""
    real = f"sqlite:///{tmp_path / 'real.db'}"
    Engine.init(real).close()
    refused = invoke("--db", real, "--now", SWEEP_AT, "scheduler", "run", "--once")
    assert refused.exit_code == 4
    running = invoke("--db", real, "--now", SWEEP_AT, "scheduler", "run")
    assert running.exit_code == 4 and "simulation" in running.output
    simulation = f"sqlite:///{tmp_path / 'sim.db'}"
    engine = Engine.init(simulation, simulation=True, clock=FakeClock("2024-03-01T09:00"))
    try:
        [case_id] = publicized(engine, 1, end=date(2024, 10, 11))  # due long ago, wall-wise
        audit_before = count_audit(engine)
        # a process, with a timeout: a scheduler that wrongly starts would never return
        unset = subprocess.run([*gdcluster_command(), "--db", simulation, "scheduler", "run"],
                               capture_output=True, text=True, env=clean_env(tmp_path),
                               cwd=tmp_path, timeout=PROCESS_TIMEOUT)
        assert unset.returncode == 2, unset.stderr
        assert "--now" in unset.stderr and "wall clock" in unset.stderr
        assert engine.get(case_id).state == "publicized"
        assert count_audit(engine) == audit_before
    finally:
        engine.close()


def test_run_due_at_a_given_instant_only_on_simulation_databases(tmp_path: Path) -> None:
    """Engine.run_due(now) would date acts by that instant: a real database refuses it."""
    engine = Engine.init(f"sqlite:///{tmp_path / 'real.db'}")
    try:
        with pytest.raises(SimulationOnly):
            engine.run_due(datetime(2030, 1, 1, tzinfo=UTC))
        assert engine.run_due() == []
    finally:
        engine.close()


def test_catch_up_after_a_long_downtime_keeps_due_order(engine: Engine,
                                                        clock: FakeClock) -> None:
    """One sweep after half a year of downtime handles what fell due in due order: a 退回补正
    reminder found after its deadline is closed as too late, not sent, and the publicity whose
    window ended meanwhile is closed (recognition still waits for the 名单通告)."""
    [case_id, returned] = publicized(engine, 2, end=date(2024, 10, 11))
    with engine.store.write() as session:  # the second was returned for correction instead
        session.execute(Deadline.__table__.update().where(Deadline.case_id == returned)
                        .values(kind=deadlines.CORRECTION_REMINDER, due_at=start_of_day(
                            date(2024, 10, 1)), key=deadlines.case_key(
                                returned, "correction", 1, "reminder")))
        session.execute(Case.__table__.update().where(Case.id == returned).values(
            state="drafted", correction_due=date(2024, 10, 8)))
    clock.set("2025-04-02T09:00")
    got = [(item.kind, item.case_id, item.outcome) for item in engine.run_due()]
    assert got == [
        (deadlines.CORRECTION_REMINDER, returned, "too_late"),
        (deadlines.PUBLICITY_END, case_id, "publicity_closed"),
    ]
    assert engine.get(case_id).state == "publicity_closed"
    assert engine.pending() == []


def test_concurrent_sweeps_in_threads_do_not_double_fire(engine: Engine, db_url: str) -> None:
    """Two engines in one process sweeping the same rows from two threads (the claim, not the
    process boundary, is what makes firing exactly once)."""
    seeded = seed_due(engine, 40)
    engines = [Engine.open(db_url, clock=FakeClock(SWEEP_AT)) for _ in range(2)]
    results: list[list[DeadlineOutcome]] = [[], []]
    try:
        threads = [threading.Thread(target=lambda i=i: results[i].extend(engines[i].run_due()))
                   for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=PROCESS_TIMEOUT)
    finally:
        for other in engines:
            other.close()
    check_exactly_once(engine, seeded, [item.id for result in results for item in result])


def test_run_once_exits_5_when_a_deadline_is_left_busy(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer holds what the sweep needs past the timeout (SQLite: a write transaction
    on the file; PostgreSQL: the case row locked, ``lock_timeout``): `scheduler run --once`
    lists the deadline as busy, exits 5 naming it, and leaves it pending; once the lock is gone
    the next run fires it and exits 0."""
    from gdcluster.engine import store as store_module

    [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
    [deadline_id] = [row.id for row in rows(engine, case_id)]
    if db_url.startswith("sqlite"):
        import sqlite3

        monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
        url = db_url
        holder: object = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # type: ignore[attr-defined]
    else:
        import psycopg

        url = db_url + "%20-clock_timeout%3D200"
        holder = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"))
        holder.execute("SELECT id FROM gd_case WHERE id = %s FOR UPDATE",  # type: ignore[attr-defined]
                       (case_id,))
    try:
        stuck = invoke("--db", url, "--now", SWEEP_AT, "--json", "scheduler", "run", "--once")
    finally:
        holder.rollback()  # type: ignore[attr-defined]
        holder.close()  # type: ignore[attr-defined]
    assert stuck.exit_code == 5, stuck.output
    [item] = json.loads(stuck.stdout)
    assert (item["id"], item["outcome"]) == (deadline_id, "busy")
    error = json.loads(stuck.stderr)["error"]
    assert error["code"] == "sweep_incomplete" and str(deadline_id) in error["message"]
    assert {row.status for row in rows(engine, case_id)} == {"pending"}
    done = invoke("--db", url, "--now", SWEEP_AT, "scheduler", "run", "--once")
    assert done.exit_code == 0, done.output
    assert engine.get(case_id).state == "publicity_closed"


def test_run_once_exits_0_when_deadlines_only_wait_or_are_refused(engine: Engine,
                                                                  db_url: str) -> None:
    """A sweep that handled everything it could — here a deadline closed as not applicable —
    exits 0: only errors and busy deadlines make it 5."""
    [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
    with engine.store.write() as session:  # the case left publicity by hand: nothing to close
        session.execute(Case.__table__.update().where(Case.id == case_id)
                        .values(state="publicity_closed"))
    result = invoke("--db", db_url, "--now", SWEEP_AT, "--json", "scheduler", "run", "--once")
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    assert item["outcome"] == "not_applicable"
