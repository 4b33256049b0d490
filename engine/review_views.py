"""复核 (第十六条) as a case's read model shows it: the development plan in force, each goal's
latest actual from the annual reports, the 考核 of the 复核 in progress and the status ``case
show`` and ``case check --review`` print. The acts (``engine/review_acts.py``) read the plan and
the 考核 from here too; a read loads none of the act machinery (no kernel, guards, effects or
deadline rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from gdcluster.engine.errors import InvalidInput, NotFound
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col, is_session
from gdcluster.engine.parse import as_year
from gdcluster.engine.plain_reads import QUERIES
from gdcluster.engine.views import CaseCounts, RoundSummary, iso

if TYPE_CHECKING:  # the tables are defined when a round read first needs them
    from gdcluster.engine.models import ReviewRound

__all__ = ["RoundLine", "case_plan", "covered_summary", "latest_goal_actuals",
           "list_rounds", "load_review_round", "review_assessment", "review_status",
           "which_round"]

def case_plan(case: Any, session: Any, application: str | None = None
              ) -> Mapping[str, Any] | None:
    """The development plan in force (``None``: none): the one of the 复核申报 the case was
    last renewed on, else the one under 复核 now, else the one it was recognized with (its
    application: ``application`` as stored when the caller has read it, else read through
    ``session`` only then). ``case``: a ``Case``, or a row of its columns."""
    import json

    from gdcluster.engine.application import read_stored_application

    review = case.review or {}
    if (review.get("decision") or {}).get("renewed"):
        source = (review.get("data") or {}).get("application")
    elif review.get("assessed_plan") is not None:
        source = {"development_plan": review["assessed_plan"]}
    else:
        if application is None:
            from gdcluster.engine.applications import stored_text
            from gdcluster.engine.store import connection_of

            connection = connection_of(session) if is_session(session) else session
            application = stored_text(connection, int(case.id or 0))
        source = json.loads(application)
    plan = read_stored_application(source).get("development_plan")
    return plan if isinstance(plan, Mapping) else None


def latest_goal_actuals(session: Any, case_id: int, reports: list[Any] | None = None
                        ) -> dict[str, dict[str, Any]]:
    """Each plan goal's latest actual from the annual reports' ``goal_progress``, by the goal's
    key: {indicator, actual, year}. ``reports``: the case's (year, data) rows by year, when
    the caller has read them."""
    from gdcluster.engine.application import goal_key, read_stored_report

    found: dict[str, dict[str, Any]] = {}
    if reports is None:
        reports = list(session.execute(QUERIES["reports"], {"case_id": case_id}))
    for year, data in reports:
        for entry in read_stored_report(data).get("goal_progress", []):
            found[goal_key(entry["indicator"])] = {
                "indicator": entry["indicator"], "actual": entry["actual"], "year": year}
    return found


def review_assessment(session: Any, case: Any) -> Any:
    """The 考核 of the case's 复核 in progress (``ReviewAssessment``), or ``None`` when no
    复核申报 is stored: each plan goal against the 复核申报's result (the latest annual
    report's progress where the 申报 gives none) and the criteria re-check on its data."""
    stored = case.review or {}
    if not stored.get("data"):  # most cases: the 复核 modules are not loaded to show them
        return None
    from gdcluster.engine.application import goal_key, read_stored_application
    from gdcluster.engine.policies import policy_for
    from gdcluster.engine.review import GoalResult, assess_review, read_stored_review

    review = read_stored_review(stored["data"])
    given = {goal_key(result.indicator) for result in review.goal_results}
    assert case.id is not None  # a stored case
    reported = [GoalResult(entry["indicator"], entry["actual"], f"{entry['year']}年度报告")
                for key, entry in latest_goal_actuals(session, case.id).items()
                if key not in given]
    if reported:
        review = type(review)(year=review.year, application=review.application,
                              goal_results=(*review.goal_results, *reported))
    policy = policy_for(case.policy, case.policy_digest)
    plan = case_plan(case, session) if "assessed_plan" not in stored else read_stored_application(
        {"development_plan": stored["assessed_plan"]}).get("development_plan")
    return assess_review(review, plan, policy, int(stored.get("year") or review.year))


def review_status(session: Any, case: Any, *, application: str | None = None,
                  reports: list[Any] | None = None) -> dict[str, Any]:
    """What ``case show`` and ``case check --review`` print of the 复核: each plan goal's
    target and latest actual (annual reports), the 复核 round covering the case, the 复核 in
    progress (filed, the city's opinion, the decision) and its 考核. ``case``: a ``Case``, or
    a row of its columns; ``application`` (as stored) and ``reports`` (year, data): when the
    caller has read them."""
    from gdcluster.engine.application import goal_key

    assert case.id is not None  # a stored case
    actuals = latest_goal_actuals(session, case.id, reports)
    goals = []
    for goal in (case_plan(case, session, application) or {}).get("goals", []):
        latest = actuals.get(goal_key(goal["indicator"])) if goal.get("indicator") else None
        goals.append({
            "indicator": goal.get("indicator") or (goal.get("text") or "").strip(),
            "unit": goal.get("unit"), "baseline": goal.get("baseline"),
            "target": goal.get("target"),
            "latest_actual": None if latest is None else latest["actual"],
            "latest_year": None if latest is None else latest["year"]})
    stored = case.review or {}
    assessment = review_assessment(session, case)
    return {"review_round": case.review_round, "plan": goals,
            "review": {key: stored.get(key) for key in ("year", "filed_at", "check",
                                                        "decision")} if stored else None,
            "assessment": None if assessment is None else assessment.to_dict()}


# ---------------------------------------------------------------------------- 复核 rounds
def covered_summary(store: Any, year: int) -> RoundSummary:
    """The 复核 round ``year`` with its covered cases, and its counts over them (``NotFound``
    when no 复核 round was opened that year)."""
    from gdcluster.engine.models import Case

    with store.read() as session:
        round_row = load_review_round(session, year)
        rows = list(session.execute(
            select(col(Case.id), col(Case.name), col(Case.city), col(Case.county),
                   col(Case.state), col(Case.valid_until), col(Case.review))
            .where(col(Case.review_round) == year).order_by(col(Case.id))).all())
        by_state = dict(session.execute(
            select(col(Case.state), func.count()).where(col(Case.review_round) == year)
            .group_by(col(Case.state))).all())
    by_city: dict[str, dict[str, int]] = {}
    for row in rows:
        cities = by_city.setdefault(row.city, {})
        cities[row.state] = cities.get(row.state, 0) + 1
    covered = [dict(
        id=row.id, name=row.name, county=row.county, state=row.state,
        valid_until=iso(row.valid_until),
        applied=(row.review or {}).get("year") == year) for row in rows]
    return RoundSummary(
        year=year, kind="review", policy=round_row.policy,
        policy_version=round_row.policy_version, apply_by=iso(round_row.apply_by),
        check_by=iso(round_row.check_by), recommend_by=None, notice_title=None,
        notice_doc_no=None, publicity_doc_no=None, recognition_doc_no=None, valid_from=None,
        closed_at=iso(round_row.closed_at), publicity_pick=None, recognition_batch=None,
        rubric=[], min_experts=0, quotas=[], covered=covered,
        counts=CaseCounts(total=len(rows), by_state=by_state, by_city=by_city))


def load_review_round(session: Any, year: int | None, *, lock: bool = False) -> ReviewRound:
    """The 复核 round of ``year`` (locked ``FOR UPDATE`` when asked), or ``NotFound``."""
    from gdcluster.engine.models import ReviewRound

    row = (session.get(ReviewRound, year, with_for_update=True if lock else None)
           if year is not None else None)
    if row is None:
        raise NotFound("复核 round", year)
    return row


ROUND_KINDS = ("recognition", "review")


def which_round(store: Any, year: int, kind: str | None) -> str:
    """The kind of round ``year`` meant: ``kind`` when given, else the one round of the year
    (``InvalidInput`` on field ``kind`` when the year holds both; "recognition" when it holds
    none, whose look-up then says it is not found)."""
    if kind is not None:
        if kind not in ROUND_KINDS:
            raise InvalidInput(f"unknown round kind {kind!r}; use recognition or review",
                               field="kind")
        return kind
    from gdcluster.engine.models import ReviewRound, Round

    year = as_year(year)
    with store.read() as session:
        held = [name for name, model in zip(ROUND_KINDS, (Round, ReviewRound), strict=True)
                if session.get(model, year) is not None]
    if len(held) > 1:
        raise InvalidInput(
            Message("{year} holds a recognition round and a 复核 round: say which one "
                    "(--kind recognition or --kind review)", year=year), field="kind")
    return held[0] if held else "recognition"


@dataclass(frozen=True)
class RoundLine:
    """One round as ``round list`` shows it."""

    year: int
    kind: str
    policy: str
    opened_at: str | None
    closed_at: str | None
    #: recognition: the cases filed in it; 复核: the cases it covers
    cases: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_rounds(store: Any) -> list[RoundLine]:
    """Every round by year, the recognition round of a year before its 复核 round."""
    from gdcluster.engine.models import Case, ReviewRound, Round

    with store.read() as session:
        filed = dict(session.execute(
            select(col(Case.round_year), func.count()).group_by(col(Case.round_year))).all())
        covered = dict(session.execute(
            select(col(Case.review_round), func.count())
            .where(col(Case.review_round).is_not(None))
            .group_by(col(Case.review_round))).all())
        lines = [RoundLine(row.year, "recognition", row.policy, iso(row.opened_at),
                           iso(row.closed_at), filed.get(row.year, 0))
                 for row in session.scalars(select(Round))]
        lines += [RoundLine(row.year, "review", row.policy, iso(row.opened_at),
                            iso(row.closed_at), covered.get(row.year, 0))
                  for row in session.scalars(select(ReviewRound))]
    return sorted(lines, key=lambda line: (line.year, ROUND_KINDS.index(line.kind)))
