"""How the batch write paths talk to the database (issue 16 point 3), counted, never timed:
``round recognize`` writes each case's validity deadlines (expiry, its reminder, each annual
report and its reminders) as one multi-row statement, with no read of them first; the rows are
those the per-row path wrote (every key, kind and due time, checked against the date rules)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from deadline_support import PROVINCE, publicized
from sqlalchemy import event, select

from gdcluster.engine import Engine, deadlines
from gdcluster.engine.clock import FakeClock, end_of_day, start_of_day
from gdcluster.engine.models import Deadline


@contextmanager
def deadline_statements(engine: Engine) -> Iterator[Counter[str]]:
    """The statements on ``gd_deadline`` the engine sends while the block runs, by verb."""
    seen: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        words = statement.split()
        if "gd_deadline" in statement and words:
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
