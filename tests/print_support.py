"""Printing notices and reading the printed pages back (tests/test_print.py).

Two worlds are lived through the engine: a long one (60 clusters publicized, recognized and
renewed, revocations and 退回补正 with 10,000-character reasons) and a short one (one cluster).
``PRINT_CASES`` names, for every notice kind, which notices of them are printed: a new kind
gets its acts added to :func:`build_world` and its cases added here, and the page checks of
test_print.py then cover it (a kind without cases fails there, it is never skipped).

The printed PDF is read with poppler's ``pdftotext -bbox``: every word with its box, page by
page. Chromium prints with the flags a headless server needs and nothing else: what the HTML's
own print CSS does is what is checked.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import PROVINCE, ensure_calendar, full_scores, heard, review_data, revoke_now

from gdcluster.engine import Engine
from gdcluster.engine.application import load_application_file
from gdcluster.engine.clock import FakeClock
from gdcluster.notifications import Contact, Settings, attach
from gdcluster.notifications.context import NoticeSpec, build_context
from gdcluster.notifications.document import Document
from gdcluster.notifications.render import compose

DATA = Path(__file__).parent / "data"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
CONTACT = Contact(person="张三", phone="020-83133333", email="zxqyc@gdei.gov.cn",
                  department="中小企业服务处", address="广州市越秀区东风中路305号",
                  postcode="510031")
#: A reason of 10,000 characters, as a careless or thorough official might write one.
LONG_REASON = ("经核查，该集群申报材料中2021年至2023年产值、研发经费和有效发明专利数据与统计部门、"
               "知识产权部门数据不一致，部分企业名录重复计算，相关证明材料系事后补充制作。")
LONG_REASON = (LONG_REASON * (10_000 // len(LONG_REASON) + 1))[:10_000]
INDUSTRIES = ("灯饰照明", "智能家电", "五金模具", "纺织服装", "新一代电子信息", "铝型材",
              "生物医药", "建筑陶瓷", "家具制造", "箱包皮具", "食品加工", "精细化工")
#: Units whose names are long in the 县（市、区） column (a zone, a 街道).
LONG_UNITS = ("深汕特别合作区", "东莞松山湖高新区", "中山市石岐街道")

#: kind -> variant -> (world, what render_notice is asked for)
PRINT_CASES: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "publicity": {"1-cluster": ("short", {"round_year": 2024}),
                  "60-clusters": ("long", {"round_year": 2024})},
    "recognition": {"1-cluster": ("short", {"round_year": 2024}),
                    "60-clusters": ("long", {"round_year": 2024}),
                    "supplementary": ("supplement", {"round_year": 2024})},
    "renewal": {"1-cluster": ("long", {"case_id": "renewed"}),
                "58-clusters": ("long", {"round_year": 2024})},
    "revocation": {"short-reason": ("long", {"case_id": "revoked_short"}),
                   "10000-char-reason": ("long", {"case_id": "revoked_long"})},
    "revocation_proposal": {"10000-char-facts": ("long", {"case_id": "revoked_long"})},
    "maintained": {"10000-char-reason": ("long", {"case_id": "maintained"})},
    "reinstated": {"short-reason": ("long", {"case_id": "revoked_short"})},
    "return": {"short-reason": ("long", {"case_id": "returned_short"}),
               "10000-char-reason": ("long", {"case_id": "returned_long"})},
    "correction_reminder": {"reminder": ("long", {"case_id": "returned_short"})},
    "not_selected": {"not-recommended": ("long", {"case_id": "not_recommended"}),
                     "not-publicized": ("long", {"case_id": "not_publicized"})},
    "rejection": {"city-short-reason": ("long", {"case_id": "rejected_city"}),
                  "province-10000-char-reason": ("long", {"case_id": "rejected_province"})},
    "report_reminder": {"reminder": ("long", {"case_id": "reminded"})},
    "report_urge": {"urge": ("long", {"case_id": "urged"})},
    "expiry_reminder": {"reminder": ("long", {"case_id": "renewed"})},
    "review_notice": {"notice": ("long", {"case_id": "review_notice"})},
    "review_result": {"10000-char-reason": ("long", {"case_id": "review_failed"})},
}


@dataclass
class World:
    engine: Engine
    settings: Settings
    cases: dict[str, int] = field(default_factory=dict)

    def target(self, wanted: dict[str, Any]) -> dict[str, Any]:
        """render_notice's arguments, with case names replaced by their ids."""
        return {key: self.cases[value] if key == "case_id" else value
                for key, value in wanted.items()}


def _application() -> dict[str, Any]:
    path = DATA / "application-complete.json"
    return load_application_file(path.read_bytes(), path.name)


def _units(count: int) -> list[str]:
    from gdcluster.states.regions import COUNTY_LEVEL_KINDS, load_regions

    units: list[str] = []
    for city in load_regions():
        picked = [unit.name for unit in city.units if unit.kind in COUNTY_LEVEL_KINDS][:3]
        if len(picked) < 3:  # 东莞市, 中山市: 镇 and 街道
            picked = [unit.name for unit in city.units][:3]
        units += picked
    chosen = [*LONG_UNITS, *[unit for unit in units if unit not in LONG_UNITS]]
    return chosen[:count]


def _name(unit: str, index: int) -> str:
    industry = INDUSTRIES[index % len(INDUSTRIES)]
    if index % 7 == 3:  # some names long enough to wrap more than once
        return f"{unit}{industry}与智能制造装备协同创新产业集群"
    return f"{unit}{industry}产业集群"


def build_world(folder: Path, clusters: int, *, lifecycle: bool | None = None,
                site_visit: bool = False, supplementary: bool = False) -> World:
    """Round 2024 lived through with ``clusters`` clusters to their 名单通告 of 2024-07-10
    (valid 2024-07-10 to 2027-07-09, as the real 2024 batch), publicized 2024-06-20 to
    2024-06-28 (the 公示 issued the day before). With ``lifecycle`` (the default for more than
    one cluster) also 退回补正 of two more applications and their correction reminders, 不予认定
    by the city and by the province (a 10,000-character reason), 未入选 (not recommended, not
    publicized), reports, revocations (one short, one 10,000-character reason), reminders, 复核
    and renewals. With ``supplementary``, one more cluster is held by an objection and
    recognized later by a supplementary 通告. ``site_visit`` records a 现场考察 before the
    publicity. Time only moves forward."""
    lifecycle = clusters > 1 if lifecycle is None else lifecycle
    clock = FakeClock("2024-03-01T09:00")
    engine = Engine.init(f"sqlite:///{folder / 'print.db'}", simulation=True, clock=clock)
    settings = Settings(outbox=folder / "outbox", formats=("txt",), contact=CONTACT)
    attach(engine, settings)
    world = World(engine, settings)
    application = _application()
    engine.open_round(2024, PROVINCE, apply_by="2024-05-31", recommend_by="2024-06-30",
                      notice_title="广东省工业和信息化厅关于组织开展2024年度省级中小企业特色产业"
                                   "集群申报工作的通知", notice_doc_no="便函〔2024〕443号")
    extra = (2 if lifecycle else 0) + (1 if supplementary else 0)
    ids = []
    for index, unit in enumerate(_units(clusters + extra)):
        ids.append(engine.create_case(round_year=2024, name=_name(unit, index), county=unit,
                                      industry=INDUSTRIES[index % len(INDUSTRIES)],
                                      data=application, actor=f"county:{unit}"))
    for index, case_id in enumerate(ids):
        view = engine.get(case_id)
        engine.fire(case_id, "submit", f"county:{view.county}")
        engine.fire(case_id, "review", f"city:{view.city}")
        engine.fire(case_id, "recommend", f"city:{view.city}")
        for expert in range(3):  # the extra ones score lower: off the --top list
            engine.fire(case_id, "score", PROVINCE, expert=f"专家{expert + 1}",
                        scores=full_scores(minus=expert + (index >= clusters)))
        engine.fire(case_id, "expert_review", PROVINCE)
    if lifecycle:
        _before_publicity(engine, clock, world, application)
    if site_visit:
        clock.set("2024-06-10T10:00")
        engine.record_site_visit(2024, PROVINCE, day="2024-06-07",
                                 note="省专家组赴推荐集群开展现场考察")
    # publicized: the clusters, the one the province rejects after its publicity, the one held
    listed = (ids[:clusters] + (ids[clusters:clusters + 1] if lifecycle else [])
              + (ids[-1:] if supplementary else []))
    clock.set("2024-06-19T10:00")  # issued the day before the period starts
    engine.publicize_round(2024, PROVINCE, select_ids=listed, start="2024-06-20")
    if lifecycle:
        world.cases["not_publicized"] = ids[clusters + 1]
    if supplementary:  # the last one is held by an objection
        clock.set("2024-06-24T10:00")
        objection = engine.fire(ids[-1], "object", "public@刘某", name="刘某",
                                contact="13900000000", evidence="质疑产值口径").objections[0]["id"]
    if lifecycle:
        rejected = ids[clusters]
        clock.set("2024-07-01T10:00")
        engine.run_due()  # the publicity closes
        engine.fire(rejected, "reject", PROVINCE, reason=LONG_REASON)
        world.cases["rejected_province"] = rejected
    clock.set("2024-07-12T10:00")  # the 通告, signed on 10 July, entered two days later
    engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕95号",
                           doc_date="2024-07-10")
    if supplementary:
        clock.set("2024-07-15T10:00")
        engine.fire(ids[-1], "resolve", PROVINCE, objection=objection, when="dismiss",
                    reason="经核查，异议不成立")
        engine.run_due()
        clock.set("2024-07-22T10:00")
        engine.recognize_round(2024, PROVINCE, doc_no="粤工信服务函〔2024〕101号")
    if lifecycle:
        _after_recognition(engine, clock, world, ids[:clusters])
    return world


def _before_publicity(engine: Engine, clock: FakeClock, world: World,
                      application: dict[str, Any]) -> None:
    """Two 退回补正 (their correction reminders fire two working days before 2024-04-15), a
    city's 不予认定, and a case its city never recommends (closed 未入选 with the round)."""
    for key, reason, unit in (("returned_short", "2023年产值缺少统计部门证明材料", "佛山市三水区"),
                              ("returned_long", LONG_REASON, "中山市古镇镇"),
                              ("rejected_city", "中小企业产值占比为70%，未达到“高于70%”的条件",
                               "江门市蓬江区"),
                              ("not_recommended", "", "肇庆市端州区")):
        case_id = engine.create_case(round_year=2024, name=f"{unit}灯饰照明产业集群",
                                     county=unit, industry="灯饰照明", data=application,
                                     actor=f"county:{unit}")
        city = engine.get(case_id).city
        engine.fire(case_id, "submit", f"county:{unit}")
        if key.startswith("returned"):
            engine.fire(case_id, "return", f"city:{city}", reason=reason,
                        fields=["output.2023", "development_plan"], due="2024-04-15")
        elif key == "rejected_city":
            engine.fire(case_id, "reject", f"city:{city}", reason=reason)
        else:
            engine.fire(case_id, "review", f"city:{city}")
        world.cases[key] = case_id
    clock.set("2024-04-11T09:00")
    engine.run_due()


def _after_recognition(engine: Engine, clock: FakeClock, world: World, ids: list[int]) -> None:
    """Report reminders, two revocations, reports, expiry reminders, 复核 and renewals."""
    clock.set("2025-03-01T09:00")
    engine.run_due()  # the 30-day report reminders
    world.cases["reminded"] = ids[0]
    clock.set("2025-03-03T10:00")
    for key, case_id, reason in (("revoked_short", ids[1], "2023年产值数据与统计部门数据不符"),
                                 ("revoked_long", ids[2], LONG_REASON)):
        revoke_now(engine, case_id, "18.2", reason)
        world.cases[key] = case_id
    heard(engine, ids[3], "18.4", "主导产业由灯饰照明调整为智能家居，未及时报备")
    engine.fire(ids[3], "maintain", PROVINCE, reason=LONG_REASON)
    world.cases["maintained"] = ids[3]
    clock.set("2025-03-05T10:00")
    engine.fire(ids[1], "reinstate", PROVINCE, reason="行政复议决定撤销原撤销决定",
                reference="粤府行复〔2025〕12号")
    kept = [case_id for case_id in ids if case_id not in (ids[1], ids[2])]
    for year, when in ((2024, "2025-03-10T09:00"), (2025, "2026-02-02T09:00"),
                       (2026, "2027-02-01T09:00")):
        clock.set(when)
        for case_id in kept:
            if (year, case_id) == (2024, ids[4]):  # late: urged first (催报)
                continue
            engine.fire(case_id, "report", f"county:{engine.get(case_id).county}", year=year,
                        data={"output": "210.5"})
        if year == 2024:
            clock.set("2025-04-01T09:00")
            engine.run_due()
            world.cases["urged"] = ids[4]
            clock.set("2025-04-03T09:00")
            engine.fire(ids[4], "report", f"county:{engine.get(ids[4]).county}", year=2024,
                        data={"output": "210.5"})
    clock.set("2027-04-10T09:00")
    engine.run_due()  # the expiry reminders
    clock.set("2027-06-01T09:00")
    engine.open_round(2027, PROVINCE, kind="review", apply_by="2027-09-30",
                      check_by="2027-10-15")
    world.cases["review_notice"] = kept[0]
    for case_id in kept:
        view = engine.get(case_id)
        engine.fire(case_id, "apply_review", f"county:{view.county}",
                    data=review_data(engine.application(case_id), 2027))
        engine.fire(case_id, "review_check", f"city:{view.city}", passed=True,
                    opinion="经初审，符合复核条件")
    clock.set("2027-06-15T10:00")
    for case_id in kept:
        engine.fire(case_id, "renew", PROVINCE)
    world.cases["renewed"] = kept[-1]
    # the reinstated cluster's 复核 fails, with a 10,000-character reason (复核结果)
    failing = ids[1]
    view = engine.get(failing)
    engine.fire(failing, "apply_review", f"county:{view.county}",
                data=review_data(engine.application(failing), 2027))
    engine.fire(failing, "review_check", f"city:{view.city}", passed=False,
                opinion="发展规划目标多项未完成")
    ensure_calendar(engine, 2027)  # the 陈述申辩 deadline is counted in 2027's working days
    engine.fire(failing, "fail_review", PROVINCE, reason=LONG_REASON)
    world.cases["review_failed"] = failing


def document(world: World, kind: str, target: dict[str, Any]) -> Document:
    """The notice as the layouts see it (title, body, signature, attachments …)."""
    spec = NoticeSpec(kind, **target)
    with world.engine.store.read() as session:
        context = build_context(session, spec, world.settings)
    return compose(kind, context)


# ---------------------------------------------------------------------------- printing
def chromium_print(html_path: Path, pdf_path: Path) -> None:
    """Print ``html_path`` to ``pdf_path`` as a headless Chromium does (A4 from the CSS)."""
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with tempfile.TemporaryDirectory(prefix="gd-chromium-") as profile:
        done = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--print-to-pdf={pdf_path}", html_path.as_uri()],
            capture_output=True, timeout=180, check=False)
    if done.returncode != 0 or not pdf_path.exists():
        raise AssertionError(f"chromium could not print {html_path}: "
                             f"{done.stderr.decode(errors='replace')[-2000:]}")


@dataclass(frozen=True)
class Word:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(frozen=True)
class Page:
    number: int
    width: float
    height: float
    words: tuple[Word, ...]

    def lines(self) -> list[list[Word]]:
        """Words grouped into lines by their top edge, top to bottom, left to right."""
        lines: list[list[Word]] = []
        for word in sorted(self.words, key=lambda item: (item.y0, item.x0)):
            if lines and abs(lines[-1][0].y0 - word.y0) < 3:
                lines[-1].append(word)
            else:
                lines.append([word])
        return [sorted(line, key=lambda item: item.x0) for line in lines]

    def line_texts(self) -> list[str]:
        return ["".join(word.text for word in line) for line in self.lines()]

    @property
    def text(self) -> str:
        return "".join(self.line_texts())


_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                   r"(.*?)</word>", re.S)


def pdf_pages(pdf_path: Path) -> list[Page]:
    """The pages of a PDF with their words and boxes (poppler's pdftotext)."""
    tool = shutil.which("pdftotext")
    if tool is None:
        raise AssertionError("pdftotext is missing: apt-get install poppler-utils (.ci/run does)")
    done = subprocess.run([tool, "-bbox", str(pdf_path), "-"], capture_output=True, timeout=120,
                          check=True)
    pages = []
    for number, match in enumerate(_PAGE.finditer(done.stdout.decode("utf-8")), start=1):
        words = tuple(Word(float(x0), float(y0), float(x1), float(y1), html.unescape(text))
                      for x0, y0, x1, y1, text in _WORD.findall(match.group(3)))
        pages.append(Page(number, float(match.group(1)), float(match.group(2)), words))
    return pages


# ---------------------------------------------------------------------------- the checks
MM = 72 / 25.4
SHORT_CELL = 6  # characters: a cell this short is never split


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def page_problems(pages: list[Page], doc: Document) -> Iterator[str]:
    """Everything wrong with the printed ``doc`` (nothing, when it prints as it should)."""
    if not pages:
        yield "no page"
        return
    yield from _number_problems(pages, doc)
    yield from _signature_problems(pages, doc)
    yield from _table_problems(pages, doc)


def _number_problems(pages: list[Page], doc: Document) -> Iterator[str]:
    """Every page carries "— N —" under the text block, odd pages right and even left, and the
    act's audit chain anchor in the middle (issue 15 §13); nothing else is printed in the
    margins (no browser header or footer)."""
    anchor = _squeeze(doc.anchor or "")
    for page in pages:
        top, bottom = 37 * MM, page.height - 35 * MM  # the text block (glyph boxes differ
        margin = sorted((word for word in page.words  # between engines: their middles are
                         if not top < (word.y0 + word.y1) / 2 < bottom),  # compared)
                        key=lambda item: item.x0)
        number = "".join(word.text for word in margin)
        unnumbered = doc.letter and page.number == 1
        expected = "" if unnumbered else f"—{page.number}—"
        # read left to right: the anchor before an odd page's number, after an even page's
        if _squeeze(number) not in (expected + anchor, anchor + expected):
            yield f"page {page.number}: margins hold {number!r}, not {expected!r}"
            continue
        if unnumbered:
            continue
        margin = _without_anchor(margin, anchor)
        left = min(word.x0 for word in margin)
        right = max(word.x1 for word in margin)
        centre = page.width / 2
        if page.number % 2 and left < centre:
            yield f"page {page.number}: odd, but its number is not on the right"
        if not page.number % 2 and right > centre:
            yield f"page {page.number}: even, but its number is not on the left"


def _without_anchor(words: list[Any], anchor: str) -> list[Any]:
    """The page number's words: the margin's (left to right) without the anchor's, which
    read as its first words (odd pages) or its last (even pages)."""
    for cut in range(len(words) + 1):
        if _squeeze("".join(word.text for word in words[:cut])) == anchor:
            return words[cut:]
        if _squeeze("".join(word.text for word in words[len(words) - cut:])) == anchor:
            return words[:len(words) - cut]
    return words


def _signature_problems(pages: list[Page], doc: Document) -> Iterator[str]:
    """The signature stands over the date, once, on the page that holds the end of the body's
    last paragraph (and the attachment note); the attachment starts on a later page."""
    found = []
    for page in pages:
        texts = page.line_texts()
        for index in range(len(texts) - 1):
            if _squeeze(texts[index]) == doc.issuer and _squeeze(texts[index + 1]) == doc.date:
                found.append(page)
    if len(found) != 1:
        yield f"the signature over the date is found on {len(found)} pages, not 1"
        return
    page = found[0]
    text = _squeeze(page.text)
    tail = _squeeze(doc.body[-1].text)[-8:]
    if tail not in text:
        yield (f"page {page.number} has the signature but not the end of the body's last "
               f"paragraph ({tail!r})")
    for line in doc.attachment_note:
        if _squeeze(line) not in text:
            yield f"page {page.number} has the signature but not the attachment note {line!r}"
    for attachment in doc.attachments:
        title_page = next((later for later in pages if _squeeze(attachment.title)
                           in _squeeze(later.text) and later.number > page.number), None)
        if title_page is None:
            yield f"attachment {attachment.title!r} does not start after the signature page"
        elif _squeeze(title_page.line_texts()[0]) != attachment.label:
            yield (f"page {title_page.number}: the attachment does not start the page with "
                   f"{attachment.label!r}")


def _table_problems(pages: list[Page], doc: Document) -> Iterator[str]:
    """Every cell of at most SHORT_CELL characters is one word on one line: never split."""
    words = {word.text for page in pages for word in page.words}
    for attachment in doc.attachments:
        if attachment.table is None:
            continue
        rows: Iterable[tuple[str, ...]] = [attachment.table.headers, *attachment.table.rows]
        for row in rows:
            for cell in row:
                if len(cell) <= SHORT_CELL and cell not in words:
                    yield f"the cell {cell!r} is split (not one word on one line)"
