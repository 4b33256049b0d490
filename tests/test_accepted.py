"""``accepted_json``, the one-pass form of the application filing stores: for every input it
either gives exactly ``to_json(validate_application(raw))`` or ``None`` (and the schema decides,
in its own words); it never accepts what the schema refuses."""

from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import put
from test_application import RAW, REFUSALS

from gdcluster.engine.accepted import accepted_json
from gdcluster.engine.application import load_application_file, to_json, validate_application
from gdcluster.engine.applications import encode
from gdcluster.engine.datafile import RefusedToken
from gdcluster.engine.errors import InvalidInput

DATA = Path(__file__).parent / "data"


def schema(raw: Any) -> dict[str, Any] | None:
    """What the schema stores of ``raw``, or None when it refuses it."""
    try:
        return to_json(validate_application(dict(raw)))
    except InvalidInput:
        return None


def agrees(raw: Any) -> dict[str, Any] | None:
    """``accepted_json(raw)``, checked against the schema; returned for further checks."""
    fast = accepted_json(raw)
    if fast is not None:
        stored = schema(raw)
        assert stored is not None, raw
        assert fast == stored
        assert encode(fast) == encode(stored)
    return fast


@pytest.mark.parametrize("name", ["application-complete.json", "application-complete.yaml"])
def test_the_fixtures_are_taken_in_one_pass(name: str) -> None:
    path = DATA / name
    raw = load_application_file(path.read_bytes(), path.name)
    assert agrees(raw) is not None
    assert agrees({**raw, "area_km2": "12.5"}) == {**schema(raw), "area_km2": "12.5"}


@pytest.mark.parametrize(("raw", "path"), REFUSALS)
def test_what_the_schema_refuses_is_left_to_it(raw: dict[str, Any], path: str) -> None:
    assert accepted_json(raw) is None
    assert accepted_json({**copy.deepcopy(RAW), **raw}) is None


@pytest.mark.parametrize("value", [
    " 47.8", "47.8 ", "+47.8", "047.80", "1e1", "NaN", float("inf"), Decimal("NaN"),
    Decimal("sNaN"), Decimal("1E+16"), 10**16, 10**16 - 1, "0." + "0" * 19 + "1",
    "0." + "0" * 20 + "1", "-0", 0, -1, True, None, "47%", RefusedToken("4.78e1", "x"),
])
def test_numbers_at_their_edges(value: Any) -> None:
    for field in ("area_km2", "employees", "sme_output_share"):
        agrees({**RAW, field: value})
    agrees({**RAW, "output": {"2023": value}})
    agrees({**RAW, "invention_patents": {"2023": value, 2022: 3}})


@pytest.mark.parametrize("value", [
    "78%", "78 %", " 78%", "78％", "100%", "101%", "%", "0.5", 1, Decimal("1.000"), 0.25,
])
def test_shares_at_their_edges(value: Any) -> None:
    agrees({**RAW, "sme_output_share": value})


@pytest.mark.parametrize("established", [
    date(2019, 6, 18), datetime(2019, 6, 18, 8), 2019, 1989, True, " 2019-06-18 ", "", "x\ty",
])
def test_established_forms(established: Any) -> None:
    agrees({**RAW, "management_body": {"name": "中心", "established": established}})


def test_text_with_line_breaks_and_hidden_characters() -> None:
    assert agrees(put(RAW, ("incidents", 0, "description"), "第一行\n第二行")) is not None
    for text in ("a\u200eb", "a\x00b", "a\nb", " ", "\u2028"):
        agrees(put(RAW, ("quality_smes", 0, "name"), text))
        agrees(put(RAW, ("narrative", "digital"), text))
        agrees({**RAW, "narrative": {text: "说明"}})


def test_years_given_twice_or_unfilled() -> None:
    agrees({**RAW, "output": {"2021": None, 2021: "5"}})
    assert agrees({**RAW, "output": {"2021": "5", 2021: "6"}}) is None
    agrees({**RAW, "output": {" 2021": "5", "1989": "5"}})


LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 3000), st.sampled_from([10**16, 2021, 2100, 2101]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.sampled_from(["", " ", "2023", " 2023", "2024–2026", "2026–2024", "45.2", "-1", "78%",
                     "x", "a\u200eb", "第一行\n第二行", "safety", "illegal", "tax", "一般",
                     "high_tech", "little_giant", "单位产值二氧化碳排放", "1_0", "１０"]),
    st.text(max_size=6),
    st.just([]), st.just({}), st.just(["high_tech", "high_tech"]), st.just(("innovative",)),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``value`` a leaf could be put (keys and list indexes)."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found.extend(paths(item, (*prefix, index)))
    return found


PATHS = paths(RAW)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), LEAVES), min_size=1, max_size=3),
       st.sampled_from([None, "unknown", 7]))
def test_changed_applications_agree(changes: list[tuple[tuple[Any, ...], Any]],
                                    extra: Any) -> None:
    raw = RAW
    if extra is not None:
        raw = put(raw, ("development_plan", "goals", 0, extra), "x")
    for path, value in changes:
        try:
            raw = put(raw, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced the container
    agrees(raw)
