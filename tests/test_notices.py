"""Official notices (DESIGN §10, issue 4): form, content, rendering, and their tie to acts.

One realistic world is built once for the module (round 2024 with the 2024 application notice,
three clusters publicized and recognized, one returned for 补正, reminders fired by the scheduler,
a revocation by the province and one by the timer, a renewal) and every notice kind is checked in
every format against the sentences and dates it must carry.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from support import DECISION, PROVINCE, Walker, ensure_calendar, heard, review_data, revoke_now

from gdcluster.cli import cli
from gdcluster.engine import Engine, InvalidInput, TransitionRefused
from gdcluster.engine.application import load_application_file
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.models import Delivery, Notice
from gdcluster.engine.parse import validate_doc_no
from gdcluster.notifications import KINDS as KINDS_ALL
from gdcluster.notifications import (
    Contact,
    Settings,
    attach,
    cn_date,
    list_notices,
    render_notice,
)
from gdcluster.notifications.render import template_version

DATA = Path(__file__).parent / "data"
INJECTED = "<script>alert('x')</script>{{7*7}}家电产业集群"
APPLICATION_NOTICE = ("广东省工业和信息化厅关于组织开展2024年广东省中小企业特色产业集群"
                      "申报工作的通知")
CONTACT = Contact(person="张三", phone="020-83133333", email="zxqyc@gdei.gov.cn",
                  department="中小企业服务处", address="广州市越秀区东风中路305号",
                  postcode="510031")
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_SETTINGS": None, "GDCLUSTER_DEBUG": None})


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Notices are format and wiring, not storage: SQLite only here (no skipped variants)."""
    return f"sqlite:///{tmp_path / 'gdcluster.db'}"


# ---------------------------------------------------------------------------- 发文字号, 成文日期
@pytest.mark.parametrize("doc_no", [
    "粤工信服务函〔2023〕4号",
    "工信部企业〔2022〕119号",
    "工信厅企业函〔2024〕122号",
    "粤工信服务〔2024〕10号",
    "便函〔2024〕443号",  # the 2024 申报通知 was a 便函
])
def test_doc_no_accepted(doc_no: str) -> None:
    """A 发文字号 in GB/T 9704 form (代字, full year in 〔〕, number without 第 or leading zero,
    号) is accepted unchanged."""
    assert validate_doc_no(doc_no) == doc_no


REFUSED_DOC_NOS = {
    "round-brackets": "粤工信服务函(2024)12号",
    "square-brackets": "粤工信服务函[2024]12号",
    "leading-zero": "粤工信服务函〔2024〕012号",
    "two-digit-year": "粤工信服务函〔24〕12号",
    "di": "粤工信服务函〔2024〕第12号",
    "full-width-digits": "粤工信服务函〔２０２４〕１２号",
    "no-hao": "粤工信服务函〔2024〕12",
    "zero": "粤工信服务函〔2024〕0号",
    "no-agency-code": "〔2024〕12号",
    "lenticular-brackets": "粤工信服务函【2024】12号",
    "trailing-space": "粤工信服务函〔2024〕12号 ",
}


@pytest.mark.parametrize("doc_no", REFUSED_DOC_NOS.values(), ids=REFUSED_DOC_NOS.keys())
def test_doc_no_refused(doc_no: str) -> None:
    """Every other form is refused as bad input (exit code 2), naming the field."""
    with pytest.raises(InvalidInput) as caught:
        validate_doc_no(doc_no)
    assert caught.value.exit_code == 2
    assert caught.value.field == "doc_no"


@pytest.mark.parametrize("doc_no", [REFUSED_DOC_NOS[key] for key in
                                    ("round-brackets", "square-brackets", "leading-zero",
                                     "two-digit-year", "di")],
                         ids=["round-brackets", "square-brackets", "leading-zero",
                              "two-digit-year", "di"])
def test_doc_no_refused_by_the_cli_with_exit_2(tmp_path: Path, doc_no: str) -> None:
    """`gdcluster round publicize … --doc-no` and `round recognize … --doc-no` refuse a malformed
    发文字号 with exit code 2 before anything is done."""
    db = tmp_path / "gd.db"
    assert RUNNER.invoke(cli, ["--db", str(db), "init", "--simulation"]).exit_code == 0
    for args in (["round", "publicize", "2024", "--top", "1", "--doc-no", doc_no],
                 ["round", "recognize", "2024", "--doc-no", doc_no]):
        result = RUNNER.invoke(cli, ["--db", str(db), "--as", "province", *args])
        assert result.exit_code == 2, result.output
        assert "发文字号" in result.output


def test_open_round_refuses_a_malformed_application_notice_number(engine: Engine) -> None:
    """The round's application notice number is printed in every list notice, so it is checked
    when the round is opened, and nothing is written."""
    with pytest.raises(InvalidInput):
        engine.open_round(2024, PROVINCE, notice_title=APPLICATION_NOTICE,
                          notice_doc_no="粤工信服务函〔2024〕第12号")
    with pytest.raises(Exception, match="round 2024 not found"):
        engine.round_summary(2024)


@pytest.mark.parametrize(("value", "text"), [
    (date(2024, 7, 9), "2024年7月9日"),
    (date(2024, 10, 11), "2024年10月11日"),
    (date(2023, 1, 1), "2023年1月1日"),
    (datetime(2026, 12, 31, 23, 59), "2026年12月31日"),
    ("2027-02-08", "2027年2月8日"),
])
def test_cn_date_has_no_zero_padding(value: Any, text: str) -> None:
    """成文日期 in Arabic numerals without zero padding."""
    assert cn_date(value) == text


# ---------------------------------------------------------------------------- the world
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Round 2024 lived through to its renewals, with notices attached from the start; time
    only moves forward."""
    folder = tmp_path_factory.mktemp("notices")
    clock = FakeClock("2024-03-01T09:00")
    url = f"sqlite:///{folder / 'gd.db'}"
    engine = Engine.init(url, simulation=True, clock=clock)
    settings = Settings(outbox=folder / "outbox", contact=CONTACT)
    attach(engine, settings)
    application = load_application_file((DATA / "application-complete.json").read_bytes(),
                                         "application-complete.json")
    walker = Walker(engine, clock, application)
    engine.open_round(2024, PROVINCE, apply_by="2024-05-31", recommend_by="2024-06-30",
                      notice_title=APPLICATION_NOTICE, notice_doc_no="粤工信服务函〔2024〕12号")
    walker._round_open = True

    def create(name: str, county: str, industry: str) -> int:
        return engine.create_case(round_year=2024, name=name, county=county, industry=industry,
                                  data=application, actor=f"county:{county}")

    ids = {
        "nanhai": create("佛山市南海区铝型材产业集群", "佛山市南海区", "铝型材"),
        "guzhen": create("中山市古镇镇灯饰产业集群", "中山市古镇镇", "灯饰照明"),
        "shunde": create(INJECTED, "佛山市顺德区", "家用电器"),
        "changan": create("东莞市长安镇五金模具产业集群", "东莞市长安镇", "五金模具"),
        "chenghai": create("汕头市澄海区玩具创意产业集群", "汕头市澄海区", "玩具创意"),
        "pengjiang": create("江门市蓬江区摩托车产业集群", "江门市蓬江区", "摩托车及零部件"),
    }
    for key in ("nanhai", "guzhen", "shunde"):
        for step in ("submit", "review", "recommend", "scores", "expert_review"):
            walker.step(ids[key], step)
    acts: dict[str, int] = {}

    def act_of(kind: str, case: str | None = None) -> int:
        with engine.store.read() as session:
            statement = select(func.max(Notice.audit_seq)).where(Notice.kind == kind)
            if case is not None:
                statement = statement.where(Notice.case_id == ids[case])
            return int(session.scalar(statement) or 0)

    walker.step(ids["changan"], "submit")
    engine.fire(ids["changan"], "return", "city:东莞市@李科长",
                reason="2023年产值缺少统计部门证明材料<b>{{7*7}}</b>",
                fields=["output.2023", "development_plan"], due="2024-04-15")
    acts["return"] = act_of("return")
    walker.step(ids["chenghai"], "submit")
    engine.fire(ids["chenghai"], "reject", "city:汕头市@黄科长",
                reason="中小企业产值占比为70%，未达到“高于70%”的条件（第十三条第（二）项）")
    acts["rejection"] = act_of("rejection")
    walker.step(ids["pengjiang"], "submit")
    walker.step(ids["pengjiang"], "review")  # never recommended: 未入选 when the round closes

    clock.set("2024-04-11T09:00")  # the correction reminder, two working days before
    engine.run_due()
    acts["correction_reminder"] = act_of("correction_reminder")

    clock.set("2024-09-27T10:00")
    engine.publicize_round(2024, PROVINCE, top=3, start="2024-09-27")
    acts["publicity"] = act_of("publicity")
    clock.set("2024-10-12T09:00")
    engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕88号",
                           doc_date="2024-10-12")
    acts["recognition"] = act_of("recognition")
    acts["not_selected"] = act_of("not_selected")

    clock.set("2025-03-01T09:00")  # the 30-day report reminders fire
    handled = engine.run_due()
    reminded = [item for item in handled if item.outcome == "reminded"]
    acts["report_reminder"] = act_of("report_reminder", "nanhai")

    clock.set("2025-03-03T10:00")
    revoke_now(engine, ids["guzhen"], "18.2", "经核查，申报材料中2023年产值数据与统计部门数据不符")
    acts["revocation"] = act_of("revocation")
    acts["revocation_proposal"] = act_of("revocation_proposal", "guzhen")
    clock.set("2025-03-05T10:00")
    engine.fire(ids["guzhen"], "reinstate", PROVINCE, reason="行政复议决定撤销原撤销决定",
                reference="粤府行复〔2025〕12号")
    acts["reinstated"] = act_of("reinstated")
    clock.set("2025-03-06T10:00")
    heard(engine, ids["guzhen"], "18.4", "集群运营管理机构调整后未及时报备")
    engine.fire(ids["guzhen"], "maintain", PROVINCE, reason="经核实，调整已于法定期限内报备")
    acts["maintained"] = act_of("maintained")

    for year, when in ((2024, "2025-03-10T09:00"), (2025, "2026-02-02T09:00"),
                       (2026, "2027-02-01T09:00")):
        clock.set(when)
        for key, county in (("nanhai", "佛山市南海区"), ("guzhen", "中山市古镇镇")):
            engine.fire(ids[key], "report", f"county:{county}", year=year,
                        data={"output": "210.5"})
    ensure_calendar(engine, 2027)
    # expiry reminders for 南海 and 古镇; 顺德's missed 2024 report urged (催报, its grace
    # counted from this day) — its 18.3 procedure opens when the grace has passed
    clock.set("2027-07-14T09:00")
    swept = engine.run_due()
    acts["expiry_reminder"] = act_of("expiry_reminder", "nanhai")
    acts["report_urge"] = act_of("report_urge", "shunde")

    clock.set("2027-07-20T09:00")
    engine.open_round(2027, PROVINCE, kind="review", apply_by="2027-09-30",
                      check_by="2027-10-15")
    acts["review_notice"] = act_of("review_notice", "nanhai")
    engine.fire(ids["nanhai"], "apply_review", "county:佛山市南海区",
                data=review_data(application, 2027))
    engine.fire(ids["nanhai"], "review_check", "city:佛山市", passed=True,
                opinion="经初审，符合复核条件")
    clock.set("2027-08-02T10:00")
    engine.fire(ids["nanhai"], "renew", PROVINCE)
    acts["renewal"] = act_of("renewal")
    clock.set("2027-08-03T09:00")  # 顺德's grace is over: the 18.3 procedure opens
    swept += engine.run_due()
    acts["timer_revocation"] = act_of("revocation_proposal", "shunde")

    yield {"engine": engine, "clock": clock, "ids": ids, "acts": acts, "url": url,
           "settings": settings, "folder": folder, "reminded": reminded, "swept": swept}
    engine.close()


def notice(world: dict[str, Any], act: str, fmt: str) -> Notice:
    kind = "revocation_proposal" if act == "timer_revocation" else act
    with world["engine"].store.read() as session:
        row = session.scalars(select(Notice).where(
            Notice.audit_seq == world["acts"][act], Notice.kind == kind, Notice.format == fmt
        )).one()
        session.expunge(row)
        return row


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("style", "title"):
            self._skip += 1
        if tag in ("p", "h1", "h2", "tr", "td", "th", "section", "div"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(body: bytes, fmt: str) -> str:
    """What a reader sees: the text, the HTML's text (unescaped), the .docx's paragraphs and
    table cells."""
    if fmt == "txt":
        return body.decode("utf-8")
    if fmt == "html":
        parser = _Text()
        parser.feed(body.decode("utf-8"))
        return "".join(parser.parts)
    import docx

    document = docx.Document(io.BytesIO(body))
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(lines)


ISSUED = ("《广东省工业和信息化厅关于印发广东省促进中小企业特色产业集群发展暂行办法的通知》"
          "（粤工信服务函〔2023〕4号）")
TITLE = "《广东省促进中小企业特色产业集群发展暂行办法》"
REQUIRED = {
    "publicity": [
        "关于2024年广东省中小企业特色产业集群拟认定名单的公示",
        f"根据{ISSUED}《{APPLICATION_NOTICE}》（粤工信服务函〔2024〕12号）",
        "经各地级以上市中小企业主管部门组织申报推荐、资格初审、专家评审，",
        "拟认定3个集群为2024年广东省中小企业特色产业集群，现予以公示（名单见附件）。",
        "公示期为2024年9月27日至2024年10月11日（7个工作日）。",
        "个人提出异议的，须在异议材料上签署真实姓名",
        "单位提出异议的，须加盖本单位公章",
        "异议须提供必要的证明材料和联系方式",
        "不予受理",
        "联系处室：广东省工业和信息化厅中小企业服务处；通讯地址：广州市越秀区东风中路305号；"
        "邮政编码：510031；联系人：张三；联系电话：020-83133333；电子邮箱：zxqyc@gdei.gov.cn。",
        "附件：2024年广东省中小企业特色产业集群拟认定名单",
        "广东省工业和信息化厅",
        "2024年9月27日",
        "序号", "地市", "县（市、区）", "集群名称", "主导产业",
        "佛山市南海区铝型材产业集群", "南海区", "中山市古镇镇灯饰产业集群", "古镇镇", "灯饰照明",
    ],
    "recognition": [
        "广东省工业和信息化厅关于公布2024年广东省中小企业特色产业集群名单的通告",
        "粤工信服务函〔2024〕88号",
        f"根据{ISSUED}《{APPLICATION_NOTICE}》（粤工信服务函〔2024〕12号）",
        "经各地级以上市中小企业主管部门组织申报推荐、资格初审、专家评审和公示，",
        "确定了3个2024年度广东省中小企业特色产业集群（名单见附件，以下简称集群），现予以通告，"
        "并提出有关工作要求。",
        "一、集群要做大做强主导产业，", "二、各级中小企业主管部门要制定和实施本地区集群发展规划",
        "三、各地级以上市中小企业主管部门要开展集群典型实践案例和优秀集群品牌宣传",
        "于每年3月31日前报送至广东省工业和信息化厅。",
        "四、广东省工业和信息化厅组织开展集群发展情况监督和考核，对已认定集群实行动态管理。",
        "五、集群认定有效期为2024年10月12日至2027年10月11日。",
        "附件：2024年广东省中小企业特色产业集群名单",
        "2024年10月12日",
        "佛山市南海区铝型材产业集群", "家用电器",
    ],
    "renewal": [
        "广东省工业和信息化厅关于2024年认定的广东省中小企业特色产业集群复核结果的通告",
        f"根据{ISSUED}，经集群所在县（市、区）中小企业主管部门申请复核、地级以上市中小企业主管部门"
        "初审，我厅对照认定条件和发展规划目标组织复核，",
        "1个广东省中小企业特色产业集群通过复核（名单见附件），现予以通告。",
        "通过复核的集群认定有效期延续三年，新的认定有效期为2027年10月12日至2030年10月11日。",
        "附件：通过复核的广东省中小企业特色产业集群名单",
        "2027年10月12日至2030年10月11日",
        "佛山市南海区铝型材产业集群",
        "2027年8月2日",
    ],
    "revocation": [
        "关于撤销中山市古镇镇灯饰产业集群广东省中小企业特色产业集群认定的通知",
        "中山市古镇镇中小企业主管部门：",
        "认定有效期为2024年10月12日至2027年10月11日",
        "经查，该集群存在以下情形：经核查，申报材料中2023年产值数据与统计部门数据不符。",
        "我厅已告知拟撤销该集群认定的事实、理由和依据，陈述申辩期限为2025年3月10日24时前。"
        "你单位（或中山市工业和信息化局）提出了陈述和申辩意见1份，我厅已予审查：",
        f"依据{TITLE}第十八条第（二）项“发现虚假申报或存在违法违规行为”的规定，"
        "决定撤销中山市古镇镇灯饰产业集群广东省中小企业特色产业集群认定，自2025年3月3日起生效。",
        "如对本决定不服，可以自收到本决定之日起60日内依法向广东省人民政府申请行政复议，"
        "或者在6个月内依法向人民法院提起行政诉讼。",
        "联系人：张三；联系电话：020-83133333；电子邮箱：zxqyc@gdei.gov.cn。",
        "2025年3月3日",
        "抄送：中山市工业和信息化局。",
    ],
    "revocation_proposal": [
        "关于拟撤销中山市古镇镇灯饰产业集群广东省中小企业特色产业集群认定的告知书",
        "中山市古镇镇中小企业主管部门：",
        "经查，该集群存在以下情形：经核查，申报材料中2023年产值数据与统计部门数据不符。",
        f"上述情形属于{TITLE}第十八条第（二）项“发现虚假申报或存在违法违规行为”规定的情形。"
        "我厅拟撤销中山市古镇镇灯饰产业集群广东省中小企业特色产业集群认定。",
        "可于2025年3月10日24时前提出陈述和申辩意见，并附相关证明材料，由你单位或中山市工业和"
        "信息化局书面报送我厅。",
        "联系人：张三；联系电话：020-83133333；电子邮箱：zxqyc@gdei.gov.cn。",
        "2025年3月3日",
        "抄送：中山市工业和信息化局。",
    ],
    "reinstated": [
        "关于恢复中山市古镇镇灯饰产业集群广东省中小企业特色产业集群认定的通知",
        "中山市古镇镇中小企业主管部门：",
        "我厅于2025年3月3日作出撤销中山市古镇镇灯饰产业集群",
        "行政复议决定撤销原撤销决定。根据粤府行复〔2025〕12号，决定恢复中山市古镇镇灯饰产业集群"
        "广东省中小企业特色产业集群认定，认定有效期仍为2024年10月12日至2027年10月11日。",
        "2025年3月5日",
        "抄送：中山市工业和信息化局。",
    ],
    "maintained": [
        "关于维持中山市古镇镇灯饰产业集群广东省中小企业特色产业集群认定的通知",
        "中山市古镇镇中小企业主管部门：",
        f"我厅于2025年3月6日告知拟依据{TITLE}第十八条第（四）项撤销",
        "你单位提出了陈述和申辩意见。",
        "经复核，经核实，调整已于法定期限内报备。决定维持中山市古镇镇灯饰产业集群广东省中小企业"
        "特色产业集群认定，认定有效期仍为2024年10月12日至2027年10月11日。",
        "2025年3月6日",
        "抄送：中山市工业和信息化局。",
    ],
    "report_urge": [
        "年度发展情况的通知",
        "2026年度发展情况应于2027年3月31日24时前报送。",
        "于2027年7月28日24时前报送我厅。",
        f"催报期限届满仍未报送的，属于{TITLE}第十八条第（三）项“未及时报送集群年度培育情况信息表，"
        "不接受、不配合监测监督工作”规定的情形，我厅将启动撤销程序",
        "2027年7月14日",
        "抄送：佛山市工业和信息化局。",
    ],
    "return": [
        "关于东莞市长安镇五金模具产业集群申报材料退回补正的通知",
        "东莞市长安镇中小企业主管部门：",
        "经资格初审，需补正后重新报送，现予退回。",
        "退回原因：2023年产值缺少统计部门证明材料<b>{{7*7}}</b>。",
        "（1）集群产值（2023年）；",
        "（2）集群三年发展规划。",
        "补正截止日期为2024年4月15日（当日24时止）。请于截止日期前补正后重新提交；"
        "逾期未重新提交的，本年度申报不再受理。",
        "东莞市工业和信息化局",
        "2024年3月1日",
    ],
    "correction_reminder": [
        "关于东莞市长安镇五金模具产业集群申报材料补正截止日期的提醒",
        "东莞市长安镇中小企业主管部门：",
        "你单位报送的2024年广东省中小企业特色产业集群申报材料（东莞市长安镇五金模具产业集群，"
        "编号：4）已于2024年3月1日退回补正，补正截止日期为2024年4月15日（当日24时止），"
        "目前尚未重新提交。",
        "东莞市工业和信息化局",
        "2024年4月11日",
    ],
    "not_selected": [
        "关于江门市蓬江区摩托车产业集群未入选2024年广东省中小企业特色产业集群的告知",
        "江门市蓬江区中小企业主管部门：",
        "（江门市蓬江区摩托车产业集群，编号：6），未获江门市工业和信息化局推荐，"
        "未入选2024年广东省中小企业特色产业集群。",
        "联系人：张三；联系电话：020-83133333；电子邮箱：zxqyc@gdei.gov.cn。",
        "广东省工业和信息化厅",
        "2024年10月12日",
        "抄送：江门市工业和信息化局。",
    ],
    "rejection": [
        "关于汕头市澄海区玩具创意产业集群不予认定为广东省中小企业特色产业集群的通知",
        "汕头市澄海区中小企业主管部门：",
        "（汕头市澄海区玩具创意产业集群，编号：5），经资格初审，存在以下情形：中小企业产值占比为"
        "70%，未达到“高于70%”的条件（第十三条第（二）项）。",
        "决定对汕头市澄海区玩具创意产业集群不予认定为2024年广东省中小企业特色产业集群。",
        "如对本决定不服，可以自收到本决定之日起60日内依法向汕头市人民政府申请行政复议，"
        "或者在6个月内依法向人民法院提起行政诉讼。",
        "汕头市工业和信息化局",
        "2024年3月1日",
    ],
    "report_reminder": [
        "关于报送佛山市南海区铝型材产业集群2024年度发展情况的提醒",
        "佛山市南海区中小企业主管部门、佛山市南海区铝型材产业集群运营管理机构：",
        "根据《广东省工业和信息化厅关于公布2024年广东省中小企业特色产业集群名单的通告》"
        "（粤工信服务函〔2024〕88号）的工作要求，广东省中小企业特色产业集群应于每年3月31日前"
        "报送上一年度发展情况。",
        "2024年度发展情况的报送截止日期为2025年3月31日。",
        "由所在县（市、区）或地级以上市中小企业主管部门于截止日期前报送我厅。",
        "逾期未报送的，我厅将予以催报；催报期限届满仍未报送的，我厅将依据",
        "第十八条第（三）项“未及时报送集群年度培育情况信息表，不接受、不配合监测监督工作”的规定"
        "启动撤销程序。",
        "2025年3月1日",
        "抄送：佛山市工业和信息化局。",
    ],
    "expiry_reminder": [
        "关于佛山市南海区铝型材产业集群认定有效期即将届满的提醒",
        "认定有效期至2027年10月11日届满。",
        "我厅将组织开展复核，复核申报的时间和要求以复核通知为准。",
        "复核通过的，认定有效期自2027年10月12日起延续三年。",
        f"依据{TITLE}第十八条第（一）项，“有效期满未申请复核或经复核未通过”的，"
        "撤销其认定。",
        "2027年7月14日",
        "抄送：佛山市工业和信息化局。",
    ],
    "review_notice": [
        "关于佛山市南海区铝型材产业集群开展2027年复核工作的通知",
        "佛山市南海区中小企业主管部门：",
        f"根据{ISSUED}，按照{TITLE}第十六条的规定，我厅组织开展2027年广东省中小企业特色产业集群"
        "复核工作。",
        "认定有效期至2027年10月11日届满，列入本次复核范围。",
        "请集群所在县（市、区）中小企业主管部门于2027年9月30日（当日24时止）前提出复核申请，"
        "报送复核申报材料：2024年至2026年发展情况数据，",
        "地级以上市中小企业主管部门于2027年10月15日前完成初审并提出初审意见。",
        "复核通过的，认定有效期自2027年10月12日起延续三年。",
        "撤销前，我厅将书面告知拟撤销的事实、理由和依据，并听取陈述和申辩。",
        "2027年7月20日",
        "抄送：佛山市工业和信息化局。",
    ],
}
KINDS = list(REQUIRED)


@pytest.mark.parametrize("fmt", ["txt", "html", "docx"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_renders_in_each_format_with_its_required_sentences(
    world: dict[str, Any], kind: str, fmt: str
) -> None:
    """Each kind, issued by its act, carries in each format the sentences, dates and rows its
    real counterparts carry (NOTICES.md), word for word."""
    row = notice(world, kind, fmt)
    text = text_of(row.body, fmt)
    missing = [item for item in REQUIRED[kind] if item not in text]
    assert not missing, f"{kind}.{fmt} lacks {missing}"


def test_the_scheduler_reminders_and_timer_revocations_produce_notices(
    world: dict[str, Any]
) -> None:
    """Reminder deadlines fired by the sweep and the 18.3 procedure the timer opens (report
    still missing after the 催报 grace) each issue their notice; 30-day reminders went to all
    three recognized clusters; nobody revoked the timer's case."""
    assert len(world["reminded"]) == 3
    engine, ids = world["engine"], world["ids"]
    report_cases = {row["case_id"] for row in list_notices(engine)
                    if row["kind"] == "report_reminder" and row["format"] == "txt"}
    assert report_cases == {ids["nanhai"], ids["guzhen"], ids["shunde"]}
    text = notice(world, "timer_revocation", "txt").body.decode("utf-8")
    assert ("第十八条第（三）项“未及时报送集群年度培育情况信息表，不接受、不配合监测监督工作”"
            in text)
    assert "未按时报送2024年度发展情况" in text
    assert engine.get(ids["shunde"]).state == "revocation_proposed"


def test_publicity_counts_its_working_days_with_the_calendar(world: dict[str, Any]) -> None:
    """A period across National Day: 2024-09-27 to 2024-10-11 is 7 working days (the holiday
    and the 调休 make-up Sunday 9-29 and Saturday 10-12 are counted by the calendar)."""
    text = notice(world, "publicity", "txt").body.decode("utf-8")
    assert "公示期为2024年9月27日至2024年10月11日（7个工作日）" in text
    assert world["engine"].workdays("2024-09-27", 7) == date(2024, 10, 11)


@pytest.mark.parametrize("fmt", ["txt", "docx"])
def test_user_text_stays_literal(world: dict[str, Any], fmt: str) -> None:
    """A cluster named ``<script>…{{7*7}}`` and a reason with ``<b>{{7*7}}</b>`` are data:
    printed literally, never evaluated (no 49) — in text and in .docx."""
    for act in ("publicity", "recognition", "return"):
        text = text_of(notice(world, act, fmt).body, fmt)
        assert "49" not in text
        needle = "{{7*7}}"
        assert needle in text
    assert INJECTED in text_of(notice(world, "publicity", fmt).body, fmt)
    assert "<b>{{7*7}}</b>" in text_of(notice(world, "return", fmt).body, fmt)


def test_user_text_is_escaped_in_html(world: dict[str, Any]) -> None:
    """In HTML the same text is escaped: no script element, no bold element, and the text reads
    back exactly as written. (The anchor's hash, 16 hex digits printed in the page's margin,
    depends on the test's folder and may hold "49" by chance: it is left out of that check.)"""
    for act in ("publicity", "recognition", "return"):
        html = notice(world, act, "html").body.decode("utf-8")
        assert "<script>" not in html and "<b>" not in html
        assert "49" not in re.sub(r"\b[0-9a-f]{16}\b", "", html)
    html = notice(world, "publicity", "html").body.decode("utf-8")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;{{7*7}}家电产业集群" in html
    assert INJECTED in text_of(notice(world, "publicity", "html").body, "html")
    assert "&lt;b&gt;{{7*7}}&lt;/b&gt;" in notice(world, "return", "html").body.decode("utf-8")


def test_attachment_line_has_no_punctuation_after_names(world: dict[str, Any]) -> None:
    """"附件：" then the attachment's name and nothing after it (GB/T 9704 7.3.4)."""
    for act, title in (("publicity", "2024年广东省中小企业特色产业集群拟认定名单"),
                       ("recognition", "2024年广东省中小企业特色产业集群名单")):
        for fmt in ("txt", "html", "docx"):
            lines = [line.strip() for line in text_of(notice(world, act, fmt).body,
                                                        fmt).splitlines()]
            assert f"附件：{title}" in lines, (act, fmt)


def test_html_prints_on_a4_after_gbt_9704(world: dict[str, Any]) -> None:
    """The HTML sets A4 with margins giving the 156 × 225 mm block (top 37, binding 28), 16 pt
    仿宋 body, 22 pt 小标宋 title, 黑体 headings, CJK font stacks with generic fallbacks, and
    starts the attachment on a new page."""
    html = notice(world, "recognition", "html").body.decode("utf-8")
    assert "size: A4;" in html
    assert "margin: 37mm 26mm 35mm 28mm;" in html  # 210-28-26 = 156, 297-37-35 = 225
    assert re.search(r"html \{ font-family: var\(--fangsong\); font-size: 16pt;", html)
    assert re.search(r"h1\.title \{ font-family: var\(--xiaobiaosong\); font-size: 22pt;", html)
    assert '--fangsong: "FangSong_GB2312", "仿宋_GB2312", "FangSong", "仿宋"' in html
    for stack in ("--fangsong", "--xiaobiaosong", "--kaiti"):
        assert re.search(stack + r": [^;]*, serif;", html)
    assert re.search(r"--heiti: [^;]*\"黑体\"[^;]*, sans-serif;", html)
    assert "section.attachment { break-before: page; page-break-before: always; }" in html
    assert '<p class="body">一、集群要做大做强主导产业，' in html  # plain, as the 通告 prints it
    assert re.search(r'<section class="attachment">\s*<p class="attachment-label">附件</p>', html)
    assert '<html lang="zh-CN">' in html and '<meta charset="utf-8">' in html


def test_docx_reopens_with_a4_page_setup_and_chinese_fonts(world: dict[str, Any]) -> None:
    """The .docx reopens with python-docx: A4, margins 37/35/28/26 mm mirrored for binding,
    body 16 pt 仿宋 and title 22 pt 小标宋 as East Asian fonts, 黑体 run-in headings, the
    attachment on a new page with its table, and page numbers in the footers."""
    import docx
    from docx.shared import Pt

    document = docx.Document(io.BytesIO(notice(world, "recognition", "docx").body))
    section = document.sections[0]

    def mm(length: Any) -> float:  # Word stores twips: 210 mm reads back as 210.004 mm
        return round(length.mm, 1)

    assert (mm(section.page_width), mm(section.page_height)) == (210.0, 297.0)
    assert (mm(section.top_margin), mm(section.bottom_margin)) == (37.0, 35.0)
    assert (mm(section.left_margin), mm(section.right_margin)) == (28.0, 26.0)
    assert document.settings.element.find(docx.oxml.ns.qn("w:mirrorMargins")) is not None

    def east_asian(element: Any) -> str | None:
        fonts = element.find(docx.oxml.ns.qn("w:rPr") + "/" + docx.oxml.ns.qn("w:rFonts"))
        return fonts.get(docx.oxml.ns.qn("w:eastAsia")) if fonts is not None else None

    normal = document.styles["Normal"]
    assert normal.font.size == Pt(16)
    assert east_asian(normal.element) == "仿宋_GB2312"
    title = document.paragraphs[0]
    assert title.text == "广东省工业和信息化厅关于公布2024年广东省中小企业特色产业集群名单的通告"
    assert title.runs[0].font.size == Pt(22)
    assert east_asian(title.runs[0]._r) == "方正小标宋简体"
    requirement = next(p for p in document.paragraphs if p.text.startswith("一、"))
    assert [east_asian(run._r) for run in requirement.runs] == ["仿宋_GB2312"]
    label = next(p for p in document.paragraphs if p.text == "附件")
    assert label.paragraph_format.page_break_before is True
    assert east_asian(label.runs[0]._r) == "黑体"
    table = document.tables[0]
    assert [cell.text for cell in table.rows[0].cells] == [
        "序号", "地市", "县（市、区）", "集群名称", "主导产业"]
    assert len(table.rows) == 4
    footer = section.footer._element.xml
    assert 'w:instr="PAGE"' in footer and "— " in footer
    assert 'w:instr="PAGE"' in section.even_page_footer._element.xml
    # a 通告 with a 函 number is not a letter (信函格式): numbered from its first page
    assert section.different_first_page_header_footer is False
    assert document.core_properties.title == title.text


def test_docx_rendering_is_reproducible(world: dict[str, Any]) -> None:
    """Rendering the same notice again from its act gives the same bytes (zip entries carry the
    notice's date), so a stored hash can be checked against a re-rendering."""
    stored = notice(world, "publicity", "docx")
    again = render_notice(world["engine"], "publicity", round_year=2024, fmt="docx",
                          settings=world["settings"], fresh=True)
    assert again.sha256 == stored.sha256


def test_each_rendering_records_its_template_versions(world: dict[str, Any]) -> None:
    """Every stored notice names the templates (and versions) it was made with, and every
    template file starts with its version header."""
    from importlib import resources

    for row in list_notices(world["engine"]):
        assert row["template"] == f"{row['kind']}.xml.j2"
        assert f"{row['kind']}.xml.j2@{template_version(row['template'])}" in \
            row["template_version"]
        assert "_notice.xml.j2@2" in row["template_version"]
        layout = {"txt": "_layout.txt.j2@2", "html": "_layout.html.j2@3",
                  "docx": "word.py@3"}[row["format"]]
        assert layout in row["template_version"]
    templates = [entry for entry in resources.files("gdcluster").joinpath("templates").iterdir()
                 if entry.name.endswith(".j2")]
    # the kinds; skeleton, two layouts, contacts, remedies
    assert len(templates) == len(KINDS_ALL) + 6
    for entry in templates:
        assert re.match(r"\{# version: \d+ #\}\n", entry.read_text(encoding="utf-8")), entry.name


def test_outbox_files_match_their_sha256(world: dict[str, Any]) -> None:
    """Every notice is written to the outbox as issued: the file's SHA-256 equals the stored
    one, which is the hash of the stored body; every outbox delivery is sent."""
    engine = world["engine"]
    with engine.store.read() as session:
        rows = list(session.scalars(select(Notice)))
        outbox = {row.notice_id: row for row in session.scalars(
            select(Delivery).where(Delivery.channel == "outbox"))}
    assert len(rows) >= 3 * len(KINDS)
    for row in rows:
        path = Path(row.path)
        assert path.parent == world["folder"] / "outbox"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row.sha256
        assert hashlib.sha256(row.body).hexdigest() == row.sha256
        assert outbox[row.id].status == "sent" and outbox[row.id].target == row.path
    names = sorted(path.name for path in (world["folder"] / "outbox").iterdir())
    assert f"2024-09-27_publicity_round2024_a{world['acts']['publicity']}.docx" in names
    assert not [name for name in names if name.endswith(".part")]


# ---------------------------------------------------------------------------- tied to the act
def test_notice_rows_are_written_inside_the_acts_transaction(world: dict[str, Any]) -> None:
    """The notice rows exist inside the act's transaction (a later hook sees them), and when
    the act then fails they vanish with it: no row, no file, the case unchanged."""
    engine, case_id = world["engine"], world["ids"]["nanhai"]
    seen: list[int] = []

    def failing_hook(session: Any, event: Any) -> None:
        seen.append(int(session.scalar(select(func.count()).select_from(Notice).where(
            Notice.audit_seq == event.audit_seq))))
        raise RuntimeError("disk full")

    ensure_calendar(engine, world["clock"].now().year)
    heard(engine, case_id, "18.5", "重大安全事故")
    before = len(list_notices(engine))
    remove = engine.on_transaction(failing_hook)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            engine.fire(case_id, "revoke", PROVINCE, reason=DECISION)
    finally:
        remove()
    assert seen == [3]  # txt, html, docx written in the transaction
    assert len(list_notices(engine)) == before
    assert engine.get(case_id).state == "revocation_proposed"
    assert not list((world["folder"] / "outbox").glob("*_revocation_case1_*"))


def test_a_refused_act_issues_no_notice(world: dict[str, Any]) -> None:
    """A revocation refused as bad input (a malformed 文号) writes no notice."""
    engine, nanhai = world["engine"], world["ids"]["nanhai"]
    if engine.get(nanhai).state != "revocation_proposed":  # heard, ready for the decision
        ensure_calendar(engine, world["clock"].now().year)
        heard(engine, nanhai, "18.5", "重大安全事故")
    before = len(list_notices(engine))
    with pytest.raises(InvalidInput):
        engine.fire(nanhai, "revoke", PROVINCE, reason=DECISION,
                    doc_no="粤工信函2025第1号")
    with pytest.raises(TransitionRefused):  # the state machine refuses: nothing issued either
        engine.fire(world["ids"]["guzhen"], "revoke", PROVINCE, reason="未经告知直接撤销")
    assert len(list_notices(engine)) == before


def test_render_needs_the_act_that_calls_for_the_notice(world: dict[str, Any]) -> None:
    """Rendering a notice whose act never happened is refused as not found (exit 2), and a
    round kind asked for a case (or the reverse) is refused as bad input."""
    from gdcluster.engine import NotFound

    engine = world["engine"]
    with pytest.raises(NotFound):
        render_notice(engine, "revocation", case_id=world["ids"]["changan"])
    with pytest.raises(InvalidInput):
        render_notice(engine, "publicity", case_id=world["ids"]["nanhai"])
    with pytest.raises(InvalidInput):
        render_notice(engine, "return", round_year=2024)


# ---------------------------------------------------------------------------- CLI
def gd(world: dict[str, Any], *args: str) -> Any:
    return RUNNER.invoke(cli, ["--db", world["url"], *args], catch_exceptions=False)


def test_cli_notice_render_prints_the_issued_notice(world: dict[str, Any], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`notice render KIND --round/--case` prints the issued text on stdout; --format html too;
    docx needs -o (exit 2 without) and the file written is the issued one."""
    monkeypatch.chdir(tmp_path)
    result = gd(world, "notice", "render", "publicity", "--round", "2024")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == notice(world, "publicity", "txt").body
    result = gd(world, "notice", "render", "revocation", "--case", str(world["ids"]["guzhen"]),
                "--format", "html")
    assert result.stdout_bytes == notice(world, "revocation", "html").body
    assert gd(world, "notice", "render", "recognition", "--round", "2024",
              "--format", "docx").exit_code == 2
    out = tmp_path / "list.docx"
    result = gd(world, "notice", "render", "recognition", "--round", "2024", "--format", "docx",
                "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == notice(world, "recognition", "docx").body
    assert gd(world, "notice", "render", "publicity", "--case", "1").exit_code == 2
    assert gd(world, "notice", "render", "publicity").exit_code == 2


def test_cli_notice_render_renewal_for_a_round_lists_its_renewals(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`notice render renewal --round 2024` is composed from every 复核 of the round."""
    monkeypatch.chdir(tmp_path)
    result = gd(world, "notice", "render", "renewal", "--round", "2024")
    assert result.exit_code == 0, result.output
    assert "新的认定有效期为2027年10月12日至2030年10月11日" in result.output
    assert "佛山市南海区铝型材产业集群" in result.output


def test_cli_notice_list(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                         tmp_path: Path) -> None:
    """`notice list --case ID --json` lists that case's notices with kind, format, template
    version, hash, path and deliveries; `--round` lists the round's; both at once is usage."""
    import json

    monkeypatch.chdir(tmp_path)
    case_id = world["ids"]["guzhen"]
    result = gd(world, "notice", "list", "--case", str(case_id), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(row["kind"], row["format"]) for row in rows} >= {
        ("revocation", "txt"), ("revocation", "html"), ("revocation", "docx"),
        ("report_reminder", "txt")}
    assert all(row["case_id"] == case_id for row in rows)
    first = rows[0]
    assert set(first) >= {"kind", "format", "template_version", "sha256", "path", "created_at",
                          "deliveries"}
    assert first["deliveries"][0]["channel"] == "outbox"
    human = gd(world, "notice", "list", "--round", "2024")
    assert human.exit_code == 0
    assert "publicity" in human.output and "recognition" in human.output
    assert gd(world, "notice", "list", "--case", "1", "--round", "2024").exit_code == 2


# ---------------------------------------------------------------------------- the environment
def test_one_strict_environment_loads_templates_from_the_package() -> None:
    """There is one Jinja environment; it loads the templates as package data, refuses an
    undefined variable instead of printing nothing, and autoescapes exactly the HTML and the
    document templates."""
    from jinja2 import PackageLoader, StrictUndefined, UndefinedError

    from gdcluster.notifications.render import environment

    env = environment()
    assert env is environment()
    assert env.undefined is StrictUndefined
    assert isinstance(env.loader, PackageLoader)
    assert env.autoescape("_layout.html.j2") and env.autoescape("publicity.xml.j2")
    assert not env.autoescape("_layout.txt.j2")
    with pytest.raises(UndefinedError, match="period"):
        env.get_template("publicity.xml.j2").render(
            title="t", doc_no=None, addressee=None, attachments=[], issuer="i",
            date=date(2024, 9, 27), measures={"issued_citation": "m"},
            application_notice=None, count=1, round={"year": 2024}, contact=None,
            steps=["申报推荐"])


def test_a_renewal_notice_can_list_chosen_cases(world: dict[str, Any]) -> None:
    """The 复核结果 notice is composed for a list of cases too (here the one renewed case),
    with its new validity; a case never renewed is refused as not found."""
    from gdcluster.engine import NotFound

    engine, ids = world["engine"], world["ids"]
    text = render_notice(engine, "renewal", case_ids=[ids["nanhai"]],
                         settings=world["settings"]).text
    assert "1个广东省中小企业特色产业集群通过复核" in text
    assert "2027年10月12日至2030年10月11日" in text
    with pytest.raises(NotFound):
        render_notice(engine, "renewal", case_ids=[ids["nanhai"], ids["changan"]],
                      settings=world["settings"])


@pytest.mark.parametrize("text", ["佛山市南海区铝型材产业集群", "", "  前后有空格  ", "甲\t乙",
                                  "一行\n二行", "回车\r换行", "<&>\"'", "长" * 10_000, " ", "\t"],
                         ids=["plain", "empty", "padded", "tab", "newline", "cr", "xml",
                              "long", "space", "only-tab"])
def test_the_docx_list_writes_cells_as_python_docx_does(text: str) -> None:
    """The .docx list fills copied rows directly (``word._fill``); each cell's XML is what
    python-docx's own ``run.text = …`` writes, for plain, padded, tabbed, multi-line, markup
    and 10,000-character texts."""
    import copy as copy_module

    from docx import Document
    from lxml import etree

    from gdcluster.notifications.word import _fill

    table = Document().add_table(rows=1, cols=2)
    for cell in table.rows[0].cells:
        cell.paragraphs[0].add_run("")
    template = table.rows[0]._tr
    filled, reference = copy_module.deepcopy(template), copy_module.deepcopy(template)
    _fill(filled, (text, "对照"))
    for tc, value in zip(reference.tc_lst, (text, "对照"), strict=True):
        tc.p_lst[0].r_lst[0].text = value
    assert etree.tostring(filled) == etree.tostring(reference)


# ---------------------------------------------------------------------------- the 厅's own form
REAL_2024 = {
    "title": "广东省工业和信息化厅关于公布2024年广东省中小企业特色产业集群名单的通告",
    "basis": "根据《广东省工业和信息化厅关于印发广东省促进中小企业特色产业集群发展暂行办法的通知》"
             "（粤工信服务函〔2023〕4号）《广东省工业和信息化厅关于组织开展2024年度省级中小企业"
             "特色产业集群申报工作的通知》（便函〔2024〕443号），经各地级以上市中小企业主管部门"
             "组织申报推荐、资格初审、专家评审、现场考察和公示，确定了41个2024年度广东省中小企业"
             "特色产业集群（名单见附件，以下简称集群），现予以通告，并提出有关工作要求。",
    "requirements": [
        "一、集群要做大做强主导产业，进一步畅通产业协作网络，增强集群创新活力和产业链关键环节配套"
        "能力，着力培育优质中小企业，不断推进集群数字化升级和绿色低碳转型，持续深化开放合作，加快"
        "提升集群治理和服务水平。",
        "二、各级中小企业主管部门要制定和实施本地区集群发展规划和专项扶持政策，建立集群梯度培育"
        "体系，加大资源投入和政策供给，支持集群不断提升创新、数字化、绿色化、开放合作和治理服务"
        "能力，增强专业化配套水平。",
        "三、各地级以上市中小企业主管部门要开展集群典型实践案例和优秀集群品牌宣传，加强集群发展"
        "跟踪和评估，组织集群填报上一年度发展情况，于每年3月31日前报送至广东省工业和信息化厅。",
        "四、广东省工业和信息化厅组织开展集群发展情况监督和考核，对已认定集群实行动态管理。",
        "五、集群认定有效期为2024年7月10日至2027年7月9日。",
    ],
    "attachment": "2024年广东省中小企业特色产业集群名单",
}


@pytest.fixture(scope="module")
def batch_2024(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The 2024 batch as the 厅 recognized it: 41 clusters, the 2024 申报通知 (a 便函), a
    现场考察 recorded for the round, validity from 2024-07-10."""
    from print_support import build_world

    world = build_world(tmp_path_factory.mktemp("batch-2024"), 41, lifecycle=False,
                        site_visit=True)
    yield world
    world.engine.close()


def test_the_2024_list_notice_matches_the_real_one_item_by_item(batch_2024: Any) -> None:
    """Side by side with the 厅's published 2024 通告: the same title, the basis sentence citing
    the measures as issued (粤工信服务函〔2023〕4号) and the round's 申报通知 by its own title and
    number (便函〔2024〕443号), the steps, "41个2024年度", the five requirements as plain numbered
    paragraphs, the validity sentence, the attachment title, and no contact line. (The reposts
    show no 文号; ours carries the one `round recognize --doc-no` was given, and is dated the
    成文日期 `--doc-date` 2024-07-10, two days before it was entered.)"""
    from print_support import document

    doc = document(batch_2024, "recognition", {"round_year": 2024})
    assert doc.title == REAL_2024["title"]
    assert doc.addressee is None and doc.doc_no == "粤工信服务函〔2024〕95号"
    assert doc.date == "2024年7月10日"
    paragraphs = [paragraph.text for paragraph in doc.body]
    assert paragraphs[0] == REAL_2024["basis"]
    assert paragraphs[1:] == REAL_2024["requirements"]
    assert all(run.style is None for paragraph in doc.body for run in paragraph.runs)
    assert [attachment.title for attachment in doc.attachments] == [REAL_2024["attachment"]]
    assert doc.attachment_note == [f"附件：{REAL_2024['attachment']}"]
    table = doc.attachments[0].table
    assert table is not None and len(table.rows) == 41
    assert table.headers == ("序号", "地市", "县（市、区）", "集群名称", "主导产业")
    assert doc.issuer == "广东省工业和信息化厅"
    text = render_notice(batch_2024.engine, "recognition", round_year=2024,
                         settings=batch_2024.settings).text
    assert "联系人" not in text and "联系电话" not in text


def test_the_steps_name_a_site_visit_only_when_one_was_recorded(
    world: dict[str, Any], batch_2024: Any
) -> None:
    """现场考察 is asserted only for a round with a recorded site visit (an audit row with trigger
    site_visit before the act): the 2024 batch has one, the module's world has none."""
    from print_support import document

    for kind in ("publicity", "recognition"):
        text = text_of(notice(world, kind, "txt").body, "txt")
        assert "现场考察" not in text, kind
        recorded = document(batch_2024, kind, {"round_year": 2024})
        assert "专家评审、现场考察" in recorded.body[0].text, kind
    assert "组织申报推荐、资格初审、专家评审、现场考察，拟认定41个集群" in document(
        batch_2024, "publicity", {"round_year": 2024}).body[0].text


def test_the_publicity_is_dated_its_issue_day_without_a_doc_no(batch_2024: Any) -> None:
    """The 公示 is dated the day it was issued (2024-06-19, the day before its period starts)
    and carries no 文号 unless one is given; given one, it prints it."""
    from print_support import document

    from gdcluster.notifications.context import NoticeSpec, build_context
    from gdcluster.notifications.render import render

    doc = document(batch_2024, "publicity", {"round_year": 2024})
    assert doc.date == "2024年6月19日" and doc.doc_no is None
    assert "公示期为2024年6月20日至2024年6月28日（7个工作日）" in doc.body[1].text
    with batch_2024.engine.store.read() as session:
        context = build_context(session, NoticeSpec("publicity", round_year=2024),
                                batch_2024.settings)
    context["doc_no"] = "粤工信服务函〔2024〕88号"
    assert "粤工信服务函〔2024〕88号" in render("publicity", context, ["txt"])[0].text


def test_letters_go_to_the_departments_by_their_names(world: dict[str, Any]) -> None:
    """Case letters are addressed and copied to departments by name (states/departments.toml):
    the 撤销 letter to the county's 中小企业主管部门, copied to the city's (深圳市:
    深圳市中小企业服务局); reminders likewise; 退回补正 signed by the city's."""
    from gdcluster.notifications.context import NoticeSpec, build_context
    from gdcluster.notifications.render import environment, kind_template, parse_document

    with world["engine"].store.read() as session:
        spec = NoticeSpec("revocation", case_id=world["ids"]["guzhen"])
        context = build_context(session, spec, world["settings"])
        assert (context["addressee"], context["copies"]) == (
            "中山市古镇镇中小企业主管部门", ["中山市工业和信息化局"])
    from gdcluster.engine.models import Case

    with world["engine"].store.write() as session:  # the same letter, had it been 深圳's
        case = session.get(Case, world["ids"]["guzhen"])
        assert case is not None
        case.city, case.county = "深圳市", "深圳市南山区"
        session.flush()
        context = build_context(session, spec, world["settings"])
        session.rollback()
    doc = parse_document("revocation", environment().get_template(
        kind_template("revocation")).render(**context))
    assert doc.addressee == "深圳市南山区中小企业主管部门："
    assert doc.copies == ("深圳市中小企业服务局",)
    text = text_of(notice(world, "return", "txt").body, "txt")
    assert "东莞市长安镇中小企业主管部门：" in text and "东莞市工业和信息化局" in text


def test_no_notice_makes_claims_the_workflow_does_not_back(world: dict[str, Any]) -> None:
    """Removed for good: 现场考察 without a record, "届满前应当申请复核" attributed to the measures,
    a city step in 复核 the workflow does not have, and the report rule attributed to the
    measures rather than the 通告 that states it."""
    texts = {kind: text_of(notice(world, kind, "txt").body, "txt") for kind in KINDS}
    assert not [kind for kind, text in texts.items() if "现场考察" in text]
    assert "届满前应当申请复核" not in texts["expiry_reminder"]
    assert "审核后报送我厅" not in texts["expiry_reminder"]
    assert "审核推荐" not in texts["renewal"]
    assert "根据《广东省促进中小企业特色产业集群发展暂行办法》" not in texts["report_reminder"]


def test_headings_print_in_heiti_and_kaiti_in_docx() -> None:
    """A template's 一、 (黑体) and （一） (楷体) run-in headings keep their fonts in .docx."""
    import docx

    from gdcluster.notifications import word
    from gdcluster.notifications.render import parse_document

    document = parse_document("memo", (
        "<notice><title>标题</title><body><p><h1>一、总体要求。</h1>正文。</p>"
        "<p><h2>（一）具体要求。</h2>正文。</p></body><signature>广东省工业和信息化厅</signature>"
        '<date iso="2024-07-09">2024年7月9日</date></notice>'))
    opened = docx.Document(io.BytesIO(word.build(document)))
    fonts = {}
    for paragraph in opened.paragraphs:
        for run in paragraph.runs:
            element = run._r.find(docx.oxml.ns.qn("w:rPr") + "/" + docx.oxml.ns.qn("w:rFonts"))
            fonts[run.text] = element.get(docx.oxml.ns.qn("w:eastAsia"))
    assert fonts["一、总体要求。"] == "黑体" and fonts["（一）具体要求。"] == "楷体_GB2312"
    assert fonts["正文。"] == "仿宋_GB2312"


def test_a_letter_with_a_han_number_is_in_letter_format(world: dict[str, Any]) -> None:
    """信函格式 (no page number on page 1) is a letter's: addressed and numbered …函〔Y〕N号. A 通告
    or 公示 with a 函 number is numbered from page 1, in .docx as in print."""
    import docx

    from gdcluster.notifications.context import NoticeSpec, build_context
    from gdcluster.notifications.render import render

    with world["engine"].store.read() as session:
        context = build_context(session, NoticeSpec("revocation", case_id=world["ids"]["guzhen"]),
                                world["settings"])
    context["doc_no"] = "粤工信服务函〔2025〕7号"
    letter, html = render("revocation", context, ["docx", "html"])
    assert docx.Document(io.BytesIO(letter.body)).sections[0].different_first_page_header_footer
    assert "@page :first" in html.text
    listed = notice(world, "recognition", "html").body.decode("utf-8")
    assert "粤工信服务函〔2024〕88号" in listed and "@page :first" not in listed
