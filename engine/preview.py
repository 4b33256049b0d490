"""``scheduler pending``: the due deadlines as a sweep would fire them, written nowhere.

A dry view of :mod:`gdcluster.engine.sweep`: the pending rows due by a time, in the order a sweep
fires them, each with what :func:`timers.plan` would decide for it now, with the case as the
rows before it in the view would have left it. One streamed query reads the due rows with their
cases (never the application); what the timers read beyond them is read for each batch of rows
at once (:class:`BatchReads`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gdcluster.engine import deadlines, timers
from gdcluster.engine.clock import as_utc, end_of_day, parse_instant
from gdcluster.engine.errors import EngineError
from gdcluster.engine.i18n import Message
from gdcluster.engine.models import Case, Deadline
from gdcluster.engine.timers import SYSTEM
from gdcluster.states.workflow import PREVIOUS

if TYPE_CHECKING:
    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.engine.kernel import Kernel


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
        """The row as ``scheduler pending --json`` prints it."""
        return {"id": self.id, "kind": self.kind, "key": self.key, "case_id": self.case_id,
                "round_year": self.round_year, "due_at": self.due_at, "action": self.action}


#: Rows ``scheduler pending`` decides together: one set of look-ups (objections, reports) each.
PREVIEW_BATCH = 1000
#: The deadline table's columns, for the preview's query.
DEADLINE = Deadline.__table__.c  # type: ignore[attr-defined]
#: The case's columns a timer's decision reads (``engine/timers.py``), and the state a
#: move leaves it in (``previous_state``): nothing else of the case is read.
CASE_FIELDS = ("id", "state", "policy", "policy_digest", "valid_until", "correction_due",
               "review_round", "review", "previous_state")
CASE_COLUMNS = tuple(Case.__table__.c[name] for name in CASE_FIELDS)  # type: ignore[attr-defined]
def pending(kernel: Kernel, until: date | datetime | str | None = None) -> list[PendingDeadline]:
    """Pending deadlines due by ``until`` (a date means up to its 24:00; default: now).

    A dry view, in the order a sweep would fire them: each row says what a sweep would do
    (``action``) if it ran now, with the case as the rows before it in the view would have left
    it. A row that ends its case (a revocation) is the case's last: the deadlines it would
    cancel are not listed; one that moves it on (a publicity closed, a flag) is decided again
    for the case's later rows. Nothing is written.

    One streamed query reads the due rows with their cases (never the application); what
    :func:`timers.plan` reads beyond them is read for each batch of rows at once.
    """
    cutoff = until_instant(until, kernel.clock.now())
    now = kernel.clock.now()
    preview = Preview(kernel)
    listed: list[PendingDeadline] = []
    statement = (
        # the deadline's id as ``deadline_id``, the case's columns by their own names: each
        # row reads as the case (``row.state``) as well as the deadline (``row.kind``)
        select(DEADLINE.id.label("deadline_id"), DEADLINE.kind, DEADLINE.key,
               DEADLINE.case_id, DEADLINE.round_year, DEADLINE.due_at, *CASE_COLUMNS)
        .select_from(Deadline.__table__.outerjoin(  # type: ignore[attr-defined]
            Case.__table__, Case.__table__.c.id == DEADLINE.case_id))  # type: ignore[attr-defined]
        .where(DEADLINE.status == "pending", DEADLINE.due_at <= cutoff)
        .order_by(DEADLINE.due_at, DEADLINE.id)
        .execution_options(yield_per=PREVIEW_BATCH))
    with kernel.store.read() as session:
        # Core rows, not the ORM's: nothing here is an entity
        shared = timers.Reads(session)  # the working-day calendar, read once for all rows
        for rows in session.connection().execute(statement).partitions():
            reads = BatchReads(session, rows, shared)
            action = preview.action
            for row in rows:
                decided = action(session, reads, row, now)
                if decided is not None:
                    listed.append(PendingDeadline(
                        id=row.deadline_id, kind=row.kind, key=row.key, case_id=row.case_id,
                        round_year=row.round_year, due_at=as_utc(row.due_at), action=decided))
    return listed


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


class Preview:
    """The cases as the rows listed so far would leave them: the state each act moves its case
    to (the workflow's row for the trigger, fired by ``system``), and the cases ended."""

    def __init__(self, kernel: Kernel) -> None:
        self.lifecycle = kernel.lifecycle
        self.moved: dict[int, SimpleNamespace] = {}
        self.ended: set[int] = set()
        #: (trigger, state) → the state the system's row for it moves the case to
        self.dests: dict[tuple[str, str], str | None] = {}

    def action(self, session: Session, reads: timers.Reads, row: Any,
               now: datetime) -> str | None:
        """What a sweep would do with ``row``; ``None`` when an earlier row ends its case."""
        if row.case_id is None:
            return Message("close the round's {window} window",
                           window=row.kind.removeprefix("round_").removesuffix("_close"))
        if row.case_id in self.ended:
            return None
        if row.state is None:
            return Message("not applicable: no such case")
        case: Any = self.moved.get(row.case_id) or row
        try:
            decided = timers.plan(session, row, case, max(now, as_utc(row.due_at)), reads)
        except EngineError as error:
            return Message("refused: {problem}", problem=error.as_message())
        if decided.trigger is not None:
            self._moves(case, decided.trigger)
        return timers.describe(decided)

    def _moves(self, case: Any, trigger: str) -> None:
        key = (trigger, case.state)
        if key not in self.dests:
            self.dests[key] = next(
                (PREVIOUS if rule.dest == PREVIOUS else rule.dest_from(case.state)
                 for rule in self.lifecycle.workflow.rules
                 if rule.trigger == trigger and case.state in rule.sources
                 and SYSTEM.kind in rule.actors), None)
        dest = self.dests[key]
        if dest == PREVIOUS:
            dest = case.previous_state
        if dest in self.lifecycle.ends:
            self.ended.add(case.id)
            self.moved.pop(case.id, None)
        elif dest is not None:
            columns = (vars(case) if isinstance(case, SimpleNamespace)
                       else {name: getattr(case, name) for name in CASE_FIELDS})
            self.moved[case.id] = SimpleNamespace(**{**columns, "state": dest})


class BatchReads(timers.Reads):
    """:class:`timers.Reads` answered for a batch of due rows from three queries in all: the
    open objections of its cases in publicity, the annual reports of its cases, the due times
    of the reports its reminders announce."""

    def __init__(self, session: Session, rows: Sequence[Any],
                 shared: timers.Reads | None = None) -> None:
        super().__init__(session)
        self._shared = shared
        publicity = {row.case_id for row in rows if row.kind == deadlines.PUBLICITY_END}
        reports = {row.case_id for row in rows
                   if row.kind in (deadlines.REPORT_DUE, deadlines.REPORT_REMINDER,
                                   deadlines.REPORT_GRACE)}
        #: each reminder's report deadline by its key: (case, year)
        keys = {deadlines.case_key(case_id, "report", year): (case_id, year)
                for case_id, year in {(row.case_id, timers.key_year(row.key))
                                      for row in rows if row.kind == deadlines.REPORT_REMINDER}}
        self.objections: dict[int, list[int]] = {}
        self.filed: set[tuple[int, int]] = set()
        self.due: dict[tuple[int, int | None], Any] = {}
        connection = session.connection()
        if publicity:
            for case_id, objection_id in _among(
                    connection, "SELECT case_id, id FROM gd_objection WHERE status = 'open' "
                    "AND case_id IN ({}) ORDER BY id", sorted(publicity)):
                self.objections.setdefault(case_id, []).append(objection_id)
        if reports:
            self.filed = {(case_id, year) for case_id, year in _among(
                connection, "SELECT case_id, year FROM gd_annual_report WHERE case_id IN ({})",
                sorted(reports))}
        if keys:
            convert = _due_at(connection)
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


def _due_at(connection: Any) -> Any:
    """What SQLAlchemy makes of a ``gd_deadline.due_at`` the driver hands back (aware UTC)."""
    process = DEADLINE.due_at.type.dialect_impl(connection.dialect).result_processor(
        connection.dialect, None)
    return process if process is not None else (lambda value: value)
