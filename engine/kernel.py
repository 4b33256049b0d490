"""The act kernel: one act is one transaction.

Every act on a case goes the same way, whoever asks (``Engine.fire``, a round batch, the
deadline sweep)::

    lock the case (with its round)           Kernel.act, or the caller's own transaction
    → the Machine takes the row              Lifecycle.take: when, who, what, policy, guards,
                                             then the effect, then the state moves
    → write the case                         one prepared UPDATE … WHERE version = as loaded
    → the audit row, the transaction hooks   Transaction.record (notice records commit here)
    → commit
    → the subscribers                        after the commit; a listener never undoes an act

Locks are always taken in one order — the case row, then any deadline row, then the audit head
— so PostgreSQL never deadlocks. Acts outside the table (a round opened, a batch finished, a
calendar imported, a reminder sent) use :meth:`Kernel.transaction` and
:meth:`Transaction.record` the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.exc import StaleDataError

from gdcluster.engine import audit, deadlines
from gdcluster.engine.actors import Actor
from gdcluster.engine.acts import Act
from gdcluster.engine.clock import Clock, SystemClock
from gdcluster.engine.errors import (
    ClockBehind,
    ConcurrentModification,
    EngineError,
    NotFound,
    PermissionDenied,
    Reason,
    TransitionRefused,
)
from gdcluster.engine.lifecycle import Lifecycle
from gdcluster.engine.models import Case, Round
from gdcluster.engine.parse import as_case_id
from gdcluster.engine.store import Store, connection_of
from gdcluster.engine.views import CaseView, case_view, load_round
from gdcluster.states.workflow import PREVIOUS, Rule

if TYPE_CHECKING:
    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.states.regions import Unit

__all__ = ["Kernel", "Transaction", "TransitionEvent"]

log = logging.getLogger("gdcluster")

#: How often an act on the system clock is done again when another act was recorded with a
#: later time after it read the clock (time only moves forward in the audit trail).
_CLOCK_RETRIES = 3


@dataclass(frozen=True)
class TransitionEvent:
    """Published to subscribers after the act's transaction has committed."""

    case_id: int | None
    round_year: int | None
    trigger: str
    from_state: str | None
    to_state: str | None
    actor: str
    at: datetime
    reason: str | None
    payload: dict[str, Any]
    audit_seq: int


class Transaction:
    """An open write transaction of the kernel. What it records is published once it commits."""

    def __init__(self, session: Session,
                 hooks: list[Callable[[Session, TransitionEvent], None]]) -> None:
        self.session = session
        self.events: list[TransitionEvent] = []
        self._hooks = hooks

    def record(
        self, *, actor: Actor, trigger: str, article: str, at: datetime,
        case_id: int | None = None, round_year: int | None = None,
        from_state: str | None = None, to_state: str | None = None, reason: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> TransitionEvent:
        """Append the act's audit row and run the transaction hooks (inside the transaction:
        a hook that raises aborts the act)."""
        payload = payload or {}
        entry = audit.append(
            self.session, actor=str(actor), trigger=trigger, article=article, at=at,
            case_id=case_id, round_year=round_year, from_state=from_state, to_state=to_state,
            reason=reason, payload=payload,
        )
        event = TransitionEvent(case_id, round_year, trigger, from_state, to_state, str(actor),
                                at, reason, dict(payload), entry.seq)
        for hook in list(self._hooks):
            hook(self.session, event)
        self.events.append(event)
        return event


class Kernel:
    """The one path of every act: see the module's docstring."""

    def __init__(self, store: Store, clock: Clock, *, simulation: bool,
                 lifecycle: Lifecycle) -> None:
        self.store = store
        self.clock = clock
        self.simulation = simulation
        self.lifecycle = lifecycle
        self._subscribers: list[Callable[[TransitionEvent], None]] = []
        self._hooks: list[Callable[[Session, TransitionEvent], None]] = []
        self._batch_checks: list[Callable[[str, int], None]] = []

    # ------------------------------------------------------------------ listeners
    def subscribe(self, callback: Callable[[TransitionEvent], None]) -> Callable[[], None]:
        """Call ``callback`` after each committed act; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def on_transaction(self, hook: Callable[[Session, TransitionEvent], None]
                       ) -> Callable[[], None]:
        """Run ``hook(session, event)`` inside each act's transaction, after its audit row."""
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook)

    def before_batch(self, check: Callable[[str, int], None]) -> Callable[[], None]:
        """Run ``check(trigger, year)`` before a round batch writes anything; returns a
        function that removes the check."""
        self._batch_checks.append(check)
        return lambda: self._batch_checks.remove(check)

    def check_batch(self, who: Actor, trigger: str, year: int) -> None:
        """Run the batch checks for the round act ``trigger`` of round ``year``: a check that
        refuses (``TransitionRefused``) is recorded with the refused attempts, and raised."""
        try:
            for check in list(self._batch_checks):
                check(trigger, year)
        except TransitionRefused as refusal:
            self.record_refusal(who, trigger, refusal, round_year=year)
            raise

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction; the acts recorded in it are published after it commits (and
        never, if it rolls back)."""
        with self.store.write() as session:
            transaction = Transaction(session, self._hooks)
            yield transaction
        self._emit(transaction.events)

    def _emit(self, events: Iterable[TransitionEvent]) -> None:
        for event in events:
            for callback in list(self._subscribers):
                try:
                    callback(event)
                except Exception:  # a listener never undoes a committed act
                    log.exception("subscriber %r failed on %s", callback, event.trigger)

    # ------------------------------------------------------------------ acts on a case
    def act(
        self, case_id: int, trigger: str, who: Actor, payload: dict[str, Any], *,
        expected_version: int | None = None, view: bool = True,
        calendar: WorkCalendar | None = None, record_refusal: bool = True,
    ) -> CaseView | None:
        """``trigger`` on a case in a transaction of its own: the case as the act left it
        (``view=False``: nothing, for batches, which never read it back).

        ``calendar``: a batch's working-day calendar, loaded once for all its acts. A refusal
        (``TransitionRefused``, ``PermissionDenied``) is recorded with the refused attempts
        unless ``record_refusal`` is false (a batch decides for itself).
        """
        case_id = as_case_id(case_id)
        for attempt in range(_CLOCK_RETRIES + 1):
            try:
                return self._act(case_id, trigger, who, payload,
                                 expected_version=expected_version, view=view,
                                 calendar=calendar, record_refusal=record_refusal)
            except ClockBehind:
                # with the system clock, another act was recorded after this one read the
                # time: the act is done again, at a fresh time; a set clock is refused
                if not isinstance(self.clock, SystemClock) or attempt == _CLOCK_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def _act(
        self, case_id: int, trigger: str, who: Actor, payload: dict[str, Any], *,
        expected_version: int | None, view: bool, calendar: WorkCalendar | None,
        record_refusal: bool,
    ) -> CaseView | None:
        now = self.clock.now()
        try:
            try:
                with self.transaction() as transaction:
                    found = transaction.session.execute(_CASE_WITH_ROUND,
                                                        {"case_id": case_id}).first()
                    if found is None:
                        raise NotFound("case", case_id)
                    case = found[0]
                    if expected_version is not None and case.version != expected_version:
                        raise ConcurrentModification(case_id, expected_version)
                    self.transition(transaction, case, trigger, who, payload, now,
                                    calendar=calendar)
                    return case_view(transaction.session, case) if view else None
            except StaleDataError as exc:
                raise ConcurrentModification(case_id, expected_version) from exc
        except (TransitionRefused, PermissionDenied) as error:
            if record_refusal and not (isinstance(error, ClockBehind)
                                       and isinstance(self.clock, SystemClock)):
                self.record_refusal(who, trigger, error, case_id=case_id)
            raise

    def transition(
        self, transaction: Transaction, case: Case, trigger: str, who: Actor,
        payload: dict[str, Any], now: datetime, *, calendar: WorkCalendar | None = None,
    ) -> TransitionEvent:
        """The act itself, inside ``transaction``, on a case the caller has locked first.

        The Machine decides the row and moves the case; a state that remembers records the
        state the case came from, and a row back to that state clears it; then the case is
        written, a final or closed state settles the case's pending deadlines, and the audit
        row is recorded.
        """
        act = Act(session=transaction.session, case=case, trigger=trigger, actor=who,
                  payload=payload, now=now,
                  calendar=self._calendar(transaction.session) if calendar is None
                  else lambda: calendar)
        from_state = case.state
        rule = self.lifecycle.take(act)
        if case.state != from_state:
            if case.state in self.lifecycle.remembering:
                case.previous_state = from_state
            elif rule.dest == PREVIOUS:
                case.previous_state = None
        case.updated_at = now
        # bumped once, after the act's changes: bumped first, it would dirty the case before
        # the guards' reads, whose autoflush would then write the row a second time
        case.version += 1
        _write_case(transaction.session, case)  # before settle, whose flush would write it too
        if case.state in self.lifecycle.ends and case.state != from_state:
            deadlines.settle(transaction.session, now=now, result=f"case {case.state}",
                             status="cancelled", case_id=case.id)
        return transaction.record(
            actor=who, trigger=trigger, article=rule.article, at=now, case_id=case.id,
            round_year=case.round_year, from_state=from_state, to_state=case.state,
            reason=act.reason, payload=act.audit,
        )

    def create_case(self, *, round_year: int, name: str, unit: Unit, industry: str,
                    data: Mapping[str, Any], who: Actor) -> int:
        """File a new case in the workflow's initial state: only the county-level unit itself
        may, and only with an application that validates (drafts may be incomplete)."""
        from gdcluster.engine.application import to_json, validate_application

        rule = self.lifecycle.creation
        if who.kind not in rule.actors or who.region != unit.name:
            error = PermissionDenied(
                f"{who} may not file an application for {unit.name}; only county:{unit.name} may",
                actor=str(who), trigger=rule.trigger,
            )
            self.record_refusal(who, rule.trigger, error, round_year=round_year)
            raise error
        application = to_json(validate_application(dict(data)))
        for attempt in range(_CLOCK_RETRIES + 1):
            try:
                with self.transaction() as transaction:
                    return _file(transaction, rule, round_year=round_year, name=name,
                                 unit=unit, industry=industry, application=application,
                                 who=who, now=self.clock.now())
            except TransitionRefused as refusal:
                if (isinstance(refusal, ClockBehind) and isinstance(self.clock, SystemClock)
                        and attempt < _CLOCK_RETRIES):
                    continue  # another act was recorded meanwhile: file at a fresh time
                self.record_refusal(who, rule.trigger, refusal, round_year=round_year)
                raise
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ refusals
    def require(self, who: Actor, kinds: tuple[str, ...], trigger: str, what: str, *,
                round_year: int | None = None) -> None:
        """Acts outside the transition table (round and calendar acts) name who may do them;
        anyone else is refused, and the refusal is recorded like any other."""
        if who.kind in kinds:
            return
        error = PermissionDenied(
            f"{who} may not {what}; only the {' or '.join(kinds)} does", actor=str(who),
            trigger=trigger,
        )
        self.record_refusal(who, trigger, error, round_year=round_year)
        raise error

    def record_refusal(self, actor: Actor | str, trigger: str, error: EngineError, *,
                       case_id: int | None = None, round_year: int | None = None) -> None:
        """Keep a refused attempt, in a transaction of its own (the act's rolled back)."""
        from gdcluster.engine.records import Refusal

        try:
            with self.store.write() as session:
                session.add(Refusal(at=self.clock.now(), actor=str(actor), trigger=trigger,
                                    case_id=case_id, round_year=round_year, code=error.code,
                                    message=error.message[:4000]))
        except Exception:  # the refusal itself stands; losing its record is logged
            log.exception("could not record the refusal of %s by %s", trigger, actor)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _calendar(session: Session) -> Callable[[], WorkCalendar]:
        """The calendar in force, read when an act first counts working days."""
        loaded: list[WorkCalendar] = []

        def load() -> WorkCalendar:
            if not loaded:
                from gdcluster.engine.calendar import calendar_from_session

                loaded.append(calendar_from_session(session))
            return loaded[0]

        return load


def _file(transaction: Transaction, rule: Rule, *, round_year: int, name: str, unit: Unit,
          industry: str, application: dict[str, Any], who: Actor, now: datetime) -> int:
    """The new case and its audit row, in ``transaction``; refused once the round is
    closed."""
    round_row = load_round(transaction.session, round_year)
    if round_row.closed_at is not None:
        raise TransitionRefused(
            f"round {round_year} is closed: no application is filed in it any more",
            trigger=rule.trigger, round_year=round_year, reasons=[Reason.ROUND_CLOSED])
    if round_row.kind != "recognition":
        raise TransitionRefused(
            f"round {round_year} is a 复核 round: applications for recognition are filed in "
            f"a recognition round", trigger=rule.trigger, round_year=round_year,
            reasons=[Reason.REVIEW_ROUND])
    case = Case(
        round_year=round_year, name=name, city=unit.city, county=unit.name,
        industry=industry, state=rule.dest, version=1, policy=round_row.policy,
        policy_version=round_row.policy_version, policy_digest=round_row.policy_digest,
        application=application, created_at=now, updated_at=now,
    )
    transaction.session.add(case)
    transaction.session.flush()
    assert case.id is not None
    transaction.record(
        actor=who, trigger=rule.trigger, article=rule.article, at=now, case_id=case.id,
        round_year=round_year, from_state=None, to_state=rule.dest,
        payload={"name": name, "county": unit.name, "industry": industry,
                 "application_sha256": audit.digest(application)},
    )
    return case.id


def _case_with_round() -> Any:
    return (
        select(Case, Round).join(Round, Round.year == Case.round_year, isouter=True)
        .where(Case.id == bindparam("case_id"))
        # a round's stored batches (a pick of up to thousands of ids) are read only by the
        # round acts, on access: never decoded again for each case act of the batch
        .options(defer(Round.publicity_pick), defer(Round.recognition_batch))  # type: ignore[arg-type]
        .with_for_update(of=Case)  # type: ignore[arg-type]
    )


#: The case with its round, one statement (the round's windows and quotas are what most guards
#: read); only the case row is locked.
_CASE_WITH_ROUND = _case_with_round()
_CASE_TABLE = Case.__table__  # type: ignore[attr-defined]
_UPDATE_CASE = update(_CASE_TABLE).where(_CASE_TABLE.c.id == bindparam("_case_id"),
                                         _CASE_TABLE.c.version == bindparam("_loaded_version"))


def _write_case(session: Session, case: Case) -> None:
    """Write what the act changed on the case as one prepared ``UPDATE … WHERE id = … AND
    version = <as loaded>`` — the statement the unit of work would emit, without its
    machinery — then detach the case, so that no later flush writes it again. A changed
    version (another writer) raises ``StaleDataError``, as the unit of work does."""
    from sqlalchemy import inspect as inspect_

    state = inspect_(case)
    changed = state.committed_state  # attribute -> value as loaded, for each changed one
    if changed:
        values = {key: state.dict[key] for key in changed}
        values["_case_id"] = case.id
        values["_loaded_version"] = changed.get("version", case.version)
        written = connection_of(session).execute(_UPDATE_CASE, values).rowcount
        if written != 1:
            raise StaleDataError(f"case {case.id} changed under this act")
    session.expunge(case)
