"""Issue 6 §1, races, on SQLite and PostgreSQL: eight OS processes, released together at a
barrier, fire the same trigger on the same 100 cases — through the ``Engine`` API and through
the CLI — eight run `round publicize` and `scheduler run --once` together, and eight run the
same `round recognize` at once.

Each case moves exactly once; every other attempt exits 5 (concurrent modification) or 3 (no
longer allowed), never 1 (SQLite's "database is locked" included); audit rows equal the
successes, versions rise by exactly one per success, and `audit verify` passes.

The workers are processes forked from a forkserver with gdcluster already imported
(tests/race_support.py); "through the CLI" means each attempt is a whole run of the console
script's entry point, ``gdcluster.cli.main(argv)``, with its own engine, its exit code taken
from ``SystemExit`` — what `gdcluster` does, minus the interpreter start-up. One test runs
the installed `gdcluster` program itself, eight interpreters started at once per race.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import race_support
from deadline_support import audit_rows, expert_reviewed, insert_cases, publicized, states
from hardening_support import backend, fresh_url, module_db_url, snapshot
from sqlalchemy import func, select
from support import CITY, Walker
from template_support import initialized

from gdcluster.engine import Engine, deadlines
from gdcluster.engine.clock import FakeClock, end_of_day
from gdcluster.engine.models import Case, Deadline, Notice, Refusal

__all__ = ["module_db_url"]

PROCESSES = 8
CASES = 100
AFTER_PUBLICITY = "2024-10-12T09:00"
PROVINCE = "province@王处长"


@pytest.fixture
def db(module_db_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test (of the module's back-end): races need their own cases."""
    with fresh_url(backend(module_db_url), tmp_path) as url:
        yield url


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """For CLI workers: notices as plain text into a temporary outbox, no clock or actor."""
    settings = tmp_path / "notices.toml"
    settings.write_text(f'[notices]\noutbox = "{(tmp_path / "outbox").as_posix()}"\n'
                        f'formats = ["txt"]\n', "utf-8")
    return {"GDCLUSTER_SETTINGS": str(settings), "GDCLUSTER_NOW": "", "GDCLUSTER_ACTOR": "",
            "GDCLUSTER_DB": ""}


def engine_at(url: str, now: str = "2024-03-01T09:00") -> Engine:
    return initialized(url, FakeClock(now))


def orders(ids: list[int]) -> list[list[int]]:
    """Every process takes every case, in four different orders, so each case is fought over
    by all eight at some point and no two processes simply queue behind each other."""
    half = len(ids) // 2
    shapes = [ids, ids[::-1], ids[half:] + ids[:half], (ids[half:] + ids[:half])[::-1]]
    return [shapes[index % len(shapes)] for index in range(PROCESSES)]


def shared_halves(ids: list[int]) -> list[list[int]]:
    """For the CLI race, where each attempt is a whole CLI run: every process takes two of
    four quarters of the cases, so each case is still fought over by four processes at once
    (in varied orders) with half the runs of every process taking every case."""
    size = len(ids) // 4
    quarters = [ids[index * size:(index + 1) * size] for index in range(4)]
    taken = []
    for process in range(PROCESSES):
        chosen = quarters[process % 4] + quarters[(process + 1) % 4]
        taken.append(chosen if process < 4 else chosen[::-1])
    return taken


def check_one_success_each(outcomes: list[list[list[Any]]], ids: list[int]) -> Counter[int]:
    """Exit codes only 0, 3, 5; exactly one 0 per case. Returns the count of each code."""
    codes: Counter[int] = Counter()
    winners: Counter[int] = Counter()
    for worker in outcomes:
        for case_id, code, message in worker:
            assert code in (0, 3, 5), f"case {case_id}: exit {code}: {message}"
            codes[code] += 1
            if code == 0:
                winners[case_id] += 1
    assert sorted(winners) == sorted(ids)
    assert set(winners.values()) == {1}, [item for item in winners.items() if item[1] != 1]
    return codes


def check_closed_once(engine: Engine, ids: list[int], codes: Counter[int]) -> None:
    """State, version, audit, deadlines and refusal records agree with one success per case:
    each publicity closed once (公示期满), its deadline settled, nothing recognized."""
    assert states(engine, ids) == dict.fromkeys(ids, "publicity_closed")
    with engine.store.read() as session:
        versions = dict(session.execute(select(Case.id, Case.version)
                                        .where(Case.id.in_(ids))).all())
        deadline_rows = list(session.execute(
            select(Deadline.case_id, Deadline.kind, Deadline.status)
            .where(Deadline.case_id.in_(ids))).all())
        refused = session.scalar(select(func.count()).select_from(Refusal)
                                 .where(Refusal.trigger == "close_publicity"))
    assert versions == dict.fromkeys(ids, 2)  # inserted at 1: one step each
    acts = Counter(row.case_id for row in audit_rows(engine)
                   if row.trigger == "close_publicity")
    assert acts == Counter(dict.fromkeys(ids, 1))
    ended = [row for row in deadline_rows if row.kind == deadlines.PUBLICITY_END]
    assert sorted(row.case_id for row in ended) == sorted(ids)
    assert {row.status for row in ended} == {"done"}
    assert [row for row in deadline_rows if row.kind != deadlines.PUBLICITY_END] == []
    assert refused == codes[3]  # each refused attempt recorded; each lost race (5) is not
    report = engine.verify_audit()
    assert report.ok, report.message()


@pytest.mark.slow
def test_eight_processes_fire_the_same_trigger_through_the_engine(db: str,
                                                                  tmp_path: Path) -> None:
    """Eight processes close the publicity of the same 100 cases through `Engine.fire`, each
    trying every case: one success per case, the rest exit 3 (already closed) or 5."""
    engine = engine_at(db)
    try:
        ids = publicized(engine, CASES, end=date(2024, 10, 11))
        outcomes = race_support.race(
            [(race_support.fire_cases, (db, AFTER_PUBLICITY, "close_publicity", PROVINCE, {},
                                        order))
             for order in orders(ids)], tmp_path)
        codes = check_one_success_each(outcomes, ids)
        assert codes[0] == CASES and codes[3] + codes[5] == CASES * (PROCESSES - 1)
        check_closed_once(engine, ids, codes)
    finally:
        engine.close()


@pytest.mark.slow
def test_eight_processes_fire_the_same_trigger_through_the_cli(db: str, tmp_path: Path,
                                                               env: dict[str, str]) -> None:
    """The same race through the command line: eight processes run `gdcluster case
    close-publicity ID` (the console script's `main`, one run per attempt) over the 100 cases,
    four processes on each case. Exit codes are the CLI's: one 0 per case, the others 3 or 5 —
    a locked SQLite file included, never 1."""
    engine = engine_at(db)
    try:
        ids = publicized(engine, CASES, end=date(2024, 10, 11))
        prefix = ["--db", db, "--as", PROVINCE, "--now", AFTER_PUBLICITY, "case",
                  "close-publicity"]
        outcomes = race_support.race(
            [(race_support.cli_cases, (prefix, [], order, env))
             for order in shared_halves(ids)],
            tmp_path)
        codes = check_one_success_each(outcomes, ids)
        check_closed_once(engine, ids, codes)
    finally:
        engine.close()


def installed_gdcluster() -> str:
    path = Path(sys.executable).with_name("gdcluster")
    assert path.exists(), f"the gdcluster entry point is not installed next to {sys.executable}"
    return str(path)


def start_all(argvs: list[list[str]], env: dict[str, str]) -> list[tuple[int, str, str]]:
    """Start the installed `gdcluster` once per argv, all at once; their exit codes and
    output once all have ended."""
    environment = {**os.environ, **env}
    processes = [subprocess.Popen([installed_gdcluster(), *argv], env=environment,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for argv in argvs]
    ended = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=240)
        ended.append((process.returncode, stdout.decode("utf-8"), stderr.decode("utf-8")))
    return ended


@pytest.mark.slow
def test_eight_installed_gdcluster_processes_race(db: str, env: dict[str, str]) -> None:
    """The race with the installed `gdcluster` program itself — eight separately started
    interpreters, nothing shared but the database: for each of three cases, eight `gdcluster
    case close-publicity ID` at once, then four `round publicize` and four `scheduler run
    --once` at once. One success per case, the rest 3 or 5, never 1; records agree."""
    engine = engine_at(db)
    try:
        ids = publicized(engine, 3, end=date(2024, 10, 11))
        prefix = ["--db", db, "--as", PROVINCE, "--now", AFTER_PUBLICITY, "case",
                  "close-publicity"]
        outcomes: list[list[list[Any]]] = [[] for _ in range(PROCESSES)]
        for case_id in ids:
            ended = start_all([[*prefix, str(case_id)]] * PROCESSES, env)
            for worker, (code, _, stderr) in zip(outcomes, ended, strict=True):
                worker.append([case_id, code, stderr.strip()[:500]])
        codes = check_one_success_each(outcomes, ids)
        print(f"installed gdcluster race: exit codes {dict(codes)}")
        check_closed_once(engine, ids, codes)

        engine.clock.set(AFTER_PUBLICITY)  # type: ignore[attr-defined]
        candidates = expert_reviewed(engine, 20)
        base = ["--db", db, "--now", AFTER_PUBLICITY, "--json"]
        publicize = [*base, "--as", PROVINCE, "round", "publicize", "2024", "--top", "10"]
        ended = start_all([publicize if index % 2 == 0 else [*base, "scheduler", "run",
                                                              "--once"]
                           for index in range(PROCESSES)], env)
        assert {code for code, _, _ in ended} <= {0, 3, 5}, ended
        winners = [json.loads(stdout)["publicized"] for index, (code, stdout, _)
                   in enumerate(ended) if index % 2 == 0 and code == 0]
        assert winners and all(pick == candidates[-10:][::-1] for pick in winners)
        found = states(engine, candidates)
        assert sorted(case_id for case_id, state in found.items()
                      if state == "publicized") == candidates[-10:]
        moved = Counter(row.case_id for row in audit_rows(engine)
                        if row.trigger in ("publicize", "close"))
        assert moved == Counter(dict.fromkeys(candidates, 1))
        report = engine.verify_audit()
        assert report.ok, report.message()
    finally:
        engine.close()



@pytest.mark.slow
def test_eight_reruns_of_round_recognize_at_once_issue_one_notice(db: str, tmp_path: Path,
                                                                  env: dict[str, str]) -> None:
    """Eight `round recognize 2024 --doc-no … --doc-date 2024-10-14` at once (a double click,
    a cron job and a colleague): over 40 cases whose publicity has closed, 20 whose window has
    ended (the command closes them first), one held by an open objection and 10 left before
    publicity. Every run exits 0 or 5, never 1; each publicity is closed once, each case
    recognized once with the one validity, each leftover closed once (未入选); one
    `recognize_round` act, one 名单通告, one `close_round` act; and a ninth run afterwards
    writes nothing at all."""
    engine = engine_at(db, "2024-10-09T09:00")
    try:
        closed = insert_cases(engine, 40, state="publicity_closed",
                              publicity=(date(2024, 9, 27), date(2024, 10, 11)))
        ending = publicized(engine, 20, end=date(2024, 10, 11))
        [held] = publicized(engine, 1, end=date(2024, 10, 11))
        leftovers = insert_cases(engine, 10, state="city_reviewed")
        engine.fire(held, "object", "public@赵六", name="赵六", contact="13800000000",
                    evidence="产值数据存疑")
        listed = closed + ending
        argv = ["--db", db, "--as", PROVINCE, "--now", "2024-10-15T10:00", "--json", "round",
                "recognize", "2024", "--doc-no", "粤工信服务函〔2024〕95号", "--doc-date",
                "2024-10-14"]
        outcomes = race_support.race([(race_support.cli_once, (argv, env))
                                      for _ in range(PROCESSES)], tmp_path)
        codes = [worker[0][1] for worker in outcomes]
        assert set(codes) <= {0, 5} and 0 in codes, outcomes
        assert states(engine, listed) == dict.fromkeys(listed, "recognized")
        assert states(engine, leftovers) == dict.fromkeys(leftovers, "not_selected")
        assert engine.get(held).state == "publicized"
        rows = audit_rows(engine)
        assert Counter(row.case_id for row in rows if row.trigger == "close_publicity") == \
            Counter(dict.fromkeys(ending, 1))
        assert Counter(row.case_id for row in rows if row.trigger == "recognize") == \
            Counter(dict.fromkeys(listed, 1))
        assert Counter(row.case_id for row in rows if row.trigger == "close") == \
            Counter(dict.fromkeys(leftovers, 1))
        [act] = [row for row in rows if row.trigger == "recognize_round"]
        assert sorted(json.loads(act.payload)["recognized"]) == sorted(listed)
        assert [row.trigger for row in rows].count("close_round") == 1
        assert {(engine.get(case_id).valid_from, engine.get(case_id).valid_until)
                for case_id in listed} == {(date(2024, 10, 14), date(2027, 10, 13))}
        with engine.store.read() as session:
            notices = list(session.scalars(select(Notice.doc_no).where(
                Notice.kind == "recognition")))
        assert notices == ["粤工信服务函〔2024〕95号"]
        before = snapshot(engine)
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            again = race_support.run_cli(argv)
        assert again[0] == 0 and json.loads(again[1])["recognized"] == [], again
        assert snapshot(engine) == before
        report = engine.verify_audit()
        assert report.ok, report.message()
    finally:
        engine.close()


@pytest.mark.slow
def test_round_publicize_and_scheduler_runs_race_together(db: str, tmp_path: Path,
                                                          env: dict[str, str]) -> None:
    """Four `round publicize 2024 --top 50` and four `scheduler run --once` processes at once,
    over 100 expert-reviewed cases and 100 due deadlines (ends of publicity; report deadlines
    on a Sunday, rolled and then urged; 催报 graces ending, each opening the 18.3 procedure):
    the pick is stored once and applied once (the 50 best publicized, 50 未入选, one act each,
    one round act, one publicity notice; every finished run reports that pick; a run that
    began after it was finished exits 3), every deadline fires once, no process exits 1, and
    the chain verifies. Then four sweepers race over the hearing deadlines those procedures
    set: each fires once, and nobody revokes (the province decides)."""
    now = "2024-10-12T08:00"
    engine = engine_at(db)
    try:
        candidates = expert_reviewed(engine, CASES)
        recognizing = publicized(engine, CASES // 2, end=date(2024, 10, 11))
        urging = insert_cases(
            engine, CASES // 4, state="recognized",
            validity=(date(2023, 7, 10), date(2026, 7, 9)),
            deadline=(deadlines.REPORT_DUE, end_of_day(date(2024, 3, 31))))
        proposing = insert_cases(
            engine, CASES // 4, state="recognized",
            validity=(date(2023, 7, 10), date(2026, 7, 9)),
            deadline=(deadlines.REPORT_GRACE, end_of_day(date(2024, 4, 17))))
        revoking = urging + proposing
        base = ["--db", db, "--now", now, "--json"]
        publicize = [*base, "--as", PROVINCE, "round", "publicize", "2024", "--top", "50"]
        sweep = [*base, "scheduler", "run", "--once"]
        outcomes = race_support.race(
            [(race_support.cli_once, (publicize if index % 2 == 0 else sweep, env))
             for index in range(PROCESSES)], tmp_path)
        publicizers = [worker[0] for index, worker in enumerate(outcomes) if index % 2 == 0]
        sweepers = [worker[0] for index, worker in enumerate(outcomes) if index % 2 == 1]
        assert {code for _, code, _, _ in publicizers} <= {0, 3, 5}, publicizers
        assert any(code == 0 for _, code, _, _ in publicizers), publicizers
        assert {code for _, code, _, _ in sweepers} <= {0, 5}, sweepers
        best = candidates[-50:]  # scores rise with the id
        for _, code, _, stdout in publicizers:  # each finished run reports the one pick
            if code == 0:
                assert json.loads(stdout)["publicized"] == best[::-1]
        # a run refused because the pick was already finished is recorded as a refused round
        # act; finding a case moved by another run of the same pick is no refusal
        refused = sum(code == 3 for _, code, _, _ in publicizers)
        assert [(row["trigger"], row["case_id"]) for row in engine.refusals()] == [
            ("publicize_round", None)] * refused

        found = states(engine, candidates)
        assert {case_id for case_id, state in found.items() if state == "publicized"} == set(best)
        assert {case_id for case_id, state in found.items() if state == "not_selected"} == (
            set(candidates) - set(best))
        rows = audit_rows(engine)
        moved = Counter(row.case_id for row in rows if row.trigger in ("publicize", "close"))
        assert moved == Counter(dict.fromkeys(candidates, 1))
        assert [row.trigger for row in rows].count("publicize_round") == 1
        with engine.store.read() as session:
            versions = set(session.scalars(select(Case.version)
                                           .where(Case.id.in_(candidates))))
            notices = session.scalar(select(func.count()).select_from(Notice)
                                     .where(Notice.kind == "publicity"))
            fired = dict(session.execute(
                select(Deadline.case_id, Deadline.status).where(
                    Deadline.case_id.in_(recognizing + revoking),
                    Deadline.due_at <= end_of_day(date(2024, 10, 11)))).all())  # the seeded
        assert versions == {2} and notices == 1
        assert fired == dict.fromkeys(recognizing + revoking, "fired")
        handled = [item["id"] for _, code, _, stdout in sweepers if code == 0
                   for item in json.loads(stdout)]
        # a Sunday's report deadline rolls to Monday's, which is due too: two rows each
        assert len(handled) == len(set(handled)) == CASES + len(urging)
        system = Counter(row.case_id for row in rows if row.actor == "system" and row.trigger
                         in ("close_publicity", "report_overdue", "propose_revocation"))
        assert system == Counter(dict.fromkeys(recognizing + revoking, 1))
        assert states(engine, recognizing) == dict.fromkeys(recognizing, "publicity_closed")
        assert states(engine, urging) == dict.fromkeys(urging, "recognized")
        assert states(engine, proposing) == dict.fromkeys(proposing, "revocation_proposed")
        report = engine.verify_audit()
        assert report.ok, report.message()

        hearing = [*base[:2], "--now", "2024-10-30T08:00", "--json", "scheduler", "run",
                   "--once"]
        (tmp_path / "hearing").mkdir()
        outcomes = race_support.race([(race_support.cli_once, (hearing, env))
                                      for _ in range(PROCESSES)], tmp_path / "hearing")
        assert {worker[0][1] for worker in outcomes} <= {0, 5}, outcomes
        ended = [item for worker in outcomes if worker[0][1] == 0
                 for item in json.loads(worker[0][3]) if item["kind"] == deadlines.HEARING_END]
        assert sorted(item["case_id"] for item in ended) == sorted(proposing)
        assert {item["outcome"] for item in ended} == {"awaiting_decision"}
        assert states(engine, proposing) == dict.fromkeys(proposing, "revocation_proposed")
        assert not [row for row in audit_rows(engine) if row.trigger == "revoke"]
    finally:
        engine.close()


def test_eight_sweeps_fire_each_review_deadline_once(db: str, tmp_path: Path,
                                                     env: dict[str, str]) -> None:
    """Eight `scheduler run --once` processes at once after 2026-07-09 24:00, over 50 cases
    covered by the 复核 round 2026 that never applied (their application deadline: 18.1
    proposed) and 50 not covered (their validity end: expired): every deadline is handled by
    exactly one process, each case moves once, no process exits 1, the chain verifies."""
    from review_support import review_deadlines

    engine = engine_at(db, "2026-06-15T09:00")
    try:
        proposing, expiring = review_deadlines(engine, CASES // 2, CASES // 2)
        sweep = ["--db", db, "--now", "2026-07-10T00:05", "--json", "scheduler", "run",
                 "--once"]
        outcomes = race_support.race(
            [(race_support.cli_once, (sweep, env)) for _ in range(PROCESSES)], tmp_path)
        sweepers = [worker[0] for worker in outcomes]
        assert {code for _, code, _, _ in sweepers} <= {0, 5}, sweepers
        handled = [item["id"] for _, code, _, stdout in sweepers if code == 0
                   for item in json.loads(stdout)]
        assert len(handled) == len(set(handled))
        rows = audit_rows(engine)
        acts = Counter((row.case_id, row.trigger) for row in rows
                       if row.trigger in ("propose_revocation", "expire"))
        assert acts == Counter({**{(case_id, "propose_revocation"): 1 for case_id in proposing},
                                **{(case_id, "expire"): 1 for case_id in expiring}})
        assert states(engine, proposing) == dict.fromkeys(proposing, "revocation_proposed")
        assert states(engine, expiring) == dict.fromkeys(expiring, "expired")
        assert engine.pending("2026-07-10T00:05") == []
        report = engine.verify_audit()
        assert report.ok, report.message()
    finally:
        engine.close()


def test_a_lock_held_too_long_is_exit_5_never_1(db: str, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """Another writer holding the lock past the timeout — SQLite: a write transaction open
    past the busy timeout ("database is locked"); PostgreSQL: the case row locked past
    ``lock_timeout`` — makes the act exit 5 through the engine and the CLI, with nothing
    written; reading goes on meanwhile, and the act succeeds once the lock is gone."""
    from click.testing import CliRunner

    from gdcluster.cli import cli
    from gdcluster.engine import ConcurrentModification
    from gdcluster.engine import store as store_module

    engine = engine_at(db)
    try:
        [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
        if backend(db) == "sqlite":
            import sqlite3

            monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
            url = db
            holder: Any = sqlite3.connect(db.removeprefix("sqlite:///"), isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            url = db + "%20-clock_timeout%3D200"
            holder = psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://"))
            holder.execute("SELECT id FROM gd_case WHERE id = %s FOR UPDATE", (case_id,))
        try:
            racer = Engine.open(url, clock=FakeClock(AFTER_PUBLICITY))
            try:
                with pytest.raises(ConcurrentModification) as caught:
                    racer.fire(case_id, "close_publicity", PROVINCE)
                assert caught.value.exit_code == 5
            finally:
                racer.close()
            runner = CliRunner(env={"GDCLUSTER_NOW": None, "GDCLUSTER_DB": None,
                                    "GDCLUSTER_ACTOR": None})
            result = runner.invoke(cli, ["--db", url, "--as", PROVINCE, "--now",
                                         AFTER_PUBLICITY, "case", "close-publicity",
                                         str(case_id)])
            assert result.exit_code == 5, result.output
            assert "locked" in result.stderr and "Traceback" not in result.stderr
            shown = runner.invoke(cli, ["--db", url, "case", "show", str(case_id)])
            assert shown.exit_code == 0, shown.output
        finally:
            holder.rollback()
            holder.close()
        assert engine.get(case_id).version == 1 and engine.refusals() == []
        engine.clock.set(AFTER_PUBLICITY)  # type: ignore[attr-defined]
        view = engine.fire(case_id, "close_publicity", PROVINCE)
        assert (view.state, view.version) == ("publicity_closed", 2)
    finally:
        engine.close()


@pytest.mark.slow
def test_eight_processes_recommending_one_citys_cases_stop_at_its_quota(
        db: str, tmp_path: Path, application: dict) -> None:
    """Eight processes recommend the same twelve reviewed cases of one city at once, each in
    its own order: the city's maximum (5) is never passed — the round's row lock, taken with
    the case on PostgreSQL, serializes the count — and every other attempt is refused (3) or
    loses a race (5)."""
    clock = FakeClock("2024-03-01T09:00")
    engine = Engine.init(db, simulation=True, clock=clock)
    try:
        walker = Walker(engine, clock, application)
        ids = [walker.to("city_reviewed", name=f"佛山市南海区铝型材产业集群{index}")
               for index in range(12)]
        outcomes = race_support.race(
            [(race_support.fire_cases, (db, clock.now().isoformat(), "recommend", CITY, {},
                                        order))
             for order in orders(ids)], tmp_path)
        codes = Counter(code for worker in outcomes for _case, code, _message in worker)
        assert set(codes) <= {0, 3, 5}, codes
        assert codes[0] == 5
        assert list(states(engine, ids).values()).count("recommended") == 5
        report = engine.verify_audit()
        assert report.ok, report.message()
    finally:
        engine.close()
