"""The legal clock's rules (DESIGN §3, §9), each at its edges, with the fake clock moved by hand.

Date rules are tables of vectors; the behaviour of each deadline kind is checked by sweeping
(``Engine.run_due``) one microsecond before and exactly at its due instant, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from deadline_support import (
    COUNTY,
    DATA,
    PROVINCE,
    audit_rows,
    city_opinion,
    import_2027,
    insert_cases,
    keep_in_force,
    open_round,
    outcomes,
    pending_due,
    publicized,
    recognized,
    rows,
)
from sqlalchemy import func, select, update
from support import revoke_now

from gdcluster.engine import CalendarGap, Engine, TransitionRefused, deadlines
from gdcluster.engine.calendar import WorkCalendar, parse_calendar_file
from gdcluster.engine.clock import FakeClock, end_of_day, start_of_day
from gdcluster.engine.models import Case, Deadline

JUST_BEFORE = timedelta(microseconds=1)
CALENDAR_2027 = "calendar-2027.yaml"


def calendar_with_2027() -> WorkCalendar:
    from deadline_support import DATA

    path = DATA / CALENDAR_2027
    return WorkCalendar(parse_calendar_file(path.read_bytes(), path.name))


def at_edges(clock: FakeClock, engine: Engine, due: datetime) -> tuple[list, list]:
    """Sweep one microsecond before ``due`` and exactly at it."""
    clock.set(due - JUST_BEFORE)
    before = engine.run_due()
    clock.set(due)
    return before, engine.run_due()


@pytest.fixture
def sim(tmp_path, clock: FakeClock):
    """A SQLite-only simulation engine, for the long vector tables: the back-end difference
    (how instants compare) is covered by the edge tests that run on both."""
    engine = Engine.init(f"sqlite:///{tmp_path / 'rules.db'}", simulation=True, clock=clock)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def variant(monkeypatch: pytest.MonkeyPatch):
    """Make a policy variant of guangdong-2023 loadable by name (period values replaced)."""
    from gdcluster.states import policy as policy_module

    def make(name: str, **periods: Any):
        path = policy_module._policy_folder().joinpath("guangdong-2023.toml")
        text = path.read_text("utf-8").replace('name = "guangdong-2023"', f'name = "{name}"')
        for key, value in periods.items():
            lines = text.splitlines()
            index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = "))
            rendered = ("true" if value else "false") if isinstance(value, bool) else (
                f'"{value}"' if isinstance(value, str) else str(value))
            lines[index] = f"{key} = {rendered}"
            text = "\n".join(lines) + "\n"
        built = policy_module.parse_policy(text.encode("utf-8"), f"policies/{name}.toml")
        real = policy_module.load_policy
        monkeypatch.setattr(policy_module, "load_policy",
                            lambda wanted, digest=None: built if wanted == name
                            else real(wanted, digest=digest))
        return built

    return make


# ---------------------------------------------------------------------------- date rules
@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [
        (date(2023, 7, 10), date(2026, 7, 9)),
        (date(2024, 2, 29), date(2027, 2, 28)),
        (date(2024, 3, 1), date(2027, 2, 28)),
        (date(2023, 1, 1), date(2025, 12, 31)),
        (date(2025, 12, 31), date(2028, 12, 30)),
        (date(2028, 2, 29), date(2031, 2, 28)),
    ],
    ids=lambda value: value.isoformat(),
)
def test_validity_runs_three_years_start_inclusive(valid_from: date, valid_until: date) -> None:
    """valid_until is the day before the 3rd anniversary; 29 February's anniversary is 1 March."""
    assert deadlines.validity_until(valid_from, 3) == valid_until


@pytest.mark.parametrize(
    ("old_until", "new_from", "new_until"),
    [
        (date(2026, 7, 9), date(2026, 7, 10), date(2029, 7, 9)),
        (date(2027, 2, 28), date(2027, 3, 1), date(2030, 2, 28)),
        (date(2027, 2, 27), date(2027, 2, 28), date(2030, 2, 27)),
        (date(2027, 12, 31), date(2028, 1, 1), date(2030, 12, 31)),
    ],
    ids=["2026-07-09", "2027-02-28", "2027-02-27", "2027-12-31"],
)
def test_renewal_is_contiguous(old_until: date, new_from: date, new_until: date,
                               sim: Engine, clock: FakeClock) -> None:
    """Renewal starts the day after the old validity ends and runs three more years."""
    [case_id] = insert_cases(sim, 1, state="under_review",
                             validity=(deadlines.anniversary(old_until, -3), old_until))
    city_opinion(sim, [case_id])
    clock.set(f"{old_until.isoformat()}T10:00")
    view = sim.fire(case_id, "renew", PROVINCE)
    assert (view.valid_from, view.valid_until) == (new_from, new_until)


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "years"),
    [
        (date(2023, 7, 10), date(2026, 7, 9), [2023, 2024, 2025, 2026]),
        (date(2024, 1, 1), date(2026, 12, 31), [2024, 2025, 2026]),
        (date(2024, 12, 31), date(2027, 12, 30), [2024, 2025, 2026, 2027]),
    ],
    ids=["mid-year", "whole-years", "new-year's-eve"],
)
def test_a_report_is_owed_for_every_calendar_year_touched(valid_from: date, valid_until: date,
                                                          years: list[int]) -> None:
    """Every calendar year on any day of which the cluster was valid owes a report."""
    assert list(deadlines.report_years(valid_from, valid_until)) == years


@pytest.mark.parametrize(
    ("year", "month_day", "roll", "due"),
    [
        (2023, "03-31", False, date(2024, 3, 31)),   # a Sunday, no roll
        (2023, "03-31", True, date(2024, 4, 1)),     # rolls to Monday
        (2024, "03-31", True, date(2025, 3, 31)),    # a Monday already
        (2024, "10-01", True, date(2025, 10, 9)),    # over 国庆 and 中秋 2025
        (2026, "03-31", True, date(2027, 3, 31)),    # needs 2027: loaded from the fixture
    ],
    ids=["2024-03-31-sunday-kept", "2024-03-31-sunday-rolled", "2025-03-31-monday",
         "2025-10-01-holiday-rolled", "2027-03-31-imported-year"],
)
def test_report_due_day_and_the_roll_switch(year: int, month_day: str, roll: bool,
                                            due: date) -> None:
    """The report for Y is due on the policy's day of Y+1; rolled to a working day only when
    the policy's switch is on."""
    assert deadlines.report_due_day(year, month_day, roll, calendar_with_2027()) == due


def test_report_due_roll_into_a_year_without_data_is_a_calendar_gap() -> None:
    """Rolling the 2026 report's due day needs 2027 working days: without data it refuses."""
    with pytest.raises(CalendarGap, match="2027") as caught:
        deadlines.report_due_day(2026, "03-31", True, WorkCalendar())
    assert caught.value.year == 2027
    assert deadlines.report_due_day(2026, "03-31", False, WorkCalendar()) == date(2027, 3, 31)


@pytest.mark.parametrize(
    ("valid_until", "months", "opens"),
    [
        (date(2026, 7, 9), 6, date(2026, 1, 9)),
        (date(2026, 8, 31), 6, date(2026, 2, 28)),
        (date(2024, 8, 31), 6, date(2024, 2, 29)),
        (date(2027, 2, 28), 6, date(2026, 8, 28)),
        (date(2027, 2, 28), 0, date(2027, 2, 28)),
    ],
    ids=["2026-07-09", "2026-08-31-clamped", "2024-08-31-leap", "2027-02-28", "no-window"],
)
def test_review_window_opens_months_before_validity_ends(valid_until: date, months: int,
                                                         opens: date) -> None:
    """The 复核 window opens the policy's number of calendar months before valid_until
    (clamped to the month's last day)."""
    assert deadlines.review_window_opens(valid_until, months) == opens


# ---------------------------------------------------------------------------- publicity end
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2024, 9, 27), date(2024, 10, 11)),
        (date(2025, 9, 26), date(2025, 10, 11)),
        (date(2025, 1, 24), date(2025, 2, 8)),
        (date(2026, 2, 13), date(2026, 2, 28)),
        (date(2026, 4, 30), date(2026, 5, 12)),
        (date(2026, 1, 1), date(2026, 1, 12)),
        (date(2023, 12, 29), date(2024, 1, 9)),
        (date(2024, 2, 8), date(2024, 2, 22)),
    ],
    ids=lambda value: value.isoformat(),
)
def test_publicize_schedules_the_end_at_24h_of_the_seventh_working_day(
    start: date, end: date, sim: Engine, clock: FakeClock
) -> None:
    """The publicity deadline row is written with the act, due at 24:00 of the 7th working
    day counted from the start (DESIGN §3's vectors)."""
    clock.set(f"{start.isoformat()}T10:00")
    if start.year > 2025:
        keep_in_force(sim)
    [case_id] = insert_cases(sim, 1, state="expert_reviewed", round_year=start.year)
    view = sim.fire(case_id, "publicize", PROVINCE, start=start)
    assert view.publicity_end == end
    assert pending_due(sim, case_id, deadlines.PUBLICITY_END) == [end_of_day(end)]


def test_publicity_end_closes_the_publicity_at_24h_of_the_last_working_day(
    engine: Engine, clock: FakeClock
) -> None:
    """At 23:59:59.999999 of the last day nothing fires; at 24:00 the system closes the
    publicity (公示期满) and the deadline is marked fired with its result. The timer never
    recognizes: the case waits for the 名单通告, however often and however late it sweeps."""
    [case_id] = publicized(engine, end=date(2024, 10, 11))
    before, at_due = at_edges(clock, engine, end_of_day(date(2024, 10, 11)))
    assert before == []
    assert outcomes(at_due) == [(deadlines.PUBLICITY_END, case_id, "publicity_closed")]
    view = engine.get(case_id)
    assert (view.state, view.valid_from, view.valid_until) == ("publicity_closed", None, None)
    last = engine.history(case_id)[-1]
    assert (last["trigger"], last["actor"], last["payload"]) == (
        "close_publicity", "system", {"publicity_end": "2024-10-11"})
    [row] = rows(engine, case_id, kind=deadlines.PUBLICITY_END)
    assert (row.status, row.fired_at) == ("fired", clock.now())
    assert row.result.startswith("publicity closed by system")
    clock.set("2025-10-12T00:00")
    assert engine.run_due() == []
    assert engine.get(case_id).state == "publicity_closed"
    assert "recognize" not in [row["trigger"] for row in engine.history(case_id)]


def test_a_case_held_by_an_objection_is_recognized_by_a_supplementary_notice(
    engine: Engine, clock: FakeClock
) -> None:
    """The 名单通告 recognizes the cases whose publicity has closed; one held by an open
    objection stays in publicity. Once the objection is dismissed, the sweep closes its
    publicity, and the next `round recognize` is a supplementary 通告 with a 文号 of its own
    (the first one's is refused) and its own validity."""
    [held, free] = publicized(engine, 2, end=date(2024, 10, 11))
    clock.set("2024-10-09T10:00")
    view = engine.fire(held, "object", "public@赵六", name="赵六", contact="13800000000",
                       evidence="产值数据存疑")
    objection = view.objections[0]["id"]
    clock.set("2024-10-14T10:00")
    result = engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号",
                                    valid_from="2024-11-01")
    assert (result.recognized, result.publicity_closed) == ([free], [free])
    assert list(result.held) == [str(held)] and "objection" in result.held[str(held)]
    assert (result.supplementary, result.valid_from, result.valid_until) == (
        False, "2024-11-01", "2027-10-31")
    clock.set("2024-10-21T10:00")
    engine.fire(held, "resolve", PROVINCE, objection=objection, when="dismiss", reason="不成立")
    assert outcomes(engine.run_due()) == [(deadlines.PUBLICITY_END, held, "publicity_closed")]
    with pytest.raises(TransitionRefused, match="supplementary"):
        engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号")
    assert engine.get(held).state == "publicity_closed"
    result = engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕101号")
    assert (result.recognized, result.supplementary, result.doc_date) == (
        [held], True, "2024-10-21")
    assert (engine.get(held).valid_from, engine.get(held).valid_until) == (
        date(2024, 10, 21), date(2027, 10, 20))
    assert (engine.get(free).valid_from, engine.get(free).valid_until) == (
        date(2024, 11, 1), date(2027, 10, 31))


def test_open_objection_holds_the_close_until_the_province_dismisses_it(
    engine: Engine, clock: FakeClock
) -> None:
    """An open objection at 24:00 holds the close of publicity: the deadline closes as held,
    later sweeps leave it alone; dismissing the last open objection re-arms it, and the next
    sweep closes the publicity."""
    [case_id] = publicized(engine, end=date(2024, 10, 11))
    clock.set("2024-10-09T10:00")
    first = engine.fire(case_id, "object", "public@赵六", name="赵六", contact="138",
                        evidence="e1").objections[0]["id"]
    second = engine.fire(case_id, "object", "public@钱七", name="钱七", contact="139",
                         evidence="e2").objections[1]["id"]
    clock.set(end_of_day(date(2024, 10, 11)))
    assert outcomes(engine.run_due()) == [(deadlines.PUBLICITY_END, case_id, "held")]
    clock.set("2024-10-15T09:00")
    assert engine.run_due() == []
    assert engine.get(case_id).state == "publicized"
    engine.fire(case_id, "resolve", PROVINCE, objection=first, when="dismiss", reason="不成立")
    assert engine.pending() == []  # one objection still open: nothing re-armed
    clock.set("2024-10-18T15:00")
    view = engine.fire(case_id, "resolve", PROVINCE, objection=second, when="dismiss",
                       reason="不成立")
    assert view.deadlines[-1]["due_at"] == clock.now()  # due at once
    assert engine.history(case_id)[-1]["payload"]["close_publicity_due"]
    assert [row.action for row in engine.pending()] == ["close_publicity"]
    assert outcomes(engine.run_due()) == [(deadlines.PUBLICITY_END, case_id,
                                           "publicity_closed")]
    assert engine.get(case_id).state == "publicity_closed"
    held, rearmed = rows(engine, case_id, kind=deadlines.PUBLICITY_END)
    assert held.result.startswith("held: objection(s)") and rearmed.status == "fired"


def test_upheld_objection_rejects_and_cancels_the_publicity_deadline(
    engine: Engine, clock: FakeClock
) -> None:
    """Upholding an objection rejects the case; its pending deadline is cancelled, so no
    sweep ever touches it."""
    [case_id] = publicized(engine)
    clock.set("2024-10-09T10:00")
    objection = engine.fire(case_id, "object", "public@赵六", name="赵六", contact="138",
                            evidence="e").objections[0]["id"]
    engine.fire(case_id, "resolve", PROVINCE, objection=objection, when="uphold",
                reason="异议成立")
    [row] = rows(engine, case_id)
    assert (row.status, row.result) == ("cancelled", "case rejected")
    clock.set("2024-10-20T00:00")
    assert engine.run_due() == []


def test_objection_dismissed_inside_the_window_needs_no_rearming(
    engine: Engine, clock: FakeClock
) -> None:
    """Dismissed before the window closes, an objection leaves the original deadline to fire
    on time; no second deadline is written."""
    [case_id] = publicized(engine)
    clock.set("2024-10-09T10:00")
    objection = engine.fire(case_id, "object", "public@赵六", name="赵六", contact="138",
                            evidence="e").objections[0]["id"]
    engine.fire(case_id, "resolve", PROVINCE, objection=objection, when="dismiss", reason="否")
    assert len(rows(engine, case_id)) == 1
    clock.set(end_of_day(date(2024, 10, 11)))
    assert outcomes(engine.run_due()) == [(deadlines.PUBLICITY_END, case_id,
                                           "publicity_closed")]


# ---------------------------------------------------------------------------- annual reports
def test_recognition_schedules_reports_reminders_and_expiry(engine: Engine,
                                                            clock: FakeClock) -> None:
    """Recognized 2023-07-10: valid to 2026-07-09; reports for 2023–2026 due 31 March next year
    at 24:00, reminders 30 and 7 days before, expiry reminder 90 days before the end, and the
    validity end at 24:00 of 2026-07-09 — all written by the recognizing act."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    assert engine.get(case_id).valid_until == date(2026, 7, 9)
    got = {(row.kind, row.key.split(":", 2)[2]): row.due_at for row in rows(engine, case_id)
           if row.status == "pending"}
    expected: dict[tuple[str, str], datetime] = {
        (deadlines.VALIDITY_END, "validity_end:2026-07-09"): end_of_day(date(2026, 7, 9)),
        (deadlines.EXPIRY_REMINDER, "expiry_reminder:2026-07-09"): start_of_day(
            date(2026, 4, 10)),
    }
    for year in (2023, 2024, 2025, 2026):
        due = date(year + 1, 3, 31)
        expected[(deadlines.REPORT_DUE, f"report:{year}")] = end_of_day(due)
        expected[(deadlines.REPORT_REMINDER, f"report:{year}:reminder-30d")] = start_of_day(
            due - timedelta(days=30))
        expected[(deadlines.REPORT_REMINDER, f"report:{year}:reminder-7d")] = start_of_day(
            due - timedelta(days=7))
    assert got == expected


def test_missed_report_is_urged_at_24h_of_its_working_day(
    engine: Engine, clock: FakeClock
) -> None:
    """No report for 2023: 31 March 2024 is a Sunday, so the deadline rolls to 24:00 of
    Monday 1 April; then the system urges (催报, a grace deadline), never revokes."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    clock.set("2024-03-30T09:00")
    engine.run_due()  # the reminders
    before, at_sunday = at_edges(clock, engine, end_of_day(date(2024, 3, 31)))
    assert before == []
    assert outcomes(at_sunday) == [(deadlines.REPORT_DUE, case_id, "rolled")]
    before, at_due = at_edges(clock, engine, end_of_day(date(2024, 4, 1)))
    assert before == []
    assert outcomes(at_due) == [(deadlines.REPORT_DUE, case_id, "overdue")]
    last = engine.history(case_id)[-1]
    assert (last["trigger"], last["actor"], last["to_state"]) == (
        "report_overdue", "system", "recognized")
    assert last["payload"]["year"] == 2023 and "2023" in last["reason"]
    assert pending_due(engine, case_id, deadlines.REPORT_GRACE) == [
        end_of_day(date(2024, 4, 17))]


def test_missed_report_is_flagged_when_the_policy_says_flag(
    engine: Engine, clock: FakeClock, variant
) -> None:
    """Under a policy whose missed_report_action is "flag", the timer fires the flag trigger
    instead: an audit record under 18.3, the case stays recognized."""
    variant("test-flag", missed_report_action="flag")
    clock.set("2023-07-10T09:00")
    open_round(engine, 2023, policy="test-flag")
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    assert engine.get(case_id).policy == "test-flag"
    clock.set(end_of_day(date(2024, 4, 1)))  # 31 March 2024 is a Sunday: rolled
    handled = engine.run_due()
    assert (deadlines.REPORT_DUE, case_id, "flagged") in outcomes(handled)
    assert engine.get(case_id).state == "recognized"
    last = engine.history(case_id)[-1]
    assert (last["trigger"], last["actor"]) == ("flag", "system")
    assert "2023" in last["reason"]


def test_filing_closes_that_years_deadline_and_its_reminders(engine: Engine,
                                                             clock: FakeClock) -> None:
    """A report filed for 2023 closes the 2023 deadline and reminders (done); at 24:00 of
    31 March nothing happens; the 2024 deadline stays pending."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    clock.set("2024-02-20T10:00")
    engine.fire(case_id, "report", COUNTY, year=2023, data={"output": "45.5"})
    statuses = {row.key.split(":", 2)[2]: row.status for row in rows(engine, case_id)}
    assert statuses["report:2023"] == "done"
    assert statuses["report:2023:reminder-30d"] == "done"
    assert statuses["report:2023:reminder-7d"] == "done"
    assert statuses["report:2024"] == "pending"
    clock.set(end_of_day(date(2024, 3, 31)))
    assert engine.run_due() == []
    assert engine.get(case_id).state == "recognized"


def test_reminders_fire_at_the_policy_offsets_as_notices(engine: Engine,
                                                         clock: FakeClock) -> None:
    """The 30- and 7-day reminders fire at 00:00 of their day as audit records (trigger
    report_reminder, no state change) that subscribers receive as events."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    events = []
    engine.subscribe(events.append)
    before, at_due = at_edges(clock, engine, start_of_day(date(2024, 3, 1)))
    assert before == []
    assert outcomes(at_due) == [(deadlines.REPORT_REMINDER, case_id, "reminded")]
    assert [(e.trigger, e.actor, e.from_state, e.to_state, e.payload["year"]) for e in events] \
        == [("report_reminder", "system", "recognized", "recognized", 2023)]
    clock.set(start_of_day(date(2024, 3, 24)))
    assert outcomes(engine.run_due()) == [(deadlines.REPORT_REMINDER, case_id, "reminded")]


def test_a_reminder_found_after_its_deadline_is_too_late(engine: Engine,
                                                         clock: FakeClock) -> None:
    """After downtime, a reminder whose report is already overdue is closed as too late; the
    missed report (rolled from Sunday to Monday) is still urged."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    clock.set("2024-04-03T09:00")
    got = engine.run_due()
    assert outcomes(got) == [
        (deadlines.REPORT_REMINDER, case_id, "too_late"),
        (deadlines.REPORT_REMINDER, case_id, "too_late"),
        (deadlines.REPORT_DUE, case_id, "rolled"),
        (deadlines.REPORT_DUE, case_id, "overdue"),
    ]
    assert "too late" in got[0].result


def test_roll_to_workday_switch_off_keeps_the_sunday_deadline(
    engine: Engine, clock: FakeClock, variant
) -> None:
    """With the policy's roll switch off, the 2023 report is overdue at 24:00 of Sunday 31
    March 2024 itself; the rows are stored at the nominal day either way."""
    variant("test-no-roll", report_roll_to_workday=False)
    clock.set("2023-07-10T09:00")
    open_round(engine, 2023, policy="test-no-roll")
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    dues = {row.key.split(":")[-1]: row.due_at
            for row in rows(engine, case_id, kind=deadlines.REPORT_DUE)}
    assert dues == {"2023": end_of_day(date(2024, 3, 31)), "2024": end_of_day(date(2025, 3, 31)),
                    "2025": end_of_day(date(2026, 3, 31)), "2026": end_of_day(date(2027, 3, 31))}
    before, at_due = at_edges(clock, engine, end_of_day(date(2024, 3, 31)))
    assert (deadlines.REPORT_DUE, case_id, "overdue") not in outcomes(before)
    assert (deadlines.REPORT_DUE, case_id, "overdue") in outcomes(at_due)


# ---------------------------------------------------------------------------- validity, 复核
@pytest.mark.parametrize(
    ("today", "allowed"),
    [
        ("2026-06-15T09:00", True),
        ("2026-07-31T23:59", True),
        ("2026-08-01T00:00", False),
    ],
    ids=["round-opened", "last-day", "after-deadline"],
)
def test_apply_review_only_while_the_review_round_takes_applications(
        today: str, allowed: bool, sim: Engine, clock: FakeClock) -> None:
    """复核 is applied for in a 复核 round covering the case, until 24:00 of its application
    deadline (2026-07-31), after the validity ended too."""
    [case_id] = insert_cases(sim, 1, state="recognized",
                             validity=(date(2023, 7, 10), date(2026, 7, 9)))
    clock.set("2026-06-15T09:00")
    sim.open_round(2026, PROVINCE, kind="review", apply_by="2026-07-31",
                   check_by="2026-08-14")
    clock.set(today)
    data = {**json.loads((DATA / "review-2026.json").read_text(encoding="utf-8")),
            "goal_results": []}
    if allowed:
        assert sim.fire(case_id, "apply_review", COUNTY, data=data).state == "under_review"
    else:
        with pytest.raises(TransitionRefused, match="复核"):
            sim.fire(case_id, "apply_review", COUNTY, data=data)


@pytest.mark.parametrize("state", ["recognized", "renewed"])
def test_validity_end_expires(state: str, engine: Engine, clock: FakeClock) -> None:
    """At 24:00 of valid_until a case still recognized or renewed (no 复核 applied for)
    expires (有效期届满) by the system — nothing is revoked; a microsecond earlier nothing
    happens."""
    [case_id] = insert_cases(
        engine, 1, state=state, validity=(date(2023, 7, 10), date(2026, 7, 9)),
        deadline=(deadlines.VALIDITY_END, end_of_day(date(2026, 7, 9))))
    before, at_due = at_edges(clock, engine, end_of_day(date(2026, 7, 9)))
    assert before == []
    assert outcomes(at_due) == [(deadlines.VALIDITY_END, case_id, "expired")]
    last = engine.history(case_id)[-1]
    assert (last["actor"], last["trigger"], last["to_state"]) == ("system", "expire",
                                                                  "expired")


def test_under_review_case_waits_then_renewal_moves_the_deadlines(
    engine: Engine, clock: FakeClock
) -> None:
    """A case under 复核 when its validity ends does not expire: the deadline closes as held.
    Renewal then sets the next period contiguously and moves the validity deadlines to it."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    for year in (2023, 2024, 2025):
        clock.set(f"{year + 1}-03-01T08:00")
        engine.run_due()
        engine.fire(case_id, "report", COUNTY, year=year, data={})
    clock.set("2026-06-01T10:00")
    assert outcomes(engine.run_due()) == [(deadlines.EXPIRY_REMINDER, case_id, "reminded")]
    engine.open_round(2026, PROVINCE, kind="review", apply_by="2026-07-31",
                      check_by="2026-08-14")
    data = {**json.loads((DATA / "review-2026.json").read_text(encoding="utf-8")),
            "goal_results": []}
    engine.fire(case_id, "apply_review", COUNTY, data=data)
    engine.fire(case_id, "review_check", "city:佛山市", passed=True, opinion="符合复核条件")
    clock.set(end_of_day(date(2026, 7, 9)))
    got = engine.run_due()
    assert outcomes(got) == [(deadlines.VALIDITY_END, case_id, "held")]
    assert engine.get(case_id).state == "under_review"
    clock.set("2026-07-20T10:00")
    view = engine.fire(case_id, "renew", PROVINCE)
    assert (view.valid_from, view.valid_until) == (date(2026, 7, 10), date(2029, 7, 9))
    assert pending_due(engine, case_id, deadlines.VALIDITY_END) == [end_of_day(date(2029, 7, 9))]
    assert pending_due(engine, case_id, deadlines.EXPIRY_REMINDER) == [
        start_of_day(date(2029, 4, 10))]
    reports = [row.key.split(":")[-1] for row in rows(engine, case_id, kind=deadlines.REPORT_DUE)]
    assert reports == ["2023", "2024", "2025", "2026", "2027", "2028", "2029"]


def test_renewal_before_the_end_cancels_the_old_validity_deadlines(
    engine: Engine, clock: FakeClock
) -> None:
    """Renewed before valid_until, the old validity end and expiry reminder are cancelled;
    at the old end nothing fires."""
    [case_id] = insert_cases(
        engine, 1, state="under_review", validity=(date(2023, 7, 10), date(2026, 7, 9)),
        deadline=(deadlines.VALIDITY_END, end_of_day(date(2026, 7, 9))))
    city_opinion(engine, [case_id])
    clock.set("2026-05-01T10:00")
    engine.fire(case_id, "renew", PROVINCE)
    [old] = [row for row in rows(engine, case_id, kind=deadlines.VALIDITY_END)
             if row.key.endswith("2026-07-09")]
    assert old.status == "cancelled"
    clock.set(end_of_day(date(2026, 7, 9)))
    assert [item for item in engine.run_due() if item.kind == deadlines.VALIDITY_END] == []
    assert engine.get(case_id).state == "renewed"


def test_revocation_cancels_every_pending_deadline(engine: Engine, clock: FakeClock) -> None:
    """A revoked case owes nothing more: its pending deadlines are cancelled in the act."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    revoke_now(engine, case_id, "18.2", "申报材料弄虚作假")
    assert {row.status for row in rows(engine, case_id)} == {"cancelled"}
    clock.set("2030-01-01T00:00")
    assert engine.run_due() == []


def test_expiry_reminder_fires_90_days_before_the_end(engine: Engine, clock: FakeClock) -> None:
    """The expiry reminder fires at 00:00 of valid_until − 90 days as a notice record."""
    [case_id] = insert_cases(
        engine, 1, state="recognized", validity=(date(2023, 7, 10), date(2026, 7, 9)),
        deadline=(deadlines.EXPIRY_REMINDER, start_of_day(date(2026, 4, 10))))
    before, at_due = at_edges(clock, engine, start_of_day(date(2026, 4, 10)))
    assert before == []
    assert outcomes(at_due) == [(deadlines.EXPIRY_REMINDER, case_id, "reminded")]
    last = engine.history(case_id)[-1]
    assert (last["trigger"], last["payload"]["valid_until"]) == ("expiry_reminder", "2026-07-09")


# ---------------------------------------------------------------------------- not applicable
@pytest.mark.parametrize(
    ("state", "kind", "why"),
    [
        ("recognized", deadlines.PUBLICITY_END, "no longer in publicity"),
        ("drafted", deadlines.VALIDITY_END, "case is drafted"),
        ("under_review", deadlines.EXPIRY_REMINDER, "case is under_review"),
        ("publicized", deadlines.REPORT_DUE, "no annual report is owed"),
        ("withdrawn", deadlines.REPORT_REMINDER, "no annual report is owed"),
    ],
    ids=["publicity_end-on-recognized", "validity_end-on-drafted",
         "expiry_reminder-on-under_review", "report_due-on-publicized",
         "report_reminder-on-withdrawn"],
)
def test_deadline_on_a_case_where_it_no_longer_applies_is_closed(
    state: str, kind: str, why: str, sim: Engine, clock: FakeClock
) -> None:
    """A due deadline whose case is in a state where it does not apply is closed once with a
    result saying so: no transition, no audit row, no error, and never picked up again."""
    due = end_of_day(date(2025, 3, 31))
    [case_id] = insert_cases(sim, 1, state=state, deadline=(kind, due),
                             validity=(date(2023, 7, 10), date(2026, 7, 9)))
    history = len(sim.history(case_id))
    clock.set(due + timedelta(days=1))
    got = sim.run_due()
    assert outcomes(got) == [(kind, case_id, "not_applicable")]
    assert why in got[0].result
    [row] = rows(sim, case_id)
    assert row.status == "fired" and row.result.startswith("not applicable")
    assert len(sim.history(case_id)) == history
    assert sim.get(case_id).state == state
    assert sim.run_due() == []


def test_round_deadlines_close_applications_and_recommendations(engine: Engine,
                                                                clock: FakeClock) -> None:
    """The round's application and recommendation deadlines fire at 24:00 of their days as
    round records (no case changes)."""
    clock.set("2025-03-01T09:00")
    engine.open_round(2025, PROVINCE, apply_by="2025-05-30", recommend_by="2025-06-30")
    before, at_due = at_edges(clock, engine, end_of_day(date(2025, 5, 30)))
    assert before == []
    assert [(item.kind, item.round_year, item.outcome) for item in at_due] == [
        (deadlines.ROUND_APPLY_CLOSE, 2025, "closed")]
    clock.set(end_of_day(date(2025, 6, 30)))
    assert [item.kind for item in engine.run_due()] == [deadlines.ROUND_RECOMMEND_CLOSE]
    triggers = [row.trigger for row in audit_rows(engine) if row.round_year == 2025]
    assert triggers == ["open_round", "round_apply_close", "round_recommend_close"]


# ---------------------------------------------------------------------------- calendar gaps
def test_publicizing_into_a_year_without_calendar_data_is_refused(
    engine: Engine, clock: FakeClock
) -> None:
    """Publicity starting 2026-12-24 needs working days of 2027: without data the act is
    refused with the CalendarGap message, nothing changes; with the year imported it runs to
    2027-01-06 by that calendar."""
    clock.set("2026-12-24T10:00")
    keep_in_force(engine)
    [case_id] = insert_cases(engine, 1, state="expert_reviewed", round_year=2026)
    with pytest.raises(CalendarGap, match="no working-day calendar data for 2027") as caught:
        engine.fire(case_id, "publicize", PROVINCE)
    assert "gdcluster calendar import" in caught.value.message
    assert engine.get(case_id).state == "expert_reviewed" and rows(engine, case_id) == []
    import_2027(engine)
    clock.set("2026-12-28T10:00")
    view = engine.fire(case_id, "publicize", PROVINCE)
    assert view.publicity_end == date(2027, 1, 6)


def test_a_report_deadline_waits_loudly_for_a_missing_calendar_year(
    engine: Engine, clock: FakeClock
) -> None:
    """Report deadlines are stored at their nominal day, so recognizing needs no calendar of
    later years; whether the day rolls is decided when it comes. A deadline falling in a year
    without calendar data waits (pending, the gap named), and once the year is imported the
    next sweep decides it: 31 March 2027 is a working day, so the report is overdue (催报)."""
    [case_id] = recognized(engine, clock, date(2024, 7, 10))
    dues = {row.key.split(":")[-1]: row.due_at
            for row in rows(engine, case_id, kind=deadlines.REPORT_DUE)}
    assert dues["2026"] == end_of_day(date(2027, 3, 31))
    for year in (2024, 2025):
        clock.set(f"{year + 1}-03-02T09:00")
        engine.run_due()
        engine.fire(case_id, "report", COUNTY, year=year, data={})
    clock.set(end_of_day(date(2027, 3, 31)))
    waiting = engine.run_due()
    assert (deadlines.REPORT_DUE, case_id, "waiting") in outcomes(waiting)
    assert "2027" in next(row.result for row in waiting if row.kind == deadlines.REPORT_DUE)
    assert engine.get(case_id).state == "recognized"
    import_2027(engine)
    assert (deadlines.REPORT_DUE, case_id, "overdue") in outcomes(engine.run_due())


def test_deadline_refused_by_the_workflow_is_closed_not_retried(
    engine: Engine, clock: FakeClock
) -> None:
    """A transition the workflow refuses (here: the publicity row says the window is over but
    the case's period was extended) is closed as refused and recorded, never looped on."""
    [case_id] = publicized(engine, end=date(2024, 10, 11))
    with engine.store.write() as session:
        session.execute(update(Case).where(Case.id == case_id)
                        .values(publicity_end=date(2024, 10, 18)))
    clock.set("2024-10-12T00:00")
    got = engine.run_due()
    assert outcomes(got) == [(deadlines.PUBLICITY_END, case_id, "refused")]
    assert "publicity period runs until 24:00 of 2024-10-18" in got[0].result
    [row] = rows(engine, case_id)
    assert row.status == "fired"
    assert engine.refusals(case_id=case_id)[-1]["actor"] == "system"
    assert engine.run_due() == []


def test_pending_is_a_dry_view(engine: Engine, clock: FakeClock) -> None:
    """`pending` lists what is due (by now, or by 24:00 of a date) in due order with the
    action a sweep would take, and writes nothing."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    audit_before = len(audit_rows(engine))
    assert engine.pending() == []
    listed = engine.pending(date(2024, 3, 31))
    assert [(item.kind, item.action) for item in listed] == [
        (deadlines.REPORT_REMINDER, "remind"), (deadlines.REPORT_REMINDER, "remind"),
        (deadlines.REPORT_DUE, "roll to 24:00 of 2024-04-01")]
    assert all(item.case_id == case_id for item in listed)
    assert engine.pending("2024-03-31T23:59") == listed[:2]
    assert len(audit_rows(engine)) == audit_before
    assert {row.status for row in rows(engine, case_id)} == {"pending"}
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(Deadline)
                              .where(Deadline.fired_at.is_not(None),
                                     Deadline.kind != deadlines.PUBLICITY_END)) == 0


def test_deadline_rows_commit_or_vanish_with_their_act(engine: Engine, clock: FakeClock) -> None:
    """The deadlines an act writes or settles are in the act's transaction: when the act fails
    after its effects ran (a transaction hook raises), the publicity deadline it settled is
    still pending — by hand and from a sweep, whose claim rolls back too, so the next sweep
    fires the deadline."""
    [by_hand, by_timer] = publicized(engine, 2, end=date(2024, 10, 11))

    def fail(_session, event) -> None:
        if event.trigger == "close_publicity":
            raise RuntimeError("notice store unavailable")

    remove = engine.on_transaction(fail)
    clock.set("2024-10-12T09:00")
    with pytest.raises(RuntimeError):
        engine.fire(by_hand, "close_publicity", PROVINCE)
    assert [(row.kind, row.status) for row in rows(engine, by_hand)] == [
        (deadlines.PUBLICITY_END, "pending")]
    got = engine.run_due()
    assert {(item.case_id, item.outcome) for item in got} == {
        (by_hand, "error"), (by_timer, "error")}
    assert [(row.kind, row.status) for row in rows(engine, by_timer)] == [
        (deadlines.PUBLICITY_END, "pending")]
    remove()
    assert {item.outcome for item in engine.run_due()} == {"publicity_closed"}
    assert {engine.get(by_hand).state, engine.get(by_timer).state} == {"publicity_closed"}
