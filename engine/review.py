"""复核 (第十六条) as data and rules: the 复核申报 file and the 考核 of the plan's goals.

A 复核 round of year Y re-checks a recognized cluster on the criteria data of the three years
before Y (the same schema as an application, the window moved to Y) and assesses each goal of
the development plan it was recognized with: the actual value against the target, in the
direction the goal set from its baseline. A rising goal is met when the actual is at or above
its target; a falling one (CO₂ intensity) when the actual is at or below it.

完成度 (completion) = (actual − baseline) ÷ (target − baseline), exact as a ``Fraction``; 1 means
the target was reached exactly, more than 1 that it was passed, below 0 that the indicator moved
away from it. ``completion_percent`` shows it in percent, rounded half away from zero to two
decimals (``ROUND_HALF_UP``) for reading only; ``met`` is decided exactly.

Pure functions: the acts that store a 复核申报 and decide on it call them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal

from gdcluster.engine.application import (
    goal_key,
    measurable,
    missing_for_submission,
    read_goal_results,
    read_stored_application,
    to_json,
    validate_application,
)
from gdcluster.engine.criteria import CheckReport, evaluate
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.states.policy import Policy

__all__ = [
    "GoalAssessment",
    "GoalResult",
    "ReviewApplication",
    "ReviewAssessment",
    "assess_goals",
    "assess_review",
    "read_stored_review",
    "validate_review_application",
]

Direction = Literal["up", "down"]
_PERCENT_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class GoalResult:
    """The actual value the county reports for one plan goal, with its note (evidence)."""

    indicator: str
    actual: Decimal
    note: str = ""

    def to_json(self) -> dict[str, str]:
        return {"indicator": self.indicator, "actual": format(self.actual, "f"),
                "note": self.note}


@dataclass(frozen=True)
class ReviewApplication:
    """A validated 复核申报: the criteria data for the 复核 round ``year`` and a result for
    every plan goal that names an indicator."""

    year: int
    application: Mapping[str, Any]
    goal_results: tuple[GoalResult, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON for storage; ``read_stored_review`` reads it back."""
        return {"year": self.year, "application": to_json(self.application),
                "goal_results": [result.to_json() for result in self.goal_results]}


def validate_review_application(data: Any, plan: Mapping[str, Any] | None,
                                review_year: int) -> ReviewApplication:
    """The 复核申报 file for the 复核 round of ``review_year``, checked against the case's
    development ``plan`` (as ``read_stored_application`` gives it; ``None`` when it has none).

    The criteria part follows the application's schema and must be complete for
    ``review_year`` (the three years before it, the lists, the management body and a plan for
    the next period). ``goal_results`` [{indicator, actual, note}] must give each plan goal
    that names an indicator exactly once, and nothing else. Anything wrong is ``InvalidInput``
    naming its path.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("the 复核申报 must be a mapping of fields", field="data")
    fields = dict(data)
    raw_results = fields.pop("goal_results", None)
    application = validate_application(fields)
    missing = missing_for_submission(application, review_year)
    if missing:
        raise InvalidInput(
            Message("the 复核申报 of {year} (近三年 {first}–{last}) lacks {missing}",
                    year=review_year, first=review_year - 3, last=review_year - 1,
                    missing=", ".join(missing)), field=missing[0])
    if raw_results is None:
        raw_results = []
    entries = read_goal_results(raw_results, plan, "goal_results")
    results = tuple(GoalResult(entry["indicator"], entry["actual"], entry.get("note", ""))
                    for entry in entries)
    return ReviewApplication(year=review_year, application=application, goal_results=results)


def read_stored_review(stored: Any) -> ReviewApplication:
    """A stored ``ReviewApplication.to_json()``; never raises (what cannot be read is left out,
    and the 考核 then shows those goals without a result)."""
    stored = stored if isinstance(stored, Mapping) else {}
    year = stored.get("year")
    results: list[GoalResult] = []
    for entry in stored.get("goal_results") or []:
        try:
            results.append(GoalResult(str(entry["indicator"]), Decimal(str(entry["actual"])),
                                      str(entry.get("note") or "")))
        except (KeyError, TypeError, ArithmeticError, ValueError):
            continue
    return ReviewApplication(year=year if isinstance(year, int) else 0,
                             application=read_stored_application(stored.get("application")),
                             goal_results=tuple(results))


@dataclass(frozen=True)
class GoalAssessment:
    """The 考核 of one plan goal. ``met`` is ``None`` when the goal cannot be assessed (not
    measurable, or no result given); ``reason`` says why, in Chinese."""

    indicator: str
    unit: str | None
    baseline_year: int | None
    baseline: Decimal | None
    target_year: int | None
    target: Decimal | None
    actual: Decimal | None
    note: str
    direction: Direction | None
    met: bool | None
    completion: Fraction | None
    completion_percent: Decimal | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        def number(value: Decimal | None) -> str | None:
            return None if value is None else format(value, "f")

        return {
            "indicator": self.indicator, "unit": self.unit,
            "baseline": None if self.baseline is None else
            {"year": self.baseline_year, "value": number(self.baseline)},
            "target": None if self.target is None else
            {"year": self.target_year, "value": number(self.target)},
            "actual": number(self.actual), "note": self.note, "direction": self.direction,
            "met": self.met,
            "completion": None if self.completion is None else str(self.completion),
            "completion_percent": number(self.completion_percent),
            "reason": self.reason,
        }


def assess_goals(plan: Mapping[str, Any] | None,
                 goal_results: Sequence[GoalResult | Mapping[str, Any]]) -> tuple[
                     GoalAssessment, ...]:
    """Each goal of ``plan`` against its result (matched by indicator, as ``goal_key`` does),
    in the plan's order."""
    results: dict[str, GoalResult] = {}
    for result in goal_results:
        if not isinstance(result, GoalResult):
            result = GoalResult(str(result["indicator"]), Decimal(result["actual"]),
                                str(result.get("note") or ""))
        results[goal_key(result.indicator)] = result
    return tuple(_assess(goal, results) for goal in (plan or {}).get("goals", []))


def _assess(goal: Mapping[str, Any], results: Mapping[str, GoalResult]) -> GoalAssessment:
    indicator = goal.get("indicator")
    result = results.get(goal_key(indicator)) if indicator else None
    baseline, target = goal.get("baseline") or {}, goal.get("target") or {}
    facts: dict[str, Any] = {
        "indicator": indicator or (goal.get("text") or "").strip(),
        "unit": goal.get("unit"),
        "baseline_year": baseline.get("year"), "baseline": baseline.get("value"),
        "target_year": target.get("year"), "target": target.get("value"),
        "actual": result.actual if result else None, "note": result.note if result else "",
    }
    unassessed = dict(facts, direction=None, met=None, completion=None, completion_percent=None)
    if not measurable(goal):
        lacking = "、".join(name for part, name in (("indicator", "指标"), ("unit", "单位"),
                                                    ("baseline", "基期值"), ("target", "目标值"))
                           if goal.get(part) is None)
        return GoalAssessment(**unassessed, reason=f"目标不可量化（缺少{lacking}），不能考核")
    if result is None:
        return GoalAssessment(**unassessed, reason="未报送实际值，不能考核")
    start, end, actual = Fraction(facts["baseline"]), Fraction(facts["target"]), Fraction(
        result.actual)
    direction: Direction = "up" if end > start else "down"
    met = actual >= end if direction == "up" else actual <= end
    completion = (actual - start) / (end - start)
    percent = _percent(completion)
    relation = ("不低于" if direction == "up" else "不高于") if met else (
        "低于" if direction == "up" else "高于")
    reason = (f"{'达成' if met else '未达成'}：实际值{format(result.actual, 'f')}{relation}"
              f"目标值{format(facts['target'], 'f')}（完成度{format(percent, 'f')}%）")
    return GoalAssessment(**facts, direction=direction, met=met, completion=completion,
                          completion_percent=percent, reason=reason)


def _percent(ratio: Fraction) -> Decimal:
    """``ratio`` in percent, rounded half away from zero to two decimals."""
    scaled = ratio * 10_000  # hundredths of a percent
    units = (abs(scaled.numerator) * 2 + scaled.denominator) // (2 * scaled.denominator)
    return (Decimal(units if scaled >= 0 else -units) / 100).quantize(
        _PERCENT_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ReviewAssessment:
    """The 考核 of the plan's goals and the criteria re-check on the 复核 data: the facts the
    province decides on (it decides; nothing here renews or fails a case)."""

    year: int
    goals: tuple[GoalAssessment, ...]
    criteria: CheckReport

    @property
    def goals_assessed(self) -> int:
        return sum(goal.met is not None for goal in self.goals)

    @property
    def goals_met(self) -> int:
        return sum(goal.met is True for goal in self.goals)

    @property
    def all_goals_met(self) -> bool:
        """True when there is at least one goal and every goal was assessed and met."""
        return bool(self.goals) and all(goal.met is True for goal in self.goals)

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "goals_assessed": self.goals_assessed,
                "goals_met": self.goals_met, "all_goals_met": self.all_goals_met,
                "goals": [goal.to_dict() for goal in self.goals],
                "criteria": self.criteria.to_dict()}


def assess_review(review: ReviewApplication, plan: Mapping[str, Any] | None, policy: Policy,
                  review_year: int | None = None) -> ReviewAssessment:
    """The 考核 of ``plan``'s goals with the review's results, and ``evaluate`` of the review's
    criteria data under ``policy`` for the 复核 round's year."""
    year = review_year if review_year is not None else review.year
    return ReviewAssessment(year=year, goals=assess_goals(plan, review.goal_results),
                            criteria=evaluate(review.application, policy, year))
