"""``scheduler pending`` as a sweep would fire (issue 15 item 16, issue 16 point 4), and the
sweep's summary naming every outcome.

* The preview goes in due order with each case as the rows before it would leave it: a row
  that ends the case (a revocation, where the policy lets the system decide after an
  unanswered hearing) is its last — the deadlines it would cancel are not listed.
* It is one streamed query with a few look-ups per batch of rows, whatever the number of rows,
  and never reads the application column.
* A sweep after downtime reports a reminder it closed unsent as ``too_late`` — in its outcomes,
  its summary line and the ``scheduler run --once`` output — not as "not applicable".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from click.testing import CliRunner
from deadline_support import (
    PROVINCE,
    deadlines,
    insert_cases,
    open_round,
    publicized,
    recognized,
    rows,
    system_decides,
)
from sqlalchemy import event

from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock


@contextmanager
def sql_seen(engine: Engine) -> Iterator[list[str]]:
    """The SQL text of each statement the engine sends while the block runs."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    event.listen(engine.store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", record)


def test_the_preview_stops_at_the_row_that_ends_the_case(
        engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validity 2023-07-10 … 2026-07-09 under a policy whose revocations the system decides;
    the province proposes revocation (18.4) on 2023-11-01 and nobody states the case: the end
    of the hearing period (24:00 of 8 November) revokes, and a sweep would then cancel the
    case's later deadlines (reports, validity), so none of them is listed."""
    clock.set("2023-07-10T09:00")
    open_round(engine, 2023, policy=system_decides(monkeypatch))
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    clock.set("2023-11-01T10:00")
    engine.fire(case_id, "propose_revocation", PROVINCE, reason_code="18.4",
                facts="2023年产值数据与统计部门数据不符")
    later = [row for row in rows(engine, case_id)
             if row.status == "pending" and row.kind != deadlines.HEARING_END]
    assert {row.kind for row in later} >= {deadlines.REPORT_REMINDER, deadlines.REPORT_DUE,
                                           deadlines.EXPIRY_REMINDER, deadlines.VALIDITY_END}
    listed = [(row.kind, row.action) for row in engine.pending("2030-12-31")
              if row.case_id == case_id]
    assert listed == [(deadlines.HEARING_END, "revoke")]
    # and so it goes: the sweep at that time revokes, and leaves nothing of the case pending
    clock.set("2030-12-31T23:00")
    assert [item.outcome for item in engine.run_due() if item.case_id == case_id] \
        == ["revoked"]
    assert engine.get(case_id).state == "revoked"
    assert engine.pending("2030-12-31") == []


def test_the_preview_reads_in_one_pass_without_the_application(engine: Engine,
                                                              clock: FakeClock) -> None:
    """Twice the cases, the same statements: no query per row (the look-ups a plan needs are
    read per batch of rows), and no statement names the application column."""
    counts = []
    for count in (3, 6):
        recognized(engine, clock, date(2023 + count // 3, 7, 10), count=count)
        with sql_seen(engine) as seen:
            rows = engine.pending("2027-12-31")
        assert len(rows) > count
        assert not [text for text in seen if "application" in text]
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 6, counts


def test_a_sweep_after_downtime_reports_reminders_too_late(engine: Engine, db_url: str,
                                                          clock: FakeClock) -> None:
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    engine.close()
    result = CliRunner().invoke(
        __import__("gdcluster.cli", fromlist=["cli"]).cli,
        ["--db", db_url, "--now", "2024-04-03T09:00", "scheduler", "run", "--once"],
        catch_exceptions=False, env={"GDCLUSTER_NOW": None, "GDCLUSTER_DB": None,
                                     "GDCLUSTER_ACTOR": None})
    assert result.exit_code == 0, result.output
    # 2024-03-31 was a Sunday: the report deadline rolls to 24:00 of Monday 1 April, due by
    # then too, and is urged (催报); nothing is revoked by the timer
    assert "4 deadlines handled: 2 too late, 1 rolled, 1 overdue" in result.stderr
    assert "revoked" not in result.stderr + result.stdout
    assert result.stdout.count("too late: the report for 2023 was due") == 2
    assert f"case {case_id}" in result.stdout


def test_the_summary_names_each_outcome_once_with_its_count() -> None:
    from datetime import UTC, datetime

    from gdcluster.engine.sweep import DeadlineOutcome, summary

    def made(outcome: str) -> DeadlineOutcome:
        return DeadlineOutcome(1, "report_reminder", 1, None, datetime(2024, 1, 1, tzinfo=UTC),
                               outcome, "")

    assert summary([]) == "nothing due"
    assert summary([made("too_late")]) == "1 deadline handled: 1 too late"
    assert summary([made("reminded"), made("too_late"), made("reminded"),
                    made("not_applicable")]) == (
        "4 deadlines handled: 2 reminded, 1 too late, 1 not applicable")


def test_rows_that_share_their_facts_are_listed_as_if_each_were_planned_on_its_own(
        engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The preview plans each distinct set of the facts a decision reads once (the rows of
    cases recognized together share them): it lists, row for row and text for text in either
    language, what planning every row on its own lists — reminders before and after their
    report's deadline, report deadlines rolled, urged and refused (a year without calendar
    data), validity reminders and ends, a case ended by a revocation proposal's hearing, cases
    expired or under review, corrections, a publicity held by an objection — with fewer
    plans."""
    from gdcluster.engine import preview, timers
    from gdcluster.engine.clock import end_of_day, start_of_day
    from gdcluster.engine.i18n import localize

    first = recognized(engine, clock, date(2023, 7, 10), count=3)
    clock.set("2023-11-01T10:00")
    engine.fire(first[0], "propose_revocation", PROVINCE, reason_code="18.4",
                facts="2023年产值数据与统计部门数据不符")
    recognized(engine, clock, date(2024, 1, 15), count=3)
    insert_cases(engine, 2, state="drafted", correction_due=date(2024, 4, 10),
                 deadline=(deadlines.CORRECTION_REMINDER, start_of_day(date(2024, 4, 3))))
    insert_cases(engine, 2, state="drafted", correction_due=date(2024, 4, 10),
                 deadline=(deadlines.CORRECTION_DUE, end_of_day(date(2024, 4, 10))))
    insert_cases(engine, 2, state="under_review", validity=(date(2021, 7, 10),
                                                            date(2024, 7, 9)),
                 deadline=(deadlines.VALIDITY_END, end_of_day(date(2024, 7, 9))))
    insert_cases(engine, 2, state="expired",
                 deadline=(deadlines.REPORT_DUE, end_of_day(date(2025, 3, 31))))
    insert_cases(engine, 2, state="recognized", validity=(date(2024, 1, 15), date(2028, 1, 14)),
                 deadline=(deadlines.REPORT_DUE, end_of_day(date(2027, 3, 31))))
    held, *_ = publicized(engine, 3, end=date(2024, 10, 11))
    clock.set("2024-10-09T10:00")
    engine.fire(held, "object", "public@赵六", name="赵六", contact="138", evidence="e1")
    planned: list[str] = []
    actions: set[str] = set()
    plan = timers.plan
    monkeypatch.setattr(timers, "plan",
                        lambda *args: planned.append(args[1].kind) or plan(*args))
    for now in ("2024-01-15T09:00", "2024-04-05T09:00", "2026-08-01T09:00"):
        clock.set(now)
        for until in ("2024-12-31", "2030-12-31"):
            planned.clear()
            remembered = preview.pending(engine.kernel, until)
            plans = len(planned)
            planned.clear()
            each = preview.pending(engine.kernel, until, memo=False)
            assert remembered == each
            actions.update(row.action.split(":")[0] for row in each)
            assert plans < len(planned), (now, until)
            for language in ("en", "zh_CN"):
                monkeypatch.setenv("GDCLUSTER_LANG", language)
                assert [localize(row.action) for row in remembered] == \
                    [localize(row.action) for row in each]
    assert {"remind", "expire", "report_overdue", "refused", "roll to 24", "not applicable",
            "too late", "held", "close_publicity"} <= actions, actions
