"""Policies as data: the shipped files load, carry their articles and the measures' words,
every shipped version stays loadable by its digest, and bad files are refused."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from gdcluster.engine.calendar import WorkCalendar
from gdcluster.states.policy import (
    DEFAULT_POLICY,
    INCIDENT_KINDS,
    REVOCATION_CODES,
    THRESHOLD_IDS,
    InvalidPolicy,
    Policy,
    Quota,
    UnknownPolicyVersion,
    archived_versions,
    load_policy,
    load_policy_file,
    parse_policy,
    policy_names,
    shipped_versions,
)

POLICIES = resources.files("gdcluster.states").joinpath("policies")
GUANGDONG_TEXT = POLICIES.joinpath("guangdong-2023.toml").read_text(encoding="utf-8")


@pytest.fixture(params=["guangdong-2023", "national-2022"])
def policy(request: pytest.FixtureRequest) -> Policy:
    return load_policy(request.param)


def test_shipped_policies_are_listed_and_the_default_is_among_them() -> None:
    """policy_names lists both shipped files; DEFAULT_POLICY is Guangdong's."""
    assert {"guangdong-2023", "national-2022"} <= set(policy_names())
    assert DEFAULT_POLICY == "guangdong-2023"


def test_policy_loads_with_its_measures(policy: Policy) -> None:
    """Each policy names its measures by title and 发文字号, and has a positive version."""
    assert policy.title.startswith("《") and policy.title.endswith("》")
    assert re.fullmatch(r".+〔20\d\d〕[1-9]\d*号", policy.doc_no)
    assert policy.version >= 1 and policy.format == 2
    assert policy.citation.startswith("《") and policy.citation.endswith(f"》（{policy.doc_no}）")


def test_measures_of_each_policy() -> None:
    """Guangdong: 粤工信服务函〔2023〕4号; national: 工信部企业〔2022〕119号."""
    guangdong, national = load_policy("guangdong-2023"), load_policy("national-2022")
    assert guangdong.title == "《广东省促进中小企业特色产业集群发展暂行办法》"
    assert guangdong.doc_no == "粤工信服务函〔2023〕4号"
    assert guangdong.citation == ("《广东省工业和信息化厅关于印发广东省促进中小企业特色产业集群发展"
                                  "暂行办法的通知》（粤工信服务函〔2023〕4号）")
    assert national.title == "《促进中小企业特色产业集群发展暂行办法》"
    assert national.doc_no == "工信部企业〔2022〕119号"


def test_rubric_weights_sum_to_100(policy: Policy) -> None:
    """The expert rubric's indicator weights are whole points summing to 100."""
    weights = [indicator.weight for indicator in policy.rubric.indicators]
    assert sum(weights) == 100
    assert all(type(weight) is int and weight > 0 for weight in weights)
    assert len({indicator.id for indicator in policy.rubric.indicators}) == len(weights)
    assert policy.rubric.min_experts == 3 and policy.rubric.trim_from == 5


def test_every_rule_carries_its_article(policy: Policy) -> None:
    """Every threshold, condition and revocation ground cites the article it comes from and
    has wording: the measures' words (``text``) or, where only a paraphrase is known, a
    ``summary``."""
    for rule in (*policy.thresholds, *policy.conditions):
        assert rule.article.strip() and rule.wording.strip() and rule.item.strip(), rule
    for code in REVOCATION_CODES:
        assert policy.revocation(code).article.strip()
        assert policy.revocation_reason(code).strip()


def test_guangdong_carries_the_measures_words_everywhere() -> None:
    """Every Guangdong item and 第十八条 ground has ``text``; the texts no longer add "一般",
    drop "国家级" or "其它重大问题", and our counting note is a summary, not part of the words."""
    guangdong = load_policy("guangdong-2023")
    for rule in (*guangdong.thresholds, *guangdong.conditions,
                 *guangdong.revocations.values()):
        assert rule.text and rule.text.strip(), rule
        assert "（每家企业只计一次）" not in rule.text
    assert guangdong.threshold("area").text == "集群占地面积不超过100平方公里"
    assert "国家级高新技术企业" in (guangdong.threshold("quality_smes").text or "")
    assert "其它重大问题" in (guangdong.condition("incidents").text or "")
    assert "其它重大问题" in (guangdong.revocation("18.5").text or "")
    assert guangdong.revocation("18.3").text == (
        "未及时报送集群年度培育情况信息表，不接受、不配合监测监督工作")
    assert "只计一次" in (guangdong.threshold("quality_smes").summary or "")


def test_a_ground_known_only_by_paraphrase_has_no_text() -> None:
    """The national grounds' words are not known: they carry only a summary, which is the
    wording shown but never ``text`` (the only part notices put in quotation marks)."""
    national = load_policy("national-2022")
    for ground in national.revocations.values():
        assert ground.text is None and ground.summary
        assert national.revocation_reason(ground.code) == ground.summary


def test_every_evaluated_threshold_is_present_once_with_decimal_values(policy: Policy) -> None:
    """The policy gives exactly the thresholds the evaluator applies, values as Decimal."""
    assert {threshold.id for threshold in policy.thresholds} == THRESHOLD_IDS
    assert len(policy.thresholds) == len(THRESHOLD_IDS)
    assert all(type(threshold.value) is Decimal for threshold in policy.thresholds)


GUANGDONG_THRESHOLDS = [
    ("area", "第十三条第（二）项", "le", "100", "平方公里"),
    ("output", "第十三条第（二）项", "ge", "40", "亿元"),
    ("sme_share", "第十三条第（二）项", "gt", "0.70", "比例"),
    ("leading_share", "第十三条第（二）项", "gt", "0.70", "比例"),
    ("output_growth", "第十三条第（二）项", "gt", "0.10", "比例"),
    ("champions", "第十三条第（三）项", "ge", "1", "家"),
    ("quality_smes", "第十三条第（三）项", "ge", "10", "家"),
    ("rd_growth", "第十三条第（五）项", "gt", "0.10", "比例"),
    ("patent_growth", "第十三条第（五）项", "ge", "0.15", "比例"),
    ("patents_per_10k", "第十三条第（五）项", "ge", "15", "件/万人"),
    ("internet_rate", "第十三条第（六）项", "ge", "0.15", "比例"),
]


@pytest.mark.parametrize(
    ("threshold_id", "article", "operator", "value", "unit"),
    GUANGDONG_THRESHOLDS,
    ids=[row[0] for row in GUANGDONG_THRESHOLDS],
)
def test_guangdong_thresholds_follow_the_design_table(
    threshold_id: str, article: str, operator: str, value: str, unit: str
) -> None:
    """Guangdong's thresholds are those of DESIGN §4, with 民法典第1259条 operators."""
    threshold = load_policy("guangdong-2023").threshold(threshold_id)
    assert (threshold.article, threshold.operator, threshold.value, threshold.unit) == (
        article,
        operator,
        Decimal(value),
        unit,
    )


def test_national_sme_share_includes_70_percent() -> None:
    """The national 70%以上 is "ge"; Guangdong's 高于70% is "gt"."""
    assert load_policy("national-2022").threshold("sme_share").operator == "ge"
    assert load_policy("guangdong-2023").threshold("sme_share").operator == "gt"


def test_guangdong_periods() -> None:
    """Publicity 7 working days, validity 3 years, report due 31 March, reminders 30 and 7 days."""
    periods = load_policy("guangdong-2023").periods
    assert periods.publicity_workdays == 7
    assert periods.validity_years == 3
    assert periods.report_due == "03-31" and periods.report_due_month_day == (3, 31)
    assert periods.report_reminder_days == (30, 7)
    assert periods.report_roll_to_workday is True  # 民法典 第二百零三条 (issue 12)
    assert periods.missed_report_action == "revoke"
    assert (periods.report_grace_workdays, periods.hearing_workdays) == (10, 5)
    assert periods.review_window_months == 6
    assert periods.expiry_reminder_days == 90
    assert periods.sources["missed_report_action"].startswith("第十八条第（三）项")
    assert "第二百零三条" in periods.sources["report_roll_to_workday"]


def test_growth_settings(policy: Policy) -> None:
    """Growth is compound (国家统计局水平法) over the three years before the round."""
    assert policy.growth_method == "compound"
    assert policy.window_years == policy.min_growth_years == 3


def test_quotas_default_and_shenzhen() -> None:
    """Each city recommends 2–5 a round; 深圳市 3–5 (2023 notice)."""
    guangdong = load_policy("guangdong-2023")
    assert guangdong.quota_for("佛山市") == Quota(min=2, max=5)
    assert guangdong.quota_for("深圳市") == Quota(min=3, max=5)


def test_revocation_grounds_are_article_18() -> None:
    """Codes 18.1–18.5 map to 第十八条第（一）项 … 第（五）项 with their reasons."""
    guangdong = load_policy("guangdong-2023")
    assert list(guangdong.revocations) == list(REVOCATION_CODES)
    numerals = "一二三四五"
    for index, code in enumerate(REVOCATION_CODES):
        assert guangdong.revocation(code).article == f"第十八条第（{numerals[index]}）项"
    assert "复核" in guangdong.revocation_reason("18.1")
    assert "年度" in guangdong.revocation_reason("18.3")
    with pytest.raises(KeyError):
        guangdong.revocation_reason("18.6")


@pytest.mark.parametrize(
    ("kind", "grade", "major", "disqualifies", "basis"),
    [
        ("safety", "一般", None, False, "grade_below"),
        ("safety", "较大", None, True, "grade_reached"),
        ("environment", "特别重大", None, True, "grade_reached"),
        ("cyber", "较大", None, False, "grade_below"),
        ("data", "重大", None, True, "grade_reached"),
        ("tax", None, None, True, "any"),
        ("dishonesty", None, None, True, "any"),
        ("safety", None, None, True, "grade_missing"),
        ("illegal", None, False, False, "not_major"),
        ("illegal", None, True, True, "major"),
        ("illegal", None, None, True, "major_unknown"),
        ("other", None, True, True, "major"),
        ("other", None, False, False, "not_major"),
        ("unheard-of", None, None, True, "unknown_kind"),
    ],
    ids=lambda value: str(value),
)
def test_incident_bars(kind: str, grade: str | None, major: bool | None, disqualifies: bool,
                       basis: str) -> None:
    """较大+ accidents, 重大+ cyber/data incidents, established tax evasion and serious
    dishonesty, and violations or other problems marked major bar; incomplete facts count."""
    rule = load_policy("guangdong-2023").incidents
    verdict = rule.assess(kind, grade, major)
    assert (verdict.counts, verdict.basis) == (disqualifies, basis)
    assert rule.disqualifies(kind, grade, major) is disqualifies
    assert set(rule.disqualifying) == set(INCIDENT_KINDS)


def test_digest_is_the_sha256_of_the_file_bytes(policy: Policy) -> None:
    """Policy.digest identifies the exact text that judged a case."""
    content = POLICIES.joinpath(f"{policy.name}.toml").read_bytes()
    assert policy.digest == hashlib.sha256(content).hexdigest()


def test_load_policy_is_cached_and_matches_load_policy_file(tmp_path: Path) -> None:
    """load_policy returns one cached object; the same bytes elsewhere give the same digest."""
    assert load_policy("guangdong-2023") is load_policy("guangdong-2023")
    copy = tmp_path / "guangdong-2023.toml"
    copy.write_text(GUANGDONG_TEXT, encoding="utf-8")
    assert load_policy_file(copy).digest == load_policy("guangdong-2023").digest


def test_unknown_policy_name_is_refused() -> None:
    """A name with no file (or a path) is refused, naming the field "name"."""
    for name in ("guangdong-2099", "../policy", "Guangdong-2023"):
        with pytest.raises(InvalidPolicy) as caught:
            load_policy(name)
        assert caught.value.field == "name"


def test_unknown_threshold_id_and_lookup() -> None:
    """Asking a policy for a threshold or condition it lacks raises KeyError."""
    guangdong = load_policy("guangdong-2023")
    with pytest.raises(KeyError):
        guangdong.threshold("nonexistent")
    with pytest.raises(KeyError):
        guangdong.condition("nonexistent")


def test_states_import_nothing_from_the_engine() -> None:
    """gdcluster.states.policy loads without importing gdcluster.engine (cli → engine → states)."""
    code = (
        "import sys, gdcluster.states.policy as p; p.load_policy('guangdong-2023'); "
        "print(any(m.startswith('gdcluster.engine') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Invalid files: each variant of the Guangdong file is refused, naming the file and the field


def without_block(text: str, start: str) -> str:
    """The text without the TOML block whose first line starts with ``start``.

    The block runs to the next blank line, or to the end of the file.
    """
    begin = text.index("\n" + start) + 1
    end = text.find("\n\n", begin)
    return text[:begin] + (text[end + 2 :] if end >= 0 else "")


GOVERNANCE_JUDGE = (
    'summary = "规划期始于申报年度或次年，至少一项可量化目标（指标、单位、基期值、目标值）"\n'
    'judge = "auto"'
)
SUPPLY_JUDGE = 'text = "产业链布局合理，上下游协作机制完善，关键环节配套能力较强"\njudge = "expert"'
SHENZHEN = '[quotas.cities."深圳市"]\nmin = 3'

INVALID = [
    pytest.param(
        'operator = "le"', 'operator = "lte"', "thresholds[0].operator", id="unknown-operator"
    ),
    pytest.param('value = "100"', 'value = "一百"', "thresholds[0].value", id="value-not-decimal"),
    pytest.param('value = "100"', 'value = "1e2"', "thresholds[0].value", id="value-exponent"),
    pytest.param(
        'value = "100"', "value = 100.0", "thresholds[0].value", id="value-toml-float-not-string"
    ),
    pytest.param('value = "0.70"', 'value = "70"', "thresholds[2].value", id="share-value-above-1"),
    pytest.param('id = "area"', 'id = "areas"', "thresholds[0].id", id="unknown-threshold-id"),
    pytest.param('id = "output"', 'id = "area"', "thresholds[1].id", id="duplicate-threshold-id"),
    pytest.param(
        'article = "第十三条第（二）项"\n', "", "thresholds[0].article", id="missing-article"
    ),
    pytest.param(
        'article = "第十三条第（一）项"',
        'article = ""',
        "conditions[0].article",
        id="empty-article",
    ),
    pytest.param(
        'article = "第十八条第（三）项"\n',
        "",
        'revocation."18.3".article',
        id="revocation-without-article",
    ),
    pytest.param("weight = 25", "weight = 26", "rubric.indicators", id="weights-sum-101"),
    pytest.param(
        "weight = 10", "weight = 10.0", "rubric.indicators[3].weight", id="weight-not-integer"
    ),
    pytest.param("min_experts = 3", "min_experts = 0", "rubric.min_experts", id="no-experts"),
    pytest.param(
        SHENZHEN,
        SHENZHEN.replace("3", "6"),
        'quotas.cities."深圳市".min',
        id="city-quota-min-above-max",
    ),
    pytest.param(
        "[quotas]\nmin = 2", "[quotas]\nmin = 9", "quotas.min", id="default-quota-min-above-max"
    ),
    pytest.param(
        'name = "guangdong-2023"',
        'colour = "red"\nname = "guangdong-2023"',
        "colour",
        id="unknown-top-level-key",
    ),
    pytest.param(
        'unit = "平方公里"',
        'unit = "平方公里"\nunits = "x"',
        "thresholds[0].units",
        id="unknown-key-in-threshold",
    ),
    pytest.param(
        "publicity_workdays = 7\n",
        "publicity_workdays = 7\npublicity_days = 7\n",
        "periods.publicity_days",
        id="unknown-key-in-periods",
    ),
    pytest.param(
        "weight = 25",
        'weight = 25\nnote = "x"',
        "rubric.indicators[0].note",
        id="unknown-key-in-indicator",
    ),
    pytest.param(
        'expiry_reminder_days = "系统',
        'expiry_days = "系统',
        "periods.sources.expiry_days",
        id="unknown-period-source",
    ),
    pytest.param(
        GOVERNANCE_JUDGE,
        GOVERNANCE_JUDGE.replace("auto", "expert"),
        "conditions[7].judge",
        id="automatic-condition-marked-expert",
    ),
    pytest.param(
        SUPPLY_JUDGE,
        SUPPLY_JUDGE.replace("expert", "auto"),
        "conditions[2].judge",
        id="expert-condition-marked-auto",
    ),
    pytest.param('judge = "auto"', 'judge = "machine"', "conditions[0].judge", id="unknown-judge"),
    pytest.param(
        'growth_method = "compound"',
        'growth_method = "geometric"',
        "growth_method",
        id="unknown-growth-method",
    ),
    pytest.param(
        'missed_report_action = "revoke"',
        'missed_report_action = "delete"',
        "periods.missed_report_action",
        id="unknown-missed-report-action",
    ),
    pytest.param(
        'report_due = "03-31"',
        'report_due = "02-29"',
        "periods.report_due",
        id="report-due-29-february",
    ),
    pytest.param(
        'report_due = "03-31"',
        'report_due = "3/31"',
        "periods.report_due",
        id="report-due-bad-format",
    ),
    pytest.param(
        "report_reminder_days = [30, 7]",
        "report_reminder_days = [30, 30]",
        "periods.report_reminder_days",
        id="reminder-twice",
    ),
    pytest.param(
        "review_window_months = 6",
        "review_window_months = 37",
        "periods.review_window_months",
        id="review-window-longer-than-validity",
    ),
    pytest.param(
        'safety = "较大"',
        'safety = "严重"',
        "incidents.disqualifying.safety",
        id="unknown-incident-grade",
    ),
    pytest.param(
        '[revocation."18.5"]',
        '[revocation."18.6"]',
        'revocation."18.6"',
        id="unknown-revocation-code",
    ),
    pytest.param("version = 3", "version = 0", "version", id="version-zero"),
    pytest.param("version = 3", 'version = "1"', "version", id="version-text"),
    pytest.param("format = 2", "format = 3", "format", id="format-too-new"),
    pytest.param(
        'text = "集群占地面积不超过100平方公里"',
        'text = "集群占地面积不超过100平方公里"\nrule = "一般不超过100平方公里"',
        "thresholds[0].rule",
        id="format-2-has-no-rule-key",
    ),
    pytest.param(
        'text = "近三年产值均在40亿元以上"\n', "", "thresholds[1].text", id="no-text-nor-summary"
    ),
    pytest.param(
        'text = "有效期满未申请复核或经复核未通过"\n', "", 'revocation."18.1".text',
        id="ground-without-text-nor-summary",
    ),
    pytest.param(
        "effective_until = 2025-12-31", "effective_until = 2022-12-31", "effective_until",
        id="effective-until-before-from",
    ),
    pytest.param(
        "effective_from = 2023-01-01", 'effective_from = "2023-01-01"', "effective_from",
        id="effective-from-not-a-toml-date",
    ),
    pytest.param(
        "effective_from = 2023-01-01", "effective_from = 2023-01-01T00:00:00",
        "effective_from", id="effective-from-a-date-time",
    ),
    pytest.param(
        "effective_from = 2023-01-01\n", "", "effective_from", id="effective-from-missing",
    ),
    pytest.param(
        'citation = "《广东省工业和信息化厅关于印发', 'citation = "广东省工业和信息化厅关于印发',
        "citation", id="citation-without-book-title-marks",
    ),
    pytest.param(
        '（粤工信服务函〔2023〕4号）"', '"', "citation", id="citation-without-doc-no",
    ),
    pytest.param('illegal = "major"', 'illegal = "较大"', "incidents.disqualifying.illegal",
                 id="a-violation-cannot-be-graded"),
    pytest.param('safety = "较大"', 'safety = "major"', "incidents.disqualifying.safety",
                 id="an-accident-is-not-marked-major"),
    pytest.param('tax = "any"', 'tax = "major"', "incidents.disqualifying.tax",
                 id="tax-evasion-counts-whenever-established"),
    pytest.param('other = "major"\n', "", "incidents.disqualifying.other",
                 id="其它重大问题-missing"),
    pytest.param(
        "report_roll_to_workday = true",
        'report_roll_to_workday = "no"',
        "periods.report_roll_to_workday",
        id="switch-not-boolean",
    ),
    pytest.param(
        'name = "guangdong-2023"', "name = guangdong-2023", "(file)", id="toml-syntax-error"
    ),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "variant.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "field"), INVALID)
def test_invalid_policy_names_the_file_and_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    """A policy file with one mistake is refused at load with InvalidPolicy naming the field."""
    assert GUANGDONG_TEXT.count(old) >= 1, "the variant must change the file"
    path = write(tmp_path, GUANGDONG_TEXT.replace(old, new, 1))
    with pytest.raises(InvalidPolicy) as caught:
        load_policy_file(path)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{path}: {field}: ")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("start", "field"),
    [
        pytest.param('[[thresholds]]\nid = "internet_rate"', "thresholds", id="missing-threshold"),
        pytest.param(
            '[[conditions]]\nid = "governance"', "conditions", id="missing-automatic-condition"
        ),
        pytest.param('[revocation."18.5"]', "revocation", id="missing-revocation-code"),
    ],
)
def test_missing_parts_are_refused(tmp_path: Path, start: str, field: str) -> None:
    """Removing a threshold, an automatic condition or a revocation code is refused."""
    with pytest.raises(InvalidPolicy) as caught:
        load_policy_file(write(tmp_path, without_block(GUANGDONG_TEXT, start)))
    assert caught.value.field == field


def test_period_sources_are_optional(tmp_path: Path) -> None:
    """The notes on where periods come from may be left out; the periods themselves may not."""
    text = without_block(GUANGDONG_TEXT, "[periods.sources]")
    assert load_policy_file(write(tmp_path, text)).periods.sources == {}
    with pytest.raises(InvalidPolicy) as caught:
        load_policy_file(write(tmp_path, GUANGDONG_TEXT.replace("validity_years = 3\n", "", 1)))
    assert caught.value.field == "periods.validity_years"


def test_policy_file_must_be_utf8(tmp_path: Path) -> None:
    """A policy file in another encoding is refused as a whole."""
    path = tmp_path / "gbk.toml"
    path.write_bytes(GUANGDONG_TEXT.encode("gb18030"))
    with pytest.raises(InvalidPolicy) as caught:
        load_policy_file(path)
    assert caught.value.field == "(file)"


# ---------------------------------------------------------------------------------------------
# The measures' own validity (第二十条) and the national publicity period


@pytest.mark.parametrize(
    ("name", "day", "in_force"),
    [
        pytest.param("guangdong-2023", date(2022, 12, 31), False, id="gd-before-issue"),
        pytest.param("guangdong-2023", date(2023, 1, 1), True, id="gd-first-day"),
        pytest.param("guangdong-2023", date(2024, 3, 1), True, id="gd-2024-round"),
        pytest.param("guangdong-2023", date(2025, 12, 31), True, id="gd-last-day"),
        pytest.param("guangdong-2023", date(2026, 1, 1), False, id="gd-after-3-years"),
        pytest.param("guangdong-2023", date(2029, 3, 1), False, id="gd-2029-round"),
        pytest.param("national-2022", date(2022, 9, 12), False, id="national-before-issue"),
        pytest.param("national-2022", date(2022, 9, 13), True, id="national-issue-day"),
        pytest.param("national-2022", date(2025, 9, 12), True, id="national-last-day"),
        pytest.param("national-2022", date(2025, 9, 13), False, id="national-after-3-years"),
    ],
)
def test_in_force_follows_the_stated_dates(name: str, day: date, in_force: bool) -> None:
    """Policy.in_force(day): effective_from ≤ day ≤ effective_until, both ends included."""
    assert load_policy(name).in_force(day) is in_force


def test_effective_dates_span_three_years() -> None:
    """第二十条 (有效期3年): each file's end is the day before the third anniversary of its
    start, and the unconfirmed dates are marked `# unverified:` in the file."""
    for name in ("guangdong-2023", "national-2022"):
        policy = load_policy(name)
        assert policy.effective_from is not None and policy.effective_until is not None
        start = policy.effective_from
        third_anniversary = date(start.year + 3, start.month, start.day)
        assert policy.effective_until == third_anniversary - timedelta(days=1)
        text = POLICIES.joinpath(f"{name}.toml").read_text("utf-8")
        before = text[:text.index("effective_from =")]
        assert "# unverified:" in before[before.rindex("\n\n"):]


def test_national_publicity_is_five_working_days_as_the_real_miit_one() -> None:
    """The MIIT's 2022 公示 ran 2022-12-29 to 2023-01-05: five working days across 元旦."""
    national = load_policy("national-2022")
    assert national.periods.publicity_workdays == 5
    assert WorkCalendar().add_workdays(date(2022, 12, 29), 5) == date(2023, 1, 5)
    assert "2022年12月29日至2023年1月5日" in national.periods.sources["publicity_workdays"]


# ---------------------------------------------------------------------------------------------
# Every shipped version stays loadable by its digest


#: The digests of every policy file ever shipped, by name and version. A case records one of
#: these; it must load for as long as such a case can exist.
SHIPPED = {
    ("guangdong-2023", 1): "6f3e01d78cd55ad30f33307ac18e199ed1d80357a7e96386b4231a742ce22369",
    ("guangdong-2023", 2): "6dce7fa74243e11959c0142d009870bd256acd199b489a0b57b88708e6a42377",
    ("national-2022", 1): "72763f1a705617a645ba5ef18c32d78080071dab789b1587ce530fefdf6fb33c",
}


@pytest.mark.parametrize(("name", "version"), sorted(SHIPPED))
def test_every_shipped_digest_loads(name: str, version: int) -> None:
    """load_policy(name, digest) finds the archived bytes of an earlier version, unchanged."""
    policy = load_policy(name, digest=SHIPPED[name, version])
    assert (policy.name, policy.version) == (name, version)
    assert policy.digest == SHIPPED[name, version]
    assert policy.file == f"policies/archive/{name}@{version}.toml"
    content = POLICIES.joinpath("archive", f"{name}@{version}.toml").read_bytes()
    assert hashlib.sha256(content).hexdigest() == SHIPPED[name, version]


def test_current_files_are_newer_than_every_archived_version(policy: Policy) -> None:
    """The current file has its own digest and the highest version; shipped_versions lists
    them oldest first, and the current file is what load_policy gives without a digest."""
    versions = shipped_versions(policy.name)
    assert versions[-1] is policy is load_policy(policy.name, digest=policy.digest)
    assert [item.version for item in versions] == sorted({item.version for item in versions})
    assert len({item.digest for item in versions}) == len(versions)
    assert {(policy.name, item.version) for item in versions[:-1]} <= set(SHIPPED)


def test_an_unknown_digest_is_refused_naming_the_shipped_versions() -> None:
    """A digest no shipped version has is UnknownPolicyVersion (an InvalidPolicy)."""
    with pytest.raises(UnknownPolicyVersion) as caught:
        load_policy("guangdong-2023", digest="0" * 64)
    assert caught.value.field == "digest" and "version 1 6f3e01d78cd5" in str(caught.value)
    assert isinstance(caught.value, InvalidPolicy)


def test_a_format_1_file_is_read_with_its_paraphrases_as_summaries() -> None:
    """Version 1 had only paraphrases (`rule`, `reason`): they become summaries, never text;
    it states no validity of the measures, so it is never in force; its incident bars are its
    own (any violation counted then)."""
    old = load_policy("guangdong-2023", digest=SHIPPED["guangdong-2023", 1])
    assert old.format == 1 and old.effective_from is None and not old.in_force(date(2024, 3, 1))
    assert old.threshold("area").text is None
    assert old.threshold("area").summary == "集群占地面积一般不超过100平方公里"
    assert old.revocation("18.3").text is None
    assert old.citation == f"{old.title}（粤工信服务函〔2023〕4号）"
    assert old.title == "《广东省促进中小企业特色产业集群发展暂行办法》"
    assert old.incidents.assess("illegal", None, False).counts is True
    assert old.incidents.assess("other", None, False).basis == "unknown_kind"
    assert old.window_years == 3


def test_each_archived_file_holds_the_name_and_version_its_file_name_states() -> None:
    """A mislabelled archive would judge a case by the wrong text: every archived file's
    content states the name and version of its file name."""
    for entry in POLICIES.joinpath("archive").iterdir():
        name, _, version = entry.name.removesuffix(".toml").partition("@")
        parsed = parse_policy(entry.read_bytes(), entry.name)
        assert (parsed.name, parsed.version) == (name, int(version))


def test_a_mislabelled_or_newer_archive_file_is_refused(tmp_path: Path) -> None:
    """An archived file whose content is another version, or not older than the current
    file, is refused naming it; files of other policies are ignored."""
    current = load_policy("guangdong-2023")
    old_bytes = POLICIES.joinpath("archive", "guangdong-2023@1.toml").read_bytes()
    (tmp_path / "national-2022@1.toml").write_bytes(b"not even toml")
    (tmp_path / "guangdong-2023@1.toml").write_bytes(old_bytes)
    assert [policy.version for policy in archived_versions(tmp_path, current)] == [1]
    (tmp_path / "guangdong-2023@1.toml").unlink()
    (tmp_path / "guangdong-2023@4.toml").write_bytes(old_bytes)
    with pytest.raises(InvalidPolicy) as caught:
        archived_versions(tmp_path, current)
    assert caught.value.file == "policies/archive/guangdong-2023@4.toml"
    assert "holds guangdong-2023 version 1" in str(caught.value)
    (tmp_path / "guangdong-2023@4.toml").unlink()
    (tmp_path / "guangdong-2023@3.toml").write_bytes(GUANGDONG_TEXT.encode("utf-8"))
    with pytest.raises(InvalidPolicy) as caught:
        archived_versions(tmp_path, current)
    assert "not older than the current version 3" in str(caught.value)
