"""`gdcluster todo`: what waits for each administrator — cases awaiting an act of their role
(derived from workflow.toml, states added there included), objections to resolve, deadlines
due soon with overdue ones first — scoped to the actor's city or county, on SQLite and
PostgreSQL, through the engine and the CLI (readable by a read-only user)."""

from __future__ import annotations

import json
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import CITY, PROVINCE, Walker

from gdcluster.cli import cli
from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.store import Store
from gdcluster.engine.todo import DEADLINE_TODOS, DeadlineTodo, todo, waiting_rules
from gdcluster.states.workflow import parse_workflow

WORKFLOW_TOML = Path(__file__).parent.parent / "states" / "workflow.toml"
NANHAI = "county:佛山市南海区@李四"


def build(engine: Engine, walker: Walker, clock: FakeClock) -> dict[str, int]:
    """南海: a draft, a submitted case, a returned one (correction deadline); 天河 (广州): a
    city-reviewed case; 顺德: an expert-reviewed case and a publicized one with an objection."""
    ids = {
        "draft": walker.create("南海草稿产业集群", "佛山市南海区"),
        "submitted": walker.create("南海申报产业集群", "佛山市南海区"),
        "returned": walker.create("南海补正产业集群", "佛山市南海区"),
        "tianhe": walker.create("天河软件产业集群", "广州市天河区"),
        "reviewed": walker.create("顺德评审产业集群", "佛山市顺德区"),
        "publicized": walker.create("顺德公示产业集群", "佛山市顺德区"),
    }
    for key in ("submitted", "returned", "tianhe", "reviewed", "publicized"):
        walker.step(ids[key], "submit")
    engine.fire(ids["returned"], "return", CITY, reason="补充产值证明", due="2024-03-08")
    for key in ("tianhe", "reviewed", "publicized"):
        walker.step(ids[key], "review")
    for key in ("reviewed", "publicized"):
        for step in ("recommend", "scores", "expert_review"):
            walker.step(ids[key], step)
    walker.step(ids["publicized"], "publicize")
    engine.fire(ids["publicized"], "object", "public@王五", name="王五", contact="138",
                evidence="产值数据与统计不符")
    return ids


def test_each_role_sees_the_cases_waiting_for_its_act(engine: Engine, walker: Walker,
                                                     clock: FakeClock) -> None:
    """County, city and province each see their own waiting cases with what to do; a city
    never sees another city's case; the province sees the open objection and can narrow its
    list by city and county."""
    ids = build(engine, walker, clock)
    county = engine.todo(NANHAI)
    assert {line.case_id: line.triggers for line in county.acts} == {
        ids["draft"]: ["submit"], ids["returned"]: ["submit"]}
    assert county.objections == []

    city = engine.todo(CITY)
    assert {line.case_id for line in city.acts} == {ids["submitted"]}
    assert city.acts[0].what == "退回补正 / 资格初审通过"
    assert engine.todo("city:广州市").acts[0].case_id == ids["tianhe"]
    assert engine.todo("city:广州市").acts[0].triggers == ["recommend"]

    province = engine.todo(PROVINCE)
    assert {line.case_id: line.triggers for line in province.acts} == {
        ids["reviewed"]: ["publicize"]}
    assert [(line.case_id, line.objection) for line in province.objections] == [
        (ids["publicized"], engine.get(ids["publicized"]).objections[0]["id"])]
    assert engine.todo(PROVINCE, city="广州市").objections == []
    assert engine.todo(PROVINCE, county="顺德区").objections != []
    assert engine.todo(PROVINCE, county="南海区", city="佛山市").acts == []


def test_deadlines_due_within_n_days_overdue_first(engine: Engine, walker: Walker,
                                                  clock: FakeClock) -> None:
    """The returned case's 补正 deadline is the county's (and its city's) to-do, shown when due
    within --within days, marked overdue once passed and listed before later ones."""
    ids = build(engine, walker, clock)
    clock.set("2024-03-01T10:00")
    assert engine.todo(NANHAI, within=3).deadlines == []
    soon = engine.todo(NANHAI, within=7).deadlines
    assert [(line.case_id, line.kind, line.overdue) for line in soon] == [
        (ids["returned"], "correction_due", False)]
    assert soon[0].what.startswith("退回补正")
    assert [line.case_id for line in engine.todo(CITY).deadlines] == [ids["returned"]]
    assert engine.todo("city:广州市").deadlines == []
    assert engine.todo(PROVINCE).deadlines == []  # the county's work, not the province's

    clock.set("2024-03-09T09:00")
    overdue = engine.todo(NANHAI, within=0).deadlines
    assert [(line.case_id, line.overdue) for line in overdue] == [(ids["returned"], True)]


def test_a_passed_deadline_awaits_a_decision_while_its_case_stays(engine: Engine,
                                                                   walker: Walker,
                                                                   clock: FakeClock) -> None:
    """A table row with ``after`` states (as the hearing's end is: 拟撤销 awaiting the
    province's decision) lists a case once its deadline has passed and while the case is
    still in one of those states — here a publicity whose end has passed, not yet closed —
    and never before, nor for other roles."""
    ids = build(engine, walker, clock)
    table = (DeadlineTodo("publicity_end", ("province",), "公示期满：关闭公示",
                          after=("publicized",)),)
    store: Store = engine.store
    end = engine.get(ids["publicized"]).publicity_end
    assert end is not None
    during = todo(store, PROVINCE, clock.now(), table=table)
    assert during.awaiting == [] and during.deadlines == []
    clock.set(f"{end.isoformat()}T23:59:59")
    assert todo(store, PROVINCE, clock.now(), table=table).awaiting == []
    clock.set(f"{(end + timedelta(days=1)).isoformat()}T09:00")
    after = todo(store, PROVINCE, clock.now(), table=table).awaiting
    assert [(line.case_id, line.kind, line.overdue) for line in after] == [
        (ids["publicized"], "publicity_end", True)]
    assert todo(store, CITY, clock.now(), table=table).awaiting == []
    engine.fire(ids["publicized"], "resolve", PROVINCE, objection=1, when="dismiss",
                reason="经核查，异议不成立")
    if engine.get(ids["publicized"]).state == "publicized":  # dismissing may close it
        engine.fire(ids["publicized"], "close_publicity", PROVINCE)
    assert engine.get(ids["publicized"]).state == "publicity_closed"
    assert todo(store, PROVINCE, clock.now(), table=table).awaiting == []


def test_states_added_to_the_workflow_show_up_without_a_change() -> None:
    """A state another part of the workflow adds (拟撤销 with its decision rows) is waiting for
    the province as soon as the table has it; acts shared with the timer, acts that leave the
    case where it is and acts that end it (reject, withdraw) are not waiting work."""
    data = tomllib.loads(WORKFLOW_TOML.read_text("utf-8"))  # the shipped table has it now
    assert "revocation_proposed" in {state["name"] for state in data["states"]}
    workflow = parse_workflow(data)
    province = waiting_rules(workflow, "province")
    # revoke is shared with the timer (where the policy lets it decide): maintain is the
    # province's own row; the decision awaited shows through the hearing_end deadline
    assert [rule.trigger for rule in province["revocation_proposed"]] == ["maintain"]
    assert "recognized" not in province  # propose_revocation is shared with the timer
    assert "publicized" not in province  # close_publicity: the timer's at 24:00
    county = waiting_rules(workflow, "county")
    assert [rule.trigger for rule in county["drafted"]] == ["submit"]  # withdraw ends a case
    assert all(rule.dest != "=" for rules in county.values() for rule in rules)


def test_every_deadline_todo_names_roles_it_knows() -> None:
    assert all(entry.roles and set(entry.roles) <= {"province", "city", "county"}
               for entry in DEADLINE_TODOS)
    assert len({entry.kind for entry in DEADLINE_TODOS}) == len(DEADLINE_TODOS)


def test_todo_refuses_actors_without_a_list_and_bad_days(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as refused:
        engine.todo("public@王五")
    assert refused.value.field == "actor"
    with pytest.raises(InvalidInput) as refused:
        engine.todo(CITY, within=-1)
    assert refused.value.field == "within"


RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None})


def test_cli_todo_prints_sections_and_json(db_url: str, engine: Engine, walker: Walker,
                                           clock: FakeClock) -> None:
    """`todo` prints the waiting cases with the command that does each; `--json` has the
    sections with codes; an actor with nothing to do is told so."""
    ids = build(engine, walker, clock)
    now = "2024-03-01T10:00"
    result = RUNNER.invoke(cli, ["--db", db_url, "--as", CITY, "--now", now, "todo"])
    assert result.exit_code == 0, result.output
    assert "南海申报产业集群" in result.stdout and "已申报" in result.stdout
    assert f"gdcluster case review {ids['submitted']}" in result.stdout
    assert "南海补正产业集群" in result.stdout  # its correction deadline
    result = RUNNER.invoke(cli, ["--db", db_url, "--as", PROVINCE, "--now", now, "--json",
                                 "todo", "--city", "佛山市"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [line["case_id"] for line in data["objections"]] == [ids["publicized"]]
    assert [(line["case_id"], line["state"]) for line in data["acts"]] == [
        (ids["reviewed"], "expert_reviewed")]
    result = RUNNER.invoke(cli, ["--db", db_url, "--as", "county:广州市越秀区", "--now", now,
                                 "todo"])
    assert result.exit_code == 0 and "nothing waits for county:广州市越秀区" in result.stdout
    result = RUNNER.invoke(cli, ["--db", db_url, "--as", PROVINCE, "todo", "--city", "火星市"])
    assert result.exit_code == 2 and "火星市" in result.stderr
