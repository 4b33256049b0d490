"""What waits for an administrator (``gdcluster todo``): acts, objections, deadlines.

The list is derived, not kept: nothing is written, and each section is one streamed query.

- **acts**: cases whose state is the source of a row of ``states/workflow.toml`` that the
  actor's role fires and that moves the case on. A row counts when it is not a correction,
  not shared with the ``system`` (the timer does those), and its destination is neither
  "=" (an act that leaves the case where it is) nor a final or closed state (rejections,
  withdrawals end a case; they are choices, not work waiting). The states come from the
  workflow, so a state added there shows up here without a change. A city sees the cases of
  its counties, a county its own, the province all (filtered by ``city``/``county``).
- **objections** (province): publicized cases with an objection still open.
- **deadlines**: pending deadline rows of the kinds in ``DEADLINE_TODOS`` for the actor's
  role, due within ``within`` days (overdue ones first, then by due time).
- **awaiting**: deadlines that have passed while the case still waits in a state that needs a
  decision (a hearing period ended, the decision not yet taken): rows of ``DEADLINE_TODOS``
  with ``after`` states.

To show a new deadline kind, add a ``DeadlineTodo`` line; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, label, or_, select, true
from sqlmodel import col

from gdcluster.engine.actors import Actor
from gdcluster.engine.clock import end_of_day, local_date
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.engine.models import Case, Deadline, Objection, round_kind_of
from gdcluster.engine.store import Store
from gdcluster.engine.views import iso
from gdcluster.states.workflow import Rule, Workflow, load_workflow

__all__ = ["DEADLINE_TODOS", "DeadlineTodo", "Todo", "TodoList", "todo", "waiting_rules"]

ROLES = ("province", "city", "county")
SAME = "="
#: the farthest a to-do list looks ahead, in days (ten years)
MAX_DAYS = 3660


@dataclass(frozen=True)
class DeadlineTodo:
    """A deadline kind as a to-do: who sees it and what it asks of them.

    ``roles``: the actor kinds it is shown to (a city sees its counties' rows, the province
    every row). ``after``: when given, the row is shown once it has passed, while its case is
    still in one of these states (a decision awaited), instead of while it is pending.
    """

    kind: str
    roles: tuple[str, ...]
    text: str
    after: tuple[str, ...] = ()


#: Deadline kinds → to-do text. Reminders and the timer's own deadlines (the publicity end)
#: are nobody's work and are left out. hearing_end and report_grace are the 拟撤销 procedure's
#: kinds, review_apply_due and round_review_check_close those of 复核 rounds.
DEADLINE_TODOS: tuple[DeadlineTodo, ...] = (
    DeadlineTodo("correction_due", ("county", "city"), "退回补正：补正后重新提交申报"),
    DeadlineTodo("report_due", ("county", "city"), "报送集群年度培育情况信息表"),
    DeadlineTodo("report_grace", ("county", "city"), "催报宽限期：补报年度培育情况信息表"),
    DeadlineTodo("validity_end", ("county", "city"), "有效期届满：申请复核"),
    DeadlineTodo("review_apply_due", ("county", "city"), "复核申报截止"),
    DeadlineTodo("round_apply_close", ("county",), "申报截止"),
    DeadlineTodo("round_recommend_close", ("city",), "推荐截止"),
    DeadlineTodo("round_review_check_close", ("city",), "复核初审截止"),
    DeadlineTodo("hearing_end", ("province",), "陈述申辩期已满：作出撤销或维持认定决定",
                 after=("revocation_proposed",)),
)


@dataclass(frozen=True)
class Todo:
    """One line of the list: a case (or a round) and what it waits for."""

    section: str
    case_id: int | None
    round: int | None
    name: str | None
    city: str | None
    county: str | None
    state: str | None
    what: str
    #: the CLI command that does it (``case review 12``), when there is one
    command: str | None = None
    due_at: datetime | None = None
    overdue: bool = False
    kind: str | None = None
    triggers: list[str] = field(default_factory=list)
    objection: int | None = None
    #: which round of its year ``round`` is: "review" for a 复核 round's deadline (then
    #: ``round`` is the 复核 round's year, also on a case's line), else "recognition"
    round_kind: str = "recognition"

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "case_id": self.case_id, "round": self.round,
                "round_kind": self.round_kind,
                "name": self.name, "city": self.city, "county": self.county,
                "state": self.state, "what": self.what, "command": self.command,
                "due_at": iso(self.due_at), "overdue": self.overdue, "kind": self.kind,
                "triggers": list(self.triggers), "objection": self.objection}


@dataclass(frozen=True)
class TodoList:
    """The sections of ``todo``, each a list of ``Todo`` lines, for one actor at one time."""

    actor: str
    now: datetime
    within: int
    acts: list[Todo]
    objections: list[Todo]
    deadlines: list[Todo]
    awaiting: list[Todo]

    def to_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "now": iso(self.now), "within": self.within,
                "acts": [line.to_dict() for line in self.acts],
                "objections": [line.to_dict() for line in self.objections],
                "deadlines": [line.to_dict() for line in self.deadlines],
                "awaiting": [line.to_dict() for line in self.awaiting]}


def waiting_rules(workflow: Workflow, role: str) -> dict[str, list[Rule]]:
    """State → the rows ``role`` fires from it that move a case on (see the module doc)."""
    ends = {state.name for state in workflow.states if state.final or state.closed}
    waiting: dict[str, list[Rule]] = {}
    for rule in workflow.rules:
        if (role not in rule.actors or "system" in rule.actors or rule.correction
                or rule.dest == SAME or rule.dest in ends):
            continue
        for source in rule.sources:
            if source not in ends and rule not in waiting.get(source, []):
                waiting.setdefault(source, []).append(rule)
    return waiting


def todo(store: Store, actor: Actor | str, now: datetime, *, within: int = 30,
         city: str | None = None, county: str | None = None,
         table: tuple[DeadlineTodo, ...] = DEADLINE_TODOS) -> TodoList:
    """What waits for ``actor`` at ``now``: see the module doc. ``table``: the deadline kinds
    shown (``DEADLINE_TODOS``)."""
    who = Actor.of(actor)
    if who.kind not in ROLES:
        raise InvalidInput(Message("a to-do list is for province, city or county actors, not "
                                   "{kind}", kind=who.kind), field="actor")
    if isinstance(within, bool) or not isinstance(within, int) or not 0 <= within <= MAX_DAYS:
        raise InvalidInput(Message("must be a whole number of days from 0 to {limit}",
                                   limit=MAX_DAYS), field="within")
    days = within
    scope = _scope(who, city, county)
    horizon = end_of_day(local_date(now) + timedelta(days=days))
    with store.read() as session:
        acts = list(_acts(session, who, scope))
        objections = list(_objections(session, scope)) if who.kind == "province" else []
        pending = list(_deadlines(session, who, scope, now, horizon, table))
        awaiting = list(_awaiting(session, who, scope, now, table))
    return TodoList(actor=str(who), now=now, within=days, acts=acts, objections=objections,
                    deadlines=pending, awaiting=awaiting)


def _scope(who: Actor, city: str | None, county: str | None) -> list[Any]:
    """WHERE clauses on ``Case`` limiting the list to the actor's own cases and the filters."""
    from gdcluster.states.regions import UnknownRegion, load_regions

    clauses: list[Any] = []
    if who.kind == "city":
        clauses.append(Case.city == who.region)
    elif who.kind == "county":
        clauses.append(Case.county == who.region)
    regions = load_regions()
    if city is not None:
        try:
            city = regions.city(city).name
        except UnknownRegion as exc:
            raise InvalidInput(str(exc), field="city") from exc
        clauses.append(Case.city == city)
    if county is not None:
        try:
            clauses.append(Case.county == regions.unit(county, city=city).name)
        except UnknownRegion as exc:
            raise InvalidInput(str(exc), field="county") from exc
    return clauses


def _acts(session: Any, who: Actor, scope: list[Any]) -> Iterator[Todo]:
    waiting = waiting_rules(load_workflow(), who.kind)
    if not waiting:
        return
    statement = (select(col(Case.id), col(Case.round_year), col(Case.name), col(Case.city),
                        col(Case.county), col(Case.state))
                 .where(col(Case.state).in_(sorted(waiting)), *scope).order_by(col(Case.id)))
    for row in session.execute(statement.execution_options(yield_per=500)):
        rules = waiting[row.state]
        first = rules[0]
        # the round command of a batch row; the CLI names the command of a case's own act
        command = f"{first.fired_by} {row.round_year}" if first.fired_by else None
        yield Todo(section="acts", case_id=row.id, round=row.round_year, name=row.name,
                   city=row.city, county=row.county, state=row.state,
                   what=" / ".join(dict.fromkeys(rule.label for rule in rules)),
                   command=command, triggers=list(dict.fromkeys(r.trigger for r in rules)))


def _objections(session: Any, scope: list[Any]) -> Iterator[Todo]:
    statement = (select(col(Case.id), col(Case.round_year), col(Case.name), col(Case.city),
                        col(Case.county), col(Case.state), col(Case.publicity_end),
                        label("objection", col(Objection.id)), col(Objection.filed_at))
                 .join(Objection, col(Objection.case_id) == col(Case.id))
                 .where(col(Case.state) == "publicized", col(Objection.status) == "open", *scope)
                 .order_by(col(Objection.filed_at), col(Objection.id)))
    for row in session.execute(statement.execution_options(yield_per=500)):
        yield Todo(section="objections", case_id=row.id, round=row.round_year, name=row.name,
                   city=row.city, county=row.county, state=row.state,
                   what="处理异议（公示期异议）", objection=row.objection,
                   command=f"case resolve {row.id} {row.objection}", due_at=row.filed_at)


def _deadline_columns() -> tuple[Any, ...]:
    return (Deadline.kind, Deadline.due_at, Deadline.case_id, Deadline.round_year,
            col(Case.round_year).label("case_round"), Case.review_round, Case.name, Case.city,
            Case.county, Case.state)


def _deadlines(session: Any, who: Actor, scope: list[Any], now: datetime,
               horizon: datetime, table: tuple[DeadlineTodo, ...]) -> Iterator[Todo]:
    texts = {entry.kind: entry for entry in table
             if who.kind in entry.roles and not entry.after}
    if not texts:
        return
    # a round's own deadline (no case) is every city's or county's; scope applies to cases
    statement = (select(*_deadline_columns())
                 .outerjoin(Case, col(Case.id) == col(Deadline.case_id))
                 .where(col(Deadline.status) == "pending", col(Deadline.kind).in_(sorted(texts)),
                        col(Deadline.due_at) <= horizon,
                        or_(col(Deadline.case_id).is_(None), and_(*scope) if scope else true()))
                 .order_by(col(Deadline.due_at), col(Deadline.id)))
    for row in session.execute(statement.execution_options(yield_per=500)):
        yield _deadline_line("deadlines", row, texts[row.kind].text, now)


def _awaiting(session: Any, who: Actor, scope: list[Any], now: datetime,
              table: tuple[DeadlineTodo, ...]) -> Iterator[Todo]:
    entries = [entry for entry in table if who.kind in entry.roles and entry.after]
    if not entries:
        return
    statement = (select(*_deadline_columns())
                 .join(Case, col(Case.id) == col(Deadline.case_id))
                 .where(col(Deadline.due_at) <= now, col(Deadline.status) != "cancelled",
                        or_(*(and_(col(Deadline.kind) == entry.kind,
                                   col(Case.state).in_(entry.after))
                              for entry in entries)), *scope)
                 .order_by(col(Deadline.due_at), col(Deadline.id)))
    texts = {entry.kind: entry.text for entry in entries}
    for row in session.execute(statement.execution_options(yield_per=500)):
        yield _deadline_line("awaiting", row, texts[row.kind], now)


def _deadline_line(section: str, row: Any, text: str, now: datetime) -> Todo:
    kind = round_kind_of(row.kind)
    if row.case_id is None:
        year = row.round_year
    else:
        year = row.review_round if kind == "review" else row.case_round
    return Todo(section=section, case_id=row.case_id, round=year, round_kind=kind,
                name=row.name, city=row.city, county=row.county, state=row.state, what=text,
                due_at=row.due_at, overdue=row.due_at <= now, kind=row.kind,
                command=f"case show {row.case_id}" if row.case_id is not None else None)
