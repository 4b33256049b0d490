"""复核 (第十六条) as acts: the end of validity, the county's 复核申请, the city's 初审, the
province's decision to renew. Guards and effects of the workflow table, registered under the
names workflow.toml gives them (see ``engine/acts.py``).

A case is covered by at most one 复核 round at a time (``gd_case.review_round``, set when
``round open YEAR --kind review`` opens it); the 复核 in progress lives on the case
(``gd_case.review``: the round's year, the 复核申报, the city's opinion) and is what the
province decides on. Validity stays contiguous whenever the decision comes: the new period
starts the day after the old one ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from gdcluster.engine import deadlines
from gdcluster.engine.acts import Act
from gdcluster.engine.clock import end_of_day
from gdcluster.engine.effects import EFFECTS
from gdcluster.engine.errors import InvalidInput, Reason
from gdcluster.engine.guards import GUARDS
from gdcluster.engine.i18n import Message
from gdcluster.engine.procedure_acts import open_procedure
from gdcluster.engine.review_views import case_plan, review_assessment

if TYPE_CHECKING:
    from gdcluster.engine.models import ReviewRound

__all__ = ["REVIEW_APPLY_DUE"]

#: The per-case deadline of a 复核 round's applications (key ``case:ID:review:YEAR``).
REVIEW_APPLY_DUE = deadlines.REVIEW_APPLY_DUE


def _review_round(act: Act) -> ReviewRound | None:
    from gdcluster.engine.models import ReviewRound

    year = act.case.review_round
    return None if year is None else act.session.get(ReviewRound, year)


# ---------------------------------------------------------------------------- guards
@GUARDS.register("review_round_open")
def review_round_open(act: Act) -> None:
    """A 复核 round covers the case and still takes applications (until 24:00 of its
    application deadline)."""
    round_row = _review_round(act)
    if round_row is None:
        raise act.refuse(
            Message("no 复核 round covers case {id}: the province opens one with `round open "
                    "YEAR --kind review` for the clusters whose validity ends by the end of "
                    "YEAR", id=act.case.id),
            Reason.NO_REVIEW_ROUND)
    deadline = round_row.apply_by
    if deadline is not None and act.now >= end_of_day(deadline):
        raise act.refuse(
            Message("复核 round {year} took applications until 24:00 of {deadline}",
                    year=round_row.year, deadline=deadline),
            Reason.OUTSIDE_REVIEW_WINDOW, Reason.APPLICATION_DEADLINE_PASSED,
            deadline=deadline)


@GUARDS.register("city_opinion")
def city_opinion(act: Act) -> None:
    """The province renews on the city's 初审 opinion: recorded, and passed."""
    check = (act.case.review or {}).get("check")
    if not check:
        raise act.refuse(
            Message("the city has not recorded its 复核初审 opinion on case {id} (`case "
                    "review-check {id} --pass|--fail --opinion TEXT`)", id=act.case.id),
            Reason.NO_CITY_OPINION)
    if not check.get("passed"):
        raise act.refuse(
            Message("the city's 复核初审 did not pass case {id} ({opinion}): fail the 复核 "
                    "(`case fail-review`), or the city records a new opinion", id=act.case.id,
                    opinion=check.get("opinion")),
            Reason.CITY_OPINION_NOT_PASSED, opinion=check.get("opinion"))


# ---------------------------------------------------------------------------- effects
@EFFECTS.register("expire")
def expire(act: Act) -> None:
    """有效期届满: the title is no longer valid; nothing is revoked, and a 复核 round may still
    cover the case."""
    until = act.case.valid_until
    act.reason = (f"认定有效期已于{until.year}年{until.month}月{until.day}日届满"
                  if until else "认定有效期届满")
    act.audit["valid_until"] = until.isoformat() if until else None


@EFFECTS.register("apply_review", reads=("data",))
def apply_review(act: Act) -> None:
    """The county's 复核申报 (§4a): the criteria data of the three years before the 复核
    round's year and a result for every plan goal; stored on the case for the city and the
    province. It answers the round's application deadline of this case."""
    from gdcluster.engine.application import to_json
    from gdcluster.engine.audit import digest
    from gdcluster.engine.review import validate_review_application

    year = act.case.review_round
    assert year is not None  # the guard saw the round
    data = act.payload.get("data")
    if not isinstance(data, Mapping):
        raise InvalidInput("the 复核申报 must be a mapping of fields", field="data")
    plan = case_plan(act.case, act.session)
    review = validate_review_application(data, plan, year)
    stored = to_json(review.to_json())
    # the plan this 复核 assesses is kept with it: a renewal puts the 申报's new plan in force
    act.case.review = {"year": year, "data": stored, "filed_at": act.now.isoformat(),
                       "check": None, "assessed_plan": None if plan is None else to_json(plan)}
    deadlines.settle(act.session, now=act.now, result=f"复核 applied for by {act.actor}",
                     case_id=act.case.id, kinds=(REVIEW_APPLY_DUE,))
    act.audit.update(review_round=year, review_sha256=digest(stored),
                     goal_results=len(review.goal_results))


@EFFECTS.register("review_check", reads=("passed", "opinion"))
def review_check(act: Act) -> None:
    """The city's 复核初审 opinion (pass or not, with its text); a later one replaces it, the
    audit trail keeps both."""
    passed = act.payload.get("passed")
    if not isinstance(passed, bool):
        raise InvalidInput("must be true (pass) or false (not pass)", field="passed")
    opinion = act.text("opinion")
    review = dict(act.case.review or {})
    if not review.get("data"):
        raise InvalidInput(Message("case {id} has no 复核申报 to check", id=act.case.id),
                           field="data")
    review["check"] = {"passed": passed, "opinion": opinion, "by": str(act.actor),
                       "at": act.now.isoformat()}
    act.case.review = review
    act.reason = f"复核初审{'通过' if passed else '不通过'}：{opinion}"
    act.audit.update(passed=passed, opinion=opinion)


@EFFECTS.register("renew", reads=("reason",))
def renew(act: Act) -> None:
    """复核通过: the 考核 of the plan goals and the criteria re-check are recorded with the
    decision; the new validity starts the day after the old one ended (contiguous, also when
    decided after it), and the reports and expiry follow it."""
    act.reason = act.text("reason", required=False)
    assessment = review_assessment(act.session, act.case)
    old_until = act.case.valid_until
    assert old_until is not None
    new_from = old_until + timedelta(days=1)
    new_until = deadlines.validity_until(new_from, int(act.policy.periods.validity_years))
    deadlines.settle(
        act.session, now=act.now, result=f"renewed by {act.actor}", status="cancelled",
        case_id=act.case.id, kinds=(deadlines.VALIDITY_END, deadlines.EXPIRY_REMINDER),
    )
    assert act.case.id is not None  # the act's case is a stored row
    deadlines.schedule_validity(
        act.session, case_id=act.case.id, valid_from=new_from, valid_until=new_until,
        periods=act.policy.periods, calendar=act.calendar(), now=act.now,
    )
    act.case.valid_from = new_from
    act.case.valid_until = new_until
    review = dict(act.case.review or {})
    review["decision"] = {"renewed": True, "at": act.now.isoformat()}
    act.case.review = review
    act.audit.update(valid_from=new_from.isoformat(), valid_until=new_until.isoformat(),
                     previous_valid_until=old_until.isoformat(),
                     review_round=review.get("year"),
                     city_opinion=(review.get("check") or {}).get("opinion"))
    if assessment is not None:
        act.audit["assessment"] = _assessment_record(assessment)


@EFFECTS.register("fail_review", reads=("reason", "due"))
def fail_review(act: Act) -> None:
    """经复核未通过 (第十八条第（一）项): the province's reasons, with the 考核 on record, open
    the 拟撤销 procedure on ground 18.1 — the 告知书 states the facts and the 陈述申辩 deadline;
    nothing is revoked here."""
    reasons = act.text("reason")
    assert reasons is not None  # required by the row
    assessment = review_assessment(act.session, act.case)
    review = dict(act.case.review or {})
    year = review.get("year") or act.case.review_round
    hearing_due = open_procedure(act, code="18.1", facts=f"经{year}年复核未通过：{reasons}",
                                 due=act.day("due"))
    review["decision"] = {"renewed": False, "reasons": reasons, "at": act.now.isoformat()}
    act.case.review = review
    act.audit.update(review_round=year, review_reasons=reasons,
                     city_opinion=(review.get("check") or {}).get("opinion"),
                     hearing_due=hearing_due.isoformat())
    if assessment is not None:
        act.audit["assessment"] = _assessment_record(assessment)


def _assessment_record(assessment: Any) -> dict[str, Any]:
    """What the audit row keeps of the 考核: each goal's verdict and the criteria's."""
    return {
        "year": assessment.year, "goals_met": assessment.goals_met,
        "goals": [{"indicator": goal.indicator, "target": None if goal.target is None
                   else format(goal.target, "f"),
                   "actual": None if goal.actual is None else format(goal.actual, "f"),
                   "met": goal.met} for goal in assessment.goals],
        "criteria_passed": assessment.criteria.passed,
        "criteria_failed": [item.id for item in assessment.criteria.items
                            if item.result == "fail"],
    }
