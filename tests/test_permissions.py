"""Issue 6 §4, permissions: a matrix of every (actor kind, region relation, trigger, state),
generated from ``states/workflow.toml`` (``load_workflow()``), on SQLite and PostgreSQL.

An act is allowed exactly where the table allows it. Every refusal exits 4 (permission) or 3
(wrong state), writes nothing but its refused-attempt record, and that record (and the message)
names who tried what. Refused attempts run on one shared case per state; allowed acts run on
fresh cases, so the shared ones stay as they were (which the last test checks table by table).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from hardening_support import (
    APPLICATION_FILE,
    DATA,
    PROVINCE,
    Snapshot,
    backend,
    fresh_url,
    load_application,
    module_db_url,
    snapshot,
)
from sqlalchemy import select
from support import (
    PATHS,
    TIMES,
    Walker,
    at_least,
    ensure_calendar,
    full_scores,
    review_data,
    rule_for,
)

from gdcluster.cli import cli
from gdcluster.engine import (
    Actor,
    Engine,
    EngineError,
    PermissionDenied,
    Reason,
    TransitionRefused,
)
from gdcluster.engine.clock import FakeClock, local_date
from gdcluster.engine.models import AuditHead, Case, Refusal, Round
from gdcluster.states.workflow import PREVIOUS, load_workflow

__all__ = ["module_db_url"]  # the shared-database fixture, imported for pytest

WORKFLOW = load_workflow()

#: Who tries, relative to the cases here (all filed by 佛山市南海区, a county of 佛山市).
ACTORS = {
    "province": "province@王处长",
    "system": "system",
    "public": "public@王五",
    "own-city": "city:佛山市@张三",
    "other-city": "city:广州市@陈科长",
    "own-county": "county:佛山市南海区@李四",
    "same-city-county": "county:佛山市顺德区@周五",
    "unrelated-county": "county:广州市天河区@吴六",
}
RELATION = {"own-city": "own", "other-city": "other", "own-county": "own",
            "same-city-county": "other", "unrelated-county": "other"}

#: Every trigger a case can be sent, once per ``when`` variant (resolve: dismiss / uphold).
TRIGGERS = [(rule.trigger, rule.when) for rule in WORKFLOW.rules if rule.sources]
TRIGGERS = list(dict.fromkeys(TRIGGERS))
STATES = list(WORKFLOW.state_names)


def label(trigger: str, when: str | None) -> str:
    return f"{trigger}-{when}" if when else trigger


#: Triggers a round command fires for a batch (`round recognize`, `round close`): refused on
#: one case, whoever asks and whatever the state (exit 3).
ROUND_ONLY = {rule.trigger for rule in WORKFLOW.rules if rule.fired_by}


def expected(state: str, trigger: str, when: str | None, who: str) -> int:
    """0 allowed, 3 wrong state (or a round command's trigger), 4 permission denied: read off
    the workflow table; ``system`` is always denied here (issue 15.10: it acts only in the
    sweep, for a due deadline it holds)."""
    rule = rule_for(WORKFLOW, trigger, state, when)
    kind = Actor.parse(ACTORS[who]).kind
    if trigger in ROUND_ONLY:
        return 3
    if kind == "system":  # the scheduler's, for a due deadline it holds: never through fire
        return 4
    if rule is None:
        return 3
    if "anyone" in rule.actors and kind != "system":
        return 0
    if kind not in rule.actors:
        return 4
    if kind in ("province", "system"):
        return 0
    return 0 if RELATION[who] == "own" else 4


MATRIX = [(state, trigger, when) for state in STATES for trigger, when in TRIGGERS]
ALLOWED = [(state, trigger, when, who) for state, trigger, when in MATRIX for who in ACTORS
           if expected(state, trigger, when, who) == 0]


def payload(trigger: str, when: str | None, application: dict[str, Any],
            objection: int = 1) -> dict[str, Any]:
    """A complete, valid payload: a refusal is then about who and when, never what."""
    return {
        "update": {"data": application},
        "return": {"reason": "缺少2023年产值证明"},
        "review": {"spot_check": "实地抽查2家企业"},
        "score": {"expert": "专家9", "scores": full_scores()},
        "publicize": {"start": "2024-09-27"},
        "reopen": {"reason": "初审有误，恢复办理"},
        "object": {"name": "王五", "contact": "13800000000", "evidence": "产值数据与年鉴不符"},
        "resolve": {"objection": objection, "when": when, "reason": "经核查"},
        "report": {"year": 2024, "data": {"output": "130"}},
        "change": {"kind": "management_body", "detail": "管理机构更名"},
        "flag": {"reason": "未按时报送年度报告"},
        "report_overdue": {"year": 2024, "report_due": "2025-03-31"},
        "propose_revocation": {"reason_code": "18.5", "facts": "较大安全事故"},
        "fail_review": {"reason": "发展规划目标未完成"},
        "state": {"text": "事故等级有误"},
        "maintain": {"reason": "陈述申辩成立"},
        "revoke": {"reason": "陈述申辩不成立"},
        "reinstate": {"reason": "自我纠错", "reference": "自我纠错"},
        "reject": {"reason": "不符合条件"},
        "attach": {"content": b"%PDF-1.4 proof", "name": "证明.pdf", "kind": "证明材料"},
    }.get(trigger, {})


@dataclass
class World:
    """One database with one case per state, shared by the refusal rows of the matrix."""

    engine: Engine
    clock: FakeClock
    walker: Walker
    cases: dict[str, int]
    application: dict[str, Any]
    start: Snapshot
    refused: int = 0


def open_round(engine: Engine, clock: FakeClock) -> Walker:
    """Round 2024 with room for every recommendation the tests make (quota 0–100), and, as
    the walker's own, no application or recommendation deadline (time only moves forward, so
    later cases are filed later)."""
    application = load_application()
    walker = Walker(engine, clock, application)
    clock.set(TIMES["open"])
    engine.open_round(2024, PROVINCE, quotas={"*": (0, 100)})
    walker._round_open = True
    return walker


@pytest.fixture(scope="module")
def world(module_db_url: str) -> Iterator[World]:
    clock = FakeClock(TIMES["open"])
    engine = Engine.init(module_db_url, simulation=True, clock=clock)
    try:
        walker = open_round(engine, clock)
        cases = dict(zip(STATES, walker.to_many(STATES), strict=True))
        yield World(engine, clock, walker, cases, walker.application, snapshot(engine))
    finally:
        engine.close()


class FreshCases:
    """For the allowed acts: a database of the module's back-end per starting state, holding
    one fresh case for each allowed row from that state, walked there in lockstep. Time only
    moves forward, so each state gets a database (and clock) of its own: the acts from one
    state move the clock as their guards need (into a publicity window, past it, into a 复核
    window) without stranding the cases of another."""

    def __init__(self, backend_name: str, folder: Any) -> None:
        self.backend_name, self.folder = backend_name, folder
        self.worlds: dict[str, tuple[Engine, Walker, list[int]]] = {}
        self._urls: list[Any] = []

    def take(self, state: str) -> tuple[Engine, Walker, int]:
        if state not in self.worlds:
            context = fresh_url(self.backend_name, self.folder)
            url = context.__enter__()
            self._urls.append(context)
            clock = FakeClock(TIMES["open"])
            engine = Engine.init(url, simulation=True, clock=clock)
            walker = open_round(engine, clock)
            wanted = [row for row in ALLOWED if row[0] == state]
            self.worlds[state] = (engine, walker, walker.to_many([state] * len(wanted)))
        engine, walker, pool = self.worlds[state]
        return engine, walker, pool.pop(0)

    def close(self) -> None:
        for engine, _walker, _pool in self.worlds.values():
            engine.close()
        for context in self._urls:
            context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def fresh_cases(module_db_url: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[FreshCases]:
    cases = FreshCases(backend(module_db_url), tmp_path_factory.mktemp("fresh"))
    try:
        yield cases
    finally:
        cases.close()


def observe(engine: Engine, case_id: int, after: int = 0) -> tuple[Any, Any, list[Any]]:
    """The case row as acts see it, the audit head, and the refusal records after id
    ``after``: one read transaction."""
    with engine.store.read() as session:
        case = session.execute(select(Case.state, Case.version, Case.updated_at)
                               .where(Case.id == case_id)).one()
        head = session.execute(select(AuditHead.seq, AuditHead.hash)).one()
        records = session.execute(
            select(Refusal.id, Refusal.actor, Refusal.trigger, Refusal.case_id, Refusal.code)
            .where(Refusal.id > after).order_by(Refusal.id)).all()
        return tuple(case), tuple(head), [tuple(record) for record in records]


# ---------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("state", "trigger", "when"), MATRIX,
                         ids=[f"{state}-{label(trigger, when)}" for state, trigger, when in MATRIX])
def test_refused_where_the_table_refuses(world: World, state: str, trigger: str,
                                         when: str | None) -> None:
    """Every actor the table does not allow for this trigger in this state is refused: exit 3
    when the state does not allow the trigger at all, else exit 4; the case and the audit chain
    stay as they were (the last test checks every other table); one refused-attempt record
    names the actor, the trigger and the case, and the message names the trigger (and, for 4,
    the actor)."""
    engine, case_id = world.engine, world.cases[state]
    with engine.store.read() as session:
        last = session.scalar(select(Refusal.id).order_by(Refusal.id.desc()).limit(1)) or 0
    case_row, head, _ = observe(engine, case_id, last)
    wanted = []
    for who, actor in ACTORS.items():
        code = expected(state, trigger, when, who)
        if code == 0:
            continue
        with pytest.raises(EngineError) as caught:
            engine.fire(case_id, trigger, actor, **payload(trigger, when, world.application))
        error = caught.value
        assert error.exit_code == code, (who, error.message)
        if code == 4:
            assert isinstance(error, PermissionDenied)
            assert str(Actor.parse(actor)) in error.message, error.message
        elif trigger in ROUND_ONLY:
            assert isinstance(error, TransitionRefused)
            assert error.reasons == [Reason.ROUND_ACT_ONLY]
        elif (state, trigger, Actor.parse(actor).kind) == (
                "revocation_proposed", "revoke", "system"):
            assert error.reasons == [Reason.NOT_SYSTEM_DECISION]  # the default policy
        else:
            assert isinstance(error, TransitionRefused) and error.reasons == [Reason.WRONG_STATE]
        assert trigger in error.message, error.message
        wanted.append((str(Actor.parse(actor)), trigger, case_id, error.code))
        world.refused += 1
    now_case, now_head, records = observe(engine, case_id, last)
    assert (now_case, now_head) == (case_row, head)
    assert [record[1:] for record in records] == wanted  # one each, in order: who tried what


CREATE = {who: 0 if who == "own-county" else 4 for who in ACTORS}


def test_only_the_units_own_county_files_an_application(world: World) -> None:
    """`create` (no state yet): only county:佛山市南海区 files for 佛山市南海区; every other actor
    is refused with exit 4 and a record, and no case appears."""
    engine = world.engine
    for who, actor in ACTORS.items():
        if CREATE[who] == 0:
            continue
        before = snapshot(engine)
        with pytest.raises(PermissionDenied) as caught:
            engine.create_case(round_year=2024, name="南海测试产业集群", county="佛山市南海区",
                               industry="测试", data=world.application, actor=actor)
        assert caught.value.exit_code == 4
        assert str(Actor.parse(actor)) in caught.value.message
        after = snapshot(engine)
        assert after.without("gd_refusal") == before.without("gd_refusal")
        assert after.head == before.head
        assert after.counts["gd_refusal"] == before.counts["gd_refusal"] + 1
        assert engine.refusals()[-1]["trigger"] == "create"
        world.refused += 1


ROUND_ACTS = {
    "open_round": lambda engine, actor: engine.open_round(2031, actor),
    "publicize_round": lambda engine, actor: engine.publicize_round(
        2024, actor, top=1, doc_no="粤工信服务函〔2024〕88号"),
    "recognize": lambda engine, actor: engine.recognize_round(
        2024, actor, doc_no="粤工信服务函〔2024〕95号", valid_from="2024-11-01"),
    "close_round": lambda engine, actor: engine.close_round(2024, actor),
    "site_visit": lambda engine, actor: engine.record_site_visit(2024, actor,
                                                                 day="2024-03-01", note="考察"),
    "policy_extend": lambda engine, actor: engine.extend_policy(
        "guangdong-2023", actor, until="2028-12-31", source="粤工信服务函〔2025〕88号"),
    "calendar_import": lambda engine, actor: engine.import_calendar(
        (DATA / "calendar-2027.yaml").read_bytes(), "calendar-2027.yaml", actor),
}


@pytest.mark.parametrize("act", list(ROUND_ACTS))
def test_round_acts_only_by_the_province(world: World, act: str) -> None:
    """Opening, publicizing, recognizing and closing a round, recording its 现场考察, extending a
    policy (and importing the calendar, which the scheduler may also do) are the province's:
    anyone else is refused with exit 4 before anything is written — not even the 发文字号 or
    the validity start — and recorded."""
    engine = world.engine
    for who, actor in ACTORS.items():
        if who == "province" or (act == "calendar_import" and who == "system"):
            continue
        before = snapshot(engine)
        with pytest.raises(PermissionDenied) as caught:
            ROUND_ACTS[act](engine, actor)
        assert caught.value.exit_code == 4
        assert str(Actor.parse(actor)) in caught.value.message
        after = snapshot(engine)
        assert after.without("gd_refusal") == before.without("gd_refusal"), who
        assert after.head == before.head
        assert after.counts["gd_refusal"] == before.counts["gd_refusal"] + 1
        assert engine.refusals()[-1]["actor"] == str(Actor.parse(actor))
        with engine.store.read() as session:
            round_row = session.get(Round, 2024)
            assert round_row is not None
            assert (round_row.publicity_doc_no, round_row.valid_from,
                    round_row.publicity_pick, round_row.recognition_batch) == (None,) * 4
        world.refused += 1


#: The CLI command for a trigger (publicize, flag and expire have none: batch and scheduler
#: only).
def cli_argv(trigger: str, when: str | None, case_id: int) -> list[str] | None:
    reason = ["--reason", "不符合条件"]
    commands: dict[str, list[str]] = {
        "update": ["update", str(case_id), "--data", str(APPLICATION_FILE)],
        "return": ["review", str(case_id), "--return", *reason],
        "review": ["review", str(case_id), "--pass"],
        "score": ["score", str(case_id), "--expert", "专家9", "--scores",
                  str(DATA / "scores-expert1.json")],
        "object": ["object", str(case_id), "--name", "王五", "--contact", "138",
                   "--evidence", "存疑"],
        "resolve": ["resolve", str(case_id), "1", f"--{when}", *reason],
        "report": ["report", str(case_id), "--year", "2024", "--data",
                   str(DATA / "report-2024.json")],
        "change": ["change", str(case_id), "--kind", "management_body", "--detail", "更名"],
        "propose_revocation": ["propose-revocation", str(case_id), "--reason-code", "18.5",
                               "--facts", "较大安全事故"],
        "state": ["state", str(case_id), "--text", "事故等级有误"],
        "maintain": ["maintain", str(case_id), *reason],
        "revoke": ["revoke", str(case_id), *reason],
        "reinstate": ["reinstate", str(case_id), *reason, "--reference", "自我纠错"],
        "reject": ["reject", str(case_id), *reason],
        "apply_review": ["apply-review", str(case_id), "--data",
                         str(DATA / "review-2027.json")],
        "review_check": ["review-check", str(case_id), "--pass", "--opinion", "符合复核条件"],
        "fail_review": ["fail-review", str(case_id), *reason],
        "attach": ["attach", str(case_id), str(DATA / "proof.pdf"), "--kind", "证明材料"],
    }
    if trigger in ("publicize", "flag", "report_overdue", "close", "expire"):
        return None
    return ["case", *commands.get(trigger, [trigger.replace("_", "-"), str(case_id)])]


def cli_rows() -> list[tuple[str, str, str | None, str]]:
    """For each trigger with a command: one refusal of each code, first found in the table."""
    rows: dict[tuple[str, str | None, int], tuple[str, str, str | None, str]] = {}
    for state, trigger, when in MATRIX:
        for who in ACTORS:
            code = expected(state, trigger, when, who)
            if code and cli_argv(trigger, when, 0) and (trigger, when, code) not in rows:
                rows[(trigger, when, code)] = (state, trigger, when, who)
    return list(rows.values())


CLI_ROWS = cli_rows()


@pytest.mark.parametrize(("state", "trigger", "when", "who"), CLI_ROWS,
                         ids=[f"{s}-{label(t, w)}-{who}" for s, t, w, who in CLI_ROWS])
def test_refusals_through_the_cli(world: World, state: str, trigger: str, when: str | None,
                                  who: str) -> None:
    """The same refusals through `gdcluster`: exit 4 or 3, nothing on stdout, and the message
    on stderr names the trigger (and, for 4, the actor)."""
    argv = cli_argv(trigger, when, world.cases[state])
    assert argv is not None
    code = expected(state, trigger, when, who)
    case_row, head, _ = observe(world.engine, world.cases[state], 2**31 - 1)
    result = CliRunner().invoke(cli, ["--db", world.engine.url, "--as", ACTORS[who], *argv])
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert trigger.replace("_", "-") in result.stderr or trigger in result.stderr
    if code == 4:
        assert str(Actor.parse(ACTORS[who])) in result.stderr
    assert observe(world.engine, world.cases[state], 2**31 - 1)[:2] == (case_row, head)
    world.refused += 1


# ---------------------------------------------------------------------------- allowed
def prepare(walker: Walker, case_id: int, state: str, trigger: str, when: str | None
            ) -> dict[str, Any]:
    """Set the clock and the facts the trigger's guards need; returns the payload."""
    engine, clock = walker.engine, walker.clock
    objection = 1
    view = engine.get(case_id)
    data: dict[str, Any] = {}
    if trigger == "expert_review":
        walker.step(case_id, "scores")
    elif trigger in ("object", "resolve"):
        at_least(clock, f"{view.publicity_start}T11:00")
        if trigger == "resolve":
            view = engine.fire(case_id, "object", "public@刘某", name="刘某",
                               contact="13900000000", evidence="质疑产值口径")
            objection = view.objections[-1]["id"]
    elif trigger == "close_publicity":
        at_least(clock, f"{view.publicity_end + timedelta(days=1)}T09:00")
    elif trigger == "report":  # a year the validity covers, once it has begun
        assert view.valid_from is not None
        at_least(clock, f"{view.valid_from}T10:00")
        data["year"] = view.valid_from.year
    elif trigger == "apply_review":  # a 复核 round covering the case, open for applications
        until = view.valid_until
        assert until is not None
        at_least(clock, f"{until - timedelta(days=150)}T09:00")
        year = until.year
        if view.review_round != year:
            apply_by = max(until, local_date(clock.now()) + timedelta(days=30))
            engine.open_round(year, "province", kind="review", apply_by=apply_by,
                              check_by=apply_by)
        data["data"] = review_data(walker.application, year)
    elif trigger == "review_check":
        data.update(passed=True, opinion="经初审，符合复核条件")
    elif trigger in ("submit", "recommend"):
        at_least(clock, TIMES["open"])
    elif trigger == "publicize":
        at_least(clock, TIMES["publicize"])
        data["start"] = local_date(clock.now())
    elif (trigger in ("propose_revocation", "fail_review", "report_overdue")
          and clock.now().year >= 2027):
        for year in (clock.now().year, clock.now().year + 1):  # after a 复核 walk
            ensure_calendar(engine, year)
    elif trigger == "revoke":  # the decision comes once the county has stated its case
        engine.fire(case_id, "state", f"county:{view.county}", text="对事实无异议")
    return {**payload(trigger, when, walker.application, objection), **data}


@pytest.mark.parametrize(("state", "trigger", "when", "who"), ALLOWED,
                         ids=[f"{s}-{label(t, w)}-{who}" for s, t, w, who in ALLOWED])
def test_allowed_where_the_table_allows(fresh_cases: FreshCases, state: str, trigger: str,
                                        when: str | None, who: str) -> None:
    """Each actor the table allows (own county, own city, the province, the scheduler, and
    anyone for a real-name objection) succeeds on a fresh case: the case reaches the table's
    destination, its version rises by one, one audit row records who did what, and no
    refusal is recorded."""
    engine, walker, case_id = fresh_cases.take(state)
    data = prepare(walker, case_id, state, trigger, when)
    if (trigger, Actor.parse(ACTORS[who]).kind) == ("propose_revocation", "system"):
        data["reason_code"] = "18.3"  # the system opens procedures under 18.1 and 18.3 only
    before = engine.get(case_id)
    refusals = len(engine.refusals())
    view = engine.fire(case_id, trigger, ACTORS[who], **data)
    rule = rule_for(WORKFLOW, trigger, state, when)
    assert rule is not None
    assert view.state == (before.previous_state if rule.dest == PREVIOUS
                          else rule.dest_from(state))
    assert view.version == before.version + 1
    last = engine.history(case_id)[-1]
    assert (last["trigger"], last["actor"], last["from_state"], last["to_state"]) == (
        trigger, str(Actor.parse(ACTORS[who])), state, view.state)
    assert len(engine.refusals()) == refusals


def timer_only(trigger: str) -> bool:
    """Triggers only ``system`` fires (``flag``): through Engine.fire, nobody may."""
    return all(set(rule.actors) == {"system"}
               for rule in WORKFLOW.rules if rule.trigger == trigger)


def test_the_matrix_covers_the_whole_table() -> None:
    """The generated matrix has every state, every trigger of the table (resolve both ways)
    and every actor kind, and at least one allowed and one refused row for each trigger."""
    assert {state for state, _t, _w in MATRIX} == set(WORKFLOW.state_names)
    assert {trigger for _s, trigger, _w in MATRIX} == set(WORKFLOW.triggers) - {"create"}
    assert {Actor.parse(actor).kind for actor in ACTORS.values()} == {
        "province", "system", "public", "city", "county"}
    for trigger, when in TRIGGERS:
        codes = {expected(state, trigger, when, who) for state in STATES for who in ACTORS}
        allowed = {3} if trigger in ROUND_ONLY else {3, 4} if timer_only(trigger) else {0, 3, 4}
        assert codes == allowed, (trigger, when, codes)
    assert sorted(ROUND_ONLY) == ["close", "recognize"]
    assert set(PATHS) == set(STATES)


def test_refusals_wrote_nothing_but_their_records(world: World) -> None:
    """After the whole matrix, every table of the shared database holds what it held before,
    except the refused-attempt table, which grew by exactly one record per refusal."""
    after = snapshot(world.engine)
    assert after.without("gd_refusal") == world.start.without("gd_refusal")
    assert after.head == world.start.head
    assert after.counts["gd_refusal"] == world.start.counts["gd_refusal"] + world.refused
    assert world.refused > 0 and world.engine.verify_audit().ok


def test_a_trigger_with_two_ways_must_say_which(world: World) -> None:
    """`resolve` is allowed in publicity only as --uphold or --dismiss: fired without saying
    which, it is bad input (exit 2, naming `when`) — not a misleading "not allowed in this
    state" — and nothing is written, not even a refusal record."""
    engine, case_id = world.engine, world.cases["publicized"]
    before = snapshot(engine)
    with pytest.raises(EngineError) as caught:
        engine.fire(case_id, "resolve", PROVINCE, objection=1, reason="经核查")
    assert caught.value.exit_code == 2 and caught.value.facts["field"] == "when"
    assert "uphold" in caught.value.message and "dismiss" in caught.value.message
    assert snapshot(engine) == before
