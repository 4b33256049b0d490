"""第十三条 as code: every automatic criterion at, just above and just below its threshold.

Each case starts from the complete application of ``tests/data`` (which passes everything for
round 2024), changes one field, and checks one item of the report. Boundaries follow 民法典第1259条
through the policy's operators; arithmetic must be exact (no floats, no roots). "近三年" is the
three calendar years before the round year and nothing else (DESIGN §4a); incidents count by
kind, grade and ``major``; the plan needs a period starting in the round year or the next and a
measurable goal.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdcluster.engine.application import load_application_file, validate_application
from gdcluster.engine.criteria import CheckReport, evaluate
from gdcluster.states.policy import Policy, load_policy

DATA = Path(__file__).parent / "data"
ROUND = 2024
GUANGDONG = load_policy("guangdong-2023")
NATIONAL = load_policy("national-2022")
AUTOMATIC = {
    "incidents",
    "area",
    "output",
    "sme_share",
    "leading_share",
    "output_growth",
    "quality_enterprises",
    "rd_growth",
    "patent_growth",
    "patents_per_10k",
    "internet_rate",
    "co2_intensity",
    "energy_water",
    "governance",
}


def complete() -> dict[str, Any]:
    path = DATA / "application-complete.json"
    return validate_application(load_application_file(path.read_bytes(), path.name))


COMPLETE = complete()


def judge(
    changes: dict[str, Any] | None = None,
    *,
    remove: tuple[str, ...] = (),
    policy: Policy = GUANGDONG,
    round_year: int = ROUND,
) -> CheckReport:
    """Evaluate the complete application with some fields replaced (raw values, validated)."""
    raw = copy.deepcopy(COMPLETE)
    raw.update(changes or {})
    for key in remove:
        raw.pop(key, None)
    return evaluate(validate_application(raw), policy, round_year)


def with_threshold(policy: Policy, threshold_id: str, **changes: Any) -> Policy:
    thresholds = tuple(
        dataclasses.replace(threshold, **changes) if threshold.id == threshold_id else threshold
        for threshold in policy.thresholds
    )
    return dataclasses.replace(policy, thresholds=thresholds)


def years(*values: Any, last: int = ROUND - 1) -> dict[str, Any]:
    """A year series ending with ``last``: years(100, 110, 121) → {"2021": 100, …, "2023": 121}."""
    first = last - len(values) + 1
    return {str(first + offset): value for offset, value in enumerate(values)}


def enterprises(count: int, prefix: str = "中山市示例企业") -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix}{index:02d}有限公司", "kinds": ["high_tech"]} for index in range(count)
    ]


# ---------------------------------------------------------------------------------------------
# The fixture and the report


def test_complete_application_passes_every_automatic_item() -> None:
    """The shipped complete application passes all automatic items under Guangdong's policy."""
    report = evaluate(COMPLETE, GUANGDONG, ROUND)
    assert report.passed, [item.to_dict() for item in report.failures()]
    results = {item.id: item.result for item in report.items}
    assert {item_id for item_id, result in results.items() if result == "pass"} == AUTOMATIC


def test_complete_application_passes_under_the_national_policy_too() -> None:
    """The same data also meet the national standard (whose SME share rule is looser)."""
    assert evaluate(COMPLETE, NATIONAL, ROUND).passed


def test_report_lists_qualitative_items_as_expert_judgement() -> None:
    """13(2)'s standing, 13(4) supply chain and 13(8) open cooperation go to the experts."""
    report = evaluate(COMPLETE, GUANGDONG, ROUND)
    expert = {item.article for item in report.items if item.result == "expert"}
    assert {"第十三条第（二）项", "第十三条第（四）项", "第十三条第（八）项"} <= expert


def test_passed_is_true_exactly_when_no_automatic_item_fails() -> None:
    """Expert items never fail the check; one failing automatic item does."""
    good = evaluate(COMPLETE, GUANGDONG, ROUND)
    assert any(item.result == "expert" for item in good.items)
    assert good.passed and good.failures() == []
    bad = judge({"area_km2": "120"})
    assert not bad.passed
    assert [item.id for item in bad.failures()] == ["area"]


def test_missing_data_fail_with_a_value_saying_so() -> None:
    """An empty draft fails every automatic item, each value starting 缺少数据."""
    report = evaluate({}, GUANGDONG, ROUND)
    assert not report.passed
    failed = {item.id for item in report.failures()}
    assert failed == AUTOMATIC
    assert all(item.value.startswith("缺少数据") for item in report.failures())


def test_to_dict_is_the_case_check_json_shape() -> None:
    """to_dict gives passed, method and items with article, item, rule, value, result."""
    data = evaluate(COMPLETE, GUANGDONG, ROUND).to_dict()
    assert data["passed"] is True
    assert data["method"] == "compound"
    assert {"article", "item", "rule", "value", "result"} <= set(data["items"][0])
    assert {item["result"] for item in data["items"]} == {"pass", "expert"}
    json.dumps(data, ensure_ascii=False)


def test_items_follow_the_order_of_the_article() -> None:
    """Items run 第十三条第（一）项 to 第（九）项, so the report reads like the measures."""
    articles = [item.article for item in evaluate(COMPLETE, GUANGDONG, ROUND).items]
    numerals = "一二三四五六七八九"
    ranks = [numerals.index(article[-3]) for article in articles]
    assert ranks == sorted(ranks)
    assert articles[0] == "第十三条第（一）项" and articles[-1] == "第十三条第（九）项"


def test_rules_are_quoted_from_the_policy() -> None:
    """Each item states the Chinese rule it applied, as the policy file words it: the
    measures' words (``text``), which is also the item's quotable ``text``."""
    report = evaluate(COMPLETE, GUANGDONG, ROUND)
    assert report.item("sme_share").rule == "中小企业产值占集群总产值比重高于70%"
    assert report.item("patent_growth").rule == GUANGDONG.threshold("patent_growth").text
    assert report.item("area").text == "集群占地面积不超过100平方公里"
    assert report.item("incidents").text == GUANGDONG.condition("incidents").text
    assert "其它重大问题" in report.item("incidents").rule


# ---------------------------------------------------------------------------------------------
# Thresholds, table-driven: (changes, item, expected result)

THRESHOLD_CASES = [
    # 13(2) area: 不超过100平方公里 (le)
    pytest.param({"area_km2": "100"}, "area", "pass", id="area-100-passes-le"),
    pytest.param({"area_km2": "99.9999999"}, "area", "pass", id="area-99.9999999-passes"),
    pytest.param({"area_km2": "100.0000001"}, "area", "fail", id="area-100.0000001-fails"),
    # 13(2) output: 近三年产值均在40亿元以上 (ge, every year)
    pytest.param(
        {"output": years(40, 40, 40)}, "output", "pass", id="output-40-each-year-passes-ge"
    ),
    pytest.param(
        {"output": years(40.0000001, 45, 50)}, "output", "pass", id="output-40.0000001-passes"
    ),
    pytest.param(
        {"output": years(39.9999999, 80, 90)},
        "output",
        "fail",
        id="output-39.9999999-in-one-year-fails",
    ),
    pytest.param(
        {"output": years(90, 39.99, 95)}, "output", "fail", id="output-middle-year-short-fails"
    ),
    pytest.param(
        {"output": {"2021": 50, "2023": 60}}, "output", "fail", id="output-missing-year-fails"
    ),
    # 13(2) SME share: 高于70% (gt)
    pytest.param({"sme_output_share": "0.70"}, "sme_share", "fail", id="sme_share-0.70-fails-gt"),
    pytest.param({"sme_output_share": "70%"}, "sme_share", "fail", id="sme_share-70%-fails-gt"),
    pytest.param(
        {"sme_output_share": "0.7000001"}, "sme_share", "pass", id="sme_share-0.7000001-passes"
    ),
    pytest.param(
        {"sme_output_share": "0.6999999"}, "sme_share", "fail", id="sme_share-0.6999999-fails"
    ),
    pytest.param(
        {"sme_output_share": "0.7000000000000000001"},
        "sme_share",
        "pass",
        id="sme_share-0.7000000000000000001-passes-exactly-no-float-rounding",
    ),
    # 13(2) leading-industry share: 高于70% (gt)
    pytest.param(
        {"leading_industry_share": "0.7"}, "leading_share", "fail", id="leading_share-0.70-fails-gt"
    ),
    pytest.param(
        {"leading_industry_share": "70.00001%"},
        "leading_share",
        "pass",
        id="leading_share-70.00001%-passes",
    ),
    pytest.param(
        {"leading_industry_share": "0.6999999"},
        "leading_share",
        "fail",
        id="leading_share-0.6999999-fails",
    ),
    # 13(2) output growth: 高于10% (gt), compound over the consecutive years
    pytest.param(
        {"output": years(100, 110, 121)},
        "output_growth",
        "fail",
        id="output_growth-100-110-121-exactly-10%-fails-gt",
    ),
    pytest.param(
        {"output": years(100, 110, "121.0000001")},
        "output_growth",
        "pass",
        id="output_growth-121.0000001-passes",
    ),
    pytest.param(
        {"output": years(100, 110, "120.9999999")},
        "output_growth",
        "fail",
        id="output_growth-120.9999999-fails",
    ),
    pytest.param(
        {"output": years(100, 200, 121)},
        "output_growth",
        "fail",
        id="output_growth-compound-ignores-middle-year",
    ),
    pytest.param(
        {"output": years(100, 110, 121, "133.1")},
        "output_growth",
        "fail",
        id="output_growth-window-exactly-10%-fails-with-a-year-before-it",
    ),
    # "近三年" is 2021–2023 only: 2020's 130 is outside the window and cannot fail the growth
    pytest.param(
        {"output": years(130, 100, 121, "146.41")},
        "output_growth",
        "pass",
        id="output_growth-uses-only-the-window",
    ),
    pytest.param(
        {"output": {"2019": 1000, "2021": 100, "2022": 121, "2023": "146.41"}},
        "output_growth",
        "pass",
        id="output_growth-ignores-years-before-a-gap",
    ),
    pytest.param(
        {"output": {"2021": 100, "2022": 110, "2023": 121, "2024": 500}},
        "output_growth",
        "fail",
        id="output_growth-ignores-the-round-year-itself",
    ),
    pytest.param(
        {"output": years(0, 50, 60)}, "output_growth", "fail", id="output_growth-zero-base-fails"
    ),
    pytest.param(
        {"output": {"2022": 110, "2023": 121}},
        "output_growth",
        "fail",
        id="output_growth-two-years-only-fails",
    ),
    # 13(5) SME R&D growth: 高于10% (gt)
    pytest.param(
        {"sme_rd_expense": years(1, "1.1", "1.21")},
        "rd_growth",
        "fail",
        id="rd_growth-exactly-10%-fails-gt",
    ),
    pytest.param(
        {"sme_rd_expense": years(1, "1.1", "1.2100001")},
        "rd_growth",
        "pass",
        id="rd_growth-1.2100001-passes",
    ),
    pytest.param(
        {"sme_rd_expense": years(1, "1.1", "1.2099999")},
        "rd_growth",
        "fail",
        id="rd_growth-1.2099999-fails",
    ),
    pytest.param(
        {"sme_rd_expense": {"2021": 1, "2023": 2}},
        "rd_growth",
        "fail",
        id="rd_growth-missing-year-fails",
    ),
    # 13(5) invention-patent growth: 不低于15% (ge); 1.15² = 1.3225
    pytest.param(
        {"invention_patents": years(10000, 11500, 13225)},
        "patent_growth",
        "pass",
        id="patent_growth-exactly-15%-passes-ge",
    ),
    pytest.param(
        {"invention_patents": years(10000, 11500, 13226)},
        "patent_growth",
        "pass",
        id="patent_growth-13226-passes",
    ),
    pytest.param(
        {"invention_patents": years(10000, 11500, 13224)},
        "patent_growth",
        "fail",
        id="patent_growth-13224-fails",
    ),
    # 13(5) patents per 10,000 employees: 不低于15 (ge); latest year × 10000 vs 15 × employees
    pytest.param(
        {"invention_patents": years(13, 14, 15), "employees": 10000},
        "patents_per_10k",
        "pass",
        id="patents_per_10k-15-per-10000-passes-ge",
    ),
    pytest.param(
        {"invention_patents": years(13, 14, 14), "employees": 10000},
        "patents_per_10k",
        "fail",
        id="patents_per_10k-14-per-10000-fails",
    ),
    pytest.param(
        {"invention_patents": years(13, 14, 15), "employees": 10001},
        "patents_per_10k",
        "fail",
        id="patents_per_10k-15-per-10001-fails",
    ),
    pytest.param(
        {"invention_patents": years(13, 14, 15), "employees": 9999},
        "patents_per_10k",
        "pass",
        id="patents_per_10k-15-per-9999-passes",
    ),
    pytest.param(
        {"invention_patents": years(1, 10000, 15), "employees": 10000},
        "patents_per_10k",
        "pass",
        id="patents_per_10k-uses-the-latest-year",
    ),
    # 13(6) industrial-internet penetration: 不低于15% (ge)
    pytest.param(
        {"industrial_internet_rate": "0.15"},
        "internet_rate",
        "pass",
        id="internet_rate-0.15-passes-ge",
    ),
    pytest.param(
        {"industrial_internet_rate": "15%"},
        "internet_rate",
        "pass",
        id="internet_rate-15%-passes-ge",
    ),
    pytest.param(
        {"industrial_internet_rate": "0.1500001"},
        "internet_rate",
        "pass",
        id="internet_rate-0.1500001-passes",
    ),
    pytest.param(
        {"industrial_internet_rate": "0.1499999"},
        "internet_rate",
        "fail",
        id="internet_rate-0.1499999-fails",
    ),
]


@pytest.mark.parametrize(("changes", "item_id", "expected"), THRESHOLD_CASES)
def test_threshold_boundaries(changes: dict[str, Any], item_id: str, expected: str) -> None:
    """Each measurable criterion decides exactly at its boundary, per its operator."""
    item = judge(changes).item(item_id)
    assert item.result == expected, item.value


@pytest.mark.parametrize(
    ("share", "guangdong", "national"),
    [
        pytest.param(
            "0.70", "fail", "pass", id="sme_share-exactly-70%-guangdong-fails-national-passes"
        ),
        pytest.param("0.6999999", "fail", "fail", id="sme_share-0.6999999-fails-both"),
        pytest.param("0.7000001", "pass", "pass", id="sme_share-0.7000001-passes-both"),
    ],
)
def test_sme_share_national_70_percent_and_above_includes_70(
    share: str, guangdong: str, national: str
) -> None:
    """Guangdong's 高于70% excludes 70%; the national 70%以上 includes it (民法典第1259条)."""
    assert judge({"sme_output_share": share}).item("sme_share").result == guangdong
    assert judge({"sme_output_share": share}, policy=NATIONAL).item("sme_share").result == national


def test_growth_of_exactly_10_percent_passes_when_the_operator_includes_it() -> None:
    """100 → 110 → 121 is exactly 10%: it fails "gt" but passes "ge"."""
    policy = with_threshold(GUANGDONG, "output_growth", operator="ge")
    assert (
        judge({"output": years(100, 110, 121)}, policy=policy).item("output_growth").result
        == "pass"
    )
    assert judge({"output": years(100, 110, 121)}).item("output_growth").result == "fail"


def test_growth_value_shows_the_rate_the_method_and_exact_equality() -> None:
    """The value reads 约10.00%, names the compound method and years, and says it equals 10%."""
    value = judge({"output": years(100, 110, 121)}).item("output_growth").value
    assert "10.00%" in value
    assert "复合，2021–2023年" in value
    assert "恰好等于10%" in value


def test_growth_over_many_years_stays_exact() -> None:
    """Ten years of exactly 10% growth: only the window 2021–2023 is used, and its exactly-10%
    growth fails 高于10%: no rounding sneaks in."""
    series = {str(2014 + index): Decimal(100) * Decimal("1.1") ** index for index in range(10)}
    report = judge({"output": series})
    item = report.item("output_growth")
    assert item.result == "fail"
    assert "2021–2023年" in item.value and "2014" not in item.value
    assert report.unused_years["output"] == tuple(range(2014, 2021))


@pytest.mark.parametrize(
    ("series", "operator", "expected"),
    [
        pytest.param(years(100, 110, 121), "gt", "fail", id="mean-10%-and-10%-fails-gt"),
        pytest.param(years(100, 120, 120), "gt", "fail", id="mean-20%-and-0%-is-10%-fails-gt"),
        pytest.param(years(100, 120, 120), "ge", "pass", id="mean-20%-and-0%-is-10%-passes-ge"),
        pytest.param(
            years(100, 150, 120),
            "gt",
            "pass",
            id="mean-50%-and-minus-20%-passes-where-compound-fails",
        ),
        pytest.param(years(100, 120, "120.0000001"), "gt", "pass", id="mean-just-above-10%-passes"),
        pytest.param(years(100, 0, 50), "gt", "fail", id="mean-zero-year-fails"),
    ],
)
def test_growth_mean_method(series: dict[str, Any], operator: str, expected: str) -> None:
    """A policy with growth_method = "mean" compares the arithmetic mean of yearly rates exactly."""
    policy = with_threshold(
        dataclasses.replace(GUANGDONG, growth_method="mean"), "output_growth", operator=operator
    )
    report = judge({"output": series}, policy=policy)
    assert report.method == "mean"
    assert report.item("output_growth").result == expected
    assert "算术平均" in report.item("output_growth").value


def test_compound_and_mean_disagree_on_a_volatile_series() -> None:
    """100 → 150 → 120: compound ≈9.54% fails 高于10%; the mean of +50% and −20% (15%) passes."""
    assert judge({"output": years(100, 150, 120)}).item("output_growth").result == "fail"


def test_missing_year_names_it() -> None:
    """A missing year in a growth series fails with the year named."""
    item = judge({"invention_patents": {"2021": 100, "2023": 200}}).item("patent_growth")
    assert item.result == "fail"
    assert item.value == "缺少数据：2022年有效发明专利"


def test_patents_per_10k_needs_employees() -> None:
    """Without the employee count the per-10,000 item cannot be judged: it fails, saying so."""
    item = judge(remove=("employees",)).item("patents_per_10k")
    assert item.result == "fail"
    assert item.value.startswith("缺少数据") and "从业人员" in item.value


# ---------------------------------------------------------------------------------------------
# 13(3) quality enterprises: ≥1 champion/小巨人, or ≥10 provincial quality SMEs, each counted once


@pytest.mark.parametrize(
    ("champions", "quality", "expected"),
    [
        pytest.param(
            [{"name": "甲公司", "kind": "single_champion"}],
            [],
            "pass",
            id="quality-1-champion-0-smes-passes",
        ),
        pytest.param(
            [{"name": "甲公司", "kind": "little_giant"}],
            [],
            "pass",
            id="quality-1-little-giant-passes",
        ),
        pytest.param([], enterprises(10), "pass", id="quality-0-champions-10-smes-passes"),
        pytest.param([], enterprises(9), "fail", id="quality-0-champions-9-smes-fails"),
        pytest.param(
            [],
            [*enterprises(9), *enterprises(1)],
            "fail",
            id="quality-duplicate-enterprise-counted-once-fails",
        ),
        pytest.param(
            [],
            [
                *enterprises(9),
                {"name": "中山市示例企业00有限公司", "kinds": ["innovative", "specialized_new"]},
            ],
            "fail",
            id="quality-same-enterprise-under-two-kinds-counted-once",
        ),
        pytest.param(
            [],
            [
                *enterprises(8),
                {"name": "示例（古镇）灯饰公司", "kinds": ["high_tech"]},
                {"name": "示例(古镇)灯饰公司 ", "kinds": ["innovative"]},
            ],
            "fail",
            id="quality-full-width-and-ascii-brackets-are-one-enterprise",
        ),
        pytest.param([], enterprises(11), "pass", id="quality-0-champions-11-smes-passes"),
    ],
)
def test_quality_enterprises_either_or(
    champions: list[dict[str, Any]], quality: list[dict[str, Any]], expected: str
) -> None:
    """13(3) passes on either count; an enterprise listed twice is counted once."""
    report = judge({"champion_enterprises": champions, "quality_smes": quality})
    assert report.item("quality_enterprises").result == expected


def test_quality_enterprises_missing_lists_fail_but_one_list_suffices() -> None:
    """With neither list the item fails as missing; a passing list alone is enough."""
    neither = judge(remove=("champion_enterprises", "quality_smes")).item("quality_enterprises")
    assert neither.result == "fail" and neither.value.startswith("缺少数据")
    only_smes = judge({"quality_smes": enterprises(10)}, remove=("champion_enterprises",))
    assert only_smes.item("quality_enterprises").result == "pass"


# ---------------------------------------------------------------------------------------------
# 13(1) incidents


def incident(year: int, kind: str, grade: str | None = None,
             major: bool | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"year": year, "kind": kind, "description": "测试记录"}
    if grade is not None:
        record["grade"] = grade
    if major is not None:
        record["major"] = major
    return record


@pytest.mark.parametrize(
    ("incidents", "expected"),
    [
        pytest.param([], "pass", id="incidents-none-declared-passes"),
        pytest.param(
            [incident(2022, "safety", "一般")], "pass", id="incidents-一般-safety-accident-passes"
        ),
        pytest.param(
            [incident(2022, "safety", "较大")], "fail", id="incidents-较大-safety-accident-fails"
        ),
        pytest.param(
            [incident(2023, "quality", "较大")], "fail", id="incidents-较大-quality-accident-fails"
        ),
        pytest.param(
            [incident(2021, "environment", "特别重大")],
            "fail",
            id="incidents-特别重大-pollution-fails",
        ),
        pytest.param(
            [incident(2022, "cyber", "较大")], "pass", id="incidents-较大-cyber-incident-passes"
        ),
        pytest.param(
            [incident(2022, "cyber", "重大")], "fail", id="incidents-重大-cyber-incident-fails"
        ),
        pytest.param(
            [incident(2022, "data", "重大")], "fail", id="incidents-重大-data-incident-fails"
        ),
        pytest.param([incident(2022, "tax")], "fail", id="incidents-tax-evasion-fails"),
        # other violations and 其它重大问题 count only when marked major
        pytest.param(
            [incident(2022, "illegal", major=False)], "pass",
            id="incidents-minor-violation-passes",
        ),
        pytest.param(
            [incident(2022, "illegal", major=True)], "fail", id="incidents-major-violation-fails"
        ),
        pytest.param(
            [incident(2023, "other", major=True)], "fail", id="incidents-其它重大问题-major-fails"
        ),
        pytest.param(
            [incident(2023, "other", major=False)], "pass",
            id="incidents-other-problem-not-major-passes",
        ),
        pytest.param(
            [incident(2023, "dishonesty")], "fail", id="incidents-serious-dishonesty-fails"
        ),
        pytest.param(
            [incident(2020, "tax")], "pass", id="incidents-tax-before-the-window-ignored"
        ),
        pytest.param(
            [incident(2020, "safety", "重大")], "pass", id="incidents-older-than-3-years-ignored"
        ),
        pytest.param(
            [incident(2021, "safety", "较大")], "fail", id="incidents-3-years-back-counts"
        ),
        pytest.param(
            [incident(2024, "safety", "较大")], "fail", id="incidents-in-the-round-year-counts"
        ),
        pytest.param(
            [incident(2022, "safety", "一般"), incident(2023, "tax")],
            "fail",
            id="incidents-one-bad-among-many-fails",
        ),
    ],
)
def test_incidents(incidents: list[dict[str, Any]], expected: str) -> None:
    """较大+ accidents, 重大+ cyber/data incidents, established tax evasion or serious
    dishonesty, and violations or other problems marked major bar; nothing before 2021 does."""
    report = judge({"incidents": incidents})
    assert report.item("incidents").result == expected, report.item("incidents").value


def test_incidents_not_declared_fails_as_missing() -> None:
    """Silence is not a declaration of "none": without the list the item fails."""
    item = judge(remove=("incidents",)).item("incidents")
    assert item.result == "fail" and item.value.startswith("缺少数据")


def test_failing_incident_is_described_in_the_value() -> None:
    """The value names the year, grade and kind of the disqualifying incident, and why."""
    value = judge({"incidents": [incident(2022, "safety", "较大")]}).item("incidents").value
    assert "2022年较大安全事故" in value and "达到较大及以上，计入" in value


def test_one_small_fire_safety_fine_no_longer_disqualifies() -> None:
    """Issue 11: one small fire-safety fine at one firm (违法违规, not major) used to bar the
    whole cluster; it is listed, explained, and does not count. A 其它重大问题 marked major
    does."""
    fine = {"year": 2023, "kind": "illegal", "major": False,
            "description": "某企业消防设施不合格，被处以5000元罚款"}
    report = judge({"incidents": [fine]})
    assert report.item("incidents").result == "pass"
    (finding,) = report.incidents
    assert finding.counts is False and "未标明为重大" in finding.reason
    assert "消防设施" in report.item("incidents").value
    other = {"year": 2022, "kind": "other", "major": True, "description": "集群核心企业被责令停产"}
    barred = judge({"incidents": [fine, other]})
    assert barred.item("incidents").result == "fail" and not barred.passed
    assert [finding.counts for finding in barred.incidents] == [False, True]
    assert "其它重大问题" in barred.item("incidents").value


def test_each_incident_is_explained_in_the_report() -> None:
    """Every declared incident appears with whether it counts and why, in the report and its
    JSON: outside the window, below the grade, established, marked major or not."""
    report = judge({"incidents": [
        incident(2019, "environment", "重大"), incident(2022, "cyber", "较大"),
        incident(2023, "tax"), incident(2021, "illegal", major=False)]})
    reasons = [(finding.counts, finding.reason) for finding in report.incidents]
    assert reasons == [
        (False, "早于2021年，不在近三年内，不计入"),
        (False, "未达重大及以上，不计入"),
        (True, "一经查实即计入"),
        (False, "未标明为重大（如一般行政处罚），不计入"),
    ]
    data = report.to_dict()
    assert data["incidents_since"] == 2021
    assert [row["counts"] for row in data["incidents"]] == [False, False, True, False]


# ---------------------------------------------------------------------------------------------
# 13(7) CO2 intensity and energy / water efficiency


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        pytest.param(years("0.5", "0.49", "0.48"), "pass", id="co2-strictly-falling-passes"),
        pytest.param(years("0.5", "0.49", "0.49"), "fail", id="co2-equal-years-fail"),
        pytest.param(years("0.5", "0.5", "0.48"), "fail", id="co2-equal-first-years-fail"),
        pytest.param(years("0.5", "0.51", "0.48"), "fail", id="co2-rise-in-between-fails"),
        pytest.param(
            years("0.6", "0.5", "0.4", "0.41"), "fail", id="co2-rise-in-the-last-year-fails"
        ),
        # only 2021–2023 count: the rise from 2020 to 2021 is outside the window
        pytest.param(
            years("0.4", "0.5", "0.49", "0.48"), "pass", id="co2-year-before-the-window-not-used"
        ),
        pytest.param({"2021": "0.5", "2023": "0.4"}, "fail", id="co2-missing-year-fails"),
    ],
)
def test_co2_intensity_strictly_falling(series: dict[str, Any], expected: str) -> None:
    """CO2 intensity must fall year on year; equal years are not a fall."""
    assert judge({"co2_intensity": series}).item("co2_intensity").result == expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(
            {"energy_intensive": False, "water_intensive": False},
            "pass",
            id="energy_water-neither-intensive-passes",
        ),
        pytest.param(
            {"energy_intensive": True, "energy_efficiency_above_benchmark": True},
            "pass",
            id="energy_water-energy-intensive-above-benchmark-passes",
        ),
        pytest.param(
            {"energy_intensive": True, "energy_efficiency_above_benchmark": False},
            "fail",
            id="energy_water-energy-intensive-below-benchmark-fails",
        ),
        pytest.param(
            {"water_intensive": True, "water_efficiency_above_benchmark": False},
            "fail",
            id="energy_water-water-intensive-below-benchmark-fails",
        ),
        pytest.param(
            {"energy_intensive": False, "energy_efficiency_above_benchmark": False},
            "pass",
            id="energy_water-flag-irrelevant-when-not-intensive",
        ),
    ],
)
def test_energy_water(flags: dict[str, Any], expected: str) -> None:
    """Energy- or water-intensive clusters must beat their sector benchmark; others pass."""
    assert judge(flags).item("energy_water").result == expected


@pytest.mark.parametrize(
    "remove",
    [
        pytest.param(("energy_intensive",), id="energy_water-intensity-unknown-fails"),
        pytest.param(("water_intensive",), id="energy_water-water-intensity-unknown-fails"),
    ],
)
def test_energy_water_missing(remove: tuple[str, ...]) -> None:
    """Without the intensity flags the item cannot be judged: it fails, saying so."""
    item = judge(remove=remove).item("energy_water")
    assert item.result == "fail" and item.value.startswith("缺少数据")


def test_energy_intensive_without_benchmark_flag_fails_as_missing() -> None:
    """An energy-intensive cluster that does not say whether it beats the benchmark fails."""
    report = judge({"energy_intensive": True}, remove=("energy_efficiency_above_benchmark",))
    item = report.item("energy_water")
    assert item.result == "fail" and "能效是否高于行业基准" in item.value


# ---------------------------------------------------------------------------------------------
# 13(9) governance


def goal(indicator: str | None = "集群产值", *, unit: str | None = "亿元",
         baseline: tuple[int, str] | None = (2023, "196.4"),
         target: tuple[int, str] | None = (2026, "260"), text: str | None = None
         ) -> dict[str, Any]:
    parts: dict[str, Any] = {"indicator": indicator, "unit": unit, "text": text,
                             "baseline": baseline and {"year": baseline[0], "value": baseline[1]},
                             "target": target and {"year": target[0], "value": target[1]}}
    return {key: value for key, value in parts.items() if value is not None}


def plan(period: str | None = "2024–2026", *goals: dict[str, Any]) -> dict[str, Any]:
    return {"development_plan": {**({"period": period} if period else {}),
                                 "goals": list(goals) if goals else [goal()]}}


@pytest.mark.parametrize(
    ("changes", "remove", "expected"),
    [
        pytest.param({}, (), "pass", id="governance-body-and-plan-passes"),
        pytest.param({}, ("management_body",), "fail", id="governance-no-management-body-fails"),
        pytest.param({}, ("development_plan",), "fail", id="governance-no-plan-fails"),
        pytest.param(
            {"development_plan": {"period": "2024–2026", "goals": []}},
            (),
            "fail",
            id="governance-plan-without-goals-fails",
        ),
        pytest.param(plan("2025–2027"), (), "pass", id="governance-plan-starting-next-year"),
        pytest.param(plan("2024-2026"), (), "pass", id="governance-period-with-hyphen"),
        pytest.param(plan("2024—2026"), (), "pass", id="governance-period-with-em-dash"),
        pytest.param(plan("2023–2025"), (), "fail", id="governance-plan-starting-before"),
        pytest.param(plan("2026–2028"), (), "fail", id="governance-plan-starting-too-late"),
        pytest.param(plan(None), (), "fail", id="governance-plan-without-period"),
        # a goal must be measurable: a sentence is not
        pytest.param(plan("2024–2026", goal(None, unit=None, baseline=None, target=None,
                                            text="产值翻番")),
                     (), "fail", id="governance-goal-as-a-sentence-fails"),
        pytest.param(plan("2024–2026", goal(unit=None)), (), "fail",
                     id="governance-goal-without-unit-fails"),
        pytest.param(plan("2024–2026", goal(baseline=None)), (), "fail",
                     id="governance-goal-without-baseline-fails"),
        pytest.param(plan("2024–2026", goal(target=None)), (), "fail",
                     id="governance-goal-without-target-fails"),
        pytest.param(plan("2024–2026", goal(None, unit=None, baseline=None, target=None,
                                            text="做大做强"), goal("工业互联网普及率", unit="%")),
                     (), "pass", id="governance-one-measurable-goal-among-others-passes"),
    ],
)
def test_governance(changes: dict[str, Any], remove: tuple[str, ...], expected: str) -> None:
    """A management body, and a plan starting in the round year or the next with at least one
    measurable goal (indicator, unit, baseline and target)."""
    assert judge(changes, remove=remove).item("governance").result == expected


def test_a_2015_2017_plan_of_做大做强_fails() -> None:
    """Issue 11: a "2015–2017" plan whose one goal is "做大做强" passed 13(九); it fails on
    both counts, and the report says why."""
    report = judge(plan("2015–2017", goal(None, unit=None, baseline=None, target=None,
                                          text="做大做强")))
    item = report.item("governance")
    assert item.result == "fail" and not report.passed
    assert "2015–2017年，未始于2024年或2025年" in item.value
    assert "无可量化目标" in item.value and "“做大做强”缺少指标、单位、基期值、目标值" in item.value
    assert report.plan is not None and report.plan.period_ok is False
    assert report.plan.measurable_goals == 0
    assert report.plan.goals[0].lacking == ("指标", "单位", "基期值", "目标值")


def test_governance_value_lists_the_measurable_goals() -> None:
    """The passing value names the body, the period and how many goals are measurable."""
    value = judge().item("governance").value
    assert value == ("运营管理机构：古镇灯饰产业集群发展促进中心；发展规划2024–2026年，"
                     "始于2024年（申报年度或次年）；可量化目标4项（共4项）")


# ---------------------------------------------------------------------------------------------
# Rounds


def test_round_year_moves_the_three_years() -> None:
    """For round 2025 the three years are 2022–2024: the 2024 data must be there."""
    report = judge(round_year=2025)
    assert report.item("output").result == "fail"
    assert report.item("output").value == "缺少数据：2024年产值"
    assert report.window == (2022, 2023, 2024)
    assert report.unused_years["output"] == (2021,)


# ---------------------------------------------------------------------------------------------
# "近三年": the three years before the round year, and nothing else (issue 11)


def test_issue_example_earlier_years_cannot_rescue_growth() -> None:
    """Round 2023, output 2020–2022 = 45/45.9/46.8 grows 1.98% a year and fails 高于10%;
    adding 2018 = 20 and 2019 = 30 once made it pass (23.68%, "2018–2022年"). It still fails,
    and the years are listed as not used."""
    window = {"2020": "45", "2021": "45.9", "2022": "46.8"}
    before = judge({"output": window}, round_year=2023).item("output_growth")
    assert before.result == "fail" and "1.98%" in before.value and "2020–2022年" in before.value
    report = judge({"output": {"2018": 20, "2019": 30, **window}}, round_year=2023)
    after = report.item("output_growth")
    assert after.result == "fail" and after.value == before.value
    assert report.unused_years["output"] == (2018, 2019)
    assert report.to_dict()["years_not_used"]["output"] == [2018, 2019]


@pytest.mark.parametrize(
    ("field", "item_id", "window", "earlier"),
    [
        pytest.param("sme_rd_expense", "rd_growth", ("1", "1.01", "1.02"), ("0.1", "0.2"),
                     id="rd-growth"),
        pytest.param("invention_patents", "patent_growth", (1000, 1010, 1020), (10, 20),
                     id="patent-growth"),
        pytest.param("co2_intensity", "co2_intensity", ("0.5", "0.51", "0.49"), ("0.9", "0.8"),
                     id="co2-trend"),
    ],
)
def test_earlier_years_cannot_rescue_any_trend(field: str, item_id: str, window: tuple[Any, ...],
                                               earlier: tuple[Any, ...]) -> None:
    """The same for R&D growth, patent growth and the CO2 trend: years before the window
    that would flatter the series change nothing."""
    series = dict(zip(("2020", "2021", "2022"), window, strict=True))
    alone = judge({field: series}, round_year=2023).item(item_id)
    flattered = judge({field: {"2018": earlier[0], "2019": earlier[1], **series}},
                      round_year=2023).item(item_id)
    assert alone.result == flattered.result == "fail"
    assert alone.value == flattered.value


def test_years_after_the_window_are_not_used_either() -> None:
    """The round year itself and later years are outside "近三年" as well."""
    report = judge({"output": {"2021": 100, "2022": 110, "2023": 121, "2024": 500}})
    assert report.item("output_growth").result == "fail"
    assert report.unused_years["output"] == (2024,)


SERIES_FIELDS = ("output", "sme_rd_expense", "invention_patents", "co2_intensity")
WINDOW_VALUE = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1000), places=2,
                           allow_nan=False, allow_infinity=False)
ANY_VALUE = st.one_of(st.decimals(min_value=0, max_value=Decimal(10) ** 9, places=3,
                                  allow_nan=False, allow_infinity=False),
                      st.integers(min_value=0, max_value=10**9))


@settings(max_examples=200, deadline=None)
@given(
    round_year=st.integers(min_value=2010, max_value=2090),
    window=st.fixed_dictionaries({field: st.lists(WINDOW_VALUE, min_size=3, max_size=3)
                                  for field in SERIES_FIELDS}),
    extra=st.dictionaries(
        st.tuples(st.sampled_from(SERIES_FIELDS), st.integers(min_value=-15, max_value=10)),
        ANY_VALUE, max_size=12),
)
def test_adding_other_years_never_changes_a_verdict(
    round_year: int, window: dict[str, list[Decimal]], extra: dict[tuple[str, int], Any]
) -> None:
    """Property (issue 11): for any window data, adding any years outside the three years
    before the round year, with any values, changes no item's result or value, nor passed."""
    base = copy.deepcopy(COMPLETE)
    for field, values in window.items():
        if field == "invention_patents":
            values = [int(value * 100) for value in values]
        base[field] = {round_year - 3 + offset: value for offset, value in enumerate(values)}
    padded = copy.deepcopy(base)
    for (field, offset), value in extra.items():
        year = round_year - 3 + offset if offset < 0 else round_year + offset
        padded[field][year] = int(value) if field == "invention_patents" else value
    plain = evaluate(validate_application(base), GUANGDONG, round_year)
    more = evaluate(validate_application(padded), GUANGDONG, round_year)
    assert [(item.id, item.result, item.value) for item in more.items] == [
        (item.id, item.result, item.value) for item in plain.items]
    assert more.passed == plain.passed
    assert more.window == plain.window == tuple(range(round_year - 3, round_year))
