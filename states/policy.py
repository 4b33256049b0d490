"""Policies as data: the thresholds, periods, rubric, quotas and revocation grounds of one text.

A policy file (``states/policies/<name>.toml``) is the rule book a round is judged by. It is
validated completely when loaded, so a typo in an operator or a weight is found at start-up and
not when a case happens to reach that rule. Numbers are ``Decimal`` read from strings: a
threshold such as 0.70 must mean exactly seven tenths. ``Policy.digest`` (SHA-256 of the file's
bytes) lets a case record exactly which text judged it.

Wording: every item and revocation ground carries ``text``, the measures' own words, which
notices and reports may put in quotation marks, and optionally ``summary``, our paraphrase or
note, which is never quoted. Files written before ``format = 2`` had only a paraphrase (``rule``,
``reason``): it is read as the ``summary`` and their ``text`` is ``None``.

Versions: a case records the name, version and digest of the file it was submitted under and is
judged by that file to the end. A file that changes keeps its earlier bytes, unchanged, as
``policies/archive/<name>@<version>.toml``; ``load_policy(name, digest=...)`` finds them.

This module uses the standard library only and imports nothing from ``gdcluster.engine``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, NoReturn, cast

from gdcluster.states.parsed_cache import parsed

__all__ = [
    "AUTO_CONDITION_IDS",
    "DEFAULT_POLICY",
    "ESTABLISHED_KINDS",
    "GRADED_KINDS",
    "INCIDENT_GRADES",
    "INCIDENT_KINDS",
    "INCIDENT_LABELS",
    "MAJOR_KINDS",
    "REVOCATION_CODES",
    "REVOCATION_DECIDERS",
    "THRESHOLD_IDS",
    "Condition",
    "IncidentRule",
    "IncidentVerdict",
    "InvalidPolicy",
    "Periods",
    "Policy",
    "Quota",
    "Revocation",
    "Rubric",
    "RubricIndicator",
    "Threshold",
    "UnknownPolicyVersion",
    "archived_versions",
    "load_policy",
    "load_policy_file",
    "parse_policy",
    "policy_names",
    "shipped_versions",
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

#: Incidents judged by their grade (第十三条第（一）项: 较大及以上事故, 重大及以上事件).
GRADED_KINDS: Final = ("safety", "quality", "environment", "cyber", "data")
#: Incidents that count whenever established: 偷税漏税; 严重失信 (on a 严重失信主体名单).
ESTABLISHED_KINDS: Final = ("tax", "dishonesty")
#: Incidents that count only when marked major: other 违法违规 (a minor administrative fine does
#: not disqualify; 较大数额罚款, 责令停产停业, 吊销许可 do) and 其它重大问题.
MAJOR_KINDS: Final = ("illegal", "other")
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
    "other",
)
#: How each kind is named in check reports and notices.
INCIDENT_LABELS: Final[Mapping[str, str]] = MappingProxyType({
    "safety": "安全事故",
    "quality": "质量事故",
    "environment": "环境污染事故",
    "cyber": "网络安全事件",
    "data": "数据安全事件",
    "tax": "偷税漏税",
    "illegal": "违法违规行为",
    "dishonesty": "严重失信行为",
    "other": "其它重大问题",
})
#: Incident grades, mildest first (the national grading of accidents and incidents).
INCIDENT_GRADES: Final = ("一般", "较大", "重大", "特别重大")
#: Bars other than a grade: ``any`` counts whenever established, ``major`` only when marked major.
ANY_GRADE: Final = "any"
MAJOR_ONLY: Final = "major"
_BARS_BY_CLASS: Final = (
    (GRADED_KINDS, (*INCIDENT_GRADES, ANY_GRADE)),
    (ESTABLISHED_KINDS, (ANY_GRADE,)),
    (MAJOR_KINDS, (MAJOR_ONLY, ANY_GRADE)),
)
#: The file format this module writes about; files without ``format`` are format 1.
FORMAT: Final = 2

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
    "correction_workdays",
    "correction_reminder_days",
    "review_apply_workdays",
    "review_check_workdays",
    "hearing_workdays",
    "report_grace_workdays",
)
#: Who decides a proposed revocation once the hearing period has ended unanswered
#: (``[revocation] decided_by``): the province always may; "system" lets the timer revoke.
REVOCATION_DECIDERS: Final = ("province", "system")

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_ARCHIVED = re.compile(r"([a-z0-9][a-z0-9-]*)@([1-9][0-9]*)\.toml")
_DIGEST = re.compile(r"[0-9a-f]{64}")
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


class UnknownPolicyVersion(InvalidPolicy):
    """No shipped version of the policy has the digest a case recorded."""

    def __init__(self, file: str, digest: str, known: str) -> None:
        super().__init__(file, "digest", f"no shipped version has digest {digest!r}; {known}")
        self.digest = digest


class _Worded:
    """The measures' words (``text``, quotable) and our paraphrase (``summary``, never quoted)."""

    text: str | None
    summary: str | None

    @property
    def wording(self) -> str:
        """What to show a reader: the measures' words, else our summary (not a quotation)."""
        return self.text or self.summary or ""


@dataclass(frozen=True)
class Threshold(_Worded):
    """One measurable criterion: ``found <operator> value`` (e.g. SME share gt 0.70)."""

    id: str
    article: str
    item: str
    text: str | None
    summary: str | None
    operator: Operator
    value: Decimal
    unit: str


@dataclass(frozen=True)
class Condition(_Worded):
    """A criterion without a number: judged by fixed code (``auto``) or by the experts."""

    id: str
    article: str
    item: str
    text: str | None
    summary: str | None
    judge: Judge


@dataclass(frozen=True)
class IncidentVerdict:
    """Whether one declared incident counts under 第十三条第（一）项, and on what basis.

    ``basis``: ``any`` (counts whenever established), ``grade_reached`` / ``grade_below`` (its
    grade against ``bar``), ``grade_missing``, ``major`` / ``not_major`` (marked or not),
    ``major_unknown`` (not said: data stored before ``major`` existed), ``unknown_kind`` (a kind
    this policy version does not name). Incomplete facts count against the cluster.
    """

    counts: bool
    basis: str
    bar: str


@dataclass(frozen=True)
class IncidentRule:
    """Which declared incidents disqualify a cluster, and how far back to look."""

    lookback_years: int
    disqualifying: Mapping[str, str] = field(hash=False)

    def assess(self, kind: str, grade: str | None = None,
               major: bool | None = None) -> IncidentVerdict:
        """Whether an incident of this kind, grade and ``major`` mark counts."""
        bar = self.disqualifying.get(kind)
        if bar is None:
            return IncidentVerdict(True, "unknown_kind", ANY_GRADE)
        if bar == ANY_GRADE:
            return IncidentVerdict(True, "any", bar)
        if bar == MAJOR_ONLY:
            if major is None:
                return IncidentVerdict(True, "major_unknown", bar)
            return IncidentVerdict(major, "major" if major else "not_major", bar)
        if grade not in INCIDENT_GRADES:
            return IncidentVerdict(True, "grade_missing", bar)
        reached = INCIDENT_GRADES.index(grade) >= INCIDENT_GRADES.index(bar)
        return IncidentVerdict(reached, "grade_reached" if reached else "grade_below", bar)

    def disqualifies(self, kind: str, grade: str | None = None,
                     major: bool | None = None) -> bool:
        """True when such an incident bars recognition (``assess(...).counts``)."""
        return self.assess(kind, grade, major).counts


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
    #: 退回补正: the correction deadline's working days (counted from the day after the
    #: return) when the city gives none, and the working days before it that the reminder
    #: comes (0: none). Optional in a file; files that do not state them take these.
    correction_workdays: int = 5
    correction_reminder_days: int = 2
    #: 复核 rounds (system settings; the measures set no period): the working days a 复核
    #: round gives the counties to apply, counted from the day after it opens, and the
    #: working days after that for the cities' 初审 opinions, when the round gives no dates.
    review_apply_workdays: int = 20
    review_check_workdays: int = 10
    #: 陈述申辩: the working days (counted from the day after the 拟撤销告知) the cluster has to
    #: state its case before the province decides a revocation.
    hearing_workdays: int = 5
    #: 催报: the working days of grace after a missed annual report before the system proposes
    #: revocation under 18.3.
    report_grace_workdays: int = 10

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
class Revocation(_Worded):
    """A 第十八条 ground: its article, the article's words (``text``) and our ``summary``."""

    code: str
    article: str
    text: str | None
    summary: str | None


@dataclass(frozen=True)
class Policy:
    """One policy file, validated.

    ``title`` names the measures (《…暂行办法》, used with an article: 依据《…》第十八条…);
    ``citation`` cites them as issued (《…关于印发…的通知》（粤工信服务函〔2023〕4号）).
    ``effective_from``/``effective_until`` are the measures' own validity (第二十条); files of
    format 1 do not state it (``None``), and are then never in force.
    """

    name: str
    version: int
    format: int
    title: str
    doc_no: str
    citation: str
    effective_from: date | None
    effective_until: date | None
    growth_method: GrowthMethod
    window_years: int
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
    #: Who may decide a proposed revocation after an unanswered hearing period
    #: (``REVOCATION_DECIDERS``); "province" unless the file says otherwise.
    revocation_decided_by: str = "province"

    @property
    def min_growth_years(self) -> int:
        """The "近三年" window (``window_years``), under its earlier name."""
        return self.window_years

    def in_force(self, day: date) -> bool:
        """True when ``day`` lies within the measures' validity, both ends included."""
        if self.effective_from is None or self.effective_until is None:
            return False
        return self.effective_from <= day <= self.effective_until

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
        """The ground as a reader should see it: the article's words, else our summary."""
        return self.revocation(code).wording


# --------------------------------------------------------------------------------------------
# Loading


def policy_names() -> list[str]:
    """Names of the policies shipped in ``gdcluster/states/policies``."""
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in _policy_folder().iterdir()
        if entry.name.endswith(".toml")
    )


def load_policy(name: str, digest: str | None = None) -> Policy:
    """The shipped policy ``name``, validated; with ``digest``, the shipped version of it whose
    bytes have that SHA-256 (the current file or one in ``policies/archive``).

    ``UnknownPolicyVersion`` when no shipped version has the digest. Cached: shipped files
    never change in place.
    """
    current = _current_policy(name)
    if digest is None or digest == current.digest:
        return current
    for policy in _archived_policies(name):
        if policy.digest == digest:
            return policy
    known = ", ".join(f"version {policy.version} {policy.digest[:12]}…"
                      for policy in shipped_versions(name))
    raise UnknownPolicyVersion(f"policies/{name}.toml", digest, f"shipped: {known}")


def shipped_versions(name: str) -> list[Policy]:
    """Every shipped version of ``name``, oldest first, the current file last."""
    return [*_archived_policies(name), _current_policy(name)]


@cache
def _current_policy(name: str) -> Policy:
    file = f"policies/{name}.toml"
    if not _NAME.fullmatch(name) or name not in policy_names():
        raise InvalidPolicy(file, "name", f"no such policy; known: {', '.join(policy_names())}")
    source = _policy_folder().joinpath(f"{name}.toml")
    policy = parse_policy(source.read_bytes(), file, source)
    if policy.name != name:
        raise InvalidPolicy(file, "name", f"{policy.name!r} differs from the file name {name!r}")
    return policy


@cache
def _archived_policies(name: str) -> tuple[Policy, ...]:
    return archived_versions(_policy_folder().joinpath("archive"), _current_policy(name))


def archived_versions(archive: Any, current: Policy) -> tuple[Policy, ...]:
    """The versions of ``current.name`` kept in the folder ``archive`` (a ``Path`` or package
    resource), oldest first. Each file, ``<name>@<version>.toml``, must hold that name and
    version, older than ``current``: a mislabelled file would judge a case by the wrong text."""
    found: list[Policy] = []
    if not archive.is_dir():
        return ()
    for entry in archive.iterdir():
        match = _ARCHIVED.fullmatch(entry.name)
        if match is None or match[1] != current.name:
            continue
        file = f"policies/archive/{entry.name}"
        policy = parse_policy(entry.read_bytes(), file, entry)
        if (policy.name, policy.version) != (current.name, int(match[2])):
            raise InvalidPolicy(file, "version", f"holds {policy.name} version {policy.version}")
        if policy.version >= current.version:
            raise InvalidPolicy(file, "version",
                                f"not older than the current version {current.version}")
        found.append(policy)
    found.sort(key=lambda policy: policy.version)
    return tuple(found)


def load_policy_file(path: str | Path) -> Policy:
    """A policy from any file (drafts, tests); not cached."""
    path = Path(path)
    return parse_policy(path.read_bytes(), str(path))


def _toml(content: bytes, file: str) -> dict[str, Any]:
    """The TOML document in ``content`` (``tomllib`` imported only when a file is parsed)."""
    import tomllib

    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidPolicy(file, "(file)", f"not UTF-8: {error}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidPolicy(file, "(file)", f"not valid TOML: {error}") from None


def parse_policy(content: bytes, file: str, source: Any = None) -> Policy:
    """Validate the bytes of a policy file and build the ``Policy``. ``source``: the shipped
    file ``content`` was read from, whose parsed TOML is cached (``parsed_cache``)."""
    if source is None:
        data = _toml(content, file)
    else:
        data = parsed(source, lambda content: _toml(content, file), content=content)
    top = _Table(data, "", file)
    file_format = top.integer("format", minimum=2) if "format" in data else 1
    if file_format > FORMAT:
        top.fail("format", f"this gdcluster reads formats 1 to {FORMAT}, not {file_format}")
    top.legacy = file_format == 1
    name = top.text("name")
    if not _NAME.fullmatch(name):
        raise InvalidPolicy(file, "name", "use lower-case letters, digits and hyphens")
    thresholds = _thresholds(top)
    conditions = _conditions(top)
    incidents = _incidents(top.table("incidents"), legacy=top.legacy)
    periods = _periods(top.table("periods"))
    rubric = _rubric(top.table("rubric"))
    default_quota, city_quotas, quota_source = _quotas(top.table("quotas"))
    revocations, decided_by = _revocations(top.table("revocation"))
    growth_method = top.choice("growth_method", GROWTH_METHODS)
    title = top.text("title")
    doc_no = top.text("doc_no")
    if top.legacy:
        citation = f"{title}（{doc_no}）"
        effective_from = effective_until = None
        window_years = top.integer("min_growth_years", minimum=2)
    else:
        citation = top.text("citation")
        if not (citation.startswith("《") and citation.endswith(f"》（{doc_no}）")):
            top.fail("citation", f"cite the measures as 《…》（{doc_no}）, not {citation!r}")
        effective_from = top.date("effective_from")
        effective_until = top.date("effective_until")
        if effective_until < effective_from:
            top.fail("effective_until", f"{effective_until} is before {effective_from}")
        window_years = top.integer("window_years", minimum=2)
    policy = Policy(
        name=name,
        version=top.integer("version", minimum=1),
        format=file_format,
        title=title,
        doc_no=doc_no,
        citation=citation,
        effective_from=effective_from,
        effective_until=effective_until,
        growth_method=cast(GrowthMethod, growth_method),
        window_years=window_years,
        thresholds=thresholds,
        conditions=conditions,
        incidents=incidents,
        periods=periods,
        rubric=rubric,
        default_quota=default_quota,
        city_quotas=city_quotas,
        quota_source=quota_source,
        revocations=revocations,
        revocation_decided_by=decided_by,
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
        text, summary = row.wording("rule")
        thresholds.append(
            Threshold(
                id=threshold_id,
                article=row.text("article"),
                item=row.text("item"),
                text=text,
                summary=summary,
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
        text, summary = row.wording("rule")
        conditions.append(
            Condition(
                id=condition_id,
                article=row.text("article"),
                item=row.text("item"),
                text=text,
                summary=summary,
                judge=judge,
            )
        )
        row.finish()
    missing = AUTO_CONDITION_IDS - {condition.id for condition in conditions}
    if missing:
        top.fail("conditions", f"missing {_listed(missing)}")
    return tuple(conditions)


def _incidents(table: _Table, *, legacy: bool) -> IncidentRule:
    lookback_years = table.integer("lookback_years", minimum=1)
    bars = table.table("disqualifying")
    disqualifying: dict[str, str] = {}
    for kinds, allowed in _BARS_BY_CLASS:
        for kind in kinds:
            if legacy and kind == "other" and not bars.has(kind):
                continue  # format 1 had no 其它重大问题: such an incident counts (unknown kind)
            disqualifying[kind] = bars.choice(kind, allowed)
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
        # 民法典 第203条: a deadline on a rest day moves to the next working day, unless a
        # file says otherwise
        report_roll_to_workday=table.boolean("report_roll_to_workday")
        if table.has("report_roll_to_workday") else True,
        missed_report_action=cast(
            MissedReportAction, table.choice("missed_report_action", MISSED_REPORT_ACTIONS)
        ),
        review_window_months=review_window_months,
        expiry_reminder_days=table.integer("expiry_reminder_days", minimum=0),
        sources=MappingProxyType(sources),
        correction_workdays=table.optional_integer("correction_workdays", 5, minimum=1),
        correction_reminder_days=table.optional_integer("correction_reminder_days", 2,
                                                        minimum=0),
        review_apply_workdays=table.optional_integer("review_apply_workdays", 20, minimum=1),
        review_check_workdays=table.optional_integer("review_check_workdays", 10, minimum=1),
        hearing_workdays=table.optional_integer("hearing_workdays", 5, minimum=1),
        report_grace_workdays=table.optional_integer("report_grace_workdays", 10, minimum=1),
    )
    if periods.correction_reminder_days >= periods.correction_workdays:
        table.fail("correction_reminder_days", "the reminder must come after the return: "
                                               "fewer working days than correction_workdays")
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


def _revocations(table: _Table) -> tuple[Mapping[str, Revocation], str]:
    revocations: dict[str, Revocation] = {}
    decided_by = "province"
    for code in table.names():
        if code == "decided_by":
            decided_by = table.choice(code, REVOCATION_DECIDERS)
            continue
        if code not in REVOCATION_CODES:
            table.fail(code, f"unknown revocation code; known: {', '.join(REVOCATION_CODES)}")
        row = table.table(code)
        text, summary = row.wording("reason")
        revocations[code] = Revocation(code, row.text("article"), text, summary)
        row.finish()
    missing = set(REVOCATION_CODES) - set(revocations)
    if missing:
        table.fail("", f"missing {_listed(missing)}")
    table.finish()
    return MappingProxyType({code: revocations[code] for code in REVOCATION_CODES}), decided_by


def _listed(names: Any) -> str:
    return ", ".join(sorted(names))


class _Table:
    """Typed reading of one TOML table, remembering which keys were read (others are unknown)."""

    def __init__(self, data: Mapping[str, Any], path: str, file: str,
                 legacy: bool = False) -> None:
        self._data = data
        self._path = path
        self._file = file
        self._read: set[str] = set()
        self.legacy = legacy

    def names(self) -> Iterator[str]:
        return iter(list(self._data))

    def has(self, key: str) -> bool:
        return key in self._data

    def wording(self, legacy_key: str) -> tuple[str | None, str | None]:
        """(``text``, ``summary``): format 1 kept only a paraphrase under ``legacy_key``."""
        if self.legacy:
            return None, self.text(legacy_key)
        text = self.text("text", required=False) or None
        summary = self.text("summary", required=False) or None
        if text is None and summary is None:
            self.fail("text", "give the measures' words as `text` (or, where only a paraphrase "
                              "is known, that paraphrase as `summary`)")
        return text, summary

    def date(self, key: str) -> date:
        value = self._get(key, True)
        if isinstance(value, datetime) or not isinstance(value, date):
            self.fail(key, f"must be a TOML date like 2023-01-01, not {value!r}")
        return value

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

    def optional_integer(self, key: str, default: int, *, minimum: int) -> int:
        return self.integer(key, minimum=minimum) if key in self._data else default

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
        return _Table(value, self._child(key), self._file, self.legacy)

    def optional_table(self, key: str) -> _Table | None:
        return self.table(key) if key in self._data else None

    def tables(self, key: str) -> list[_Table]:
        value = self._get(key, True)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.fail(key, f"must be an array of tables ([[{key}]])")
        return [
            _Table(item, f"{self._child(key)}[{index}]", self._file, self.legacy)
            for index, item in enumerate(value)
        ]

    def _child(self, key: str) -> str:
        return ".".join(part for part in (self._path, _key(key)) if part)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]*", key) else f'"{key}"'
