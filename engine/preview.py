"""``scheduler pending``: the due deadlines as a sweep would fire them, written nowhere.

A dry view of :mod:`gdcluster.engine.sweep`: the pending rows due by a time, in the order a sweep
fires them, each with what :func:`timers.plan` would decide for it now, with the case as the
rows before it in the view would have left it. One streamed query reads the due rows with the
case columns a decision reads (never the application), as the driver hands them back; what the
timers read beyond them is read for each batch of rows at once (:class:`BatchReads`).

Deadlines come in crowds (every case recognized together has its reports due at the same
instants), so :class:`Decisions` asks :func:`timers.plan` once for each distinct set of the
facts a decision reads (the kind, the case's state, the due time, the dates and look-ups the
kind reads) and answers the rows that share them from that: the same text, and the same move
of the case, as if each row had been planned on its own.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, type_coerce
from sqlalchemy.types import NullType

from gdcluster.engine import deadlines, timers
from gdcluster.engine.clock import as_utc, end_of_day, parse_instant
from gdcluster.engine.errors import EngineError
from gdcluster.engine.i18n import Message
from gdcluster.engine.models import Case, Deadline
from gdcluster.engine.prepared import Prepared
from gdcluster.engine.timers import SYSTEM
from gdcluster.states.workflow import PREVIOUS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.engine.kernel import Kernel


@dataclass(frozen=True, slots=True)
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
        """The row as ``scheduler pending --json`` prints it."""
        return {"id": self.id, "kind": self.kind, "key": self.key, "case_id": self.case_id,
                "round_year": self.round_year, "due_at": self.due_at, "action": self.action}


def _maker() -> Callable[..., PendingDeadline]:
    """``PendingDeadline(*values)`` without the frozen ``__init__``'s ``object.__setattr__``
    per field (a third of a listing's time on 100,000 rows): the slots set directly."""
    fields = ("id", "kind", "key", "case_id", "round_year", "due_at", "action")
    new = object.__new__
    (s_id, s_kind, s_key, s_case, s_round, s_due, s_action) = (
        getattr(PendingDeadline, name).__set__ for name in fields)

    def make(id: int, kind: str, key: str, case_id: int | None, round_year: int | None,
             due_at: datetime, action: str) -> PendingDeadline:
        row = new(PendingDeadline)
        s_id(row, id)
        s_kind(row, kind)
        s_key(row, key)
        s_case(row, case_id)
        s_round(row, round_year)
        s_due(row, due_at)
        s_action(row, action)
        return row

    return make


_listed = _maker()

#: Rows ``scheduler pending`` decides together: one set of look-ups (objections, reports) each.
PREVIEW_BATCH = 1000
#: The deadline table's columns, for the preview's query.
DEADLINE = Deadline.__table__.c  # type: ignore[attr-defined]
#: The case's columns a timer's decision reads (``engine/timers.py``), and the state a
#: move leaves it in (``previous_state``): nothing else of the case is read.
CASE_FIELDS = ("state", "policy", "policy_digest", "valid_until", "correction_due",
               "review_round", "review", "previous_state")
#: Read as the driver hands them back (text on SQLite), converted once per distinct value.
_RAW = frozenset({"valid_until", "correction_due", "review"})
_REPORT_KINDS = frozenset({deadlines.REPORT_DUE, deadlines.REPORT_REMINDER,
                           deadlines.REPORT_GRACE})
_VALIDITY_KINDS = frozenset({deadlines.VALIDITY_END, deadlines.EXPIRY_REMINDER})
_CORRECTION_KINDS = frozenset({deadlines.CORRECTION_DUE, deadlines.CORRECTION_REMINDER})


@cache
def _statement() -> Any:
    """The due rows with their cases' columns, in the order a sweep fires them."""
    case = Case.__table__.c  # type: ignore[attr-defined]

    def raw(column: Any) -> Any:
        return type_coerce(column, NullType())  # no conversion per row

    return Prepared(
        select(DEADLINE.id, DEADLINE.kind, DEADLINE.key, DEADLINE.case_id, DEADLINE.round_year,
               raw(DEADLINE.due_at),
               *(raw(case[name]) if name in _RAW else case[name] for name in CASE_FIELDS))
        .select_from(Deadline.__table__.outerjoin(  # type: ignore[attr-defined]
            Case.__table__, case.id == DEADLINE.case_id))  # type: ignore[attr-defined]
        .where(DEADLINE.status == "pending",
               DEADLINE.due_at <= bindparam("cutoff", type_=DEADLINE.due_at.type))
        .order_by(DEADLINE.due_at, DEADLINE.id))


def pending(kernel: Kernel, until: date | datetime | str | None = None, *,
            memo: bool = True) -> list[PendingDeadline]:
    """Pending deadlines due by ``until`` (a date means up to its 24:00; default: now).

    A dry view, in the order a sweep would fire them: each row says what a sweep would do
    (``action``) if it ran now, with the case as the rows before it in the view would have left
    it. A row that ends its case (a revocation) is the case's last: the deadlines it would
    cancel are not listed; one that moves it on (a publicity closed, a flag) is decided again
    for the case's later rows. Nothing is written.

    One streamed query reads the due rows with their cases (never the application); what
    :func:`timers.plan` reads beyond them is read for each batch of rows at once. Rows that
    share what their decision reads are planned once (``memo=False``: each row on its own).
    """
    cutoff = until_instant(until, kernel.clock.now())
    listed: list[PendingDeadline] = []
    with _collector_paused(), kernel.store.read() as session:
        connection = session.connection()
        decisions = Decisions(kernel, session, kernel.clock.now(), memo=memo)
        with _statement().batches(connection, {"cutoff": cutoff}, size=PREVIEW_BATCH) as found:
            for rows in found:
                decisions.batch(rows, listed)
    return listed


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while the rows are listed, then run as usual: what
    is listed holds no cycles, and the collector would otherwise walk the rows listed so far
    (and everything else the process holds) again and again as they accumulate, a tenth of
    a listing's time on 100,000 rows."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def until_instant(until: date | datetime | str | None, now: datetime) -> datetime:
    """The instant ``until`` names: ``now`` when absent, a date's 24:00, an instant as is."""
    if until is None:
        return now
    if isinstance(until, datetime):
        return as_utc(until)
    if isinstance(until, date):
        return end_of_day(until)
    text = str(until).strip()
    return end_of_day(date.fromisoformat(text)) if len(text) == 10 else parse_instant(text)


#: What a row decides: the action listed, and the trigger that moves its case (or None).
Decided = tuple[str, str | None]


class Decisions:
    """What a sweep would do with each due row, with the cases as the rows before it leave
    them: the state each act moves its case to (the workflow's row for the trigger, fired by
    ``system``), and the cases ended.

    A row's decision is :func:`timers.plan`'s, asked once for each distinct set of the facts
    it reads (``memo``; without it, every row is planned on its own): the kind, the case's
    state (as moved), the due time, and what the kind reads of the case and the look-ups —
    report year, report filed, the report's deadline, policy (reports); the validity's end
    and whether the row names it (validity); the correction deadline; the open objections.
    Other kinds (a hearing's end, a 复核 round's deadline) are planned row by row."""

    def __init__(self, kernel: Kernel, session: Session, now: datetime, *,
                 memo: bool = True) -> None:
        self.session = session
        self.now = now
        self.lifecycle = kernel.lifecycle
        self.shared = timers.Reads(session)  # the working-day calendar, read once
        connection = session.connection()
        case = Case.__table__.c  # type: ignore[attr-defined]
        self._due = _converter(connection, DEADLINE.due_at)
        self._date = _converter(connection, case.valid_until)
        self._json = _converter(connection, case.review)
        self.dues: dict[Any, datetime] = {}
        self.dates: dict[Any, date | None] = {None: None}
        self.memo: dict[tuple[Any, ...], Decided] | None = {} if memo else None
        self.moved: dict[int, str] = {}
        self.ended: set[int] = set()
        #: (trigger, state) → the state the system's row for it moves the case to
        self.dests: dict[tuple[str, str], str | None] = {}
        self.windows: dict[str, str] = {}

    def batch(self, rows: Sequence[Any], listed: list[PendingDeadline]) -> None:
        """Decide ``rows`` (one partition of the query, in order), appending to ``listed``."""
        reads = BatchReads(self.session, rows, self.shared)
        filed, report_dues, pairs = reads.filed, reads.due, reads.reports
        dues, dates, moved, ended = self.dues, self.dates, self.moved, self.ended
        memo = self.memo if self.memo is not None else {}
        remember = self.memo is not None
        base_key = deadlines.base_key
        reminder, publicity = deadlines.REPORT_REMINDER, deadlines.PUBLICITY_END
        append, make = listed.append, _listed
        for (deadline_id, kind, key, case_id, round_year, due_raw, state, policy, digest,
             until_raw, correction_raw, review_round, review, previous) in rows:
            due = dues.get(due_raw)
            if due is None:
                due = dues[due_raw] = as_utc(self._due(due_raw))
            if case_id is None:
                action = self.windows.get(kind) or self._window(kind)
            elif case_id in ended:
                continue
            elif state is None:
                action = Message("not applicable: no such case")
            else:
                state = moved.get(case_id, state)
                facts: tuple[Any, ...] | None
                if kind in _REPORT_KINDS:
                    pair = pairs[key]  # (case_id, the report's year)
                    facts = (kind, state, due_raw, pair[1], pair in filed,
                             report_dues.get(pair) if kind == reminder else None,
                             policy, digest)
                elif kind in _VALIDITY_KINDS:
                    until = dates.get(until_raw, _UNREAD)
                    if until is _UNREAD:
                        until = dates[until_raw] = self._date(until_raw)
                    facts = (kind, state, due_raw, until, until is not None and base_key(key)
                             == f"case:{case_id}:{kind}:{until.isoformat()}")
                elif kind in _CORRECTION_KINDS:
                    correction = dates.get(correction_raw, _UNREAD)
                    if correction is _UNREAD:
                        correction = dates[correction_raw] = self._date(correction_raw)
                    facts = (kind, state, due_raw, correction)
                elif kind == publicity:
                    facts = (kind, state, tuple(reads.open_objections(case_id)))
                else:
                    facts = None
                decided = memo.get(facts) if facts is not None else None
                if decided is None:
                    decided = self._plan(reads, row_values(
                        deadline_id, kind, key, case_id, round_year, due, state, policy, digest,
                        until_raw, correction_raw, review_round, review, previous))
                    if remember and facts is not None:
                        memo[facts] = decided
                action, trigger = decided
                if trigger is not None:
                    self._moves(case_id, state, previous, trigger)
            append(make(deadline_id, kind, key, case_id, round_year, due, action))

    def _plan(self, reads: timers.Reads, row: Any) -> Decided:
        """:func:`timers.plan` for one row, in a word or two, and the trigger it fires."""
        row.valid_until = self._date(row.valid_until)
        row.correction_due = self._date(row.correction_due)
        row.review = self._json(row.review)
        try:
            decided = timers.plan(self.session, row, row, max(self.now, row.due_at), reads)
        except EngineError as error:
            return Message("refused: {problem}", problem=error.as_message()), None
        return timers.describe(decided), decided.trigger

    def _window(self, kind: str) -> str:
        window = self.windows[kind] = Message(
            "close the round's {window} window",
            window=kind.removeprefix("round_").removesuffix("_close"))
        return window

    def _moves(self, case_id: int, state: str, previous: str | None, trigger: str) -> None:
        key = (trigger, state)
        if key not in self.dests:
            self.dests[key] = next(
                (PREVIOUS if rule.dest == PREVIOUS else rule.dest_from(state)
                 for rule in self.lifecycle.workflow.rules
                 if rule.trigger == trigger and state in rule.sources
                 and SYSTEM.kind in rule.actors), None)
        dest = self.dests[key]
        if dest == PREVIOUS:
            dest = previous
        if dest in self.lifecycle.ends:
            self.ended.add(case_id)
            self.moved.pop(case_id, None)
        elif dest is not None:
            self.moved[case_id] = dest


#: Not yet in a cache of converted values (``None`` is a value).
_UNREAD: Any = object()


def row_values(deadline_id: int, kind: str, key: str, case_id: int, round_year: int | None,
               due_at: datetime, state: str, policy: str, policy_digest: str | None,
               valid_until: Any, correction_due: Any, review_round: int | None, review: Any,
               previous_state: str | None) -> SimpleNamespace:
    """One due row read as the deadline (``kind``, ``key``, ``due_at``) and as its case
    (``id``, ``state``…), for :func:`timers.plan`; the case's dates and review as stored."""
    return SimpleNamespace(
        deadline_id=deadline_id, kind=kind, key=key, case_id=case_id, round_year=round_year,
        due_at=due_at, id=case_id, state=state, policy=policy, policy_digest=policy_digest,
        valid_until=valid_until, correction_due=correction_due, review_round=review_round,
        review=review, previous_state=previous_state)


class BatchReads(timers.Reads):
    """:class:`timers.Reads` answered for a batch of due rows (as :func:`_statement` reads
    them) from three queries in all: the open objections of its cases in publicity, the
    annual reports of its cases, the due times of the reports its reminders announce."""

    def __init__(self, session: Session, rows: Sequence[Any],
                 shared: timers.Reads | None = None) -> None:
        super().__init__(session)
        self._shared = shared
        publicity: set[int] = set()
        reporting: set[int] = set()
        #: each reminder's report deadline by its key: (case, year)
        keys: dict[str, tuple[int, int | None]] = {}
        #: each report row's (case, report year), by the row's key (``deadlines.key_year``)
        self.reports: dict[str, tuple[int, int | None]] = {}
        pairs, key_year, reminder = self.reports, deadlines.key_year, deadlines.REPORT_REMINDER
        for row in rows:
            kind = row[1]
            if kind in _REPORT_KINDS:
                key, case_id = row[2], row[3]
                reporting.add(case_id)
                pair = pairs[key] = (case_id, key_year(key))
                if kind == reminder:
                    keys[f"case:{case_id}:report:{pair[1]}"] = pair  # case_key
            elif kind == deadlines.PUBLICITY_END:
                publicity.add(row[3])
        self.objections: dict[int, list[int]] = {}
        self.filed: set[tuple[int, int]] = set()
        self.due: dict[tuple[int, int | None], Any] = {}
        connection = session.connection()
        if publicity:
            for case_id, objection_id in _among(
                    connection, "SELECT case_id, id FROM gd_objection WHERE status = 'open' "
                    "AND case_id IN ({}) ORDER BY id", sorted(publicity)):
                self.objections.setdefault(case_id, []).append(objection_id)
        if reporting:
            self.filed = {(case_id, year) for case_id, year in _among(
                connection, "SELECT case_id, year FROM gd_annual_report WHERE case_id IN ({})",
                sorted(reporting))}
        if keys:
            convert = _converter(connection, DEADLINE.due_at)
            self.due = {keys[key]: convert(due_at) for key, due_at in _among(
                connection, "SELECT key, due_at FROM gd_deadline WHERE key IN ({})",
                sorted(keys))}

    def calendar(self) -> WorkCalendar:
        """The calendar of ``shared`` (read once for the whole preview), else this batch's."""
        return self._shared.calendar() if self._shared is not None else super().calendar()

    def open_objections(self, case_id: int) -> list[int]:
        return self.objections.get(case_id, [])

    def report_filed(self, case_id: int, year: int) -> bool:
        return (case_id, year) in self.filed

    def report_due(self, case_id: int, year: int | None) -> datetime | None:
        return self.due.get((case_id, year))


def _among(connection: Any, sql: str, values: list[Any]) -> Any:
    """``sql`` with its ``IN ({})`` filled with one placeholder per value, sent as it is: a
    statement compiled for a thousand bound values costs more than the look-ups it makes."""
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    return connection.exec_driver_sql(sql.format(", ".join([mark] * len(values))),
                                      tuple(values))


def _converter(connection: Any, column: Any) -> Callable[[Any], Any]:
    """What SQLAlchemy makes of a value of ``column`` the driver hands back (a
    ``gd_deadline.due_at`` as aware UTC, a date, the JSON decoded); ``None`` stays ``None``."""
    process = column.type.dialect_impl(connection.dialect).result_processor(
        connection.dialect, None)
    return process if process is not None else (lambda value: value)
