"""广东省区划表 (the Guangdong region table, DESIGN §7).

Every case is filed by a county-level unit and reviewed by its prefecture-level city, and an
actor may act only inside its own region (``county:佛山市南海区``, ``city:佛山市``). Region names
therefore have to be exact: a typo must be refused with a suggestion rather than guessed, and a
short name that fits several units must be refused with the candidates listed.

The data live in ``regions.json`` beside this module (21 cities, their GB/T 2260 county-level
units, the 镇 and 街道 of 东莞市 and 中山市, and the development zones that file in their own
name). The file records its sources and as-of date; this module validates it when loaded.

Stdlib only, and nothing from ``gdcluster.engine``: the engine depends on this table, not the
other way round.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "COUNTY_LEVEL_KINDS",
    "UNIT_KINDS",
    "AmbiguousRegion",
    "City",
    "FormerUnit",
    "RegionDataError",
    "RegionTable",
    "Unit",
    "UnknownRegion",
    "load_regions",
    "normalize_name",
]

PROVINCE = "广东省"

#: Unit kinds, in the order the data file's ``kinds`` entry explains them.
UNIT_KINDS: tuple[str, ...] = (
    "district",
    "county_city",
    "county",
    "autonomous_county",
    "town",
    "street",
    "zone",
)
#: Kinds that carry a 6-digit GB/T 2260 code; the others hang under a city without counties
#: or are development zones.
COUNTY_LEVEL_KINDS = frozenset({"district", "county_city", "county", "autonomous_county"})

_NAME_SUFFIX = {
    "district": "区",
    "county_city": "市",
    "county": "县",
    "autonomous_county": "自治县",
    "town": "镇",
    "street": "街道",
}
# GB/T 2260: the last two digits of a county-level code say what it is.
_COUNTY_CODE_RANGE = {
    "district": range(1, 21),
    "county": range(21, 71),
    "autonomous_county": range(21, 71),
    "county_city": range(81, 100),
}
# 统计用区划代码: the 7th digit of a 9-digit township code says what it is.
_TOWNSHIP_CODE_DIGIT = {"street": "0", "town": "1", "zone": "4"}

_CITY_CODE = re.compile(r"44\d\d00")
_WHITESPACE = re.compile(r"\s+")
_SUGGESTIONS = 5
_SUGGESTION_CUTOFF = 0.6


def normalize_name(name: str) -> str:
    """Bring a typed or pasted region name to the form the table is keyed by.

    NFKC folds full-width digits and compatibility characters that Chinese input methods and
    office documents produce; whitespace is dropped everywhere because no region name contains
    any, while pasted names often do ("佛山市 南海区").
    """
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", name))


@dataclass(frozen=True)
class Unit:
    """A unit that files applications: a county-level unit, or a 镇/街道/zone of a city without
    counties, or a development zone acting for its own area."""

    name: str
    """Canonical, city-qualified name: "佛山市南海区", "东莞市万江街道"; zones keep their official
    name ("中山火炬高新区")."""
    short: str
    """Name without the city: "南海区", "万江街道", "火炬高新区"."""
    code: str | None
    """6-digit GB/T 2260 code, 9-digit 统计用区划代码, or None where no code exists."""
    city: str
    """Canonical name of the prefecture-level city: "佛山市"."""
    kind: str
    """One of :data:`UNIT_KINDS`."""

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class City:
    """A prefecture-level city (地级市) and its units in code order."""

    name: str
    code: str
    has_counties: bool
    """False for 东莞市 and 中山市, which have 镇 and 街道 directly under the city."""
    units: tuple[Unit, ...]

    @property
    def short(self) -> str:
        """The name without 市, as people write it ("佛山")."""
        return self.name.removesuffix("市")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class FormerUnit:
    """A unit that no longer exists (茂名市茂港区, 中山市东升镇).

    Old names and codes live on in letters, spreadsheets and other systems; looking one up is
    refused, but the refusal names the unit that replaced it instead of a merely similar name.
    """

    name: str
    short: str
    code: str | None
    city: str
    until: int
    """Year the unit was abolished (for county-level units: the year its code left the
    民政部 list)."""
    successors: tuple[str, ...]
    """Canonical names of the current units that took its place."""
    note: str


class RegionDataError(ValueError):
    """The region data file is malformed; raised when it is loaded, never later."""


class UnknownRegion(LookupError):
    """A city or unit name that is not in the table.

    Carries ``name`` (as normalized), ``kind`` ("city" or "unit"), ``suggestions`` (canonical
    names of close matches, best first), ``city`` (the city the lookup was limited to, if any)
    and ``hint`` (why the name was refused, when more can be said than "unknown").
    """

    code = "unknown_region"

    def __init__(
        self,
        name: str,
        kind: str,
        suggestions: Sequence[str] = (),
        *,
        city: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.suggestions = list(suggestions)
        self.city = city
        self.hint = hint
        self.message = self._compose()
        super().__init__(self.message)

    def _compose(self) -> str:
        if self.kind == "city":
            zh, en = "地级市", "prefecture-level city"
        else:
            zh, en = "县（区）级单位", "county-level unit"
        if self.city:
            text = f"{self.city}没有这个{zh}：“{self.name}”（no {en} {self.name!r} in {self.city}）"
        else:
            text = f"未知的{zh}：“{self.name}”（unknown {en}: {self.name!r}）"
        if self.hint:
            text += f"。{self.hint}"
        if self.suggestions:
            listed = "、".join(self.suggestions)
            text += f"。是否指：{listed}？（did you mean: {', '.join(self.suggestions)}?）"
        return text

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.__dict__.copy()))


class AmbiguousRegion(UnknownRegion):
    """A short name that fits units in several places ("高新区"): the caller must say which.

    ``candidates`` (also ``suggestions``) lists the canonical names it could mean.
    """

    code = "ambiguous_region"

    def __init__(self, name: str, candidates: Sequence[str], *, city: str | None = None) -> None:
        self.candidates = list(candidates)
        super().__init__(name, "unit", candidates, city=city)

    def _compose(self) -> str:
        listed_zh = "、".join(self.candidates)
        listed_en = ", ".join(self.candidates)
        return (
            f"“{self.name}”对应多个单位，请写全称（含所属地市）：{listed_zh}"
            f"（{self.name!r} is ambiguous: it matches {listed_en}; give the full name）"
        )


def _rebuild_error(cls: type[UnknownRegion], state: dict[str, Any]) -> UnknownRegion:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = (state["message"],)
    return error


class RegionTable:
    """The cities and units of 广东省, with lookups that accept the forms administrators type.

    Lookups accept canonical names, codes, short names when they are unambiguous, the city
    written without 市 ("佛山南海区"), a leading "广东省", and the aliases the data file lists for
    development zones. Anything else raises :class:`UnknownRegion`; nothing is guessed.
    """

    def __init__(
        self,
        cities: Iterable[City],
        *,
        aliases: Mapping[str, Iterable[str]] | None = None,
        former: Iterable[FormerUnit] = (),
        source: Mapping[str, Any] | None = None,
    ) -> None:
        """``aliases`` maps a unit's canonical name to other names it is known by (zones'
        full official names); ``former`` lists abolished units, so that their names are
        refused with a pointer to their successors; ``source`` is the data file's provenance."""
        city_list = list(cities)
        self.cities: Mapping[str, City] = MappingProxyType({c.name: c for c in city_list})
        self.source: Mapping[str, Any] = MappingProxyType(dict(source or {}))
        self._validate(city_list)
        self._aliases = {
            name: tuple(normalize_name(a) for a in names) for name, names in (aliases or {}).items()
        }
        self.units: tuple[Unit, ...] = tuple(u for c in city_list for u in c.units)
        self._city_keys: dict[str, City] = {}
        for c in city_list:
            for key in (c.name, c.short, c.code):
                self._city_keys[key] = c
        self._by_name: dict[str, Unit] = {u.name: u for u in self.units}
        self._by_code: dict[str, Unit] = {u.code: u for u in self.units if u.code}
        self._by_alias: dict[str, list[Unit]] = {}
        for unit in self.units:
            for key in self._alias_keys(unit):
                bucket = self._by_alias.setdefault(key, [])
                if unit not in bucket:
                    bucket.append(unit)
        self._unit_keys = sorted({*self._by_name, *self._by_alias})
        self.former: tuple[FormerUnit, ...] = tuple(former)
        self._former_keys: dict[str, FormerUnit] = {}
        for old in self.former:
            missing = [name for name in old.successors if name not in self._by_name]
            if missing or not old.successors or old.city not in self.cities:
                raise RegionDataError(f"former unit {old.name}: unknown city or successors")
            keys = {old.name, old.short, self.cities[old.city].short + old.short}
            if old.code:
                keys.add(old.code)
            # A former name still borne by a current unit (the new 小榄镇) resolves to that
            # unit; only the retired code then leads to the former record.
            for key in keys - self._by_name.keys() - self._by_alias.keys():
                self._former_keys[key] = old

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegionTable:
        """Build the table from the parsed data file; malformed data raise RegionDataError."""
        aliases: dict[str, list[str]] = {}
        try:
            cities = [_city_from_json(raw, aliases) for raw in data["cities"]]
            former = [_former_from_json(raw) for raw in data.get("former_units", ())]
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise RegionDataError(f"region data malformed: {exc!r}") from exc
        unknown = set(aliases) - {u.name for c in cities for u in c.units}
        if unknown:
            raise RegionDataError(f"aliases for units not in the table: {sorted(unknown)}")
        return cls(cities, aliases=aliases, former=former, source=data.get("source"))

    @staticmethod
    def _validate(cities: Sequence[City]) -> None:
        if len({c.name for c in cities}) != len(cities):
            raise RegionDataError("duplicate city name")
        names: dict[str, Unit] = {}
        codes: dict[str, str] = {c.code: c.name for c in cities}
        if len(codes) != len(cities):
            raise RegionDataError("duplicate city code")
        for c in cities:
            if not (c.name.endswith("市") and _CITY_CODE.fullmatch(c.code)):
                raise RegionDataError(f"{c.name} {c.code}: not a Guangdong prefecture-level city")
            for u in c.units:
                _validate_unit(c, u)
                if u.name in names:
                    raise RegionDataError(f"duplicate unit name {u.name}")
                names[u.name] = u
                if u.code is not None:
                    if u.code in codes:
                        raise RegionDataError(
                            f"code {u.code} used by both {codes[u.code]} and {u.name}"
                        )
                    codes[u.code] = u.name

    def _alias_keys(self, unit: Unit) -> set[str]:
        city = self.cities[unit.city]
        keys = {unit.short, city.name + unit.short, city.short + unit.short}
        keys.update(self._aliases.get(unit.name, ()))
        keys.discard(unit.name)
        return keys

    # -- lookups ------------------------------------------------------------------------------

    def city(self, name: str) -> City:
        """The city named "佛山市", "佛山" or "440600"."""
        key = _strip_province(normalize_name(name))
        found = self._city_keys.get(key)
        if found is not None:
            return found
        hint = None
        unit = self._unique_unit(key)
        if unit is not None:
            hint = (
                f"{unit.name}是{unit.city}的下级单位，不是地级市"
                f"（{unit.name} is a unit of {unit.city}, not a prefecture-level city）"
            )
        suggestions = [unit.city] if unit is not None else self._close(key, self._city_keys)
        raise UnknownRegion(key, "city", suggestions, hint=hint)

    def unit(self, name: str, *, city: str | None = None) -> Unit:
        """The unit a name denotes, optionally only among the units of ``city``.

        Giving ``city`` settles short names shared by several cities ("高新区" in 佛山市).
        """
        key = _strip_province(normalize_name(name))
        scope = self.city(city) if city is not None else None
        candidates = self._candidates(key)
        if scope is not None:
            inside = [u for u in candidates if u.city == scope.name]
            if not inside and candidates:
                elsewhere = "、".join(sorted({u.city for u in candidates}))
                raise UnknownRegion(
                    key,
                    "unit",
                    [u.name for u in candidates],
                    city=scope.name,
                    hint=f"该单位属于{elsewhere}（it belongs to {elsewhere}）",
                )
            candidates = inside
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise AmbiguousRegion(
                key, [u.name for u in candidates], city=scope.name if scope else None
            )
        raise self._unknown_unit(key, scope)

    def units_of(self, city: str) -> tuple[Unit, ...]:
        """The units of a city, in code order (zones last)."""
        return self.city(city).units

    def city_of(self, unit: str) -> City:
        """The city a unit belongs to: whose city office reviews its cases."""
        return self.cities[self.unit(unit).city]

    def __contains__(self, name: object) -> bool:
        """True when ``name`` denotes exactly one city or unit."""
        if not isinstance(name, str):
            return False
        for lookup in (self.city, self.unit):
            try:
                lookup(name)
            except UnknownRegion:
                continue
            return True
        return False

    def __iter__(self) -> Iterator[City]:
        return iter(self.cities.values())

    def __len__(self) -> int:
        return len(self.cities)

    # -- internals ----------------------------------------------------------------------------

    def _candidates(self, key: str) -> list[Unit]:
        exact = self._by_name.get(key) or self._by_code.get(key)
        if exact is not None:
            return [exact]
        return list(self._by_alias.get(key, ()))

    def _unique_unit(self, key: str) -> Unit | None:
        candidates = self._candidates(key)
        return candidates[0] if len(candidates) == 1 else None

    def _unknown_unit(self, key: str, scope: City | None) -> UnknownRegion:
        where = scope.name if scope else None
        if key in self._city_keys:
            found = self._city_keys[key]
            hint = (
                f"{found.name}是地级市，请写其下级单位"
                f"（{found.name} is a prefecture-level city; name one of its units）"
            )
            return UnknownRegion(key, "unit", city=where, hint=hint)
        old = self._former_keys.get(key)
        if old is not None:
            was = f"原{old.name}（{old.code}）" if old.code else f"原{old.name}"
            hint = (
                f"{was}已撤销：{old.note}（abolished in {old.until}; "
                f"now {', '.join(old.successors)}）"
            )
            return UnknownRegion(key, "unit", list(old.successors), city=where, hint=hint)
        if scope is not None:
            keys: Iterable[str] = (
                k for k in self._unit_keys if any(u.city == scope.name for u in self._candidates(k))
            )
        else:
            keys = self._unit_keys
        suggestions: list[str] = []
        for match in _close_matches(key, list(keys), _SUGGESTIONS, _SUGGESTION_CUTOFF):
            for unit in self._candidates(match):
                if unit.name not in suggestions and (scope is None or unit.city == scope.name):
                    suggestions.append(unit.name)
        return UnknownRegion(key, "unit", suggestions[:_SUGGESTIONS], city=where)

    @staticmethod
    def _close(key: str, keys: Mapping[str, City]) -> list[str]:
        names: list[str] = []
        for match in _close_matches(key, list(keys), _SUGGESTIONS, _SUGGESTION_CUTOFF):
            if keys[match].name not in names:
                names.append(keys[match].name)
        return names


def _strip_province(key: str) -> str:
    rest = key.removeprefix(PROVINCE)
    return rest or key


def _validate_unit(city: City, unit: Unit) -> None:
    where = f"{city.name} {unit.name}"
    if unit.city != city.name:
        raise RegionDataError(f"{where}: listed under {city.name} but says {unit.city}")
    if unit.kind not in UNIT_KINDS:
        raise RegionDataError(f"{where}: unknown kind {unit.kind!r}")
    if unit.kind in COUNTY_LEVEL_KINDS and not city.has_counties:
        raise RegionDataError(f"{where}: {city.name} has no county level")
    if unit.kind in ("town", "street") and city.has_counties:
        raise RegionDataError(
            f"{where}: towns and streets are listed only for cities without counties"
        )
    suffix = _NAME_SUFFIX.get(unit.kind)
    if suffix and not unit.short.endswith(suffix):
        raise RegionDataError(f"{where}: a {unit.kind} name ends in {suffix}")
    if unit.kind == "county" and unit.short.endswith("自治县"):
        raise RegionDataError(f"{where}: an 自治县 is kind autonomous_county")
    if unit.kind != "zone" and unit.name != city.name + unit.short:
        raise RegionDataError(f"{where}: canonical name must be the city plus {unit.short}")
    code = unit.code
    if code is None:
        if unit.kind in COUNTY_LEVEL_KINDS:
            raise RegionDataError(f"{where}: every county-level unit has a GB/T 2260 code")
        return
    if unit.kind in COUNTY_LEVEL_KINDS:
        if not (len(code) == 6 and code.isdigit() and code[:4] == city.code[:4]):
            raise RegionDataError(f"{where}: {code} is not a GB/T 2260 code under {city.code}")
        if int(code[4:]) not in _COUNTY_CODE_RANGE[unit.kind]:
            raise RegionDataError(f"{where}: {code} is not in the GB/T 2260 range for {unit.kind}")
    else:
        if not (len(code) == 9 and code.isdigit() and code[:6] == city.code):
            raise RegionDataError(f"{where}: {code} is not a 统计用区划代码 under {city.code}")
        if code[6] != _TOWNSHIP_CODE_DIGIT[unit.kind]:
            raise RegionDataError(
                f"{where}: {code} is not in the 统计用区划代码 range for {unit.kind}"
            )


def _former_from_json(raw: Mapping[str, Any]) -> FormerUnit:
    code = raw.get("code")
    return FormerUnit(
        name=str(raw["name"]),
        short=str(raw["short"]),
        code=None if code is None else str(code),
        city=str(raw["city"]),
        until=int(raw["until"]),
        successors=tuple(str(name) for name in raw["successors"]),
        note=str(raw["note"]),
    )


def _city_from_json(raw: Mapping[str, Any], aliases: dict[str, list[str]]) -> City:
    name = str(raw["name"])
    units: list[Unit] = []
    for item in raw["units"]:
        short = str(item["short"])
        code = item.get("code")
        unit = Unit(
            name=str(item.get("name") or name + short),
            short=short,
            code=None if code is None else str(code),
            city=name,
            kind=str(item["kind"]),
        )
        units.append(unit)
        if item.get("aliases"):
            aliases[unit.name] = [str(a) for a in item["aliases"]]
    return City(
        name=name, code=str(raw["code"]), has_counties=bool(raw["has_counties"]), units=tuple(units)
    )


@cache
def load_regions() -> RegionTable:
    """The region table shipped with the package, read once per process."""
    text = resources.files("gdcluster.states").joinpath("regions.json").read_text(encoding="utf-8")
    return RegionTable.from_json(json.loads(text))


def _close_matches(key: str, keys: list[str], count: int, cutoff: float) -> list[str]:
    """``difflib.get_close_matches``, imported when a name is not found (never on the way of
    a name that is)."""
    import difflib

    return difflib.get_close_matches(key, keys, count, cutoff)
