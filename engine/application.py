"""The application file (申报材料 data): reading JSON or YAML exactly, and the schema.

Numbers are read as ``Decimal`` from their written text, never through ``float``: a share written
``0.7`` must be exactly seven tenths when 第十三条 compares it with 70%. Amounts are in 亿元, shares
lie in 0–1 (or are written like ``"78%"``), and any number may be written as a string.

``validate_application`` accepts drafts (fields may be missing) but nothing wrong: a wrong type,
a negative amount, a share outside 0–1, a bad year or an unknown field is refused with
``InvalidInput`` whose ``field`` is the path of the offending value (``output.2023``,
``incidents[0].grade``). ``missing_for_submission`` lists what a complete application still lacks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import yaml

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.parse import (
    FIRST_DATA_YEAR,
    describe,
    exact_number,
    year_number,
    year_within,
)
from gdcluster.states.policy import INCIDENT_GRADES, INCIDENT_KINDS

__all__ = [
    "CHAMPION_KINDS",
    "FIELDS",
    "QUALITY_KINDS",
    "load_application_file",
    "missing_for_submission",
    "to_json",
    "validate_application",
    "validate_report",
]

MAX_FILE_BYTES: Final = 5 * 1024 * 1024
MAX_DEPTH: Final = 20

#: National-level enterprises of 第十三条第（三）项: 单项冠军, 专精特新"小巨人".
CHAMPION_KINDS: Final = ("single_champion", "little_giant")
#: Provincial-level kinds: 专精特新中小企业, 创新型中小企业, 高新技术企业.
QUALITY_KINDS: Final = ("specialized_new", "innovative", "high_tech")
#: Incident kinds that carry an accident/incident grade; the others are disqualifying as such.
GRADED_KINDS: Final = ("safety", "quality", "environment", "cyber", "data")

_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9_]*)")


# --------------------------------------------------------------------------------------------
# Reading the file


def load_application_file(content: bytes, filename: str) -> dict[str, Any]:
    """Parse an application file (JSON, or YAML for ``.yaml``/``.yml``) without losing digits.

    Returns the raw mapping; pass it to ``validate_application``. A name with neither suffix is
    read as JSON when it starts with ``{`` and as YAML otherwise (e.g. standard input).
    """
    if len(content) > MAX_FILE_BYTES:
        raise InvalidInput(
            f"the file has {len(content)} bytes; the limit is {MAX_FILE_BYTES} (5 MB)",
            field=filename,
        )
    try:
        text = content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"not UTF-8 text (bad byte at offset {error.start}); save the file as UTF-8",
            field=filename,
        ) from None
    lower = filename.lower()
    as_yaml = lower.endswith((".yaml", ".yml")) or (
        not lower.endswith(".json") and not text.lstrip().startswith("{")
    )
    try:
        data = _read_yaml(text, filename) if as_yaml else _read_json(text, filename)
    except RecursionError:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", field=filename) from None
    if not isinstance(data, dict):
        raise InvalidInput("the file must hold one mapping of fields at its top", field=filename)
    if _depth(data) > MAX_DEPTH:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", field=filename)
    return data


def _read_json(text: str, filename: str) -> Any:
    def refuse_constant(name: str) -> Any:
        raise InvalidInput(f"{name} is not a number; write a finite value", field=filename)

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise InvalidInput(f"key {key!r} appears twice in one object", field=filename)
            result[key] = value
        return result

    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=refuse_constant,
            object_pairs_hook=unique_keys,
        )
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
            field=filename,
        ) from None
    except ValueError:  # an integer of more digits than Python converts
        raise InvalidInput("a number has implausibly many digits", field=filename) from None


class _YamlRefusal(Exception):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = mark.line + 1 if mark is not None else None


class _ExactLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader with exact numbers, no aliases, no duplicate keys and bounded nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open_containers = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _YamlRefusal(
                "anchors and aliases (*name) are not accepted", self.peek_event().start_mark
            )
        opening = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
        if opening:
            self._open_containers += 1
            if self._open_containers > MAX_DEPTH:
                raise _YamlRefusal(
                    f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if opening:
                self._open_containers -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        self.flatten_mapping(node)
        seen: list[Any] = []
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise _YamlRefusal(f"key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.append(key)
        return super().construct_mapping(node, deep)


def _construct_float(loader: _ExactLoader, node: Any) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text.lower().lstrip("+-") in (".inf", ".nan"):
        raise _YamlRefusal(f"{text} is not a number; write a finite value", node.start_mark)
    if ":" in text:
        raise _YamlRefusal(f"{text!r}: base-60 numbers are not accepted", node.start_mark)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _YamlRefusal(f"{text!r} is not a number", node.start_mark) from None


def _construct_int(loader: _ExactLoader, node: Any) -> int:
    text = str(loader.construct_scalar(node))
    if not _PLAIN_INT.fullmatch(text):
        raise _YamlRefusal(
            f"{text!r}: write whole numbers in plain decimal (no leading 0, 0x, 0b or ':'); "
            f"quote it if it is text",
            node.start_mark,
        )
    return int(text.replace("_", ""))


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_ExactLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _read_yaml(text: str, filename: str) -> Any:
    try:
        return yaml.load(text, Loader=_ExactLoader)
    except _YamlRefusal as refusal:
        raise InvalidInput(f"{refusal.problem} (line {refusal.line})", field=filename) from None
    except yaml.YAMLError as error:
        raise InvalidInput(f"not valid YAML: {error}", field=filename) from None


def _depth(value: Any) -> int:
    """Nesting depth of containers (a flat mapping is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


# --------------------------------------------------------------------------------------------
# Values


def _amount(value: Any, path: str) -> Decimal:
    number = exact_number(value, path)
    if number < 0:
        raise InvalidInput(f"must not be negative, not {number}", field=path)
    return number


def _area(value: Any, path: str) -> Decimal:
    number = _amount(value, path)
    if number == 0:
        raise InvalidInput("an area must be above 0", field=path)
    return number


def _share(value: Any, path: str) -> Decimal:
    """A share in 0–1, from 0.78, "0.78" or "78%" (a bare 78 is refused rather than guessed)."""
    if isinstance(value, str) and value.strip().endswith(("%", "％")):
        share = exact_number(value.strip()[:-1], path).scaleb(-2)
    else:
        share = exact_number(value, path)
    if not 0 <= share <= 1:
        raise InvalidInput(
            f'a share must lie between 0 and 1 (or be written like "78%"), not {value}',
            field=path,
        )
    return share


def _whole(value: Any, path: str, *, minimum: int) -> int:
    number = exact_number(value, path)
    if number != number.to_integral_value():
        raise InvalidInput(f"expected a whole number, not {number}", field=path)
    if number < minimum:
        raise InvalidInput(f"must be at least {minimum}, not {number}", field=path)
    return int(number)


def _count(value: Any, path: str) -> int:
    return _whole(value, path, minimum=0)


def _employees(value: Any, path: str) -> int:
    return _whole(value, path, minimum=1)


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"expected true or false, not {describe(value)}", field=path)
    return value


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"expected non-empty text, not {describe(value)}", field=path)
    return value.strip()


def _free_text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"expected text, not {describe(value)}", field=path)
    return value


def _date_text(value: Any, path: str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(_year(value, path))
    return _text(value, path)


def _choice(allowed: tuple[str, ...]) -> Callable[[Any, str], str]:
    def parse(value: Any, path: str) -> str:
        if value not in allowed:
            raise InvalidInput(f"{value!r} is not one of {', '.join(allowed)}", field=path)
        return str(value)

    return parse


def _year(value: Any, path: str) -> int:
    year = year_number(value)
    if year is None:
        raise InvalidInput(f"a year must be a whole number like 2023, not {value!r}", field=path)
    return year_within(year, path, FIRST_DATA_YEAR)


def _year_map(parse: Callable[[Any, str], Any]) -> Callable[[Any, str], dict[int, Any]]:
    def parse_map(value: Any, path: str) -> dict[int, Any]:
        if not isinstance(value, Mapping):
            raise InvalidInput(
                f"expected a mapping of year to value, not {describe(value)}", field=path
            )
        result: dict[int, Any] = {}
        for key, item in value.items():
            year = _year(key, f"{path}.{key}")
            if year in result:
                raise InvalidInput(f"year {year} is given twice", field=f"{path}.{year}")
            if item is not None:  # an unfilled year of a draft
                result[year] = parse(item, f"{path}.{year}")
        return dict(sorted(result.items()))

    return parse_map


def _list_of(parse: Callable[[Any, str], Any]) -> Callable[[Any, str], list[Any]]:
    def parse_list(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise InvalidInput(f"expected a list, not {describe(value)}", field=path)
        return [parse(item, f"{path}[{index}]") for index, item in enumerate(value)]

    return parse_list


Field = tuple[Callable[[Any, str], Any], bool]  # (parser, required inside its object)


def _object(fields: Mapping[str, Field]) -> Callable[[Any, str], dict[str, Any]]:
    def parse_object(value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise InvalidInput(f"expected a mapping, not {describe(value)}", field=path)
        for key in value:
            if key not in fields:
                raise InvalidInput(
                    f"unknown field; known: {', '.join(fields)}", field=f"{path}.{key}"
                )
        result: dict[str, Any] = {}
        for key, (parse, required) in fields.items():
            if value.get(key) is None:
                if required:
                    raise InvalidInput("missing", field=f"{path}.{key}")
                continue
            result[key] = parse(value[key], f"{path}.{key}")
        return result

    return parse_object


def _kinds(value: Any, path: str) -> list[str]:
    kinds = _list_of(_choice(QUALITY_KINDS))(value, path)
    if not kinds:
        raise InvalidInput(f"give at least one of {', '.join(QUALITY_KINDS)}", field=path)
    return list(dict.fromkeys(kinds))


def _incident(value: Any, path: str) -> dict[str, Any]:
    incident = _object(
        {
            "year": (_year, True),
            "kind": (_choice(INCIDENT_KINDS), True),
            "grade": (_choice(INCIDENT_GRADES), False),
            "description": (_free_text, False),
        }
    )(value, path)
    if incident["kind"] in GRADED_KINDS and "grade" not in incident:
        raise InvalidInput(
            f"a {incident['kind']} incident needs its grade ({'/'.join(INCIDENT_GRADES)})",
            field=f"{path}.grade",
        )
    return incident


def _narrative(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"expected a mapping of dimension to text, not {describe(value)}", field=path
        )
    result: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput("dimension names must be text", field=f"{path}.{key}")
        result[key] = _free_text(text, f"{path}.{key}")
    return result


#: The application's fields in their canonical order, each with its parser.
FIELDS: Final[Mapping[str, Callable[[Any, str], Any]]] = {
    "area_km2": _area,
    "output": _year_map(_amount),
    "sme_output_share": _share,
    "leading_industry_share": _share,
    "champion_enterprises": _list_of(
        _object({"name": (_text, True), "kind": (_choice(CHAMPION_KINDS), True)})
    ),
    "quality_smes": _list_of(_object({"name": (_text, True), "kinds": (_kinds, True)})),
    "sme_rd_expense": _year_map(_amount),
    "invention_patents": _year_map(_count),
    "employees": _employees,
    "industrial_internet_rate": _share,
    "co2_intensity": _year_map(_amount),
    "energy_intensive": _boolean,
    "energy_efficiency_above_benchmark": _boolean,
    "water_intensive": _boolean,
    "water_efficiency_above_benchmark": _boolean,
    "incidents": _list_of(_incident),
    "management_body": _object({"name": (_text, True), "established": (_date_text, False)}),
    "development_plan": _object({"period": (_text, False), "goals": (_list_of(_text), False)}),
    "narrative": _narrative,
}

YEAR_SERIES: Final = ("output", "sme_rd_expense", "invention_patents", "co2_intensity")

#: The annual report's fields (年度报告): the year's figures, under the application's rules.
REPORT_FIELDS: Final[Mapping[str, Callable[[Any, str], Any]]] = {
    "year": _year,
    "output": _amount,
    "sme_output_share": _share,
    "leading_industry_share": _share,
    "sme_rd_expense": _amount,
    "invention_patents": _count,
    "employees": _employees,
    "industrial_internet_rate": _share,
    "co2_intensity": _amount,
    "highlights": _list_of(_free_text),
    "problems": _free_text,
    "summary": _free_text,
    "narrative": _narrative,
}


def validate_report(raw: Any, year: int) -> dict[str, Any]:
    """An annual report for ``year``, normalized like an application; every field optional.

    A wrong type, a negative amount, a share outside 0–1, an unknown field or a ``year`` other
    than the one reported on is refused with ``InvalidInput`` naming the field's path.
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"expected a mapping of fields, not {describe(raw)}", field="data")
    if _depth(raw) > MAX_DEPTH:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", field="data")
    for key in raw:
        if key not in REPORT_FIELDS:
            raise InvalidInput(f"unknown field; known: {', '.join(REPORT_FIELDS)}",
                               field=str(key))
    report = {key: parse(raw[key], key) for key, parse in REPORT_FIELDS.items()
              if raw.get(key) is not None}
    if report.get("year", year) != year:
        raise InvalidInput(f"the file reports on {report['year']}, not {year}", field="year")
    return report


def validate_application(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized application: years as ``int`` keys, amounts and shares as ``Decimal``.

    Missing fields are allowed (drafts); a top-level ``null`` counts as missing. Anything present
    must be right, or ``InvalidInput`` names its path.
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"expected a mapping of fields, not {describe(raw)}",
                           field="(application)")
    if _depth(raw) > MAX_DEPTH:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", field="(application)")
    for key in raw:
        if key not in FIELDS:
            raise InvalidInput(f"unknown field; known: {', '.join(FIELDS)}", field=str(key))
    return {key: parse(raw[key], key) for key, parse in FIELDS.items() if raw.get(key) is not None}


def missing_for_submission(
    app: Mapping[str, Any], round_year: int, min_growth_years: int = 3
) -> list[str]:
    """Paths a complete application still lacks, in field order (empty when complete).

    Each series needs the ``min_growth_years`` years before the round year. Lists of enterprises
    and of incidents must be present, if empty (``[]`` declares "none"). The efficiency flags are
    needed only for clusters that are energy- or water-intensive.
    """
    years = range(round_year - min_growth_years, round_year)
    missing: list[str] = []
    for key in FIELDS:
        if key in YEAR_SERIES:
            series = app.get(key, {})
            missing.extend(f"{key}.{year}" for year in years if year not in series)
        elif key == "energy_efficiency_above_benchmark":
            if app.get("energy_intensive") is True and key not in app:
                missing.append(key)
        elif key == "water_efficiency_above_benchmark":
            if app.get("water_intensive") is True and key not in app:
                missing.append(key)
        elif key == "development_plan":
            plan = app.get(key)
            if plan is None:
                missing.append(key)
            else:
                missing.extend(
                    f"{key}.{part}" for part in ("period", "goals") if not plan.get(part)
                )
        elif key == "narrative":
            continue  # helps the experts, but 第十三条 does not require it
        elif key not in app:
            missing.append(key)
    return missing


def to_json(app: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready form of a normalized application; ``validate_application`` reads it back equal."""
    converted = _jsonable(app)
    assert isinstance(converted, dict)
    return converted


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
