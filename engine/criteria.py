"""第十三条 as code: evaluate an application against a policy's criteria and explain every item.

Every decision is exact. Decimals become ``Fraction``s; a growth rate ``g`` over ``k`` intervals
is judged as ``last/first  OP  (1+g)**k`` and never through floats or roots, so 100 → 110 → 121
is exactly 10% and fails 高于10% (``gt``) but passes 不低于10% (``ge``). The rates shown to people
are rounded for reading only.

Boundaries follow 民法典第1259条 (以上/以下/不超过/不低于 include the number; 超过/高于/低于/不足
exclude it); the policy file encodes that as the operator, and this module only applies it.

"近三年" is exactly the ``policy.window_years`` (3) calendar years before the round year:
round 2024 uses 2021, 2022 and 2023 for the output of each year, every growth rate, the CO2
trend and the latest-year items. Other years in the application are listed as not used and
never enter a computation, so an applicant cannot pick a flattering window.

第十三条第（一）项 counts each declared incident by kind, grade and ``major`` as the policy says
(``IncidentRule.assess``), from the window's first year on; the report explains every incident.
第十三条第（九）项 needs a management body and a plan whose period starts in the round year or
the next, with at least one measurable goal (indicator, unit, baseline and target).

An item that cannot be judged because data are missing fails, with a value that starts
"缺少数据"; qualitative items are reported as ``expert`` and never fail the check. Each item
states the rule as the policy words it: ``text`` (the measures' words) where known.
"""

from __future__ import annotations

import json
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from gdcluster.engine.application import (
    YEAR_SERIES,
    measurable,
    period_years,
    read_stored_application,
)
from gdcluster.engine.findings import (
    CheckItem,
    CheckReport,
    GoalFinding,
    IncidentFinding,
    PlanFinding,
    Result,
)
from gdcluster.states.policy import Condition, Policy, Threshold

if TYPE_CHECKING:
    from gdcluster.engine.models import Case

__all__ = [
    "CheckItem",
    "CheckReport",
    "GoalFinding",
    "IncidentFinding",
    "PlanFinding",
    "check_case",
    "evaluate",
    "validated",
]

_COMPARE: Final[Mapping[str, Callable[[Fraction, Fraction], bool]]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_METHOD_NAMES: Final = {"compound": "复合", "mean": "算术平均"}
_SERIES_NAMES: Final = {
    "output": ("产值", "亿元"),
    "sme_rd_expense": ("中小企业研发经费", "亿元"),
    "invention_patents": ("有效发明专利", "件"),
    "co2_intensity": ("单位产值二氧化碳排放", ""),
}
MISSING: Final = "缺少数据"


def evaluate(app: Mapping[str, Any], policy: Policy, round_year: int) -> CheckReport:
    """Judge a validated application (``validate_application``, or ``read_stored_application``
    for stored data) for the round of ``round_year`` (a 复核: the 复核 round's year).

    "近三年" are exactly the ``policy.window_years`` years before ``round_year``; years outside
    them never enter a computation.
    """
    check = _Check(app, policy, round_year)
    items = [
        check.incidents(),
        check.area(),
        check.output(),
        check.share("sme_share", "sme_output_share"),
        check.share("leading_share", "leading_industry_share"),
        check.growth("output_growth", "output"),
        check.quality_enterprises(),
        check.growth("rd_growth", "sme_rd_expense"),
        check.growth("patent_growth", "invention_patents"),
        check.patents_per_10k(),
        check.share("internet_rate", "industrial_internet_rate"),
        check.co2_intensity(),
        check.energy_water(),
        check.governance(),
    ]
    items += [
        _item(condition, "需专家评审", "expert")
        for condition in policy.conditions
        if condition.judge == "expert"
    ]
    items.sort(key=lambda item: _article_rank(item.article))  # stable: code order within one
    unused = {
        series: tuple(year for year in app.get(series, {}) if year not in check.years)
        for series in YEAR_SERIES
    }
    return CheckReport(
        items=tuple(items),
        method=policy.growth_method,
        round_year=round_year,
        window=tuple(check.years),
        unused_years=MappingProxyType({series: years for series, years in unused.items()
                                       if years}),
        incidents=tuple(check.incident_findings),
        incidents_since=check.incidents_since,
        plan=check.plan_finding,
    )


def check_case(case: Case, policy: Policy, application: str) -> CheckReport:
    """The criteria report of the case's application under ``policy`` for its round;
    ``application``: its text as stored (``Act.application``, ``applications.stored_text``)."""
    key = (application, policy.name, policy.digest, case.round_year)
    report = _CHECKED.get(key)
    if report is None:
        report = evaluate(validated(application), policy, case.round_year)
        _remember(_CHECKED, key, report)
    return report


def validated(application: str) -> dict[str, Any]:
    """A stored application (its JSON text as stored) read back (``read_stored_application``:
    shapes written by earlier versions included, never raising), remembered by that text. The
    answer is shared: read it, never change it."""
    answer = _VALIDATED.get(application)
    if answer is None:
        answer = read_stored_application(json.loads(application))
        _remember(_VALIDATED, application, answer)
    return answer


# Validating an application and judging it are pure functions of its content (and of the
# policy and round): `submit`, `review` and `recommend` of one application reuse one answer.
# Keyed by the stored text itself, never by case id or version, so an answer cannot outlive
# what it judged; never by the data encoded again, which would cost what the cache saves.
_CACHE_SIZE = 256
_VALIDATED: dict[str, dict[str, Any]] = {}
_CHECKED: dict[tuple[str, str, str, int], CheckReport] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        del cache[next(iter(cache))]  # oldest first
    cache[key] = value


class _Check:
    def __init__(self, app: Mapping[str, Any], policy: Policy, round_year: int) -> None:
        self.app = app
        self.policy = policy
        self.round_year = round_year
        self.years = range(round_year - policy.window_years, round_year)
        self.incidents_since = round_year - policy.incidents.lookback_years
        self.incident_findings: list[IncidentFinding] = []
        self.plan_finding: PlanFinding | None = None

    # -- 第十三条第（一）项 ------------------------------------------------------------------

    def incidents(self) -> CheckItem:
        condition = self.policy.condition("incidents")
        incidents = self.app.get("incidents")
        if incidents is None:
            return _item(condition, f"{MISSING}：近三年事故及违法失信情况（无则填空列表）", "fail")
        since = self.incidents_since
        for incident in incidents:
            if incident["year"] < since:
                counts, reason = False, f"早于{since}年，不在近三年内，不计入"
            else:
                verdict = self.policy.incidents.assess(
                    incident["kind"], incident.get("grade"), incident.get("major"))
                counts = verdict.counts
                reason = _INCIDENT_REASONS[verdict.basis].format(bar=verdict.bar)
            self.incident_findings.append(IncidentFinding(
                year=incident["year"], kind=incident["kind"], grade=incident.get("grade"),
                major=incident.get("major"), description=incident.get("description") or "",
                counts=counts, reason=reason))
        findings = self.incident_findings
        counting = [finding for finding in findings if finding.counts]
        if counting:
            listed = "；".join(f"{_incident_text(finding)}：{finding.reason}"
                              for finding in counting)
            return _item(condition, listed, "fail")
        if findings:
            listed = "；".join(f"{_incident_text(finding)}：{finding.reason}"
                              for finding in findings)
            return _item(condition, f"{listed}（均不属于否决情形）", "pass")
        return _item(condition, f"{since}年以来未申报事故及违法失信记录", "pass")

    # -- 第十三条第（二）项 ------------------------------------------------------------------

    def area(self) -> CheckItem:
        threshold = self.policy.threshold("area")
        area = self.app.get("area_km2")
        if area is None:
            return _item(threshold, f"{MISSING}：占地面积", "fail")
        return _item(threshold, f"{_plain(area)}{threshold.unit}", _verdict(area, threshold))

    def output(self) -> CheckItem:
        threshold = self.policy.threshold("output")
        series = self.app.get("output", {})
        missing = [year for year in self.years if year not in series]
        if missing:
            return _item(threshold, f"{MISSING}：{_years(missing)}产值", "fail")
        shown = "、".join(f"{year}年{_plain(series[year])}{threshold.unit}" for year in self.years)
        short = [year for year in self.years if not _holds(series[year], threshold)]
        if short:
            return _item(threshold, f"{shown}；{_years(short)}未达{_limit(threshold)}", "fail")
        return _item(threshold, shown, "pass")

    def share(self, threshold_id: str, field: str) -> CheckItem:
        threshold = self.policy.threshold(threshold_id)
        share = self.app.get(field)
        if share is None:
            return _item(threshold, f"{MISSING}：{threshold.item}", "fail")
        return _item(threshold, _percent(share), _verdict(share, threshold))

    def growth(self, threshold_id: str, field: str) -> CheckItem:
        threshold = self.policy.threshold(threshold_id)
        series = self.app.get(field, {})
        name = _SERIES_NAMES[field][0]
        missing = [year for year in self.years if year not in series]
        if missing:
            return _item(threshold, f"{MISSING}：{_years(missing)}{name}", "fail")
        years = list(self.years)
        values = [Fraction(series[year]) for year in years]
        span = f"{_METHOD_NAMES[self.policy.growth_method]}，{years[0]}–{years[-1]}年"
        # compound divides by the first year only; the mean, by every year but the last
        bases = years[:1] if self.policy.growth_method == "compound" else years[:-1]
        zero = next((year for year in bases if not series[year]), None)
        if zero is not None:
            return _item(threshold, f"{zero}年{name}为0，无法计算年均增速（{span}）", "fail")
        goal = Fraction(threshold.value)
        if self.policy.growth_method == "mean":
            rates = [later / earlier - 1 for earlier, later in pairwise(values)]
            found = sum(rates, Fraction(0)) / len(rates)
            passed = _COMPARE[threshold.operator](found, goal)
            exact = found == goal
            shown = _percent_of(found)
        else:
            intervals = len(values) - 1
            ratio = values[-1] / values[0]
            target = (1 + goal) ** intervals
            passed = _COMPARE[threshold.operator](ratio, target)
            exact = ratio == target
            shown = _compound_rate(ratio, intervals)
        equal = f"，恰好等于{_limit(threshold)}" if exact else ""
        return _item(threshold, f"年均增速约{shown}%（{span}{equal}）", _result(passed))

    # -- 第十三条第（三）项 ------------------------------------------------------------------

    def quality_enterprises(self) -> CheckItem:
        champions_rule = self.policy.threshold("champions")
        quality_rule = self.policy.threshold("quality_smes")
        champions = self.app.get("champion_enterprises")
        quality = self.app.get("quality_smes")
        rule = f"{champions_rule.wording}，{quality_rule.wording}"
        counts: list[tuple[str, int | None, Threshold]] = [
            ("单项冠军/小巨人企业", _distinct(champions), champions_rule),
            ("专精特新/创新型/高新技术企业", _distinct(quality), quality_rule),
        ]
        shown = "；".join(
            f"{label}{count}家" if count is not None else f"{label}：{MISSING}"
            for label, count, _ in counts
        )
        passed = any(
            count is not None and _holds(count, threshold) for _, count, threshold in counts
        )
        if not passed and any(count is None for _, count, _ in counts):
            shown = f"{MISSING}：{shown}"
        return CheckItem(
            id="quality_enterprises",
            article=champions_rule.article,
            item="优质企业",
            rule=rule,
            value=f"{shown}（每家企业只计一次）",
            result=_result(passed),
        )

    # -- 第十三条第（五）项 ------------------------------------------------------------------

    def patents_per_10k(self) -> CheckItem:
        threshold = self.policy.threshold("patents_per_10k")
        year = self.round_year - 1
        patents = self.app.get("invention_patents", {}).get(year)
        employees = self.app.get("employees")
        if patents is None or employees is None:
            lacking = "、".join(
                label
                for label, value in ((f"{year}年有效发明专利", patents), ("从业人员数", employees))
                if value is None
            )
            return _item(threshold, f"{MISSING}：{lacking}", "fail")
        # patents / employees × 10000  OP  value   ⇔   patents × 10000  OP  value × employees
        passed = _COMPARE[threshold.operator](
            Fraction(patents * 10000), Fraction(threshold.value) * employees
        )
        per_10k = _round(Fraction(patents * 10000, employees))
        shown = (
            f"每万名从业人员约{per_10k}件（{year}年有效发明专利{patents}件，从业人员{employees}人）"
        )
        return _item(threshold, shown, _result(passed))

    # -- 第十三条第（七）项 ------------------------------------------------------------------

    def co2_intensity(self) -> CheckItem:
        condition = self.policy.condition("co2_intensity")
        series = self.app.get("co2_intensity", {})
        missing = [year for year in self.years if year not in series]
        if missing:
            return _item(condition, f"{MISSING}：{_years(missing)}单位产值二氧化碳排放", "fail")
        years = list(self.years)
        shown = "、".join(f"{year}年{_plain(series[year])}" for year in years)
        rising = [
            (earlier, later)
            for earlier, later in pairwise(years)
            if not series[later] < series[earlier]
        ]
        if rising:
            stalls = "、".join(f"{later}年较{earlier}年" for earlier, later in rising)
            return _item(condition, f"{shown}；{stalls}未下降", "fail")
        return _item(condition, f"{shown}，逐年下降", "pass")

    def energy_water(self) -> CheckItem:
        condition = self.policy.condition("energy_water")
        parts: list[str] = []
        lacking: list[str] = []
        passed = True
        for prefix, intensive_label, efficiency_label in (
            ("energy", "高耗能", "能效"),
            ("water", "高耗水", "水效"),
        ):
            intensive = self.app.get(f"{prefix}_intensive")
            above = self.app.get(f"{prefix}_efficiency_above_benchmark")
            if intensive is None:
                lacking.append(f"是否{intensive_label}")
            elif not intensive:
                parts.append(f"非{intensive_label}")
            elif above is None:
                lacking.append(f"{efficiency_label}是否高于行业基准")
            elif above:
                parts.append(f"{intensive_label}，{efficiency_label}高于行业基准")
            else:
                parts.append(f"{intensive_label}，{efficiency_label}未高于行业基准")
                passed = False
        if lacking:
            return _item(condition, f"{MISSING}：{'、'.join(lacking)}", "fail")
        return _item(condition, "；".join(parts), _result(passed))

    # -- 第十三条第（九）项 ------------------------------------------------------------------

    def governance(self) -> CheckItem:
        condition = self.policy.condition("governance")
        body = self.app.get("management_body") or {}
        plan = self.app.get("development_plan")
        starts = (self.round_year, self.round_year + 1)
        if plan is not None:
            period = plan.get("period")
            self.plan_finding = PlanFinding(
                period=period,
                starts=starts,
                period_ok=period is not None and period_years(period)[0] in starts,
                goals=tuple(_goal_finding(goal) for goal in plan.get("goals", [])),
            )
        lacking = [label for label, present in (("运营管理机构", body.get("name")),
                                                ("发展规划", plan is not None)) if not present]
        if lacking:
            return _item(condition, f"{MISSING}：{'、'.join(lacking)}", "fail")
        finding = self.plan_finding
        assert finding is not None
        parts = [f"运营管理机构：{body['name']}"]
        problems: list[str] = []
        if finding.period is None:
            problems.append("发展规划未注明规划期")
        elif finding.period_ok:
            parts.append(f"发展规划{finding.period}年，始于{period_years(finding.period)[0]}年"
                         f"（申报年度或次年）")
        else:
            problems.append(f"发展规划{finding.period}年，未始于{starts[0]}年或{starts[1]}年")
        if finding.measurable_goals:
            parts.append(f"可量化目标{finding.measurable_goals}项（共{len(finding.goals)}项）")
        else:
            unmeasured = "；".join(f"“{goal.label}”缺少{'、'.join(goal.lacking)}"
                                  for goal in finding.goals)
            problems.append("无可量化目标（须有指标、单位、基期值和目标值）"
                            + (f"：{unmeasured}" if unmeasured else ""))
        return _item(condition, "；".join(parts + problems), "fail" if problems else "pass")


# --------------------------------------------------------------------------------------------
# Helpers


def _item(rule: Threshold | Condition, value: str, result: Result) -> CheckItem:
    return CheckItem(id=rule.id, article=rule.article, item=rule.item, rule=rule.wording,
                     value=value, result=result, text=rule.text)


#: Why an incident inside the window counts or not, by ``IncidentVerdict.basis``.
_INCIDENT_REASONS: Final = {
    "any": "一经查实即计入",
    "grade_reached": "达到{bar}及以上，计入",
    "grade_below": "未达{bar}及以上，不计入",
    "grade_missing": "未注明等级，按计入处理，请补正",
    "major": "标明为重大，计入",
    "not_major": "未标明为重大（如一般行政处罚），不计入",
    "major_unknown": "未注明是否重大（早期版本录入的数据），按计入处理，请补正",
    "unknown_kind": "本政策版本未列此类情形，按计入处理",
}
_GOAL_PARTS: Final = (("indicator", "指标"), ("unit", "单位"), ("baseline", "基期值"),
                      ("target", "目标值"))


def _goal_finding(goal: Mapping[str, Any]) -> GoalFinding:
    label = goal.get("indicator") or (goal.get("text") or "").strip()
    lacking = tuple(name for part, name in _GOAL_PARTS if goal.get(part) is None)
    if measurable(goal):
        baseline, target = goal["baseline"], goal["target"]
        label = (f"{goal['indicator']}（{goal['unit']}）：{baseline['year']}年"
                 f"{_plain(baseline['value'])} → {target['year']}年{_plain(target['value'])}")
    return GoalFinding(label=label, measurable=not lacking, lacking=lacking)


def _holds(found: Decimal | int, threshold: Threshold) -> bool:
    return _COMPARE[threshold.operator](Fraction(found), Fraction(threshold.value))


def _verdict(found: Decimal | int, threshold: Threshold) -> Result:
    return _result(_holds(found, threshold))


def _result(passed: bool) -> Result:
    return "pass" if passed else "fail"


def _distinct(enterprises: Sequence[Mapping[str, Any]] | None) -> int | None:
    """Number of different enterprises, names compared after width and space normalization."""
    if enterprises is None:
        return None
    return len({_name_key(enterprise["name"]) for enterprise in enterprises})


def _name_key(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


def _incident_text(finding: IncidentFinding) -> str:
    description = finding.description.strip()
    return f"{finding.label}（{description}）" if description else finding.label


def _years(years: Sequence[int]) -> str:
    return "、".join(f"{year}年" for year in years)


def _plain(number: Decimal | int) -> str:
    return format(number, "f")


def _percent(share: Decimal) -> str:
    return f"{format(share.scaleb(2).normalize(), 'f')}%"


def _limit(threshold: Threshold) -> str:
    if threshold.unit == "比例":
        return _percent(threshold.value)
    return f"{_plain(threshold.value)}{threshold.unit}"


def _round(value: Fraction) -> str:
    """Two decimals, for reading only."""
    return format(Decimal(value.numerator) / Decimal(value.denominator), ".2f")


def _percent_of(rate: Fraction) -> str:
    return _round(rate * 100)


def _compound_rate(ratio: Fraction, intervals: int) -> str:
    """(ratio^(1/k) − 1) in percent, two decimals (half-even), for display; the decision never
    uses it.

    Integer arithmetic: the root's ten-thousandths are the integer k-th root of
    ``ratio × 10^(4k)``, the half-way case an exact comparison. The same digits as ``Decimal``
    powers at 34 places, fifty times faster: every 资格初审 computes it.
    """
    if not ratio:
        return "-100.00"
    scale = 10_000
    numerator, denominator = ratio.numerator, ratio.denominator
    units = _integer_root(numerator * scale**intervals // denominator, intervals)
    above = numerator * (2 * scale) ** intervals - (2 * units + 1) ** intervals * denominator
    if above > 0 or (above == 0 and units % 2):
        units += 1
    hundredths = units - scale  # of a percent
    sign = "-" if hundredths < 0 or (hundredths == 0 and ratio < 1) else ""
    whole, rest = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{rest:02d}"


def _integer_root(number: int, k: int) -> int:
    """floor(number^(1/k)), by Newton's method from above."""
    if number < 2:
        return number
    guess = 1 << -(-number.bit_length() // k)
    while True:
        better = ((k - 1) * guess + number // guess ** (k - 1)) // k
        if better >= guess:
            return guess
        guess = better


_ARTICLE_ITEM = re.compile(r"（([一二三四五六七八九十]+)）项$|([一二三四五六七八九十]+)$")
_DIGITS = "一二三四五六七八九"


def _article_rank(article: str) -> int:
    """The item number an article cites (第十三条第（二）项 → 2, 认定标准一 → 1), 0 for none."""
    match = _ARTICLE_ITEM.search(article)
    if match is None:
        return 0
    tens, ten, units = (match[1] or match[2]).rpartition("十")
    digit = {numeral: value for value, numeral in enumerate(_DIGITS, start=1)}
    if len(tens) > 1 or len(units) > 1:
        return 0
    if not ten:
        return digit[units]
    return (digit[tens] if tens else 1) * 10 + (digit[units] if units else 0)
