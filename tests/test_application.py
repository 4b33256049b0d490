"""The application file: exact reading of JSON and YAML, the schema, and completeness."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gdcluster.engine.application import (
    FIELDS,
    load_application_file,
    missing_for_submission,
    to_json,
    validate_application,
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
    pytest.param(
        {"development_plan": {"goals": ["增长", ""]}},
        "development_plan.goals[1]",
        id="plan-goal-empty",
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
    """A host system's dict nested deeper than 20 levels is refused before any parsing."""
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(25):
        node["x"] = {}
        node = node["x"]
    assert refused({"narrative": deep}).field == "(application)"


# ---------------------------------------------------------------------------------------------
# Reading files


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        pytest.param(b'{"output": {"2023": NaN}}', "a.json", id="json-NaN"),
        pytest.param(b'{"output": {"2023": Infinity}}', "a.json", id="json-Infinity"),
        pytest.param(b'{"output": {"2023": -Infinity}}', "a.json", id="json-minus-Infinity"),
        pytest.param(b"output: {2023: .nan}", "a.yaml", id="yaml-nan"),
        pytest.param(b"output: {2023: .inf}", "a.yaml", id="yaml-inf"),
        pytest.param(b"output: {2023: -.Inf}", "a.yaml", id="yaml-minus-inf"),
        pytest.param("area_km2: 四十".encode("gbk"), "a.yaml", id="not-utf8-gbk"),
        pytest.param(b'{"area_km2": "\xff"}', "a.json", id="not-utf8-bad-byte"),
        pytest.param(b'{"area_km2": 1, "area_km2": 2}', "a.json", id="json-duplicate-key"),
        pytest.param(b"area_km2: 1\narea_km2: 2\n", "a.yaml", id="yaml-duplicate-key"),
        pytest.param(b"employees: 012000\n", "a.yaml", id="yaml-octal-looking-integer"),
        pytest.param(b"employees: 0x1F\n", "a.yaml", id="yaml-hex-integer"),
        pytest.param(b"employees: 1:30\n", "a.yaml", id="yaml-base-60-integer"),
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
    """Unreadable files (bad encoding, NaN, nesting, duplicates, ambiguous YAML) are refused."""
    assert refused_file(content, filename).field == filename


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


def test_yaml_underscored_numbers_are_plain_numbers() -> None:
    """YAML 86_000 and 1_234.5 read as 86000 and Decimal("1234.5")."""
    raw = load_application_file(b"employees: 86_000\narea_km2: 1_234.5\n", "a.yaml")
    assert raw == {"employees": 86000, "area_km2": Decimal("1234.5")}


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
            {"development_plan": {"goals": ["增长"]}},
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


def test_missing_for_submission_follows_min_growth_years() -> None:
    """A policy asking for four years needs the fourth year before the round too."""
    app = validate_application(RAW)
    assert missing_for_submission(app, 2024, min_growth_years=4) == [
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
