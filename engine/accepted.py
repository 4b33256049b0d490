"""The application as stored, in one pass, for the input ``validate_application`` accepts as it
stands: what filing spends most of its time on (``case import``, ``Engine.create_cases``).

:func:`accepted_json` gives ``to_json(validate_application(raw))`` — the same JSON-ready value —
without the parsers' per-value paths, messages and second walk, or ``None`` whenever it is in any
doubt: a value of another type than the plain ones (a ``str`` subclass, a ``datetime``, a
``RefusedToken``), text with spaces around a number or a year, a character ``isprintable`` does
not pass that ``check_text`` then refuses, or anything the schema would refuse. It never
refuses and never explains: on ``None`` the caller validates with ``validate_application``,
so every refusal, its message and its path are the schema's own. What it accepts it accepts
by the schema's rules, restated here field by field (``engine/application.py``,
``engine/values.py``, ``parse.exact_number``): a change to a rule there is made here too, and
``tests/test_accepted.py`` compares the two on the test data and on generated variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, Final

from gdcluster.engine.application import CHAMPION_KINDS, FIELDS, QUALITY_KINDS
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.parse import FIRST_DATA_YEAR, LAST_YEAR
from gdcluster.engine.text import check_text
from gdcluster.engine.values import goal_key
from gdcluster.states.policy import GRADED_KINDS, INCIDENT_GRADES, INCIDENT_KINDS, MAJOR_KINDS

__all__ = ["accepted_json"]


class _Doubt(Exception):
    """Not plainly accepted: the schema decides."""


Check = Callable[[Any], Any]

# parse.exact_number's pattern, without the strip: text with spaces goes to the schema
_DECIMAL_TEXT: Final = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_YEAR_TEXT: Final = re.compile(r"[0-9]{4}")
_PERIOD: Final = re.compile(r"\s*([0-9]{4})\s*年?\s*[-–—]\s*([0-9]{4})\s*年?\s*")
_LARGEST_EXPONENT: Final = 15
_TOO_LARGE: Final = 10 ** (_LARGEST_EXPONENT + 1)  # the first whole number exact_number refuses
_SMALLEST_EXPONENT: Final = -20


# ---------------------------------------------------------------------------- numbers
def _decimal(value: Any) -> Decimal:
    """``parse.exact_number`` of a value it takes."""
    kind = type(value)
    if kind is str:
        if _DECIMAL_TEXT.fullmatch(value) is None:
            raise _Doubt
        result = Decimal(value)
        dot = value.find(".")
        if dot >= 0 and len(value) - dot - 1 > -_SMALLEST_EXPONENT:
            raise _Doubt
        if result and result.adjusted() > _LARGEST_EXPONENT:
            raise _Doubt
        return result
    if kind is int:
        result = Decimal(value)
    elif kind is Decimal:
        result = value
    elif kind is float:
        result = Decimal(repr(value))
    else:
        raise _Doubt
    if not result.is_finite() or (result and result.adjusted() > _LARGEST_EXPONENT):
        raise _Doubt
    exponent = result.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < _SMALLEST_EXPONENT:
        raise _Doubt
    return result


def _number(value: Any) -> str:
    return format(_decimal(value), "f")


def _amount(value: Any) -> str:
    found = _decimal(value)
    if found < 0:
        raise _Doubt
    return format(found, "f")


def _area(value: Any) -> str:
    found = _decimal(value)
    if found <= 0:
        raise _Doubt
    return format(found, "f")


def _share(value: Any) -> str:
    if type(value) is str and value[-1:] in ("%", "％"):
        found = _decimal(value[:-1]).scaleb(-2)
    else:
        found = _decimal(value)
    if not 0 <= found <= 1:
        raise _Doubt
    return format(found, "f")


def _whole(minimum: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is int and minimum <= value < _TOO_LARGE:  # its own whole number
            return value
        found = _decimal(value)
        if found != found.to_integral_value() or found < minimum:
            raise _Doubt
        return int(found)

    return check


def _year(value: Any) -> int:
    kind = type(value)
    if kind is int:
        found = value
    elif kind is str and _YEAR_TEXT.fullmatch(value) is not None:
        found = int(value)
    else:
        raise _Doubt
    if not FIRST_DATA_YEAR <= found <= LAST_YEAR:
        raise _Doubt
    return found


# ---------------------------------------------------------------------------- other values
def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise _Doubt
    return value


def _choice(allowed: tuple[str, ...]) -> Check:
    words = frozenset(allowed)

    def check(value: Any) -> str:
        if type(value) is not str or value not in words:
            raise _Doubt
        return value

    return check


def _clean(text: str, *, one_line: bool) -> str:
    if text.isprintable():
        return text
    try:
        return check_text(text, "text", one_line=one_line)
    except InvalidInput:
        raise _Doubt from None


def _text(value: Any) -> str:
    if type(value) is not str:
        raise _Doubt
    stripped = value.strip()
    if not stripped:
        raise _Doubt
    return stripped if stripped.isprintable() else _clean(stripped, one_line=True)


def _free_text(value: Any) -> str:
    if type(value) is not str:
        raise _Doubt
    return value if value.isprintable() else _clean(value, one_line=False)


def _date_text(value: Any) -> str:
    kind = type(value)
    if kind is date:
        return value.isoformat()
    if kind is int:
        return str(_year(value))
    return _text(value)


def _narrative(value: Any) -> dict[str, str]:
    if type(value) is not dict:
        raise _Doubt
    result = {}
    for key, text in value.items():
        if type(key) is not str or not key.strip():
            raise _Doubt
        result[_clean(key, one_line=True)] = _free_text(text)
    return result


def _period(value: Any) -> str:
    match = _PERIOD.fullmatch(value) if type(value) is str else None
    if match is None:
        raise _Doubt
    start, end = _year(int(match[1])), _year(int(match[2]))
    if end < start:
        raise _Doubt
    return f"{start}–{end}"


# ---------------------------------------------------------------------------- containers
def _list_of(check: Check) -> Check:
    def check_list(value: Any) -> list[Any]:
        if type(value) is not list and type(value) is not tuple:
            raise _Doubt
        result = []
        for item in value:
            result.append(check(item))
        return result

    return check_list


def _year_map(check: Check) -> Check:
    """``{year: value}`` with the years as text (``to_json``'s keys); unfilled years left out."""
    def check_map(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Doubt
        result: dict[int, Any] = {}
        for key, item in value.items():
            found = _year(key)
            if found in result:  # as values.year_map: an unfilled year is not counted
                raise _Doubt
            if item is not None:
                result[found] = check(item)
        return {str(year): result[year] for year in sorted(result)}

    return check_map


def _object(fields: dict[str, tuple[Check, bool]]) -> Check:
    checks = {key: check for key, (check, _required) in fields.items()}
    known = frozenset(fields)
    required = tuple(key for key, (_check, needed) in fields.items() if needed)

    def check_object(value: Any) -> dict[str, Any]:
        if type(value) is not dict or not value.keys() <= known:  # an unknown field
            raise _Doubt
        result = {}
        for key, item in value.items():  # loops, not comprehensions: no frame of their own
            if item is not None:
                result[key] = checks[key](item)
        for key in required:
            if key not in result:
                raise _Doubt
        return result

    return check_object


# ---------------------------------------------------------------------------- the schema
_QUALITY_KINDS: Final = frozenset(QUALITY_KINDS)


def _kinds_of_quality(value: Any) -> list[str]:
    if (type(value) is not list and type(value) is not tuple) or not value:
        raise _Doubt
    for kind in value:
        if type(kind) is not str or kind not in _QUALITY_KINDS:
            raise _Doubt
    return list(dict.fromkeys(value))


_INCIDENT = _object({"year": (_year, True), "kind": (_choice(INCIDENT_KINDS), True),
                     "grade": (_choice(INCIDENT_GRADES), False), "major": (_boolean, False),
                     "description": (_free_text, False)})


def _incident(value: Any) -> dict[str, Any]:
    incident = _INCIDENT(value)
    kind = incident["kind"]
    needs = "grade" if kind in GRADED_KINDS else "major" if kind in MAJOR_KINDS else None
    for part in ("grade", "major"):
        if part != needs and part in incident:
            raise _Doubt
    if needs is not None and needs not in incident:
        raise _Doubt
    return incident


_POINT = _object({"year": (_year, True), "value": (_number, True)})
_GOAL = _object({"indicator": (_text, False), "unit": (_text, False),
                 "baseline": (_POINT, False), "target": (_POINT, False),
                 "text": (_free_text, False)})


def _goal(value: Any) -> dict[str, Any]:
    goal = _GOAL(value)
    if "indicator" not in goal and not (goal.get("text") or "").strip():
        raise _Doubt
    baseline, target = goal.get("baseline"), goal.get("target")
    if baseline is not None and target is not None and (
            target["year"] <= baseline["year"]
            or Decimal(target["value"]) == Decimal(baseline["value"])):
        raise _Doubt
    return goal


_PLAN = _object({"period": (_period, False), "goals": (_list_of(_goal), False),
                 "text": (_free_text, False)})


def _plan(value: Any) -> dict[str, Any]:
    plan = _PLAN(value)
    seen = set()
    for goal in plan.get("goals", ()):
        indicator = goal.get("indicator")
        if indicator is not None:
            key = goal_key(indicator)
            if key in seen:
                raise _Doubt
            seen.add(key)
    return plan


_NAMED = {"name": (_text, True)}
_COUNT, _EMPLOYEES = _whole(0), _whole(1)

#: Each field of the application (``application.FIELDS``, in its order) with its check.
CHECKS: Final[dict[str, Check]] = {
    "area_km2": _area,
    "output": _year_map(_amount),
    "sme_output_share": _share,
    "leading_industry_share": _share,
    "champion_enterprises": _list_of(_object({**_NAMED, "kind": (_choice(CHAMPION_KINDS),
                                                                 True)})),
    "quality_smes": _list_of(_object({**_NAMED, "kinds": (_kinds_of_quality, True)})),
    "sme_rd_expense": _year_map(_amount),
    "invention_patents": _year_map(_COUNT),
    "employees": _EMPLOYEES,
    "industrial_internet_rate": _share,
    "co2_intensity": _year_map(_amount),
    "energy_intensive": _boolean,
    "energy_efficiency_above_benchmark": _boolean,
    "water_intensive": _boolean,
    "water_efficiency_above_benchmark": _boolean,
    "incidents": _list_of(_incident),
    "management_body": _object({**_NAMED, "established": (_date_text, False)}),
    "development_plan": _plan,
    "narrative": _narrative,
}
assert tuple(CHECKS) == tuple(FIELDS), "a field of the schema without its check"
_FIELD_NAMES: Final = frozenset(CHECKS)


def accepted_json(raw: Any) -> dict[str, Any] | None:
    """``to_json(validate_application(raw))`` when the schema plainly accepts ``raw``; ``None``
    when in doubt (then ``validate_application`` decides, and refuses in its own words)."""
    if type(raw) is not dict or not raw.keys() <= _FIELD_NAMES:
        return None
    try:
        stored = {}
        for key, value in raw.items():
            if value is not None:
                stored[key] = CHECKS[key](value)
        return stored
    except _Doubt:
        return None
