"""The sweep: fire the deadlines that are due, each exactly once (DESIGN §9).

A sweep reads due rows only (``status='pending' AND due_at <= now``, in due order, a batch at a
time, through ``ix_gd_deadline_due``), so its cost follows what is due, not what is stored. Each
deadline is handled in its own write transaction, taking locks in the order every act takes
them — the case row (``SELECT … FOR UPDATE``), then the deadline claim, then the audit head:

    UPDATE gd_deadline SET status='fired' WHERE id=? AND status='pending'   -- must touch 1 row

The claim and the transition it causes commit together or not at all, so several sweeping
processes fire each deadline once, and a crash mid-sweep loses nothing: what was not committed
is still pending for the next sweep.

What a due deadline does depends on the case as it is now (DESIGN §3, §9):

=================  =======================================================================
publicity_end      ``recognize`` by ``system``; held while an objection is open (dismissing
                   the last one after the window re-arms it, see ``deadlines``)
report_due         ``revoke`` 18.3, or ``flag`` when the policy says so
validity_end       ``revoke`` 18.1; an ``under_review`` case waits for the decision
report_reminder,   a reminder: an audit row and an event for the notices, no state change
expiry_reminder
round_*_close      the round's window closes: an audit row and an event
=================  =======================================================================

A deadline on a case no longer in a state where it applies is closed with a result that says
so. A transition the workflow refuses is closed as refused (and recorded with the refusals),
except a missing working-day calendar (``CalendarGap``): that deadline stays pending, its result
names the missing year, and the next sweep tries again — loud, never a guess.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from gdcluster.engine import deadlines
from gdcluster.engine.actors import Actor
from gdcluster.engine.clock import SHANGHAI, as_utc, end_of_day, local_date, parse_instant
from gdcluster.engine.errors import (
    CalendarGap,
    ConcurrentModification,
    EngineError,
    InvalidInput,
    SimulationOnly,
)
from gdcluster.engine.models import AnnualReport, Case, Deadline, Objection, Round
from gdcluster.engine.policies import policy_for

if TYPE_CHECKING:
    from gdcluster.engine.kernel import Kernel, Transaction

log = logging.getLogger("gdcluster.scheduler")

#: Rows read per query; each is then handled in its own transaction.
BATCH = 200

#: States in which a recognized cluster owes annual reports.
VALID_STATES = ("recognized", "renewed", "under_review")

SYSTEM = Actor.system()

# outcomes, as returned by ``run_due`` and logged
RECOGNIZED = "recognized"
REVOKED = "revoked"
FLAGGED = "flagged"
REMINDED = "reminded"
CLOSED = "closed"
HELD = "held"
NOT_APPLICABLE = "not_applicable"
REFUSED = "refused"
WAITING = "waiting"
BUSY = "busy"
ERROR = "error"

_REMINDER_ARTICLES = {
    deadlines.REPORT_REMINDER: "《暂行办法》动态管理：年度报告（提醒）",
    deadlines.EXPIRY_REMINDER: "《暂行办法》动态管理：复核（有效期届满提醒）",
}
_ROUND_ARTICLES = {
    deadlines.ROUND_APPLY_CLOSE: "《暂行办法》认定程序：申报（截止）",
    deadlines.ROUND_RECOMMEND_CLOSE: "《暂行办法》认定程序：推荐（截止）",
}


@dataclass(frozen=True)
class DeadlineOutcome:
    """What a sweep did with one due deadline."""

    id: int
    kind: str
    case_id: int | None
    round_year: int | None
    due_at: datetime
    #: ``recognized``, ``revoked``, ``flagged``, ``reminded``, ``closed``, ``held``,
    #: ``not_applicable``, ``refused``, ``waiting``, ``busy`` or ``error``.
    outcome: str
    result: str

    @property
    def left_pending(self) -> bool:
        """The deadline is still pending: a later sweep tries it again."""
        return self.outcome in (WAITING, BUSY, ERROR)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "case_id": self.case_id,
                "round_year": self.round_year, "due_at": self.due_at, "outcome": self.outcome,
                "result": self.result}


@dataclass(frozen=True)
class PendingDeadline:
    """A pending deadline that is due, and what a sweep would do with it now."""

    id: int
    kind: str
    key: str
    case_id: int | None
    round_year: int | None
    due_at: datetime
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "key": self.key, "case_id": self.case_id,
                "round_year": self.round_year, "due_at": self.due_at, "action": self.action}


@dataclass(frozen=True)
class Plan:
    """What a due deadline will do to its case now: a trigger, a record, or nothing."""

    outcome: str
    result: str
    trigger: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- reading
def due_rows(
    session: Session, now: datetime, *, after: tuple[datetime, int] | None = None,
    limit: int = BATCH, exclude: Collection[int] = (),
) -> list[Any]:
    """The next ``limit`` pending rows due at ``now``, in (due_at, id) order after ``after``.

    Keyset paging keeps every query a range scan of ``ix_gd_deadline_due`` and never returns a
    row twice in one sweep, even one left pending (waiting for a calendar, say).
    """
    statement = select(
        Deadline.id, Deadline.kind, Deadline.key, Deadline.case_id, Deadline.round_year,
        Deadline.due_at,
    ).where(Deadline.status == "pending", Deadline.due_at <= now)
    if after is not None:
        last_due, last_id = after
        statement = statement.where(
            Deadline.due_at >= last_due,
            or_(Deadline.due_at > last_due, Deadline.id > last_id),
        )
    if exclude:
        statement = statement.where(Deadline.id.not_in(sorted(exclude)))
    statement = statement.order_by(Deadline.due_at, Deadline.id).limit(limit)
    return list(session.execute(statement).all())


def next_due(session: Session, after: datetime) -> datetime | None:
    """The earliest pending due time strictly after ``after`` (the scheduler's next wake-up)."""
    value = session.scalar(
        select(func.min(Deadline.due_at)).where(
            Deadline.status == "pending", Deadline.due_at > after
        )
    )
    return as_utc(value) if value is not None else None


def deadline_day(due_at: datetime) -> date:
    """The calendar day a deadline falls on: 24:00 of a day belongs to that day."""
    return local_date(as_utc(due_at) - timedelta(microseconds=1))


def key_year(key: str) -> int | None:
    """The report year in ``case:12:report:2024[:reminder-30d]``."""
    parts = key.split(":")
    if len(parts) >= 4 and parts[2] == "report" and parts[3].isdigit():
        return int(parts[3])
    return None


def plan(session: Session, row: Any, case: Case, now: datetime) -> Plan:
    """Decide what ``row`` does to ``case`` as it stands at ``now``. Reads only.

    A reminder found only after the deadline it announces has passed (the scheduler was down)
    is closed as too late rather than sent beside the consequence.
    """
    kind, state = row.kind, case.state
    if kind == deadlines.PUBLICITY_END:
        if state != "publicized":
            return _not_applicable(f"case is {state}, no longer in publicity")
        open_ids = list(session.scalars(
            select(Objection.id).where(Objection.case_id == case.id, Objection.status == "open")
            .order_by(Objection.id)
        ))
        if open_ids:
            listed = ", ".join(map(str, open_ids))
            return Plan(HELD, f"held: objection(s) {listed} open; recognition waits for the "
                              f"province's decision (dismissing the last one re-arms it)")
        round_row = session.get(Round, case.round_year)
        start = (round_row.valid_from if round_row is not None else None) \
            or local_date(row.due_at)
        return Plan(RECOGNIZED, "recognized by system at the end of publicity", "recognize",
                    {"valid_from": start})
    if kind in (deadlines.REPORT_DUE, deadlines.REPORT_REMINDER):
        year = key_year(row.key)
        if state not in VALID_STATES:
            return _not_applicable(f"case is {state}; no annual report is owed")
        if year is not None and session.scalar(
            select(AnnualReport.id).where(AnnualReport.case_id == case.id,
                                          AnnualReport.year == year)
        ) is not None:
            return _not_applicable(f"the report for {year} is filed")
        due = deadline_day(row.due_at) if kind == deadlines.REPORT_DUE else None
        if kind == deadlines.REPORT_REMINDER:
            report_due = session.scalar(select(Deadline.due_at).where(
                Deadline.key == deadlines.case_key(case.id, "report", year)))
            if report_due is not None and as_utc(report_due) <= now:
                return _not_applicable(f"too late: the report for {year} was due "
                                       f"{local_text(report_due)}")
            return Plan(REMINDED, f"reminder sent: annual report for {year}", None,
                        {"year": year, "report_due": deadline_day(report_due).isoformat()
                         if report_due is not None else None})
        reason = f"未按时报送{year}年度发展情况（应于{_cn_date(due)}24时前报送）"
        policy = policy_for(case.policy, case.policy_digest)
        if policy.periods.missed_report_action == "flag":
            return Plan(FLAGGED, f"flagged: report for {year} missed (policy: flag)", "flag",
                        {"reason": reason})
        return Plan(REVOKED, f"revoked 18.3: report for {year} missed", "revoke",
                    {"reason_code": "18.3", "reason": reason})
    if kind in (deadlines.VALIDITY_END, deadlines.EXPIRY_REMINDER):
        if kind == deadlines.VALIDITY_END and state == "under_review":
            return Plan(HELD, "held: 复核 applied for; the case waits for the province's "
                              "decision (renew or revoke)")
        if state not in ("recognized", "renewed"):
            return _not_applicable(f"case is {state}")
        until = case.valid_until
        if until is None or row.key != deadlines.case_key(case.id, kind, until.isoformat()):
            return _not_applicable(f"validity now ends {until}")
        if kind == deadlines.EXPIRY_REMINDER:
            if end_of_day(until) <= now:
                return _not_applicable(f"too late: validity ended {until}")
            return Plan(REMINDED, f"reminder sent: validity ends {until}", None,
                        {"valid_until": until.isoformat()})
        reason = f"认定有效期已于{_cn_date(until)}届满，未申请复核"
        return Plan(REVOKED, "revoked 18.1: validity ended without 复核", "revoke",
                    {"reason_code": "18.1", "reason": reason})
    return _not_applicable(f"unknown deadline kind {kind!r}")


def _not_applicable(why: str) -> Plan:
    return Plan(NOT_APPLICABLE, f"not applicable: {why}")


def _cn_date(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "?"


# ---------------------------------------------------------------------------- the sweep
def run_due(
    kernel: Kernel,
    now: datetime | str | None = None,
    *,
    stop: threading.Event | None = None,
    batch: int = BATCH,
    on_handled: Callable[[DeadlineOutcome], None] | None = None,
) -> list[DeadlineOutcome]:
    """Handle every deadline due at ``now`` (default: the kernel clock's now), in due order.

    Runs to a fixed point: when an act writes deadlines that are already due (recognition
    after a long downtime schedules reports that have passed), the sweep starts again from the
    earliest due row, so they are handled in the same sweep and in due order. Rows left
    pending (waiting for a calendar, a locked database) are not retried within one sweep.

    Returns what this process did with each deadline it handled (those another process
    claimed first are not listed). ``now`` may be given on a simulation database only; each
    act is dated by it, or by the kernel clock when it is not given. ``stop`` ends the sweep
    between two deadlines (a signal arrived).
    """
    explicit = now is not None
    if explicit and not kernel.simulation:
        raise SimulationOnly(kernel.store.url)
    cutoff = _instant(now) if now is not None else kernel.clock.now()
    handled: list[DeadlineOutcome] = []
    left_pending: set[int] = set()
    deferred: dict[int, Any] = {}
    after: tuple[datetime, int] | None = None
    while not (stop and stop.is_set()):
        with kernel.store.read() as session:
            rows = due_rows(session, cutoff, after=after, limit=batch,
                            exclude=left_pending | deferred.keys() if after is None else ())
        wait = False
        if rows:
            after = (rows[-1].due_at, rows[-1].id)
        elif deferred:  # cases another transaction held: now wait for them, in due order
            rows, wait = sorted(deferred.values(), key=lambda row: (row.due_at, row.id)), True
            deferred.clear()
        else:
            break
        for row in rows:
            if stop and stop.is_set():
                break
            at = cutoff if explicit else kernel.clock.now()
            outcome, wrote_due = _handle(kernel, row, at, cutoff, wait=wait)
            if outcome is _DEFERRED:
                deferred[row.id] = row
                continue
            if isinstance(outcome, DeadlineOutcome):
                if outcome.left_pending:
                    left_pending.add(row.id)
                handled.append(outcome)
                _log(outcome)
                if on_handled is not None:
                    on_handled(outcome)
            if wrote_due:  # the act wrote rows already due: go back to the earliest
                after = None
                break
    return handled


def handle(kernel: Kernel, row: Any, at: datetime) -> DeadlineOutcome | None:
    """Claim and fire one deadline; ``None`` when another process has claimed it."""
    outcome = _handle(kernel, row, at, at)[0]
    return outcome if isinstance(outcome, DeadlineOutcome) else None


class _Deferred:
    """``_handle``'s answer for a deadline whose case row was busy: retried, waiting, at the
    end of the sweep."""


_DEFERRED = _Deferred()


def _handle(
    kernel: Kernel, row: Any, at: datetime, cutoff: datetime, *, wait: bool = True
) -> tuple[DeadlineOutcome | _Deferred | None, bool]:
    if not _still_pending(kernel, row.id):
        return None, False
    try:
        if row.case_id is not None:
            claimed, plan_, wrote_due = _fire_case_deadline(kernel, row, at, cutoff, wait=wait)
            if plan_ is None:
                return _DEFERRED, False
        else:
            claimed, plan_ = _fire_round_deadline(kernel, row, at)
            wrote_due = False
    except CalendarGap as gap:
        return _leave_pending(kernel, row, gap), False
    except (EngineError, KeyError) as error:  # refused: close it, never loop on it
        if isinstance(error, ConcurrentModification):
            return _report(row, BUSY, "busy: the database was locked; retried next sweep"), False
        return _close_refused(kernel, row, at, error), False
    except Exception as error:  # a bug or an outage: leave it pending, say so loudly
        log.exception("deadline %s (%s) failed; it stays pending", row.id, row.kind)
        return _report(row, ERROR, f"error: {type(error).__name__}: {error}"), False
    if not claimed:
        return None, False
    return _report(row, plan_.outcome, plan_.result), wrote_due


def _fire_case_deadline(
    kernel: Kernel, row: Any, at: datetime, cutoff: datetime, *, wait: bool = True
) -> tuple[bool, Plan | None, bool]:
    """Lock the case, claim the deadline, act — in one transaction of the act kernel, whose
    event is published after it commits. Without ``wait``, a case row another transaction
    holds (PostgreSQL: ``SKIP LOCKED``) is left for later (``Plan`` None), so several
    sweepers spread over different cases instead of queueing on the same one."""
    with kernel.transaction() as transaction:
        session = transaction.session
        lock: Any = True if wait else {"skip_locked": True}
        case = session.get(Case, row.case_id, with_for_update=lock)  # 1. the case row
        if case is None and not wait:
            return False, None, False
        if not _claim(session, row.id, at):                            # 2. the deadline
            return False, Plan(NOT_APPLICABLE, ""), False
        if case is None:
            decided = _not_applicable(f"case {row.case_id} does not exist")
        else:
            decided = plan(session, row, case, at)
        wrote_due = False
        if decided.trigger is not None:                                # 3. the audit head
            assert case is not None
            kernel.transition(transaction, case, decided.trigger, SYSTEM,
                              dict(decided.payload), at)
            if decided.outcome == RECOGNIZED:
                decided = Plan(decided.outcome, f"{decided.result}; valid {case.valid_from} to "
                               f"{case.valid_until}", decided.trigger, decided.payload)
            wrote_due = session.scalar(
                select(Deadline.id).where(Deadline.case_id == case.id,
                                          Deadline.status == "pending",
                                          Deadline.due_at <= cutoff).limit(1)
            ) is not None
        elif decided.outcome == REMINDED:
            assert case is not None
            _remind(transaction, row, case, decided, at)
        _set_result(session, row.id, decided.result)
        return True, decided, wrote_due


def _remind(transaction: Transaction, row: Any, case: Case, decided: Plan, at: datetime) -> None:
    """A reminder is an act without a state change: its audit row (and so its notice)."""
    transaction.record(
        actor=SYSTEM, trigger=row.kind, article=_REMINDER_ARTICLES[row.kind], at=at,
        case_id=case.id, round_year=case.round_year, from_state=case.state,
        to_state=case.state, payload={**decided.payload, "due_at": _iso_local(row.due_at)},
    )


def _fire_round_deadline(kernel: Kernel, row: Any, at: datetime) -> tuple[bool, Plan]:
    with kernel.transaction() as transaction:
        session = transaction.session
        if not _claim(session, row.id, at):
            return False, Plan(NOT_APPLICABLE, "")
        year = row.round_year
        if row.kind not in _ROUND_ARTICLES or year is None:
            decided = _not_applicable(f"unknown round deadline kind {row.kind!r}")
            _set_result(session, row.id, decided.result)
            return True, decided
        counts = dict(session.execute(
            select(Case.state, func.count()).where(Case.round_year == year).group_by(Case.state)
        ).all())
        what = "applications" if row.kind == deadlines.ROUND_APPLY_CLOSE else "recommendations"
        decided = Plan(CLOSED, f"round {year} closed for {what}")
        transaction.record(
            actor=SYSTEM, trigger=row.kind, article=_ROUND_ARTICLES[row.kind], at=at,
            round_year=year,
            payload={"closes": what, "due_at": _iso_local(row.due_at), "cases_by_state": counts},
        )
        _set_result(session, row.id, decided.result)
        return True, decided


def _claim(session: Session, deadline_id: int, at: datetime) -> bool:
    """``pending → fired``, conditionally: exactly one process wins."""
    outcome = session.execute(
        update(Deadline)
        .where(Deadline.id == deadline_id, Deadline.status == "pending")
        .values(status="fired", fired_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(outcome.rowcount or 0) == 1  # type: ignore[attr-defined]


def _set_result(session: Session, deadline_id: int, result: str) -> None:
    session.execute(
        update(Deadline).where(Deadline.id == deadline_id).values(result=result[:4000])
        .execution_options(synchronize_session=False)
    )


def _still_pending(kernel: Kernel, deadline_id: int) -> bool:
    """A cheap read before taking write locks: skip what another sweeper already fired."""
    with kernel.store.read() as session:
        return session.scalar(select(Deadline.status).where(Deadline.id == deadline_id)) \
            == "pending"


def _leave_pending(kernel: Kernel, row: Any, gap: CalendarGap) -> DeadlineOutcome:
    """The calendar lacks a year: keep the deadline pending, say why once, retry next sweep."""
    result = f"waiting: {gap.message}"
    with kernel.store.write() as session:
        changed = session.execute(
            update(Deadline)
            .where(Deadline.id == row.id, Deadline.status == "pending",
                   or_(Deadline.result.is_(None), Deadline.result != result))
            .values(result=result)
            .execution_options(synchronize_session=False)
        )
    if int(changed.rowcount or 0):  # type: ignore[attr-defined]
        kernel.record_refusal(SYSTEM, row.kind, gap, case_id=row.case_id,
                              round_year=row.round_year)
        log.warning("deadline %s (%s, case %s) waits: %s", row.id, row.kind, row.case_id,
                    gap.message)
    return _report(row, WAITING, result)


def _close_refused(kernel: Kernel, row: Any, at: datetime, error: Exception) -> DeadlineOutcome:
    message = error.message if isinstance(error, EngineError) else str(error)
    result = f"refused: {message}"
    with kernel.store.write() as session:
        if row.case_id is not None:
            session.get(Case, row.case_id, with_for_update=True)
        if not _claim(session, row.id, at):
            return _report(row, BUSY, "claimed by another process meanwhile")
        _set_result(session, row.id, result)
    if isinstance(error, EngineError):
        kernel.record_refusal(SYSTEM, row.kind, error, case_id=row.case_id,
                              round_year=row.round_year)
    return _report(row, REFUSED, result)


def _report(row: Any, outcome: str, result: str) -> DeadlineOutcome:
    return DeadlineOutcome(id=row.id, kind=row.kind, case_id=row.case_id,
                           round_year=row.round_year, due_at=as_utc(row.due_at),
                           outcome=outcome, result=result)


def _log(outcome: DeadlineOutcome) -> None:
    where = (f"case {outcome.case_id}" if outcome.case_id is not None
             else f"round {outcome.round_year}")
    level = logging.WARNING if outcome.outcome in (REFUSED, ERROR, BUSY) else logging.INFO
    log.log(level, "deadline %s %s %s due %s: %s — %s", outcome.id, outcome.kind, where,
            local_text(outcome.due_at), outcome.outcome, outcome.result)


def local_text(value: datetime) -> str:
    """Asia/Shanghai wall time; a deadline at midnight reads as 24:00 of the day before."""
    local = as_utc(value).astimezone(SHANGHAI)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return f"{(local - timedelta(days=1)).date().isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M:%S")


def _iso_local(value: datetime) -> str:
    return as_utc(value).astimezone(SHANGHAI).isoformat()


def _instant(value: datetime | str) -> datetime:
    if isinstance(value, str):
        return parse_instant(value)
    if isinstance(value, datetime):
        return as_utc(value)
    raise InvalidInput(f"not an instant: {value!r}", field="now")


# ---------------------------------------------------------------------------- dry view
def pending(kernel: Kernel, until: date | datetime | str | None = None) -> list[PendingDeadline]:
    """Pending deadlines due by ``until`` (a date means up to its 24:00; default: now).

    A dry view: each row says what a sweep would do (``action``) if it ran now. Nothing is
    written.
    """
    if until is None:
        cutoff = kernel.clock.now()
    elif isinstance(until, datetime):
        cutoff = as_utc(until)
    elif isinstance(until, date):
        cutoff = end_of_day(until)
    else:
        text = str(until).strip()
        cutoff = end_of_day(date.fromisoformat(text)) if len(text) == 10 \
            else parse_instant(text)
    now = kernel.clock.now()
    listed: list[PendingDeadline] = []
    with kernel.store.read() as session:
        after: tuple[datetime, int] | None = None
        while True:
            rows = due_rows(session, cutoff, after=after)
            for row in rows:
                listed.append(PendingDeadline(
                    id=row.id, kind=row.kind, key=row.key, case_id=row.case_id,
                    round_year=row.round_year, due_at=as_utc(row.due_at),
                    action=_predict(session, row, now),
                ))
            if len(rows) < BATCH:
                break
            after = (rows[-1].due_at, rows[-1].id)
    return listed


def _predict(session: Session, row: Any, now: datetime) -> str:
    if row.case_id is None:
        return f"close the round's {row.kind.removeprefix('round_').removesuffix('_close')} window"
    case = session.get(Case, row.case_id)
    if case is None:
        return "not applicable: no such case"
    try:
        decided = plan(session, row, case, max(now, as_utc(row.due_at)))
    except EngineError as error:
        return f"refused: {error.message}"
    if decided.trigger == "revoke":
        return f"revoke {decided.payload['reason_code']}"
    if decided.trigger is not None:
        return decided.trigger
    return "remind" if decided.outcome == REMINDED else decided.result
