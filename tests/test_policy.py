"""Policies as data: the shipped files load, carry their articles, and bad files are refused."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from gdcluster.states.policy import (
    DEFAULT_POLICY,
    INCIDENT_KINDS,
    REVOCATION_CODES,
    THRESHOLD_IDS,
    InvalidPolicy,
    Policy,
    Quota,
    load_policy,
    load_policy_file,
    policy_names,
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
    assert policy.version >= 1
    assert policy.citation == f"{policy.title}（{policy.doc_no}）"


def test_measures_of_each_policy() -> None:
    """Guangdong: 粤工信服务函〔2023〕4号; national: 工信部企业〔2022〕119号."""
    guangdong, national = load_policy("guangdong-2023"), load_policy("national-2022")
    assert guangdong.title == "《广东省促进中小企业特色产业集群发展暂行办法》"
    assert guangdong.doc_no == "粤工信服务函〔2023〕4号"
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
    """Every threshold, condition and revocation ground cites the article it comes from."""
    for rule in (*policy.thresholds, *policy.conditions):
        assert rule.article.strip() and rule.rule.strip() and rule.item.strip(), rule
    for code in REVOCATION_CODES:
        assert policy.revocation(code).article.strip()
        assert policy.revocation_reason(code).strip()


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
    assert periods.report_roll_to_workday is False
    assert periods.missed_report_action == "revoke"
    assert periods.review_window_months == 6
    assert periods.expiry_reminder_days == 90
    assert periods.sources["missed_report_action"] == "第十八条第（三）项"


def test_growth_settings(policy: Policy) -> None:
    """Growth is compound (国家统计局水平法) over at least the three years before the round."""
    assert policy.growth_method == "compound"
    assert policy.min_growth_years == 3


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
    ("kind", "grade", "disqualifies"),
    [
        ("safety", "一般", False),
        ("safety", "较大", True),
        ("environment", "特别重大", True),
        ("cyber", "较大", False),
        ("data", "重大", True),
        ("tax", None, True),
        ("dishonesty", "一般", True),
        ("safety", None, True),
    ],
    ids=lambda value: str(value),
)
def test_incident_bars(kind: str, grade: str | None, disqualifies: bool) -> None:
    """较大+ accidents, 重大+ cyber/data incidents and any tax/illegal/dishonesty record bar."""
    rule = load_policy("guangdong-2023").incidents
    assert rule.disqualifies(kind, grade) is disqualifies
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
    'rule = "设有集群运营管理机构，制定集群三年发展规划并有明确发展目标"\njudge = "auto"'
)
SUPPLY_JUDGE = 'rule = "产业链布局合理，上下游协作机制完善，关键环节配套能力较强"\njudge = "expert"'
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
    pytest.param("version = 1", "version = 0", "version", id="version-zero"),
    pytest.param("version = 1", 'version = "1"', "version", id="version-text"),
    pytest.param(
        "report_roll_to_workday = false",
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
