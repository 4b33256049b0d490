"""Read models: a case as callers see it (``CaseView``), lists, histories, a round's summary.

Reads never take write locks and never load the state machine. A case with its deadlines,
objections and reports is read by one prepared statement (``case_view``), which the act kernel
also uses to hand back the case as its act left it, inside the act's own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Text, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from gdcluster.engine import parse
from gdcluster.engine.clock import in_shanghai
from gdcluster.engine.errors import InvalidInput, NotFound
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col, is_session
from gdcluster.engine.parse import as_case_id, as_date, as_year, name_text, row_count
from gdcluster.engine.plain_reads import DEADLINE_PART, OBJECTION_PART
from gdcluster.engine.prepared import Prepared
from gdcluster.engine.procedures import PROCEDURE_STATES, PROPOSED, procedure_shown
from gdcluster.engine.store import Store, joined_session, sql_connection

if TYPE_CHECKING:  # the tables are defined when a read first needs them: `case show` never
    from sqlalchemy.orm import Session

    from gdcluster.engine.models import Case, Round

    Row = TypeVar("Row", Case, Round)

__all__ = [
    "CaseCounts",
    "CaseView",
    "QuotaUse",
    "RoundSummary",
    "RubricLine",
    "ScoreRow",
    "case_view",
    "history",
    "list_cases",
    "load_case",
    "load_round",
    "read_case",
    "refusals",
    "round_summary",
    "scores",
    "state_code",
    "trigger_code",
]


#: What ``iso`` gives back as it is, by exact type (no call).
_AS_IS = frozenset({int, bool, float, type(None)})


def iso(value: Any) -> Any:
    """Dates and instants as ISO text (instants in Asia/Shanghai, ``+08:00``), anything else
    as it is: see :func:`~gdcluster.engine.clock.in_shanghai`."""
    return in_shanghai(value)


@dataclass(frozen=True)
class CaseView:
    """A case as its last act left it, with its deadlines, objections and reported years."""

    id: int
    round: int
    name: str
    city: str
    county: str
    industry: str
    state: str
    version: int
    policy: str
    policy_version: int
    score: str | None
    publicity_start: date | None
    publicity_end: date | None
    valid_from: date | None
    valid_until: date | None
    created_at: datetime
    updated_at: datetime
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    objections: list[dict[str, Any]] = field(default_factory=list)
    reports: list[int] = field(default_factory=list)
    #: The state the case came from into a closed state (rejected, not_selected).
    previous_state: str | None = None
    #: The 退回补正 deadline, once the case has been returned.
    correction_due: date | None = None
    #: The 复核 round covering the case (``round open YEAR --kind review``), if any.
    review_round: int | None = None
    procedure: dict[str, Any] | None = None  # the latest 拟撤销 procedure (procedures.py)

    @property
    def hearing_due(self) -> date | None:
        """The 陈述申辩 deadline of a procedure running on the case."""
        if self.procedure is None or self.state != PROPOSED:
            return None
        return date.fromisoformat(self.procedure["hearing_due"])

    def to_dict(self) -> dict[str, Any]:
        plain = ("id", "round", "name", "city", "county", "industry", "state", "version",
                 "policy", "policy_version", "score", "publicity_start", "publicity_end",
                 "valid_from", "valid_until", "previous_state", "correction_due",
                 "review_round", "hearing_due", "procedure", "created_at", "updated_at")
        return {
            **{name: value if type(value) in _AS_IS else in_shanghai(value)
               for name in plain for value in (getattr(self, name),)},
            "deadlines": [{k: iso(v) for k, v in row.items()} for row in self.deadlines],
            "objections": [{k: iso(v) for k, v in row.items()} for row in self.objections],
            "reports": list(self.reports),
        }


# ---------------------------------------------------------------------------- rows or NotFound
def load_case(session: Session, case_id: int | None, *, lock: bool = False) -> Case:
    """The case ``case_id`` (locked ``FOR UPDATE`` when asked), or ``NotFound``."""
    from gdcluster.engine.models import Case

    return _load(session, Case, "case", case_id, lock)


def load_round(session: Session, year: int | None, *, lock: bool = False) -> Round:
    """The round of ``year`` (locked ``FOR UPDATE`` when asked), or ``NotFound``."""
    from gdcluster.engine.models import Round

    return _load(session, Round, "round", year, lock)


def _load(session: Session, model: type[Row], what: str, key: int | None, lock: bool) -> Row:
    row = session.get(model, key, with_for_update=True if lock else None) \
        if key is not None else None
    if row is None:
        raise NotFound(what, key)
    return row


# ---------------------------------------------------------------------------- one case
def read_case(store: Store, case_id: int) -> CaseView:
    """The case ``case_id`` as it stands, in a read transaction of its own."""
    case_id = as_case_id(case_id)
    with store.read() as session:
        return case_view(session, load_case(session, case_id))


def case_view(session: Session | Any, case: Any,
              parts: list[Sequence[Any]] | None = None) -> CaseView:
    """One case with its deadlines, objections and reports, read in ``session`` (or on a
    connection in its transaction).

    One prepared Core statement on the session's connection (after a flush), not ORM queries:
    every act reads its case back this way, so it is the cheapest read there is. ``parts``:
    the rows of that statement as already read (``case_rows.load`` reads them with the case,
    for an act that changes none of them), which are then not read again.
    """
    connection = sql_connection(session)
    deadline_rows: list[tuple[Any, ...]] = []
    objections: list[dict[str, Any]] = []
    reports: list[int] = []
    if parts is None:
        parts = _case_parts().rows(connection, {"case_id": case.id})
    for part, number, at, text1, text2, text3, text4, text5 in parts:
        if part == DEADLINE_PART:
            deadline_rows.append(((at, number), {
                "kind": text1, "key": text2, "due_at": at, "status": text3, "result": text4}))
        elif part == OBJECTION_PART:
            objections.append({"id": number, "name": text1, "unit": text2, "status": text3,
                               "filed_at": at, "evidence": text4, "resolution": text5})
        else:
            reports.append(number)
    deadline_rows.sort(key=lambda item: item[0])
    objections.sort(key=lambda item: item["id"])
    reports.sort()
    view = _view(case, [item[1] for item in deadline_rows], objections, reports)
    if view.state not in PROCEDURE_STATES:
        return view
    reader_of = nullcontext(session) if is_session(session) else joined_session(session)
    with reader_of as reader:
        shown = procedure_shown(reader, view.id, view.state, view.deadlines)
    return view if shown is None else replace(view, procedure=shown)


@cache
def _case_parts() -> Prepared:
    """The case's deadlines, objections and reports (``case_rows.case_parts``), prepared once."""
    from gdcluster.engine.case_rows import case_parts

    return Prepared(case_parts())


#: What ``_view`` reads of a case (everything but the application).
VIEW_COLUMNS = ("id", "round_year", "name", "city", "county", "industry", "state", "version",
                "policy", "policy_version", "score", "publicity_start", "publicity_end",
                "valid_from", "valid_until", "created_at", "updated_at", "previous_state",
                "correction_due", "review_round")


def _view(case: Any, deadline_rows: list[dict[str, Any]], objections: list[dict[str, Any]],
          reports: list[int]) -> CaseView:
    """``case``: a ``Case``, or a row of ``VIEW_COLUMNS``, which reads alike.

    The view's fields are set in one step, as ``CaseView(**fields)`` would set them one by one
    (a frozen dataclass's ``__init__`` calls ``object.__setattr__`` for each): every act hands
    back a view, and a listing makes thousands."""
    assert case.id is not None
    view = _new_view(CaseView)
    view.__dict__.update({
        "id": case.id, "round": case.round_year, "name": case.name, "city": case.city,
        "county": case.county, "industry": case.industry, "state": case.state,
        "version": case.version, "policy": case.policy, "policy_version": case.policy_version,
        "score": case.score, "publicity_start": case.publicity_start,
        "publicity_end": case.publicity_end, "valid_from": case.valid_from,
        "valid_until": case.valid_until, "created_at": case.created_at,
        "updated_at": case.updated_at, "deadlines": deadline_rows, "objections": objections,
        "reports": reports, "previous_state": case.previous_state,
        "correction_due": case.correction_due, "review_round": case.review_round,
        "procedure": None,
    })
    return view


_new_view = object.__new__


# ---------------------------------------------------------------------------- many cases
def list_cases(
    store: Store, *, state: str | None = None, city: str | None = None,
    round_year: int | None = None, county: str | None = None, industry: str | None = None,
    name: str | None = None, due_before: date | str | None = None,
    valid_until_before: date | str | None = None, valid_until_after: date | str | None = None,
    limit: int | None = None, offset: int = 0,
) -> Iterator[CaseView]:
    """Cases in id order, streamed, without their deadlines, objections and reports.

    Filters (all must hold): ``state`` (code, hyphen form or Chinese label), ``city``,
    ``round_year``, ``county`` (a unit, short names as ``Engine.create_case`` takes them),
    ``industry`` (exactly), ``name`` (a part of the name; ASCII letters in any case),
    ``due_before`` (a pending deadline of the case is due by 24:00 of that day),
    ``valid_until_before`` / ``valid_until_after`` (the validity ends on or before / on or
    after that day). They are checked when the first case is asked for, and applied by the
    one statement that reads the rows.

    The listed columns are selected as plain rows: no application JSON to decode and no ORM
    objects to build, which a list of ten thousand cases would spend most of its time on.
    """
    from gdcluster.engine.models import Case

    statement = select(*(getattr(Case, name) for name in VIEW_COLUMNS)).where(*_case_filters(
        state=state, city=city, round_year=round_year, county=county, industry=industry,
        name=name, due_before=due_before, valid_until_before=valid_until_before,
        valid_until_after=valid_until_after,
    )).order_by(col(Case.id))
    offset, limit = row_count(offset, "offset") or 0, row_count(limit, "limit")
    if offset:
        statement = statement.offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    with store.read() as session:
        for row in session.execute(statement.execution_options(yield_per=500)):
            yield _view(row, [], [], [])


def _case_filters(
    *, state: str | None, city: str | None, round_year: int | None, county: str | None,
    industry: str | None, name: str | None, due_before: date | str | None,
    valid_until_before: date | str | None, valid_until_after: date | str | None,
) -> list[Any]:
    """The WHERE clauses of ``list_cases``, each value checked (``InvalidInput``)."""
    from gdcluster.engine.clock import end_of_day
    from gdcluster.engine.models import Case, Deadline
    from gdcluster.states.regions import UnknownRegion, load_regions

    clauses: list[Any] = []
    if state is not None:
        clauses.append(Case.state == state_code(state))
    if city is not None:
        try:
            city = load_regions().city(_text(city, "city")).name
        except UnknownRegion as exc:
            raise InvalidInput(str(exc), field="city") from exc
        clauses.append(Case.city == city)
    if round_year is not None:
        clauses.append(Case.round_year == as_year(round_year, "round"))
    if county is not None:
        try:
            unit = load_regions().unit(_text(county, "county"), city=city)
        except UnknownRegion as exc:
            raise InvalidInput(str(exc), field="county") from exc
        clauses.append(Case.county == unit.name)
    if industry is not None:
        clauses.append(Case.industry == name_text(industry, "industry"))
    if name is not None:
        part = _ascii_lower(name_text(name, "name"))
        clauses.append(_AsciiLower(Case.name).contains(part, autoescape=True))
    day = as_date(due_before, "due_before")
    if day is not None:
        clauses.append(select(col(Deadline.id)).where(
            col(Deadline.case_id) == col(Case.id), col(Deadline.status) == "pending",
            col(Deadline.due_at) <= end_of_day(day),
        ).exists())
    until_before = as_date(valid_until_before, "valid_until_before")
    until_after = as_date(valid_until_after, "valid_until_after")
    if until_before is not None and until_after is not None and until_after > until_before:
        raise InvalidInput(Message("{after} is later than valid_until_before {before}: no "
                                   "validity ends in that span", after=until_after,
                                   before=until_before), field="valid_until_after")
    if until_before is not None:
        clauses.append(col(Case.valid_until) <= until_before)
    if until_after is not None:
        clauses.append(col(Case.valid_until) >= until_after)
    return clauses


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(Message("must be text, not {kind}", kind=type(value).__name__),
                           field=field)
    return value


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


class _AsciiLower(FunctionElement[str]):
    """A text with its ASCII letters in lower case and every other character as it is, alike
    on both back-ends: SQLite's ``lower`` folds ASCII only, PostgreSQL's folds by locale, so
    there ``translate`` folds exactly A–Z."""

    type = Text()
    inherit_cache = True


@compiles(_AsciiLower)
def _ascii_lower_sqlite(element: _AsciiLower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(_AsciiLower, "postgresql")
def _ascii_lower_postgresql(element: _AsciiLower, compiler: Any, **kw: Any) -> str:
    return (f"translate({compiler.process(element.clauses, **kw)}, "
            f"'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")


def state_code(text: Any) -> str:
    """The state a caller names by code, hyphen form or Chinese label, or ``InvalidInput``
    listing the valid ones."""
    from gdcluster.states.workflow import UnknownName, load_workflow

    try:
        return load_workflow().state_named(_text(text, "state"))
    except UnknownName as exc:
        raise InvalidInput(parse.unknown_name(exc), field="state") from exc


def trigger_code(text: Any, *, among: Collection[str] | None = None) -> str:
    """The trigger a caller names by code, hyphen form or the Chinese label of one of its
    rows (only ``among`` these when given), or ``InvalidInput`` listing the valid ones."""
    from gdcluster.states.workflow import UnknownName, load_workflow

    try:
        return load_workflow().trigger_named(_text(text, "trigger"), among)
    except UnknownName as exc:
        raise InvalidInput(parse.unknown_name(exc), field="trigger") from exc


def history(store: Store, case_id: int) -> list[dict[str, Any]]:
    """The audit rows of one case, oldest first."""
    from gdcluster.engine.records import AuditEntry

    case_id = as_case_id(case_id)
    with store.read() as session:
        load_case(session, case_id)
        return [
            {"seq": row.seq, "trigger": row.trigger, "from_state": row.from_state,
             "to_state": row.to_state, "actor": row.actor, "at": in_shanghai(row.at),
             "reason": row.reason, "article": row.article,
             "payload": in_shanghai(json.loads(row.payload))}
            for row in session.scalars(
                select(AuditEntry).where(col(AuditEntry.case_id) == case_id)
                .order_by(col(AuditEntry.seq))
            )
        ]


def refusals(store: Store, *, case_id: int | None = None) -> list[dict[str, Any]]:
    """The refused attempts, oldest first (of one case, when given)."""
    from gdcluster.engine.models import round_kind_of
    from gdcluster.engine.records import Refusal

    statement = select(Refusal).order_by(col(Refusal.id))
    if case_id is not None:
        statement = statement.where(col(Refusal.case_id) == case_id)
    with store.read() as session:
        return [
            {"at": in_shanghai(row.at), "actor": row.actor, "trigger": row.trigger,
             "case_id": row.case_id, "round_year": row.round_year, "code": row.code,
             "message": row.message, "round_kind": round_kind_of(row.trigger)}
            for row in session.scalars(statement)
        ]


@dataclass(frozen=True)
class ScoreRow:
    """One expert's scores of a case: points per rubric indicator id, their total, when."""

    expert: str
    points: dict[str, Decimal]
    total: Decimal
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"expert": self.expert,
                "points": {key: str(value) for key, value in self.points.items()},
                "total": str(self.total), "at": in_shanghai(self.at)}


def scores(store: Store, case_id: int) -> list[ScoreRow]:
    """Each expert's scores of the case, in the order they were recorded."""
    from gdcluster.engine.records import ExpertScore

    case_id = as_case_id(case_id)
    with store.read() as session:
        load_case(session, case_id)
        return [
            ScoreRow(expert=row.expert,
                     points={key: Decimal(str(value)) for key, value in row.scores.items()},
                     total=Decimal(row.total), at=row.at)
            for row in session.scalars(select(ExpertScore).order_by(col(ExpertScore.id))
                                       .where(col(ExpertScore.case_id) == case_id))
        ]


# ---------------------------------------------------------------------------- a round
@dataclass(frozen=True)
class RubricLine:
    """One indicator of the round's expert rubric."""

    id: str
    name: str
    weight: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "weight": self.weight}


@dataclass(frozen=True)
class CaseCounts:
    """The round's cases by state, by city and state, and in all."""

    by_state: dict[str, int]
    by_city: dict[str, dict[str, int]]
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"by_state": self.by_state, "by_city": self.by_city, "total": self.total}


@dataclass(frozen=True)
class QuotaUse:
    """A city's recommendation quota in the round, and how much of it is used."""

    city: str
    min: int
    max: int
    recommended: int

    @property
    def below_minimum(self) -> bool:
        return self.recommended < self.min

    def to_dict(self) -> dict[str, Any]:
        return {"city": self.city, "min": self.min, "max": self.max,
                "recommended": self.recommended, "below_minimum": self.below_minimum}


@dataclass(frozen=True)
class RoundSummary:
    """A round: its deadlines, documents, stored batches, rubric, cases and quotas."""

    year: int
    policy: str
    policy_version: int
    apply_by: str | None
    recommend_by: str | None
    notice_title: str | None
    notice_doc_no: str | None
    publicity_doc_no: str | None
    recognition_doc_no: str | None
    valid_from: str | None
    #: When ``round close`` closed the round (its leftovers 未入选), if it has.
    closed_at: str | None
    #: The last publicize / recognize batch as stored (resumed after a crash).
    publicity_pick: dict[str, Any] | None
    recognition_batch: dict[str, Any] | None
    rubric: list[RubricLine]
    min_experts: int
    counts: CaseCounts
    quotas: list[QuotaUse]
    #: "recognition" or "review" (复核); a 复核 round's 初审 deadline and covered cases.
    kind: str = "recognition"
    check_by: str | None = None
    covered: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cities_below_minimum(self) -> list[str]:
        return [quota.city for quota in self.quotas if quota.below_minimum]

    def to_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "apply_by": self.apply_by,
            "recommend_by": self.recommend_by,
            "notice_title": self.notice_title,
            "notice_doc_no": self.notice_doc_no,
            "publicity_doc_no": self.publicity_doc_no,
            "recognition_doc_no": self.recognition_doc_no,
            "valid_from": self.valid_from,
            "closed_at": self.closed_at,
            "publicity_pick": in_shanghai(self.publicity_pick),
            "recognition_batch": in_shanghai(self.recognition_batch),
            "rubric": [line.to_dict() for line in self.rubric],
            "min_experts": self.min_experts,
            "counts": self.counts.to_dict(),
            "quotas": [quota.to_dict() for quota in self.quotas],
            "cities_below_minimum": self.cities_below_minimum,
            "kind": self.kind, "check_by": self.check_by, "covered": self.covered,
        }


def round_summary(store: Store, year: int) -> RoundSummary:
    """Round ``year`` as it stands: what ``gdcluster round show`` prints."""
    from gdcluster.engine.models import Case
    from gdcluster.engine.policies import policy_for
    from gdcluster.engine.quotas import city_quota, recommended_count
    from gdcluster.states.regions import load_regions

    with store.read() as session:
        round_row = load_round(session, year)
        policy = policy_for(round_row.policy, round_row.policy_digest)
        by_state = dict(
            session.execute(
                select(col(Case.state), func.count()).where(col(Case.round_year) == year)
                .group_by(col(Case.state))
            ).all()
        )
        by_city: dict[str, dict[str, int]] = {}
        for city, state, count in session.execute(
            select(col(Case.city), col(Case.state), func.count())
            .where(col(Case.round_year) == year).group_by(col(Case.city), col(Case.state))
        ):
            by_city.setdefault(city, {})[state] = count
        quotas = []
        for city in load_regions().cities:
            low, high = city_quota(round_row, policy, city)
            quotas.append(QuotaUse(city, low, high, recommended_count(session, year, city)))
        return RoundSummary(
            year=year,
            policy=round_row.policy,
            policy_version=round_row.policy_version,
            apply_by=iso(round_row.apply_by),
            recommend_by=iso(round_row.recommend_by),
            notice_title=round_row.notice_title,
            notice_doc_no=round_row.notice_doc_no,
            publicity_doc_no=round_row.publicity_doc_no,
            recognition_doc_no=round_row.recognition_doc_no,
            valid_from=iso(round_row.valid_from),
            closed_at=iso(round_row.closed_at),
            publicity_pick=round_row.publicity_pick,
            recognition_batch=round_row.recognition_batch,
            rubric=[RubricLine(item.id, item.name, int(item.weight))
                    for item in policy.rubric.indicators],
            min_experts=int(policy.rubric.min_experts),
            counts=CaseCounts(by_state, by_city, sum(by_state.values())),
            quotas=quotas,
        )
