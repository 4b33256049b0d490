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
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import bindparam, update

from gdcluster.engine import audit, case_rows, deadlines
from gdcluster.engine.actors import Actor
from gdcluster.engine.acts import Act
from gdcluster.engine.case_rows import CaseRow, RoundRow
from gdcluster.engine.case_tables import CASE, DEADLINE
from gdcluster.engine.clock import SHANGHAI, Clock, as_utc, in_shanghai, is_system_clock
from gdcluster.engine.coverage import case_snapshot, probing_insert, seal
from gdcluster.engine.errors import (
    ClockBehind,
    ConcurrentModification,
    EngineError,
    NotFound,
    PermissionDenied,
    SimulationOnly,
    TransitionRefused,
)
from gdcluster.engine.i18n import Message
from gdcluster.engine.i18n import gettext as _
from gdcluster.engine.lifecycle import Lifecycle
from gdcluster.engine.ormless import CaseChanged, stale_errors
from gdcluster.engine.parse import as_case_id
from gdcluster.engine.prepared import Prepared
from gdcluster.engine.store import Store, connection_of, joined_session
from gdcluster.engine.views import CaseView, case_view
from gdcluster.states.workflow import PREVIOUS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.engine.models import Case

__all__ = ["Kernel", "Transaction", "TransitionEvent", "acting"]

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
    #: The hash of the row before the act's (row ``audit_seq - 1``): the chain as the act found
    #: it, which the act's notices print as their anchor.
    prev_hash: str | None = None

    def __init__(self, case_id: int | None, round_year: int | None, trigger: str,
                 from_state: str | None, to_state: str | None, actor: str, at: datetime,
                 reason: str | None, payload: dict[str, Any], audit_seq: int,
                 prev_hash: str | None = None) -> None:
        # one update, not an object.__setattr__ per field; ``at``, payload at +08:00 (DESIGN §3)
        self.__dict__.update(case_id=case_id, round_year=round_year, trigger=trigger,
                             from_state=from_state, to_state=to_state, actor=actor,
                             at=as_utc(at).astimezone(SHANGHAI), reason=reason,
                             payload=in_shanghai(payload), audit_seq=audit_seq, prev_hash=prev_hash)


class Transaction:
    """An open write transaction of the kernel. What it records is published once it commits.

    It holds a connection; an ORM session on it is made only when something asks for one
    (:attr:`session`: the effects and guards that work with model objects, the transaction
    hooks, the sweep), and flushed before the transaction is sealed. An act on the table's
    hot path (``Kernel.act``: its case and round as rows, prepared statements) makes none.
    """

    def __init__(self, connection: Any,
                 hooks: list[Callable[[Session, TransitionEvent], None]]) -> None:
        self.connection = connection
        self._session: Session | None = None
        self.events: list[TransitionEvent] = []
        self._hooks = hooks
        self._last: audit.Appended | None = None
        #: The act's audit row is the transaction's last write (``Kernel.act``, which only
        #: reads after it): its insert also asks whether records wait to be vouched for, and
        #: the answer (:attr:`_unvouched`) seals the transaction without another statement.
        self.probe = False
        self._unvouched: tuple[Any, ...] | None = None
        #: cases on which this transaction holds a due deadline: only there may ``system`` act
        self._timer_cases: set[int] = set()

    @property
    def session(self) -> Session:
        """An ORM session in this transaction (on its connection), made when first asked."""
        if self._session is None:
            self._session = joined_session(self.connection, expire_on_commit=False)
        return self._session

    def executor(self) -> Any:
        """Where a record is written: the session when there is one (flushed first, so that
        locks are taken in order), else the connection."""
        return self._session if self._session is not None else self.connection

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def claim_deadline(self, deadline_id: int, at: datetime, *,
                       result: str | None = None) -> bool:
        """``pending → fired`` for a deadline due at ``at``, conditionally: exactly one process
        wins. Winning is the one capability to act as ``system`` on the deadline's case in this
        transaction (DESIGN §8a): the timers act only on a due deadline they hold, and no
        caller gets the scheduler's authority by naming it. ``result``: the deadline's outcome,
        written by the same statement (the sweep decides it before it claims)."""
        values = {"claim_id": deadline_id, "claim_at": at}
        if result is not None:
            values["claim_result"] = result[:4000]
        won = _claim(result is not None).first(self.connection, values)
        if won is not None and won[0] is not None:
            self._timer_cases.add(won[0])
        return won is not None

    def record(
        self, *, actor: Actor, trigger: str, article: str, at: datetime,
        case_id: int | None = None, round_year: int | None = None,
        from_state: str | None = None, to_state: str | None = None, reason: str | None = None,
        payload: dict[str, Any] | None = None, case: Case | CaseRow | None = None,
        round_row: RoundRow | None = None,
    ) -> TransitionEvent:
        """Append the act's audit row and run the transaction hooks (inside the transaction:
        a hook that raises aborts the act). ``case``: the case as the act left it, which the
        row records (``audit verify`` replays cases from these). A ``CaseRow`` (the act read
        and wrote it as a row) and ``round_row`` (its round as the act read it) are what the
        hooks read of them (:func:`acting`), instead of reading them again."""
        payload = payload or {}
        who = str(actor)
        entry = audit.append(
            self.executor(), actor=who, trigger=trigger, article=article, at=at,
            case_id=case_id, round_year=round_year, from_state=from_state, to_state=to_state,
            reason=reason, payload=payload,
            attest={"case": case_snapshot(case)} if case is not None else None,
            probe=probing_insert if self.probe else None,
        )
        self._last = entry
        self._unvouched = entry.unvouched
        event = TransitionEvent(case_id, round_year, trigger, from_state, to_state, who, at,
                                reason, payload, entry.seq, entry.prev_hash)
        hooks = [hook for hook in self._hooks
                 if trigger in getattr(hook, "triggers", (trigger,))] if self._hooks else None
        if hooks:
            self._unvouched = None  # the hooks may write records after the row
            session = self.session
            session.info[_ACTING] = _acting_rows(case, round_row)
            try:
                for hook in hooks:
                    hook(session, event)
            finally:
                session.info.pop(_ACTING, None)
        self.events.append(event)
        return event

    def record_many(self, rows: list[dict[str, Any]]) -> list[TransitionEvent]:
        """:meth:`record` for several acts of one transaction (a batch of new cases), in
        order: their audit rows appended by one statement (``audit.append_many``), then the
        hooks for each act. Each of ``rows`` has :meth:`record`'s keyword arguments."""
        entries = audit.append_many(self.session, [
            {**{key: value for key, value in row.items() if key != "case"},
             "actor": str(row["actor"]),
             "attest": {"case": case_snapshot(row["case"])} if row.get("case") is not None
             else None}
            for row in rows])
        if entries:
            self._last = entries[-1]
            self._unvouched = None
        events = []
        for row, entry in zip(rows, entries, strict=True):
            event = TransitionEvent(
                row.get("case_id"), row.get("round_year"), row["trigger"],
                row.get("from_state"), row.get("to_state"), str(row["actor"]), row["at"],
                row.get("reason"), dict(row.get("payload") or {}), entry.seq,
                entry.prev_hash)
            for hook in list(self._hooks):
                if event.trigger in getattr(hook, "triggers", (event.trigger,)):
                    hook(self.session, event)
            events.append(event)
        self.events.extend(events)
        return events

    def seal(self) -> None:
        """Before the commit: the transaction's last audit row vouches for the records not yet
        vouched for (its notices and deadline outcomes, and refusals, renderings and closings
        made outside an act since): ``gdcluster.engine.coverage``."""
        unvouched = self._unvouched
        if self._session is not None:
            if self._session.new or self._session.dirty or self._session.deleted:
                unvouched = None  # written after the audit row: ask again
            self._session.flush()
        if self._last is not None:
            self._last = seal(self.connection, self._last, unvouched)


_ACTING = "gdcluster.acting"


def _acting_rows(case: Any, round_row: RoundRow | None) -> dict[tuple[str, Any], Any]:
    acting: dict[tuple[str, Any], Any] = {}
    if isinstance(case, CaseRow):
        acting["case", case.id] = case
        if round_row is not None and round_row.year == case.round_year:
            acting["round", round_row.year] = round_row
    return acting


def acting(session: Session, what: str, key: Any) -> Any:
    """Inside a transaction hook: the act's case (``what`` "case", ``key`` its id) as the act
    left it, or its round (``"round"``, its year) as the act read it, when the act handed
    them to :meth:`Transaction.record` as rows; else None (read them)."""
    found = session.info.get(_ACTING)
    return found.get((what, key)) if found else None


@dataclass(frozen=True)
class _Only:
    """A transaction hook run only after the acts ``triggers``."""

    hook: Callable[[Session, TransitionEvent], None]
    triggers: frozenset[str]

    def __call__(self, session: Session, event: TransitionEvent) -> None:
        self.hook(session, event)


class _Transacting:
    """:meth:`Kernel.transaction`, a class rather than a generator: every act enters it."""

    __slots__ = ("_kernel", "_outer", "_transaction")

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def __enter__(self) -> Transaction:
        outer = self._outer = self._kernel.store.write_connection()
        transaction = self._transaction = Transaction(None, self._kernel._hooks)
        transaction.connection = outer.__enter__()
        return transaction

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
        transaction, outer = self._transaction, self._outer
        try:
            try:
                if kind is None:
                    transaction.seal()
            finally:
                transaction.close()
        except BaseException as exc:  # the store rolls back, and says what it means
            if not outer.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:  # commits, or rolls back
            if not outer.__exit__(kind, error, traceback) and kind is not None:
                return False
        self._kernel._emit(transaction.events)
        return kind is not None


class Kernel:
    """The one path of every act: see the module's docstring."""

    def __init__(self, store: Store, clock: Clock, *, simulation: bool,
                 lifecycle: Lifecycle) -> None:
        # only the system clock dates acts on a real database, whoever builds the kernel
        real = not simulation or store.meta("simulation") != "true"
        if real and not is_system_clock(clock):
            raise SimulationOnly(store.url)
        self.store = store
        self._clock = clock
        self._simulation = not real
        self.lifecycle = lifecycle
        self._subscribers: list[Callable[[TransitionEvent], None]] = []
        self._hooks: list[Callable[[Session, TransitionEvent], None]] = []
        self._batch_checks: list[Callable[[str, int], None]] = []
        self._held: list[Callable[[], None]] = []
        self._holding = threading.local()  # per thread: another thread's acts are not held

    @property
    def clock(self) -> Clock:
        """The clock every act is dated by: set at opening, never swapped."""
        return self._clock

    @property
    def simulation(self) -> bool:
        """A simulation database: its clock may be set."""
        return self._simulation

    # ------------------------------------------------------------------ listeners
    def subscribe(self, callback: Callable[[TransitionEvent], None]) -> Callable[[], None]:
        """Call ``callback`` after each committed act; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def on_transaction(self, hook: Callable[[Session, TransitionEvent], None], *,
                       triggers: Iterable[str] | None = None) -> Callable[[], None]:
        """Run ``hook(session, event)`` inside each act's transaction, after its audit row
        (only after the acts ``triggers`` when given: the others make no session for it)."""
        if triggers is not None:
            hook = _Only(hook, frozenset(triggers))
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook)

    def before_batch(self, check: Callable[[str, int], None]) -> Callable[[], None]:
        """Run ``check(trigger, year)`` before a round batch writes anything; returns a
        function that removes the check."""
        self._batch_checks.append(check)
        return lambda: self._batch_checks.remove(check)

    def after_held(self, flush: Callable[[], None]) -> Callable[[], None]:
        """Call ``flush()`` in the thread whose :meth:`holding_deliveries` block ends; returns
        a remover."""
        self._held.append(flush)
        return lambda: self._held.remove(flush)

    @property
    def holding(self) -> bool:
        """This thread is inside :meth:`holding_deliveries`: a subscriber may keep its
        after-commit work (outbox files, e-mails) for the ``after_held`` flush, which comes
        when the block ends."""
        return getattr(self._holding, "depth", 0) > 0

    @contextmanager
    def holding_deliveries(self) -> Iterator[None]:
        """A run of acts of this thread (a sweep's batch of deadlines), each still its own
        transaction, whose subscribers' after-commit work is done once, together, when the
        block ends."""
        depth = getattr(self._holding, "depth", 0)
        self._holding.depth = depth + 1
        try:
            yield
        finally:
            self._holding.depth = depth
            if not depth:
                for flush in list(self._held):
                    try:
                        flush()
                    except Exception:  # a listener never undoes a committed act
                        log.exception("held work %r failed", flush)

    def check_batch(self, who: Actor, trigger: str, year: int) -> None:
        """Run the batch checks for the round act ``trigger`` of round ``year``: a check that
        refuses (``TransitionRefused``) is recorded with the refused attempts, and raised."""
        try:
            for check in list(self._batch_checks):
                check(trigger, year)
        except TransitionRefused as refusal:
            self.record_refusal(who, trigger, refusal, round_year=year)
            raise

    def transaction(self) -> AbstractContextManager[Transaction]:
        """One write transaction; the acts recorded in it are published after it commits (and
        never, if it rolls back)."""
        return _Transacting(self)

    def _emit(self, events: Iterable[TransitionEvent]) -> None:
        for event in events:
            for callback in list(self._subscribers):
                try:
                    callback(event)
                except Exception:  # a listener never undoes a committed act
                    log.exception(_("subscriber %r failed on %s"), callback, event.trigger)

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
                if not is_system_clock(self.clock) or attempt == _CLOCK_RETRIES:
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
                    transaction.probe = True  # after the act's audit row, only reads
                    lock_round = (trigger in self.lifecycle.locking_round
                                  and transaction.connection.dialect.name != "sqlite")
                    found = case_rows.load(
                        transaction.connection, case_id,
                        application=trigger in self.lifecycle.reading_application,
                        parts=view, lock_round=lock_round)
                    if found is None:
                        raise NotFound("case", case_id)
                    case, round_row, application, parts = found
                    if expected_version is not None and case.version != expected_version:
                        raise ConcurrentModification(case_id, expected_version)
                    self.transition(transaction, case, trigger, who, payload, now,
                                    calendar=calendar, round_row=round_row,
                                    application=application, round_locked=lock_round)
                    if not view:
                        return None
                    # deadlines, objections and reports are written through the session: an
                    # act that made none left the case's parts as it loaded them
                    return case_view(transaction.executor(), case,
                                     parts if transaction._session is None else None)
            except stale_errors() as exc:
                raise ConcurrentModification(case_id, expected_version) from exc
        except (TransitionRefused, PermissionDenied) as error:
            if record_refusal and not (isinstance(error, ClockBehind)
                                       and is_system_clock(self.clock)):
                self.record_refusal(who, trigger, error, case_id=case_id)
            raise

    def transition(
        self, transaction: Transaction, case: Case | CaseRow, trigger: str, who: Actor,
        payload: dict[str, Any], now: datetime, *,
        calendar: WorkCalendar | Callable[[], WorkCalendar] | None = None,
        round_row: RoundRow | None = None, application: str | None = None,
        round_locked: bool = False,
    ) -> TransitionEvent:
        """The act itself, inside ``transaction``, on a case the caller has locked first.

        The Machine decides the row and moves the case; a state that remembers records the
        state the case came from, and a row back to that state clears it; then the case is
        written, a final or closed state settles the case's pending deadlines, and the audit
        row is recorded. ``calendar``: the working-day calendar, or a function that reads it
        when the act first counts working days (default: read in the transaction then).
        """
        if who.kind == "system" and case.id not in transaction._timer_cases:
            raise PermissionDenied(
                Message("system acts only for a due deadline the scheduler holds; {trigger} on "
                        "case {id} is not one", trigger=trigger, id=case.id),
                actor=str(who), trigger=trigger)
        act = Act(transaction=transaction, case=cast("Case", case),  # a CaseRow reads alike
                  trigger=trigger, actor=who,
                  payload=payload, now=now,
                  calendar=self._calendar(transaction) if calendar is None
                  else calendar if callable(calendar) else lambda: calendar,
                  loaded_round=round_row, round_locked=round_locked,
                  stored_application=application)
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
        _write_case(transaction, case)  # before settle, whose flush would write it too
        if case.state in self.lifecycle.ends and case.state != from_state:
            deadlines.settle(transaction.session, now=now, result=f"case {case.state}",
                             status="cancelled", case_id=case.id)
        return transaction.record(
            actor=who, trigger=trigger, article=rule.article, at=now, case_id=case.id,
            round_year=case.round_year, from_state=from_state, to_state=case.state,
            reason=act.reason, payload=act.audit, case=case, round_row=act.loaded_round,
        )

    # ------------------------------------------------------------------ refusals
    def require(self, who: Actor, kinds: tuple[str, ...], trigger: str, what: str, *,
                round_year: int | None = None) -> None:
        """Acts outside the transition table (round and calendar acts) name who may do them;
        anyone else is refused, and the refusal is recorded like any other."""
        if who.kind in kinds:
            return
        error = PermissionDenied(
            Message("{who} may not {what}; only the {kinds} does", who=who, what=what,
                    kinds=" or ".join(kinds)), actor=str(who),
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
            log.exception(_("could not record the refusal of %s by %s"), trigger, actor)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _calendar(transaction: Transaction) -> Callable[[], WorkCalendar]:
        """The calendar in force, read when an act first counts working days."""
        loaded: list[WorkCalendar] = []

        def load() -> WorkCalendar:
            if not loaded:
                from gdcluster.engine.calendar import calendar_from_session

                loaded.append(calendar_from_session(transaction.session))
            return loaded[0]

        return load


@cache
def _claim(with_result: bool) -> Prepared:
    """``Transaction.claim_deadline``'s statement: without the deadline's result, and with
    it (built when a timer first claims, not by every act)."""
    return Prepared(
        update(DEADLINE)
        .where(DEADLINE.c.id == bindparam("claim_id"), DEADLINE.c.status == "pending",
               DEADLINE.c.due_at <= bindparam("claim_at"))
        .values(status="fired", fired_at=bindparam("claim_at"),
                **({"result": bindparam("claim_result")} if with_result else {}))
        .returning(DEADLINE.c.case_id))


@cache
def _update_case() -> Any:
    return update(CASE).where(CASE.c.id == bindparam("_case_id"),
                              CASE.c.version == bindparam("_loaded_version"))


def _write_case(transaction: Transaction, case: Case | CaseRow) -> None:
    """Write what the act changed as one prepared ``UPDATE … WHERE id = … AND version = <as
    loaded>`` (the unit of work's statement, without its machinery), then detach the case so
    no later flush writes it again; another writer's version raises ``CaseChanged`` (as the
    unit of work's ``StaleDataError``). A ``CaseRow`` is written by ``case_rows.write``."""
    if isinstance(case, CaseRow):
        case_rows.write(transaction.connection, case)
        return
    from sqlalchemy import inspect as inspect_

    session = transaction.session

    state = inspect_(case)
    changed = state.committed_state  # attribute -> value as loaded, for each changed one
    if changed:
        values = {key: state.dict[key] for key in changed}
        values["_case_id"] = case.id
        values["_loaded_version"] = changed.get("version", case.version)
        written = connection_of(session).execute(_update_case(), values).rowcount
        if written != 1:
            raise CaseChanged(f"case {case.id} changed under this act")
    session.expunge(case)
