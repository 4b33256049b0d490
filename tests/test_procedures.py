"""The 第十八条 procedure (DESIGN §2, §6) on SQLite and PostgreSQL: no revocation without a
拟撤销告知 and a 陈述申辩 period; the province decides (revoke or maintain); a revocation can be
undone (reinstate); the system opens procedures under 18.1 and 18.3 only and decides only where
the policy says so."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from deadline_support import (
    PROVINCE,
    audit_rows,
    open_round,
    outcomes,
    recognized,
    rows,
    system_decides,
)
from support import COUNTY, Walker, database_made_at, holding, revoke_now

from gdcluster.engine import Engine, InvalidInput, TransitionRefused, deadlines
from gdcluster.engine.actors import Actor
from gdcluster.engine.clock import FakeClock, end_of_day
from gdcluster.engine.errors import PermissionDenied, Reason

FACTS = "2023年产值数据与统计部门数据不符"


@pytest.fixture
def decided_by_system(monkeypatch: pytest.MonkeyPatch) -> str:
    """A variant of guangdong-2023, loadable as "test-system-decides", whose revocations the
    system may decide (``[revocation] decided_by = "system"``)."""
    return system_decides(monkeypatch)


def proposed(walker: Walker, at: str = "2024-11-01T10:00", code: str = "18.2",
             **payload: Any) -> int:
    """A recognized case of round 2024 proposed for revocation by the province at ``at``."""
    case_id = walker.to("recognized")
    walker.clock.set(at)
    walker.engine.fire(case_id, "propose_revocation", PROVINCE, reason_code=code, facts=FACTS,
                       **payload)
    return case_id


def test_a_proposal_opens_the_hearing_period(walker: Walker) -> None:
    """拟撤销告知 on Friday 2024-11-01: the 陈述申辩 period is 5 working days from the day after
    (4–8 November), its deadline a row; the case remembers it was recognized; the ground is the
    article's words from the policy."""
    engine = walker.engine
    case_id = proposed(walker)
    view = engine.get(case_id)
    assert (view.state, view.previous_state) == ("revocation_proposed", "recognized")
    assert view.hearing_due == date(2024, 11, 8)
    [hearing] = [row for row in view.deadlines if row["kind"] == deadlines.HEARING_END]
    assert (hearing["due_at"], hearing["status"]) == (end_of_day(date(2024, 11, 8)), "pending")
    procedure = view.to_dict()["procedure"]
    assert procedure["reason_code"] == "18.2" and procedure["article"] == "第十八条第（二）项"
    assert procedure["ground"] == "发现虚假申报或存在违法违规行为"
    assert (procedure["facts"], procedure["status"]) == (FACTS, "hearing period running")
    assert view.to_dict()["hearing_due"] == "2024-11-08"
    last = engine.history(case_id)[-1]
    assert (last["trigger"], last["actor"], last["to_state"]) == (
        "propose_revocation", PROVINCE, "revocation_proposed")
    assert last["payload"]["hearing_due"] == "2024-11-08"


def test_a_hearing_deadline_is_never_shorter_than_the_policy(walker: Walker) -> None:
    """``due`` may lengthen the 陈述申辩 period, never shorten it."""
    with pytest.raises(InvalidInput) as refused:
        proposed(walker, due="2024-11-07")
    assert refused.value.field == "due" and "2024-11-08" in refused.value.message


def test_the_decision_waits_for_the_hearing_or_a_statement(walker: Walker) -> None:
    """Before the hearing deadline and without a statement, revoke is refused; once the county
    has stated its case the province decides, saying why the statement does not change it;
    the 撤销决定 records the ground, the facts, the statement considered and its 文号."""
    engine = walker.engine
    case_id = proposed(walker)
    with pytest.raises(TransitionRefused) as early:
        engine.fire(case_id, "revoke", PROVINCE)
    assert Reason.HEARING_NOT_OVER in early.value.reasons
    engine.fire(case_id, "state", COUNTY, text="产值数据口径不同，并非虚假申报")
    engine.fire(case_id, "state", COUNTY, text="补充：附统计部门说明")
    with pytest.raises(InvalidInput) as unreasoned:
        engine.fire(case_id, "revoke", PROVINCE)
    assert unreasoned.value.field == "reason"
    view = engine.fire(case_id, "revoke", PROVINCE, reason="统计部门确认数据不实",
                       doc_no="粤工信服务函〔2024〕301号")
    assert view.state == "revoked" and view.previous_state == "recognized"
    assert [row for row in view.deadlines if row["status"] == "pending"] == []
    last = engine.history(case_id)[-1]
    assert (last["trigger"], last["from_state"], last["to_state"]) == (
        "revoke", "revocation_proposed", "revoked")
    assert last["payload"]["ground"] == "发现虚假申报或存在违法违规行为"
    assert (last["payload"]["facts"], last["payload"]["statements"]) == (FACTS, 2)
    assert last["payload"]["doc_no"] == "粤工信服务函〔2024〕301号"
    procedure = view.to_dict()["procedure"]
    assert [row["text"] for row in procedure["statements"]] == [
        "产值数据口径不同，并非虚假申报", "补充：附统计部门说明"]
    assert procedure["decision"]["trigger"] == "revoke"


def test_an_unanswered_hearing_ends_awaiting_the_province(engine: Engine, walker: Walker,
                                                          clock: FakeClock) -> None:
    """At 24:00 of the hearing deadline the sweep does nothing adverse under the default
    policy: the case stays proposed, shown as awaiting the decision, which the province then
    takes (no reason needed: nothing was stated)."""
    case_id = proposed(walker)
    clock.set("2024-11-08T23:59")
    assert [row for row in engine.run_due() if row.kind == deadlines.HEARING_END] == []
    clock.set(end_of_day(date(2024, 11, 8)))
    with pytest.raises(PermissionDenied):  # no deadline held: not the scheduler's act
        engine.kernel.act(case_id, "revoke", Actor.system(), {})
    with pytest.raises(TransitionRefused) as by_system, \
            holding(engine, case_id, deadlines.HEARING_END) as (transaction, case):
        # even holding the hearing deadline, the system does not decide under this policy
        engine.kernel.transition(transaction, case, "revoke", Actor.system(), {},
                                 clock.now())
    assert Reason.NOT_SYSTEM_DECISION in by_system.value.reasons
    handled = engine.run_due()
    assert (deadlines.HEARING_END, case_id, "awaiting_decision") in outcomes(handled)
    view = engine.get(case_id)
    assert view.state == "revocation_proposed"
    assert view.to_dict()["procedure"]["status"] == "hearing ended, awaiting decision"
    assert engine.fire(case_id, "revoke", PROVINCE).state == "revoked"
    assert engine.verify_audit().ok


def test_maintain_returns_the_case_to_where_it_was(walker: Walker) -> None:
    """维持认定: back to recognized, the hearing deadline cancelled, the report deadlines
    untouched, nothing remembered any more."""
    engine = walker.engine
    case_id = proposed(walker)
    pending_before = {row["key"] for row in engine.get(case_id).deadlines
                      if row["status"] == "pending" and row["kind"] != deadlines.HEARING_END}
    view = engine.fire(case_id, "maintain", PROVINCE, reason="经核实，数据差异系统计口径所致")
    assert (view.state, view.previous_state) == ("recognized", None)
    assert {row["key"] for row in view.deadlines if row["status"] == "pending"} == \
        pending_before
    [hearing] = [row for row in view.deadlines if row["kind"] == deadlines.HEARING_END]
    assert hearing["status"] == "cancelled"
    assert engine.history(case_id)[-1]["payload"]["returned_to"] == "recognized"


def test_reinstate_restores_the_recognition_as_it_was(walker: Walker) -> None:
    """恢复认定 after a 行政复议 decision: back to recognized with the same validity, the report
    and expiry deadlines the revocation cancelled pending again; the reference is required."""
    engine = walker.engine
    case_id = walker.to("recognized")
    walker.clock.set("2024-11-01T10:00")
    before = engine.get(case_id)
    pending_before = {(row["kind"], row["key"], row["due_at"]) for row in before.deadlines
                      if row["status"] == "pending"}
    revoke_now(engine, case_id)
    with pytest.raises(InvalidInput) as unreferenced:
        engine.fire(case_id, "reinstate", PROVINCE, reason="复议撤销原决定")
    assert unreferenced.value.field == "reference"
    view = engine.fire(case_id, "reinstate", PROVINCE, reason="行政复议决定撤销原撤销决定",
                       reference="粤府行复〔2025〕12号")
    assert (view.state, view.valid_from, view.valid_until) == (
        "recognized", before.valid_from, before.valid_until)
    # the cancelled rows stay as the chain vouched for them; each deadline is pending again
    # as a new row, its key naming the one it re-arms
    rearmed = [row for row in view.deadlines if row["status"] == "pending"]
    assert {(row["kind"], deadlines.base_key(row["key"]), row["due_at"])
            for row in rearmed} == pending_before
    assert all(row["key"].endswith(":rearmed-1") for row in rearmed)
    last = engine.history(case_id)[-1]
    assert (last["payload"]["reference"], last["payload"]["returned_to"]) == (
        "粤府行复〔2025〕12号", "recognized")
    assert last["payload"]["rearmed_deadlines"] == len(pending_before)
    assert engine.verify_audit().ok
    # revoked and reinstated again: the same deadlines, once each, pending again
    revoke_now(engine, case_id)
    view = engine.fire(case_id, "reinstate", PROVINCE, reason="行政复议决定撤销原撤销决定",
                       reference="粤府行复〔2025〕13号")
    again = [row for row in view.deadlines if row["status"] == "pending"]
    assert sorted((row["kind"], deadlines.base_key(row["key"]), row["due_at"])
                  for row in again) == sorted(pending_before)
    assert all(row["key"].endswith(":rearmed-2") for row in again)
    assert engine.verify_audit().ok


def test_the_system_opens_procedures_under_18_1_and_18_3_only(walker: Walker) -> None:
    """A timer may open a procedure for a missing report or a missed 复核, nothing else."""
    engine = walker.engine
    case_id = walker.to("recognized")
    with pytest.raises(PermissionDenied):  # only as the scheduler, holding a due deadline
        engine.kernel.act(case_id, "propose_revocation", Actor.system(),
                          {"reason_code": "18.1", "facts": "有效期满未申请复核"})
    [first] = [row for row in sorted(engine.get(case_id).deadlines,
                                     key=lambda row: row["due_at"])
               if row["status"] == "pending"][:1]
    walker.clock.set(first["due_at"])
    with pytest.raises(TransitionRefused) as refused, \
            holding(engine, case_id, first["kind"]) as (transaction, case):
        engine.kernel.transition(transaction, case, "propose_revocation", Actor.system(),
                                 {"reason_code": "18.2", "facts": FACTS}, walker.clock.now())
    assert Reason.NOT_SYSTEM_GROUND in refused.value.reasons
    with holding(engine, case_id, first["kind"]) as (transaction, case):
        engine.kernel.transition(transaction, case, "propose_revocation", Actor.system(),
                                 {"reason_code": "18.1", "facts": "有效期满未申请复核"},
                                 walker.clock.now())
    view = engine.get(case_id)
    assert view.state == "revocation_proposed"
    assert view.to_dict()["procedure"]["reason_code"] == "18.1"
    assert engine.verify_audit().ok


def test_the_sunday_deadline_rolls_to_monday(engine: Engine, clock: FakeClock) -> None:
    """The 2023 batch's first report deadline, 2024-03-31, was a Sunday: it rolls to 24:00 of
    Monday 1 April (民法典 第203条, the policy's switch on); a sweep at 00:05 that Monday does
    nothing adverse, the report filed at 09:00 is accepted and no procedure is ever opened."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    clock.set("2024-04-01T00:05")
    handled = engine.run_due()
    assert (deadlines.REPORT_DUE, case_id, "rolled") in outcomes(handled)
    assert engine.get(case_id).state == "recognized"
    [rolled] = [row for row in rows(engine, case_id, kind=deadlines.REPORT_DUE)
                if row.status == "pending" and row.key.endswith(":2023:rolled")]
    assert rolled.due_at == end_of_day(date(2024, 4, 1))
    clock.set("2024-04-01T09:00")
    engine.fire(case_id, "report", "county:" + engine.get(case_id).county, year=2023)
    clock.set("2024-06-01T09:00")
    engine.run_due()
    assert engine.get(case_id).state == "recognized"
    assert not [row for row in engine.history(case_id)
                if row["trigger"] in ("report_overdue", "propose_revocation")]


def missed_2023_report(engine: Engine, clock: FakeClock) -> int:
    """A 2023-batch case whose 2023 report never comes: rolled to Monday 1 April, 催报 at its
    24:00 with a grace to 24:00 of 17 April (清明 and its make-up Sunday counted), then the 18.3
    procedure opened by the system with 陈述申辩 until 24:00 of 25 April."""
    [case_id] = recognized(engine, clock, date(2023, 7, 10))
    clock.set(end_of_day(date(2024, 4, 1)))
    handled = engine.run_due()
    assert (deadlines.REPORT_DUE, case_id, "overdue") in outcomes(handled)
    urge = engine.history(case_id)[-1]
    assert (urge["trigger"], urge["actor"], urge["to_state"]) == (
        "report_overdue", "system", "recognized")
    assert (urge["payload"]["report_due"], urge["payload"]["grace_due"]) == (
        "2024-04-01", "2024-04-17")
    clock.set("2024-04-17T23:59")
    engine.run_due()
    assert engine.get(case_id).state == "recognized"
    clock.set(end_of_day(date(2024, 4, 17)))
    handled = engine.run_due()
    assert (deadlines.REPORT_GRACE, case_id, "revocation_proposed") in outcomes(handled)
    opened = engine.history(case_id)[-1]
    assert (opened["trigger"], opened["actor"], opened["to_state"]) == (
        "propose_revocation", "system", "revocation_proposed")
    assert (opened["payload"]["reason_code"], opened["payload"]["missing_years"]) == (
        "18.3", [2023])
    assert engine.get(case_id).hearing_due == date(2024, 4, 25)
    return case_id


def test_a_report_never_filed_is_urged_then_heard_then_decided(
    engine: Engine, clock: FakeClock, tmp_path
) -> None:
    """催报 → 拟撤销 → 陈述申辩 → 撤销决定, each with its notice and deadline; nothing is
    revoked until the province decides (default policy), even after the hearing deadline."""
    from gdcluster.notifications.notifier import attach
    from gdcluster.notifications.service import list_notices
    from gdcluster.notifications.settings import Settings

    attach(engine, Settings(outbox=tmp_path / "outbox"))
    case_id = missed_2023_report(engine, clock)
    clock.set("2024-04-22T10:00")
    engine.fire(case_id, "state", "city:" + engine.get(case_id).city,
                text="运营管理机构负责人变更，正在补报")
    clock.set(end_of_day(date(2024, 4, 25)))
    handled = engine.run_due()
    assert (deadlines.HEARING_END, case_id, "awaiting_decision") in outcomes(handled)
    clock.set("2024-05-06T10:00")
    engine.run_due()
    assert engine.get(case_id).state == "revocation_proposed"  # nobody revoked it
    view = engine.fire(case_id, "revoke", PROVINCE, reason="至决定之日仍未报送",
                       doc_no="粤工信服务函〔2024〕120号")
    assert view.state == "revoked"
    kinds = [row["kind"] for row in list_notices(engine, case_id=case_id)
             if row["format"] == "txt"]
    assert [kind for kind in kinds if kind != "report_reminder"] == [
        "report_urge", "revocation_proposal", "revocation"]
    assert not [row for row in engine.history(case_id)
                if row["trigger"] == "revoke" and row["actor"] == "system"]


def test_a_report_filed_during_the_procedure_cures_the_ground(engine: Engine,
                                                              clock: FakeClock) -> None:
    """The report filed during the procedure closes that year's deadline and shows the 18.3
    ground as cured; revoke is refused without a reason saying why it still holds; the
    province maintains (nothing is maintained by itself)."""
    case_id = missed_2023_report(engine, clock)
    clock.set("2024-04-20T09:00")
    engine.fire(case_id, "report", "county:" + engine.get(case_id).county, year=2023)
    view = engine.get(case_id)
    assert view.state == "revocation_proposed"
    procedure = view.to_dict()["procedure"]
    assert (procedure["cured"], procedure["filed_years"]) == (True, [2023])
    clock.set("2024-04-26T09:00")
    with pytest.raises(TransitionRefused) as cured:
        engine.fire(case_id, "revoke", PROVINCE)
    assert Reason.GROUND_CURED in cured.value.reasons
    view = engine.fire(case_id, "maintain", PROVINCE, reason="已补报2023年度发展情况")
    assert view.state == "recognized"
    assert {row.key.split(":", 3)[3]: row.status
            for row in rows(engine, case_id, kind=deadlines.REPORT_DUE)} == {
        "2023": "fired", "2023:rolled": "fired", "2024": "pending", "2025": "pending",
        "2026": "pending"}


def test_the_system_decides_only_where_the_policy_says_and_no_statement_came(
    engine: Engine, clock: FakeClock, decided_by_system: str
) -> None:
    """Under ``revocation.decided_by = "system"`` an unanswered hearing period ends in a
    revocation by the timer; a case that stated its case still waits for the province."""
    clock.set("2023-07-10T09:00")
    open_round(engine, 2023, policy=decided_by_system)
    silent, heard = recognized(engine, clock, date(2023, 7, 10), count=2)
    clock.set("2023-11-01T10:00")
    for case_id in (silent, heard):
        engine.fire(case_id, "propose_revocation", PROVINCE, reason_code="18.4", facts=FACTS)
    engine.fire(heard, "state", "county:" + engine.get(heard).county, text="已于10月补报")
    hearing_due = engine.get(silent).hearing_due
    assert hearing_due == date(2023, 11, 8)
    clock.set(end_of_day(hearing_due))
    handled = engine.run_due()
    assert (deadlines.HEARING_END, silent, "revoked") in outcomes(handled)
    assert (deadlines.HEARING_END, heard, "awaiting_decision") in outcomes(handled)
    assert engine.get(silent).state == "revoked" and engine.get(heard).state == \
        "revocation_proposed"
    [decision] = [row for row in audit_rows(engine, case_id=silent) if row.trigger == "revoke"]
    assert decision.actor == "system"


def test_old_timer_revocations_are_listed_and_can_be_reinstated(db_url: str) -> None:
    """A database at 0006 holding a cluster revoked by the old timer under 18.3 (no 告知, no
    hearing; its deadlines cancelled) is upgraded: the case stays revoked (nothing changed
    silently), it is listed by `audit procedures` with where it was, and `case reinstate`
    returns it there with its deadlines pending again; the chain verifies."""
    import json

    from click.testing import CliRunner
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from gdcluster.cli import cli
    from gdcluster.engine import audit
    from gdcluster.engine.clock import parse_instant
    from gdcluster.states.policy import load_policy

    store = database_made_at(db_url, "0006_lifecycle_recognition")
    try:
        policy = load_policy("guangdong-2023", digest=load_policy("guangdong-2023").digest)
        at = parse_instant("2025-04-01T00:05")
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO gd_round (year, policy, policy_version, policy_digest, opened_at, "
                "version) VALUES (2024, :name, :version, :digest, :at, 1)"),
                {"name": policy.name, "version": policy.version, "digest": policy.digest,
                 "at": at})
            connection.execute(text(
                "INSERT INTO gd_case (id, round_year, name, city, county, industry, state, "
                "version, policy, policy_version, policy_digest, application, valid_from, "
                "valid_until, created_at, updated_at) VALUES (1, 2024, '升级前撤销的集群', "
                "'佛山市', '佛山市南海区', '铝型材', 'revoked', 9, :policy, :version, :digest, "
                "'{}', '2024-10-14', '2027-10-13', :at, :at)"),
                {"policy": policy.name, "version": policy.version, "digest": policy.digest,
                 "at": at})
            connection.execute(text(
                "INSERT INTO gd_deadline (case_id, kind, key, due_at, status, created_at, "
                "fired_at, result) VALUES (1, 'report_due', 'case:1:report:2025', :due, "
                "'cancelled', :at, :at, 'case revoked')"),
                {"due": end_of_day(date(2026, 3, 31)), "at": at})
        with Session(store.engine) as session, session.begin():
            audit.append(session, actor="system", trigger="revoke", article="第十八条", at=at,
                         case_id=1, round_year=2024, from_state="recognized",
                         to_state="revoked",
                         reason="18.3 未按时报送2024年度发展情况（应于2025年3月31日24时前报送）",
                         payload={"reason_code": "18.3", "ground": "未及时报送"})
    finally:
        store.dispose()

    clock = FakeClock("2025-05-06T10:00")
    engine = Engine.init(db_url, simulation=True, clock=clock)
    try:
        view = engine.get(1)
        assert (view.state, view.previous_state, view.version) == ("revoked", "recognized", 9)
        [listed] = engine.unheard_revocations()
        assert (listed["case_id"], listed["actor"], listed["reason_code"],
                listed["from_state"], listed["reinstated"]) == (1, "system", "18.3",
                                                                "recognized", False)
        shown = CliRunner().invoke(cli, ["--db", db_url, "audit", "procedures", "--json"])
        assert shown.exit_code == 0, shown.output
        assert [row["case_id"] for row in json.loads(shown.stdout)] == [1]
        view = engine.fire(1, "reinstate", PROVINCE, reason="原撤销未经陈述申辩程序，自我纠错",
                           reference="自我纠错")
        assert (view.state, view.valid_until) == ("recognized", date(2027, 10, 13))
        # the cancelled row stays as the chain vouched for it; the deadline is pending again
        assert [(row["key"], row["status"], row["due_at"]) for row in view.deadlines] == [
            ("case:1:report:2025", "cancelled", end_of_day(date(2026, 3, 31))),
            ("case:1:report:2025:rearmed-1", "pending", end_of_day(date(2026, 3, 31)))]
        assert engine.unheard_revocations()[0]["reinstated"] is True
        assert engine.verify_audit().ok
    finally:
        engine.close()
