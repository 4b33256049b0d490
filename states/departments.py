"""The departments notices address and copy, the documents they cite, the remedies they name.

The data live in ``departments.toml`` beside this module: each city's 中小企业主管部门 by its own
name (深圳市: 深圳市中小企业服务局), the phrase for a county-level unit's department, the titles
under which cited documents were issued, and where an adverse decision can be challenged
(行政复议 and 行政诉讼, with their periods and the articles they come from). The file is
validated against the region table when loaded: every city has its department, and no name
outside the table has one.

Stdlib only, and nothing from ``gdcluster.engine``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from gdcluster.states.regions import UnknownRegion, load_regions

__all__ = [
    "DepartmentDataError",
    "Departments",
    "Remedies",
    "load_departments",
    "parse_departments",
]

FILE = "departments.toml"
_UNIT = "{unit}"


class DepartmentDataError(ValueError):
    """``departments.toml`` cannot be used; the message says where."""


@dataclass(frozen=True)
class Remedies:
    """Where an adverse decision of the province can be challenged, and within how long."""

    review_body: str
    review_days: int
    review_source: str
    litigation_months: int
    litigation_source: str


@dataclass(frozen=True)
class Departments:
    cities: Mapping[str, str]
    unit_pattern: str
    issued: Mapping[str, str]
    remedies: Remedies

    def city(self, city: str) -> str:
        """The 中小企业主管部门 of a prefecture-level city (given in any spelling the region
        table accepts)."""
        return self.cities[load_regions().city(city).name]

    def unit(self, unit: str) -> str:
        """The addressee phrase for a county-level unit's department; a name outside the
        region table is used as written (old cases keep the name they were filed under)."""
        try:
            name = load_regions().unit(unit).name
        except UnknownRegion:
            name = unit
        return self.unit_pattern.replace(_UNIT, name)

    def issued_title(self, doc_no: str) -> str | None:
        """The title a document of this number was issued under, where it is recorded."""
        return self.issued.get(doc_no)


@cache
def load_departments() -> Departments:
    """The shipped data, validated (cached: the file is package data)."""
    content = resources.files("gdcluster.states").joinpath(FILE).read_bytes()
    return parse_departments(content, FILE)


def parse_departments(content: bytes, file: str) -> Departments:
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DepartmentDataError(f"{file}: not UTF-8 TOML: {error}") from None
    unknown = sorted(set(data) - {"as_of", "source", "cities", "units", "issued", "remedies"})
    if unknown:
        raise DepartmentDataError(f"{file}: unknown key {unknown[0]!r}")
    regions = load_regions()
    cities = _texts(data, "cities", file)
    canonical = {city.name for city in regions}
    strays = sorted(set(cities) - canonical)
    if strays:
        raise DepartmentDataError(f"{file}: cities.{strays[0]}: not a city of the region table")
    missing = sorted(canonical - set(cities), key=[city.name for city in regions].index)
    if missing:
        raise DepartmentDataError(f"{file}: cities: no department for {', '.join(missing)}")
    units = _texts(data, "units", file)
    pattern = units.get("department", "")
    if set(units) != {"department"} or _UNIT not in pattern:
        raise DepartmentDataError(f"{file}: units: give department = \"{_UNIT}…\" only")
    issued = _texts(data, "issued", file)
    remedies = _table(data, "remedies", file)
    try:
        parsed = Remedies(
            review_body=_text(remedies, "review_body", file),
            review_days=_count(remedies, "review_days", file),
            review_source=_text(remedies, "review_source", file),
            litigation_months=_count(remedies, "litigation_months", file),
            litigation_source=_text(remedies, "litigation_source", file),
        )
    except KeyError as error:
        raise DepartmentDataError(f"{file}: remedies.{error.args[0]}: is required") from None
    extra = sorted(set(remedies) - set(Remedies.__dataclass_fields__))
    if extra:
        raise DepartmentDataError(f"{file}: remedies.{extra[0]}: unknown key")
    return Departments(cities=MappingProxyType(cities), unit_pattern=pattern,
                       issued=MappingProxyType(issued), remedies=parsed)


def _table(data: Mapping[str, Any], key: str, file: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise DepartmentDataError(f"{file}: [{key}] is required and must be a table")
    return value


def _texts(data: Mapping[str, Any], key: str, file: str) -> dict[str, str]:
    table = _table(data, key, file)
    return {name: _text(table, name, f"{file}: {key}") for name in table}


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise DepartmentDataError(f"{where}.{key}: must be text without surrounding spaces")
    return value


def _count(table: Mapping[str, Any], key: str, where: str) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DepartmentDataError(f"{where}: remedies.{key}: must be a positive whole number")
    return value
