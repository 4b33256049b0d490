"""`case list` filters (county, industry, name, pending deadlines, validity) and states named
by code, hyphen form or Chinese label, in the engine's one streamed statement and in the CLI
with its csv/xlsx exports, on SQLite and PostgreSQL; the list's columns line up by display
width."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pg_support import pg_url_or_skip, schema_url
from sqlalchemy import event
from support import PROVINCE, Walker

from gdcluster.cli import cli
from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock, end_of_day
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.text import display_width

DATA = Path(__file__).parent / "data"

# 1 南海 drafted, industry 灯饰照明     2 顺德 recognized (valid 2024-10-12 – 2027-10-11)
# 3 天河 city_reviewed, a name with LIKE wildcards     4 南海 publicized (ends 2024-10-11 24:00)
NAMES = {1: "南海LED照明产业集群", 2: "顺德家电产业集群", 3: "天河软件_100%集群",
         4: "南海铝型材产业集群"}


def build(engine: Engine, clock: FakeClock) -> None:
    from gdcluster.engine.application import load_application_file

    path = DATA / "application-complete.json"
    walker = Walker(engine, clock, load_application_file(path.read_bytes(), path.name))
    walker.open_round()
    assert walker.create(NAMES[1], "佛山市南海区") == 1
    with engine.store.write() as session:  # another industry than the walker's 铝型材
        from gdcluster.engine.models import Case

        session.get(Case, 1).industry = "灯饰照明"
    assert walker.create(NAMES[2], "佛山市顺德区") == 2
    assert walker.create(NAMES[3], "广州市天河区") == 3
    assert walker.create(NAMES[4], "佛山市南海区") == 4
    for step in ("submit", "review"):
        for case_id in (2, 3, 4):
            walker.step(case_id, step)
    for step in ("recommend", "scores", "expert_review", "publicize"):
        for case_id in (2, 4):
            walker.step(case_id, step)
    walker.step(2, "close_publicity")
    walker.step(2, "recognize")
    assert [engine.get(n).state for n in NAMES] == [
        "drafted", "recognized", "city_reviewed", "publicized"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def listed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:
    """The four cases above, built once per back-end and only read by the tests."""
    def opened(url: str) -> Iterator[Engine]:
        clock = FakeClock("2024-03-01T09:00:00")
        engine = Engine.init(url, simulation=True, clock=clock)
        try:
            build(engine, clock)
            yield engine
        finally:
            engine.close()

    if request.param == "sqlite":
        yield from opened(f"sqlite:///{tmp_path_factory.mktemp('list') / 'gdcluster.db'}")
    else:
        with schema_url(pg_url_or_skip()) as url:
            yield from opened(url)


FILTERS: list[tuple[str, dict[str, Any], list[int]]] = [
    ("no-filter", {}, [1, 2, 3, 4]),
    ("state-code", {"state": "city_reviewed"}, [3]),
    ("state-hyphen", {"state": "city-reviewed"}, [3]),
    ("state-upper-case", {"state": "CITY_REVIEWED"}, [3]),
    ("state-label", {"state": "已通过资格初审"}, [3]),
    ("state-label-spaced", {"state": " 已认定　"}, [2]),
    ("state-label-publicized", {"state": "公示中"}, [4]),
    ("county-full", {"county": "佛山市南海区"}, [1, 4]),
    ("county-short", {"county": "南海区"}, [1, 4]),
    ("county-in-its-city", {"city": "佛山", "county": "顺德区"}, [2]),
    ("county-and-state", {"county": "南海区", "state": "草稿"}, [1]),
    ("industry-exact", {"industry": "灯饰照明"}, [1]),
    ("industry-trimmed", {"industry": " 铝型材 "}, [2, 3, 4]),
    ("industry-part-is-not-enough", {"industry": "灯饰"}, []),
    ("name-part", {"name": "南海"}, [1, 4]),
    ("name-ascii-any-case", {"name": "led"}, [1]),
    ("name-ascii-upper", {"name": "LED照明"}, [1]),
    ("name-percent-is-literal", {"name": "%"}, [3]),
    ("name-underscore-is-literal", {"name": "_1"}, [3]),
    ("name-wildcards-literal", {"name": "软件_100%"}, [3]),
    ("name-none", {"name": "陶瓷"}, []),
    ("due-before-publicity-end-day", {"due_before": "2024-10-11"}, [4]),
    ("due-before-the-day-before", {"due_before": "2024-10-10"}, []),
    ("due-before-as-date", {"due_before": date(2024, 10, 11)}, [4]),
    ("valid-until-before-its-day", {"valid_until_before": "2027-10-11"}, [2]),
    ("valid-until-before-the-day-before", {"valid_until_before": "2027-10-10"}, []),
    ("valid-until-after-its-day", {"valid_until_after": "2027-10-11"}, [2]),
    ("valid-until-after-the-day-after", {"valid_until_after": "2027-10-12"}, []),
    ("valid-until-span", {"valid_until_after": "2027-01-01",
                          "valid_until_before": "2027-12-31"}, [2]),
    ("round-and-county", {"round_year": 2024, "county": "天河区"}, [3]),
    ("paged", {"county": "南海区", "limit": 1, "offset": 1}, [4]),
]


@pytest.mark.parametrize(("filters", "expected"), [item[1:] for item in FILTERS],
                         ids=[item[0] for item in FILTERS])
def test_list_filters(listed: Engine, filters: dict[str, Any], expected: list[int]) -> None:
    """Each filter, alone and together with others, selects exactly these cases, in id
    order."""
    assert [view.id for view in listed.list_cases(**filters)] == expected


@pytest.mark.parametrize("day", ["2024-10-11", "2025-02-28", "2025-03-01", "2025-03-31",
                                 "2025-04-01", "2027-10-11", "2030-01-01"])
def test_due_before_matches_the_pending_deadlines(listed: Engine, day: str) -> None:
    """--due-before D lists the cases with a pending deadline due by 24:00 of D, as each
    case's own deadlines say (an oracle read through `case show`)."""
    cutoff = end_of_day(date.fromisoformat(day))
    expected = [case_id for case_id in NAMES
                if any(row["status"] == "pending" and _instant(row["due_at"]) <= cutoff
                       for row in listed.get(case_id).deadlines)]
    assert [view.id for view in listed.list_cases(due_before=day)] == expected


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_due_before_is_settled_deadlines_excluded(listed: Engine) -> None:
    """The recognized case's publicity deadline was settled when its publicity closed: a day
    that only it would match lists the publicized case alone."""
    recognized = listed.get(2).deadlines
    assert any(row["kind"] == "publicity_end" and row["status"] != "pending"
               for row in recognized)
    assert [view.id for view in listed.list_cases(due_before="2024-10-11")] == [4]


def test_list_filters_are_one_statement(listed: Engine) -> None:
    """All filters at once are applied by one SELECT (the deadline test as EXISTS), streamed."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        statements.append(text)

    sa_engine = listed.store.engine
    event.listen(sa_engine, "before_cursor_execute", seen)
    try:
        views = list(listed.list_cases(state="公示中", city="佛山市", county="南海区",
                                       industry="铝型材", name="铝型", due_before="2025-01-01",
                                       round_year=2024))
    finally:
        event.remove(sa_engine, "before_cursor_execute", seen)
    assert [view.id for view in views] == [4]
    selects = [text for text in statements if text.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "EXISTS" in selects[0].upper()


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("state-unknown", {"state": "已申请"}, "state", "submitted（已申报）"),
    ("state-empty", {"state": " "}, "state", "city_reviewed（已通过资格初审）"),
    ("state-not-text", {"state": 3}, "state", "must be text"),
    ("county-unknown", {"county": "火星区"}, "county", "火星区"),
    ("county-of-another-city", {"city": "广州市", "county": "南海区"}, "county", "佛山市"),
    ("city-unknown", {"city": "纽约"}, "city", "纽约"),
    ("industry-blank", {"industry": "  "}, "industry", "required"),
    ("name-blank", {"name": ""}, "name", "required"),
    ("name-line-break", {"name": "南\n海"}, "name", "line break"),
    ("due-before-not-a-date", {"due_before": "2024-13-01"}, "due_before", "ISO date"),
    ("due-before-a-time", {"due_before": datetime(2024, 10, 1)}, "due_before", "date-time"),
    ("valid-until-outside-years", {"valid_until_after": "1999-01-01"}, "valid_until_after",
     "outside"),
    ("valid-until-span-reversed", {"valid_until_after": "2028-01-01",
                                   "valid_until_before": "2027-01-01"}, "valid_until_after",
     "later than"),
    ("round-not-a-year", {"round_year": "twenty"}, "round", "not a year"),
]


@pytest.mark.parametrize(("filters", "field", "says"), [item[1:] for item in BAD],
                         ids=[item[0] for item in BAD])
def test_bad_filters_are_refused_naming_the_field(listed: Engine, filters: dict[str, Any],
                                                  field: str, says: str) -> None:
    """A bad filter is bad input (exit 2) naming the field, raised before any case is
    listed; an unknown state lists the valid ones, code and label."""
    with pytest.raises(InvalidInput) as caught:
        next(listed.list_cases(**filters))
    assert caught.value.field == field
    assert says in caught.value.message


@pytest.mark.parametrize(("given", "trigger"), [
    ("return", "return"), ("退回补正", "return"), ("Return", "return"),
    ("expert-review", "expert_review"), ("完成专家评审", "expert_review"),
])
def test_fire_takes_a_trigger_by_code_hyphen_form_or_label(walker: Walker, given: str,
                                                          trigger: str) -> None:
    """Engine.fire takes a trigger as code, hyphen form or the Chinese label of its row;
    the audit row records the code."""
    engine = walker.engine
    if trigger == "return":
        case_id = walker.to("submitted")
        engine.fire(case_id, given, "city:佛山市", reason="补充2023年产值证明")
    else:
        case_id = walker.to("recommended")
        walker.step(case_id, "scores")
        engine.fire(case_id, given, PROVINCE)
    assert engine.history(case_id)[-1]["trigger"] == trigger


@pytest.mark.parametrize("given", ["提交", "create", "revoke_all", ""])
def test_fire_refuses_an_unknown_trigger_listing_the_valid_ones(walker: Walker,
                                                                given: str) -> None:
    """An unknown trigger (or one no case can be sent, like create) is bad input listing the
    valid triggers with their labels."""
    case_id = walker.to("drafted")
    with pytest.raises(InvalidInput) as caught:
        walker.engine.fire(case_id, given, "county:佛山市南海区")
    assert caught.value.field == "trigger"
    assert "submit（提交申报）" in caught.value.message
    assert "create（" not in caught.value.message


# --------------------------------------------------------------------------------- the CLI
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})


def gd(engine: Engine, *args: Any) -> Any:
    return RUNNER.invoke(cli, ["--db", engine.url, *map(str, args)], catch_exceptions=False)


def test_cli_list_filters_and_aligned_columns(listed: Engine) -> None:
    """The CLI passes each filter; the human list's columns line up by display width
    (city_reviewed（已通过资格初审） included), whatever the states and units listed."""
    result = gd(listed, "case", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "city_reviewed（已通过资格初审）" in lines[2]
    starts = set()
    for line, case_id in zip(lines, NAMES, strict=True):
        before_name = line[:line.index(NAMES[case_id])]
        starts.add((display_width(before_name), display_width(line[:line.index(" 2024 ")])))
    assert len(starts) == 1, lines
    args = ["--county", "南海区", "--industry", "铝型材", "--name", "铝", "--state", "公示中",
            "--due-before", "2024-10-11", "--round", "2024"]
    listed_json = json.loads(gd(listed, "case", "list", *args, "--json").stdout)
    assert [case["id"] for case in listed_json] == [4]
    validity = json.loads(gd(listed, "case", "list", "--valid-until-after", "2027-10-11",
                             "--valid-until-before", "2027-10-11", "--json").stdout)
    assert [case["id"] for case in validity] == [2]


@pytest.mark.parametrize(("args", "says"), [
    (["--state", "已申请"], "valid states: drafted（草稿）, submitted（已申报）"),
    (["--county", "火星区"], "county"),
    (["--due-before", "2024-02-30"], "not a date"),
    (["--valid-until-after", "2028-01-01", "--valid-until-before", "2027-01-01"],
     "later than"),
])
def test_cli_bad_filter_exits_2(listed: Engine, args: list[str], says: str) -> None:
    """A bad filter exits 2 with the reason (the valid states, code and label, for an
    unknown state), and prints no case."""
    result = gd(listed, "case", "list", *args)
    assert result.exit_code == 2
    assert says in result.stderr
    assert result.stdout == ""


def test_cli_list_exports_apply_the_filters(listed: Engine, tmp_path: Path) -> None:
    """csv and xlsx exports of `case list` hold exactly the filtered cases."""
    from openpyxl import load_workbook

    piped = gd(listed, "case", "list", "--county", "南海区", "--name", "LED", "--format", "csv")
    assert piped.exit_code == 0, piped.output
    rows = list(csv.reader(io.StringIO(piped.stdout_bytes.decode("utf-8-sig"), newline="")))
    assert [row[0] for row in rows[1:]] == ["1"]
    target = tmp_path / "due.xlsx"
    written = gd(listed, "case", "list", "--due-before", "2024-10-11", "--format", "xlsx",
                 "-o", target)
    assert written.exit_code == 0, written.output
    sheet = load_workbook(target).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [4]
    bad = gd(listed, "case", "list", "--state", "nothing", "--format", "xlsx", "-o",
             tmp_path / "bad.xlsx")
    assert bad.exit_code == 2 and not (tmp_path / "bad.xlsx").exists()


def test_a_label_shared_by_two_triggers_names_neither() -> None:
    """Where two triggers share a label, the label is refused as ambiguous, naming both
    codes; their codes still work."""
    import tomllib
    from importlib import resources

    from gdcluster.states.workflow import UnknownName, parse_workflow

    text = resources.files("gdcluster.states").joinpath("workflow.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data["transitions"].append({"trigger": "flag", "label": "退回补正", "sources": ["submitted"],
                                "dest": "=", "actors": ["city"], "article": "x"})
    workflow = parse_workflow(data)
    with pytest.raises(UnknownName, match="several triggers: return, flag") as caught:
        workflow.trigger_named("退回补正")
    assert caught.value.ambiguous == ("return", "flag")
    assert workflow.trigger_named("flag") == "flag"
    assert workflow.trigger_named("Return") == "return"
