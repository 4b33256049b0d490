"""The values of the data files (application, annual report, 复核), each parsed exactly: a
refusal is ``InvalidInput`` whose ``field`` is the path of the value (``output.2023``).

Every parser is ``parse(value, path)`` (:data:`Parse`). Numbers are exact (``parse.exact_number``)
and any number may be written as a string; amounts are in 亿元 and never negative; shares lie in
0–1 (or are written like ``"78%"``); years of data lie from ``FIRST_DATA_YEAR``. A token the
reader could not take as written (``datafile.RefusedToken``) is refused by every parser with the
reader's reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from gdcluster.engine.datafile import refuse_token
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.engine.parse import (
    FIRST_DATA_YEAR,
    describe,
    exact_number,
    year_number,
    year_within,
)
from gdcluster.engine.text import check_text

__all__ = [
    "Parse",
    "amount",
    "area",
    "boolean",
    "choice",
    "count",
    "employees",
    "escaped",
    "goal_key",
    "list_of",
    "measurable",
    "number",
    "parse_period",
    "period_years",
    "segment",
    "share",
    "year",
    "year_map",
]

Parse = Callable[[Any, str], Any]

_PERIOD = re.compile(r"\s*([0-9]{4})\s*年?\s*[-–—]\s*([0-9]{4})\s*年?\s*")


# ---------------------------------------------------------------------------- numbers
def number(value: Any, path: str) -> Decimal:
    """An exact number (``parse.exact_number``), or the reader's refusal of what was written."""
    refuse_token(value, path)
    return exact_number(value, path)


def amount(value: Any, path: str) -> Decimal:
    """A number that is not negative (亿元, intensities)."""
    found = number(value, path)
    if found < 0:
        raise InvalidInput(Message("must not be negative, not {found}", found=found), field=path)
    return found


def area(value: Any, path: str) -> Decimal:
    """An area in km², above 0."""
    found = amount(value, path)
    if found == 0:
        raise InvalidInput("an area must be above 0", field=path)
    return found


def share(value: Any, path: str) -> Decimal:
    """A share in 0–1, from 0.78, "0.78" or "78%" (a bare 78 is refused rather than guessed)."""
    if isinstance(value, str) and value.strip().endswith(("%", "％")):
        found = number(value.strip()[:-1], path).scaleb(-2)
    else:
        found = number(value, path)
    if not 0 <= found <= 1:
        raise InvalidInput(
            Message('a share must lie between 0 and 1 (or be written like "78%"), not {value}',
                    value=value),
            field=path,
        )
    return found


def _whole(value: Any, path: str, *, minimum: int) -> int:
    found = number(value, path)
    if found != found.to_integral_value():
        raise InvalidInput(Message("expected a whole number, not {found}", found=found), field=path)
    if found < minimum:
        raise InvalidInput(Message("must be at least {minimum}, not {found}", minimum=minimum,
                                   found=found), field=path)
    return int(found)


def count(value: Any, path: str) -> int:
    """A whole number from 0 (patents, enterprises)."""
    return _whole(value, path, minimum=0)


def employees(value: Any, path: str) -> int:
    """A whole number from 1."""
    return _whole(value, path, minimum=1)


# ---------------------------------------------------------------------------- other values
def boolean(value: Any, path: str) -> bool:
    """``true`` or ``false``, nothing that merely reads as one."""
    refuse_token(value, path)
    if not isinstance(value, bool):
        raise InvalidInput(Message("expected true or false, not {given}", given=describe(value)),
                           field=path)
    return value


def choice(allowed: tuple[str, ...]) -> Parse:
    """A parser of one of the ``allowed`` words."""
    def parse(value: Any, path: str) -> str:
        refuse_token(value, path)
        if not isinstance(value, str) or value not in allowed:
            raise InvalidInput(Message("{value!r} is not one of {allowed}", value=value,
                                       allowed=", ".join(allowed)), field=path)
        return value

    return parse


def year(value: Any, path: str) -> int:
    """A year of data: a whole number or four digits, from ``FIRST_DATA_YEAR``."""
    refuse_token(value, path)
    found = year_number(value)
    if found is None:
        raise InvalidInput(Message("a year must be a whole number like 2023, not {value!r}",
                                   value=value), field=path)
    return year_within(found, path, FIRST_DATA_YEAR)


def segment(key: Any) -> str:
    """A key as it appears in a field path, so an error message never carries a character the
    text rule refuses (it is written as a \\uXXXX escape instead)."""
    return escaped(str(key), one_line=True)


def escaped(text: str, *, one_line: bool) -> str:
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


# ---------------------------------------------------------------------------- plans
def parse_period(value: Any, path: str = "development_plan.period") -> str:
    """A plan period "2024–2026" (also written 2024-2026, 2024—2026, 2024年–2026年), normalized
    to the en-dash form; the end may not precede the start."""
    refuse_token(value, path)
    match = _PERIOD.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(Message("write the plan period as years like \"2024–2026\", not "
                                   "{value!r}", value=value), field=path)
    start, end = (year(int(match[index]), path) for index in (1, 2))
    if end < start:
        raise InvalidInput(Message("the period ends ({end}) before it starts ({start})", end=end,
                                   start=start), field=path)
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


# ---------------------------------------------------------------------------- containers
def list_of(parse: Parse) -> Callable[[Any, str], list[Any]]:
    """A parser of a list whose items ``parse`` reads (``path[index]``)."""
    def parse_list(value: Any, path: str) -> list[Any]:
        refuse_token(value, path)
        if not isinstance(value, list | tuple):
            raise InvalidInput(Message("expected a list, not {given}", given=describe(value)),
                               field=path)
        return [parse(item, f"{path}[{index}]") for index, item in enumerate(value)]

    return parse_list


def year_map(parse: Parse) -> Callable[[Any, str], dict[int, Any]]:
    """A parser of ``{year: value}`` (``path.year``), sorted by year; an unfilled year of a
    draft (``null``) is left out."""
    def parse_map(value: Any, path: str) -> dict[int, Any]:
        refuse_token(value, path)
        if not isinstance(value, Mapping):
            raise InvalidInput(
                Message("expected a mapping of year to value, not {given}",
                        given=describe(value)), field=path
            )
        result: dict[int, Any] = {}
        for key, item in value.items():
            found = year(key, f"{path}.{segment(key)}")
            if found in result:
                raise InvalidInput(Message("year {year} is given twice", year=found),
                                   field=f"{path}.{found}")
            if item is not None:
                result[found] = parse(item, f"{path}.{found}")
        return dict(sorted(result.items()))

    return parse_map
