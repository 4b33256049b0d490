"""Issue 6 §3, hostile input, on SQLite and PostgreSQL: Hypothesis mutates valid application,
report, scores, calendar and settings files into wrong ones — wrong types, missing and unknown
fields, negative, huge, NaN/Infinity and non-decimal numbers, shares outside 0–1, years out of
range — and explicit cases add non-UTF-8 bytes, 10 MB files and deep nesting. Every one is
refused with exit 2 (``InvalidInput``) and a message naming the field, and the database is
unchanged (every table's row count and the audit head hash).

Most examples go through the functions the CLI calls (the file reader, then the engine); a
smaller number through `gdcluster` itself. CLI arguments (dates, years, ids, actors, document
numbers, instants, scores) get the same treatment.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner
from hardening_support import APPLICATION_FILE, DATA, Snapshot, load_application, module_db_url
from hardening_support import snapshot as take_snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import COUNTY, PROVINCE, TIMES, Walker, full_scores, path_text, put

from gdcluster.cli import CASE_ID, DATE, YEAR, IdList, cli
from gdcluster.engine import Actor, Engine, InvalidInput, NotFound
from gdcluster.engine.application import (
    CHAMPION_KINDS,
    QUALITY_KINDS,
    REPORT_FIELDS,
    load_application_file,
)
from gdcluster.engine.clock import FakeClock, parse_instant
from gdcluster.engine.parse import as_date, as_year, publicity_choice, validate_doc_no
from gdcluster.notifications.notifier import attach
from gdcluster.notifications.settings import load_settings
from gdcluster.states.policy import INCIDENT_GRADES, INCIDENT_KINDS

__all__ = ["module_db_url"]

EXAMPLES = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RAW_APPLICATION = json.loads(APPLICATION_FILE.read_text("utf-8"))
RAW_REPORT = json.loads((DATA / "report-2024.json").read_text("utf-8"))
RAW_CALENDAR = {2027: {"source": "国务院办公厅关于2027年部分节假日安排的通知",
                       "holidays": ["2027-01-01", {"from": "2027-02-05", "to": "2027-02-11"}],
                       "workdays": ["2027-02-20"]}}


@dataclass
class Stage:
    """Cases in the states the hostile files are offered to, in one database per back-end."""

    engine: Engine
    clock: FakeClock
    drafted: int
    submitted: int
    recommended: int
    recognized: int
    before: Snapshot

    def unchanged(self) -> None:
        assert take_snapshot(self.engine) == self.before


@pytest.fixture(scope="module")
def stage(module_db_url: str) -> Iterator[Stage]:
    clock = FakeClock(TIMES["open"])
    engine = Engine.init(module_db_url, simulation=True, clock=clock)
    try:
        walker = Walker(engine, clock, load_application())
        drafted = walker.to("drafted")
        submitted = walker.to("submitted", name="佛山市顺德区家电产业集群", county="佛山市顺德区")
        recommended = walker.to("recommended", name="佛山市禅城区陶瓷产业集群",
                                county="佛山市禅城区")
        recognized = walker.to("recognized", name="佛山市高明区纺织产业集群",
                               county="佛山市高明区")
        clock.set("2025-03-20T10:00")  # the 2024 annual report may be filed
        yield Stage(engine, clock, drafted, submitted, recommended, recognized,
                    take_snapshot(engine))
    finally:
        engine.close()


def refused(call: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    assert caught.value.exit_code == 2
    assert caught.value.field, caught.value.message
    assert caught.value.message.startswith(f"{caught.value.field}:")
    return caught.value


# ---------------------------------------------------------------------------- values
DECIMAL_STRINGS = st.decimals(min_value=0, max_value=100, places=2).map(str)
NON_DECIMAL_TEXT = st.sampled_from([
    "NaN", "nan", "Infinity", "-Infinity", "inf", "0x10", "0b11", "1e3", "1E-2", "１２", "1_000",
    "12,5", "七", "", " ", "12.", ".5", "+-1", "1/2", "٣", "5亿", "about 40", "0o7", "--1",
])
NOT_NUMBERS = st.one_of(
    st.booleans(), NON_DECIMAL_TEXT, st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "value"]), st.integers(), max_size=1),
    st.text(alphabet="abcxyz甲乙%-", min_size=1, max_size=6),
)
NON_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])
NEGATIVE = st.one_of(st.integers(max_value=-1),
                     st.decimals(max_value=Decimal("-0.01"), places=2, allow_nan=False,
                                 allow_infinity=False).map(str))
HUGE = st.one_of(st.integers(min_value=10**16, max_value=10**300),
                 st.sampled_from(["1" + "0" * 17, "9" * 400, "1e999999"]))
TOO_PRECISE = st.sampled_from(["0." + "0" * 20 + "1", "1." + "3" * 25])
BAD_AMOUNT = st.one_of(NOT_NUMBERS, NON_FINITE, NEGATIVE, HUGE, TOO_PRECISE)
BAD_NUMBER = st.one_of(NOT_NUMBERS, NON_FINITE, HUGE, TOO_PRECISE)  # where negatives are fine
BAD_SHARE = st.one_of(
    NOT_NUMBERS, NON_FINITE,
    st.decimals(min_value=Decimal("1.0001"), max_value=10**6, places=4).map(str),
    st.decimals(max_value=Decimal("-0.0001"), min_value=-10**6, places=4).map(str),
    st.integers(min_value=2, max_value=100), st.sampled_from(["101%", "-5%", "150", "NaN%"]),
)
BAD_COUNT = st.one_of(NOT_NUMBERS, NON_FINITE, NEGATIVE, HUGE,
                      st.sampled_from(["1.5", "0.25", "12.1"]))
BAD_BOOLEAN = st.one_of(st.integers(), st.sampled_from(["true", "false", "yes", "是", "1"]),
                        st.lists(st.booleans(), min_size=1, max_size=2))
BAD_YEAR = st.one_of(st.integers(max_value=1989), st.integers(min_value=2101),
                     st.sampled_from(["23", "二〇二三", "2023.0", "2023年", "20x3", "",
                                      "１９９９"]))
BAD_TEXT = st.one_of(st.integers(), st.booleans(), st.lists(st.text(max_size=2), max_size=2),
                     st.sampled_from(["", "   "]))
BAD_FREE_TEXT = st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2),
                          st.dictionaries(st.sampled_from(["x"]), st.integers(), max_size=1))
KNOWN_CHOICES = {*CHAMPION_KINDS, *QUALITY_KINDS, *INCIDENT_KINDS, *INCIDENT_GRADES}
BAD_CHOICE = st.one_of(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_大小", max_size=12)
                       .filter(lambda text: text not in KNOWN_CHOICES), st.integers())
UNKNOWN_KEY = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_营业额", min_size=1, max_size=12)

KINDS = {"amount": BAD_AMOUNT, "number": BAD_NUMBER, "area": st.one_of(BAD_AMOUNT, st.just(0)),
         "share": BAD_SHARE, "count": BAD_COUNT, "employees": st.one_of(BAD_COUNT, st.just(0)),
         "boolean": BAD_BOOLEAN, "year": BAD_YEAR, "text": BAD_TEXT,
         "free_text": BAD_FREE_TEXT, "choice": BAD_CHOICE,
         "date_text": st.one_of(st.integers(max_value=1989), st.integers(min_value=2101),
                                st.booleans(), st.lists(st.integers(), max_size=1),
                                st.sampled_from(["", "  "])),
         "list": st.one_of(st.integers(), st.text(max_size=3), st.dictionaries(
             st.sampled_from(["a"]), st.integers(), max_size=1)),
         "mapping": st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(),
                                                                            max_size=2)),
         "kinds": st.one_of(st.just([]), st.lists(BAD_CHOICE, min_size=1, max_size=2),
                            st.integers(), st.text(max_size=3))}


def remove(raw: Any, path: tuple[Any, ...]) -> Any:
    raw = copy.deepcopy(raw)
    target = raw
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return raw


def mutations(raw: dict[str, Any], targets: list[tuple[tuple[Any, ...], str]],
              required: list[tuple[Any, ...]], objects: list[tuple[Any, ...]],
              year_maps: list[str], known: frozenset[str] = frozenset()
              ) -> st.SearchStrategy[tuple[Any, str]]:
    """(mutated document, path of the field the refusal must name)."""
    wrong_value = st.sampled_from(targets).flatmap(
        lambda target: KINDS[target[1]].map(
            lambda value: (put(raw, target[0], value), path_text(target[0]))))
    missing = st.sampled_from(required).map(lambda path: (remove(raw, path), path_text(path)))
    unknown = st.tuples(st.sampled_from(objects), UNKNOWN_KEY).filter(
        lambda pair: pair[1] not in _lookup(raw, pair[0]) and pair[1] not in known).map(
        lambda pair: (put(raw, (*pair[0], pair[1]), "1"), path_text((*pair[0], pair[1]))))
    bad_year_key = st.tuples(st.sampled_from(year_maps or ["-"]), BAD_YEAR).map(
        lambda pair: (put(raw, (pair[0], str(pair[1])), "1"), f"{pair[0]}.{pair[1]}"))
    choices = [wrong_value, unknown] + ([missing] if required else []) + (
        [bad_year_key] if year_maps else [])
    return st.one_of(*choices)


def _lookup(raw: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        raw = raw[part]
    return raw


def as_file(document: Any, fmt: str) -> tuple[bytes, str]:
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, default=str).encode("utf-8"), "in.json"
    return yaml.safe_dump(document, allow_unicode=True).encode("utf-8"), "in.yaml"


def check_field(error: InvalidInput, expected: str, filename: str) -> None:
    """The refusal names the mutated field (or something inside it), or the file itself when
    the file cannot even be read as numbers (a NaN token, a 400-digit integer)."""
    field = str(error.field)
    assert field == filename or field.startswith(expected) or expected.startswith(field), (
        field, expected, error.message)


# ---------------------------------------------------------------------------- applications
APPLICATION_TARGETS = [
    (("area_km2",), "area"), (("output", "2022"), "amount"),
    (("sme_output_share",), "share"), (("leading_industry_share",), "share"),
    (("industrial_internet_rate",), "share"), (("sme_rd_expense", "2023"), "amount"),
    (("invention_patents", "2021"), "count"), (("employees",), "employees"),
    (("co2_intensity", "2022"), "amount"), (("energy_intensive",), "boolean"),
    (("water_efficiency_above_benchmark",), "boolean"),
    (("champion_enterprises", 0, "name"), "text"), (("champion_enterprises", 0, "kind"), "choice"),
    (("quality_smes", 1, "kinds"), "kinds"), (("incidents", 0, "year"), "year"),
    (("incidents", 0, "kind"), "choice"), (("management_body", "name"), "text"),
    (("management_body", "established"), "date_text"), (("development_plan", "goals"), "list"),
    (("development_plan", "goals", 0), "mapping"), (("narrative", "green"), "free_text"),
    (("development_plan", "goals", 0, "indicator"), "text"),
    (("development_plan", "goals", 1, "unit"), "text"),
    (("development_plan", "goals", 0, "baseline", "value"), "number"),
    (("development_plan", "goals", 2, "target", "year"), "year"),
    (("development_plan", "goals", 3, "text"), "free_text"),
    (("development_plan", "period"), "text"), (("development_plan", "text"), "free_text"),
    (("incidents", 1, "major"), "boolean"), (("incidents", 1, "description"), "free_text"),
    (("output",), "mapping"), (("incidents",), "list"), (("champion_enterprises", 0), "mapping"),
]
APPLICATIONS = mutations(
    RAW_APPLICATION, APPLICATION_TARGETS,
    required=[("champion_enterprises", 0, "name"), ("champion_enterprises", 0, "kind"),
              ("quality_smes", 0, "kinds"), ("incidents", 0, "year"), ("incidents", 0, "kind"),
              ("incidents", 0, "grade"), ("incidents", 1, "major"), ("management_body", "name"),
              ("development_plan", "goals", 0, "baseline", "year"),
              ("development_plan", "goals", 1, "target", "value")],
    objects=[(), ("champion_enterprises", 0), ("incidents", 0), ("management_body",),
             ("development_plan",), ("development_plan", "goals", 0),
             ("development_plan", "goals", 1, "target")],
    year_maps=["output", "sme_rd_expense", "invention_patents", "co2_intensity"],
)


@EXAMPLES
@given(case=APPLICATIONS, fmt=st.sampled_from(["json", "yaml"]), as_update=st.booleans())
def test_hostile_application_files_are_refused(stage: Stage, case: tuple[Any, str], fmt: str,
                                               as_update: bool) -> None:
    """A wrong application (filed with `case create`, or replacing a draft with `case
    update`) is refused naming the field, and nothing is written."""
    document, field = case
    content, name = as_file(document, fmt)

    def file_it() -> None:
        data = load_application_file(content, name)
        if as_update:
            stage.engine.fire(stage.drafted, "update", COUNTY, data=data)
        else:
            stage.engine.create_case(round_year=2024, name="佛山市南海区五金产业集群",
                                     county="佛山市南海区", industry="五金", data=data,
                                     actor=COUNTY)
    check_field(refused(file_it), field, name)
    stage.unchanged()


# ---------------------------------------------------------------------------- reports
REPORT_TARGETS = [
    (("year",), "year"), (("output",), "amount"), (("enterprises",), "count"),
    (("smes",), "count"), (("quality_smes",), "count"), (("champion_enterprises",), "count"),
    (("industrial_internet_rate",), "share"), (("co2_intensity",), "amount"),
    (("sme_rd_expense",), "amount"), (("invention_patents",), "count"),
    (("employees",), "employees"), (("goal_progress",), "list"),
    (("goal_progress", 0), "mapping"), (("goal_progress", 0, "indicator"), "text"),
    (("goal_progress", 1, "actual"), "number"), (("goal_progress", 3, "note"), "free_text"),
    (("plan_execution",), "free_text"), (("experience",), "free_text"),
    (("problems",), "free_text"), (("improvements",), "free_text"),
]
REPORTS = st.one_of(
    mutations(RAW_REPORT, REPORT_TARGETS,
              required=[("goal_progress", 0, "indicator"), ("goal_progress", 2, "actual")],
              objects=[(), ("goal_progress", 1)], year_maps=[], known=frozenset(REPORT_FIELDS)),
    st.sampled_from([2023, 2025, "2023"]).map(lambda year: (put(RAW_REPORT, ("year",), year),
                                                            "year")),
)


@EXAMPLES
@given(case=REPORTS, fmt=st.sampled_from(["json", "yaml"]))
def test_hostile_report_files_are_refused(stage: Stage, case: tuple[Any, str],
                                          fmt: str) -> None:
    """A wrong annual report (`case report --year 2024 --data FILE`), including one that says
    it reports on another year, is refused naming the field, and nothing is written."""
    document, field = case
    content, name = as_file(document, fmt)

    def file_it() -> None:
        stage.engine.fire(stage.recognized, "report", "city:佛山市", year=2024,
                          data=load_application_file(content, name))
    check_field(refused(file_it), field, name)
    stage.unchanged()


# ---------------------------------------------------------------------------- scores
WEIGHTS = full_scores()
RAW_SCORES = dict(WEIGHTS)


def over_weight(key: str) -> st.SearchStrategy[Any]:
    return st.decimals(min_value=Decimal(WEIGHTS[key]) + Decimal("0.01"),
                       max_value=Decimal(WEIGHTS[key]) + 1000, places=2).map(str)


SCORES = st.one_of(
    st.sampled_from(sorted(WEIGHTS)).flatmap(lambda key: st.one_of(
        NOT_NUMBERS, NON_FINITE, NEGATIVE, HUGE, over_weight(key),
        st.sampled_from(["1.001", "0.125"])).map(
        lambda value: (put(RAW_SCORES, (key,), value), f"scores.{key}"))),
    st.sampled_from(sorted(WEIGHTS)).map(lambda key: (remove(RAW_SCORES, (key,)),
                                                      f"scores.{key}")),
    UNKNOWN_KEY.filter(lambda key: key not in WEIGHTS).map(
        lambda key: (put(RAW_SCORES, (key,), 1), f"scores.{key}")),
)


@EXAMPLES
@given(case=SCORES, fmt=st.sampled_from(["json", "yaml"]))
def test_hostile_scores_files_are_refused(stage: Stage, case: tuple[Any, str],
                                          fmt: str) -> None:
    """A wrong scores file (`case score --scores FILE`): a point outside 0 to the indicator's
    weight, more than two decimals, a non-decimal number, a missing or unknown indicator —
    refused naming `scores.<indicator>`, and nothing is written."""
    document, field = case
    content, name = as_file(document, fmt)

    def score_it() -> None:
        stage.engine.fire(stage.recommended, "score", PROVINCE, expert="专家9",
                          scores=load_application_file(content, name))
    check_field(refused(score_it), field, name)
    stage.unchanged()


# ---------------------------------------------------------------------------- calendars
BAD_DAY = st.one_of(
    st.sampled_from(["2027-02-30", "2027-13-01", "2026-12-31", "2028-01-01", "27-01-01",
                     "2027/01/01", "20270101", "2027-1-1", "tomorrow", "", "2027-01-01T00:00"]),
    st.integers(), st.booleans(), st.lists(st.integers(), max_size=1),
    st.fixed_dictionaries({"from": st.just("2027-03-10"), "to": st.just("2027-03-01")}),
    st.fixed_dictionaries({"from": st.just("2027-03-01"), "until": st.just("2027-03-02")}),
    st.fixed_dictionaries({"from": st.just("2027-03-01")}),
)
CALENDARS = st.one_of(
    BAD_DAY.map(lambda day: (put(RAW_CALENDAR, (2027, "holidays", 0), day),
                             "2027.holidays[0]")),
    st.one_of(st.integers(), st.text(max_size=3), st.just([])).map(
        lambda value: (put(RAW_CALENDAR, (2027, "holidays"), value), "2027.holidays")),
    st.sampled_from(["2027-02-22", "2027-01-01", "2027-02-06"]).map(
        lambda day: (put(RAW_CALENDAR, (2027, "workdays", 0), day), "2027.workdays[0]")),
    st.one_of(BAD_TEXT,
              st.sampled_from(["国务院\u202e通知", "来源\x1b[31m", "第一行\n第二行"])).map(
        lambda value: (put(RAW_CALENDAR, (2027, "source"), value), "2027.source")),
    st.sampled_from([1999, 2101, 27, "二〇二七", "2027.5"]).map(
        lambda year: ({year: RAW_CALENDAR[2027]}, str(year))),
    UNKNOWN_KEY.filter(lambda key: key not in ("holidays", "workdays", "source")).map(
        lambda key: (put(RAW_CALENDAR, (2027, key), "1"), f"2027.{key}")),
    st.just((remove(RAW_CALENDAR, (2027, "holidays")), "2027.holidays")),
    st.just((put(RAW_CALENDAR, (2027, "holidays", 1), "2027-01-01"), "2027.holidays[1]")),
)


@EXAMPLES
@given(case=CALENDARS)
def test_hostile_calendar_files_are_refused(stage: Stage, case: tuple[Any, str]) -> None:
    """A wrong holiday arrangement (`calendar import FILE`): an impossible or out-of-year
    date, a backwards range, a make-up day on a weekday, a year out of range, a source with
    control or bidirectional characters — refused naming the entry; nothing is written."""
    document, field = case
    content = yaml.safe_dump(document, allow_unicode=True).encode("utf-8")

    def import_it() -> None:
        stage.engine.import_calendar(content, "calendar.yaml", PROVINCE)
    check_field(refused(import_it), field, "calendar.yaml")
    stage.unchanged()


# ---------------------------------------------------------------------------- settings
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, int) else {
            float("inf"): "inf", float("-inf"): "-inf"}.get(value, "nan" if value != value
                                                             else repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise AssertionError(value)


def toml_text(document: dict[str, Any]) -> str:
    """Settings documents as TOML: top-level tables, one level of sub-tables, [[webhooks]]."""
    lines: list[str] = []

    def table(name: str, body: dict[str, Any]) -> None:
        lines.append(f"[{name}]")
        nested = []
        for key, value in body.items():
            if isinstance(value, dict):
                nested.append((key, value))
            else:
                lines.append(f"{json.dumps(key, ensure_ascii=False)} = {toml_value(value)}")
        for key, value in nested:
            table(f"{name}.{json.dumps(key, ensure_ascii=False)}", value)

    for name, body in document.items():
        if name == "webhooks" and isinstance(body, list):
            for hook in body:
                lines.append("[[webhooks]]")
                lines += [f"{key} = {toml_value(value)}" for key, value in hook.items()]
        elif isinstance(body, dict):
            table(name, body)
        else:
            lines.insert(0, f"{name} = {toml_value(body)}")
    return "\n".join(lines) + "\n"


RAW_SETTINGS: dict[str, Any] = {
    "notices": {"outbox": "outbox", "formats": ["txt"], "issuer": "广东省工业和信息化厅",
                "contact": {"person": "张三", "phone": "020-83133333",
                            "email": "zxqyc@example.gov.cn"},
                "issuers": {"佛山市": "佛山市工业和信息化局"}},
    "smtp": {"host": "smtp.example.gov.cn", "port": 587, "from": "gd@example.gov.cn",
             "starttls": True, "recipients": {"*": ["a@example.gov.cn"]}},
    "webhooks": [{"url": "https://oa.example.gov.cn/hook", "kinds": ["return"]}],
    "delivery": {"max_attempts": 8, "backoff_seconds": 60},
}
#: Every key a settings table knows (an "unknown" key must be none of them).
SETTING_KEYS = frozenset({
    "outbox", "formats", "issuer", "contact", "issuers", "person", "phone", "email", "host",
    "port", "from", "starttls", "ssl", "user", "password_env", "timeout", "recipients", "url",
    "secret_env", "kinds", "max_attempts", "backoff_seconds", "backoff_max_seconds"})
BAD_EMAIL = st.sampled_from(["not-an-email", "a@b", "@example.cn", "a b@c.cn", "a@\u202ec.cn",
                             "a\x1b@b.cn", ""])
BAD_ONE_LINE = st.one_of(BAD_TEXT, st.sampled_from(["广东\u202e厅", "厅\x1b[2J", "第一\n第二",
                                                    "厅\u2066x\u2069", "厅\ud800"]))
SETTINGS = st.one_of(
    BAD_ONE_LINE.map(lambda v: (put(RAW_SETTINGS, ("notices", "issuer"), v), "notices.issuer")),
    BAD_ONE_LINE.map(lambda v: (put(RAW_SETTINGS, ("notices", "outbox"), v), "notices.outbox")),
    BAD_ONE_LINE.map(lambda v: (put(RAW_SETTINGS, ("notices", "contact", "person"), v),
                                "notices.contact.person")),
    BAD_EMAIL.map(lambda v: (put(RAW_SETTINGS, ("notices", "contact", "email"), v),
                             "notices.contact.email")),
    st.one_of(st.just(["ps"]), st.just("txt"), st.lists(st.integers(), min_size=1,
                                                          max_size=2)).map(
        lambda v: (put(RAW_SETTINGS, ("notices", "formats"), v), "notices.formats")),
    st.sampled_from(["火星市", "佛山县", "Foshan"]).map(
        lambda city: (put(RAW_SETTINGS, ("notices", "issuers", city), "某局"),
                      f"notices.issuers.{city}")),
    st.one_of(st.integers(max_value=0), st.integers(min_value=65536), st.just("587"),
              st.just(587.0), st.just(True), NON_FINITE).map(
        lambda v: (put(RAW_SETTINGS, ("smtp", "port"), v), "smtp.port")),
    st.just((remove(RAW_SETTINGS, ("smtp", "host")), "smtp.host")),
    BAD_EMAIL.map(lambda v: (put(RAW_SETTINGS, ("smtp", "from"), v), "smtp.from")),
    st.sampled_from(["火星市", "南海"]).map(
        lambda region: (put(RAW_SETTINGS, ("smtp", "recipients", region), ["a@b.cn"]),
                        f"smtp.recipients.{region}")),
    st.one_of(BAD_EMAIL.map(lambda v: [v]), st.just("a@b.cn")).map(
        lambda v: (put(RAW_SETTINGS, ("smtp", "recipients", "*"), v), "smtp.recipients.*")),
    st.sampled_from(["ftp://x", "javascript:alert(1)", "http//x", "", "https://"]).map(
        lambda v: (put(RAW_SETTINGS, ("webhooks", 0, "url"), v), "webhooks[0].url")),
    st.just((remove(RAW_SETTINGS, ("webhooks", 0, "url")), "webhooks[0].url")),
    st.sampled_from([["nonsense"], "return", [1]]).map(
        lambda v: (put(RAW_SETTINGS, ("webhooks", 0, "kinds"), v), "webhooks[0].kinds")),
    st.one_of(st.integers(max_value=0), st.integers(min_value=101), st.just("8")).map(
        lambda v: (put(RAW_SETTINGS, ("delivery", "max_attempts"), v),
                   "delivery.max_attempts")),
    st.tuples(st.sampled_from([("notices",), ("smtp",), ("delivery",), ("notices", "contact"),
                               ("webhooks", 0)]), UNKNOWN_KEY).filter(
        lambda pair: pair[1] not in SETTING_KEYS).map(
        lambda pair: (put(RAW_SETTINGS, (*pair[0], pair[1]), "x"),
                      path_text((*pair[0], pair[1])))),
)


@EXAMPLES
@given(case=SETTINGS)
def test_hostile_settings_files_are_refused(stage: Stage, tmp_path_factory: Any,
                                            case: tuple[Any, str]) -> None:
    """Wrong notice settings are refused naming the setting — by `load_settings`, and by an
    act that issues a notice (退回补正), which is then not done: nothing is written."""
    document, field = case
    path = Path(tmp_path_factory.mktemp("settings")) / "gdcluster.toml"
    path.write_text(toml_text(document), encoding="utf-8", errors="surrogatepass")
    check_field(refused(lambda: load_settings(path)), field, "settings")
    notifier = attach(stage.engine, path)
    try:
        check_field(refused(lambda: stage.engine.fire(stage.submitted, "return",
                                                      "city:佛山市", reason="缺少证明")),
                    field, "settings")
    finally:
        notifier.detach()
    stage.unchanged()


# ---------------------------------------------------------------------------- whole files
NESTED_JSON = b'{"narrative": ' + b'{"a": ' * 5000 + b'"x"' + b"}" * 5000 + b"}"
NESTED_YAML = b"narrative: " + b"[" * 5000 + b"]" * 5000 + b"\n"
TEN_MB = 10 * 1024 * 1024
FILES = {
    "non-utf8": (b'{"area_km2": "47.8", "narrative": {"x": "\xff\xfe\xc3"}}', "a.json"),
    "latin1": ('{"narrative": {"x": "café"}}'.encode("latin-1"), "a.json"),
    "utf16": ('{"area_km2": "47.8"}'.encode("utf-16"), "a.json"),
    "ten-megabytes-json": (b'{"narrative": {"x": "' + b"a" * TEN_MB + b'"}}', "a.json"),
    "ten-megabytes-yaml": (b"narrative:\n  x: " + b"a" * TEN_MB + b"\n", "a.yaml"),
    "deep-json": (NESTED_JSON, "a.json"),
    "deep-yaml": (NESTED_YAML, "a.yaml"),
    "nan-token": (b'{"area_km2": NaN}', "a.json"),
    "infinity-token": (b'{"area_km2": -Infinity}', "a.json"),
    "huge-integer": (b'{"employees": 1' + b"0" * 5000 + b"}", "a.json"),
    "huge-exponent": (b'{"area_km2": 1e999999999}', "a.json"),
    "alias-bomb": (b"a: &a [x, x]\nb: &b [*a, *a]\nnarrative: {x: *b}\n", "a.yaml"),
    "duplicate-key": (b'{"area_km2": "1", "area_km2": "2"}', "a.json"),
    "not-a-mapping": (b"[1, 2, 3]", "a.json"),
    "yaml-python-tag": (b"narrative: !!python/object/apply:os.system ['true']\n", "a.yaml"),
    "empty": (b"", "a.json"),
}


@pytest.mark.parametrize("key", list(FILES))
@pytest.mark.parametrize("use", ["application", "report", "scores"])
def test_unreadable_files_are_refused(stage: Stage, key: str, use: str) -> None:
    """Files that are not UTF-8 JSON/YAML of sane size and depth — other encodings, 10 MB,
    5,000 levels of nesting, NaN/Infinity tokens, 5,000-digit integers, alias bombs,
    duplicate keys, Python tags — are refused naming the file or the field, for every use of
    the reader, and nothing is written."""
    content, name = FILES[key]

    def use_it() -> None:
        data = load_application_file(content, name)
        if use == "application":
            stage.engine.fire(stage.drafted, "update", COUNTY, data=data)
        elif use == "report":
            stage.engine.fire(stage.recognized, "report", "city:佛山市", year=2024, data=data)
        else:
            stage.engine.fire(stage.recommended, "score", PROVINCE, expert="专家9", scores=data)
    refused(use_it)
    stage.unchanged()


CALENDAR_FILES = {
    "non-utf8": (b"2027:\n  source: \xff\n  holidays: [2027-01-01]\n", "c.yaml"),
    "ten-megabytes": (b"2027:\n  source: x\n  holidays: [" + b"2027-01-01, " * 900_000 + b"]\n",
                      "c.yaml"),
    "deep-yaml": (b"2027: " + b"[" * 5000 + b"]" * 5000 + b"\n", "c.yaml"),
    "deep-toml": (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "c.toml"),
    "alias-bomb": (b"a: &a [1, 1]\nb: &b [*a, *a, *a]\n2027: {holidays: *b}\n", "c.yaml"),
    "toml-nan-source": (b'["2027"]\nsource = nan\nholidays = [2027-01-01]\n', "c.toml"),
    "toml-bad-date": (b'["2027"]\nholidays = [2027-02-30]\n', "c.toml"),
    "toml-year-out-of-range": (b'["2201"]\nholidays = ["2201-01-01"]\n', "c.toml"),
    "json-extension": (b'{"2027": {"holidays": ["2027-01-01"]}}', "c.json"),
    "empty": (b"  \n", "c.yaml"),
}


@pytest.mark.parametrize("key", list(CALENDAR_FILES))
def test_unreadable_calendar_files_are_refused(stage: Stage, key: str) -> None:
    """The calendar reader refuses the same hostile files (size is checked before parsing:
    a 10 MB file is refused at once), and nothing is written."""
    content, name = CALENDAR_FILES[key]
    refused(lambda: stage.engine.import_calendar(content, name, PROVINCE))
    stage.unchanged()


SETTINGS_FILES = {
    "non-utf8": b'[notices]\nissuer = "\xff"\n',
    "ten-megabytes": b'[notices]\nissuer = "' + b"a" * TEN_MB + b'"\n',
    "deep": b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "not-toml": b"[notices\nissuer = \n",
    "notices-not-a-table": b"notices = 5\n",
    "webhooks-not-an-array": b'[webhooks]\nurl = "https://x.cn"\n',
}


@pytest.mark.parametrize("key", list(SETTINGS_FILES))
def test_unreadable_settings_files_are_refused(stage: Stage, tmp_path: Path, key: str) -> None:
    """The settings reader refuses them too, and an act needing a notice is then not done."""
    path = tmp_path / "gdcluster.toml"
    path.write_bytes(SETTINGS_FILES[key])
    refused(lambda: load_settings(path))
    notifier = attach(stage.engine, path)
    try:
        refused(lambda: stage.engine.fire(stage.submitted, "return", "city:佛山市",
                                          reason="缺少证明"))
    finally:
        notifier.detach()
    stage.unchanged()


# ---------------------------------------------------------------------------- arguments
BAD_DATES = st.one_of(
    st.sampled_from(["2024-02-30", "2024-13-01", "2023-02-29", "24-03-01", "2024/03/01",
                     "20240301", "2024-W01-1", "2024-3-1", "１９９９-01-01", "yesterday",
                     "1999-12-31", "2101-01-01", "0001-01-01", "9999-12-31", "2024-03-01T09",
                     " "]),
    st.text(min_size=1, max_size=12).filter(lambda text: not _valid_date(text)),
)  # "" is not among them: an empty --start means "not given"


def _valid_date(text: str) -> bool:
    try:
        return as_date(text, "d") is not None
    except InvalidInput:
        return False


# (click reads numbers with int(), which takes "２０２４" and "2_024" as 2024: the same year,
# so not hostile; the engine's own as_year refuses them)
BAD_YEARS = st.one_of(st.integers(max_value=1999), st.integers(min_value=2101),
                      st.sampled_from(["two thousand", "2024.0", "", "0x7e8", "2024年"]))
BAD_IDS = st.one_of(st.integers(max_value=0), st.integers(min_value=2**31),
                    st.sampled_from(["abc", "1.5", "", "1e3", "0x10", "一"]))
BAD_ACTORS = st.one_of(
    st.sampled_from(["mayor", "province:广东省", "city", "city:火星市", "county:", "county:火星区",
                     "public", "public@", "system:x", "city:佛山市\u202e@张三",
                     "county:南海区@李\x1b[2J四", "province@" + "长" * 300, " ", "@张三",
                     "city:佛山\x00市"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz:@", min_size=1, max_size=12).filter(
        lambda text: text.partition("@")[0].partition(":")[0].strip().lower() not in (
            "province", "system", "public", "city", "county")),
)
BAD_DOC_NOS = st.one_of(
    st.sampled_from(["粤工信服务函[2024]12号", "粤工信服务函〔24〕12号",
                     "粤工信服务函〔2024〕第12号", "粤工信服务函〔2024〕012号",
                     "粤工信服务函〔２０２４〕12号", "〔2024〕12号", "粤工信服务函〔2024〕12",
                     "粤工信服务函（2024）12号", "粤工信服务函〔2024〕0号",
                     "粤工信服务函〔2024〕12号\n", "粤工信\u202e服务函〔2024〕12号", ""]),
    st.text(max_size=20).filter(lambda text: "〔" not in text),
)
BAD_INSTANTS = st.one_of(
    st.sampled_from(["2024-02-30T09:00", "yesterday", "0001-01-01T00:00", "9999-12-31T23:59",
                     "2024-03-01T25:00", "1999-12-31", "２０２４-03-01", ""]),
    st.text(alphabet="0123456789-T:+ ", max_size=10).filter(lambda text: not _instant(text)),
)
BAD_SCORES = st.one_of(NON_DECIMAL_TEXT, st.sampled_from(["sNaN", "-Infinity", "1e999"]))


def _instant(text: str) -> bool:
    try:
        parse_instant(text)
        return True
    except InvalidInput:
        return False


def _click(param: Any, value: Any) -> Any:
    return param.convert(value, None, None)


ARGUMENTS = {
    "date": (BAD_DATES, lambda value: [lambda: _click(DATE, value),
                                       lambda: as_date(value, "start")]),
    "year": (BAD_YEARS, lambda value: [lambda: _click(YEAR, value),
                                       lambda: as_year(value)]),
    "id": (BAD_IDS, lambda value: [lambda: _click(CASE_ID, value)]),
    "select": (BAD_IDS.map(str), lambda value: [lambda: _click(IdList(), value),
                                                lambda: publicity_choice(None, None, [value])]),
    "actor": (BAD_ACTORS, lambda value: [lambda: Actor.parse(value)]),
    "doc-no": (BAD_DOC_NOS, lambda value: [lambda: validate_doc_no(value)]),
    "now": (BAD_INSTANTS, lambda value: [lambda: parse_instant(value)]),
    "min-score": (BAD_SCORES, lambda value: [lambda: publicity_choice(None, value, None)]),
}


@pytest.mark.parametrize("kind", list(ARGUMENTS))
def test_hostile_arguments_are_refused_by_the_parsers(kind: str) -> None:
    """Each argument type the CLI reads (click's converters and the engine's checks behind
    them) refuses impossible, out-of-range and malformed values as bad input (exit 2)."""
    values, checks = ARGUMENTS[kind]

    @settings(max_examples=60, deadline=None)
    @given(value=values)
    def run(value: Any) -> None:
        for check in checks(value):
            with pytest.raises((click.BadParameter, InvalidInput)) as caught:
                check()
            assert getattr(caught.value, "exit_code", 2) == 2
    run()


@pytest.mark.parametrize("value", [0, -1, 2**31, 10**30])
def test_ids_no_database_stores_are_not_found(stage: Stage, value: int) -> None:
    """The engine answers `not found` (exit 2) for ids no database can hold, instead of an
    integer overflow from the driver (exit 1)."""
    for call in (lambda: stage.engine.get(value), lambda: stage.engine.history(value),
                 lambda: stage.engine.fire(value, "submit", COUNTY)):
        with pytest.raises(NotFound):
            call()
    for name in ("offset", "limit"):
        with pytest.raises(InvalidInput, match=name):
            list(stage.engine.list_cases(**{name: 2**63 if value > 0 else -1}))
    stage.unchanged()


RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None})
COMMANDS = {
    "date": lambda v: (["--as", PROVINCE, "round", "open", "2030", "--apply-by", v], "apply-by"),
    "year": lambda v: (["round", "show", "--", str(v)], "YEAR"),
    "id": lambda v: (["case", "show", "--", str(v)], "ID"),
    "select": lambda v: (["--as", PROVINCE, "round", "publicize", "2024", "--select", v],
                         "select"),
    "actor": lambda v: (["--as", v, "case", "submit", "1"], "actor"),
    "doc-no": lambda v: (["--as", PROVINCE, "round", "recognize", "2024", "--doc-no", v],
                         "doc_no"),
    "now": lambda v: (["--now", v, "case", "list"], "now"),
    "min-score": lambda v: (["--as", PROVINCE, "round", "publicize", "2024", "--min-score", v],
                            "min_score"),
}


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_hostile_arguments_through_the_cli(stage: Stage, data: st.DataObject) -> None:
    """A sample of the same values through `gdcluster` itself: exit 2, the option or field
    named on stderr, nothing on stdout, nothing written."""
    kind = data.draw(st.sampled_from(sorted(COMMANDS)))
    value = data.draw(ARGUMENTS[kind][0])
    argv, named = COMMANDS[kind](value)
    result = RUNNER.invoke(cli, ["--db", stage.engine.url, *argv])
    assert result.exit_code == 2, (argv, result.output)
    assert result.stdout == ""
    assert named in result.stderr, result.stderr
    stage.unchanged()


def test_cli_file_options_refuse_hostile_files(stage: Stage, tmp_path: Path) -> None:
    """`--data`, `--scores` and `calendar import` given hostile files through `gdcluster`:
    exit 2, the file or field named, nothing written."""
    nan = tmp_path / "nan.json"
    nan.write_bytes(FILES["nan-token"][0])
    deep = tmp_path / "deep.yaml"
    deep.write_bytes(NESTED_YAML)
    share = tmp_path / "share.json"
    share.write_text(json.dumps(put(RAW_APPLICATION, ("sme_output_share",), "150%")), "utf-8")
    calendar = tmp_path / "c.yaml"
    calendar.write_bytes(CALENDAR_FILES["deep-yaml"][0])
    runs = [
        (["--as", COUNTY, "case", "update", str(stage.drafted), "--data", str(nan)], "area_km2"),
        (["--as", COUNTY, "case", "update", str(stage.drafted), "--data", str(share)],
         "sme_output_share"),
        (["--as", PROVINCE, "case", "score", str(stage.recommended), "--expert", "专家9",
          "--scores", str(deep)], "deep.yaml"),
        (["--as", "city:佛山市", "case", "report", str(stage.recognized), "--year", "2024",
          "--data", str(nan)], "area_km2"),
        (["--as", PROVINCE, "calendar", "import", str(calendar)], "c.yaml"),
    ]
    for argv, named in runs:
        result = RUNNER.invoke(cli, ["--db", stage.engine.url, "--now", "2025-03-20T10:00",
                                     *argv])
        assert result.exit_code == 2, (argv, result.output)
        assert named in result.stderr and result.stdout == ""
    stage.unchanged()


# ---------------------------------------------------------------------------- issue 15, 2/4/6
#: (file content, file name, field it must name): impossible YAML dates anywhere (unknown keys
#: included), exponent and underscore numbers. Each was "unexpected ValueError" (exit 1) or
#: accepted.
APPLICATION_TOKENS = [
    (b"area_km2: 2024-02-30\n", "a.yaml", "area_km2"),
    (b"area_km2: 0000-01-01\n", "a.yaml", "area_km2"),
    (b"area_km2: 2024-01-01T10:00:00+99:00\n", "a.yaml", "area_km2"),
    (b"colour: 2024-02-30\n", "a.yaml", "colour"),
    (b"management_body: {name: X, boss: 2024-02-30}\n", "a.yaml", "management_body.boss"),
    (b'{"area_km2": 4.78e1}', "a.json", "area_km2"),
    (b'{"area_km2": 4.78e+1}', "a.json", "area_km2"),
    (b"employees: 86_000\n", "a.yaml", "employees"),
    (b"area_km2: 4_7.8\n", "a.yaml", "area_km2"),
]
REPORT_TOKENS = [
    (b"year: 2024\noutput: 2024-02-30\n", "r.yaml", "output"),
    (b"year: 2024\nremarks: 0000-01-01\n", "r.yaml", "remarks"),
    (b"year: 2024\nplan_execution: 2024-01-01T00:00:00+99:00\n", "r.yaml", "plan_execution"),
    (b'{"year": 2024, "output": 2.216e2}', "r.json", "output"),
    (b"year: 2024\nemployees: 88_500\n", "r.yaml", "employees"),
]


def scores_with(key: str, written: str, fmt: str) -> bytes:
    """A complete scores file with ``key`` written as the raw token ``written``."""
    lines = [(name, str(points)) for name, points in full_scores().items() if name != key]
    lines.append((key, written))
    if fmt == "json":
        return ("{" + ", ".join(f'"{name}": {value}' for name, value in lines) + "}").encode()
    return "".join(f"{name}: {value}\n" for name, value in lines).encode()


SCORE_TOKENS = [
    (scores_with("digital", "2024-02-30", "yaml"), "s.yaml", "scores.digital"),
    (scores_with("colour", "0000-01-01", "yaml"), "s.yaml", "scores.colour"),
    (scores_with("digital", "1.2e1", "json"), "s.json", "scores.digital"),
    (scores_with("digital", "1_2", "yaml"), "s.yaml", "scores.digital"),
]
#: control and bidirectional characters in the text of applications and reports
TEXTS = ["\x00", "\x07", "\u202e"]
APPLICATION_TEXT_PATHS = [("management_body", "name"), ("champion_enterprises", 0, "name"),
                          ("quality_smes", 0, "name"), ("narrative", "green"),
                          ("incidents", 0, "description"),
                          ("development_plan", "goals", 0, "indicator"),
                          ("development_plan", "goals", 1, "text")]
REPORT_TEXT_PATHS = [("plan_execution",), ("experience",), ("problems",), ("improvements",),
                     ("goal_progress", 0, "indicator"), ("goal_progress", 3, "note")]


def text_cases() -> list[Any]:
    cases = []
    for character in TEXTS:
        for path in APPLICATION_TEXT_PATHS:
            content = json.dumps(put(RAW_APPLICATION, path, f"示例{character}名称"),
                                 ensure_ascii=False).encode("utf-8")
            cases.append(pytest.param("application", content, "a.json", path_text(path),
                                      id=f"application-{path_text(path)}-U+{ord(character):04X}"))
        for path in REPORT_TEXT_PATHS:
            content = json.dumps(put(RAW_REPORT, path, f"示例{character}文字"),
                                 ensure_ascii=False).encode("utf-8")
            cases.append(pytest.param("report", content, "r.json", path_text(path),
                                      id=f"report-{path_text(path)}-U+{ord(character):04X}"))
    return cases


FILE_CASES = [
    *(pytest.param("application", *case, id=f"application-{case[2]}-{index}")
      for index, case in enumerate(APPLICATION_TOKENS)),
    *(pytest.param("report", *case, id=f"report-{case[2]}-{index}")
      for index, case in enumerate(REPORT_TOKENS)),
    *(pytest.param("scores", *case, id=f"scores-{case[2]}-{index}")
      for index, case in enumerate(SCORE_TOKENS)),
    *text_cases(),
]


def _file_it(stage: Stage, use: str, data: Any, *, create: bool = False) -> None:
    if use == "application" and create:
        stage.engine.create_case(round_year=2024, name="佛山市南海区五金产业集群",
                                 county="佛山市南海区", industry="五金", data=data, actor=COUNTY)
    elif use == "application":
        stage.engine.fire(stage.drafted, "update", COUNTY, data=data)
    elif use == "report":
        stage.engine.fire(stage.recognized, "report", "city:佛山市", year=2024, data=data)
    else:
        stage.engine.fire(stage.recommended, "score", PROVINCE, expert="专家9", scores=data)


@pytest.mark.parametrize(("use", "content", "name", "field"), FILE_CASES)
def test_tokens_and_hidden_characters_are_refused_naming_the_field(
        stage: Stage, use: str, content: bytes, name: str, field: str) -> None:
    """Issue 15 (2, 4, 6) through the functions the CLI calls: the file reader, then the
    engine. An impossible YAML date anywhere, an exponent or underscore number, or a control
    or bidi character in any text of an application or report is InvalidInput (exit 2) naming
    the field; nothing is written."""
    for create in ((False, True) if use == "application" else (False,)):
        with pytest.raises(InvalidInput) as caught:
            _file_it(stage, use, load_application_file(content, name), create=create)
        assert caught.value.field == field and caught.value.exit_code == 2
    stage.unchanged()


CLI_USES = {
    "application": lambda stage, path: ["--as", COUNTY, "case", "update", str(stage.drafted),
                                        "--data", path],
    "create": lambda stage, path: ["--as", COUNTY, "case", "create", "--round", "2024",
                                   "--name", "佛山市南海区五金产业集群", "--county", "佛山市南海区",
                                   "--industry", "五金", "--data", path],
    "report": lambda stage, path: ["--as", "city:佛山市", "case", "report",
                                   str(stage.recognized), "--year", "2024", "--data", path],
    "scores": lambda stage, path: ["--as", PROVINCE, "case", "score", str(stage.recommended),
                                   "--expert", "专家9", "--scores", path],
}


@pytest.mark.parametrize(("use", "content", "name", "field"), FILE_CASES)
def test_tokens_and_hidden_characters_through_the_cli(
        stage: Stage, tmp_path: Path, use: str, content: bytes, name: str, field: str) -> None:
    """The same files through `gdcluster case create/update --data`, `case report --data` and
    `case score --scores`: exit 2 (never 1) with the field's path on stderr; nothing written,
    and no refused character echoed."""
    path = tmp_path / name
    path.write_bytes(content)
    for command in (("application", "create") if use == "application" else (use,)):
        argv = CLI_USES[command](stage, str(path))
        result = RUNNER.invoke(cli, ["--db", stage.engine.url, "--now", "2025-03-20T10:00",
                                     *argv])
        assert result.exit_code == 2, (argv, result.output)
        assert result.stderr.startswith(f"Error: {field}: "), result.stderr
        assert not any(character in result.output for character in TEXTS)
    stage.unchanged()


def test_the_unmutated_files_are_accepted(stage: Stage, tmp_path: Path) -> None:
    """The documents the strategies start from pass the very same path: each refusal above
    is about the mutation, not the path (and the database then changes, as it should)."""
    for raw, fmt in ((RAW_APPLICATION, "json"), (RAW_APPLICATION, "yaml")):
        content, name = as_file(raw, fmt)
        stage.engine.fire(stage.drafted, "update", COUNTY,
                          data=load_application_file(content, name))
    content, name = as_file(RAW_REPORT, "yaml")
    stage.engine.fire(stage.recognized, "report", "city:佛山市", year=2024,
                      data=load_application_file(content, name))
    content, name = as_file(RAW_SCORES, "json")
    stage.engine.fire(stage.recommended, "score", PROVINCE, expert="专家9",
                      scores=load_application_file(content, name))
    stage.engine.import_calendar(yaml.safe_dump(RAW_CALENDAR).encode(), "c.yaml", PROVINCE)
    settings_file = tmp_path / "gdcluster.toml"
    settings_file.write_text(toml_text(RAW_SETTINGS), "utf-8")
    assert load_settings(settings_file).smtp is not None
    stage.before = take_snapshot(stage.engine)
