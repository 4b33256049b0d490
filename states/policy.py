"""Policies as data: the thresholds, periods, rubric, quotas and revocation grounds of one text.

A policy file (``states/policies/<name>.toml``) is the rule book a round is judged by. It is
validated completely when loaded, so a typo in an operator or a weight is found at start-up and
not when a case happens to reach that rule. Numbers are ``Decimal`` read from strings: a
threshold such as 0.70 must mean exactly seven tenths. ``Policy.digest`` (SHA-256 of the file's
bytes) lets a case record exactly which text judged it.

This module uses the standard library only and imports nothing from ``gdcluster.engine``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, NoReturn, cast

__all__ = [
    "AUTO_CONDITION_IDS",
    "DEFAULT_POLICY",
    "INCIDENT_GRADES",
    "INCIDENT_KINDS",
    "REVOCATION_CODES",
    "THRESHOLD_IDS",
    "Condition",
    "IncidentRule",
    "InvalidPolicy",
    "Periods",
    "Policy",
    "Quota",
    "Revocation",
    "Rubric",
    "RubricIndicator",
    "Threshold",
    "load_policy",
    "load_policy_file",
    "policy_names",
]

DEFAULT_POLICY: Final = "guangdong-2023"

Operator = Literal["gt", "ge", "lt", "le"]
GrowthMethod = Literal["compound", "mean"]
Judge = Literal["auto", "expert"]
MissedReportAction = Literal["revoke", "flag"]

OPERATORS: Final = ("gt", "ge", "lt", "le")
GROWTH_METHODS: Final = ("compound", "mean")
JUDGES: Final = ("auto", "expert")
MISSED_REPORT_ACTIONS: Final = ("revoke", "flag")

#: The measurable criteria the evaluator (``engine/criteria.py``) implements. A policy must give
#: each of them exactly once, and no others: a number with no code to apply it would be silent.
THRESHOLD_IDS: Final = frozenset(
    {
        "area",
        "output",
        "sme_share",
        "leading_share",
        "output_growth",
        "champions",
        "quality_smes",
        "rd_growth",
        "patent_growth",
        "patents_per_10k",
        "internet_rate",
    }
)
#: Conditions without a number that the evaluator judges from the application. Any other
#: condition in a policy is qualitative and goes to the experts.
AUTO_CONDITION_IDS: Final = frozenset({"incidents", "co2_intensity", "energy_water", "governance"})

#: Kinds of incident an application declares (第十三条第（一）项, 第十八条第（五）项).
INCIDENT_KINDS: Final = (
    "safety",
    "quality",
    "environment",
    "cyber",
    "data",
    "tax",
    "illegal",
    "dishonesty",
)
#: Incident grades, mildest first (the national grading of accidents and incidents).
INCIDENT_GRADES: Final = ("一般", "较大", "重大", "特别重大")
ANY_GRADE: Final = "any"

#: 第十八条 grounds; the engine refers to them by these codes.
REVOCATION_CODES: Final = ("18.1", "18.2", "18.3", "18.4", "18.5")

PERIOD_KEYS: Final = (
    "publicity_workdays",
    "validity_years",
    "report_due",
    "report_reminder_days",
    "report_roll_to_workday",
    "missed_report_action",
    "review_window_months",
    "expiry_reminder_days",
)

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_MONTH_DAY = re.compile(r"([0-9]{2})-([0-9]{2})")
_SHARE_UNIT = "比例"


class InvalidPolicy(ValueError):
    """A policy file that cannot be used; ``file`` and ``field`` say where."""

    def __init__(self, file: str, field: str, problem: str) -> None:
        super().__init__(f"{file}: {field}: {problem}")
        self.file = file
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Threshold:
    """One measurable criterion: ``found <operator> value`` (e.g. SME share gt 0.70)."""

    id: str
    article: str
    item: str
    rule: str
    operator: Operator
    value: Decimal
    unit: str


@dataclass(frozen=True)
class Condition:
    """A criterion without a number: judged by fixed code (``auto``) or by the experts."""

    id: str
    article: str
    item: str
    rule: str
    judge: Judge


@dataclass(frozen=True)
class IncidentRule:
    """Which declared incidents disqualify a cluster, and how far back to look."""

    lookback_years: int
    disqualifying: Mapping[str, str] = field(hash=False)

    def disqualifies(self, kind: str, grade: str | None) -> bool:
        """True when an incident of this kind and grade bars recognition.

        An unknown kind, or a graded kind without a grade, counts against the cluster: the
        careful reading when the facts are incomplete.
        """
        bar = self.disqualifying.get(kind, ANY_GRADE)
        if bar == ANY_GRADE:
            return True
        if grade not in INCIDENT_GRADES:
            return True
        return INCIDENT_GRADES.index(grade) >= INCIDENT_GRADES.index(bar)


@dataclass(frozen=True)
class Periods:
    """Time rules (DESIGN §3). ``sources`` notes where each number comes from, where known."""

    publicity_workdays: int
    validity_years: int
    report_due: str
    report_reminder_days: tuple[int, ...]
    report_roll_to_workday: bool
    missed_report_action: MissedReportAction
    review_window_months: int
    expiry_reminder_days: int
    sources: Mapping[str, str] = field(hash=False)

    @property
    def report_due_month_day(self) -> tuple[int, int]:
        """The annual report's due date within year Y+1, as (month, day)."""
        month, day = self.report_due.split("-")
        return int(month), int(day)


@dataclass(frozen=True)
class RubricIndicator:
    id: str
    name: str
    weight: int


@dataclass(frozen=True)
class Rubric:
    """Expert scoring: each expert gives 0..weight points per indicator (weights sum to 100)."""

    min_experts: int
    trim_from: int
    indicators: tuple[RubricIndicator, ...]

    def indicator(self, indicator_id: str) -> RubricIndicator:
        for indicator in self.indicators:
            if indicator.id == indicator_id:
                return indicator
        raise KeyError(f"no rubric indicator {indicator_id!r}")


@dataclass(frozen=True)
class Quota:
    """How many cases one city may recommend in a round."""

    min: int
    max: int


@dataclass(frozen=True)
class Revocation:
    code: str
    article: str
    reason: str


@dataclass(frozen=True)
class Policy:
    name: str
    version: int
    title: str
    doc_no: str
    growth_method: GrowthMethod
    min_growth_years: int
    thresholds: tuple[Threshold, ...]
    conditions: tuple[Condition, ...]
    incidents: IncidentRule
    periods: Periods
    rubric: Rubric
    default_quota: Quota
    city_quotas: Mapping[str, Quota] = field(hash=False)
    quota_source: str
    revocations: Mapping[str, Revocation] = field(hash=False)
    digest: str
    file: str

    @property
    def citation(self) -> str:
        """The measures as cited in running text: 《…》（粤工信服务函〔2023〕4号）."""
        return f"{self.title}（{self.doc_no}）"

    def threshold(self, threshold_id: str) -> Threshold:
        for threshold in self.thresholds:
            if threshold.id == threshold_id:
                return threshold
        raise KeyError(f"policy {self.name} has no threshold {threshold_id!r}")

    def condition(self, condition_id: str) -> Condition:
        for condition in self.conditions:
            if condition.id == condition_id:
                return condition
        raise KeyError(f"policy {self.name} has no condition {condition_id!r}")

    def quota_for(self, city: str) -> Quota:
        return self.city_quotas.get(city, self.default_quota)

    def revocation(self, code: str) -> Revocation:
        try:
            return self.revocations[code]
        except KeyError:
            known = ", ".join(self.revocations)
            raise KeyError(f"unknown revocation code {code!r} (known: {known})") from None

    def revocation_reason(self, code: str) -> str:
        return self.revocation(code).reason


# --------------------------------------------------------------------------------------------
# Loading


def policy_names() -> list[str]:
    """Names of the policies shipped in ``gdcluster/states/policies``."""
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in _policy_folder().iterdir()
        if entry.name.endswith(".toml")
    )


@cache
def load_policy(name: str) -> Policy:
    """The shipped policy ``name``, validated (cached: policies are immutable files)."""
    file = f"policies/{name}.toml"
    if not _NAME.fullmatch(name) or name not in policy_names():
        raise InvalidPolicy(file, "name", f"no such policy; known: {', '.join(policy_names())}")
    policy = parse_policy(_policy_folder().joinpath(f"{name}.toml").read_bytes(), file)
    if policy.name != name:
        raise InvalidPolicy(file, "name", f"{policy.name!r} differs from the file name {name!r}")
    return policy


def load_policy_file(path: str | Path) -> Policy:
    """A policy from any file (drafts, tests); not cached."""
    path = Path(path)
    return parse_policy(path.read_bytes(), str(path))


def parse_policy(content: bytes, file: str) -> Policy:
    """Validate the bytes of a policy file and build the ``Policy``."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidPolicy(file, "(file)", f"not UTF-8: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPolicy(file, "(file)", f"not valid TOML: {error}") from None
    top = _Table(data, "", file)
    name = top.text("name")
    if not _NAME.fullmatch(name):
        raise InvalidPolicy(file, "name", "use lower-case letters, digits and hyphens")
    thresholds = _thresholds(top)
    conditions = _conditions(top)
    incidents = _incidents(top.table("incidents"))
    periods = _periods(top.table("periods"))
    rubric = _rubric(top.table("rubric"))
    default_quota, city_quotas, quota_source = _quotas(top.table("quotas"))
    revocations = _revocations(top.table("revocation"))
    growth_method = top.choice("growth_method", GROWTH_METHODS)
    policy = Policy(
        name=name,
        version=top.integer("version", minimum=1),
        title=top.text("title"),
        doc_no=top.text("doc_no"),
        growth_method=cast(GrowthMethod, growth_method),
        min_growth_years=top.integer("min_growth_years", minimum=2),
        thresholds=thresholds,
        conditions=conditions,
        incidents=incidents,
        periods=periods,
        rubric=rubric,
        default_quota=default_quota,
        city_quotas=city_quotas,
        quota_source=quota_source,
        revocations=revocations,
        digest=hashlib.sha256(content).hexdigest(),
        file=file,
    )
    top.finish()
    return policy


def _policy_folder() -> Any:
    return resources.files("gdcluster.states").joinpath("policies")


def _thresholds(top: _Table) -> tuple[Threshold, ...]:
    thresholds: list[Threshold] = []
    for row in top.tables("thresholds"):
        threshold_id = row.text("id")
        if threshold_id not in THRESHOLD_IDS:
            row.fail("id", f"unknown threshold {threshold_id!r}; known: {_listed(THRESHOLD_IDS)}")
        if any(seen.id == threshold_id for seen in thresholds):
            row.fail("id", f"threshold {threshold_id!r} given twice")
        unit = row.text("unit")
        value = row.decimal("value")
        if unit == _SHARE_UNIT and not 0 <= value <= 1:
            row.fail("value", f"a {_SHARE_UNIT} must lie between 0 and 1, not {value}")
        thresholds.append(
            Threshold(
                id=threshold_id,
                article=row.text("article"),
                item=row.text("item"),
                rule=row.text("rule"),
                operator=cast(Operator, row.choice("operator", OPERATORS)),
                value=value,
                unit=unit,
            )
        )
        row.finish()
    missing = THRESHOLD_IDS - {threshold.id for threshold in thresholds}
    if missing:
        top.fail("thresholds", f"missing {_listed(missing)}")
    return tuple(thresholds)


def _conditions(top: _Table) -> tuple[Condition, ...]:
    conditions: list[Condition] = []
    for row in top.tables("conditions"):
        condition_id = row.text("id")
        if any(seen.id == condition_id for seen in conditions):
            row.fail("id", f"condition {condition_id!r} given twice")
        judge = cast(Judge, row.choice("judge", JUDGES))
        if judge == "auto" and condition_id not in AUTO_CONDITION_IDS:
            row.fail("judge", f"no code judges {condition_id!r}; mark it 'expert'")
        if judge == "expert" and condition_id in AUTO_CONDITION_IDS:
            row.fail("judge", f"{condition_id!r} is judged automatically; mark it 'auto'")
        conditions.append(
            Condition(
                id=condition_id,
                article=row.text("article"),
                item=row.text("item"),
                rule=row.text("rule"),
                judge=judge,
            )
        )
        row.finish()
    missing = AUTO_CONDITION_IDS - {condition.id for condition in conditions}
    if missing:
        top.fail("conditions", f"missing {_listed(missing)}")
    return tuple(conditions)


def _incidents(table: _Table) -> IncidentRule:
    lookback_years = table.integer("lookback_years", minimum=1)
    bars = table.table("disqualifying")
    disqualifying: dict[str, str] = {}
    for kind in INCIDENT_KINDS:
        disqualifying[kind] = bars.choice(kind, (*INCIDENT_GRADES, ANY_GRADE))
    bars.finish()
    table.finish()
    return IncidentRule(lookback_years, MappingProxyType(disqualifying))


def _periods(table: _Table) -> Periods:
    report_due = table.text("report_due")
    match = _MONTH_DAY.fullmatch(report_due)
    try:
        if match is None:
            raise ValueError
        date(2023, int(match[1]), int(match[2]))  # a common year: 29 February is refused
    except ValueError:
        table.fail("report_due", f"{report_due!r} is not a month and day like '03-31'")
    reminders = table.integer_list("report_reminder_days", minimum=1)
    if len(set(reminders)) != len(reminders):
        table.fail("report_reminder_days", "the same offset is given twice")
    validity_years = table.integer("validity_years", minimum=1)
    review_window_months = table.integer("review_window_months", minimum=0)
    if review_window_months > validity_years * 12:
        table.fail("review_window_months", "longer than the validity itself")
    sources_table = table.optional_table("sources")
    sources: dict[str, str] = {}
    if sources_table is not None:
        for key in sources_table.names():
            if key not in PERIOD_KEYS:
                sources_table.fail(key, f"not a period; known: {', '.join(PERIOD_KEYS)}")
            sources[key] = sources_table.text(key)
        sources_table.finish()
    periods = Periods(
        publicity_workdays=table.integer("publicity_workdays", minimum=1),
        validity_years=validity_years,
        report_due=report_due,
        report_reminder_days=tuple(sorted(reminders, reverse=True)),
        report_roll_to_workday=table.boolean("report_roll_to_workday"),
        missed_report_action=cast(
            MissedReportAction, table.choice("missed_report_action", MISSED_REPORT_ACTIONS)
        ),
        review_window_months=review_window_months,
        expiry_reminder_days=table.integer("expiry_reminder_days", minimum=0),
        sources=MappingProxyType(sources),
    )
    table.finish()
    return periods


def _rubric(table: _Table) -> Rubric:
    min_experts = table.integer("min_experts", minimum=1)
    trim_from = table.integer("trim_from", minimum=3)
    indicators: list[RubricIndicator] = []
    for row in table.tables("indicators"):
        indicator_id = row.text("id")
        if any(seen.id == indicator_id for seen in indicators):
            row.fail("id", f"indicator {indicator_id!r} given twice")
        indicators.append(
            RubricIndicator(
                id=indicator_id, name=row.text("name"), weight=row.integer("weight", minimum=1)
            )
        )
        row.finish()
    total = sum(indicator.weight for indicator in indicators)
    if total != 100:
        table.fail("indicators", f"weights sum to {total}, not 100")
    table.finish()
    return Rubric(min_experts, trim_from, tuple(indicators))


def _quotas(table: _Table) -> tuple[Quota, Mapping[str, Quota], str]:
    default = _quota(table)
    source = table.text("source", required=False) or ""
    cities: dict[str, Quota] = {}
    cities_table = table.optional_table("cities")
    if cities_table is not None:
        for city in cities_table.names():
            city_table = cities_table.table(city)
            cities[city] = _quota(city_table)
            city_table.finish()
        cities_table.finish()
    table.finish()
    return default, MappingProxyType(cities), source


def _quota(table: _Table) -> Quota:
    minimum = table.integer("min", minimum=0)
    maximum = table.integer("max", minimum=1)
    if minimum > maximum:
        table.fail("min", f"min {minimum} is above max {maximum}")
    return Quota(minimum, maximum)


def _revocations(table: _Table) -> Mapping[str, Revocation]:
    revocations: dict[str, Revocation] = {}
    for code in table.names():
        if code not in REVOCATION_CODES:
            table.fail(code, f"unknown revocation code; known: {', '.join(REVOCATION_CODES)}")
        row = table.table(code)
        revocations[code] = Revocation(code, row.text("article"), row.text("reason"))
        row.finish()
    missing = set(REVOCATION_CODES) - set(revocations)
    if missing:
        table.fail("", f"missing {_listed(missing)}")
    table.finish()
    return MappingProxyType({code: revocations[code] for code in REVOCATION_CODES})


def _listed(names: Any) -> str:
    return ", ".join(sorted(names))


class _Table:
    """Typed reading of one TOML table, remembering which keys were read (others are unknown)."""

    def __init__(self, data: Mapping[str, Any], path: str, file: str) -> None:
        self._data = data
        self._path = path
        self._file = file
        self._read: set[str] = set()

    def names(self) -> Iterator[str]:
        return iter(list(self._data))

    def fail(self, key: str, problem: str) -> NoReturn:
        where = ".".join(part for part in (self._path, _key(key)) if part) or "(top)"
        raise InvalidPolicy(self._file, where, problem)

    def finish(self) -> None:
        unknown = [key for key in self._data if key not in self._read]
        if unknown:
            self.fail(unknown[0], "unknown key")

    def _get(self, key: str, required: bool) -> Any:
        self._read.add(key)
        if key not in self._data:
            if required:
                self.fail(key, "missing")
            return None
        return self._data[key]

    def text(self, key: str, *, required: bool = True) -> str:
        value = self._get(key, required)
        if value is None:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be non-empty text, not {value!r}")
        return cast(str, value)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in allowed:
            self.fail(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def integer(self, key: str, *, minimum: int) -> int:
        value = self._get(key, True)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, not {value!r}")
        if value < minimum:
            self.fail(key, f"must be at least {minimum}, not {value}")
        return cast(int, value)

    def integer_list(self, key: str, *, minimum: int) -> list[int]:
        value = self._get(key, True)
        if not isinstance(value, list) or any(
            isinstance(item, bool) or not isinstance(item, int) or item < minimum for item in value
        ):
            self.fail(key, f"must be a list of integers of at least {minimum}, not {value!r}")
        return list(value)

    def boolean(self, key: str) -> bool:
        value = self._get(key, True)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {value!r}")
        return cast(bool, value)

    def decimal(self, key: str) -> Decimal:
        value = self._get(key, True)
        if not isinstance(value, str) or not _DECIMAL.fullmatch(value.strip()):
            self.fail(key, f'must be a decimal number written as a string ("0.70"), not {value!r}')
        return Decimal(value.strip())

    def table(self, key: str) -> _Table:
        value = self._get(key, True)
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return _Table(value, self._child(key), self._file)

    def optional_table(self, key: str) -> _Table | None:
        return self.table(key) if key in self._data else None

    def tables(self, key: str) -> list[_Table]:
        value = self._get(key, True)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.fail(key, f"must be an array of tables ([[{key}]])")
        return [
            _Table(item, f"{self._child(key)}[{index}]", self._file)
            for index, item in enumerate(value)
        ]

    def _child(self, key: str) -> str:
        return ".".join(part for part in (self._path, _key(key)) if part)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]*", key) else f'"{key}"'
