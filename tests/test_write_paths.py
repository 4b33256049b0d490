"""How the write paths talk to the database (issue 16 point 3), counted, never timed:

* ``round recognize`` writes each case's validity deadlines (expiry, its reminder, each annual
  report and its reminders) as one multi-row statement, with no read of them first; the rows
  are those the per-row path wrote (every key, kind and due time, checked against the date
  rules);
* a timer act with its notice commits at most three write transactions (SQLAlchemy's commit
  events, counted);
* a 催报 sweep's act reads its case — with its round, deadlines, objections and reports — by
  one statement and nothing of them again, its batch reads the working-day calendar once,
  and each act is one write transaction of at most 15 statements (statements counted).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from deadline_support import PROVINCE, publicized, recognized
from sqlalchemy import event, select

from gdcluster.engine import Engine, deadlines
from gdcluster.engine.clock import FakeClock, end_of_day, start_of_day
from gdcluster.engine.models import Deadline
from gdcluster.notifications import Contact, Settings, attach


@contextmanager
def deadline_statements(engine: Engine) -> Iterator[Counter[str]]:
    """The statements on ``gd_deadline`` the engine sends while the block runs, by verb; the
    audit chain's one look-up per act for closed deadlines not yet vouched for (it names
    ``attest_seq``: ``gdcluster.engine.coverage``) is not a read of the deadlines to write."""
    seen: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        words = statement.split()
        if "gd_deadline" in statement and "attest_seq" not in statement and words:
            seen[words[0].upper()] += 1

    event.listen(engine.store.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", count)


def test_recognition_writes_each_cases_deadlines_in_one_statement(
        engine: Engine, clock: FakeClock) -> None:
    ids = publicized(engine, 3, end=date(2024, 10, 11))
    clock.set("2024-10-14T10:00")
    with deadline_statements(engine) as seen:
        result = engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号")
    assert sorted(result.recognized) == ids
    # per case: the publicity deadline closed (UPDATE) and one INSERT … ON CONFLICT of its
    # validity deadlines; no SELECT of them one by one
    assert seen["INSERT"] == len(ids)
    assert seen["SELECT"] <= 2  # the round's own reads (batch bookkeeping), not per case
    with engine.store.read() as session:
        rows = session.execute(select(Deadline.key, Deadline.kind, Deadline.due_at,
                                      Deadline.status).where(Deadline.case_id == ids[0],
                                                             Deadline.kind != "publicity_end")
                               ).all()
    valid_until = date(2027, 10, 13)
    expected = {
        (f"case:{ids[0]}:validity_end:{valid_until}", "validity_end",
         end_of_day(valid_until)),
        (f"case:{ids[0]}:expiry_reminder:{valid_until}", "expiry_reminder",
         start_of_day(date(2027, 7, 15))),
    }
    found = {(key, kind, due_at) for key, kind, due_at, status in rows}
    assert expected <= found
    assert {status for *_, status in rows} == {"pending"}
    reports = sorted(key for key, kind, *_ in rows if kind == deadlines.REPORT_DUE)
    assert reports == [f"case:{ids[0]}:report:{year}" for year in range(2024, 2028)]
    assert engine.verify_audit().ok


@contextmanager
def listening(engine: Engine, listeners: dict[str, Any]) -> Iterator[None]:
    """SQLAlchemy event ``listeners`` (by event name) on the engine's connections while the
    block runs."""
    for name, listener in listeners.items():
        event.listen(engine.store.engine, name, listener)
    try:
        yield
    finally:
        for name, listener in listeners.items():
            event.remove(engine.store.engine, name, listener)


@contextmanager
def write_commits(engine: Engine) -> Iterator[list[int]]:
    """``[n]``: the commits of transactions that wrote (an INSERT, UPDATE or DELETE) while the
    block runs, seen by SQLAlchemy's event listeners on the engine's connections."""
    dirty: set[int] = set()
    counted = [0]

    def executed(connection: Any, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            dirty.add(id(connection.connection))

    def committed(connection: Any) -> None:
        if id(connection.connection) in dirty:
            dirty.discard(id(connection.connection))
            counted[0] += 1

    with listening(engine, {"before_cursor_execute": executed, "commit": committed,
                            "rollback": lambda connection: dirty.discard(
                                id(connection.connection))}):
        yield counted


def notice_settings(outbox: Path) -> Settings:
    """The default formats (txt, HTML, .docx) to ``outbox``, with the contact they print."""
    return Settings(outbox=outbox, contact=Contact(
        person="张三", phone="020-83133333", email="zxqyc@gdei.gov.cn",
        department="中小企业服务处", address="广州市越秀区东风中路305号", postcode="510031"))


def test_a_timer_act_with_its_notice_takes_at_most_three_write_transactions(
        engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    """A reminder, a 催报 and a 拟撤销告知 (18.3) fired by the sweep, each with its notice in
    txt, HTML and .docx written to the outbox: the act with its notice records, the outbox
    deliveries claimed, their outcomes recorded — three write transactions, not one per
    delivery."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    attach(engine, notice_settings(tmp_path / "outbox"))
    # 2024-03-31 is a Sunday: the report deadline rolls to 24:00 of Monday 1 April, which the
    # same sweep finds due and urges (催报, a grace of working days from 4 April, to 18 April);
    # the grace ended unanswered, the system opens the 18.3 procedure
    for moment, outcome in (("2024-03-01T09:00", "reminded"), ("2024-04-03T09:00", "overdue"),
                            ("2024-04-22T09:00", "revocation_proposed")):
        clock.set(moment)
        with write_commits(engine) as writes:
            handled = engine.run_due()
        fired = [item for item in handled if item.outcome == outcome]
        assert [item.case_id for item in fired] == [case_id]
        # a reminder found too late, a deadline rolled to a working day: one transaction each
        unsent = len(handled) - len(fired)
        assert writes[0] - unsent <= 3 * len(fired), (moment, writes[0], handled)
    [urge] = [row for row in engine.history(case_id) if row["trigger"] == "report_overdue"]
    assert urge["payload"]["grace_due"] == "2024-04-18"
    files = sorted(path.suffix for path in (tmp_path / "outbox").rglob("*.*"))
    assert files == [".docx"] * 3 + [".html"] * 3 + [".txt"] * 3
    assert engine.verify_audit().ok


@contextmanager
def transactions(engine: Engine) -> Iterator[list[list[str]]]:
    """The statements the engine sends while the block runs (whitespace collapsed), by
    transaction: each list ends where a commit or a rollback does (a sweep is one thread, its
    transactions one after the other)."""
    found: list[list[str]] = [[]]

    def executed(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        found[-1].append(" ".join(statement.split()))

    def ended(_conn: object) -> None:
        found.append([])

    with listening(engine, {"before_cursor_execute": executed, "commit": ended,
                            "rollback": ended}):
        yield found


def read_from(statement: str) -> str | None:
    """The table a ``SELECT`` reads first (its first ``FROM``); None for any other
    statement."""
    found = re.match(r"SELECT\b.*?\bFROM (\w+)", statement)
    return found.group(1) if found else None


#: What a 催报 act's transaction sends at most: its start on SQLite (``BEGIN IMMEDIATE``), the
#: case read with its round and parts, the claim of the deadline with its outcome, the grace
#: deadline, the case, the audit head and row, the notice's three renderings (one statement)
#: and their deliveries, the check for deadlines the act left due, and the seal (records not
#: vouched for yet, the notices and the deadline vouched for, the audit row and the head
#: amended). Before it, the sweep's check that the deadline is still pending (a read of its
#: own).
REPORT_DUE_ACT_STATEMENTS = 15


def test_a_report_deadline_act_reads_its_case_once_and_is_one_transaction(
        engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    """The 催报 sweep (the report for 2024 missing at 24:00 of Monday 31 March 2025), each act
    with its notice in txt, HTML and .docx: one write transaction per act (and the batch's
    deliveries, claimed and recorded: two more), of at most ``REPORT_DUE_ACT_STATEMENTS``
    statements; one read of its case — with its round, deadlines, objections and reports,
    which the timer decides from and the notice prints — and none of them again; the
    batch's working-day calendar read once."""
    ids = recognized(engine, clock, date(2024, 7, 10), count=3)
    attach(engine, notice_settings(tmp_path / "outbox"))
    clock.set("2025-03-25T09:00")
    assert {item.outcome for item in engine.run_due()} == {"reminded"}  # the reminders first
    clock.set("2025-04-01T09:00")
    with write_commits(engine) as writes, transactions(engine) as found:
        handled = engine.run_due()
    assert [(item.case_id, item.outcome) for item in handled] == [
        (case_id, "overdue") for case_id in ids]
    assert writes[0] == len(ids) + 2
    acts = [statements for statements in found
            if any(statement.startswith("INSERT INTO gd_audit ") for statement in statements)]
    assert len(acts) == len(ids)
    for statements in acts:
        own = [statement for statement in statements  # the batch's calendar: counted below
               if read_from(statement) != "gd_calendar_year"]
        assert len(own) <= REPORT_DUE_ACT_STATEMENTS, own
        assert [read_from(statement) for statement in statements].count("gd_case") == 1
    reads = Counter(read_from(statement) for statements in found for statement in statements)
    assert reads["gd_case"] == len(ids)
    assert all(reads[table] == 0 for table in ("gd_round", "gd_annual_report", "gd_objection"))
    assert reads["gd_calendar_year"] == 1
    assert engine.verify_audit().ok
    files = sorted(path.suffix for path in (tmp_path / "outbox").rglob("*.*"))
    assert files == [".docx"] * 9 + [".html"] * 9 + [".txt"] * 9  # two reminders, one 催报


def test_a_sweep_holds_only_its_own_threads_deliveries(engine: Engine) -> None:
    """``Kernel.holding_deliveries`` (a sweep's batch) holds the after-commit work of the
    thread that sweeps, flushed once when its block ends; an act of another thread meanwhile
    is delivered after its own commit, as always."""
    import threading

    kernel = engine.kernel
    flushed: list[int] = []
    remove = kernel.after_held(lambda: flushed.append(threading.get_ident()))
    seen: dict[str, bool] = {}
    try:
        with kernel.holding_deliveries():
            with kernel.holding_deliveries():  # nested: flushed once, by the outer block
                other = threading.Thread(target=lambda: seen.setdefault("other",
                                                                        kernel.holding))
                other.start()
                other.join()
                seen["own"] = kernel.holding
            assert flushed == []
        seen["after"] = kernel.holding
    finally:
        remove()
    assert seen == {"other": False, "own": True, "after": False}
    assert flushed == [threading.get_ident()]
