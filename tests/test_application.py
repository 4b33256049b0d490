"""The application and annual-report files: exact reading of JSON and YAML, the schemas, the
text rule, completeness, and reading back what earlier versions stored."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support import path_text, put

from gdcluster.engine.application import (
    FIELDS,
    REPORT_FIELDS,
    load_application_file,
    missing_for_report,
    missing_for_submission,
    read_stored_application,
    read_stored_report,
    to_json,
    validate_application,
    validate_report,
)
from gdcluster.engine.errors import InvalidInput

DATA = Path(__file__).parent / "data"


def read(name: str) -> dict[str, Any]:
    path = DATA / name
    return load_application_file(path.read_bytes(), path.name)


RAW = read("application-complete.json")


def refused(raw: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_application(raw)
    return caught.value


def refused_file(content: bytes, filename: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        load_application_file(content, filename)
    return caught.value


def changed(**fields: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    raw.update(fields)
    return raw


def nested(levels: int) -> str:
    """A JSON document whose containers nest ``levels`` deep."""
    return '{"a": ' * levels + "1" + "}" * levels


# ---------------------------------------------------------------------------------------------
# The fixtures


def test_json_and_yaml_fixtures_are_the_same_application() -> None:
    """The YAML variant reads to exactly the same normalized application as the JSON one."""
    assert validate_application(read("application-complete.yaml")) == validate_application(RAW)


def test_complete_fixture_is_complete_for_round_2024() -> None:
    """The complete fixture lacks nothing for a 2024 submission."""
    assert missing_for_submission(validate_application(RAW), 2024) == []


def test_validated_application_has_int_years_and_decimal_amounts() -> None:
    """Year keys become int; amounts, strings or numbers, become the Decimal of their text."""
    app = validate_application(RAW)
    assert app["output"] == {
        2021: Decimal("152.3"),
        2022: Decimal("171.8"),
        2023: Decimal("196.4"),
    }
    assert app["invention_patents"] == {2021: 1020, 2022: 1195, 2023: 1400}
    assert all(type(count) is int for count in app["invention_patents"].values())
    assert app["area_km2"] == Decimal("47.8") and type(app["area_km2"]) is Decimal


# ---------------------------------------------------------------------------------------------
# Numbers read exactly


def test_yaml_floats_stay_exact_decimals() -> None:
    """YAML 0.7 is Decimal("0.7"), not the float 0.69999…: the float tag builds a Decimal."""
    raw = load_application_file(b"sme_output_share: 0.7\noutput: {2023: 40.1}\n", "a.yaml")
    assert raw["sme_output_share"] == Decimal("0.7")
    assert type(raw["sme_output_share"]) is Decimal
    app = validate_application(raw)
    assert app["sme_output_share"] == Decimal("0.7")
    assert app["output"] == {2023: Decimal("40.1")}


def test_json_floats_stay_exact_decimals() -> None:
    """JSON 0.7 is parsed with parse_float=Decimal; integers stay int."""
    raw = load_application_file(b'{"sme_output_share": 0.7, "employees": 12000}', "a.json")
    assert raw["sme_output_share"] == Decimal("0.7") and type(raw["sme_output_share"]) is Decimal
    assert raw["employees"] == 12000 and type(raw["employees"]) is int


@pytest.mark.parametrize(
    ("written", "share"),
    [
        pytest.param("78%", Decimal("0.78"), id="share-78%"),
        pytest.param("78 ％", Decimal("0.78"), id="share-full-width-percent"),
        pytest.param("70.5%", Decimal("0.705"), id="share-70.5%"),
        pytest.param("100%", Decimal("1"), id="share-100%"),
        pytest.param("0.78", Decimal("0.78"), id="share-string-0.78"),
        pytest.param(Decimal("0.78"), Decimal("0.78"), id="share-decimal"),
        pytest.param(0.78, Decimal("0.78"), id="share-python-float-by-its-shortest-text"),
        pytest.param(1, Decimal("1"), id="share-int-1"),
        pytest.param(0, Decimal("0"), id="share-int-0"),
    ],
)
def test_share_forms(written: Any, share: Decimal) -> None:
    """Shares are 0–1 numbers, numeric strings, or percentages written with %."""
    assert validate_application({"sme_output_share": written})["sme_output_share"] == share


def test_numbers_may_be_strings() -> None:
    """ "45.2" is the number 45.2; counts may be written "1195"."""
    app = validate_application(
        {"output": {"2023": " 45.2 "}, "invention_patents": {"2023": "1195"}}
    )
    assert app["output"] == {2023: Decimal("45.2")}
    assert app["invention_patents"] == {2023: 1195}


def test_drafts_may_be_incomplete() -> None:
    """An empty or partial draft is accepted; a top-level null counts as missing."""
    assert validate_application({}) == {}
    assert validate_application({"area_km2": None, "employees": 5}) == {"employees": 5}


def test_duplicate_quality_sme_kinds_are_collapsed() -> None:
    """An enterprise's kinds are a set in order: a kind given twice is kept once."""
    app = validate_application(
        {"quality_smes": [{"name": "甲", "kinds": ["high_tech", "high_tech"]}]}
    )
    assert app["quality_smes"] == [{"name": "甲", "kinds": ["high_tech"]}]


def test_established_may_be_a_yaml_date_or_a_year() -> None:
    """成立日期 written as a YAML date or a year is kept as text."""
    raw = load_application_file(b"management_body: {name: X, established: 2019-06-18}", "a.yml")
    assert validate_application(raw)["management_body"]["established"] == "2019-06-18"
    app = validate_application({"management_body": {"name": "X", "established": 2019}})
    assert app["management_body"]["established"] == "2019"


# ---------------------------------------------------------------------------------------------
# Refusals, with the path of the offending field

REFUSALS = [
    # wrong type / bool where a number is expected
    pytest.param({"output": {"2023": [1]}}, "output.2023", id="output-year-list-not-number"),
    pytest.param({"output": {"2023": True}}, "output.2023", id="output-bool-not-number"),
    pytest.param({"output": {"2023": "45,2"}}, "output.2023", id="output-comma-decimal"),
    pytest.param({"output": {"2023": "四十"}}, "output.2023", id="output-chinese-numerals"),
    pytest.param({"output": [40, 41, 42]}, "output", id="output-list-not-mapping"),
    pytest.param({"area_km2": False}, "area_km2", id="area-bool"),
    pytest.param({"area_km2": {"value": 1}}, "area_km2", id="area-mapping"),
    pytest.param({"sme_output_share": True}, "sme_output_share", id="share-bool"),
    pytest.param({"industrial_internet_rate": "high"}, "industrial_internet_rate", id="share-text"),
    pytest.param({"employees": True}, "employees", id="employees-bool"),
    pytest.param({"energy_intensive": "yes"}, "energy_intensive", id="energy-intensive-text"),
    pytest.param(
        {"water_efficiency_above_benchmark": 1},
        "water_efficiency_above_benchmark",
        id="water-flag-int",
    ),
    pytest.param({"incidents": {"year": 2022}}, "incidents", id="incidents-not-list"),
    pytest.param({"narrative": {"innovation": 5}}, "narrative.innovation", id="narrative-not-text"),
    pytest.param(
        {"sme_rd_expense": {"2023": {"a": 1}}}, "sme_rd_expense.2023", id="rd-expense-mapping"
    ),
    # negative amounts
    pytest.param({"output": {"2023": "-1"}}, "output.2023", id="output-negative"),
    pytest.param(
        {"sme_rd_expense": {"2022": -0.01}}, "sme_rd_expense.2022", id="rd-expense-negative"
    ),
    pytest.param({"co2_intensity": {"2022": "-0.3"}}, "co2_intensity.2022", id="co2-negative"),
    pytest.param(
        {"invention_patents": {"2021": -3}}, "invention_patents.2021", id="patents-negative"
    ),
    pytest.param({"area_km2": "-5"}, "area_km2", id="area-negative"),
    pytest.param({"area_km2": 0}, "area_km2", id="area-zero"),
    # shares outside 0–1
    pytest.param({"sme_output_share": "1.01"}, "sme_output_share", id="share-above-1"),
    pytest.param(
        {"sme_output_share": 78}, "sme_output_share", id="share-78-without-percent-not-guessed"
    ),
    pytest.param({"leading_industry_share": "101%"}, "leading_industry_share", id="share-101%"),
    pytest.param({"leading_industry_share": "-0.1"}, "leading_industry_share", id="share-negative"),
    # years
    pytest.param({"output": {"1989": 40}}, "output.1989", id="year-1989-too-early"),
    pytest.param({"output": {"2101": 40}}, "output.2101", id="year-2101-too-late"),
    pytest.param({"output": {"2023.5": 40}}, "output.2023.5", id="year-non-integer-key"),
    pytest.param({"output": {"二〇二三": 40}}, "output.二〇二三", id="year-not-digits"),
    pytest.param({"output": {True: 40}}, "output.True", id="year-bool-key"),
    pytest.param({"output": {2023: 40, "2023": 41}}, "output.2023", id="year-given-twice"),
    pytest.param(
        {"incidents": [{"year": 1980, "kind": "tax"}]},
        "incidents[0].year",
        id="incident-year-too-early",
    ),
    pytest.param(
        {"incidents": [{"year": Decimal("2022.0"), "kind": "tax"}]},
        "incidents[0].year",
        id="incident-year-decimal",
    ),
    # NaN / Infinity / absurd magnitudes
    pytest.param({"output": {"2023": Decimal("NaN")}}, "output.2023", id="output-nan"),
    pytest.param({"output": {"2023": float("inf")}}, "output.2023", id="output-infinity"),
    pytest.param({"sme_output_share": float("nan")}, "sme_output_share", id="share-nan"),
    pytest.param(
        {"output": {"2023": Decimal("1E+400")}}, "output.2023", id="output-implausibly-large"
    ),
    pytest.param(
        {"output": {"2023": Decimal("1E-400")}}, "output.2023", id="output-too-many-places"
    ),
    # counts and employees
    pytest.param({"employees": 0}, "employees", id="employees-zero"),
    pytest.param({"employees": -5}, "employees", id="employees-negative"),
    pytest.param({"employees": "100.5"}, "employees", id="employees-fraction"),
    pytest.param(
        {"invention_patents": {"2023": "10.5"}}, "invention_patents.2023", id="patents-fraction"
    ),
    # unknown fields, at every level of the known objects
    pytest.param({"outputs": {"2023": 40}}, "outputs", id="unknown-top-level-field"),
    pytest.param(
        {"management_body": {"name": "X", "boss": "Y"}},
        "management_body.boss",
        id="unknown-in-management-body",
    ),
    pytest.param(
        {"development_plan": {"goals": [], "target": 1}},
        "development_plan.target",
        id="unknown-in-plan",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "tax", "severity": "x"}]},
        "incidents[0].severity",
        id="unknown-in-incident",
    ),
    pytest.param(
        {"champion_enterprises": [{"name": "X", "kind": "little_giant", "level": "国家级"}]},
        "champion_enterprises[0].level",
        id="unknown-in-champion",
    ),
    pytest.param(
        {"quality_smes": [{"name": "X", "kind": "high_tech"}]},
        "quality_smes[0].kind",
        id="unknown-in-quality-sme",
    ),
    # enumerations and required parts of objects
    pytest.param(
        {"champion_enterprises": [{"name": "X", "kind": "champion"}]},
        "champion_enterprises[0].kind",
        id="champion-kind-unknown",
    ),
    pytest.param(
        {"champion_enterprises": [{"kind": "little_giant"}]},
        "champion_enterprises[0].name",
        id="champion-name-missing",
    ),
    pytest.param(
        {"quality_smes": [{"name": "X", "kinds": []}]},
        "quality_smes[0].kinds",
        id="quality-kinds-empty",
    ),
    pytest.param(
        {"quality_smes": [{"name": "X", "kinds": ["high_tech", "famous"]}]},
        "quality_smes[0].kinds[1]",
        id="quality-kind-unknown",
    ),
    pytest.param(
        {"quality_smes": [{"name": " ", "kinds": ["high_tech"]}]},
        "quality_smes[0].name",
        id="quality-name-blank",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "fire"}]},
        "incidents[0].kind",
        id="incident-kind-unknown",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "safety"}]},
        "incidents[0].grade",
        id="incident-grade-missing-for-safety",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "cyber", "grade": "轻微"}]},
        "incidents[0].grade",
        id="incident-grade-unknown",
    ),
    pytest.param({"incidents": [{"kind": "tax"}]}, "incidents[0].year", id="incident-year-missing"),
    pytest.param(
        {"management_body": {"established": "2019"}},
        "management_body.name",
        id="management-body-name-missing",
    ),
    pytest.param(
        {"development_plan": {"goals": "增长"}}, "development_plan.goals", id="plan-goals-not-list"
    ),
    # goals are objects (indicator, unit, baseline, target, text), not sentences
    pytest.param(
        {"development_plan": {"goals": ["增长"]}},
        "development_plan.goals[0]",
        id="plan-goal-as-a-sentence",
    ),
    pytest.param(
        {"development_plan": "2024–2026年做大做强"}, "development_plan", id="plan-as-free-text"
    ),
    pytest.param(
        {"development_plan": {"goals": [{"unit": "亿元"}]}},
        "development_plan.goals[0].indicator",
        id="plan-goal-without-indicator-or-text",
    ),
    pytest.param(
        {"development_plan": {"goals": [{"indicator": "产值", "unit": " "}]}},
        "development_plan.goals[0].unit",
        id="plan-goal-blank-unit",
    ),
    pytest.param(
        {"development_plan": {"goals": [{"indicator": "产值", "baseline": {"year": 2023}}]}},
        "development_plan.goals[0].baseline.value",
        id="plan-goal-baseline-without-value",
    ),
    pytest.param(
        {"development_plan": {"goals": [{"indicator": "产值", "target": {"year": 2026,
                                                                           "value": "1e3"}}]}},
        "development_plan.goals[0].target.value",
        id="plan-goal-target-exponent-text",
    ),
    pytest.param(
        {"development_plan": {"goals": [{"indicator": "产值", "baseline": {"year": 2026,
                                                                           "value": 1},
                                         "target": {"year": 2026, "value": 2}}]}},
        "development_plan.goals[0].target.year",
        id="plan-goal-target-not-after-baseline",
    ),
    pytest.param(
        {"development_plan": {"goals": [{"indicator": "产值", "baseline": {"year": 2023,
                                                                           "value": "5.0"},
                                         "target": {"year": 2026, "value": 5}}]}},
        "development_plan.goals[0].target.value",
        id="plan-goal-target-equals-baseline",
    ),
    pytest.param(
        {"development_plan": {"goals": [{"indicator": "集群产值"}, {"indicator": "集群 产值"}]}},
        "development_plan.goals[1].indicator",
        id="plan-goal-indicator-twice",
    ),
    pytest.param(
        {"development_plan": {"goals": [{"indicator": "产值", "level": 1}]}},
        "development_plan.goals[0].level",
        id="plan-goal-unknown-field",
    ),
    pytest.param({"development_plan": {"period": "三年"}}, "development_plan.period",
                 id="plan-period-not-years"),
    pytest.param({"development_plan": {"period": "2024年至2026年"}}, "development_plan.period",
                 id="plan-period-with-至"),
    pytest.param({"development_plan": {"period": "2026–2024"}}, "development_plan.period",
                 id="plan-period-backwards"),
    pytest.param({"development_plan": {"period": 2024}}, "development_plan.period",
                 id="plan-period-a-number"),
    # incidents: grade for accidents and security events, major for other violations and
    # 其它重大问题, neither for tax evasion and serious dishonesty
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "illegal"}]},
        "incidents[0].major",
        id="incident-violation-without-major",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "other"}]},
        "incidents[0].major",
        id="incident-other-problem-without-major",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "illegal", "grade": "一般", "major": False}]},
        "incidents[0].grade",
        id="incident-violation-with-a-grade",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "safety", "grade": "一般", "major": False}]},
        "incidents[0].major",
        id="incident-accident-marked-major",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "tax", "major": False}]},
        "incidents[0].major",
        id="incident-tax-evasion-marked-not-major",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "dishonesty", "grade": "一般"}]},
        "incidents[0].grade",
        id="incident-dishonesty-with-a-grade",
    ),
    pytest.param(
        {"incidents": [{"year": 2022, "kind": "illegal", "major": "no"}]},
        "incidents[0].major",
        id="incident-major-not-boolean",
    ),
]


@pytest.mark.parametrize(("raw", "path"), REFUSALS)
def test_refusals_name_the_field(raw: dict[str, Any], path: str) -> None:
    """Bad input is refused with InvalidInput whose field is the offending path."""
    error = refused(raw)
    assert error.field == path
    assert str(error).startswith(f"{path}: ")


def test_refusal_inside_a_complete_application_names_the_field() -> None:
    """One bad value among good ones is found and named."""
    raw = changed(output={"2021": 50, "2022": "oops", "2023": 60})
    assert refused(raw).field == "output.2022"


def test_application_must_be_a_mapping() -> None:
    """A list (or anything but a mapping) is refused as a whole."""
    assert refused([1, 2]).field == "(application)"


def test_validate_refuses_deep_nesting_passed_by_a_host() -> None:
    """A host system's dict nested deeper than 20 levels is refused as too deep."""
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(25):
        node["x"] = {}
        node = node["x"]
    assert refused({"narrative": deep}).field == "(application)"


def _deep() -> dict[str, Any]:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(25):
        node["x"] = {}
        node = node["x"]
    return deep


def _cycle() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize("raw", [
    pytest.param({"unknown": _deep()}, id="under-an-unknown-field"),
    pytest.param({"area_km2": "x", "narrative": _deep()}, id="after-a-wrong-field"),
    pytest.param({"narrative": {"产业": _deep()}}, id="where-text-belongs"),
    pytest.param({"incidents": [_deep()]}, id="inside-a-list"),
    pytest.param({"champion_enterprises": _cycle()}, id="a-list-holding-itself"),
])
def test_too_deep_is_the_refusal_whatever_else_is_wrong(raw: dict[str, Any]) -> None:
    """The schema is asked first (an accepted document is a few levels deep), but a refused
    one that is too deep is refused as too deep, as if the depth had been measured first."""
    error = refused(raw)
    assert error.field == "(application)"
    assert "20" in str(error)


# ---------------------------------------------------------------------------------------------
# Reading files


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        pytest.param("area_km2: 四十".encode("gbk"), "a.yaml", id="not-utf8-gbk"),
        pytest.param(b'{"area_km2": "\xff"}', "a.json", id="not-utf8-bad-byte"),
        pytest.param(b'{"area_km2": 1, "area_km2": 2}', "a.json", id="json-duplicate-key"),
        pytest.param(b"area_km2: 1\narea_km2: 2\n", "a.yaml", id="yaml-duplicate-key"),
        pytest.param(b"a: &x [1]\nb: *x\n", "a.yaml", id="yaml-alias"),
        pytest.param(b"[1, 2]", "a.json", id="json-top-level-list"),
        pytest.param(b"", "a.yaml", id="yaml-empty"),
        pytest.param(b"{not json", "a.json", id="json-syntax-error"),
        pytest.param(b"a: [1\n", "a.yaml", id="yaml-syntax-error"),
        pytest.param(b'{"employees": ' + b"9" * 5000 + b"}", "a.json", id="json-integer-too-long"),
        pytest.param(nested(21).encode(), "a.json", id="json-21-levels"),
        pytest.param(nested(100_000).encode(), "a.json", id="json-100000-levels"),
        pytest.param(nested(21).encode(), "a.yaml", id="yaml-flow-21-levels"),
        pytest.param(("[" * 100_000 + "]" * 100_000).encode(), "a.yaml", id="yaml-100000-levels"),
    ],
)
def test_file_refusals_name_the_file(content: bytes, filename: str) -> None:
    """Unreadable files (bad encoding, nesting, duplicates, aliases) are refused as a whole."""
    assert refused_file(content, filename).field == filename


@pytest.mark.parametrize(
    ("content", "filename", "path"),
    [
        pytest.param(b'{"output": {"2023": NaN}}', "a.json", "output.2023", id="json-NaN"),
        pytest.param(b'{"output": {"2023": Infinity}}', "a.json", "output.2023",
                     id="json-Infinity"),
        pytest.param(b'{"area_km2": -Infinity}', "a.json", "area_km2", id="json-minus-Infinity"),
        pytest.param(b"output: {2023: .nan}", "a.yaml", "output.2023", id="yaml-nan"),
        pytest.param(b"output: {2023: .inf}", "a.yaml", "output.2023", id="yaml-inf"),
        pytest.param(b"output: {2023: -.Inf}", "a.yaml", "output.2023", id="yaml-minus-inf"),
        pytest.param(b"employees: 012000\n", "a.yaml", "employees", id="yaml-octal-integer"),
        pytest.param(b"employees: 0x1F\n", "a.yaml", "employees", id="yaml-hex-integer"),
        pytest.param(b"employees: 1:30\n", "a.yaml", "employees", id="yaml-base-60-integer"),
        # exponent and underscore forms, which the README says are refused
        pytest.param(b'{"area_km2": 4.78e1}', "a.json", "area_km2", id="json-exponent"),
        pytest.param(b'{"area_km2": 4.78e+1}', "a.json", "area_km2", id="json-exponent-plus"),
        pytest.param(b'{"output": {"2023": 1E2}}', "a.json", "output.2023",
                     id="json-capital-exponent"),
        pytest.param(b"area_km2: 4.78e+1\n", "a.yaml", "area_km2", id="yaml-exponent"),
        pytest.param(b"employees: 86_000\n", "a.yaml", "employees", id="yaml-underscore-int"),
        pytest.param(b"area_km2: 4_7.8\n", "a.yaml", "area_km2", id="yaml-underscore-float"),
        pytest.param(b"output: {2_023: 5}\n", "a.yaml", "output.2_023",
                     id="yaml-underscore-year-key"),
        # date-shaped values that are no dates, wherever they stand
        pytest.param(b"area_km2: 2024-02-30\n", "a.yaml", "area_km2", id="yaml-30-february"),
        pytest.param(b"area_km2: 0000-01-01\n", "a.yaml", "area_km2", id="yaml-year-0"),
        pytest.param(b"area_km2: 2024-01-01T10:00:00+99:00\n", "a.yaml", "area_km2",
                     id="yaml-offset-99-hours"),
        pytest.param(b"management_body: {name: X, established: 2019-02-29}\n", "a.yaml",
                     "management_body.established", id="yaml-bad-date-where-a-date-belongs"),
        pytest.param(b"narrative: {green: 2024-02-30}\n", "a.yaml", "narrative.green",
                     id="yaml-bad-date-in-text"),
        pytest.param(b"colour: 2024-02-30\n", "a.yaml", "colour", id="yaml-bad-date-unknown-key"),
        pytest.param(b"2024-02-30: 1\n", "a.yaml", "2024-02-30", id="yaml-bad-date-as-a-key"),
        pytest.param(b"management_body: {name: X, boss: 0000-01-01}\n", "a.yaml",
                     "management_body.boss", id="yaml-bad-date-nested-unknown-key"),
        pytest.param(b"incidents: [{year: 2022, kind: tax, description: 2022-13-01}]\n",
                     "a.yaml", "incidents[0].description", id="yaml-bad-date-in-a-list"),
    ],
)
def test_tokens_the_reader_cannot_take_are_refused_at_their_field(content: bytes, filename: str,
                                                                 path: str) -> None:
    """Issue 15: NaN, exponents, underscores, 0x/base 60 and impossible dates were "unexpected
    ValueError" (exit 1) or taken as numbers; the reader now keeps them in place and the
    schema refuses them with the path of their field (InvalidInput, exit 2)."""
    raw = load_application_file(content, filename)
    error = refused(raw)
    assert error.field == path and error.exit_code == 2
    assert str(error).startswith(f"{path}: ")


def test_file_larger_than_5_mb_is_refused() -> None:
    """The 5 MB limit is checked before anything is parsed."""
    content = b'{"narrative": {"x": "' + b"a" * (5 * 1024 * 1024) + b'"}}'
    error = refused_file(content, "big.json")
    assert error.field == "big.json" and "5 MB" in str(error)


def test_nesting_of_20_levels_is_read() -> None:
    """Exactly 20 levels is within the limit (validation may still refuse the fields)."""
    assert load_application_file(nested(20).encode(), "a.json") == json.loads(nested(20))
    assert load_application_file(nested(20).encode(), "a.yaml") == json.loads(nested(20))


def test_byte_order_mark_is_accepted() -> None:
    """A UTF-8 file saved with a BOM (common on Windows) reads normally."""
    assert load_application_file('\ufeff{"employees": 5}'.encode(), "a.json") == {"employees": 5}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b'{"area_km2": 1.5}', {"area_km2": Decimal("1.5")}, id="stdin-json"),
        pytest.param(b"area_km2: 1.5\n", {"area_km2": Decimal("1.5")}, id="stdin-yaml"),
    ],
)
def test_format_is_sniffed_without_a_known_suffix(content: bytes, expected: dict[str, Any]) -> None:
    """A name like "-" (standard input) is JSON when it starts with "{", else YAML."""
    assert load_application_file(content, "-") == expected


def test_plain_yaml_dates_and_numbers_still_read() -> None:
    """Real dates, plain integers, plain decimals and signed numbers are read as before."""
    raw = load_application_file(
        b"employees: 86000\narea_km2: 47.80\nmanagement_body: {name: X, established: 2019-06-18}"
        b"\ndevelopment_plan: {goals: [{indicator: y, baseline: {year: 2023, value: -1.5},"
        b" target: {year: 2026, value: +2}}]}\n", "a.yaml")
    app = validate_application(raw)
    assert app["employees"] == 86000 and str(app["area_km2"]) == "47.80"
    assert app["management_body"]["established"] == "2019-06-18"
    goal = app["development_plan"]["goals"][0]
    assert goal["baseline"]["value"] == Decimal("-1.5") and goal["target"]["value"] == 2


# ---------------------------------------------------------------------------------------------
# The text rule (engine/text.py) in every text of the file (issue 15)


TEXT_PATHS = [
    ("management_body", "name"),
    ("champion_enterprises", 0, "name"),
    ("quality_smes", 3, "name"),
    ("incidents", 0, "description"),
    ("development_plan", "goals", 0, "indicator"),
    ("development_plan", "goals", 1, "unit"),
    ("development_plan", "goals", 0, "text"),
    ("development_plan", "text"),
    ("narrative", "green"),
]


@pytest.mark.parametrize("path", TEXT_PATHS, ids=path_text)
@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\u202e", "\u2066", "\ufffe"],
                         ids=["NUL", "BEL", "ESC", "RLO", "LRI", "U+FFFE"])
def test_control_and_bidi_characters_are_refused_in_every_text(path: tuple[Any, ...],
                                                               character: str) -> None:
    """Control and bidirectional characters anywhere in an application's text are refused
    with the field's path (they were stored and printed raw)."""
    error = refused(put(RAW, path, f"示例{character}文字"))
    assert error.field == path_text(path)
    assert f"U+{ord(character):04X}" in str(error)


def test_line_breaks_are_refused_in_names_but_kept_in_descriptions() -> None:
    """One-line fields refuse line breaks and zero-width characters; descriptions keep them."""
    assert refused(put(RAW, ("management_body", "name"), "促进\n中心")).field == \
        "management_body.name"
    assert refused(put(RAW, ("champion_enterprises", 0, "name"), "星澜\u200b照明")).field == \
        "champion_enterprises[0].name"
    app = validate_application(put(RAW, ("incidents", 0, "description"), "第一行\n第二行\t完"))
    assert app["incidents"][0]["description"] == "第一行\n第二行\t完"


def test_a_refused_key_is_named_without_its_hidden_characters() -> None:
    """An unknown key holding a bidi control is named with the character escaped, so the
    message itself cannot reorder what a terminal shows."""
    error = refused({"area\u202ekm": 1})
    assert error.field == "area\\u202ekm" and "\u202e" not in str(error)
    narrative = refused({"narrative": {"gr\u202eeen": "x"}})
    assert narrative.field == "narrative.gr\\u202eeen"


# ---------------------------------------------------------------------------------------------
# Completeness


def test_missing_for_submission_of_an_empty_draft() -> None:
    """An empty draft lacks every scalar, each year of each series, the lists, body and plan."""
    missing = missing_for_submission({}, 2024)
    for path in (
        "area_km2",
        "output.2021",
        "output.2022",
        "output.2023",
        "sme_rd_expense.2021",
        "invention_patents.2022",
        "co2_intensity.2023",
        "sme_output_share",
        "leading_industry_share",
        "employees",
        "industrial_internet_rate",
        "energy_intensive",
        "water_intensive",
        "champion_enterprises",
        "quality_smes",
        "incidents",
        "management_body",
        "development_plan",
    ):
        assert path in missing
    assert "output.2020" not in missing and "output.2024" not in missing
    assert "energy_efficiency_above_benchmark" not in missing
    assert "narrative" not in missing


@pytest.mark.parametrize(
    ("changes", "remove", "expected"),
    [
        pytest.param(
            {"output": {"2021": 1, "2023": 3}}, (), ["output.2022"], id="one-year-missing"
        ),
        pytest.param({}, ("incidents",), ["incidents"], id="incidents-not-declared"),
        pytest.param({"incidents": []}, (), [], id="incidents-declared-empty"),
        pytest.param(
            {"energy_intensive": True},
            ("energy_efficiency_above_benchmark",),
            ["energy_efficiency_above_benchmark"],
            id="energy-intensive-needs-flag",
        ),
        pytest.param(
            {"water_intensive": False},
            ("water_efficiency_above_benchmark",),
            [],
            id="flag-not-needed-when-not-intensive",
        ),
        pytest.param(
            {"development_plan": {"period": "2024–2026"}},
            (),
            ["development_plan.goals"],
            id="plan-without-goals",
        ),
        pytest.param(
            {"development_plan": {"goals": [{"indicator": "产值"}]}},
            (),
            ["development_plan.period"],
            id="plan-without-period",
        ),
    ],
)
def test_missing_for_submission(
    changes: dict[str, Any], remove: tuple[str, ...], expected: list[str]
) -> None:
    """Each gap in an otherwise complete application is named by its path."""
    raw = changed(**changes)
    for key in remove:
        raw.pop(key)
    assert missing_for_submission(validate_application(raw), 2024) == expected


def test_missing_for_submission_follows_the_window() -> None:
    """A policy whose window were four years would need the fourth year before the round."""
    app = validate_application(RAW)
    assert missing_for_submission(app, 2024, window_years=4) == [
        "output.2020",
        "sme_rd_expense.2020",
        "invention_patents.2020",
        "co2_intensity.2020",
    ]


# ---------------------------------------------------------------------------------------------
# Round trip


def test_to_json_round_trip_is_exact() -> None:
    """to_json gives JSON-ready data (Decimals as strings, years as str) that reads back equal."""
    app = validate_application(RAW)
    data = to_json(app)
    assert data["output"] == {"2021": "152.3", "2022": "171.8", "2023": "196.4"}
    assert data["sme_output_share"] == "0.78"
    assert data["employees"] == 86000
    text = json.dumps(data, ensure_ascii=False)
    again = validate_application(load_application_file(text.encode(), "stored.json"))
    assert again == app
    assert validate_application(data) == app


def test_round_trip_keeps_tiny_and_trailing_zero_decimals() -> None:
    """Decimals that print with exponents or trailing zeros survive the trip unchanged."""
    app = validate_application(
        {"co2_intensity": {"2023": Decimal("1E-7")}, "output": {"2023": Decimal("45.20")}}
    )
    data = to_json(app)
    assert data["co2_intensity"] == {"2023": "0.0000001"}
    again = validate_application(data)
    assert again == app
    assert str(again["output"][2023]) == "45.20"


def test_every_field_is_exercised_by_the_complete_fixture() -> None:
    """The complete fixture uses every field of the schema, so its tests cover them all."""
    assert set(validate_application(RAW)) == set(FIELDS)


def test_period_forms_are_normalized_to_the_en_dash() -> None:
    """"2024-2026", "2024—2026" and "2024年–2026年" all read as "2024–2026"."""
    for written in ("2024-2026", "2024—2026", "2024–2026", " 2024年 - 2026年 "):
        plan = validate_application({"development_plan": {"period": written}})
        assert plan["development_plan"]["period"] == "2024–2026", written


# ---------------------------------------------------------------------------------------------
# Stored data of earlier versions (issue 11: acts and `case check` re-read them)

LEGACY = {
    "area_km2": "47.8",
    "output": {"2021": "152.3", "2022": "171.8", "2023": "196.4"},
    "incidents": [
        {"year": 2022, "kind": "illegal", "description": "小额罚款"},
        {"year": 2023, "kind": "tax", "grade": "一般"},
        {"year": 2022, "kind": "safety", "grade": "一般"},
    ],
    "management_body": {"name": "促进\u202e中心"},
    "development_plan": {"period": "2024–2026", "goals": ["集群产值突破260亿元", "做大做强"]},
    "narrative": {"green": "节能\x07改造"},
}


def test_stored_legacy_application_reads_back_without_error() -> None:
    """What earlier versions stored — plan goals as sentences, a violation without `major`, a
    grade on tax evasion, a bidi character in a name — is read back, in today's shape, with
    nothing raised; strict validation of the same data refuses it."""
    with pytest.raises(InvalidInput):
        validate_application(LEGACY)
    app = read_stored_application(LEGACY)
    assert app["development_plan"] == {
        "period": "2024–2026",
        "goals": [{"text": "集群产值突破260亿元"}, {"text": "做大做强"}],
    }
    assert app["incidents"] == [
        {"year": 2022, "kind": "illegal", "description": "小额罚款"},
        {"year": 2023, "kind": "tax"},
        {"year": 2022, "kind": "safety", "grade": "一般"},
    ]
    assert app["management_body"]["name"] == "促进\\u202e中心"
    assert app["narrative"]["green"] == "节能\\u0007改造"
    assert app["output"][2023] == Decimal("196.4")


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        pytest.param("2015–2017年做大做强", {"text": "2015–2017年做大做强", "goals": []},
                     id="plan-as-free-text"),
        pytest.param({"period": "今后三年", "goals": ["做大做强"]},
                     {"text": "规划期：今后三年", "goals": [{"text": "做大做强"}]},
                     id="period-not-years-kept-as-text"),
        pytest.param({"goals": []}, {"goals": []}, id="plan-without-goals"),
    ],
)
def test_stored_legacy_plans(plan: Any, expected: dict[str, Any]) -> None:
    """A legacy plan keeps every word: free text and unreadable periods go into its text."""
    assert read_stored_application({"development_plan": plan})["development_plan"] == expected


def test_stored_data_never_raise() -> None:
    """A field that cannot be read in any known shape is left out; anything not a mapping
    reads as an empty application."""
    assert read_stored_application({"area_km2": "wide", "employees": 5, "x": 1}) == {
        "employees": 5}
    assert read_stored_application(["not", "a", "mapping"]) == {}
    assert read_stored_application(None) == {}
    assert read_stored_report("text") == {}


def test_stored_new_application_reads_as_validated() -> None:
    """Today's stored form reads back exactly as validate_application gives it."""
    app = validate_application(RAW)
    assert read_stored_application(to_json(app)) == app


# ---------------------------------------------------------------------------------------------
# The annual report (第十七条)

REPORT = read("report-2024.json")
PLAN = validate_application(RAW)["development_plan"]


def refused_report(raw: Any, year: int = 2024, plan: Any = None) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_report(raw, year, plan)
    return caught.value


def test_report_fixture_is_complete_and_covers_every_field() -> None:
    """The shipped report has the key figures, each plan goal's progress and the four texts."""
    report = validate_report(REPORT, 2024, PLAN)
    assert set(report) == set(REPORT_FIELDS)
    assert missing_for_report(report, PLAN) == []
    assert report["goal_progress"][3] == {"indicator": "单位产值二氧化碳排放",
                                          "actual": Decimal("0.358"), "note": "按统计部门初步核算"}
    assert report["industrial_internet_rate"] == Decimal("0.248")
    assert validate_report(to_json(report), 2024, PLAN) == report


def test_missing_for_report_names_figures_texts_and_goals() -> None:
    """An empty report lacks every key figure and text; with the plan, each goal's progress."""
    missing = missing_for_report({}, PLAN)
    assert missing[:3] == ["output", "enterprises", "smes"]
    assert "improvements" in missing and "goal_progress[集群产值]" in missing
    assert missing_for_report({}) == missing[:14]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"year": 2023}, "year", id="another-year"),
        pytest.param({"smes": 1300}, "smes", id="more-smes-than-enterprises"),
        pytest.param({"enterprises": "1280.5"}, "enterprises", id="enterprises-fraction"),
        pytest.param({"quality_smes": -1}, "quality_smes", id="quality-smes-negative"),
        pytest.param({"industrial_internet_rate": "124.8%"}, "industrial_internet_rate",
                     id="rate-above-100%"),
        pytest.param({"plan_execution": 5}, "plan_execution", id="text-not-text"),
        pytest.param({"experience": "经验\u202e总结"}, "experience", id="bidi-in-a-text"),
        pytest.param({"improvements": "措施\x00"}, "improvements", id="nul-in-a-text"),
        pytest.param({"goal_progress": [{"indicator": "集群产值"}]}, "goal_progress[0].actual",
                     id="progress-without-actual"),
        pytest.param({"goal_progress": [{"indicator": "集群产值", "actual": 1},
                                        {"indicator": "集群产值", "actual": 2}]},
                     "goal_progress[1].indicator", id="progress-twice"),
        pytest.param({"goal_progress": [{"indicator": "营业收入", "actual": 1}]},
                     "goal_progress[0].indicator", id="progress-of-no-plan-goal"),
        pytest.param({"goal_progress": [{"indicator": "集群产\x1b值", "actual": 1}]},
                     "goal_progress[0].indicator", id="escape-in-an-indicator"),
        pytest.param({"highlights": ["新增企业"]}, "highlights", id="old-highlights-field"),
        pytest.param({"summary": "增长"}, "summary", id="old-summary-field"),
        pytest.param({"sme_output_share": "79%"}, "sme_output_share", id="old-share-field"),
    ],
)
def test_report_refusals_name_the_field(changes: dict[str, Any], path: str) -> None:
    """Bad report data is refused naming the field; the old free-form fields are gone."""
    error = refused_report({**REPORT, **changes}, plan=PLAN)
    assert error.field == path and str(error).startswith(f"{path}: ")


def test_stored_legacy_report_reads_back() -> None:
    """A report stored by an earlier version (highlights, summary, shares) reads back with
    those fields kept, and never raises."""
    legacy = {"year": 2024, "output": "221.6", "sme_output_share": "0.79",
              "highlights": ["新增专精特新中小企业3家"], "problems": "用地紧张",
              "summary": "主导产业保持增长", "narrative": {"x": "说明"}}
    report = read_stored_report(legacy)
    assert report == {"year": 2024, "output": Decimal("221.6"), "problems": "用地紧张",
                      "sme_output_share": Decimal("0.79"),
                      "highlights": ["新增专精特新中小企业3家"],
                      "summary": "主导产业保持增长", "narrative": {"x": "说明"}}
