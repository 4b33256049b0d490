"""复核 (第十六条) as a case's read model shows it: the development plan in force, each goal's
latest actual from the annual reports, the 考核 of the 复核 in progress and the status ``case
show`` and ``case check --review`` print. The acts (``engine/review_acts.py``) read the plan and
the 考核 from here too; a read loads none of the act machinery (no kernel, guards, effects or
deadline rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from gdcluster.engine.models import AnnualReport, Case

__all__ = ["case_plan", "latest_goal_actuals", "review_assessment", "review_status"]


def case_plan(case: Case, session: Any) -> Mapping[str, Any] | None:
    """The development plan in force (``None``: none): the one of the 复核申报 the case was
    last renewed on, else the one under 复核 now, else the one it was recognized with (its
    application, read through ``session`` only then)."""
    from gdcluster.engine.application import read_stored_application
    from gdcluster.engine.applications import read, stored_text
    from gdcluster.engine.store import connection_of

    review = case.review or {}
    if (review.get("decision") or {}).get("renewed"):
        source = (review.get("data") or {}).get("application")
    elif review.get("assessed_plan") is not None:
        source = {"development_plan": review["assessed_plan"]}
    else:
        source = read(stored_text(connection_of(session), int(case.id or 0)))
    plan = read_stored_application(source).get("development_plan")
    return plan if isinstance(plan, Mapping) else None


def latest_goal_actuals(session: Any, case_id: int) -> dict[str, dict[str, Any]]:
    """Each plan goal's latest actual from the annual reports' ``goal_progress``, by the goal's
    key: {indicator, actual, year}."""
    from gdcluster.engine.application import goal_key, read_stored_report

    found: dict[str, dict[str, Any]] = {}
    for year, data in session.execute(
            select(AnnualReport.year, AnnualReport.data)
            .where(AnnualReport.case_id == case_id).order_by(AnnualReport.year)):
        for entry in read_stored_report(data).get("goal_progress", []):
            found[goal_key(entry["indicator"])] = {
                "indicator": entry["indicator"], "actual": entry["actual"], "year": year}
    return found


def review_assessment(session: Any, case: Case) -> Any:
    """The 考核 of the case's 复核 in progress (``ReviewAssessment``), or ``None`` when no
    复核申报 is stored: each plan goal against the 复核申报's result (the latest annual
    report's progress where the 申报 gives none) and the criteria re-check on its data."""
    from gdcluster.engine.application import goal_key, read_stored_application
    from gdcluster.engine.policies import policy_for
    from gdcluster.engine.review import GoalResult, assess_review, read_stored_review

    stored = case.review or {}
    if not stored.get("data"):
        return None
    review = read_stored_review(stored["data"])
    given = {goal_key(result.indicator) for result in review.goal_results}
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


def review_status(session: Any, case: Case) -> dict[str, Any]:
    """What ``case show`` and ``case check --review`` print of the 复核: each plan goal's
    target and latest actual (annual reports), the 复核 round covering the case, the 复核 in
    progress (filed, the city's opinion, the decision) and its 考核."""
    from gdcluster.engine.application import goal_key

    actuals = latest_goal_actuals(session, case.id)
    goals = []
    for goal in (case_plan(case, session) or {}).get("goals", []):
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
