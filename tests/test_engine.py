"""The engine on SQLite and PostgreSQL: every trigger allowed exactly where the table says,
jurisdiction, one transaction per act, optimistic locking, the audit chain."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from deadline_support import import_2027
from sqlalchemy import func, select, text
from support import CITY, COUNTY, PROVINCE, Walker, full_scores

from gdcluster.engine import (
    ConcurrentModification,
    Engine,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionRefused,
)
from gdcluster.engine.models import AuditEntry, Refusal

# (start state, trigger, actor, payload, expected state) — allowed acts
ALLOWED = [
    ("drafted", "update", COUNTY, "data", "drafted"),
    ("drafted", "submit", COUNTY, {}, "submitted"),
    ("drafted", "withdraw", COUNTY, {}, "withdrawn"),
    ("submitted", "return", CITY, {"reason": "缺少2023年产值证明"}, "drafted"),
    ("submitted", "review", CITY, {"spot_check": "实地抽查2家企业"}, "city_reviewed"),
    ("submitted", "reject", CITY, {"reason": "不符合条件"}, "rejected"),
    ("submitted", "withdraw", COUNTY, {}, "withdrawn"),
    ("city_reviewed", "recommend", CITY, {}, "recommended"),
    ("city_reviewed", "reject", CITY, {"reason": "不符合条件"}, "rejected"),
    ("recommended", "score", PROVINCE, "score", "recommended"),
    ("recommended", "reject", PROVINCE, {"reason": "评审未通过"}, "rejected"),
    ("recommended", "withdraw", COUNTY, {}, "withdrawn"),
    ("expert_reviewed", "publicize", PROVINCE, {"start": "2024-09-27"}, "publicized"),
    ("expert_reviewed", "reject", PROVINCE, {"reason": "评审未通过"}, "rejected"),
    ("publicized", "object", "public@王五",
     {"name": "王五", "contact": "13800000000", "evidence": "产值数据与统计年鉴不符"},
     "publicized"),
    ("publicity_closed", "reject", PROVINCE, {"reason": "现场考察发现问题"}, "rejected"),
    ("rejected", "reopen", PROVINCE, {"reason": "初审认定有误，恢复办理"}, "submitted"),
    ("not_selected", "reopen", PROVINCE, {"reason": "评分录入有误"}, "expert_reviewed"),
    ("recognized", "report", COUNTY, {"year": 2024, "data": {"output": "130"}}, "recognized"),
    ("recognized", "report", CITY, {"year": 2024}, "recognized"),
    ("recognized", "change", COUNTY, {"kind": "management_body", "detail": "管理机构更名"},
     "recognized"),
    ("recognized", "propose_revocation", PROVINCE,
     {"reason_code": "18.5", "facts": "较大安全事故"}, "revocation_proposed"),
    ("under_review", "renew", PROVINCE, {}, "renewed"),
    ("under_review", "review_check", CITY, {"passed": False, "opinion": "规划目标未完成"},
     "under_review"),
    ("under_review", "fail_review", PROVINCE, {"reason": "发展规划目标多项未完成"},
     "revocation_proposed"),
    ("under_review", "propose_revocation", PROVINCE,
     {"reason_code": "18.1", "facts": "复核未通过"}, "revocation_proposed"),
    ("renewed", "propose_revocation", PROVINCE,
     {"reason_code": "18.3", "facts": "未按时报送年度报告", "due": "2030-12-31"},
     "revocation_proposed"),
    ("revocation_proposed", "state", COUNTY, {"text": "事故等级认定有误"},
     "revocation_proposed"),
    ("revocation_proposed", "state", CITY, {"text": "县级部门已核实"}, "revocation_proposed"),
    ("revocation_proposed", "maintain", PROVINCE, {"reason": "陈述申辩理由成立"}, "recognized"),
    ("revoked", "reinstate", PROVINCE,
     {"reason": "行政复议决定撤销原决定", "reference": "粤府行复〔2025〕12号"}, "recognized"),
]

# acts the table does not allow in that state (exit 3)
WRONG_STATE = [
    ("drafted", "review", CITY, {}),
    ("drafted", "close_publicity", PROVINCE, {}),
    ("submitted", "submit", COUNTY, {}),
    ("city_reviewed", "publicize", PROVINCE, {}),
    ("recommended", "close_publicity", PROVINCE, {}),
    ("publicized", "withdraw", COUNTY, {}),
    ("publicized", "reject", PROVINCE, {"reason": "公示期间不经异议程序不予认定"}),
    ("publicity_closed", "withdraw", COUNTY, {}),
    ("not_selected", "submit", COUNTY, {}),
    ("rejected", "review", CITY, {}),
    ("recognized", "submit", COUNTY, {}),
    ("recognized", "renew", PROVINCE, {}),
    ("revoked", "renew", PROVINCE, {}),
    ("recognized", "revoke", PROVINCE, {"reason": "未经拟撤销告知不得撤销"}),
    ("recognized", "maintain", PROVINCE, {"reason": "x"}),
    ("revocation_proposed", "report", COUNTY, {"year": 2031}),
    ("revoked", "state", COUNTY, {"text": "x"}),
    ("rejected", "submit", COUNTY, {}),
    ("withdrawn", "submit", COUNTY, {}),
]

# right state, wrong actor (exit 4)
WRONG_ACTOR = [
    ("drafted", "submit", "county:佛山市禅城区", {}),
    ("drafted", "submit", CITY, {}),
    ("submitted", "review", "city:广州市", {}),
    ("submitted", "review", COUNTY, {}),
    ("submitted", "review", PROVINCE, {}),
    ("city_reviewed", "recommend", "city:东莞市", {}),
    ("recommended", "score", CITY, "score"),
    ("expert_reviewed", "publicize", CITY, {"start": "2024-09-27"}),
    ("publicized", "close_publicity", COUNTY, {}),
    ("rejected", "reopen", CITY, {"reason": "x"}),
    ("not_selected", "reopen", COUNTY, {"reason": "x"}),
    ("recognized", "propose_revocation", CITY, {"reason_code": "18.5", "facts": "x"}),
    ("recognized", "propose_revocation", COUNTY, {"reason_code": "18.5", "facts": "x"}),
    ("revocation_proposed", "state", "county:佛山市禅城区", {"text": "x"}),
    ("revocation_proposed", "maintain", CITY, {"reason": "x"}),
    ("revoked", "reinstate", CITY, {"reason": "x", "reference": "自我纠错"}),
    ("recognized", "report", "county:佛山市禅城区", {"year": 2024}),
]


def _payload(kind: object, walker: Walker) -> dict:
    if kind == "data":
        return {"data": walker.application}
    if kind == "score":
        return {"expert": "专家9", "scores": full_scores()}
    return dict(kind)  # type: ignore[call-overload]


LABELS = {COUNTY: "own-county", CITY: "own-city", PROVINCE: "province", "public@王五": "public",
          "county:佛山市禅城区": "other-county", "city:广州市": "other-city",
          "city:东莞市": "other-city", "system": "system"}


def _id(row: tuple) -> str:
    return f"{row[0]}-{row[1]}-{LABELS[row[2]]}"


@pytest.mark.parametrize(("start", "trigger", "actor", "payload", "expected"), ALLOWED,
                         ids=[f"{_id(r)}->{r[4]}" for r in ALLOWED])
def test_allowed_acts(walker: Walker, start, trigger, actor, payload, expected) -> None:
    """Each allowed act moves the case as the table says, adds one audit row and +1 version."""
    engine = walker.engine
    case_id = walker.to(start)
    if trigger in ("propose_revocation", "fail_review"):  # a 2027 hearing deadline needs 2027
        import_2027(engine)
    before = engine.get(case_id)
    rows_before = len(engine.history(case_id))
    view = engine.fire(case_id, trigger, actor, **_payload(payload, walker))
    assert view.state == expected
    assert view.version == before.version + 1
    history = engine.history(case_id)
    assert len(history) == rows_before + 1
    assert (history[-1]["trigger"], history[-1]["from_state"], history[-1]["to_state"]) == (
        trigger, start, expected)
    assert engine.verify_audit().ok


@pytest.mark.parametrize(("start", "trigger", "actor", "payload"), WRONG_STATE,
                         ids=[f"{_id(r)}-refused" for r in WRONG_STATE])
def test_wrong_state_is_refused_and_changes_nothing(walker: Walker, start, trigger, actor,
                                                     payload) -> None:
    """A trigger the table does not allow in the current state is refused (exit 3), the case
    keeps its state and version, the audit chain is untouched, and the refusal is recorded."""
    engine = walker.engine
    case_id = walker.to(start)
    before = engine.get(case_id)
    head = engine.verify_audit().head_hash
    with pytest.raises(TransitionRefused) as caught:
        engine.fire(case_id, trigger, actor, **_payload(payload, walker))
    assert caught.value.exit_code == 3
    assert caught.value.state == start
    after = engine.get(case_id)
    assert (after.state, after.version) == (before.state, before.version)
    assert engine.verify_audit().head_hash == head
    assert engine.refusals(case_id=case_id)[-1]["trigger"] == trigger


@pytest.mark.parametrize(("start", "trigger", "actor", "payload"), WRONG_ACTOR,
                         ids=[f"{_id(r)}-denied" for r in WRONG_ACTOR])
def test_wrong_actor_is_denied_and_recorded(walker: Walker, start, trigger, actor,
                                            payload) -> None:
    """Only the actors of the table, in their own jurisdiction, may act (exit 4); the refusal
    names who tried what and is kept for security review."""
    engine = walker.engine
    case_id = walker.to(start)
    before = engine.get(case_id)
    with pytest.raises(PermissionDenied) as caught:
        engine.fire(case_id, trigger, actor, **_payload(payload, walker))
    assert caught.value.exit_code == 4
    assert actor.split("@")[0] in caught.value.message
    assert engine.get(case_id).version == before.version
    refusal = engine.refusals(case_id=case_id)[-1]
    assert (refusal["trigger"], refusal["code"]) == (trigger, "permission_denied")
    assert refusal["actor"].startswith(actor.split("@")[0].replace("佛山市禅城区", "佛山市禅城区"))


def test_create_only_by_the_units_own_county(walker: Walker) -> None:
    """A case is created by the county of its unit; another county or a city is denied."""
    walker.open_round()
    for actor in ("county:佛山市禅城区", CITY, PROVINCE):
        with pytest.raises(PermissionDenied):
            walker.engine.create_case(round_year=2024, name="x集群", county="佛山市南海区",
                                      industry="x", data=walker.application, actor=actor)
    with pytest.raises(InvalidInput, match="county"):
        walker.engine.create_case(round_year=2024, name="x集群", county="火星市", industry="x",
                                  data=walker.application, actor="county:佛山市南海区")


def test_dongguan_town_files_under_its_city(walker: Walker) -> None:
    """东莞 towns are units of 东莞市: their county actor files, 东莞市 reviews."""
    case_id = walker.create(name="东莞市万江街道智能装备产业集群", county="东莞市万江街道")
    view = walker.engine.get(case_id)
    assert (view.city, view.county) == ("东莞市", "东莞市万江街道")
    walker.engine.fire(case_id, "submit", "county:东莞市万江街道")
    walker.engine.fire(case_id, "review", "city:东莞市")
    assert walker.engine.get(case_id).state == "city_reviewed"


def test_required_payload_is_bad_input(walker: Walker) -> None:
    """A return without a reason, an objection without evidence: exit 2, nothing written."""
    engine = walker.engine
    case_id = walker.to("submitted")
    with pytest.raises(InvalidInput, match="reason"):
        engine.fire(case_id, "return", CITY)
    public = walker.to("publicized", name="第二个集群")
    with pytest.raises(InvalidInput, match="evidence"):
        engine.fire(public, "object", "public@王五", name="王五", contact="138")
    assert engine.get(case_id).state == "submitted"


def test_unknown_case_and_trigger(engine: Engine) -> None:
    """Unknown ids and triggers are bad input (exit 2), not crashes."""
    with pytest.raises(NotFound) as caught:
        engine.fire(999, "submit", COUNTY)
    assert caught.value.exit_code == 2
    with pytest.raises(InvalidInput):
        engine.fire(1, "teleport", COUNTY)


def test_publicity_over_a_holiday_closes_after_24h(walker: Walker) -> None:
    """Publicity from 2024-09-27 runs 7 working days over 国庆 to 2024-10-11; its close is
    refused before 24:00 of that day and allowed after; recognition of one case alone is
    refused (it comes with the 名单通告), and the 通告 dates validity from its 成文日期."""
    engine, clock = walker.engine, walker.clock
    case_id = walker.to("publicized")
    view = engine.get(case_id)
    assert (view.publicity_start, view.publicity_end) == (date(2024, 9, 27), date(2024, 10, 11))
    clock.set("2024-10-11T23:59:59")
    with pytest.raises(TransitionRefused, match="publicity"):
        engine.fire(case_id, "close_publicity", PROVINCE)
    clock.set("2024-10-12T00:00:00")
    assert engine.fire(case_id, "close_publicity", PROVINCE).state == "publicity_closed"
    with pytest.raises(TransitionRefused, match="round recognize") as caught:
        engine.fire(case_id, "recognize", PROVINCE)
    assert caught.value.exit_code == 3 and "round act only" in caught.value.reasons
    assert engine.refusals(case_id=case_id)[-1]["trigger"] == "recognize"
    clock.set("2024-10-15T10:00")
    result = engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号",
                                    doc_date="2024-10-14")
    assert result.recognized == [case_id]
    view = engine.get(case_id)
    assert (view.state, view.valid_from, view.valid_until) == (
        "recognized", date(2024, 10, 14), date(2027, 10, 13))


def test_open_objection_holds_the_close_of_publicity(walker: Walker) -> None:
    """An open objection holds the close of publicity; dismissing it releases, upholding
    rejects."""
    engine, clock = walker.engine, walker.clock
    case_id = walker.to("publicized")
    other = walker.to("publicized", name="另一集群")
    clock.set("2024-10-08T10:00")
    view = engine.fire(case_id, "object", "public@王五", name="王五", contact="138",
                       evidence="证据")
    objection = view.objections[0]["id"]
    view = engine.fire(other, "object", "public@赵六", name="赵六", contact="139", evidence="e")
    view = engine.fire(other, "resolve", PROVINCE, objection=view.objections[0]["id"],
                       when="uphold", reason="异议成立")
    assert (view.state, view.previous_state) == ("rejected", "publicized")
    clock.set("2024-10-12T10:00")
    with pytest.raises(TransitionRefused, match="objection"):
        engine.fire(case_id, "close_publicity", PROVINCE)
    engine.fire(case_id, "resolve", PROVINCE, objection=objection, when="dismiss",
                reason="经核实不成立")
    assert engine.fire(case_id, "close_publicity", PROVINCE).state == "publicity_closed"


def test_objection_outside_the_window_is_refused(walker: Walker) -> None:
    """Objections are accepted only during the publicity period."""
    case_id = walker.to("publicized")
    walker.clock.set("2024-10-12T00:00:01")
    with pytest.raises(TransitionRefused, match="publicity period"):
        walker.engine.fire(case_id, "object", "public@王五", name="王五", contact="1",
                           evidence="e")


def test_city_quota_is_enforced(walker: Walker) -> None:
    """A city recommends at most its maximum (default 5) per round."""
    ids = [walker.to("city_reviewed", name=f"集群{n}") for n in range(6)]
    for case_id in ids[:5]:
        walker.engine.fire(case_id, "recommend", CITY)
    with pytest.raises(TransitionRefused, match="maximum is 5"):
        walker.engine.fire(ids[5], "recommend", CITY)
    summary = walker.engine.round_summary(2024)
    foshan = next(q for q in summary.quotas if q.city == "佛山市")
    assert (foshan.recommended, foshan.max) == (5, 5)
    assert "广州市" in summary.cities_below_minimum


def test_expert_review_needs_enough_experts_and_trims(walker: Walker) -> None:
    """Fewer experts than the rubric minimum is refused; with 5 or more the highest and lowest
    totals are dropped."""
    engine = walker.engine
    case_id = walker.to("recommended")
    engine.fire(case_id, "score", PROVINCE, expert="甲", scores=full_scores())
    with pytest.raises(TransitionRefused, match="at least"):
        engine.fire(case_id, "expert_review", PROVINCE)
    for name, minus in (("乙", 1), ("丙", 2), ("丁", 3), ("戊", 10)):
        engine.fire(case_id, "score", PROVINCE, expert=name, scores=full_scores(minus=minus))
    indicators = len(full_scores())
    totals = sorted(100 - indicators * m for m in (0, 1, 2, 3, 10))
    expected = sum(totals[1:-1]) / 3
    view = engine.fire(case_id, "expert_review", PROVINCE)
    assert abs(float(view.score) - expected) < 0.0001


def test_score_out_of_range_is_bad_input(walker: Walker) -> None:
    """Points beyond an indicator's weight, or an unknown indicator, are refused (exit 2)."""
    case_id = walker.to("recommended")
    scores = full_scores()
    first = next(iter(scores))
    with pytest.raises(InvalidInput, match=first):
        walker.engine.fire(case_id, "score", PROVINCE, expert="甲",
                           scores={**scores, first: scores[first] + 1})
    with pytest.raises(InvalidInput, match="nonsense"):
        walker.engine.fire(case_id, "score", PROVINCE, expert="甲",
                           scores={**scores, "nonsense": 1})


def test_round_publicize_refuses_a_straddling_tie(walker: Walker) -> None:
    """--top N refuses when the N-th and N+1-th scores are equal, listing the tied cases."""
    engine = walker.engine
    ids = [walker.to("expert_reviewed", name=f"集群{n}") for n in range(3)]
    walker.clock.set("2024-09-27T10:00")
    with pytest.raises(TransitionRefused, match="tie") as caught:
        engine.publicize_round(2024, PROVINCE, top=1)
    assert len(caught.value.tied) == 3
    assert all(engine.get(i).state == "expert_reviewed" for i in ids)
    result = engine.publicize_round(2024, PROVINCE, select_ids=[ids[0]], start="2024-09-27")
    assert result.publicized == [ids[0]]
    assert sorted(result.not_selected) == sorted(ids[1:])
    last = engine.history(ids[1])[-1]
    assert (last["trigger"], last["to_state"], last["reason"], last["payload"]) == (
        "close", "not_selected", "未列入拟认定名单", {"reason_kind": "not_publicized"})


def test_stale_version_raises_concurrent_modification(walker: Walker) -> None:
    """A caller holding an old version loses the race (exit 5) and changes nothing."""
    engine = walker.engine
    case_id = walker.to("drafted")
    version = engine.get(case_id).version
    engine.fire(case_id, "update", COUNTY, data=walker.application)
    with pytest.raises(ConcurrentModification) as caught:
        engine.fire(case_id, "submit", COUNTY, expected_version=version)
    assert caught.value.exit_code == 5
    assert engine.get(case_id).state == "drafted"


def test_failed_effect_leaves_nothing_behind(walker: Walker) -> None:
    """An act that fails mid-way (bad report data after guards passed) writes no row at all."""
    engine = walker.engine
    case_id = walker.to("recognized")
    with engine.store.read() as session:
        audit_rows = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(InvalidInput):
        engine.fire(case_id, "report", COUNTY, year=2024, data=["not", "a", "mapping"])
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audit_rows
    assert engine.get(case_id).reports == []


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE gd_audit SET reason = 'x' WHERE seq = 3",
        "UPDATE gd_audit SET actor = 'province@冒名' WHERE seq = 2",
        "DELETE FROM gd_audit WHERE seq = 3",
        "DELETE FROM gd_audit WHERE seq = (SELECT max(seq) FROM gd_audit)",
        "INSERT INTO gd_audit (seq, actor, trigger, payload, article, at, prev_hash, hash) "
        "SELECT 1000, actor, trigger, payload, article, at, hash, hash FROM gd_audit WHERE seq=4",
        "UPDATE gd_audit SET seq = -seq WHERE seq IN (2, 3); "
        "UPDATE gd_audit SET seq = 3 WHERE seq = -2; UPDATE gd_audit SET seq = 2 WHERE seq = -3",
    ],
    ids=["change-reason", "change-actor", "delete-middle", "delete-last", "insert", "reorder"],
)
def test_audit_verify_detects_tampering(walker: Walker, tamper: str) -> None:
    """Changing, deleting, inserting or reordering audit rows is detected and located."""
    engine = walker.engine
    walker.to("city_reviewed")
    assert engine.verify_audit().ok
    with engine.store.engine.begin() as connection:
        for statement in tamper.split("; "):
            connection.execute(text(statement))
    report = engine.verify_audit()
    assert not report.ok
    assert report.first_bad_seq is not None and report.first_bad_seq >= 2
    assert str(report.first_bad_seq) in report.message()


def test_refused_attempts_are_not_in_the_chain(walker: Walker) -> None:
    """Refusals go to their own table; the chain only holds acts that happened."""
    engine = walker.engine
    case_id = walker.to("drafted")
    with pytest.raises(PermissionDenied):
        engine.fire(case_id, "submit", "county:广州市天河区")
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(Refusal)) == 1
    assert [h["trigger"] for h in engine.history(case_id)] == ["create"]


def test_events_are_given_in_asia_shanghai_and_the_audit_keeps_utc(
        engine: Engine, walker: Walker) -> None:
    """Issue 15.17: a subscriber hears each act at +08:00 (the same instant), and the instants
    in its payload (a replaced expert score's time) are ISO text at +08:00; the audit row, as
    stored, keeps UTC."""
    import json as json_

    case_id = walker.to("recommended")
    walker.step(case_id, "scores")
    heard: list[Any] = []
    engine.subscribe(heard.append)
    engine.fire(case_id, "score", PROVINCE, expert="专家1", scores=full_scores(minus=2),
                replace=True)
    [event] = heard
    assert event.at.utcoffset() == timedelta(hours=8)
    assert event.at == engine.clock.now()
    replaced_at = event.payload["replaced"]["at"]
    assert replaced_at.endswith("+08:00") and replaced_at.startswith("2024-")
    with engine.store.read() as session:
        stored = session.get(AuditEntry, event.audit_seq)
        assert stored is not None
        assert json_.loads(stored.payload)["replaced"]["at"].endswith("+00:00")
        assert stored.at.utcoffset() == timedelta(0)
