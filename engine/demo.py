"""`gdcluster demo`: one round's whole life on a fresh simulation database, narrated.

Six example clusters (示例数据: enterprise names and figures are invented) in six cities walk
through application, a return for correction (退回补正) after the application deadline with
its correction deadline and reminder, 资格初审 with a criterion failing on the wrong side of
70% (不予认定), recommendation, a 现场考察, expert scoring, publicity over the 国庆 holiday, a
real-name objection, the close of publicity by the scheduler's sweep, recognition with the
名单通告 (its 文号 and 成文日期), the round closed with a case not recommended (未入选), annual
reports, a 重大变动 filing, a missed report urged (催报) and, still missing after the grace,
a 拟撤销 procedure (陈述申辩, then the province's 撤销决定), a proposal the province
maintains after hearing the county, a 复核 and renewal, and an expiry that opens the 18.1
procedure. The narration is the engine's own event stream.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gdcluster.engine.api import Engine
from gdcluster.engine.clock import SHANGHAI, FakeClock
from gdcluster.engine.errors import EngineError
from gdcluster.engine.i18n import gettext as _
from gdcluster.engine.i18n import language, localize
from gdcluster.engine.kernel import TransitionEvent
from gdcluster.engine.models import round_kind_of

PROVINCE = "province@省工信厅王处长"

_BASE: dict[str, Any] = {
    "area_km2": "38.6",
    "output": {"2021": "120.5", "2022": "138.2", "2023": "161.9"},
    "sme_output_share": "0.78",
    "leading_industry_share": "0.81",
    "champion_enterprises": [{"name": "示例龙头科技股份有限公司", "kind": "little_giant"}],
    "quality_smes": [
        {"name": f"示例专精特新企业{n}号有限公司", "kinds": ["specialized_new"]}
        for n in range(1, 9)
    ],
    "sme_rd_expense": {"2021": "3.10", "2022": "3.52", "2023": "4.05"},
    "invention_patents": {"2021": 620, "2022": 735, "2023": 880},
    "employees": 52000,
    "industrial_internet_rate": "0.196",
    "co2_intensity": {"2021": "0.402", "2022": "0.388", "2023": "0.361"},
    "energy_intensive": False,
    "energy_efficiency_above_benchmark": True,
    "water_intensive": False,
    "water_efficiency_above_benchmark": True,
    "incidents": [],
    "management_body": {"name": "集群发展促进中心", "established": "2020-03-18"},
    "development_plan": {
        "period": "2024–2026",
        "goals": [
            {"indicator": "集群产值", "unit": "亿元", "baseline": {"year": 2023, "value": "161.9"},
             "target": {"year": 2026, "value": "210"}, "text": "集群产值三年增长30%"},
            {"indicator": "专精特新中小企业", "unit": "家", "baseline": {"year": 2023, "value": 8},
             "target": {"year": 2026, "value": 23}, "text": "新增专精特新中小企业15家"},
            {"indicator": "工业互联网平台应用普及率", "unit": "%",
             "baseline": {"year": 2023, "value": "19.6"}, "target": {"year": 2026, "value": "28"}},
        ],
    },
    "narrative": {"leading_industry": "主导产业特色鲜明，产业链上下游配套完整。"},
}

CLUSTERS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    # (key, name, unit, industry, changes to the base application)
    ("guzhen", "中山市古镇镇灯饰照明产业集群", "中山市古镇镇", "灯饰照明",
     {"output": {"2021": "152.3", "2022": "171.8", "2023": "196.4"}}),
    ("shunde", "佛山市顺德区智能家电产业集群", "佛山市顺德区", "智能家电",
     {"output": {"2021": "310.0", "2022": "352.6", "2023": "401.1"}, "area_km2": "92.5"}),
    ("changan", "东莞市长安镇五金模具产业集群", "东莞市长安镇", "五金模具",
     {"output": {"2021": "88.4", "2022": "99.1", "2023": "112.7"}}),
    ("puning", "揭阳市普宁市纺织服装产业集群", "揭阳市普宁市", "纺织服装",
     {"output": {"2021": "95.2", "2022": "108.0", "2023": "121.3"},
      "invention_patents": {"2021": 410, "2022": 472}}),  # 2023 missing: returned for 补正
    ("chenghai", "汕头市澄海区玩具创意产业集群", "汕头市澄海区", "玩具创意",
     {"sme_output_share": "70%"}),  # exactly 70%: 高于70% fails
    ("pengjiang", "江门市蓬江区摩托车及零部件产业集群", "江门市蓬江区", "摩托车及零部件",
     {"output": {"2021": "76.5", "2022": "85.9", "2023": "97.2"}}),  # passes, not recommended
]


def application(changes: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(_BASE)
    data.update(copy.deepcopy(changes))
    return data


#: 2027's working days for the demo only: the built-in calendar ends with 2026, and a real
#: database loads the State Council's published arrangement instead.
DEMO_2027 = """\
# DEMO ONLY — NOT OFFICIAL DATA: an invented 2027 holiday arrangement.
2027:
  source: DEMO (not official) — 2027 holiday arrangement
  holidays:
    - {from: 2027-01-01, to: 2027-01-03}
    - {from: 2027-02-05, to: 2027-02-12}
    - {from: 2027-04-03, to: 2027-04-05}
    - {from: 2027-05-01, to: 2027-05-05}
    - 2027-06-09
    - 2027-09-15
    - {from: 2027-10-01, to: 2027-10-07}
  workdays: [2027-01-31, 2027-02-20, 2027-04-25, 2027-05-08, 2027-09-26, 2027-10-09]
"""


def sample_review(application: dict[str, Any], review_year: int) -> dict[str, Any]:
    """A sample 复核申报 for the 复核 round ``review_year`` made from ``application``: its
    yearly series moved to the three years before ``review_year``, a plan for the next
    period, and each plan goal reported at its target (met)."""
    data = copy.deepcopy(application)
    for key, series in list(data.items()):
        if isinstance(series, dict) and series and all(str(year).isdigit() for year in series):
            values = [series[year] for year in sorted(series, key=int)][-3:]
            data[key] = {str(review_year - 3 + index): value
                         for index, value in enumerate(values)}
    plan = data.get("development_plan") or {}
    data["goal_results"] = [
        {"indicator": goal["indicator"],
         "actual": (goal.get("target") or goal.get("baseline") or {"value": "1"})["value"],
         "note": "统计快报"}
        for goal in plan.get("goals", []) if goal.get("indicator")]
    if plan:
        data["development_plan"] = {**plan, "period": f"{review_year + 1}–{review_year + 3}"}
    return data


def scores(policy_rubric: Any, minus: int) -> dict[str, int]:
    return {item.id: max(item.weight - minus - index % 3, 0)
            for index, item in enumerate(policy_rubric.indicators)}


def default_folder() -> Path:
    """Where the demo writes without ``--out``: one fixed folder in the system's temporary
    directory, emptied at each run, so runs leave no folders behind."""
    return Path(tempfile.gettempdir()) / "gdcluster-demo"


def run(out_dir: str | Path | None = None, echo: Callable[[str], None] = print) -> Path:
    """Run the demo; returns the path of its database (kept, to look at afterwards)."""
    out = Path(out_dir) if out_dir else default_folder()
    if not out_dir:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "demo.db"
    for stale in out.glob("demo.db*"):
        stale.unlink()
    clock = FakeClock("2024-03-01T09:00")
    engine = Engine.init(f"sqlite:///{db_path}", simulation=True, clock=clock)
    notices = out / "notices"
    from gdcluster.notifications import Contact, Settings, attach

    attach(engine, Settings(outbox=notices,
                            contact=Contact(person="张三（示例）", phone="020-00000000",
                                            email="demo@example.gov.cn",
                                            department="中小企业服务处（示例）",
                                            address="广州市越秀区示例路1号", postcode="510000")))
    names: dict[int, str] = {}
    engine.subscribe(lambda event: echo(narrate(event, names, clock)))
    try:
        _story(engine, clock, names, echo)
        report = engine.verify_audit()
        echo("")
        echo(_("audit verify: {result}").format(result=localize(report.message())))
    finally:
        engine.close()
    written = sorted(path for path in notices.rglob("*") if path.is_file()) if notices.exists() \
        else []
    if written:
        echo("")
        echo(_("notices ({count} files, txt/html/docx) in {folder}:").format(
            count=len(written), folder=notices))
        for path in written:
            echo(f"   {path}")
    echo(_("database: {path}").format(path=db_path))
    echo(_("try:  gdcluster --db {path} case list").format(path=db_path))
    return db_path


def _story(engine: Engine, clock: FakeClock, names: dict[int, str],
           echo: Callable[[str], None]) -> None:
    from gdcluster.states.policy import load_policy

    rubric = load_policy("guangdong-2023").rubric

    def at(moment: str, title: str) -> None:
        clock.set(moment)
        echo("")
        echo(f"== {moment[:10]}  {_(title)}")  # the titles are msgids (tests/catalog.py)

    def sweep(moment: str, title: str) -> None:
        at(moment, title)
        handled = engine.run_due()
        fired = [row for row in handled if row.outcome]
        echo("   " + _("scheduler sweep handled {count} due deadline(s)").format(count=len(fired)))

    at("2024-03-01T09:00", "省工信厅启动2024年度申报 round opens")
    engine.open_round(2024, PROVINCE, apply_by="2024-05-31", recommend_by="2024-06-30",
                      notice_title="关于组织开展2024年广东省中小企业特色产业集群申报工作的通知（示例）",
                      notice_doc_no="粤工信服务函〔2024〕12号")

    at("2024-04-15T10:00", "各县（市、区）、镇街填报 applications drafted")
    ids: dict[str, int] = {}
    for key, name, unit, industry, changes in CLUSTERS:
        case_id = engine.create_case(round_year=2024, name=name, county=unit, industry=industry,
                                     data=application(changes), actor=f"county:{unit}@经办人")
        ids[key] = case_id
        names[case_id] = name
    units = {key: unit for key, _name, unit, _industry, _changes in CLUSTERS}
    cities = {key: engine.get(case_id).city for key, case_id in ids.items()}

    at("2024-05-10T09:30", "提交申报 submissions")
    for key, case_id in ids.items():
        try:
            engine.fire(case_id, "submit", f"county:{units[key]}")
        except EngineError as error:  # 普宁 lacks its 2023 patent figure
            echo("   ✗ " + _("{name}: submit refused (exit {code}): {message}").format(
                name=names[case_id], code=error.exit_code, message=error.localized()))

    at("2024-05-12T09:00", "普宁补齐数据后提交 completed and submitted")
    puning = ids["puning"]
    engine.fire(puning, "update", f"county:{units['puning']}",
                data=application({**CLUSTERS[3][4],
                                  "invention_patents": {"2021": 410, "2022": 472, "2023": 40}}))
    engine.fire(puning, "submit", f"county:{units['puning']}")

    at("2024-06-05T10:00", "地市资格初审 city review (第十三条), with 实地抽查; 揭阳市退回补正")
    returned = engine.fire(puning, "return", f"city:{cities['puning']}@市工信局陈科长",
                           reason="2023年发明专利数据与知识产权部门统计口径不一致，请核实后补正",
                           fields=["invention_patents.2023"])
    echo("   " + _("correction deadline {due} 24:00 (5 working days, after the round's "
                  "application deadline 2024-05-31)").format(due=returned.correction_due))
    for key, case_id in ids.items():
        if key == "puning":
            continue
        city = f"city:{cities[key]}@市工信局"
        try:
            engine.fire(case_id, "review", city, spot_check="实地抽查集群内3家企业，数据属实")
        except EngineError as error:
            echo("   ✗ " + _("{name}: review --pass refused (exit {code})").format(
                name=names[case_id], code=error.exit_code))
            for reason in getattr(error, "reasons", [])[:3]:
                echo(f"     {reason}")
            engine.fire(case_id, "reject", city,
                        reason="中小企业产值占比为70%，未达到“高于70%”的条件（第十三条第（二）项）")

    sweep("2024-06-11T09:00", "补正提醒 the correction reminder, 2 working days before")
    at("2024-06-12T15:00", "普宁补正后重新提交 resubmitted before its correction deadline")
    engine.fire(puning, "update", f"county:{units['puning']}",
                data=application({**CLUSTERS[3][4],
                                  "invention_patents": {"2021": 410, "2022": 472, "2023": 551}}))
    engine.fire(puning, "submit", f"county:{units['puning']}")
    engine.fire(puning, "review", f"city:{cities['puning']}@市工信局",
                spot_check="补正材料经核实")

    at("2024-06-20T10:00", "地市推荐 recommendations (quota 2–5 per city; 江门市 recommends none)")
    for key, case_id in ids.items():
        if key != "pengjiang" and engine.get(case_id).state == "city_reviewed":
            engine.fire(case_id, "recommend", f"city:{cities[key]}@市工信局")

    at("2024-08-01T10:00", "现场考察 site visits recorded for the round")
    engine.record_site_visit(2024, PROVINCE, day="2024-07-30",
                             note="省专家组赴推荐集群开展现场考察（示例）")

    at("2024-08-20T14:00", "省级专家评审 expert review (5 experts, highest and lowest dropped)")
    for offset, case_id in enumerate(i for i in ids.values()
                                     if engine.get(i).state == "recommended"):
        for expert in range(5):
            engine.fire(case_id, "score", PROVINCE, expert=f"专家{expert + 1}",
                        scores=scores(rubric, offset + expert))
        engine.fire(case_id, "expert_review", PROVINCE)

    at("2024-09-27T10:00", "拟认定名单公示 publicity: 7 working days across 国庆")
    result = engine.publicize_round(2024, PROVINCE, min_score="60", start="2024-09-27")
    echo("   " + _("publicity {start} → {end} (7 working days)").format(
        start=result.publicity_start, end=result.publicity_end))

    at("2024-10-08T11:00", "实名异议 a real-name objection")
    shunde = ids["shunde"]
    view = engine.fire(shunde, "object", "public@刘某", name="刘某", contact="139****1234",
                       evidence="质疑2023年产值含非主导产业产值，附统计报表复印件")
    at("2024-10-10T16:00", "异议核查 objection examined and dismissed")
    engine.fire(shunde, "resolve", PROVINCE, objection=view.objections[-1]["id"],
                when="dismiss", reason="经核查统计部门数据，产值口径符合要求，异议不成立")

    sweep("2024-10-12T00:05", "公示期满 publicity over: the scheduler closes it")

    at("2024-10-15T10:00", "名单通告 the province publishes the list: recognition, round closed")
    listed = engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号",
                                    doc_date="2024-10-14")
    echo("   " + _("通告 {doc_no} of {doc_date} recognizes {count} clusters, valid {start} → "
                  "{end}").format(doc_no=listed.doc_no, doc_date=listed.doc_date,
                                  count=len(listed.recognized), start=listed.valid_from,
                                  end=listed.valid_until))
    if listed.closed is not None:
        for kind, closed in listed.closed.closed.items():
            if closed:
                echo("   " + _("未入选 ({kind}): {names}").format(
                    kind=kind, names="、".join(names[i] for i in closed)))

    sweep("2025-03-02T09:00", "年报提醒 report reminders, 30 days before 31 March")
    at("2025-03-20T10:00", "2024年度报告 annual reports (due 31 March)")
    for key in ("guzhen", "changan", "puning"):
        engine.fire(ids[key], "report", f"county:{units[key]}", year=2024,
                    data={"output": "180.0", "plan_execution": "主导产业保持增长",
                          "goal_progress": [{"indicator": "集群产值", "actual": "180.0"}]})
    sweep("2025-04-01T00:05", "年报期限届满 report deadline: missing report → 催报 with a grace "
                              "of 10 working days (no revocation)")
    sweep("2025-04-17T00:05", "催报期限届满 grace over, report still missing → 拟撤销告知 18.3 "
                              "(a procedure, not a revocation)")
    at("2025-04-18T15:00", "陈述申辩 the county states its case")
    engine.fire(shunde, "state", f"county:{units['shunde']}",
                text="年度报告因运营管理机构人员调整延误，正在补报（示例）")
    sweep("2025-04-25T00:05", "陈述申辩期限届满 hearing over: awaiting the province's decision")
    at("2025-04-25T10:00", "撤销决定 the province decides: revoked under 18.3, with remedies")
    engine.fire(shunde, "revoke", PROVINCE, doc_no="粤工信服务函〔2025〕31号",
                reason="陈述申辩期限届满仍未报送2024年度发展情况，申辩理由不能成立")

    at("2025-06-01T10:00", "重大变动报备 a major change filed")
    engine.fire(ids["changan"], "change", f"county:{units['changan']}", kind="management_body",
                detail="集群管理机构由镇经济发展局调整为长安镇产业集群发展服务中心")

    for year in (2025, 2026):
        at(f"{year + 1}-03-15T10:00", _("{year}年度报告 annual reports").format(year=year))
        for key in ("guzhen", "changan", "puning"):
            if engine.get(ids[key]).state in ("recognized", "renewed", "under_review",
                                              "expired"):
                engine.fire(ids[key], "report", f"county:{units[key]}", year=year,
                            data={"output": "190.0"})
        if year == 2025:
            at("2026-09-01T10:00", "拟撤销告知 the province proposes revocation (第十八条（五）)")
            engine.fire(ids["changan"], "propose_revocation", PROVINCE, reason_code="18.5",
                        facts="集群内企业发生较大生产安全事故（示例）")
            at("2026-09-03T10:00", "陈述申辩 the county states its case")
            engine.fire(ids["changan"], "state", f"county:{units['changan']}",
                        text="经应急管理部门复核，该事故等级为一般事故（示例）")
            at("2026-09-10T10:00", "维持认定 the province maintains the recognition")
            engine.fire(ids["changan"], "maintain", PROVINCE,
                        reason="经核实，事故等级为一般事故，不属于第十八条第（五）项情形")

    at("2027-03-16T09:00", "工作日历 the province loads 2027's working days (the demo's own "
                           "arrangement, not the State Council's notice)")
    engine.import_calendar(DEMO_2027.encode("utf-8"), "calendar-2027.yaml", PROVINCE)
    sweep("2027-07-16T09:00", "复核提醒 expiry reminders, 90 days before validity ends")
    at("2027-07-20T10:00", "复核 round 2027: the clusters whose validity ends in 2027, each "
                           "with its 复核通知")
    engine.open_round(2027, PROVINCE, kind="review", apply_by="2027-09-30",
                      check_by="2027-10-15")
    at("2027-08-10T10:00", "申请复核 the county applies with its 复核申报; the city's 初审")
    engine.fire(puning, "apply_review", f"county:{units['puning']}",
                data=sample_review(engine.application(puning), 2027))
    engine.fire(puning, "review_check", f"city:{cities['puning']}@市工信局", passed=True,
                opinion="经初审，复核申报材料齐全，发展规划目标基本完成")
    at("2027-09-20T10:00", "复核通过 renewal on the 考核: validity extended contiguously")
    engine.fire(puning, "renew", PROVINCE)

    sweep("2027-10-14T00:05", "复核申请截止 the 复核 round's deadline (30 September) passed "
                              "with no application → 拟撤销告知 18.1, the hearing follows")
    echo("")
    echo(_("outcome:"))
    for case_id, name in names.items():
        view = engine.get(case_id)
        valid = _(" valid {start} → {end}").format(start=view.valid_from,
                                                   end=view.valid_until) if view.valid_from \
            else ""
        echo(f"   #{case_id} {name}: {_state(view.state)}{valid}")


def _state(state: str | None) -> str:
    """A state as people read it: its code in English, its label in Chinese."""
    if state is None or language() == "en":
        return str(state)
    from gdcluster.states.workflow import load_workflow

    try:
        return load_workflow().state(state).label
    except KeyError:
        return state


def narrate(event: TransitionEvent, names: dict[int, str], clock: FakeClock) -> str:
    """One line per act: when, the trigger's code, the cluster (or round), the move, who."""
    when = event.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    who = event.actor
    if event.case_id is not None:
        subject = names.get(event.case_id) or str(event.payload.get("name") or
                                                  _("case {id}").format(id=event.case_id))
    elif event.round_year is not None:
        subject = (_("复核 round {year}") if round_kind_of(event.trigger) == "review"
                   else _("round {year}")).format(year=event.round_year)
    else:  # an act on neither a case nor a round (a calendar import)
        subject = ""
    if event.from_state is None and event.to_state is None:
        move = ""
    elif event.from_state is None:
        move = f"→ {_state(event.to_state)}"
    elif event.from_state != event.to_state:
        move = f"{_state(event.from_state)} → {_state(event.to_state)}"
    else:
        move = f"({_state(event.to_state)})"
    if event.trigger == "score":
        move = _("{expert}: {points} points").format(expert=event.payload.get("expert"),
                                                     points=event.payload.get("total"))
    reason = f" — {event.reason}" if event.reason else ""
    what = " ".join(part for part in (subject, move) if part)
    return f"   {when}  {event.trigger:<14} {what}  [{who}]{reason}"
