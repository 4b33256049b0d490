"""The application file (申报材料 data) and the annual report: reading JSON or YAML exactly, and
their schemas.

Numbers are read as ``Decimal`` from their written text, never through ``float``: a share written
``0.7`` must be exactly seven tenths when 第十三条 compares it with 70%. Amounts are in 亿元, shares
lie in 0–1 (or are written like ``"78%"``), and any number may be written as a string. Only plain
decimals are numbers: exponents (``4.78e1``), underscores (``86_000``), ``0x``/``0b``/base 60,
NaN and Infinity are refused, as are impossible YAML dates (``2024-02-30``, ``0000-01-01``, an
offset of ``+99:00``). The reader keeps such a token in place and the schema refuses it with
the path of its field, so the message always says where.

``validate_application`` accepts drafts (fields may be missing) but nothing wrong: a wrong type,
a negative amount, a share outside 0–1, a bad year, an unknown field or text with control or
bidirectional characters (``engine/text.py``) is refused with ``InvalidInput`` whose ``field``
is the path of the offending value (``output.2023``, ``incidents[0].grade``).
``missing_for_submission`` lists what a complete application still lacks.

Incidents (第十三条第（一）项) carry a ``grade`` when they are accidents or security events, a
``major`` mark when they are other violations or 其它重大问题, and neither when they count
whenever established (偷税漏税, 严重失信). The development plan (第十三条第（九）项) is
``{period: "2024–2026", goals: [{indicator, unit, baseline {year, value}, target {year, value},
text}], text}``.

Data stored by earlier versions are read back with ``read_stored_application`` and
``read_stored_report``, which accept the shapes those versions wrote (a plan as free text,
goals as sentences, an incident without ``major``) and never raise: what they cannot read is
left out, so the criteria report it as missing rather than the act failing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import yaml

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.text import check_text
from gdcluster.states.policy import (
    ESTABLISHED_KINDS,
    GRADED_KINDS,
    INCIDENT_GRADES,
    INCIDENT_KINDS,
    MAJOR_KINDS,
)

__all__ = [
    "CHAMPION_KINDS",
    "FIELDS",
    "LEGACY_REPORT_FIELDS",
    "QUALITY_KINDS",
    "REPORT_FIELDS",
    "REPORT_FIGURES",
    "REPORT_TEXTS",
    "YEAR_SERIES",
    "RefusedToken",
    "goal_key",
    "load_application_file",
    "measurable",
    "missing_for_report",
    "missing_for_submission",
    "parse_period",
    "read_goal_results",
    "read_stored_application",
    "read_stored_report",
    "to_json",
    "validate_application",
    "validate_report",
]

MAX_FILE_BYTES: Final = 5 * 1024 * 1024
MAX_DEPTH: Final = 20
FIRST_YEAR: Final = 1990
LAST_YEAR: Final = 2100

#: National-level enterprises of 第十三条第（三）项: 单项冠军, 专精特新"小巨人".
CHAMPION_KINDS: Final = ("single_champion", "little_giant")
#: Provincial-level kinds: 专精特新中小企业, 创新型中小企业, 高新技术企业.
QUALITY_KINDS: Final = ("specialized_new", "innovative", "high_tech")

_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_YEAR_TEXT = re.compile(r"[0-9]{4}")
_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_PERIOD = re.compile(r"\s*([0-9]{4})\s*年?\s*[-–—]\s*([0-9]{4})\s*年?\s*")
_LARGEST_EXPONENT = 15  # no amount in 亿元 comes near 10^15
_SMALLEST_EXPONENT = -20  # more decimal places than that is noise, and Fractions would balloon


# --------------------------------------------------------------------------------------------
# Reading the file


class RefusedToken:
    """A value the reader could not take as written (``4.78e1``, ``86_000``, ``2024-02-30``).

    It stays where it stood, so the schema refuses it with the path of its field; it is never
    a valid value of any field.
    """

    __slots__ = ("problem", "text")

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return repr(self.text)


def load_application_file(content: bytes, filename: str) -> dict[str, Any]:
    """Parse an application, report or scores file (JSON, or YAML for ``.yaml``/``.yml``)
    without losing digits.

    Returns the raw mapping; pass it to ``validate_application`` (or the report's and scores'
    validators). A name with neither suffix is read as JSON when it starts with ``{`` and as
    YAML otherwise (e.g. standard input).
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


_EXPONENT = "exponent form is not accepted; write the digits out (47.8, not 4.78e1)"
_UNDERSCORE = "digits grouped with _ are not accepted; write them plainly (86000)"
_NOT_FINITE = "not a number; write a finite value"


def _json_float(text: str) -> Decimal | RefusedToken:
    if "e" in text or "E" in text:
        return RefusedToken(text, _EXPONENT)
    return Decimal(text)


def _read_json(text: str, filename: str) -> Any:
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
            parse_float=_json_float,
            parse_constant=lambda name: RefusedToken(name, _NOT_FINITE),
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


def _construct_float(loader: _ExactLoader, node: Any) -> Decimal | RefusedToken:
    text = str(loader.construct_scalar(node))
    if text.lower().lstrip("+-") in (".inf", ".nan"):
        return RefusedToken(text, _NOT_FINITE)
    if "_" in text:
        return RefusedToken(text, _UNDERSCORE)
    if ":" in text:
        return RefusedToken(text, "base-60 numbers are not accepted")
    if "e" in text.lower():
        return RefusedToken(text, _EXPONENT)
    try:
        return Decimal(text)
    except InvalidOperation:
        return RefusedToken(text, "not a number")


def _construct_int(loader: _ExactLoader, node: Any) -> int | RefusedToken:
    text = str(loader.construct_scalar(node))
    if "_" in text:
        return RefusedToken(text, _UNDERSCORE)
    if not _PLAIN_INT.fullmatch(text):
        return RefusedToken(
            text, "write whole numbers in plain decimal (no leading 0, 0x, 0b or ':'); quote it "
                  "if it is text")
    return int(text)


def _construct_timestamp(loader: _ExactLoader, node: Any) -> date | datetime | RefusedToken:
    try:
        value: date | datetime = yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return RefusedToken(str(loader.construct_scalar(node)), "not a real date or time")
    return value


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_ExactLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_ExactLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


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


Parse = Callable[[Any, str], Any]


def _refuse_token(value: Any, path: str) -> None:
    if isinstance(value, RefusedToken):
        raise InvalidInput(f"{value.text!r}: {value.problem}", field=path)


def _number(value: Any, path: str) -> Decimal:
    _refuse_token(value, path)
    if isinstance(value, bool):
        raise InvalidInput(f"expected a number, not {str(value).lower()}", field=path)
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        number = Decimal(value.strip())
    elif isinstance(value, str):
        raise InvalidInput(f"{value!r} is not a number (write e.g. 45.2)", field=path)
    else:
        raise InvalidInput(f"expected a number, not {_kind(value)}", field=path)
    if not number.is_finite():
        raise InvalidInput(f"{number} is not a number; write a finite value", field=path)
    if number and number.adjusted() > _LARGEST_EXPONENT:
        raise InvalidInput(f"{number} is implausibly large", field=path)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < _SMALLEST_EXPONENT:
        raise InvalidInput(
            f"{number} has more than {-_SMALLEST_EXPONENT} decimal places", field=path
        )
    return number


def _amount(value: Any, path: str) -> Decimal:
    number = _number(value, path)
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
        share = _number(value.strip()[:-1], path).scaleb(-2)
    else:
        share = _number(value, path)
    if not 0 <= share <= 1:
        raise InvalidInput(
            f'a share must lie between 0 and 1 (or be written like "78%"), not {value}',
            field=path,
        )
    return share


def _whole(value: Any, path: str, *, minimum: int) -> int:
    number = _number(value, path)
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
    _refuse_token(value, path)
    if not isinstance(value, bool):
        raise InvalidInput(f"expected true or false, not {_kind(value)}", field=path)
    return value


def _choice(allowed: tuple[str, ...]) -> Parse:
    def parse(value: Any, path: str) -> str:
        _refuse_token(value, path)
        if not isinstance(value, str) or value not in allowed:
            raise InvalidInput(f"{value!r} is not one of {', '.join(allowed)}", field=path)
        return value

    return parse


def _year(value: Any, path: str) -> int:
    _refuse_token(value, path)
    if isinstance(value, int) and not isinstance(value, bool):
        year = value
    elif isinstance(value, str) and _YEAR_TEXT.fullmatch(value.strip()):
        year = int(value.strip())
    else:
        raise InvalidInput(f"a year must be a whole number like 2023, not {value!r}", field=path)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"year {year} is outside {FIRST_YEAR}–{LAST_YEAR}", field=path)
    return year


def _segment(key: Any) -> str:
    """A key as it appears in a field path, so an error message never carries a character the
    text rule refuses (it is written as a \\uXXXX escape instead)."""
    return _escaped(str(key), one_line=True)


def _escaped(text: str, *, one_line: bool) -> str:
    """``text`` with each character the text rule refuses written as a \\uXXXX escape."""
    try:
        return check_text(text, "text", one_line=one_line)
    except InvalidInput:
        return "".join(character if _allowed(character, one_line)
                       else f"\\u{ord(character):04x}" for character in text)


def _allowed(character: str, one_line: bool) -> bool:
    try:
        check_text(character, "text", one_line=one_line)
    except InvalidInput:
        return False
    return True


def parse_period(value: Any, path: str = "development_plan.period") -> str:
    """A plan period "2024–2026" (also written 2024-2026, 2024—2026, 2024年–2026年), normalized
    to the en-dash form; the end may not precede the start."""
    _refuse_token(value, path)
    match = _PERIOD.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(f"write the plan period as years like \"2024–2026\", not {value!r}",
                           field=path)
    start, end = (_year(int(match[index]), path) for index in (1, 2))
    if end < start:
        raise InvalidInput(f"the period ends ({end}) before it starts ({start})", field=path)
    return f"{start}–{end}"


def period_years(period: str) -> tuple[int, int]:
    """(first year, last year) of a normalized period."""
    start, _, end = period.partition("–")
    return int(start), int(end)


def goal_key(indicator: str) -> str:
    """How goal indicators are matched: width-folded, spaces removed, case-folded."""
    return "".join(unicodedata.normalize("NFKC", indicator).split()).casefold()


def measurable(goal: Mapping[str, Any]) -> bool:
    """A plan goal is measurable when it names its indicator, unit, baseline and target."""
    return all(goal.get(part) is not None for part in ("indicator", "unit", "baseline", "target"))


# --------------------------------------------------------------------------------------------
# The schema, strict for new input and lenient for what earlier versions stored


def _kinds_of_quality(value: Any, path: str) -> list[str]:
    kinds = _list_of(_choice(QUALITY_KINDS))(value, path)
    if not kinds:
        raise InvalidInput(f"give at least one of {', '.join(QUALITY_KINDS)}", field=path)
    return list(dict.fromkeys(kinds))


def _list_of(parse: Parse) -> Callable[[Any, str], list[Any]]:
    def parse_list(value: Any, path: str) -> list[Any]:
        _refuse_token(value, path)
        if not isinstance(value, list | tuple):
            raise InvalidInput(f"expected a list, not {_kind(value)}", field=path)
        return [parse(item, f"{path}[{index}]") for index, item in enumerate(value)]

    return parse_list


def _year_map(parse: Parse) -> Callable[[Any, str], dict[int, Any]]:
    def parse_map(value: Any, path: str) -> dict[int, Any]:
        _refuse_token(value, path)
        if not isinstance(value, Mapping):
            raise InvalidInput(
                f"expected a mapping of year to value, not {_kind(value)}", field=path
            )
        result: dict[int, Any] = {}
        for key, item in value.items():
            year = _year(key, f"{path}.{_segment(key)}")
            if year in result:
                raise InvalidInput(f"year {year} is given twice", field=f"{path}.{year}")
            if item is not None:  # an unfilled year of a draft
                result[year] = parse(item, f"{path}.{year}")
        return dict(sorted(result.items()))

    return parse_map


Field = tuple[Parse, bool]  # (parser, required inside its object)


class _Schema:
    """The parsers of every field. ``stored``: read what earlier versions wrote without raising
    on their shapes (text that the text rule refuses is shown escaped; unknown keys are left
    out; a legacy plan or incident is read in its old form)."""

    def __init__(self, *, stored: bool) -> None:
        self.stored = stored
        self.fields: dict[str, Parse] = {
            "area_km2": _area,
            "output": _year_map(_amount),
            "sme_output_share": _share,
            "leading_industry_share": _share,
            "champion_enterprises": _list_of(
                self.object({"name": (self.text, True), "kind": (_choice(CHAMPION_KINDS), True)})
            ),
            "quality_smes": _list_of(
                self.object({"name": (self.text, True), "kinds": (_kinds_of_quality, True)})
            ),
            "sme_rd_expense": _year_map(_amount),
            "invention_patents": _year_map(_count),
            "employees": _employees,
            "industrial_internet_rate": _share,
            "co2_intensity": _year_map(_amount),
            "energy_intensive": _boolean,
            "energy_efficiency_above_benchmark": _boolean,
            "water_intensive": _boolean,
            "water_efficiency_above_benchmark": _boolean,
            "incidents": _list_of(self.incident),
            "management_body": self.object(
                {"name": (self.text, True), "established": (self.date_text, False)}
            ),
            "development_plan": self.plan,
            "narrative": self.narrative,
        }
        self.report_fields: dict[str, Parse] = {
            "year": _year,
            "output": _amount,
            "enterprises": _count,
            "smes": _count,
            "employees": _employees,
            "sme_rd_expense": _amount,
            "invention_patents": _count,
            "quality_smes": _count,
            "champion_enterprises": _count,
            "industrial_internet_rate": _share,
            "co2_intensity": _amount,
            "goal_progress": self.indicator_list("actual"),
            "plan_execution": self.free_text,
            "experience": self.free_text,
            "problems": self.free_text,
            "improvements": self.free_text,
        }
        self.legacy_report_fields: dict[str, Parse] = {
            "sme_output_share": _share,
            "leading_industry_share": _share,
            "highlights": _list_of(self.free_text),
            "summary": self.free_text,
            "narrative": self.narrative,
        }

    # -- text ---------------------------------------------------------------------------------

    def _checked(self, value: str, path: str, *, one_line: bool) -> str:
        if self.stored:
            return _escaped(value, one_line=one_line)
        return check_text(value, path, one_line=one_line)

    def text(self, value: Any, path: str) -> str:
        """One-line text that is not blank (names, indicators, units)."""
        _refuse_token(value, path)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"expected non-empty text, not {_kind(value)}", field=path)
        return self._checked(value.strip(), path, one_line=True)

    def free_text(self, value: Any, path: str) -> str:
        """Text that may hold line breaks (descriptions, narratives, report texts)."""
        _refuse_token(value, path)
        if not isinstance(value, str):
            raise InvalidInput(f"expected text, not {_kind(value)}", field=path)
        return self._checked(value, path, one_line=False)

    def date_text(self, value: Any, path: str) -> str:
        _refuse_token(value, path)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(_year(value, path))
        return self.text(value, path)

    def narrative(self, value: Any, path: str) -> dict[str, str]:
        _refuse_token(value, path)
        if not isinstance(value, Mapping):
            raise InvalidInput(
                f"expected a mapping of dimension to text, not {_kind(value)}", field=path
            )
        result: dict[str, str] = {}
        for key, text in value.items():
            where = f"{path}.{_segment(key)}"
            if not isinstance(key, str) or not key.strip():
                raise InvalidInput("dimension names must be text", field=where)
            result[self._checked(key, where, one_line=True)] = self.free_text(text, where)
        return result

    # -- objects ------------------------------------------------------------------------------

    def object(self, fields: Mapping[str, Field]) -> Callable[[Any, str], dict[str, Any]]:
        def parse_object(value: Any, path: str) -> dict[str, Any]:
            _refuse_token(value, path)
            if not isinstance(value, Mapping):
                raise InvalidInput(f"expected a mapping, not {_kind(value)}", field=path)
            if not self.stored:
                for key in value:
                    if key not in fields:
                        raise InvalidInput(f"unknown field; known: {', '.join(fields)}",
                                           field=f"{path}.{_segment(key)}")
            result: dict[str, Any] = {}
            for key, (parse, required) in fields.items():
                if value.get(key) is None:
                    if required:
                        raise InvalidInput("missing", field=f"{path}.{key}")
                    continue
                result[key] = parse(value[key], f"{path}.{key}")
            return result

        return parse_object

    def incident(self, value: Any, path: str) -> dict[str, Any]:
        incident = self.object(
            {
                "year": (_year, True),
                "kind": (_choice(INCIDENT_KINDS), True),
                "grade": (_choice(INCIDENT_GRADES), False),
                "major": (_boolean, False),
                "description": (self.free_text, False),
            }
        )(value, path)
        kind = incident["kind"]
        needs = ("grade" if kind in GRADED_KINDS else "major" if kind in MAJOR_KINDS else None)
        for part in ("grade", "major"):
            if part != needs and part in incident:
                if self.stored:
                    del incident[part]  # meaningless for this kind; earlier versions kept it
                    continue
                raise InvalidInput(_incident_part_refusal(kind, part), field=f"{path}.{part}")
        if needs is not None and needs not in incident and not self.stored:
            wanted = (f"its grade ({'/'.join(INCIDENT_GRADES)})" if needs == "grade" else
                      "major: true or false (true for 较大数额罚款, 责令停产停业, 吊销许可 and the "
                      "like; false for a minor administrative fine)")
            raise InvalidInput(f"a {kind} incident needs {wanted}", field=f"{path}.{needs}")
        return incident

    def point(self, value: Any, path: str) -> dict[str, Any]:
        return self.object({"year": (_year, True), "value": (_number, True)})(value, path)

    def goal(self, value: Any, path: str) -> dict[str, Any]:
        goal = self.object(
            {
                "indicator": (self.text, False),
                "unit": (self.text, False),
                "baseline": (self.point, False),
                "target": (self.point, False),
                "text": (self.free_text, False),
            }
        )(value, path)
        if "indicator" not in goal and not (goal.get("text") or "").strip():
            raise InvalidInput("a goal needs its indicator (or at least a text)",
                               field=f"{path}.indicator")
        baseline, target = goal.get("baseline"), goal.get("target")
        if baseline is not None and target is not None:
            if target["year"] <= baseline["year"]:
                raise InvalidInput(
                    f"the target year {target['year']} must come after the baseline year "
                    f"{baseline['year']}", field=f"{path}.target.year")
            if target["value"] == baseline["value"]:
                raise InvalidInput(
                    "the target equals the baseline, so it sets no direction to assess; "
                    "state the value to reach", field=f"{path}.target.value")
        return goal

    def plan(self, value: Any, path: str) -> dict[str, Any]:
        if self.stored:
            value = _legacy_plan(value)
        plan = self.object(
            {
                "period": (parse_period, False),
                "goals": (_list_of(self.goal), False),
                "text": (self.free_text, False),
            }
        )(value, path)
        _unique_indicators(plan.get("goals", []), f"{path}.goals")
        return plan

    def indicator_list(self, value_name: str) -> Callable[[Any, str], list[dict[str, Any]]]:
        """[{indicator, <value_name>, note}], each indicator once (report and 复核 results)."""
        entry = self.object({"indicator": (self.text, True), value_name: (_number, True),
                             "note": (self.free_text, False)})

        def parse(value: Any, path: str) -> list[dict[str, Any]]:
            entries = _list_of(entry)(value, path)
            _unique_indicators(entries, path)
            return entries

        return parse

    # -- documents ----------------------------------------------------------------------------

    def document(self, raw: Any, fields: Mapping[str, Parse], where: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise InvalidInput(f"expected a mapping of fields, not {_kind(raw)}", field=where)
        if _depth(raw) > MAX_DEPTH:
            raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", field=where)
        if not self.stored:
            for key in raw:
                if key not in fields:
                    raise InvalidInput(f"unknown field; known: {', '.join(fields)}",
                                       field=_segment(key))
        result: dict[str, Any] = {}
        for key, parse in fields.items():
            if raw.get(key) is None:
                continue
            if not self.stored:
                result[key] = parse(raw[key], key)
                continue
            try:
                result[key] = parse(raw[key], key)
            except InvalidInput:
                continue  # unreadable even in an earlier shape: judged as missing
        return result


def _incident_part_refusal(kind: str, part: str) -> str:
    if kind in ESTABLISHED_KINDS:
        return (f"a {kind} incident counts whenever established: give neither grade nor major")
    if part == "major":
        return f"a {kind} incident is judged by its grade, not by major"
    return f"a {kind} incident is judged by major (true/false), not by a grade"


def _unique_indicators(entries: Sequence[Mapping[str, Any]], path: str) -> None:
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        indicator = entry.get("indicator")
        if indicator is None:
            continue
        key = goal_key(indicator)
        if key in seen:
            raise InvalidInput(f"{indicator!r} is already given at [{seen[key]}]",
                               field=f"{path}[{index}].indicator")
        seen[key] = index


def _legacy_plan(value: Any) -> Any:
    """A plan as earlier versions stored it, in today's shape: free text becomes the plan's
    text; goal sentences become goals with only a text; a period that is not two years goes
    into the text. Nothing is dropped."""
    if isinstance(value, str):
        return {"text": value, "goals": []}
    if not isinstance(value, Mapping):
        return value
    plan = dict(value)
    notes: list[str] = [plan["text"]] if isinstance(plan.get("text"), str) else []
    period = plan.get("period")
    if period is not None:
        try:
            parse_period(period)
        except InvalidInput:
            notes.append(f"规划期：{period}")
            del plan["period"]
    goals = plan.get("goals")
    if isinstance(goals, list):
        plan["goals"] = [{"text": goal} if isinstance(goal, str) else goal for goal in goals]
    if notes:
        plan["text"] = "\n".join(notes)
    return plan


_STRICT: Final = _Schema(stored=False)
_STORED: Final = _Schema(stored=True)

#: The application's fields in their canonical order, each with its parser.
FIELDS: Final[Mapping[str, Parse]] = _STRICT.fields

#: The series read per year; "近三年" picks the three years before the round year from each.
YEAR_SERIES: Final = ("output", "sme_rd_expense", "invention_patents", "co2_intensity")

#: The annual report's fields (第十七条 年度培育情况): the year, its key figures, each plan
#: goal's progress, and four texts.
REPORT_FIELDS: Final[Mapping[str, Parse]] = _STRICT.report_fields
REPORT_FIGURES: Final = ("output", "enterprises", "smes", "employees", "sme_rd_expense",
                         "invention_patents", "quality_smes", "champion_enterprises",
                         "industrial_internet_rate", "co2_intensity")
REPORT_TEXTS: Final = ("plan_execution", "experience", "problems", "improvements")
#: Fields reports filed by earlier versions may hold; read back, never accepted anew.
LEGACY_REPORT_FIELDS: Final[Mapping[str, Parse]] = _STORED.legacy_report_fields


def validate_application(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized application: years as ``int`` keys, amounts and shares as ``Decimal``.

    Missing fields are allowed (drafts); a top-level ``null`` counts as missing. Anything present
    must be right, or ``InvalidInput`` names its path.
    """
    return _STRICT.document(raw, FIELDS, "(application)")


def read_stored_application(stored: Any) -> dict[str, Any]:
    """An application as stored by this or an earlier version, normalized like
    ``validate_application``; never raises. A plan stored as free text becomes
    ``{"text": …, "goals": []}``, an incident without ``major`` has none (and counts, as
    incomplete facts do), text the text rule refuses is shown with ``\\uXXXX`` escapes, and a
    field that cannot be read at all is left out (the criteria then report it missing)."""
    if not isinstance(stored, Mapping) or _depth(stored) > MAX_DEPTH:
        return {}
    return _STORED.document(stored, _STORED.fields, "(application)")


def validate_report(raw: Any, year: int,
                    plan: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An annual report for ``year``, normalized like an application; every field optional
    (``missing_for_report`` says what a complete one lacks).

    A wrong type, a negative amount, a share outside 0–1, an unknown field, text with control
    or bidirectional characters, more SMEs than enterprises, an indicator given twice, or a
    ``year`` other than the one reported on is refused with ``InvalidInput`` naming the field's
    path. With ``plan`` (the case's development plan), a ``goal_progress`` indicator that is
    not one of its goals is refused too.
    """
    report = _STRICT.document(raw, REPORT_FIELDS, "data")
    if report.get("year", year) != year:
        raise InvalidInput(f"the file reports on {report['year']}, not {year}", field="year")
    if "smes" in report and "enterprises" in report and report["smes"] > report["enterprises"]:
        raise InvalidInput(f"{report['smes']} SMEs among {report['enterprises']} enterprises",
                           field="smes")
    if plan is not None:
        _known_indicators(report.get("goal_progress", []), plan, "goal_progress")
    return report


def read_stored_report(stored: Any) -> dict[str, Any]:
    """An annual report as stored by this or an earlier version (which held
    ``sme_output_share``, ``leading_industry_share``, ``highlights``, ``summary`` and
    ``narrative``: kept under those names); never raises."""
    if not isinstance(stored, Mapping) or _depth(stored) > MAX_DEPTH:
        return {}
    return _STORED.document(stored, {**_STORED.report_fields, **LEGACY_REPORT_FIELDS}, "data")


def missing_for_report(report: Mapping[str, Any],
                       plan: Mapping[str, Any] | None = None) -> list[str]:
    """What a complete annual report still lacks: its key figures, the four texts of 第十七条
    and, with ``plan``, the progress of each of its goals that has an indicator."""
    missing = [key for key in (*REPORT_FIGURES, *REPORT_TEXTS) if report.get(key) is None]
    if plan is not None:
        given = {goal_key(entry["indicator"]) for entry in report.get("goal_progress", [])}
        missing.extend(
            f"goal_progress[{goal['indicator']}]" for goal in plan.get("goals", [])
            if goal.get("indicator") and goal_key(goal["indicator"]) not in given)
    return missing


def read_goal_results(raw: Any, plan: Mapping[str, Any] | None, path: str,
                      value_name: str = "actual") -> list[dict[str, Any]]:
    """[{indicator, actual, note}] for exactly the plan's goals that name an indicator: a
    missing, unknown or repeated indicator is refused with its path."""
    entries: list[dict[str, Any]] = _STRICT.indicator_list(value_name)(raw, path)
    _known_indicators(entries, plan or {}, path)
    given = {goal_key(entry["indicator"]) for entry in entries}
    lacking = [goal["indicator"] for goal in (plan or {}).get("goals", [])
               if goal.get("indicator") and goal_key(goal["indicator"]) not in given]
    if lacking:
        raise InvalidInput("no result for the plan goal(s) " + "、".join(lacking), field=path)
    return entries


def _known_indicators(entries: Sequence[Mapping[str, Any]], plan: Mapping[str, Any],
                      path: str) -> None:
    known = {goal_key(goal["indicator"]): goal["indicator"]
             for goal in plan.get("goals", []) if goal.get("indicator")}
    for index, entry in enumerate(entries):
        if goal_key(entry["indicator"]) not in known:
            listed = "、".join(known.values()) or "none: the plan names no indicator"
            raise InvalidInput(f"{entry['indicator']!r} is not a goal of the plan; its goals: "
                               f"{listed}", field=f"{path}[{index}].indicator")


def missing_for_submission(
    app: Mapping[str, Any], round_year: int, window_years: int = 3
) -> list[str]:
    """Paths a complete application still lacks, in field order (empty when complete).

    Each series needs the ``window_years`` years before the round year ("近三年"). Lists of
    enterprises and of incidents must be present, if empty (``[]`` declares "none"). The
    efficiency flags are needed only for clusters that are energy- or water-intensive. The plan
    needs its period and at least one goal (whether the goals are measurable is 第十三条第（九）项's
    question, which the criteria answer).
    """
    years = range(round_year - window_years, round_year)
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
    """JSON-ready form of a normalized application or report; validating it gives it back."""
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


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, RefusedToken):
        return f"{value.text!r} ({value.problem})"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"text {value!r}"
    return f"{type(value).__name__} {value!r}"
