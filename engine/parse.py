"""Input as the engine takes it: text, dates, years, ids, numbers, and the one set of bounds.

Every door (the CLI, the library, the files) reads through these functions, so a value refused at
one door is refused at all of them with the same message, and ``InvalidInput.field`` names what
was wrong. Only the standard library and ``gdcluster.engine.errors``/``text`` are imported: the
CLI reads the bounds below at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from gdcluster.engine.errors import InvalidInput, NotFound
from gdcluster.engine.i18n import N_, Message
from gdcluster.engine.text import check_text

__all__ = [
    "FIRST_DATA_YEAR",
    "FIRST_YEAR",
    "LAST_YEAR",
    "MAX_ID",
    "MAX_ROWS",
    "NAME_LIMIT",
    "PERSON_LIMIT",
    "TEXT_LIMIT",
    "as_case_id",
    "as_date",
    "as_year",
    "clean_text",
    "describe",
    "exact_number",
    "is_iso_date",
    "name_text",
    "publicity_choice",
    "row_count",
    "unknown_name",
    "validate_doc_no",
    "validate_quotas",
    "year_number",
    "year_within",
]

#: The years any date, year or instant given to the engine must lie in: outside them no legal
#: date of these measures falls, and converting year 1 or 9999 to UTC would overflow.
FIRST_YEAR, LAST_YEAR = 2000, 2100
#: Application data may report history from this year on (growth over earlier years).
FIRST_DATA_YEAR = 1990
#: The largest row id any back-end stores (PostgreSQL ``integer``); larger ids name no row,
#: and sending them would overflow the driver's integer types.
MAX_ID = 2**31 - 1
#: The largest LIMIT/OFFSET both back-ends take (64-bit).
MAX_ROWS = 2**63 - 1
#: The longest cluster or industry name stored: stored exactly and rendered whole.
NAME_LIMIT = 10_000
#: An objector's name, which becomes the actor ``public@NAME`` (actors hold 200 characters).
PERSON_LIMIT = 200
#: Reasons, evidence and details.
TEXT_LIMIT = 20_000

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YEAR_TEXT = re.compile(r"[0-9]{4}")
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
# [0-9], not \d: \d also matches full-width and other Unicode digits (２０２４). Kept as a
# pattern, compiled on first use (``re`` caches it): the CJK range takes milliseconds to
# compile, which every command that imports this module (``case show``) paid for nothing.
_DOC_NO = r"[\u4e00-\u9fff]{1,20}〔(?:19|20)[0-9]{2}〕[1-9][0-9]{0,4}号"
_LARGEST_EXPONENT = 15  # no amount in 亿元 comes near 10^15
_SMALLEST_EXPONENT = -20  # more decimal places than that is noise, and Fractions would balloon


# ---------------------------------------------------------------------------- text
def describe(value: Any) -> str:
    """How a refused value is named in a message: ``null``, ``a mapping``, ``text 'x'``…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"text {value!r}"
    return f"{type(value).__name__} {value!r}"


def clean_text(value: Any, name: str, *, required: bool = True, limit: int = TEXT_LIMIT,
               one_line: bool = False) -> str | None:
    """Text as given, or ``InvalidInput``: the rule of ``gdcluster.engine.text`` (names are
    one line; reasons may hold line breaks; no control or bidirectional characters)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(Message("is required"), field=name)
        return None
    if not isinstance(value, str):
        raise InvalidInput(Message("must be text, not {kind}", kind=type(value).__name__),
                           field=name)
    if len(value) > limit:
        raise InvalidInput(Message("is longer than {limit} characters", limit=limit), field=name)
    if "\x00" in value:
        raise InvalidInput(Message("contains a NUL character"), field=name)
    return check_text(value, name, one_line=one_line)


def name_text(value: Any, name: str, *, limit: int = NAME_LIMIT) -> str:
    """A name (cluster, industry, notice title): required text on one line, trimmed."""
    text = clean_text(value, name, limit=limit)
    assert text is not None
    return check_text(text, name, one_line=True).strip()


# ---------------------------------------------------------------------------- numbers
def exact_number(value: Any, field: str) -> Decimal:
    """An exact decimal from an int, a Decimal, a float's shortest text or plain decimal text.

    Plain digits only: ``"1e1"``, ``"0x10"``, ``"１０"``, ``"NaN"`` and ``"1_0"`` are refused,
    where ``Decimal()`` would take them.
    """
    if isinstance(value, bool):
        raise InvalidInput(Message("expected a number, not {given}", given=str(value).lower()),
                           field=field)
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, float):
        result = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        result = Decimal(value.strip())
    elif isinstance(value, str):
        raise InvalidInput(Message("{value!r} is not a number (write e.g. 45.2)", value=value),
                           field=field)
    else:
        raise InvalidInput(Message("expected a number, not {given}", given=describe(value)),
                           field=field)
    if not result.is_finite():
        raise InvalidInput(Message("{value} is not a number; write a finite value", value=result),
                           field=field)
    if result and result.adjusted() > _LARGEST_EXPONENT:
        raise InvalidInput(Message("{value} is implausibly large", value=result), field=field)
    exponent = result.as_tuple().exponent
    if isinstance(exponent, int) and exponent < _SMALLEST_EXPONENT:
        raise InvalidInput(
            Message("{value} has more than {places} decimal places", value=result,
                    places=-_SMALLEST_EXPONENT), field=field
        )
    return result


def row_count(value: Any, name: str) -> int | None:
    """A LIMIT or OFFSET: ``None`` or a whole number both back-ends take."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 0 <= value <= MAX_ROWS):
        raise InvalidInput(Message("must be a whole number from 0 to {last}", last=MAX_ROWS),
                           field=name)
    return value


# ---------------------------------------------------------------------------- dates and years
def is_iso_date(text: str) -> bool:
    """``YYYY-MM-DD`` in ASCII digits (``date.fromisoformat`` also takes ``20240927``)."""
    return _ISO_DATE.fullmatch(text) is not None


def as_date(value: Any, name: str) -> date | None:
    """A date (or ISO ``YYYY-MM-DD`` text) inside the engine's years; ``None`` for nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise InvalidInput(Message("must be a date, not a date-time"), field=name)
    if isinstance(value, str):
        try:
            if not is_iso_date(value.strip()):
                raise ValueError(value)
            value = date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInput(Message("not an ISO date (YYYY-MM-DD): {value!r}", value=value),
                               field=name) from exc
    if isinstance(value, date):
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise InvalidInput(Message("{value} is outside the years {first}–{last}", value=value,
                                       first=FIRST_YEAR, last=LAST_YEAR), field=name)
        return value
    raise InvalidInput(Message("must be a date, not {kind}", kind=type(value).__name__),
                       field=name)


def as_year(value: Any, name: str = "year") -> int:
    """A year as a whole number or four digits, inside the engine's years."""
    year = year_number(value)
    if year is None:
        raise InvalidInput(Message("not a year: {value!r}", value=value), field=name)
    return year_within(year, name)


def year_number(value: Any) -> int | None:
    """``value`` as a year's number (a whole number, or four ASCII digits), else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _YEAR_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def year_within(year: int, name: str, first: int = FIRST_YEAR) -> int:
    """``year`` when it lies from ``first`` to ``LAST_YEAR``, else ``InvalidInput``."""
    if not first <= year <= LAST_YEAR:
        raise InvalidInput(Message("year {year} is outside {first}–{last}", year=year, first=first,
                                   last=LAST_YEAR), field=name)
    return year


# ---------------------------------------------------------------------------- ids
def as_case_id(value: Any) -> int:
    """A case id as the database can look it up: ``NotFound`` for any other number."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise NotFound("case", value)
    return value


def publicity_choice(top: Any, min_score: Any, select_ids: Iterable[Any] | None
                     ) -> dict[str, Any]:
    """``{"top": N}``, ``{"min_score": "S"}`` or ``{"select": [ids]}``, normalized so that the
    same choice written twice compares equal (a rerun must make the same choice)."""
    if sum(value is not None for value in (top, min_score, select_ids)) != 1:
        raise InvalidInput(Message("give exactly one of --top, --min-score, --select"),
                           field="select")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise InvalidInput(Message("must be a whole number of at least 1"), field="top")
        return {"top": top}
    if min_score is not None:
        threshold = exact_number(min_score, "min_score")  # plain decimal text: no NaN, no 1e3
        return {"min_score": format(threshold.normalize(), "f")}
    assert select_ids is not None
    ids: set[int] = set()
    for item in select_ids:
        try:
            picked = int(str(item).strip())
        except ValueError:
            raise InvalidInput(Message("not a case id: {value!r}", value=item),
                               field="select") from None
        if not 1 <= picked <= MAX_ID:
            raise InvalidInput(Message("not a case id: {value!r}", value=item), field="select")
        ids.add(picked)
    if not ids:
        raise InvalidInput(Message("name at least one case"), field="select")
    return {"select": sorted(ids)}


# ---------------------------------------------------------------------------- documents
def validate_doc_no(text: str) -> str:
    """发文字号 like 粤工信服务函〔2023〕4号: full year in 〔〕, no 第, no leading zero."""
    if not isinstance(text, str) or not re.fullmatch(_DOC_NO, text):
        raise InvalidInput(
            Message("not a 发文字号 in GB/T 9704 form (e.g. 粤工信服务函〔2023〕4号: full year "
                    "in 〔〕, no 第, no leading zero): {text!r}", text=text),
            field="doc_no",
        )
    return text


def validate_quotas(quotas: Mapping[str, Any]) -> dict[str, list[int]]:
    """A round's quota table: city (or ``*``) → ``[min, max]`` recommendations, 0–100."""
    from gdcluster.states.regions import UnknownRegion, load_regions

    table: dict[str, list[int]] = {}
    for city, pair in quotas.items():
        try:
            name = "*" if city == "*" else load_regions().city(city).name
        except UnknownRegion as exc:
            raise InvalidInput(str(exc), field=f"quotas.{city}") from exc
        try:
            low, high = (int(x) for x in pair)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(Message("give min and max as whole numbers"),
                               field=f"quotas.{city}") from exc
        if not 0 <= low <= high <= 100:
            raise InvalidInput(Message("need 0 <= min <= max <= 100"), field=f"quotas.{city}")
        table[name] = [low, high]
    return table


# ---------------------------------------------------------------------------- state names
def unknown_name(error: Any) -> Message:
    """``states.workflow.UnknownName``'s message (the same English), translatable: the valid
    names are listed as code and Chinese label in every language."""
    listed = ", ".join(f"{code}（{label}）" if label else code for code, label in error.choices)
    if error.ambiguous:
        template = (N_("state {given!r} is the label of several states: {codes}; name one by "
                       "its code") if error.kind == "state" else
                    N_("trigger {given!r} is the label of several triggers: {codes}; name one "
                       "by its code"))
        return Message(template, given=error.given, codes=", ".join(error.ambiguous))
    template = (N_("unknown state {given!r}; valid states: {listed}") if error.kind == "state"
                else N_("unknown trigger {given!r}; valid triggers: {listed}"))
    return Message(template, given=error.given, listed=listed)
