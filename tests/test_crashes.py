"""Issue 6 §2, crashes, on SQLite and PostgreSQL: a process SIGKILLed in the middle of a
500-case `round publicize`, of a sweep of 500 due deadlines, of a notice delivery batch, and
of `round recognize` at each of its steps.

After a restart no case is half-changed (state, version, audit rows, deadlines and notice
records agree), every deadline fires exactly once, every notice is delivered at least once and
recorded once, and `round publicize` finishes the pick it stored before the crash — a rerun
with other arguments is refused, naming that pick. The SQLite file passes `PRAGMA
integrity_check` after every kill (WAL, ``synchronous=FULL``: see engine/store.py).
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from deadline_support import audit_rows, expert_reviewed, insert_cases, publicized, states
from hardening_support import backend, fresh_url, module_db_url, snapshot
from sqlalchemy import select, text
from support import DECISION, heard
from template_support import initialized

from gdcluster.cli import cli
from gdcluster.engine import Engine, deadlines
from gdcluster.engine.clock import FakeClock, end_of_day
from gdcluster.engine.models import Case, Deadline, Delivery, Notice, Round
from gdcluster.notifications.context import specs_for_event
from gdcluster.notifications.service import issue
from gdcluster.notifications.settings import load_settings

__all__ = ["module_db_url"]

PROVINCE = "province@王处长"
TIMEOUT = 240

#: Runs `gdcluster ARGV` after making every engine it opens SIGKILL its own process at the
#: N-th act of the given triggers: inside that act's transaction (its rows flushed, not
#: committed), or right after its commit (before anything else happens, notices included).
KILLER = r"""
import os, signal, sys
from gdcluster.engine import api

kill_at, mode, triggers, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
seen = []

def count(event):
    if event.trigger in triggers:
        seen.append(event.case_id)
        return len(seen) == kill_at
    return False

def inside(session, event):
    if count(event):
        session.flush()
        os.kill(os.getpid(), signal.SIGKILL)

def after_commit(event):
    if count(event):
        os.kill(os.getpid(), signal.SIGKILL)

opened = api.Engine.open.__func__

def open_and_arm(cls, *args, **kwargs):
    engine = opened(cls, *args, **kwargs)
    if mode == "inside":
        engine.on_transaction(inside)
    else:
        engine.subscribe(after_commit)
    return engine

api.Engine.open = classmethod(open_and_arm)
from gdcluster.cli import main
main(argv)
"""


@pytest.fixture
def db(module_db_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test. The SQLite file is on disk, opened as in production
    (WAL, ``synchronous=FULL``); the PostgreSQL server is never killed here, only its
    clients, so its sessions may skip waiting for the disk (see ``pg_schema``)."""
    with fresh_url(backend(module_db_url), tmp_path) as url:
        yield url


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "notices.toml"
    path.write_text(f'[notices]\noutbox = "{(tmp_path / "outbox").as_posix()}"\n'
                    f'formats = ["txt"]\n', "utf-8")
    return path


def environment(settings: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("GDCLUSTER_NOW", "GDCLUSTER_DB", "GDCLUSTER_ACTOR")}
    return {**env, "GDCLUSTER_SETTINGS": str(settings), "PYTHONUNBUFFERED": "1"}


def killed(argv: list[str], kill_at: int, mode: str, triggers: str, settings: Path,
           cwd: Path) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([sys.executable, "-c", KILLER, str(kill_at), mode, triggers, *argv],
                            capture_output=True, env=environment(settings), cwd=cwd,
                            timeout=TIMEOUT)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    return result


def gd(settings: Path, *argv: str) -> Any:
    return CliRunner(env={"GDCLUSTER_SETTINGS": str(settings), "GDCLUSTER_NOW": None,
                          "GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None}).invoke(cli, list(argv))


def intact(engine: Engine) -> None:
    """The chain verifies, and a SQLite file passes its own integrity check."""
    report = engine.verify_audit()
    assert report.ok, report.message()
    if engine.store.dialect == "sqlite":
        with engine.store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def case_facts(engine: Engine, ids: list[int]) -> dict[int, tuple[str, int, list[str],
                                                                 list[str]]]:
    """Per case: state, version, its acts (audit triggers) and its deadlines (kind:status)."""
    acts: dict[int, list[str]] = {case_id: [] for case_id in ids}
    for row in audit_rows(engine):
        if row.case_id in acts:
            acts[row.case_id].append(row.trigger)
    with engine.store.read() as session:
        cases = {row.id: (row.state, row.version) for row in session.execute(
            select(Case.id, Case.state, Case.version).where(Case.id.in_(ids)))}
        found: dict[int, list[str]] = {case_id: [] for case_id in ids}
        for row in session.execute(select(Deadline.case_id, Deadline.kind, Deadline.status)
                                   .where(Deadline.case_id.in_(ids)).order_by(Deadline.id)):
            found[row.case_id].append(f"{row.kind}:{row.status}")
    return {case_id: (*cases[case_id], acts[case_id], found[case_id]) for case_id in ids}


# ---------------------------------------------------------------------------- publicize

def check_publicity_consistent(engine: Engine, ids: list[int], best: set[int]) -> Counter[str]:
    """Each case is untouched (expert-reviewed, version 1, no act, no deadline) or moved once
    as the stored pick says: publicized with its publicity deadline, or 未入选 without."""
    outcome: Counter[str] = Counter()
    for case_id, (state, version, acts, due) in case_facts(engine, ids).items():
        if state == "expert_reviewed":
            assert (version, acts, due) == (1, [], []), case_id
        elif state == "publicized":
            assert case_id in best
            assert (version, acts, due) == (2, ["publicize"], ["publicity_end:pending"]), case_id
        else:
            assert case_id not in best
            assert (state, version, acts, due) == ("not_selected", 2, ["close"], []), case_id
        outcome[state] += 1
    return outcome


@pytest.mark.slow
def test_a_publicize_killed_mid_batch_resumes_its_stored_pick(db: str, tmp_path: Path,
                                                              settings_file: Path) -> None:
    """`round publicize 2024 --top 100` over 500 cases, SIGKILLed inside the transaction of
    its 150th case (the 100 best are publicized first, then the others 未入选): 149 cases
    moved (each once, with its deadline), the 150th rolled back, 351 untouched, no round act
    and no publicity notice yet. A rerun with another choice is refused (exit 3) naming the
    stored pick and writes nothing; the same command finishes that pick — the 100 best of
    the original 500, not of the 351 left — with one round act and one notice; the timer then
    closes each publicity exactly once."""
    engine = initialized(db, FakeClock("2024-03-01T09:00"))
    try:
        ids = expert_reviewed(engine, 500)
        best = set(ids[-100:])
        argv = ["--db", db, "--as", PROVINCE, "--now", "2024-09-27T10:00", "round",
                "publicize", "2024", "--top", "100", "--start", "2024-09-27", "--doc-no",
                "粤工信服务函〔2024〕88号"]
        killed(argv, 150, "inside", "publicize,close", settings_file, tmp_path)
        intact(engine)
        outcome = check_publicity_consistent(engine, ids, best)
        assert outcome["expert_reviewed"] == 500 - 149
        rows = audit_rows(engine)
        assert "publicize_round" not in [row.trigger for row in rows]
        with engine.store.read() as session:
            pick = session.get(Round, 2024).publicity_pick
            assert session.scalar(select(Notice.id).where(Notice.kind == "publicity")) is None
        assert pick["done"] is False and set(pick["publicize"]) == best

        before = snapshot(engine)
        other = gd(settings_file, *argv[:-6], "--top", "120")
        assert other.exit_code == 3, other.output
        assert "--top 100" in other.stderr and str(max(best)) in other.stderr
        assert snapshot(engine).without("gd_refusal") == before.without("gd_refusal")

        finished = gd(settings_file, "--json", *argv[:-4])  # same choice; start, doc no stored
        assert finished.exit_code == 0, finished.output
        result = json.loads(finished.stdout)
        assert result["resumed"] is True and set(result["publicized"]) == best
        assert check_publicity_consistent(engine, ids, best) == Counter(
            {"publicized": 100, "not_selected": 400})
        rows = audit_rows(engine)
        assert [row.trigger for row in rows].count("publicize_round") == 1
        with engine.store.read() as session:
            notices = list(session.scalars(select(Notice.doc_no).where(
                Notice.kind == "publicity")))
        assert notices == ["粤工信服务函〔2024〕88号"]
        again = gd(settings_file, *argv)
        assert again.exit_code == 3  # finished: nothing left to publicize

        handled = engine.run_due("2024-10-12T09:00")
        assert Counter(item.outcome for item in handled) == {"publicity_closed": 100}
        assert sorted(item.case_id for item in handled) == sorted(best)
        assert engine.run_due("2024-10-12T09:00") == []
        intact(engine)
    finally:
        engine.close()


# ---------------------------------------------------------------------------- the sweep
SWEEP_AT = "2024-10-12T08:00"


@pytest.mark.slow
def test_a_sweep_killed_between_acts_loses_nothing(db: str, tmp_path: Path,
                                                   settings_file: Path) -> None:
    """`scheduler run --once` over 500 due deadlines (250 ends of publicity, 250 ends of a 催报
    grace with the report still missing, due first: each opens the 18.3 procedure),
    SIGKILLed right after committing its 200th act (a 拟撤销告知) — before that act's notice
    was delivered. Every deadline is fired or pending, never half: a fired one has exactly
    its act and (for a proposal) its 告知书 and hearing deadline. The restarted sweep fires
    the rest, each once; `notice deliver` then delivers every notice, and each was recorded
    once."""
    engine = initialized(db, FakeClock("2024-03-01T09:00"))
    try:
        recognizing = publicized(engine, 250, end=date(2024, 10, 11))
        revoking = insert_cases(
            engine, 250, state="recognized", validity=(date(2023, 7, 10), date(2026, 7, 9)),
            deadline=(deadlines.REPORT_GRACE, end_of_day(date(2024, 4, 17))))
        ids = recognizing + revoking
        argv = ["--db", db, "--now", SWEEP_AT, "scheduler", "run", "--once"]
        killed(argv, 200, "after", "close_publicity,propose_revocation", settings_file, tmp_path)
        intact(engine)

        def check(fired_expected: int | None) -> None:
            facts = case_facts(engine, ids)
            with engine.store.read() as session:
                seeded = dict(session.execute(select(Deadline.case_id, Deadline.status).where(
                    Deadline.case_id.in_(ids),
                    Deadline.due_at <= end_of_day(date(2024, 10, 11)))).all())
                notices = Counter(session.scalars(select(Notice.case_id).where(
                    Notice.kind == "revocation_proposal")))
                hearings = Counter(session.scalars(select(Deadline.case_id).where(
                    Deadline.kind == deadlines.HEARING_END)))
            fired = [case_id for case_id, status in seeded.items() if status == "fired"]
            if fired_expected is not None:
                assert len(fired) == fired_expected
            for case_id in ids:
                state, version, acts, _due = facts[case_id]
                moved = [act for act in acts if act in ("close_publicity", "propose_revocation")]
                if seeded[case_id] == "fired":
                    assert version == 2 and len(moved) == 1, case_id
                    assert state == ("publicity_closed" if case_id in recognizing
                                     else "revocation_proposed")
                    assert notices[case_id] == hearings[case_id] == (
                        1 if case_id in revoking else 0)
                else:
                    assert seeded[case_id] == "pending" and (version, moved) == (1, [])
                    assert notices[case_id] == hearings[case_id] == 0

        check(200)
        with engine.store.read() as session:
            undelivered = session.scalar(select(Delivery.id).where(Delivery.status == "pending"))
        restarted = gd(settings_file, "--db", db, "--now", SWEEP_AT, "--json", "scheduler",
                       "run", "--once")
        assert restarted.exit_code == 0, restarted.output
        assert len(json.loads(restarted.stdout)) == 300
        check(500)
        assert engine.pending(SWEEP_AT) == []
        delivered = gd(settings_file, "--db", db, "--now", SWEEP_AT, "notice", "deliver")
        assert delivered.exit_code == 0, delivered.output
        with engine.store.read() as session:
            statuses = Counter(session.scalars(select(Delivery.status)))
            paths = list(session.scalars(select(Notice.path)))
        assert statuses == {"sent": 250} and len(paths) == 250
        assert all(Path(path).exists() for path in paths)
        assert undelivered is not None  # the killed act's notice was left to deliver
        intact(engine)
    finally:
        engine.close()


# ---------------------------------------------------------------------------- delivery
class Receiver(http.server.ThreadingHTTPServer):
    """A webhook that counts deliveries by id and SIGKILLs the sender at the N-th one,
    before answering — the worst moment: sent, not yet recorded."""

    def __init__(self, kill_at: int) -> None:
        self.kill_at, self.victim = kill_at, 0
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.received[self.headers["X-Gdcluster-Delivery"]] += 1
            total = sum(self.server.received.values())
            if total == self.server.kill_at and self.server.victim:
                os.kill(self.server.victim, signal.SIGKILL)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.mark.slow
def test_a_delivery_batch_killed_mid_send_delivers_every_notice(db: str,
                                                               tmp_path: Path) -> None:
    """40 revocation notices (an outbox file and a webhook call each) are delivered by
    `notice deliver`, SIGKILLed while its 15th webhook call is in flight. The delivery it was
    making stays `sending` until its lease runs out; the rerun after that sends it again and
    everything else once: every notice is delivered at least once, and recorded once."""
    receiver = Receiver(kill_at=15)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    settings = tmp_path / "notices.toml"
    settings.write_text(
        f'[notices]\noutbox = "{(tmp_path / "outbox").as_posix()}"\nformats = ["txt"]\n'
        f'[[webhooks]]\nurl = "http://127.0.0.1:{receiver.server_address[1]}/hook"\n', "utf-8")
    engine = initialized(db, FakeClock("2025-09-01T10:00"))
    try:
        loaded = load_settings(settings)
        ids = insert_cases(engine, 40, state="recognized",
                           validity=(date(2024, 10, 12), date(2027, 10, 11)))
        for case_id in ids:  # heard before the notices are listened to: one letter each
            heard(engine, case_id, "18.5", "较大安全事故")
        engine.on_transaction(lambda session, event: [
            issue(session, spec, loaded, event, simulation=engine.simulation)
            for spec in specs_for_event(event)])
        for case_id in ids:
            engine.fire(case_id, "revoke", "province", reason=DECISION)
        with engine.store.read() as session:
            assert Counter(session.scalars(select(Delivery.status))) == {"pending": 80}
        command = [sys.executable, "-c", "from gdcluster.cli import main; main()", "--db", db,
                   "--settings", str(settings), "--now", "2025-09-01T10:05", "notice",
                   "deliver"]
        process = subprocess.Popen(command, env=environment(settings), cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        receiver.victim = process.pid
        assert process.wait(timeout=TIMEOUT) == -signal.SIGKILL
        intact(engine)
        with engine.store.read() as session:
            statuses = Counter(session.scalars(select(Delivery.status)))
        assert statuses["sending"] == 1 and statuses["sent"] >= 14, statuses

        early = gd(settings, "--db", db, "--settings", str(settings), "--now",
                   "2025-09-01T10:06", "notice", "deliver")
        assert early.exit_code == 0
        with engine.store.read() as session:  # the lease holds: the in-flight one waits
            assert Counter(session.scalars(select(Delivery.status)))["sending"] == 1
        late = gd(settings, "--db", db, "--settings", str(settings), "--now",
                  "2025-09-01T10:20", "notice", "deliver")
        assert late.exit_code == 0, late.output
        with engine.store.read() as session:
            deliveries = list(session.execute(select(Delivery.id, Delivery.channel,
                                                     Delivery.status, Delivery.notice_id)))
            notices = list(session.execute(select(Notice.id, Notice.path, Notice.case_id)))
        assert {row.status for row in deliveries} == {"sent"} and len(deliveries) == 80
        assert sorted(row.case_id for row in notices) == sorted(ids)  # recorded once each
        webhooks = {str(row.id) for row in deliveries if row.channel == "webhook"}
        assert set(receiver.received) == webhooks
        assert sorted(receiver.received.values()).count(2) == 1  # the one cut off, resent
        assert all(Path(row.path).exists() for row in notices)
        assert states(engine, ids) == dict.fromkeys(ids, "revoked")
    finally:
        receiver.shutdown()
        receiver.server_close()
        engine.close()


def test_an_interrupted_recognize_batch_keeps_its_validity_start(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`round recognize --doc-no … --valid-from 2024-11-01` cut short after 8 of 20 cases
    (here by an exception, as a crash would): the batch stays stored and unfinished, a rerun
    with another --valid-from or --doc-no is refused naming it, and the rerun with the same
    文号 finishes it with the stored 成文日期 and start — no case gets a second validity — and
    writes the round act once, listing the 20 cases (the 名单通告's list)."""
    from gdcluster.engine import TransitionRefused, rounds

    clock = FakeClock("2024-10-14T10:00")
    engine = initialized(db, clock)
    doc_no = "粤工信服务函〔2024〕95号"
    try:
        ids = insert_cases(engine, 20, state="publicity_closed",
                           publicity=(date(2024, 9, 27), date(2024, 10, 11)))
        moved = 0
        original = rounds.batch_act

        def interrupted(*args: Any, **kwargs: Any) -> Any:
            nonlocal moved
            if args[2] == "recognize" and moved == 8:
                raise KeyboardInterrupt  # the operator's Ctrl-C, or the machine going down
            moved += args[2] == "recognize"
            return original(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(rounds, "batch_act", interrupted)
            with pytest.raises(KeyboardInterrupt):
                engine.recognize_round(2024, PROVINCE, doc_no=doc_no, doc_date="2024-10-12",
                                       valid_from="2024-11-01")
        assert list(states(engine, ids).values()).count("recognized") == 8
        clock.set("2024-10-15T09:00")
        with pytest.raises(TransitionRefused, match="--valid-from 2024-11-01") as caught:
            engine.recognize_round(2024, PROVINCE, doc_no=doc_no, valid_from="2024-12-01")
        assert caught.value.exit_code == 3
        with pytest.raises(TransitionRefused, match=r"--doc-no 粤工信服务函〔2024〕95号"):
            engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕96号")
        result = engine.recognize_round(2024, PROVINCE, doc_no=doc_no)
        assert result.resumed is True and result.recognized == ids
        assert (result.doc_date, result.valid_from) == ("2024-10-12", "2024-11-01")
        assert {engine.get(case_id).valid_from for case_id in ids} == {date(2024, 11, 1)}
        acts = [row for row in audit_rows(engine) if row.trigger == "recognize_round"]
        assert len(acts) == 1 and json.loads(acts[0].payload)["recognized"] == ids
        assert Counter(row.case_id for row in audit_rows(engine)
                       if row.trigger == "recognize") == Counter(dict.fromkeys(ids, 1))
        intact(engine)
    finally:
        engine.close()


#: Where `round recognize` is killed: inside or right after the transaction of the N-th act of
#: these triggers — a case's publicity closed, a case recognized, the round's act (its 名单通告),
#: a leftover closed, the round's closing.
RECOGNIZE_KILLS = [
    ("inside", "close_publicity", 3), ("after", "close_publicity", 6),
    ("inside", "recognize", 1), ("after", "recognize", 10), ("inside", "recognize", 24),
    ("inside", "recognize_round", 1), ("after", "recognize_round", 1),
    ("inside", "close", 2), ("after", "close_round", 1),
]


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "trigger", "kill_at"), RECOGNIZE_KILLS,
                         ids=[f"{mode}-{trigger}-{at}" for mode, trigger, at in RECOGNIZE_KILLS])
def test_a_recognize_killed_at_any_step_issues_one_notice(
        db: str, tmp_path: Path, settings_file: Path, mode: str, trigger: str,
        kill_at: int) -> None:
    """`round recognize` SIGKILLed at any step — while it closes publicity, recognizes the
    cases, records its 通告, closes the round — then run again with the same arguments: every
    case is recognized once with the one validity, each leftover closed once, and there is
    exactly one 名单通告 and one act of each round step; a third run writes nothing."""
    engine = initialized(db, FakeClock("2024-10-13T09:00"))
    try:
        closed = insert_cases(engine, 16, state="publicity_closed",
                              publicity=(date(2024, 9, 27), date(2024, 10, 11)))
        ending = publicized(engine, 8, end=date(2024, 10, 11))
        leftovers = insert_cases(engine, 4, state="submitted")
        argv = ["--db", db, "--as", PROVINCE, "--now", "2024-10-15T10:00", "round",
                "recognize", "2024", "--doc-no", "粤工信服务函〔2024〕95号", "--doc-date",
                "2024-10-14"]
        killed(argv, kill_at, mode, trigger, settings_file, tmp_path)
        intact(engine)
        again = gd(settings_file, *argv)
        assert again.exit_code == 0, again.output
        listed = closed + ending
        assert states(engine, listed) == dict.fromkeys(listed, "recognized")
        assert states(engine, leftovers) == dict.fromkeys(leftovers, "not_selected")
        rows = audit_rows(engine)
        for name, cases in (("recognize", listed), ("close_publicity", ending),
                            ("close", leftovers)):
            assert Counter(row.case_id for row in rows if row.trigger == name) == \
                Counter(dict.fromkeys(cases, 1)), name
        triggers = [row.trigger for row in rows]
        assert (triggers.count("recognize_round"), triggers.count("close_round")) == (1, 1)
        assert {(engine.get(case_id).valid_from, engine.get(case_id).valid_until)
                for case_id in listed} == {(date(2024, 10, 14), date(2027, 10, 13))}
        with engine.store.read() as session:
            notices = Counter(session.scalars(select(Notice.kind).where(
                Notice.round_year == 2024, Notice.case_id.is_(None))))
        assert notices == {"recognition": 1}
        before = snapshot(engine)
        third = gd(settings_file, *argv)
        assert third.exit_code == 0, third.output
        assert snapshot(engine) == before
        intact(engine)
    finally:
        engine.close()


# ---------------------------------------------------------------------------- 复核 deadlines
@pytest.mark.slow
def test_a_sweep_of_review_deadlines_killed_between_acts_loses_nothing(
        db: str, tmp_path: Path, settings_file: Path) -> None:
    """`scheduler run --once` after 2026-07-09 24:00 over 60 cases valid to 2026-07-09: 30
    covered by the 复核 round 2026 that never applied (application deadline 2026-06-30 →
    propose_revocation 18.1) and 30 not covered (validity end → expire), SIGKILLed right
    after its 40th act. Each case has moved once or not at all, its deadline fired with its
    act or still pending; the restarted sweep fires the rest, each exactly once."""
    from review_support import review_deadlines

    engine = initialized(db, FakeClock("2026-06-15T09:00"))
    try:
        proposing, expiring = review_deadlines(engine, 30, 30)
        ids = proposing + expiring
        argv = ["--db", db, "--now", "2026-07-10T00:05", "scheduler", "run", "--once"]
        killed(argv, 40, "after", "propose_revocation,expire", settings_file, tmp_path)
        intact(engine)

        def check(moved_expected: int | None) -> None:
            facts = case_facts(engine, ids)
            moved_total = 0
            for case_id in ids:
                state, version, acts, due = facts[case_id]
                mine = "review_apply_due" if case_id in proposing else "validity_end"
                trigger = "propose_revocation" if case_id in proposing else "expire"
                moved = [act for act in acts if act in ("propose_revocation", "expire")]
                # covered cases were written once more when the 复核 round covered them
                assert version == (2 if case_id in proposing else 1) + len(moved), case_id
                if f"{mine}:fired" in due:
                    assert moved == [trigger], (case_id, acts)
                    assert state == ("revocation_proposed" if case_id in proposing
                                     else "expired"), case_id
                    moved_total += 1
                else:
                    assert f"{mine}:pending" in due and moved == [], (case_id, acts, due)
                    assert state == "recognized", case_id
            if moved_expected is not None:
                assert moved_total == moved_expected

        check(40)
        restarted = gd(settings_file, "--db", db, "--now", "2026-07-10T00:05", "--json",
                       "scheduler", "run", "--once")
        assert restarted.exit_code == 0, restarted.output
        check(60)
        assert engine.pending("2026-07-10T00:05") == []
        intact(engine)
    finally:
        engine.close()
