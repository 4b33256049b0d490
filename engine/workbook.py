"""The 申报表 workbook (.xlsx): its layout and the cell rules shared by the writer
(``workbook_writer``: a blank template for a round, an application written out in the same layout)
and the reader (``workbook_reader``: a filled one read back through the application's own
validation).

Layout (one sheet per part; a field sits on a fixed row, a list is a table that grows down)::

    填表说明            how to fill it in; never read
    基本信息            B3 申报年度, B4 集群名称, B5 所在县（市、区）, B6 主导产业
    指标数据            rows 3–6: 产值, 研发经费, 有效发明专利, CO₂ intensity by year (a column per
                        year from C, the 近三年 of the round by default; then 说明);
                        rows 9–17: one value each in column C (area, employees, three shares,
                        four 是/否 answers)
    企业名单            B2/B3 有/无 (national / provincial enterprises); table from row 6:
                        B 企业名称, C 国家级称号, D–F 是/否 for 专精特新, 创新型, 高新技术企业
    事故与违法失信      B2 有/无; table from row 5: B 年份, C 类别, D 等级, E 是否重大, F 情况说明
    管理机构与发展规划  B3 管理机构, B4 成立时间, B5 规划期, B6 规划内容; goals from row 9:
                        B 指标, C 单位, D/E 基期年份/值, F/G 目标年份/值, H 目标表述
    文字说明            from row 3: A 维度, B 内容, C 代码 (the rubric dimensions prefilled)

Reading (``read_application_workbook``) builds the mapping a JSON file would hold, remembering
the cell of every value, and validates it with ``validate_application``; any refusal names the
cell and the field, e.g. ``指标数据!E3 (output.2023): must not be negative, not -3``. The labels,
units and headers must be where the template put them, and a value typed anywhere else is
refused rather than ignored. A "有/无" cell says whether a list is declared empty (无) or left
to fill (blank), which JSON writes as ``[]`` and a missing key.

Cells are read as typed, never evaluated: a formula is refused (its cached value cannot be
trusted: another program, or a changed input, may have left it stale), as are error values,
and a date where a number is expected. A numeric cell holds an IEEE double: it is read as the
shortest decimal that reads back as that double (Python's ``repr``), which is exactly what was
typed whenever it had at most 15 significant digits, all Excel keeps. A double whose shortest
decimal has more digits (0.1+0.2 computed somewhere) is not a number a person typed and is
refused. A percentage-formatted cell is read as its value (78% is 0.78), which only a share
accepts; elsewhere it is refused, since the unit column decides what the number means. Text
cells may hold plain decimals (and shares "78%"), as in JSON.

Writing: every text is a string cell (``data_type`` 's'), never a formula, whatever it starts
with; one starting with = + - @, a tab or a carriage return (OWASP's formula triggers) also
gets Excel's quote prefix, so that editing the cell keeps it text. The value read back is the
text itself. A decimal is written as a number when its double reads back as the same decimal
within 15 significant digits, and as text otherwise, so what is read back is always exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.states.policy import Policy

__all__ = [
    "FORMULA_TRIGGERS",
    "SHEETS",
    "ApplicationFile",
    "CaseHeader",
    "excel_number",
    "put",
    "relocate",
    "significant_digits",
    "window",
]

GUIDE: Final = "填表说明"
BASIC: Final = "基本信息"
FIGURES: Final = "指标数据"
ENTERPRISES: Final = "企业名单"
INCIDENTS: Final = "事故与违法失信"
GOVERNANCE: Final = "管理机构与发展规划"
NARRATIVE: Final = "文字说明"
#: The sheets in their order; every one but 填表说明 is read.
SHEETS: Final = (GUIDE, BASIC, FIGURES, ENTERPRISES, INCIDENTS, GOVERNANCE, NARRATIVE)

#: Texts that spreadsheet programs may take for a formula (OWASP, CSV injection).
FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")

MAX_FILE_BYTES: Final = 10 * 1024 * 1024
MAX_UNPACKED_BYTES: Final = 100 * 1024 * 1024
MAX_ROWS: Final = 5000
MAX_COLUMNS: Final = 40
EXCEL_DIGITS: Final = 15
EXCEL_CELL_CHARACTERS: Final = 32767
#: Rows of each table the template prepares (validation and formats); more may be added.
TABLE_ROWS: Final = 200

YES, NO = "是", "否"
HAVE, NONE = "有", "无"
SHARE_FORMAT: Final = "0.0%"

CHAMPION_LABELS: Final = {"single_champion": "制造业单项冠军", "little_giant": "专精特新“小巨人”"}
QUALITY_LABELS: Final = {"specialized_new": "专精特新中小企业", "innovative": "创新型中小企业",
                         "high_tech": "高新技术企业"}

# --------------------------------------------------------------------------------------------
# The layout


@dataclass(frozen=True)
class Line:
    """One field on its own row: ``key`` in the application (or the case header), its label,
    unit and how its cell is read (``kind``), the policy items its note cites, a hint."""

    key: str
    label: str
    unit: str
    kind: str
    cites: tuple[str, ...] = ()
    hint: str = ""


HEADER_LINES: Final = (
    Line("round", "申报年度", "年", "year", (), "申报批次的年度；近三年为其前三个年度"),
    Line("name", "集群名称", "", "text", (), "如 佛山市顺德区智能家电产业集群"),
    Line("county", "所在县（市、区）", "", "text", (),
         "申报单位的县级行政区全称，如 佛山市南海区；东莞市、中山市填镇街，如 中山市古镇镇"),
    Line("industry", "主导产业", "", "text", (), "如 智能家电"),
)
BASIC_FIRST_ROW: Final = 3

SERIES_LINES: Final = (
    Line("output", "集群产值", "亿元", "amount", ("output", "output_growth"),
         "每年一格，填数字，如 152.3"),
    Line("sme_rd_expense", "中小企业研发经费", "亿元", "amount", ("rd_growth",),
         "集群内中小企业研发经费支出"),
    Line("invention_patents", "有效发明专利拥有量", "件", "count",
         ("patent_growth", "patents_per_10k"), "年末有效发明专利件数，整数"),
    Line("co2_intensity", "单位产值二氧化碳排放强度", "吨/万元", "amount", ("co2_intensity",),
         "逐年填报"),
)
SERIES_HEADER_ROW: Final = 2
SERIES_FIRST_ROW: Final = 3

SINGLE_LINES: Final = (
    Line("area_km2", "占地面积", "平方公里", "area", ("area",), "集群空间范围的面积"),
    Line("employees", "从业人员", "人", "count", ("patents_per_10k",), "最近一年末，整数"),
    Line("sme_output_share", "中小企业产值占比", "%", "share", ("sme_share",),
         "填百分数，如 78%（或小数 0.78）"),
    Line("leading_industry_share", "主导产业产值占比", "%", "share", ("leading_share",),
         "填百分数，如 83%"),
    Line("industrial_internet_rate", "工业互联网平台应用普及率", "%", "share",
         ("internet_rate",), "填百分数，如 21.5%"),
    Line("energy_intensive", "是否高耗能集群", "是/否", "bool", ("energy_water",),
         "从下拉列表选择"),
    Line("energy_efficiency_above_benchmark", "能效水平高于行业基准", "是/否", "bool",
         ("energy_water",), "高耗能集群必填"),
    Line("water_intensive", "是否高耗水集群", "是/否", "bool", ("energy_water",),
         "从下拉列表选择"),
    Line("water_efficiency_above_benchmark", "水效水平高于行业基准", "是/否", "bool",
         ("energy_water",), "高耗水集群必填"),
)
SINGLE_HEADER_ROW: Final = SERIES_FIRST_ROW + len(SERIES_LINES) + 1
SINGLE_FIRST_ROW: Final = SINGLE_HEADER_ROW + 1

ENTERPRISE_DECLARATIONS: Final = (
    Line("champion_enterprises", "有无国家级制造业单项冠军或专精特新“小巨人”企业", "有/无",
         "declaration", ("champions",), "有则在下表列出；无则选“无”"),
    Line("quality_smes", "有无省级专精特新中小企业、创新型中小企业或高新技术企业", "有/无",
         "declaration", ("quality_smes",), "有则在下表列出，每家企业一行；无则选“无”"),
)
ENTERPRISE_HEADER_ROW: Final = 5
ENTERPRISE_COLUMNS: Final = ("序号", "企业名称", "国家级称号", *QUALITY_LABELS.values())

INCIDENT_DECLARATION: Final = Line(
    "incidents", "近三年有无下列事故、事件或违法失信行为", "有/无", "declaration", ("incidents",),
    "有则在下表逐项列出（含已整改的）；无则选“无”")
INCIDENT_HEADER_ROW: Final = 4
INCIDENT_COLUMNS: Final = ("序号", "年份", "类别", "等级", "是否重大", "情况说明")

GOVERNANCE_LINES: Final = (
    Line("management_body.name", "集群运营管理机构", "", "text", ("governance",),
         "机构全称"),
    Line("management_body.established", "成立时间", "", "date_text", ("governance",),
         "日期或年份，如 2019-06-18"),
    Line("development_plan.period", "发展规划期", "", "text", ("governance",),
         "三年规划，始于申报年度或次年，如 2024–2026"),
    Line("development_plan.text", "规划主要内容", "", "free_text", ("governance",),
         "发展方向、重点任务"),
)
GOVERNANCE_FIRST_ROW: Final = 3
GOAL_HEADER_ROW: Final = GOVERNANCE_FIRST_ROW + len(GOVERNANCE_LINES) + 1
GOAL_COLUMNS: Final = ("序号", "指标", "单位", "基期年份", "基期值", "目标年份", "目标值",
                       "目标表述")

NARRATIVE_HEADER_ROW: Final = 2
NARRATIVE_COLUMNS: Final = ("维度", "内容", "代码")

#: The 复核申报表 is the 申报表 of the 复核 round's year plus this sheet: each plan goal's
#: result (``goal_results``), one row a goal, from row 3.
RESULTS: Final = "规划目标完成情况"
RESULT_HEADER_ROW: Final = 2
RESULT_COLUMNS: Final = ("序号", "指标", "实际值", "说明")


def window(round_year: int, policy: Policy) -> list[int]:
    """近三年: the years before the round year that the policy's criteria use."""
    return list(range(round_year - policy.window_years, round_year))


# --------------------------------------------------------------------------------------------
# What a file names besides the application


@dataclass(frozen=True)
class CaseHeader:
    """The case an application file names: round, cluster name, county-level unit, industry.
    Any may be missing (a JSON file for ``case create`` names none of them)."""

    round_year: int | None = None
    name: str | None = None
    county: str | None = None
    industry: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"round": self.round_year, "name": self.name, "county": self.county,
                "industry": self.industry}


@dataclass(frozen=True)
class ApplicationFile:
    """An application read from a file: the case it names, its data as ``validate_application``
    returns them, and where each field stood (``places``: field path → ``基本信息!B4`` or the
    file's own path), so that a later refusal (a county the region table does not know) names
    the same place."""

    source: str
    header: CaseHeader
    data: dict[str, Any]
    places: Mapping[str, str] = field(default_factory=dict)

    def locate(self, error: InvalidInput) -> InvalidInput:
        return relocate(error, self.places)


def relocate(error: InvalidInput, places: Mapping[str, str]) -> InvalidInput:
    """``error`` with its field written as its place, e.g. ``指标数据!E3 (output.2023)``.

    The nearest enclosing path that has a place is used (``incidents[0]`` for
    ``incidents[0].note``); an error on no known path is returned unchanged.
    """
    path = error.field
    if not path:
        return error
    problem = error.detail  # a Message keeps its template (shown translated)
    probe = path
    while probe:
        place = places.get(probe)
        if place is not None:
            shown = place if place == path else f"{place} ({path})"
            return InvalidInput(problem, field=shown)
        shorter = re.sub(r"(\.[^.\[\]]*|\[[0-9]+\])$", "", probe)
        if shorter == probe:
            break
        probe = shorter
    return error


# --------------------------------------------------------------------------------------------
# Writing cells


def excel_number(value: Decimal | int) -> int | float | None:
    """The number to store for ``value`` so that reading it back gives the same decimal, or
    ``None`` when no double does (more than 15 significant digits, or out of range)."""
    exact = Decimal(value) if isinstance(value, int) else value
    if not exact.is_finite() or significant_digits(exact) > EXCEL_DIGITS:
        return None
    if exact == exact.to_integral_value() and abs(exact) < 10**EXCEL_DIGITS:
        return int(exact)
    number = float(exact)
    return number if Decimal(repr(number)) == exact else None


def put(cell: Any, value: Any, number_format: str | None = None) -> None:
    """Write ``value`` into ``cell``: text always as a string cell (never a formula), decimals as
    numbers only where that is exact (else as text), dates as dates."""
    if value is None:
        return
    if isinstance(value, str):
        _put_text(cell, value)
        return
    if isinstance(value, bool):
        cell.value = value
    elif isinstance(value, Decimal | int):
        number = excel_number(value)
        if number is None:
            _put_text(cell, format(value, "f") if isinstance(value, Decimal) else str(value))
            return
        cell.value = number
    elif isinstance(value, float):
        cell.value = value
    elif isinstance(value, datetime | date):
        cell.value = value
        number_format = number_format or ("yyyy-mm-dd hh:mm" if isinstance(value, datetime)
                                          else "yyyy-mm-dd")
    else:
        raise TypeError(f"cannot write {type(value).__name__} into a cell")
    if number_format:
        cell.number_format = number_format


_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _put_text(cell: Any, text: str) -> None:
    if len(text) > EXCEL_CELL_CHARACTERS:
        raise InvalidInput(
            Message("a text of {length} characters is longer than an Excel cell holds "
                    "({limit}); export as JSON or YAML instead", length=len(text),
                    limit=EXCEL_CELL_CHARACTERS), field=cell.coordinate)
    # characters XML cannot carry (never accepted as input; only data stored before the
    # text rule could hold them) are shown as escapes rather than breaking the file
    text = _NOT_IN_XML.sub(lambda match: f"\\u{ord(match[0]):04x}", text)
    cell.value = text
    cell.data_type = "s"  # openpyxl makes "=…" a formula; here it stays the text it is
    if text.startswith(FORMULA_TRIGGERS):
        cell.quotePrefix = True


def significant_digits(number: Decimal) -> int:
    digits = number.normalize().as_tuple().digits
    return len(digits)
