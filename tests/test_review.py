"""复核 (第十六条): the 复核申报 file and the 考核 of the plan's goals, with vectors.

The plan is the complete fixture's: 集群产值 196.4 → 260 亿元, 专精特新中小企业 6 → 20 家,
工业互联网平台应用普及率 21.5 → 30 %, and 单位产值二氧化碳排放 0.371 → 0.338 吨/万元 (falling).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from gdcluster.engine.application import load_application_file, to_json, validate_application
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.review import (
    GoalResult,
    assess_goals,
    assess_review,
    read_stored_review,
    validate_review_application,
)
from gdcluster.states.policy import load_policy

DATA = Path(__file__).parent / "data"
RAW = load_application_file((DATA / "application-complete.json").read_bytes(), "a.json")
PLAN = validate_application(RAW)["development_plan"]
GUANGDONG = load_policy("guangdong-2023")
REVIEW_YEAR = 2027


def review_data(**changes: Any) -> dict[str, Any]:
    """The complete application moved to the 复核 of 2027 (近三年 2024–2026), a new plan for
    2027–2029, and a result for each goal."""
    data = copy.deepcopy(RAW)
    for series in ("output", "sme_rd_expense", "invention_patents", "co2_intensity"):
        data[series] = {str(int(year) + 3): value for year, value in data[series].items()}
    data["development_plan"] = copy.deepcopy(RAW["development_plan"])
    data["development_plan"]["period"] = "2027–2029"
    for goal in data["development_plan"]["goals"]:
        goal["baseline"]["year"], goal["target"]["year"] = 2026, 2029
    data["goal_results"] = [
        {"indicator": "集群产值", "actual": "270", "note": "统计年报"},
        {"indicator": "专精特新中小企业", "actual": 18},
        {"indicator": "工业互联网平台应用普及率", "actual": "30"},
        {"indicator": "单位产值二氧化碳排放", "actual": "0.340"},
    ]
    data.update(changes)
    return data


NAMES = {"output": "集群产值", "smes": "专精特新中小企业", "internet": "工业互联网平台应用普及率",
         "co2": "单位产值二氧化碳排放"}


def results(**actuals: str) -> list[GoalResult]:
    return [GoalResult(NAMES[key], Decimal(value)) for key, value in actuals.items()]


# ---------------------------------------------------------------------------------------------
# The 考核


@pytest.mark.parametrize(
    ("key", "actual", "direction", "met", "completion", "percent"),
    [
        pytest.param("output", "270", "up", True, Fraction(736, 636), "115.72",
                     id="rising-goal-passed"),
        pytest.param("output", "260", "up", True, Fraction(1), "100.00", id="rising-goal-exactly"),
        pytest.param("output", "259.99", "up", False, Fraction(6359, 6360), "99.98",
                     id="rising-goal-just-short"),
        pytest.param("smes", "18", "up", False, Fraction(12, 14), "85.71",
                     id="rising-count-short"),
        pytest.param("co2", "0.338", "down", True, Fraction(1), "100.00",
                     id="falling-goal-exactly"),
        pytest.param("co2", "0.330", "down", True, Fraction(41, 33), "124.24",
                     id="falling-goal-passed"),
        pytest.param("co2", "0.340", "down", False, Fraction(31, 33), "93.94",
                     id="falling-goal-short"),
        pytest.param("co2", "0.380", "down", False, Fraction(-9, 33), "-27.27",
                     id="falling-goal-moved-the-wrong-way"),
        pytest.param("internet", "21.5", "up", False, Fraction(0), "0.00",
                     id="no-change-from-baseline"),
    ],
)
def test_goal_vectors(key: str, actual: str, direction: str, met: bool, completion: Fraction,
                      percent: str) -> None:
    """Met by the direction from baseline to target (a falling target is met at or below
    it); 完成度 = (actual − baseline) ÷ (target − baseline), exact."""
    by_indicator = {goal.indicator: goal for goal in assess_goals(PLAN, results(**{key: actual}))}
    goal = by_indicator[NAMES[key]]
    assert (goal.direction, goal.met, goal.completion) == (direction, met, completion)
    assert goal.completion_percent == Decimal(percent)
    assert goal.actual == Decimal(actual)
    assert ("达成" if met else "未达成") in goal.reason and f"完成度{percent}%" in goal.reason


@pytest.mark.parametrize(
    ("target", "actual", "percent"),
    [
        pytest.param("20000", "2469", "12.35", id="half-rounds-up"),
        pytest.param("20000", "-2469", "-12.35", id="negative-half-rounds-away-from-zero"),
        pytest.param("20000", "2468.9", "12.34", id="below-half-rounds-down"),
        pytest.param("3", "1", "33.33", id="a-third"),
        pytest.param("3", "2", "66.67", id="two-thirds"),
    ],
)
def test_completion_percent_rounds_half_away_from_zero(target: str, actual: str,
                                                       percent: str) -> None:
    """The percentage is for reading: two decimals, ties away from zero (ROUND_HALF_UP)."""
    plan = {"goals": [{"indicator": "x", "unit": "个", "baseline": {"year": 2023, "value": 0},
                       "target": {"year": 2026, "value": Decimal(target)}}]}
    (goal,) = assess_goals(plan, [{"indicator": "x", "actual": actual}])
    assert goal.completion_percent == Decimal(percent)
    assert goal.completion == Fraction(Decimal(actual)) / Fraction(Decimal(target))


def test_goals_that_cannot_be_assessed_say_why() -> None:
    """A goal without a target (or only a sentence) and a goal without a result are listed
    with met = None and the reason; matching ignores width and spaces."""
    plan = {"goals": [{"text": "做大做强"}, {"indicator": "品牌", "unit": "个"},
                      {"indicator": "集群产值", "unit": "亿元",
                       "baseline": {"year": 2023, "value": Decimal(1)},
                       "target": {"year": 2026, "value": Decimal(2)}},
                      {"indicator": "产能", "unit": "万吨",
                       "baseline": {"year": 2023, "value": Decimal(1)},
                       "target": {"year": 2026, "value": Decimal(2)}}]}
    goals = assess_goals(plan, [{"indicator": "集群 产值", "actual": "3"},
                                {"indicator": "品牌", "actual": "1"}])
    assert [goal.met for goal in goals] == [None, None, True, None]
    assert goals[0].reason == "目标不可量化（缺少指标、单位、基期值、目标值），不能考核"
    assert goals[1].reason == "目标不可量化（缺少基期值、目标值），不能考核"
    assert goals[3].reason == "未报送实际值，不能考核"
    assert goals[0].indicator == "做大做强"


# ---------------------------------------------------------------------------------------------
# The 复核申报 file


def test_review_application_is_validated_against_the_plan_and_the_review_year() -> None:
    """A complete 复核申报 for 2027: criteria data 2024–2026, a result for every goal."""
    review = validate_review_application(review_data(), PLAN, REVIEW_YEAR)
    assert review.year == REVIEW_YEAR
    assert sorted(review.application["output"]) == [2024, 2025, 2026]
    assert [result.indicator for result in review.goal_results] == [
        "集群产值", "专精特新中小企业", "工业互联网平台应用普及率", "单位产值二氧化碳排放"]
    assert review.goal_results[0] == GoalResult("集群产值", Decimal("270"), "统计年报")
    assert read_stored_review(review.to_json()) == review


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"goal_results": [{"indicator": "集群产值", "actual": 1}]}, "goal_results",
                     id="goals-without-a-result"),
        pytest.param({"goal_results": None}, "goal_results", id="no-results-at-all"),
        pytest.param({"goal_results": [
            {"indicator": "集群产值", "actual": 1}, {"indicator": "集群产值", "actual": 2}]},
            "goal_results[1].indicator", id="a-goal-twice"),
        pytest.param({"goal_results": [{"indicator": "营业收入", "actual": 1}]},
                     "goal_results[0].indicator", id="a-goal-the-plan-does-not-have"),
        pytest.param({"goal_results": [{"indicator": "集群产值", "actual": "4.78e1"}]},
                     "goal_results[0].actual", id="actual-in-exponent-form"),
        pytest.param({"goal_results": [{"indicator": "集群产值"}]}, "goal_results[0].actual",
                     id="actual-missing"),
        pytest.param({"goal_results": [{"indicator": "集群产值", "actual": 1,
                                        "note": "见\u202e附件"}]},
                     "goal_results[0].note", id="bidi-in-a-note"),
        pytest.param({"output": {"2024": 1, "2025": 2}}, "output.2026", id="a-window-year-missing"),
        pytest.param({"incidents": None}, "incidents", id="incidents-not-declared"),
        pytest.param({"area_km2": "-1"}, "area_km2", id="criteria-data-wrong"),
        pytest.param({"assessment": "好"}, "assessment", id="unknown-field"),
    ],
)
def test_review_application_refusals_name_the_field(changes: dict[str, Any], path: str) -> None:
    """Missing, unknown or repeated goals, and criteria data that are wrong or incomplete for
    the 复核 year, are refused naming the path."""
    data = review_data(**changes)
    data = {key: value for key, value in data.items() if value is not None}
    with pytest.raises(InvalidInput) as caught:
        validate_review_application(data, PLAN, REVIEW_YEAR)
    assert caught.value.field == path


def test_a_plan_without_indicators_needs_no_results() -> None:
    """When the plan names no indicator (a legacy plan of sentences), no result can be asked
    for: an empty list is accepted and any result is refused."""
    legacy_plan = {"goals": [{"text": "做大做强"}]}
    assert validate_review_application(review_data(goal_results=[]), legacy_plan,
                                       REVIEW_YEAR).goal_results == ()
    with pytest.raises(InvalidInput) as caught:
        validate_review_application(review_data(goal_results=[
            {"indicator": "集群产值", "actual": 1}]), legacy_plan, REVIEW_YEAR)
    assert "the plan names no indicator" in str(caught.value)


def test_assess_review_gives_the_考核_and_the_criteria_recheck() -> None:
    """The 考核 of each goal and evaluate() of the 复核 data for the 复核 year (window
    2024–2026); the assessment decides nothing itself."""
    review = validate_review_application(review_data(), PLAN, REVIEW_YEAR)
    assessment = assess_review(review, PLAN, GUANGDONG)
    assert [goal.met for goal in assessment.goals] == [True, False, True, False]
    assert (assessment.goals_assessed, assessment.goals_met) == (4, 2)
    assert assessment.all_goals_met is False
    assert assessment.criteria.window == (2024, 2025, 2026)
    assert assessment.criteria.passed
    data = assessment.to_dict()
    assert data["goals"][3] == {
        "indicator": "单位产值二氧化碳排放", "unit": "吨/万元",
        "baseline": {"year": 2023, "value": "0.371"}, "target": {"year": 2026, "value": "0.338"},
        "actual": "0.340", "note": "", "direction": "down", "met": False,
        "completion": "31/33", "completion_percent": "93.94",
        "reason": "未达成：实际值0.340高于目标值0.338（完成度93.94%）"}
    assert data["criteria"]["window"] == [2024, 2025, 2026]


def test_stored_review_reads_back_leniently() -> None:
    """A stored 复核申报 with an unreadable result keeps the others, never raising."""
    stored = validate_review_application(review_data(), PLAN, REVIEW_YEAR).to_json()
    stored["goal_results"][1] = {"indicator": "专精特新中小企业"}
    review = read_stored_review(stored)
    assert [result.indicator for result in review.goal_results] == [
        "集群产值", "工业互联网平台应用普及率", "单位产值二氧化碳排放"]
    assert review.application == validate_application(to_json(review.application))
    assert read_stored_review(None).goal_results == ()
