"""Issue 11 (Law I), on SQLite and PostgreSQL: recognition with the published list, legal dates
never in the past, time only moving forward, the round closed with its leftovers 未入选, the
退回补正 deadline, the measures' own validity, and the state a closed case came from.

Each "Why" of the issue is reproduced here as it was found and shown refused or repaired; the
races and crashes of `round recognize` are in test_races.py and test_crashes.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from deadline_support import (
    PROVINCE,
    audit_rows,
    insert_cases,
    keep_in_force,
    open_round,
    publicized,
    rows,
    states,
)
from hardening_support import snapshot
from sqlalchemy import func, select

from gdcluster.engine import (
    ClockBehind,
    Engine,
    InvalidInput,
    Reason,
    SystemClock,
    TransitionRefused,
)
from gdcluster.engine.clock import FakeClock, end_of_day, local_date, start_of_day
from gdcluster.engine.models import Case, Notice, Refusal
from gdcluster.notifications import Contact, Settings, attach, render_notice

CONTACT = Contact(person="张三", phone="020-83133333", email="zxqyc@gdei.gov.cn",
                  department="中小企业服务处", address="广州市越秀区东风中路305号",
                  postcode="510031")
DOC_NO = "粤工信服务函〔2023〕30号"


@pytest.fixture
def noticed(engine: Engine, tmp_path: Path) -> Engine:
    """The engine with its notices issued as plain text into a temporary outbox."""
    attach(engine, Settings(outbox=tmp_path / "outbox", formats=("txt",), contact=CONTACT))
    return engine


def notices(engine: Engine, kind: str) -> list[Notice]:
    with engine.store.read() as session:
        found = list(session.scalars(select(Notice).where(Notice.kind == kind)
                                     .order_by(Notice.id)))
        for row in found:
            session.expunge(row)
        return found


def scored(engine: Engine, count: int, year: int) -> list[int]:
    """``count`` expert-reviewed cases of round ``year``, scores falling with the id."""
    ids = insert_cases(engine, count, state="expert_reviewed", round_year=year)
    with engine.store.write() as session:
        for index, case_id in enumerate(ids):
            session.get(Case, case_id).score = f"{90 - index}.0000"  # type: ignore[union-attr]
    return ids


# ---------------------------------------------------------------------------- the 2023 batch
def test_the_2023_batch_replays_with_its_published_list(noticed: Engine,
                                                        clock: FakeClock) -> None:
    """The real 2023 batch: 公示 from 2023-06-20 to 2023-06-29 (7 working days over 端午). At
    24:00 the scheduler closes the publicity and recognizes nobody; `round recognize 2023`
    dated 2023-07-10 gives every case 2023-07-10 to 2026-07-09 and issues one 名单通告 saying
    so; rerunning it the next day writes nothing — no act, no notice, the round unchanged."""
    engine = noticed
    clock.set("2023-03-01T09:00")
    ids = scored(engine, 5, 2023)
    clock.set("2023-06-19T10:00")
    result = engine.publicize_round(2023, PROVINCE, top=5, start="2023-06-20")
    assert (result.publicity_start, result.publicity_end) == ("2023-06-20", "2023-06-29")
    clock.set("2023-06-30T00:05")
    assert {item.outcome for item in engine.run_due()} == {"publicity_closed"}
    assert {(engine.get(case_id).state, engine.get(case_id).valid_from) for case_id in ids} \
        == {("publicity_closed", None)}
    clock.set("2023-07-05T00:05")
    assert engine.run_due() == []  # the timer never recognizes
    clock.set("2023-07-10T15:00")
    listed = engine.recognize_round(2023, PROVINCE, doc_no=DOC_NO)
    assert (listed.recognized, listed.doc_date, listed.valid_from, listed.valid_until) == (
        ids, "2023-07-10", "2023-07-10", "2026-07-09")
    assert {(engine.get(case_id).valid_from, engine.get(case_id).valid_until)
            for case_id in ids} == {(date(2023, 7, 10), date(2026, 7, 9))}
    [notice] = notices(engine, "recognition")
    text = notice.body.decode("utf-8")
    assert notice.doc_no == DOC_NO
    assert "五、集群认定有效期为2023年7月10日至2026年7月9日。" in text
    assert "2023年7月10日" in [line.strip() for line in text.splitlines()]  # dated so
    before = snapshot(engine)
    summary = engine.round_summary(2023).to_dict()
    clock.set("2023-07-11T10:00")
    again = engine.recognize_round(2023, PROVINCE, doc_no=DOC_NO, valid_from="2023-08-01")
    assert (again.recognized, again.batch) == ([], None)
    assert again.closed is not None and not again.closed.closed_round
    assert snapshot(engine) == before
    assert engine.round_summary(2023).to_dict() == summary  # valid_from not overwritten
    assert len(notices(engine, "recognition")) == 1


def test_validity_starts_from_the_notices_document_date_signed_before_entry(
        engine: Engine, clock: FakeClock) -> None:
    """A 通告 signed on 2024-10-14 and entered on the 16th dates validity from the 14th; a later
    --valid-from is honoured; one validity for every case of the 通告."""
    ids = publicized(engine, 3, end=date(2024, 10, 11))
    clock.set("2024-10-16T10:00")
    result = engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号",
                                    doc_date="2024-10-14", valid_from="2024-11-01")
    assert (result.doc_date, result.valid_from, result.valid_until) == (
        "2024-10-14", "2024-11-01", "2027-10-31")
    assert {(engine.get(case_id).valid_from, engine.get(case_id).valid_until)
            for case_id in ids} == {(date(2024, 11, 1), date(2027, 10, 31))}
    payloads = [engine.history(case_id)[-1]["payload"] for case_id in ids]
    assert {(row["doc_no"], row["doc_date"], row["valid_from"]) for row in payloads} == {
        ("粤工信服务函〔2024〕95号", "2024-10-14", "2024-11-01")}


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [({"doc_date": "2024-10-11"}, "doc_date", "not after the close of publicity"),
     ({"doc_date": "2024-10-09"}, "doc_date", "2024-10-11"),
     ({"doc_date": "2024-10-17"}, "doc_date", "after today"),
     ({"valid_from": "2000-01-01"}, "valid_from", "before the 通告's 成文日期"),
     ({"doc_date": "2024-10-14", "valid_from": "2024-10-13"}, "valid_from", "2024-10-14")],
    ids=["on-the-last-day", "during-publicity", "after-today", "valid-from-2000",
         "valid-from-before-the-document"],
)
def test_the_notices_dates_are_checked_before_anything_is_written(
        engine: Engine, clock: FakeClock, options: dict[str, str], field: str,
        words: str) -> None:
    """成文日期 on or before the close of publicity, or after today, and a validity start before
    the 成文日期 (--valid-from 2000-01-01 once revoked every case for a 2000 report), are
    refused as bad input naming the field; nothing is written — not even the closing of the
    publicity that would come first, no deadline, no stored batch."""
    ids = publicized(engine, 2, end=date(2024, 10, 11))
    clock.set("2024-10-16T10:00")
    before = snapshot(engine)
    with pytest.raises(InvalidInput, match=words) as caught:
        engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号", **options)
    assert caught.value.field == field and caught.value.exit_code == 2
    assert snapshot(engine) == before
    assert states(engine, ids) == dict.fromkeys(ids, "publicized")
    assert engine.round_summary(2024).recognition_batch is None


def test_recognition_never_comes_from_one_case_or_the_timer(engine: Engine,
                                                            clock: FakeClock) -> None:
    """`recognize` on one case is refused (exit 3, naming `round recognize`) and recorded;
    so is `close`; the scheduler's deadline at the end of publicity only closes it."""
    [case_id] = publicized(engine, end=date(2024, 10, 11))
    clock.set("2024-10-12T00:00")
    assert [item.outcome for item in engine.run_due()] == ["publicity_closed"]
    for trigger in ("recognize", "close"):
        with pytest.raises(TransitionRefused, match=r"round (recognize|close)") as caught:
            engine.fire(case_id, trigger, PROVINCE)
        assert caught.value.reasons == [Reason.ROUND_ACT_ONLY]
        assert engine.refusals(case_id=case_id)[-1]["trigger"] == trigger
    assert engine.get(case_id).state == "publicity_closed"


# ---------------------------------------------------------------------------- 公示
def test_a_backdated_publicity_is_refused(engine: Engine, clock: FakeClock) -> None:
    """`round publicize --start` before the day the 公示 is issued (here ten months before) is
    refused naming `start`; so is the same date on one case. Nothing is written, and the next
    sweep has nothing to do."""
    ids = scored(engine, 2, 2024)
    clock.set("2024-11-27T10:00")
    before = snapshot(engine)
    with pytest.raises(InvalidInput, match="never starts in the past") as caught:
        engine.publicize_round(2024, PROVINCE, select_ids=[ids[0]], start="2024-01-05")
    assert caught.value.field == "start"
    with pytest.raises(InvalidInput) as one:
        engine.fire(ids[1], "publicize", PROVINCE, start="2024-11-26")
    assert one.value.field == "start"
    assert snapshot(engine) == before
    assert engine.run_due() == []
    result = engine.publicize_round(2024, PROVINCE, select_ids=[ids[0]], start="2024-11-27")
    assert result.publicity_start == "2024-11-27"


def test_a_backdated_publicity_is_refused_on_a_real_database(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case on a real database, whose clock is the system's: a 公示 starting ten
    months before today is refused (a round opened after `policy extend`, as the province
    must now)."""
    engine = Engine.init(db_url)
    try:
        today = local_date(SystemClock().now())
        keep_in_force(engine, until="2100-12-31")
        open_round(engine, today.year)
        [case_id] = insert_cases(engine, 1, state="expert_reviewed", round_year=today.year)
        with pytest.raises(InvalidInput) as caught:
            engine.publicize_round(today.year, PROVINCE, select_ids=[case_id],
                                   start=today - timedelta(days=300))
        assert caught.value.field == "start"
        assert engine.get(case_id).state == "expert_reviewed"
    finally:
        engine.close()


def test_national_publicity_runs_five_working_days(engine: Engine, clock: FakeClock) -> None:
    """Under national-2022 the 公示 runs 5 working days, as the MIIT's did: 2022-12-29 to
    2023-01-05 across 元旦."""
    clock.set("2022-12-28T10:00")
    open_round(engine, 2022, policy="national-2022")
    [case_id] = insert_cases(engine, 1, state="expert_reviewed", round_year=2022)
    view = engine.fire(case_id, "publicize", PROVINCE, start="2022-12-29")
    assert (view.publicity_start, view.publicity_end) == (date(2022, 12, 29), date(2023, 1, 5))
    assert engine.history(case_id)[-1]["payload"]["workdays"] == 5


# ---------------------------------------------------------------------------- time
def test_time_only_moves_forward_on_a_simulation_database(engine: Engine,
                                                          clock: FakeClock) -> None:
    """An act dated before the last audit row is refused (ClockBehind, exit 3), names both
    times, writes nothing and is recorded; a round act too; a sweep at such an instant leaves
    its deadlines pending ("waiting"), never closes them."""
    [case_id] = publicized(engine, end=date(2024, 10, 11))
    [earlier] = publicized(engine, start=date(2024, 9, 23), end=date(2024, 10, 7))
    clock.set("2024-10-09T10:00")
    engine.fire(case_id, "object", "public@赵六", name="赵六", contact="138", evidence="存疑")
    clock.set("2024-10-08T10:00")
    before = snapshot(engine)
    with pytest.raises(ClockBehind, match="2024-10-09 10:00") as caught:
        engine.fire(case_id, "object", "public@钱七", name="钱七", contact="139", evidence="e")
    assert caught.value.exit_code == 3
    with pytest.raises(ClockBehind):
        engine.open_round(2025, PROVINCE)
    assert snapshot(engine).without("gd_refusal") == before.without("gd_refusal")
    assert [row["code"] for row in engine.refusals()] == ["clock_behind", "clock_behind"]
    got = engine.run_due("2024-10-08T12:00")  # the earlier window's end: its act would go back
    assert [(item.case_id, item.outcome) for item in got] == [(earlier, "waiting")]
    assert "time only moves forward" in got[0].result
    assert [row.status for row in rows(engine, earlier)] == ["pending"]
    assert engine.get(earlier).state == "publicized"
    assert [(item.case_id, item.outcome) for item in engine.run_due("2024-10-09T12:00")] == [
        (earlier, "publicity_closed")]


def test_with_the_system_clock_an_act_overtaken_is_done_again_at_a_fresh_time(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a real database, when another act was recorded after this one read the system clock
    (two processes), the kernel does the act again at a fresh time: it succeeds, and the chain
    never goes back in time."""
    engine = Engine.init(db_url)
    try:
        keep_in_force(engine, until="2100-12-31")
        open_round(engine, local_date(SystemClock().now()).year)
        [case_id] = insert_cases(engine, 1, state="drafted",
                                 round_year=local_date(SystemClock().now()).year)
        real = SystemClock.now
        calls: list[int] = []

        def late_once(self: SystemClock) -> Any:
            calls.append(1)
            moment = real(self)
            return moment - timedelta(hours=1) if len(calls) == 1 else moment

        monkeypatch.setattr(SystemClock, "now", late_once)
        engine.fire(case_id, "withdraw", "county:佛山市南海区")
        monkeypatch.setattr(SystemClock, "now", real)
        times = [row.at for row in audit_rows(engine)]
        assert times == sorted(times) and engine.get(case_id).state == "withdrawn"
        assert engine.refusals() == [] and len(calls) >= 2
    finally:
        engine.close()


# ---------------------------------------------------------------------------- 退回补正
@pytest.fixture
def round_2024(noticed: Engine, clock: FakeClock) -> Engine:
    """Round 2024 with its deadlines (applications to 31 May, recommendations to 30 June)."""
    clock.set("2024-03-01T09:00")
    noticed.open_round(2024, PROVINCE, apply_by="2024-05-31", recommend_by="2024-06-30")
    return noticed


def submitted(engine: Engine, application: dict[str, Any], county: str = "佛山市南海区") -> int:
    case_id = engine.create_case(round_year=2024, name=f"{county}铝型材产业集群", county=county,
                                 industry="铝型材", data=application, actor=f"county:{county}")
    engine.fire(case_id, "submit", f"county:{county}")
    return case_id


def test_a_return_after_the_application_deadline_can_be_answered(
        round_2024: Engine, clock: FakeClock, application: dict) -> None:
    """The city returns on 6月5日 (applications closed 5月31日): the correction deadline is 5
    working days from the next day (6月13日, over 端午), the notice states it, the reminder comes
    two working days before; the county submits again on 6月12日; a case not submitted again
    is refused after 24:00 of its deadline, and `round close` closes it (not submitted, no
    notice)."""
    engine = round_2024
    answered, silent = submitted(engine, application), submitted(engine, application)
    clock.set("2024-06-05T10:00")
    for case_id in (answered, silent):
        view = engine.fire(case_id, "return", "city:佛山市@张三", reason="缺少2023年产值证明",
                           fields=["output.2023"])
        assert (view.state, view.correction_due) == ("drafted", date(2024, 6, 13))
    last = engine.history(answered)[-1]["payload"]
    assert (last["correction_due"], last["reminder"], last["correction_workdays"]) == (
        "2024-06-13", "2024-06-11", 5)
    text = notices(engine, "return")[0].body.decode("utf-8")
    assert "补正截止日期为2024年6月13日（当日24时止）" in text and "5月31日" not in text
    clock.set(start_of_day(date(2024, 6, 11)))
    reminded = [item for item in engine.run_due() if item.kind == "correction_reminder"]
    assert {(item.case_id, item.outcome) for item in reminded} == {
        (answered, "reminded"), (silent, "reminded")}
    assert "补正截止日期为2024年6月13日（当日24时止），目前尚未重新提交" in notices(
        engine, "correction_reminder")[0].body.decode("utf-8")
    clock.set("2024-06-12T15:00")
    assert engine.fire(answered, "submit", "county:佛山市南海区").state == "submitted"
    assert {row.kind: row.status for row in rows(engine, answered)} == {
        "correction_reminder": "fired", "correction_due": "done"}
    clock.set(end_of_day(date(2024, 6, 13)))
    assert [(item.case_id, item.outcome) for item in engine.run_due()
            if item.kind == "correction_due"] == [(silent, "closed")]
    with pytest.raises(TransitionRefused, match="correction deadline ended") as caught:
        engine.fire(silent, "submit", "county:佛山市南海区")
    assert Reason.SUBMISSION_WINDOW_CLOSED in caught.value.reasons
    clock.set("2024-07-01T09:00")
    closed = engine.close_round(2024, PROVINCE)
    assert closed.closed["not_submitted"] == [silent]
    assert closed.closed["not_recommended"] == [answered]
    assert [row.case_id for row in notices(engine, "not_selected")] == [answered]


def test_the_correction_deadline_keeps_to_the_recommendation_deadline(
        round_2024: Engine, clock: FakeClock, application: dict) -> None:
    """A correction deadline is never before the day of the return nor after the round's
    recommendation deadline: an explicit later --due is refused; a default that would fall
    after it is cut to it, and the act says so; after that deadline nothing is returned."""
    engine = round_2024
    ids = [submitted(engine, application) for _ in range(3)]
    clock.set("2024-06-26T10:00")
    for due, words in (("2024-06-25", "never in the past"), ("2024-07-01", "2024-06-30")):
        with pytest.raises(InvalidInput, match=words) as caught:
            engine.fire(ids[0], "return", "city:佛山市@张三", reason="补正", due=due)
        assert caught.value.field == "due"
    view = engine.fire(ids[0], "return", "city:佛山市@张三", reason="补正")
    assert view.correction_due == date(2024, 6, 30)
    assert engine.history(ids[0])[-1]["payload"]["clamped_to_recommend_by"] == "2024-06-30"
    assert engine.fire(ids[1], "return", "city:佛山市@张三", reason="补正",
                       due="2024-06-30").correction_due == date(2024, 6, 30)
    clock.set("2024-07-01T09:00")
    with pytest.raises(TransitionRefused, match="could no longer be recommended"):
        engine.fire(ids[2], "return", "city:佛山市@张三", reason="补正")


# ---------------------------------------------------------------------------- round close
def test_stranded_cases_are_closed_with_the_round(noticed: Engine, clock: FakeClock) -> None:
    """After publicity, cases never submitted, never recommended or never publicized no longer
    stay open: `round recognize` closes them (not_selected, with their reason kind); a 未入选告知
    goes to each county whose case was submitted; the round is closed — nothing more is filed
    or submitted — and closing again writes nothing."""
    engine = noticed
    clock.set("2024-03-01T09:00")
    open_round(engine, 2024, apply_by="2024-05-31", recommend_by="2024-06-30")
    drafted = insert_cases(engine, 1, state="drafted")
    reviewed = insert_cases(engine, 1, state="city_reviewed")
    recommended = insert_cases(engine, 1, state="recommended")
    clock.set("2024-06-01T09:00")
    with pytest.raises(TransitionRefused, match="open for recommendations"):
        engine.close_round(2024, PROVINCE)
    listed = publicized(engine, 1, end=date(2024, 10, 11))
    ids = scored(engine, 2, 2024)
    clock.set("2024-09-27T10:00")
    picked = engine.publicize_round(2024, PROVINCE, select_ids=[ids[0]])
    assert picked.not_selected == [ids[1]]
    clock.set("2024-10-14T10:00")
    result = engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号")
    assert result.closed is not None and result.closed.closed_round
    assert result.closed.closed == {"not_submitted": drafted, "not_recommended": reviewed,
                                    "not_publicized": recommended}
    found = states(engine, drafted + reviewed + recommended + ids + listed)
    assert [found[case_id] for case_id in drafted + reviewed + recommended + [ids[1]]] == [
        "not_selected"] * 4
    reasons = {case_id: engine.history(case_id)[-1]["payload"]["reason_kind"]
               for case_id in drafted + reviewed + recommended + [ids[1]]}
    assert reasons == {drafted[0]: "not_submitted", reviewed[0]: "not_recommended",
                       recommended[0]: "not_publicized", ids[1]: "not_publicized"}
    told = sorted(row.case_id for row in notices(engine, "not_selected"))
    assert told == sorted(reviewed + recommended + [ids[1]])  # not the draft never submitted
    text = next(row for row in notices(engine, "not_selected")
                if row.case_id == reviewed[0]).body.decode("utf-8")
    assert "未获佛山市工业和信息化局推荐" in text and "抄送：佛山市工业和信息化局。" in text
    assert engine.round_summary(2024).closed_at is not None
    with pytest.raises(TransitionRefused, match="closed"):
        engine.create_case(round_year=2024, name="迟到的集群", county="佛山市南海区",
                           industry="x", data={}, actor="county:佛山市南海区")
    before = snapshot(engine)
    again = engine.close_round(2024, PROVINCE)
    assert (again.closed_round, sum(map(len, again.closed.values()))) == (False, 0)
    assert snapshot(engine).without("gd_refusal") == before.without("gd_refusal")


# ---------------------------------------------------------------------------- reopen
def test_a_closed_case_reopens_to_the_state_it_came_from_while_the_round_runs(
        noticed: Engine, clock: FakeClock) -> None:
    """A city's rejection, an upheld objection and a case not publicized each remember the
    state they came from; `reopen` (province, with a reason) returns exactly there — a case back
    in publicity gets the end of its window armed again — and clears it; once the round is
    closed, reopening is refused, as it is for a case closed before the state was recorded."""
    engine = noticed
    clock.set("2024-03-01T09:00")
    [submitted_case] = insert_cases(engine, 1, state="submitted")
    engine.fire(submitted_case, "reject", "city:佛山市@张三", reason="材料不实")
    assert engine.get(submitted_case).previous_state == "submitted"
    view = engine.fire(submitted_case, "reopen", PROVINCE, reason="初审认定有误，恢复办理")
    assert (view.state, view.previous_state) == ("submitted", None)
    assert engine.history(submitted_case)[-1]["payload"] == {"returned_to": "submitted"}
    [objected] = publicized(engine, 1, end=date(2024, 10, 11))
    clock.set("2024-10-09T10:00")
    objection = engine.fire(objected, "object", "public@赵六", name="赵六", contact="138",
                            evidence="存疑").objections[0]["id"]
    engine.fire(objected, "resolve", PROVINCE, objection=objection, when="uphold", reason="成立")
    assert [row.status for row in rows(engine, objected)] == ["cancelled"]
    clock.set("2024-10-15T10:00")
    view = engine.fire(objected, "reopen", PROVINCE, reason="复查后异议不成立")
    assert view.state == "publicized"
    assert [item.outcome for item in engine.run_due()] == ["publicity_closed"]  # due at once
    ids = scored(engine, 2, 2024)
    engine.publicize_round(2024, PROVINCE, select_ids=[ids[0]])
    assert engine.fire(ids[1], "reopen", PROVINCE, reason="分数录入有误").state == \
        "expert_reviewed"
    [legacy] = insert_cases(engine, 1, state="rejected")
    with pytest.raises(TransitionRefused, match="not recorded") as caught:
        engine.fire(legacy, "reopen", PROVINCE, reason="x")
    assert caught.value.reasons == [Reason.NO_PREVIOUS_STATE]
    clock.set("2024-10-22T10:00")
    engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号")
    [late] = [case_id for case_id in ids[1:] if engine.get(case_id).state == "not_selected"]
    with pytest.raises(TransitionRefused, match="no longer reopened") as closed:
        engine.fire(late, "reopen", PROVINCE, reason="x")
    assert closed.value.reasons == [Reason.ROUND_CLOSED]


# ---------------------------------------------------------------------------- 第二十条
def test_a_round_opens_only_under_a_policy_in_force(engine: Engine, clock: FakeClock) -> None:
    """`round open 2029` under guangdong-2023 (in force to 2025-12-31) is refused naming the
    dates, and recorded; the province's extension — an audited act with the 文号 of its source,
    only ever further — lets it open; policy list shows the extension and the day in force."""
    clock.set("2029-02-01T09:00")
    with pytest.raises(TransitionRefused, match="2023-01-01 to 2025-12-31") as caught:
        engine.open_round(2029, PROVINCE)
    assert "policy extend" in caught.value.message
    assert engine.refusals()[-1]["trigger"] == "open_round"
    with pytest.raises(InvalidInput) as bad_source:
        engine.extend_policy("guangdong-2023", PROVINCE, until="2029-12-31", source="第5号")
    assert bad_source.value.field == "doc_no"
    with pytest.raises(InvalidInput, match="does not extend") as shorter:
        engine.extend_policy("guangdong-2023", PROVINCE, until="2025-06-30",
                             source="粤工信服务函〔2025〕88号")
    assert shorter.value.field == "until"
    payload = engine.extend_policy("guangdong-2023", PROVINCE, until="2029-12-31",
                                   source="粤工信服务函〔2025〕88号")
    assert (payload["previous_until"], payload["until"]) == ("2025-12-31", "2029-12-31")
    [act] = [row for row in audit_rows(engine) if row.trigger == "policy_extend"]
    assert act.article == "第二十条（有效期）"
    assert engine.open_round(2029, PROVINCE).policy == "guangdong-2023"
    status = {row.name: row for row in engine.policies()}
    assert (status["guangdong-2023"].extended_until, status["guangdong-2023"].in_force,
            status["guangdong-2023"].extension_source) == (
        date(2029, 12, 31), True, "粤工信服务函〔2025〕88号")
    assert status["national-2022"].in_force is False


# ---------------------------------------------------------------------------- 现场考察
def test_a_site_visit_is_recorded_and_named_by_later_notices(noticed: Engine,
                                                             clock: FakeClock) -> None:
    """`round site-visit` records a 现场考察 (never dated after today nor before the round
    opened); the round's next 公示 names the step."""
    engine = noticed
    ids = scored(engine, 1, 2024)
    clock.set("2024-08-02T10:00")
    for day, words in (("2024-08-03", "after today"), ("2023-12-01", "before round 2024")):
        with pytest.raises(InvalidInput, match=words):
            engine.record_site_visit(2024, PROVINCE, day=day, note="考察")
    engine.record_site_visit(2024, PROVINCE, day="2024-08-01", note="省专家组现场考察")
    clock.set("2024-09-27T10:00")
    engine.publicize_round(2024, PROVINCE, select_ids=ids)
    assert "专家评审、现场考察" in notices(engine, "publicity")[0].body.decode("utf-8")


# ---------------------------------------------------------------------------- payload keys
def test_unknown_payload_keys_are_refused_naming_the_known_ones(engine: Engine,
                                                                clock: FakeClock) -> None:
    """Issue 15 point 14: a typo in a payload (`foo=1`, `resubmit_by` for `due`) is refused as
    bad input naming the key and the keys the trigger takes; nothing is written, no refusal is
    recorded (it is bad input, not a refusal); the kernel path of the round batches checks the
    row's keys too."""
    [case_id] = insert_cases(engine, 1, state="submitted")
    [public] = publicized(engine, end=date(2024, 10, 11))
    before = snapshot(engine)
    with pytest.raises(InvalidInput, match="submit does not take 'foo'; it takes nothing") as c:
        engine.fire(case_id, "submit", "county:佛山市南海区", foo=1)
    assert c.value.field == "foo"
    with pytest.raises(InvalidInput, match="it takes due, fields, reason"):
        engine.fire(case_id, "return", "city:佛山市@张三", reason="补正",
                    resubmit_by="2024-04-01")
    from gdcluster.engine.actors import Actor

    with pytest.raises(InvalidInput, match="close_publicity does not take 'valid_from'"):
        engine.kernel.act(public, "close_publicity", Actor.parse(PROVINCE),
                          {"valid_from": date(2024, 10, 14)})
    assert snapshot(engine) == before


def test_the_checks_named_by_the_table_see_every_key_they_read(engine: Engine) -> None:
    """Every row's declared keys are exactly what its guards and effect read (bound at open):
    so each key a command passes reaches a function that uses it (the files an act carries,
    ``attachments``, reach ``attachments.store_evidence``)."""
    from gdcluster.engine.attachments import EVIDENCE
    from gdcluster.engine.effects import EFFECTS
    from gdcluster.engine.guards import GUARDS
    from gdcluster.states.workflow import load_workflow

    for rule in load_workflow().rules:
        if not rule.sources:
            continue
        read = set().union(*(GUARDS.reads(name) for name in rule.guards),
                           EFFECTS.reads(rule.effect) if rule.effect else set())
        assert rule.payload_keys - {"when", EVIDENCE} == read - {"when"}, rule.trigger
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(Refusal)) == 0


def test_a_rejection_notice_carries_the_remedies(noticed: Engine, clock: FakeClock) -> None:
    """不予认定 is an adverse decision: the province's letter (to the county's department,
    copied to the city's) carries the remedies to 广东省人民政府; a city's, to the city's
    people's government, signed by the city."""
    engine = noticed
    [province_case] = insert_cases(engine, 1, state="expert_reviewed")
    [city_case] = insert_cases(engine, 1, state="submitted")
    engine.fire(province_case, "reject", PROVINCE, reason="评审发现申报数据不实")
    engine.fire(city_case, "reject", "city:佛山市@张三", reason="材料不实")
    texts = {row.case_id: row.body.decode("utf-8") for row in notices(engine, "rejection")}
    assert "经专家评审，存在以下情形：评审发现申报数据不实" in texts[province_case]
    assert "向广东省人民政府申请行政复议" in texts[province_case]
    assert "抄送：佛山市工业和信息化局。" in texts[province_case]
    assert "向佛山市人民政府申请行政复议" in texts[city_case]
    assert "佛山市工业和信息化局" in texts[city_case] and "抄送" not in texts[city_case]
    rendered = render_notice(engine, "rejection", case_id=province_case, fresh=True,
                             settings=Settings(outbox="x", contact=CONTACT))
    assert rendered.text == texts[province_case]


def test_the_demo_walks_the_new_flow(tmp_path: Path) -> None:
    """`gdcluster demo` shows the new flow: a 退回补正 after the application deadline with its
    correction deadline and reminder, answered in time; the publicity closed by the scheduler;
    recognition by the 名单通告 with its 文号 and a 成文日期 after the publicity; the round closed
    with a case not recommended 未入选; nothing recognized, and nothing revoked, by the
    system."""
    from gdcluster.engine.demo import run

    lines: list[str] = []
    db_path = run(tmp_path / "demo", lines.append)
    text = "\n".join(lines)
    assert "correction deadline 2024-06-13 24:00" in text
    assert "correction_reminder 揭阳市普宁市纺织服装产业集群" in text
    assert "close_publicity 佛山市顺德区智能家电产业集群 publicized → publicity_closed  [system]" \
        in text
    assert ("通告 粤工信服务函〔2024〕95号 of 2024-10-14 recognizes 4 clusters, valid 2024-10-14 "
            "→ 2027-10-13") in text
    assert "未入选 (not_recommended): 江门市蓬江区摩托车及零部件产业集群" in text
    assert "现场考察" in text and "audit chain intact" in text
    engine = Engine.open(f"sqlite:///{db_path}")
    try:
        system = [row["trigger"] for case in engine.list_cases()
                  for row in engine.history(case.id) if row["actor"] == "system"]
        assert "recognize" not in system and "close_publicity" in system
        # 第十八条: the timer urges and opens procedures; only the province revokes
        assert {"report_overdue", "propose_revocation"} <= set(system)
        assert "revoke" not in system
        assert {case.state for case in engine.list_cases()} >= {"not_selected", "rejected"}
    finally:
        engine.close()
