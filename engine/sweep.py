"""The sweep: fire the deadlines that are due, each exactly once (DESIGN §9).

A sweep reads due rows only (``status='pending' AND due_at <= now``, in due order, a batch at a
time, through ``ix_gd_deadline_due``), so its cost follows what is due, not what is stored. Each
deadline is handled in its own write transaction, taking locks in the order every act takes
them — the case row (``SELECT … FOR UPDATE``), then the deadline claim, then the audit head:

    UPDATE gd_deadline SET status='fired' WHERE id=? AND status='pending'   -- must touch 1 row

The claim and the transition it causes commit together or not at all, so several sweeping
processes fire each deadline once, and a crash mid-sweep loses nothing: what was not committed
is still pending for the next sweep.

What a due deadline does is decided by ``engine/timers.py`` from the case as it is now. A
transition the workflow refuses is closed as refused (and recorded with the refusals),
except one that waits for data or settings (``WaitingFor``: a missing working-day calendar year,
missing notice settings): that deadline stays pending, its result names what is missing, and the
next sweep tries again — loud, never a guess.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from gdcluster.engine import case_rows, deadlines
from gdcluster.engine.clock import (
    as_utc,
    in_shanghai,
    local_text,
    parse_instant,
)
from gdcluster.engine.errors import (
    ConcurrentModification,
    EngineError,
    InvalidInput,
    SimulationOnly,
    WaitingFor,
)
from gdcluster.engine.i18n import N_, Message, localize, ngettext
from gdcluster.engine.i18n import gettext as _
from gdcluster.engine.models import Case, Deadline
from gdcluster.engine.prepared import Prepared
from gdcluster.engine.store import connection_of
from gdcluster.engine.timers import (
    BUSY,
    CLOSED,
    ERROR,
    NOT_APPLICABLE,
    REFUSED,
    REMINDED,
    REMINDER_ARTICLES,
    ROUND_ARTICLES,
    SYSTEM,
    WAITING,
    Plan,
    Reads,
    not_applicable,
    plan,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.engine.kernel import Kernel, Transaction

log = logging.getLogger("gdcluster.scheduler")

#: Rows read per query; each is then handled in its own transaction.
BATCH = 200

@dataclass(frozen=True)
class DeadlineOutcome:
    """What a sweep did with one due deadline."""

    id: int
    kind: str
    case_id: int | None
    round_year: int | None
    due_at: datetime
    #: ``publicity_closed``, ``revocation_proposed``, ``overdue``, ``rolled``,
    #: ``awaiting_decision``, ``revoked``, ``flagged``, ``reminded``, ``too_late`` (a
    #: reminder found after what it announces), ``closed``, ``held``,
    #: ``not_applicable``, ``refused``, ``waiting``, ``busy`` or ``error``.
    outcome: str
    result: str

    @property
    def left_pending(self) -> bool:
        """The deadline is still pending: a later sweep tries it again."""
        return self.outcome in (WAITING, BUSY, ERROR)

    @property
    def failed(self) -> bool:
        """The sweep could not handle the deadline (an error, a database too busy): it stays
        pending, and ``scheduler run --once`` exits 5 so that cron sees it. A deadline that
        waits for data (a calendar year, settings) is not a failure of the sweep."""
        return self.outcome in (BUSY, ERROR)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "case_id": self.case_id,
                "round_year": self.round_year, "due_at": self.due_at, "outcome": self.outcome,
                "result": self.result}


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
        col(Deadline.id), col(Deadline.kind), col(Deadline.key), col(Deadline.case_id),
        col(Deadline.round_year), col(Deadline.due_at),
    ).where(col(Deadline.status) == "pending", col(Deadline.due_at) <= now)
    if after is not None:
        last_due, last_id = after
        statement = statement.where(
            col(Deadline.due_at) >= last_due,
            or_(col(Deadline.due_at) > last_due, col(Deadline.id) > last_id),
        )
    if exclude:
        statement = statement.where(col(Deadline.id).not_in(sorted(exclude)))
    statement = statement.order_by(col(Deadline.due_at), col(Deadline.id)).limit(limit)
    return list(session.execute(statement).all())


def next_due(session: Session, after: datetime) -> datetime | None:
    """The earliest pending due time strictly after ``after`` (the scheduler's next wake-up)."""
    value = session.scalar(
        select(func.min(col(Deadline.due_at))).where(
            col(Deadline.status) == "pending", col(Deadline.due_at) > after
        )
    )
    return as_utc(value) if value is not None else None


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

    Runs to a fixed point: when an act writes deadlines that are already due (a closed
    objection re-arming the end of publicity, say), the sweep starts again from the earliest
    due row, so they are handled in the same sweep and in due order. Rows left
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
        # the batch's acts each commit on their own; what listeners do after a commit
        # (outbox files, e-mails) is done for the batch together when it ends
        shared = _Calendars()  # the batch's working-day calendar, read when first needed
        with kernel.holding_deliveries():
            for row in rows:
                if stop and stop.is_set():
                    break
                at = cutoff if explicit else kernel.clock.now()
                outcome, wrote_due = _handle(kernel, row, at, cutoff, wait=wait,
                                             shared=shared)
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


class _Calendars:
    """The working-day calendar of a sweep's batch: read by the first of its acts that counts
    working days, then shared by the others (each still its own transaction), as a round
    batch's acts share theirs (``Kernel.act``'s ``calendar``). A year imported meanwhile is
    seen by the next batch; a deadline waiting for it stays pending until then."""

    def __init__(self) -> None:
        self._loaded: WorkCalendar | None = None

    def reader(self, session: Session) -> Callable[[], WorkCalendar]:
        """The calendar, read in ``session`` if this batch has not read it yet."""
        def calendar() -> WorkCalendar:
            if self._loaded is None:
                from gdcluster.engine.calendar import calendar_from_session  # start-up time

                self._loaded = calendar_from_session(session)
            return self._loaded

        return calendar


def _handle(
    kernel: Kernel, row: Any, at: datetime, cutoff: datetime, *, wait: bool = True,
    shared: _Calendars | None = None,
) -> tuple[DeadlineOutcome | _Deferred | None, bool]:
    if not _still_pending(kernel, row.id):
        return None, False
    try:
        if row.case_id is not None:
            claimed, plan_, wrote_due = _fire_case_deadline(
                kernel, row, at, cutoff, wait=wait,
                shared=shared if shared is not None else _Calendars())
            if plan_ is None:
                return _DEFERRED, False
        else:
            claimed, plan_ = _fire_round_deadline(kernel, row, at)
            wrote_due = False
    except WaitingFor as gap:
        return _leave_pending(kernel, row, gap), False
    except (EngineError, KeyError) as error:  # refused: close it, never loop on it
        if isinstance(error, ConcurrentModification):
            return _report(row, BUSY, "busy: the database was locked; retried next sweep"), False
        return _close_refused(kernel, row, at, error), False
    except Exception as error:  # a bug or an outage: leave it pending, say so loudly
        log.exception(_("deadline %s (%s) failed; it stays pending"), row.id, row.kind)
        return _report(row, ERROR, f"error: {type(error).__name__}: {error}"), False
    if not claimed:
        return None, False
    return _report(row, plan_.outcome, plan_.result), wrote_due


def _fire_case_deadline(
    kernel: Kernel, row: Any, at: datetime, cutoff: datetime, *, wait: bool, shared: _Calendars
) -> tuple[bool, Plan | None, bool]:
    """Lock the case (read with its round and parts), decide, claim the deadline with its
    outcome, act — in one transaction of the act kernel, whose event is published after it
    commits. Without ``wait``, a case row another transaction holds (PostgreSQL: ``SKIP
    LOCKED``) is left for later (``Plan`` None), so several sweepers spread over different
    cases instead of queueing on the same one. ``shared``: the batch's working-day
    calendar."""
    with kernel.transaction() as transaction:
        # 1. the case row, with its round and its parts (deadlines, objections, reports:
        # what the timer's plan reads), by one statement
        found = case_rows.load_for_timer(transaction.connection, row.case_id,
                                         skip_locked=not wait)
        if found is None and not wait:
            return False, None, False
        session = transaction.session
        calendars = shared.reader(session)
        if found is None:
            decided = not_applicable(f"case {row.case_id} does not exist")
        else:  # decided before the claim (reads only), so that the claim writes the outcome
            try:
                decided = plan(session, row, found.case, at,
                               Reads(session, found.parts, calendar=calendars))
            except (EngineError, KeyError):  # refused, or waiting: if the deadline is ours
                if not transaction.claim_deadline(row.id, at):  # another process fired it
                    return False, Plan(NOT_APPLICABLE, ""), False
                raise  # as if it came after the claim: the transaction rolls back
        # 2. the deadline, with its outcome
        if not transaction.claim_deadline(row.id, at, result=decided.result):
            return False, Plan(NOT_APPLICABLE, ""), False
        wrote_due = False
        if decided.trigger is not None:                                # 3. the audit head
            assert found is not None
            kernel.transition(transaction, found.case, decided.trigger, SYSTEM,
                              dict(decided.payload), at, calendar=calendars,
                              round_row=found.round)
            session.flush()
            wrote_due = _DUE_ON_CASE.first(transaction.connection, {
                "case_id": found.case.id, "cutoff": cutoff}) is not None
        elif decided.outcome == REMINDED:
            assert found is not None
            _remind(transaction, row, found, decided, at)
        elif decided.reschedule is not None:  # moved, not fired: a row for the new time
            key, due_at = decided.reschedule
            deadlines.schedule(session, kind=row.kind, key=key, due_at=due_at, now=at,
                               case_id=row.case_id)
            wrote_due = due_at <= cutoff
        return True, decided, wrote_due


_DEADLINE = Deadline.__table__  # type: ignore[attr-defined]
#: Whether an act left a pending deadline of its case already due (the sweep goes back).
_DUE_ON_CASE = Prepared(select(_DEADLINE.c.id).where(
    _DEADLINE.c.case_id == bindparam("case_id"), _DEADLINE.c.status == "pending",
    _DEADLINE.c.due_at <= bindparam("cutoff")).limit(1))


def _remind(transaction: Transaction, row: Any, found: case_rows.Loaded, decided: Plan,
            at: datetime) -> None:
    """A reminder is an act without a state change: its audit row (and so its notice)."""
    case = found.case
    transaction.record(
        actor=SYSTEM, trigger=row.kind, article=REMINDER_ARTICLES[row.kind], at=at,
        case_id=case.id, round_year=case.round_year, from_state=case.state,
        to_state=case.state, payload={**decided.payload, "due_at": _iso_local(row.due_at)},
        case=case, round_row=found.round,
    )


def _fire_round_deadline(kernel: Kernel, row: Any, at: datetime) -> tuple[bool, Plan]:
    with kernel.transaction() as transaction:
        session = transaction.session
        if not _claim(session, row.id, at):
            return False, Plan(NOT_APPLICABLE, "")
        year = row.round_year
        if row.kind not in ROUND_ARTICLES or year is None:
            decided = not_applicable(f"unknown round deadline kind {row.kind!r}")
            _set_result(session, row.id, decided.result)
            return True, decided
        column = (Case.review_round if row.kind == deadlines.ROUND_REVIEW_CHECK_CLOSE
                  else Case.round_year)
        counts = dict(session.execute(
            select(col(Case.state), func.count()).where(column == year).group_by(col(Case.state))
        ).all())
        what = _ROUND_WINDOWS[row.kind]
        decided = Plan(CLOSED, f"round {year} closed for {what}")
        transaction.record(
            actor=SYSTEM, trigger=row.kind, article=ROUND_ARTICLES[row.kind], at=at,
            round_year=year,
            payload={"closes": what, "due_at": _iso_local(row.due_at), "cases_by_state": counts},
        )
        _set_result(session, row.id, decided.result)
        return True, decided


#: What each round deadline closes.
_ROUND_WINDOWS = {deadlines.ROUND_APPLY_CLOSE: "applications",
                  deadlines.ROUND_RECOMMEND_CLOSE: "recommendations",
                  deadlines.ROUND_REVIEW_CHECK_CLOSE: "复核初审 opinions"}


def _claim(session: Session, deadline_id: int, at: datetime) -> bool:
    """``pending → fired``, conditionally: exactly one process wins."""
    outcome = session.execute(
        update(Deadline)
        .where(col(Deadline.id) == deadline_id, col(Deadline.status) == "pending")
        .values(status="fired", fired_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(outcome.rowcount or 0) == 1  # type: ignore[attr-defined]


def _set_result(session: Session, deadline_id: int, result: str) -> None:
    session.flush()  # what the act left pending is written first, as before
    connection_of(session).execute(_SET_RESULT, {"deadline_id": deadline_id,
                                                 "deadline_result": result[:4000]})


_SET_RESULT = (update(Deadline.__table__)  # type: ignore[attr-defined]
               .where(Deadline.__table__.c.id == bindparam("deadline_id"))  # type: ignore[attr-defined]
               .values(result=bindparam("deadline_result")))


def _still_pending(kernel: Kernel, deadline_id: int) -> bool:
    """A cheap read before taking write locks: skip what another sweeper already fired (on a
    pooled connection; through a session, which reports a busy database as such, when that
    fails)."""
    try:
        with kernel.store.engine.connect() as connection:
            return connection.execute(_STATUS, {"deadline_id": deadline_id}).scalar() \
                == "pending"
    except DBAPIError:
        pass
    with kernel.store.read() as session:
        return session.scalar(select(col(Deadline.status)).where(col(Deadline.id) == deadline_id)) \
            == "pending"


_STATUS = (select(Deadline.__table__.c.status)  # type: ignore[attr-defined]
           .where(Deadline.__table__.c.id == bindparam("deadline_id")))  # type: ignore[attr-defined]


def _leave_pending(kernel: Kernel, row: Any, gap: WaitingFor) -> DeadlineOutcome:
    """Data or settings are missing: keep the deadline pending, say why once, retry next
    sweep."""
    result = Message("waiting: {problem}", problem=gap.as_message())
    with kernel.store.write() as session:
        changed = session.execute(
            update(Deadline)
            .where(col(Deadline.id) == row.id, col(Deadline.status) == "pending",
                   or_(col(Deadline.result).is_(None), col(Deadline.result) != result))
            .values(result=result)
            .execution_options(synchronize_session=False)
        )
    if int(changed.rowcount or 0):  # type: ignore[attr-defined]
        kernel.record_refusal(SYSTEM, row.kind, gap, case_id=row.case_id,
                              round_year=row.round_year)
        log.warning(_("deadline %s (%s, case %s) waits: %s"), row.id, row.kind, row.case_id,
                    gap.localized())
    return _report(row, WAITING, result)


def _close_refused(kernel: Kernel, row: Any, at: datetime,
                   error: Exception) -> DeadlineOutcome | None:
    message = error.as_message() if isinstance(error, EngineError) else str(error)
    result = Message("refused: {problem}", problem=message)
    with kernel.store.write() as session:
        if row.case_id is not None:
            session.get(Case, row.case_id, with_for_update=True)
        if not _claim(session, row.id, at):  # another process handled it: not ours to list
            return None
        _set_result(session, row.id, result)
    if isinstance(error, EngineError):
        kernel.record_refusal(SYSTEM, row.kind, error, case_id=row.case_id,
                              round_year=row.round_year)
    return _report(row, REFUSED, result)


def _report(row: Any, outcome: str, result: str) -> DeadlineOutcome:
    return DeadlineOutcome(id=row.id, kind=row.kind, case_id=row.case_id,
                           round_year=row.round_year, due_at=as_utc(row.due_at),
                           outcome=outcome, result=result)


#: the outcomes a sweep counts, as ``summary`` names them (for the catalog)
OUTCOME_WORDS = (N_("publicity closed"), N_("revocation proposed"), N_("awaiting decision"),
                 N_("rolled"), N_("overdue"), N_("revoked"), N_("expired"), N_("flagged"),
                 N_("reminded"), N_("closed"), N_("held"), N_("not applicable"),
                 N_("too late"), N_("refused"), N_("waiting"), N_("busy"), N_("error"))


def summary(handled: Sequence[DeadlineOutcome]) -> str:
    """One line for a sweep, in the current language: how many deadlines it handled, and each
    outcome with its count, every kind of outcome named (a reminder closed as too late as much
    as one sent)."""
    if not handled:
        return _("nothing due")
    counts: dict[str, int] = {}
    for item in handled:
        counts[item.outcome] = counts.get(item.outcome, 0) + 1
    parts = _(", ").join(_("{count} {outcome}").format(count=count,
                                                        outcome=_(outcome.replace("_", " ")))
                         for outcome, count in counts.items())
    return ngettext("{count} deadline handled: {parts}", "{count} deadlines handled: {parts}",
                    len(handled)).format(count=len(handled), parts=parts)


def _log(outcome: DeadlineOutcome) -> None:
    where = (_("case {id}").format(id=outcome.case_id) if outcome.case_id is not None
             else _("round {year}").format(year=outcome.round_year))
    level = logging.WARNING if outcome.outcome in (REFUSED, ERROR, BUSY) else logging.INFO
    log.log(level, _("deadline %s %s %s due %s: %s — %s"), outcome.id, outcome.kind, where,
            local_text(outcome.due_at), outcome.outcome, localize(outcome.result))


def _iso_local(value: datetime) -> str:
    return str(in_shanghai(value))


def _instant(value: datetime | str) -> datetime:
    if isinstance(value, str):
        return parse_instant(value)
    if isinstance(value, datetime):
        return as_utc(value)
    raise InvalidInput(Message("not an instant: {value!r}", value=value), field="now")
