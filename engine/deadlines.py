"""Deadlines: the legal time rules (DESIGN §3) and their rows (DESIGN §9).

Rows are written in the same transaction as the act that creates, moves or cancels them. The
scheduler only wakes up to fire rows that are due; it never holds state of its own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update

from gdcluster.engine.case_tables import DEADLINE, OBJECTION
from gdcluster.engine.clock import end_of_day, start_of_day
from gdcluster.engine.store import connection_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.states.policy import Periods

# kinds
PUBLICITY_END = "publicity_end"
CORRECTION_DUE = "correction_due"
CORRECTION_REMINDER = "correction_reminder"
REPORT_DUE = "report_due"
REPORT_REMINDER = "report_reminder"
VALIDITY_END = "validity_end"
EXPIRY_REMINDER = "expiry_reminder"
ROUND_APPLY_CLOSE = "round_apply_close"
ROUND_RECOMMEND_CLOSE = "round_recommend_close"
#: 复核 rounds: each covered case's application deadline, and the round's 初审 deadline.
REVIEW_APPLY_DUE = "review_apply_due"
ROUND_REVIEW_CHECK_CLOSE = "round_review_check_close"
#: 陈述申辩 ends (24:00 of the hearing deadline of a 拟撤销告知).
HEARING_END = "hearing_end"
#: 催报 grace ends (24:00 of the grace's last working day) with the report still missing.
REPORT_GRACE = "report_grace"

KINDS = (
    PUBLICITY_END,
    CORRECTION_DUE,
    CORRECTION_REMINDER,
    REPORT_DUE,
    REPORT_REMINDER,
    VALIDITY_END,
    EXPIRY_REMINDER,
    ROUND_APPLY_CLOSE,
    ROUND_RECOMMEND_CLOSE,
    REVIEW_APPLY_DUE,
    ROUND_REVIEW_CHECK_CLOSE,
    HEARING_END,
    REPORT_GRACE,
)


# ---------------------------------------------------------------------------- date rules
def anniversary(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February has its anniversary on 1 March."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return date(day.year + years, 3, 1)


def validity_until(valid_from: date, years: int) -> date:
    """Start inclusive: 2023-07-10 → 2026-07-09; 2024-02-29 → 2027-02-28."""
    return anniversary(valid_from, years) - timedelta(days=1)


def report_years(valid_from: date, valid_until: date) -> range:
    """Every calendar year on any day of which the cluster was valid."""
    return range(valid_from.year, valid_until.year + 1)


def report_due_day(year: int, month_day: str, roll_to_workday: bool,
                   calendar: WorkCalendar) -> date:
    """The report for ``year`` is due on ``month_day`` of the next year (default 03-31)."""
    month, day = (int(part) for part in month_day.split("-"))
    due = date(year + 1, month, day)
    if roll_to_workday:
        due = calendar.next_workday(due, inclusive=True)
    return due


def review_window_opens(valid_until: date, months: int) -> date:
    """``months`` calendar months before ``valid_until`` (clamped to the month's last day)."""
    month_index = valid_until.year * 12 + (valid_until.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    for day in range(valid_until.day, 0, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- rows
def case_key(case_id: int, *parts: object) -> str:
    return ":".join(["case", str(case_id), *map(str, parts)])


def key_year(key: str) -> int | None:
    """The report year in ``case:12:report:2024[:reminder-30d]``."""
    parts = key.split(":")
    if len(parts) >= 4 and parts[2] == "report" and parts[3].isdigit():
        return int(parts[3])
    return None


def base_key(key: str) -> str:
    """The deadline a key names, without the ``:rearmed-N`` a reinstatement adds to the key of
    a deadline it schedules again (``case:12:validity_end:2027-10-13:rearmed-1``)."""
    head, marker, number = key.rpartition(":rearmed-")
    return head if marker and number.isdigit() else key


def round_key(year: int, *parts: object) -> str:
    return ":".join(["round", str(year), *map(str, parts)])


@cache
def _upsert(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (key) DO UPDATE SET due_at … WHERE status = 'pending'`` for the
    back-end ``dialect``: a new deadline is added, a pending one with the same key is moved, a
    settled one is left alone — one statement instead of a lookup, an ORM object and its
    flush. Built on first use, so that only the back-end in use is loaded."""
    insert = import_module(f"sqlalchemy.dialects.{dialect}").insert
    table = DEADLINE
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.key], set_={"due_at": statement.excluded.due_at},
        where=table.c.status == "pending")


def schedule(
    session: Session,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    case_id: int | None = None,
    round_year: int | None = None,
) -> str:
    """Add a pending deadline, or move the pending one with the same key (one that has fired
    or been settled stays as it is). Returns the key."""
    session.flush()  # a pending ORM row with the same key goes in first, as before
    connection = connection_of(session)
    connection.execute(_upsert(connection.dialect.name), {
        "case_id": case_id, "round_year": round_year, "kind": kind, "key": key,
        "due_at": due_at, "status": "pending", "created_at": now, "fired_at": None,
        "result": None})
    return key


def settle(
    session: Session,
    *,
    now: datetime,
    result: str,
    status: str = "done",
    case_id: int | None = None,
    round_year: int | None = None,
    kinds: tuple[str, ...] | None = None,
    key_prefix: str | None = None,
) -> int:
    """Close pending deadlines (``done`` when satisfied, ``cancelled`` when moot)."""
    shape = (case_id is not None, round_year is not None, kinds is not None)
    statement = _SETTLES.get(shape)
    if statement is None:  # built once per shape, with bind parameters
        table = DEADLINE.c
        statement = update(DEADLINE).where(table.status == "pending")
        if case_id is not None:
            statement = statement.where(table.case_id == bindparam("s_case_id"))
        if round_year is not None:
            statement = statement.where(table.round_year == bindparam("s_round_year"))
        if kinds is not None:
            statement = statement.where(table.kind.in_(bindparam("s_kinds", expanding=True)))
        statement = statement.values(status=bindparam("s_status"),
                                     fired_at=bindparam("s_now"), result=bindparam("s_result"))
        _SETTLES[shape] = statement
    if key_prefix is not None:
        statement = statement.where(DEADLINE.c.key.startswith(key_prefix, autoescape=True))
    session.flush()  # the statement sees what the act changed, as an ORM update would
    outcome = connection_of(session).execute(statement, {
        "s_case_id": case_id, "s_round_year": round_year, "s_kinds": list(kinds or ()),
        "s_status": status, "s_now": now, "s_result": result})
    return int(outcome.rowcount or 0)


_SETTLES: dict[tuple[bool, bool, bool], Any] = {}


def schedule_validity(
    session: Session, *, case_id: int, valid_from: date, valid_until: date, periods: Periods,
    calendar: WorkCalendar, now: datetime,
) -> None:
    """Deadlines that follow from a validity period: expiry, its reminder, annual reports.

    Every date is computed first (a ``CalendarGap`` refuses before anything is written); then
    the rows are added, or moved where a pending one with the same key exists (the report of
    the year a renewal starts in is owed once), with one query for all of them.
    """
    wanted: list[tuple[str, str, datetime]] = [
        (VALIDITY_END, case_key(case_id, VALIDITY_END, valid_until.isoformat()),
         end_of_day(valid_until)),
        (EXPIRY_REMINDER, case_key(case_id, EXPIRY_REMINDER, valid_until.isoformat()),
         start_of_day(valid_until - timedelta(days=int(periods.expiry_reminder_days)))),
    ]
    for year in report_years(valid_from, valid_until):
        # the nominal day: where the policy rolls a deadline on a rest day to the next working
        # day, the timer does so when the day comes (engine/timers.py), with that year's
        # calendar, never guessing years ahead
        due = report_due_day(year, periods.report_due, False, calendar)
        wanted.append((REPORT_DUE, case_key(case_id, "report", year), end_of_day(due)))
        for offset in periods.report_reminder_days:
            wanted.append((REPORT_REMINDER,
                           case_key(case_id, "report", year, f"reminder-{int(offset)}d"),
                           start_of_day(due - timedelta(days=int(offset)))))
    schedule_many(session, wanted, now=now, case_id=case_id)


def schedule_many(session: Session, wanted: list[tuple[str, str, datetime]], *,
                  now: datetime, case_id: int | None = None,
                  round_year: int | None = None) -> None:
    """:func:`schedule` for each ``(kind, key, due_at)`` of ``wanted``, as one multi-row
    ``INSERT … ON CONFLICT (key) DO UPDATE … WHERE status = 'pending'`` (prepared once per
    number of rows): new rows added, pending ones moved, settled ones left as they are."""
    if not wanted:
        return
    session.flush()  # a pending ORM row with one of the keys goes in first, as before
    connection = connection_of(session)
    values: dict[str, Any] = {}
    for index, (kind, key, due_at) in enumerate(wanted):
        values.update({f"case_id_{index}": case_id, f"round_year_{index}": round_year,
                       f"kind_{index}": kind, f"key_{index}": key, f"due_at_{index}": due_at,
                       f"created_at_{index}": now})
    connection.execute(_upsert_rows(connection.dialect.name, len(wanted)), values)


#: The columns :func:`schedule_many` writes (status ``pending``; fired_at and result empty).
_ROW_COLUMNS = ("case_id", "round_year", "kind", "key", "due_at", "created_at")


@cache
def _upsert_rows(dialect: str, count: int) -> Any:
    """:func:`_upsert`'s statement for ``count`` rows at once, with numbered bind parameters."""
    from sqlalchemy import literal

    insert = import_module(f"sqlalchemy.dialects.{dialect}").insert
    table = DEADLINE
    statement = insert(table).values([
        {**{column: bindparam(f"{column}_{index}", type_=table.c[column].type)
            for column in _ROW_COLUMNS},
         "status": literal("pending"), "fired_at": None, "result": None}
        for index in range(count)])
    return statement.on_conflict_do_update(
        index_elements=[table.c.key], set_={"due_at": statement.excluded.due_at},
        where=table.c.status == "pending")


def correction_days(today: date, *, due: date | None, workdays: int, reminder_workdays: int,
                    recommend_by: date | None, calendar: WorkCalendar
                    ) -> tuple[date, bool, date | None]:
    """The 退回补正 deadline of a return made on ``today``, whether it was clamped to the
    round's recommendation deadline, and the day of its reminder (``None``: too close to send
    one).

    ``due`` as given, or ``workdays`` working days counted from the day after ``today`` (民法典
    第二百零一条: the day of the act is not counted); a default past ``recommend_by`` is
    clamped to it (a case returned later could not be recommended in the round anyway). The
    reminder falls ``reminder_workdays`` working days before the deadline, and only after
    ``today``. Checking ``due`` against ``today`` and ``recommend_by`` is the caller's.
    """
    clamped = False
    if due is None:
        due = calendar.add_workdays(today + timedelta(days=1), workdays)
        if recommend_by is not None and due > recommend_by:
            due, clamped = recommend_by, True
    reminder = calendar.workdays_before(due, reminder_workdays) if reminder_workdays else None
    if reminder is not None and reminder <= today:
        reminder = None
    return due, clamped, reminder


def schedule_correction(session: Session, *, case_id: int, due: date, reminder: date | None,
                        now: datetime) -> str:
    """The rows of a 退回补正: the deadline (24:00 of ``due``) and its reminder (00:00 of
    ``reminder``), keyed by the return's number so that a second return has rows of its own.
    Returns the deadline's key."""
    number = 1 + int(session.scalar(
        select(func.count()).select_from(DEADLINE)
        .where(DEADLINE.c.case_id == case_id, DEADLINE.c.kind == CORRECTION_DUE)) or 0)
    key = schedule(session, kind=CORRECTION_DUE, key=case_key(case_id, "correction", number),
                   due_at=end_of_day(due), now=now, case_id=case_id)
    if reminder is not None:
        schedule(session, kind=CORRECTION_REMINDER,
                 key=case_key(case_id, "correction", number, "reminder"),
                 due_at=start_of_day(reminder), now=now, case_id=case_id)
    return key


def rearm_publicity_end(
    session: Session, case: Any, *, objection_id: int, now: datetime
) -> str | None:
    """Re-arm the close of publicity when the last open objection is dismissed after the
    window closed.

    The publicity deadline that fell due while an objection was open was closed as ``held``
    (engine/sweep.py); with no objection left open, ``close_publicity`` is due at once and the
    next sweep fires it. Before the window's end nothing is needed: the original row still
    waits.
    """
    if case.publicity_end is None or now < end_of_day(case.publicity_end):
        return None
    still_open = session.scalar(
        select(func.count()).select_from(OBJECTION)
        .where(OBJECTION.c.case_id == case.id, OBJECTION.c.status == "open")
    )
    already = session.scalar(
        select(DEADLINE.c.id).where(DEADLINE.c.case_id == case.id,
                                    DEADLINE.c.kind == PUBLICITY_END,
                                    DEADLINE.c.status == "pending")
    )
    if still_open or already is not None:
        return None
    return schedule(session, kind=PUBLICITY_END,
                    key=case_key(case.id, PUBLICITY_END, f"objection-{objection_id}"),
                    due_at=now, now=now, case_id=case.id)
