"""复核 rounds as the measures run them (第十六条; issue 12): the end of validity expires a
case (nothing revoked), a 复核 round covers the clusters whose validity ends by the end of its
year, the county applies with its 复核申报, the city records its 初审 opinion, and the province
renews with the 考核 recorded, the new validity contiguous even after the old one ended."""

from __future__ import annotations

from datetime import date

import pytest
from deadline_support import PROVINCE, audit_rows, rows
from review_support import (
    CITY,
    COUNTY,
    apply_and_check,
    batch_2023,
    load,
    open_review_2026,
)

from gdcluster.engine import Engine, InvalidInput, Reason, TransitionRefused
from gdcluster.engine.testing import FakeClock


def test_validity_end_expires_and_revokes_nothing(engine: Engine, clock: FakeClock) -> None:
    """At 24:00 of valid_until a recognized case not under review becomes expired (有效期届满)
    by the system; nothing is revoked and a microsecond earlier nothing happens."""
    [case_id] = batch_2023(engine, clock, count=1)
    assert [item.kind for item in engine.run_due("2026-07-09T23:59:59.999")
            if item.kind == "validity_end"] == []
    clock.set("2026-07-10T00:00")
    handled = [(item.kind, item.outcome) for item in engine.run_due()
               if item.case_id == case_id]
    assert ("validity_end", "expired") in handled
    view = engine.get(case_id)
    assert (view.state, view.valid_until) == ("expired", date(2026, 7, 9))
    last = engine.history(case_id)[-1]
    assert (last["trigger"], last["actor"], last["to_state"]) == ("expire", "system", "expired")
    assert "revoke" not in [row["trigger"] for row in engine.history(case_id)]


def test_review_round_covers_cases_ending_by_its_year(engine: Engine, clock: FakeClock) -> None:
    """`round open 2026 --kind review` covers the recognized clusters valid to 2026 (not one
    valid to 2027), schedules each one's application deadline and the round's 初审 deadline,
    and sends each a 复核通知; round show lists them."""
    ids = batch_2023(engine, clock, count=2)
    summary = open_review_2026(engine, clock)
    assert (summary.kind, summary.apply_by, summary.check_by) == (
        "review", "2026-07-31", "2026-08-14")
    assert [row["id"] for row in summary.covered] == ids
    assert summary.counts.by_state == {"recognized": 2}
    for case_id in ids:
        assert engine.get(case_id).review_round == 2026
        [due] = rows(engine, case_id, kind="review_apply_due")
        assert (due.key, due.status) == (f"case:{case_id}:review:2026", "pending")
    [notice] = [row for row in audit_rows(engine, case_id=ids[0]) if row.trigger == "review_notice"]
    assert notice.actor == "province@王处长"
    [check] = rows(engine, kind="round_review_check_close")
    assert check.round_year == 2026


def test_review_round_dates_never_in_the_past(engine: Engine, clock: FakeClock) -> None:
    """An application deadline before today is refused (exit 2), as is a 初审 deadline
    before the application one; a round nobody would be covered by is refused (exit 3)."""
    batch_2023(engine, clock, count=1)
    clock.set("2026-06-15T09:00")
    with pytest.raises(InvalidInput) as caught:
        engine.open_round(2026, PROVINCE, kind="review", apply_by="2026-06-14")
    assert caught.value.field == "apply_by"
    with pytest.raises(InvalidInput) as caught:
        engine.open_round(2026, PROVINCE, kind="review", apply_by="2026-07-31",
                          check_by="2026-07-30")
    assert caught.value.field == "check_by"
    with pytest.raises(TransitionRefused):
        engine.open_round(2025, PROVINCE, kind="review")
    summary = engine.open_round(2026, PROVINCE, kind="review")
    # defaults: 20 working days from the day after, then 10 more
    assert summary.apply_by == engine.workdays("2026-06-16", 20).isoformat()
    assert date.fromisoformat(summary.check_by) > date.fromisoformat(summary.apply_by)


def test_apply_review_needs_an_open_review_round(engine: Engine, clock: FakeClock) -> None:
    """No 复核 round covers the case: apply_review is refused; after the round's application
    deadline too; a 复核申报 missing a year of its window is bad input naming the field."""
    [case_id] = batch_2023(engine, clock, count=1)
    data = load("review-2026.json")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire(case_id, "apply_review", COUNTY, data=data)
    assert caught.value.reasons == [Reason.NO_REVIEW_ROUND]
    open_review_2026(engine, clock)
    broken = {**data, "output": {"2023": "205.0", "2024": "231.6"}}
    with pytest.raises(InvalidInput) as bad:
        engine.fire(case_id, "apply_review", COUNTY, data=broken)
    assert bad.value.field == "output.2025"
    clock.set("2026-08-01T00:00")
    with pytest.raises(TransitionRefused) as late:
        engine.fire(case_id, "apply_review", COUNTY, data=data)
    assert Reason.APPLICATION_DEADLINE_PASSED in late.value.reasons


def test_renewal_after_expiry_is_contiguous_with_the_kaohe(engine: Engine,
                                                          clock: FakeClock) -> None:
    """County A applies, the city passes it, the validity end passes while it is under
    review (held, not expired), the province renews on 2026-07-20: renewed 2026-07-10 to
    2029-07-09, the 考核 of each plan goal and the criteria re-check in the audit row, the
    application deadline settled and the new reports scheduled."""
    [case_id] = batch_2023(engine, clock, count=1)
    open_review_2026(engine, clock)
    clock.set("2026-07-01T10:00")
    view = engine.fire(case_id, "apply_review", COUNTY, data=load("review-2026.json"))
    assert view.state == "under_review"
    [due] = rows(engine, case_id, kind="review_apply_due")
    assert due.status == "done"
    with pytest.raises(TransitionRefused) as early:
        engine.fire(case_id, "renew", PROVINCE)
    assert early.value.reasons == [Reason.NO_CITY_OPINION]
    clock.set("2026-07-03T10:00")
    engine.fire(case_id, "review_check", CITY, passed=True, opinion="经初审，符合复核条件")
    clock.set("2026-07-10T00:05")
    assert [(item.kind, item.outcome) for item in engine.run_due()
            if item.case_id == case_id and item.kind == "validity_end"] == [
        ("validity_end", "held")]
    assert engine.get(case_id).state == "under_review"
    clock.set("2026-07-20T10:00")
    view = engine.fire(case_id, "renew", PROVINCE, reason="考核达标")
    assert (view.state, view.valid_from, view.valid_until) == (
        "renewed", date(2026, 7, 10), date(2029, 7, 9))
    last = engine.history(case_id)[-1]
    assessment = last["payload"]["assessment"]
    assert [(goal["indicator"], goal["met"]) for goal in assessment["goals"]] == [
        ("集群产值", True), ("专精特新中小企业", True), ("工业互联网平台应用普及率", True),
        ("单位产值二氧化碳排放", True)]
    assert assessment["criteria_passed"] is True
    assert last["payload"]["city_opinion"] == "经初审，符合复核条件"
    pending_ends = [row.due_at for row in rows(engine, case_id, kind="validity_end")
                    if row.status == "pending"]
    assert len(pending_ends) == 1
    status = engine.review_status(case_id)
    assert status["review_round"] == 2026 and status["assessment"]["goals_met"] == 4
    # the 复核申报's plan for the next period is now the plan in force (assessed next time)
    assert [(goal["indicator"], goal["target"]["year"]) for goal in status["plan"]] == [
        ("集群产值", 2029), ("专精特新中小企业", 2029)]


def test_a_failed_city_opinion_blocks_renewal(engine: Engine, clock: FakeClock) -> None:
    """The city's 初审 did not pass: renew is refused, naming the opinion."""
    [case_id] = batch_2023(engine, clock, count=1)
    open_review_2026(engine, clock)
    clock.set("2026-07-01T10:00")
    engine.fire(case_id, "apply_review", COUNTY, data=load("review-2026-goals-missed.json"))
    engine.fire(case_id, "review_check", CITY, passed=False, opinion="规划目标多项未完成")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire(case_id, "renew", PROVINCE)
    assert caught.value.reasons == [Reason.CITY_OPINION_NOT_PASSED]
    status = engine.review_status(case_id)
    assert status["assessment"]["goals_met"] == 0
    assert status["review"]["check"]["passed"] is False


def test_no_case_is_filed_in_a_review_round(engine: Engine, clock: FakeClock,
                                            application: dict) -> None:
    """A 复核 round takes no applications for recognition."""
    batch_2023(engine, clock, count=1)
    open_review_2026(engine, clock)
    with pytest.raises(TransitionRefused) as caught:
        engine.create_case(round_year=2026, name="新集群", county="佛山市南海区",
                           industry="铝型材", data=application, actor=COUNTY)
    assert caught.value.reasons == [Reason.REVIEW_ROUND]


def test_the_review_commands_on_the_cli(tmp_path, clock: FakeClock, monkeypatch) -> None:
    """`round open 2026 --kind review`, `case apply-review --data`, `case review-check`,
    `case check --review`, `case renew` and `round show`, with their exit codes: a 复核 with
    no round covering the case is refused (3), a 复核申报 lacking a year is bad input (2)
    naming the field."""
    import json

    from click.testing import CliRunner
    from deadline_support import DATA

    from gdcluster.cli import cli

    db = f"sqlite:///{tmp_path / 'gd.db'}"
    engine = Engine.init(db, simulation=True, clock=clock)
    try:
        [case_id] = batch_2023(engine, clock, count=1)
    finally:
        engine.close()
    monkeypatch.chdir(tmp_path)  # the default outbox is ./outbox: never the checkout's
    runner = CliRunner(env={"GDCLUSTER_NOW": None, "GDCLUSTER_DB": None,
                            "GDCLUSTER_ACTOR": None, "GDCLUSTER_SETTINGS": None})

    def gd(actor: str | None, now: str, *argv: str):
        return runner.invoke(cli, ["--db", db, *(["--as", actor] if actor else []), "--now",
                                   now, *argv])

    review = str(DATA / "review-2026.json")
    refused = gd(COUNTY, "2026-06-01T09:00", "case", "apply-review", str(case_id), "--data",
                 review)
    assert refused.exit_code == 3 and "复核 round" in refused.output
    opened = gd(PROVINCE, "2026-06-15T09:00", "round", "open", "2026", "--kind", "review",
                "--apply-by", "2026-07-31", "--check-by", "2026-08-14")
    assert opened.exit_code == 0, opened.output
    assert "复核 round 2026 open: 1 cluster(s) covered" in opened.output
    broken = tmp_path / "broken.json"
    data = load("review-2026.json")
    data["output"].pop("2025")
    broken.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    bad = gd(COUNTY, "2026-07-01T09:00", "case", "apply-review", str(case_id), "--data",
             str(broken))
    assert bad.exit_code == 2 and "output.2025" in bad.output
    applied = gd(COUNTY, "2026-07-01T10:00", "case", "apply-review", str(case_id), "--data",
                 review)
    assert applied.exit_code == 0 and "under_review" in applied.output, applied.output
    neither = gd(CITY, "2026-07-02T10:00", "case", "review-check", str(case_id), "--opinion",
                 "x")
    assert neither.exit_code == 2
    checked = gd(CITY, "2026-07-02T10:00", "case", "review-check", str(case_id), "--pass",
                 "--opinion", "经初审，符合复核条件")
    assert checked.exit_code == 0, checked.output
    kaohe = gd(None, "2026-07-02T11:00", "case", "check", str(case_id), "--review")
    assert kaohe.exit_code == 0, kaohe.output
    assert "考核 of the plan goals (4 of 4 met)" in kaohe.output
    assert "集群产值" in kaohe.output and "NOT met" not in kaohe.output
    assert "every automatic criterion is met" in kaohe.output
    as_json = json.loads(gd(None, "2026-07-02T11:00", "--json", "case", "check",
                            str(case_id), "--review").output)
    assert as_json["assessment"]["goals_met"] == 4
    shown = gd(None, "2026-07-10T11:00", "case", "show", str(case_id))
    assert "plan goals (target · latest actual)" in shown.output
    assert "(ended; under 复核)" in shown.output
    renewed = gd(PROVINCE, "2026-07-20T10:00", "case", "renew", str(case_id))
    assert renewed.exit_code == 0 and "2026-07-10 – 2029-07-09" in renewed.output
    summary = gd(None, "2026-07-20T11:00", "round", "show", "2026")
    assert "复核 round (kind review)" in summary.output and "applied" in summary.output
    listed = json.loads(gd(None, "2026-07-20T11:00", "--json", "round", "show", "2026").output)
    assert (listed["kind"], [row["id"] for row in listed["covered"]]) == ("review", [case_id])


def test_the_2023_batch_replays_its_review(engine: Engine, clock: FakeClock) -> None:
    """Done when (issue 12): the 2023 batch, recognized 2023-07-10 (valid to 2026-07-09), in
    the 复核 round 2026. County A applies, its city passes it and the province renews it after
    2026-07-09: renewed 2026-07-10 to 2029-07-09. County B never applies: expired at
    2026-07-09 24:00, then at the application deadline (2026-07-31 24:00) the system opens the
    18.1 procedure. County C fails the 考核: the province fails its 复核 with reasons, which
    opens the 18.1 procedure. Nothing is revoked."""
    a, b, c = batch_2023(engine, clock, count=3)
    open_review_2026(engine, clock)
    apply_and_check(engine, clock, a, c)

    clock.set("2026-07-10T00:05")
    ended = {item.case_id: item.outcome for item in engine.run_due()
             if item.kind == "validity_end"}
    assert ended == {a: "held", b: "expired", c: "held"}

    clock.set("2026-07-20T10:00")
    view = engine.fire(a, "renew", PROVINCE)
    assert (view.state, view.valid_from, view.valid_until) == (
        "renewed", date(2026, 7, 10), date(2029, 7, 9))

    clock.set("2026-07-21T10:00")
    failed = engine.fire(c, "fail_review", PROVINCE,
                         reason="4项发展规划目标均未完成，集群产值未达到目标值")
    assert (failed.state, failed.previous_state) == ("revocation_proposed", "under_review")
    last = engine.history(c)[-1]
    assert (last["trigger"], last["payload"]["reason_code"]) == ("fail_review", "18.1")
    assert last["payload"]["assessment"]["goals_met"] == 0
    assert "经2026年复核未通过" in last["payload"]["facts"]
    assert failed.hearing_due is not None and failed.hearing_due > date(2026, 7, 21)

    clock.set("2026-08-01T00:05")
    proposed = [(item.case_id, item.outcome) for item in engine.run_due()
                if item.kind == "review_apply_due"]
    assert proposed == [(b, "revocation_proposed")]
    view = engine.get(b)
    assert (view.state, view.previous_state) == ("revocation_proposed", "expired")
    opened = engine.history(b)[-1]
    assert (opened["trigger"], opened["actor"], opened["payload"]["reason_code"]) == (
        "propose_revocation", "system", "18.1")
    assert "未申请复核" in opened["payload"]["facts"]
    for case_id in (a, b, c):
        assert "revoke" not in [row["trigger"] for row in engine.history(case_id)]
    report = engine.verify_audit()
    assert report.ok, report.message()


def test_a_failed_review_sends_its_result_and_the_notice_of_intent(
        tmp_path, clock: FakeClock) -> None:
    """`fail_review` issues the 复核结果 (reasons, the 考核, the 拟撤销 procedure that follows)
    and the 拟撤销告知书 (ground 18.1 with its words, the 陈述申辩 deadline); the 复核 round
    issued each covered case its 复核通知 (county, copied to the city)."""
    from gdcluster.notifications import Contact, Settings, attach, list_notices, render_notice

    engine = Engine.init(f"sqlite:///{tmp_path / 'gd.db'}", simulation=True, clock=clock)
    try:
        attach(engine, Settings(outbox=tmp_path / "outbox", contact=Contact(
            person="张三", phone="020-83133333", email="zxqyc@gdei.gov.cn",
            department="中小企业服务处", address="广州市越秀区东风中路305号",
            postcode="510031")))
        [case_id] = batch_2023(engine, clock, count=1)
        open_review_2026(engine, clock)
        clock.set("2026-07-01T10:00")
        engine.fire(case_id, "apply_review", COUNTY, data=load("review-2026-goals-missed.json"))
        engine.fire(case_id, "review_check", CITY, passed=False, opinion="目标未完成")
        clock.set("2026-07-21T10:00")
        view = engine.fire(case_id, "fail_review", PROVINCE, reason="发展规划目标均未完成")
        kinds = [row["kind"] for row in list_notices(engine, case_id=case_id)
                 if row["format"] == "txt"]
        assert kinds[-3:] == ["review_notice", "review_result", "revocation_proposal"]
        notice = render_notice(engine, "review_notice", case_id=case_id).body.decode("utf-8")
        assert ("请集群所在县（市、区）中小企业主管部门于2026年7月31日（当日24时止）前提出复核"
                "申请") in notice
        assert "抄送：佛山市工业和信息化局。" in notice
        result = render_notice(engine, "review_result", case_id=case_id).body.decode("utf-8")
        assert "该集群未通过复核" in result and "未通过复核的理由：发展规划目标均未完成。" in result
        assert "集群发展规划目标考核：4项目标中0项达成" in result
        assert "“有效期满未申请复核或经复核未通过”" in result
        assert "市级推荐" not in result
        due = view.hearing_due
        assert due is not None
        assert f"{due.year}年{due.month}月{due.day}日24时前提出陈述和申辩意见" in result
        intent = render_notice(engine, "revocation_proposal", case_id=case_id).body.decode("utf-8")
        assert "经2026年复核未通过：发展规划目标均未完成" in intent
    finally:
        engine.close()


@pytest.mark.parametrize("act", ["publicize", "recognize", "close"])
def test_a_review_round_takes_no_recognition_batch(engine: Engine, clock: FakeClock,
                                                   act: str) -> None:
    """`round publicize`, `round recognize` and `round close` are refused on a 复核 round (exit
    3), before anything is written."""
    batch_2023(engine, clock, count=1)
    open_review_2026(engine, clock)
    clock.set("2026-08-01T09:00")  # after its application deadline (round close waits for it)
    engine.run_due()
    before = engine.audit_length()
    calls = {"publicize": lambda: engine.publicize_round(2026, PROVINCE, top=1),
             "recognize": lambda: engine.recognize_round(2026, PROVINCE,
                                                         doc_no="粤工信服务函〔2026〕9号"),
             "close": lambda: engine.close_round(2026, PROVINCE)}
    with pytest.raises(TransitionRefused, match="复核 round"):
        calls[act]()
    assert engine.audit_length() == before
