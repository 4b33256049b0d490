"""The 申报表 workbook (.xlsx): a blank template for a round, an application written out in the
same layout, and a filled one read back through the application's own validation.

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

import io
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from gdcluster.engine.application import (
    QUALITY_KINDS,
    YEAR_SERIES,
    validate_application,
)
from gdcluster.engine.errors import InvalidInput
from gdcluster.states.policy import INCIDENT_GRADES, INCIDENT_KINDS, INCIDENT_LABELS, Policy

__all__ = [
    "FORMULA_TRIGGERS",
    "SHEETS",
    "ApplicationFile",
    "BookWriter",
    "CaseHeader",
    "application_workbook",
    "excel_number",
    "is_workbook",
    "put",
    "read_application_workbook",
    "relocate",
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
    problem = error.message.removeprefix(f"{path}: ")
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
    if not exact.is_finite() or _significant_digits(exact) > EXCEL_DIGITS:
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
            f"a text of {len(text)} characters is longer than an Excel cell holds "
            f"({EXCEL_CELL_CHARACTERS}); export as JSON or YAML instead", field=cell.coordinate)
    # characters XML cannot carry (never accepted as input; only data stored before the
    # text rule could hold them) are shown as escapes rather than breaking the file
    text = _NOT_IN_XML.sub(lambda match: f"\\u{ord(match[0]):04x}", text)
    cell.value = text
    cell.data_type = "s"  # openpyxl makes "=…" a formula; here it stays the text it is
    if text.startswith(FORMULA_TRIGGERS):
        cell.quotePrefix = True


def _significant_digits(number: Decimal) -> int:
    digits = number.normalize().as_tuple().digits
    return len(digits)


# --------------------------------------------------------------------------------------------
# Writing the 申报表


def application_workbook(data: Mapping[str, Any], *, round_year: int, policy: Policy,
                         header: CaseHeader | None = None) -> bytes:
    """The 申报表 for ``round_year``: blank when ``data`` is empty (the template), else the
    application (as ``validate_application`` or ``read_stored_application`` give it) in the
    cells the reader reads, so that it can be edited and read back."""
    header = header or CaseHeader(round_year=round_year)
    writer = _Writer(policy, round_year)
    writer.guide()
    writer.basic(header)
    writer.figures(data)
    writer.enterprises(data)
    writer.incidents(data)
    writer.governance(data)
    writer.narrative(data)
    return writer.save()


def _bool_text(value: Any) -> str | None:
    return None if value is None else (YES if value else NO)


def _declared(items: Any) -> str | None:
    return None if items is None else (HAVE if items else NONE)


class BookWriter:
    """A new workbook written sheet by sheet: named sheets with column widths, a bold title in
    A1, header rows, rows of values (each through ``put``)."""

    def __init__(self) -> None:
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font, PatternFill

        self.book = Workbook()
        self._fresh = True  # the sheet openpyxl starts with is still unnamed
        self.title_font = Font(bold=True, size=14)
        self.bold = Font(bold=True)
        self.header_fill = PatternFill("solid", fgColor="DDEBF7")
        self.input_fill = PatternFill("solid", fgColor="FFF9E5")
        self.wrap = Alignment(wrap_text=True, vertical="top")

    def sheet(self, name: str, widths: Sequence[int]) -> Any:
        from openpyxl.utils import get_column_letter

        if self._fresh:
            sheet = self.book.active
            sheet.title = name
            self._fresh = False
        else:
            sheet = self.book.create_sheet(name)
        for index, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        return sheet

    def title(self, sheet: Any, text: str) -> None:
        put(sheet.cell(row=1, column=1), text)
        sheet.cell(row=1, column=1).font = self.title_font

    def header(self, sheet: Any, row: int, texts: Sequence[str],
               comments: Mapping[int, str] | None = None) -> None:
        from openpyxl.comments import Comment

        for column, text in enumerate(texts, start=1):
            cell = sheet.cell(row=row, column=column)
            put(cell, text)
            cell.font = self.bold
            cell.fill = self.header_fill
            if comments and column in comments:
                cell.comment = Comment(comments[column], "gdcluster", width=320, height=160)

    def row(self, sheet: Any, row: int, values: Sequence[Any]) -> None:
        for column, value in enumerate(values, start=1):
            put(sheet.cell(row=row, column=column), value)

    def save(self) -> bytes:
        output = io.BytesIO()
        self.book.save(output)
        return output.getvalue()


class _Writer(BookWriter):
    def __init__(self, policy: Policy, round_year: int) -> None:
        super().__init__()
        self.policy = policy
        self.round_year = round_year
        self.window = window(round_year, policy)

    # -- helpers ------------------------------------------------------------------------------

    def note(self, *cites: str, hint: str = "") -> str:
        """The note of a field: the articles and words of the policy items it serves."""
        parts = []
        for item_id in cites:
            item = self._item(item_id)
            if item is None:
                continue
            words = f"“{item.text}”" if item.text else (item.summary or "")
            parts.append(f"{item.article}：{words}")
        if hint:
            parts.append(hint)
        return "；".join(parts)

    def _item(self, item_id: str) -> Any:
        for item in (*self.policy.thresholds, *self.policy.conditions):
            if item.id == item_id:
                return item
        return None

    def validate(self, sheet: Any, kind: str, cells: str, **options: Any) -> None:
        from openpyxl.worksheet.datavalidation import DataValidation

        rules: dict[str, dict[str, Any]] = {
            "bool": {"type": "list", "formula1": f'"{YES},{NO}"'},
            "declaration": {"type": "list", "formula1": f'"{HAVE},{NONE}"'},
            "amount": {"type": "decimal", "operator": "greaterThanOrEqual", "formula1": "0"},
            "area": {"type": "decimal", "operator": "greaterThan", "formula1": "0"},
            "count": {"type": "whole", "operator": "greaterThanOrEqual", "formula1": "0"},
            "share": {"type": "decimal", "operator": "between", "formula1": "0",
                      "formula2": "1"},
            "year": {"type": "whole", "operator": "between", "formula1": "1990",
                     "formula2": "2100"},
            "number": {"type": "decimal", "operator": "between", "formula1": "-1E+15",
                       "formula2": "1E+15"},
        }
        rule = {**rules[kind], **options} if kind in rules else dict(options)
        errors = {"bool": "请选择“是”或“否”", "declaration": "请选择“有”或“无”",
                  "amount": "请填不小于0的数字", "area": "请填大于0的数字",
                  "count": "请填不小于0的整数", "share": "请填0%到100%之间的百分数",
                  "year": "请填四位年份", "number": "请填数字"}
        validation = DataValidation(allow_blank=True, showErrorMessage=True,
                                    error=errors.get(kind, "请从下拉列表选择"),
                                    errorTitle="输入有误", **rule)
        validation.add(cells)
        sheet.add_data_validation(validation)

    def line(self, sheet: Any, row: int, line: Line, value: Any, *, value_column: int,
             notes_column: int, unit_column: int | None = None) -> None:
        from openpyxl.utils import get_column_letter

        put(sheet.cell(row=row, column=1), line.label)
        if unit_column is not None:
            put(sheet.cell(row=row, column=unit_column), line.unit)
        cell = sheet.cell(row=row, column=value_column)
        cell.fill = self.input_fill
        self.value(cell, line.kind, value)
        notes = sheet.cell(row=row, column=notes_column)
        put(notes, self.note(*line.cites, hint=line.hint))
        notes.alignment = self.wrap
        if line.kind in ("bool", "declaration", "amount", "area", "count", "share", "year"):
            self.validate(sheet, line.kind, f"{get_column_letter(value_column)}{row}")

    def value(self, cell: Any, kind: str, value: Any) -> None:
        if kind == "share":
            cell.number_format = SHARE_FORMAT
        if kind in ("free_text",):
            cell.alignment = self.wrap
        if value is None:
            return
        if kind == "bool":
            put(cell, _bool_text(value))
        elif kind == "declaration":
            put(cell, _declared(value))
        elif kind == "share":
            put(cell, value, SHARE_FORMAT)
        else:
            put(cell, value)

    # -- sheets -------------------------------------------------------------------------------

    def guide(self) -> None:
        sheet = self.sheet(GUIDE, [110])
        first, last = self.window[0], self.window[-1]
        policy = self.policy
        lines = [
            f"广东省中小企业特色产业集群申报表（{self.round_year}年度）",
            f"依据：{policy.citation}第十三条（认定条件），"
            f"政策版本 {policy.name} 第{policy.version}版。",
            f"近三年：{first}—{last}年（申报年度{self.round_year}年的前三个年度）。产值、增速和"
            "二氧化碳排放强度只按这三年计算；其他年度可以填写，但不参与计算。",
            "",
            "各工作表：",
            f"  {BASIC}：申报年度、集群名称、所在县（市、区）、主导产业。",
            f"  {FIGURES}：分年度指标（每年一列）和单项指标；单位见“单位”列。",
            f"  {ENTERPRISES}：优质企业名单（第十三条第（三）项），每家企业一行。",
            f"  {INCIDENTS}：近三年事故、事件和违法失信情况（第十三条第（一）项），每项一行。",
            f"  {GOVERNANCE}：运营管理机构和三年发展规划及其可量化目标（第十三条第（九）项）。",
            f"  {NARRATIVE}：供专家评审的文字说明，每个维度一格。",
            "",
            "填写规则：",
            "  1. 金额以亿元计，面积以平方公里计；填数字，不要带单位。",
            "  2. 比例填百分数（如 78%）或小数（如 0.78）。",
            "  3. “是/否”“有/无”、类别和等级从下拉列表选择。",
            "  4. 不要使用公式：含公式的单元格不予读取（其缓存结果无法核实），请直接填写数值。",
            "  5. 不要移动、插入或删除行列，不要修改工作表名称、标签和单位；"
            "名单类表格可以向下续行。",
            "  6. 每个字段的说明见该行“说明”列或表头批注，引用《暂行办法》第十三条相应条款。",
            "",
            "提交：gdcluster case create --data 本文件.xlsx，或把多个文件放在一个文件夹后运行 "
            "gdcluster case import 文件夹。任何一格有误时整份申报不予保存，并指出工作表和单元格。",
        ]
        for row, text in enumerate(lines, start=1):
            put(sheet.cell(row=row, column=1), text)
        sheet.cell(row=1, column=1).font = self.title_font

    def basic(self, header: CaseHeader) -> None:
        sheet = self.sheet(BASIC, [22, 46, 70])
        self.title(sheet, f"广东省中小企业特色产业集群申报表（{self.round_year}年度）")
        self.header(sheet, 2, ("项目", "填写内容", "说明"))
        values = {"round": header.round_year, "name": header.name, "county": header.county,
                  "industry": header.industry}
        for offset, line in enumerate(HEADER_LINES):
            hint = line.hint
            if line.key == "round":
                hint = (f"{hint}（{self.round_year}年度：{self.window[0]}—{self.window[-1]}年）"
                        "；改动后请按新年度重新生成模板")
            self.line(sheet, BASIC_FIRST_ROW + offset, Line(line.key, line.label, "", line.kind,
                                                            (), hint),
                      values[line.key], value_column=2, notes_column=3)
        sheet.freeze_panes = "A3"

    def figures(self, data: Mapping[str, Any]) -> None:
        years = sorted(set(self.window).union(
            *(data.get(key, {}).keys() for key in YEAR_SERIES)))
        notes_column = 3 + len(years)
        sheet = self.sheet(FIGURES, [28, 10, *([14] * len(years)), 70])
        self.title(sheet, f"指标数据（近三年：{self.window[0]}—{self.window[-1]}年）")
        self.header(sheet, SERIES_HEADER_ROW,
                    ("指标", "单位", *(f"{year}年" for year in years), "说明"))
        from openpyxl.utils import get_column_letter

        for offset, line in enumerate(SERIES_LINES):
            row = SERIES_FIRST_ROW + offset
            put(sheet.cell(row=row, column=1), line.label)
            put(sheet.cell(row=row, column=2), line.unit)
            series = data.get(line.key, {})
            for index, year in enumerate(years):
                cell = sheet.cell(row=row, column=3 + index)
                cell.fill = self.input_fill
                put(cell, series.get(year))
            notes = sheet.cell(row=row, column=notes_column)
            put(notes, self.note(*line.cites, hint=line.hint))
            notes.alignment = self.wrap
            self.validate(sheet, line.kind, f"C{row}:{get_column_letter(notes_column - 1)}{row}")
        self.header(sheet, SINGLE_HEADER_ROW, ("指标", "单位", "数值"))
        put(sheet.cell(row=SINGLE_HEADER_ROW, column=notes_column), "说明")
        sheet.cell(row=SINGLE_HEADER_ROW, column=notes_column).font = self.bold
        sheet.cell(row=SINGLE_HEADER_ROW, column=notes_column).fill = self.header_fill
        for offset, line in enumerate(SINGLE_LINES):
            self.line(sheet, SINGLE_FIRST_ROW + offset, line, data.get(line.key),
                      value_column=3, notes_column=notes_column, unit_column=2)
        sheet.freeze_panes = "C3"

    def declaration(self, sheet: Any, row: int, line: Line, value: Any) -> None:
        self.line(sheet, row, line, value, value_column=2, notes_column=3)

    def table_rows(self, count: int) -> int:
        return max(TABLE_ROWS, count + 50)

    def enterprises(self, data: Mapping[str, Any]) -> None:
        sheet = self.sheet(ENTERPRISES, [48, 20, 56, 18, 18, 18])
        self.title(sheet, "优质企业名单（第十三条第（三）项）")
        champions = data.get("champion_enterprises")
        quality = data.get("quality_smes")
        self.declaration(sheet, 2, ENTERPRISE_DECLARATIONS[0], champions)
        self.declaration(sheet, 3, ENTERPRISE_DECLARATIONS[1], quality)
        self.header(sheet, ENTERPRISE_HEADER_ROW, ENTERPRISE_COLUMNS, {
            2: "企业全称，每家企业一行（同时具有多项称号的企业写在同一行即可）",
            3: self.note("champions",
                         hint="国家级制造业单项冠军或专精特新“小巨人”企业，从下拉列表选择"),
            4: self.note("quality_smes", hint="省级专精特新中小企业选“是”"),
            5: "省级创新型中小企业选“是”",
            6: "高新技术企业选“是”",
        })
        rows: list[tuple[Any, ...]] = []
        rows.extend((entry.get("name"), CHAMPION_LABELS.get(entry.get("kind"), entry.get("kind")),
                     None, None, None) for entry in champions or [])
        for entry in quality or []:
            kinds = entry.get("kinds") or []
            rows.append((entry.get("name"), None,
                         *(YES if kind in kinds else None for kind in QUALITY_KINDS)))
        first = ENTERPRISE_HEADER_ROW + 1
        for index, values in enumerate(rows):
            put(sheet.cell(row=first + index, column=1), index + 1)
            for column, value in enumerate(values, start=2):
                put(sheet.cell(row=first + index, column=column), value)
        last = first + self.table_rows(len(rows)) - 1
        self.validate(sheet, "list", f"C{first}:C{last}",
                      type="list", formula1='"' + ",".join(CHAMPION_LABELS.values()) + '"')
        self.validate(sheet, "bool", f"D{first}:F{last}")
        sheet.freeze_panes = f"A{first}"

    def incidents(self, data: Mapping[str, Any]) -> None:
        sheet = self.sheet(INCIDENTS, [48, 10, 18, 12, 12, 70])
        since = self.window[0]
        self.title(sheet, f"近三年事故、事件与违法失信情况（{since}年以来；第十三条第（一）项）")
        incidents = data.get("incidents")
        self.declaration(sheet, 2, INCIDENT_DECLARATION, incidents)
        self.header(sheet, INCIDENT_HEADER_ROW, INCIDENT_COLUMNS, {
            2: f"发生年份（{since}年以来）",
            3: self.note("incidents", hint="从下拉列表选择类别"),
            4: "安全、质量、环境污染事故和网络安全、数据安全事件填等级：一般/较大/重大/特别重大；"
               "其他类别不填",
            5: "违法违规行为、其它重大问题填“是”或“否”：较大数额罚款、责令停产停业、"
               "吊销许可等为“是”，轻微行政处罚为“否”；其他类别不填",
            6: "简要说明事实和处理、整改情况",
        })
        first = INCIDENT_HEADER_ROW + 1
        for index, entry in enumerate(incidents or []):
            row = first + index
            kind = entry.get("kind")
            put(sheet.cell(row=row, column=1), index + 1)
            put(sheet.cell(row=row, column=2), entry.get("year"))
            put(sheet.cell(row=row, column=3), INCIDENT_LABELS.get(kind, kind))
            put(sheet.cell(row=row, column=4), entry.get("grade"))
            put(sheet.cell(row=row, column=5), _bool_text(entry.get("major")))
            put(sheet.cell(row=row, column=6), entry.get("description"))
            sheet.cell(row=row, column=6).alignment = self.wrap
        last = first + self.table_rows(len(incidents or [])) - 1
        self.validate(sheet, "year", f"B{first}:B{last}")
        self.validate(sheet, "list", f"C{first}:C{last}", type="list",
                      formula1='"' + ",".join(INCIDENT_LABELS[kind] for kind in INCIDENT_KINDS)
                      + '"')
        self.validate(sheet, "list", f"D{first}:D{last}", type="list",
                      formula1='"' + ",".join(INCIDENT_GRADES) + '"')
        self.validate(sheet, "bool", f"E{first}:E{last}")
        sheet.freeze_panes = f"A{first}"

    def governance(self, data: Mapping[str, Any]) -> None:
        sheet = self.sheet(GOVERNANCE, [22, 30, 10, 10, 12, 10, 12, 48])
        self.title(sheet, "集群运营管理机构与发展规划（第十三条第（九）项）")
        self.header(sheet, 2, ("项目", "填写内容", "说明"))
        body = data.get("management_body") or {}
        plan = data.get("development_plan") or {}
        values = {"management_body.name": body.get("name"),
                  "management_body.established": body.get("established"),
                  "development_plan.period": plan.get("period"),
                  "development_plan.text": plan.get("text")}
        for offset, line in enumerate(GOVERNANCE_LINES):
            self.line(sheet, GOVERNANCE_FIRST_ROW + offset, line, values[line.key],
                      value_column=2, notes_column=3)
        self.header(sheet, GOAL_HEADER_ROW, GOAL_COLUMNS, {
            2: self.note("governance", hint="规划的发展目标，每项一行；可量化目标须填指标、单位、"
                                            "基期和目标"),
            3: "如 亿元、家、%、吨/万元",
            4: "基期年份，通常为申报年度的上一年",
            5: "基期数值（按“单位”列）",
            6: "目标年份，通常为规划期最后一年",
            7: "目标数值（按“单位”列；百分比填数字，如 30 表示30%）",
            8: "目标的文字表述（可选）",
        })
        first = GOAL_HEADER_ROW + 1
        goals = plan.get("goals") or []
        for index, goal in enumerate(goals):
            row = first + index
            baseline = goal.get("baseline") or {}
            target = goal.get("target") or {}
            values_in_row = (index + 1, goal.get("indicator"), goal.get("unit"),
                             baseline.get("year"), baseline.get("value"), target.get("year"),
                             target.get("value"), goal.get("text"))
            for column, value in enumerate(values_in_row, start=1):
                put(sheet.cell(row=row, column=column), value)
        last = first + self.table_rows(len(goals)) - 1
        self.validate(sheet, "year", f"D{first}:D{last}")
        self.validate(sheet, "year", f"F{first}:F{last}")
        self.validate(sheet, "number", f"E{first}:E{last}")
        self.validate(sheet, "number", f"G{first}:G{last}")
        sheet.freeze_panes = "A3"

    def narrative(self, data: Mapping[str, Any]) -> None:
        sheet = self.sheet(NARRATIVE, [24, 90, 20])
        self.title(sheet, "文字说明（供专家评审）")
        self.header(sheet, NARRATIVE_HEADER_ROW, NARRATIVE_COLUMNS, {
            1: "评审维度；可以增加其他维度（代码留空）",
            2: "围绕该维度简要说明集群情况；单元格内可以换行",
            3: "系统使用的代码，请勿修改",
        })
        texts = dict(data.get("narrative") or {})
        rows: list[tuple[str, str | None, str | None]] = []
        for indicator in self.policy.rubric.indicators:
            rows.append((indicator.name, texts.pop(indicator.id, None), indicator.id))
        rows.extend((key, text, None) for key, text in texts.items())
        first = NARRATIVE_HEADER_ROW + 1
        for index, (label, text, code) in enumerate(rows):
            row = first + index
            put(sheet.cell(row=row, column=1), label)
            cell = sheet.cell(row=row, column=2)
            cell.alignment = self.wrap
            cell.fill = self.input_fill
            put(cell, text)
            put(sheet.cell(row=row, column=3), code)
        sheet.freeze_panes = f"A{first}"


# --------------------------------------------------------------------------------------------
# Reading the 申报表


def is_workbook(content: bytes, filename: str) -> bool:
    """An .xlsx by its name, or (standard input) by its zip signature."""
    return filename.lower().endswith(".xlsx") or content.startswith(b"PK\x03\x04")


def read_application_workbook(content: bytes, filename: str) -> ApplicationFile:
    """The application in a filled 申报表, validated like a JSON file; ``InvalidInput`` names
    the sheet and cell (``指标数据!C5 (output.2023): …``) of the first thing wrong."""
    book = _open(content, filename)
    try:
        reader = _Reader(book, filename)
        header = reader.basic()
        reader.figures()
        reader.enterprises()
        reader.incidents()
        reader.governance()
        reader.narrative()
    finally:
        book.close()
    try:
        data = validate_application(reader.raw)
    except InvalidInput as error:
        raise relocate(error, reader.places) from None
    return ApplicationFile(source=filename, header=header, data=data, places=reader.places)


def _open(content: bytes, filename: str) -> Any:
    from openpyxl import load_workbook

    if len(content) > MAX_FILE_BYTES:
        raise InvalidInput(f"the file has {len(content)} bytes; the limit is {MAX_FILE_BYTES} "
                           "(10 MB)", field=filename)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InvalidInput("not an .xlsx workbook (Excel 2007 or later); an .xls or .et file "
                           "must first be saved as .xlsx", field=filename) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise InvalidInput(f"the workbook unpacks to {unpacked} bytes; the limit is "
                           f"{MAX_UNPACKED_BYTES}", field=filename)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about parts it drops (extensions, external links): not our data
            warnings.simplefilter("ignore")
            return load_workbook(io.BytesIO(content), read_only=True, data_only=False,
                                 keep_links=False, rich_text=False)
    except Exception as error:  # openpyxl raises many kinds on a damaged or foreign file
        raise InvalidInput(f"cannot be read as an .xlsx workbook ({type(error).__name__}: "
                           f"{' '.join(str(error).split())[:200]})", field=filename) from None


_BLANK: Final = object()


class _Sheet:
    """The non-empty cells of one sheet, by (row, column), and which of them were read."""

    def __init__(self, book: Any, name: str) -> None:
        from openpyxl.utils import get_column_letter

        if name not in book.sheetnames:
            raise InvalidInput(f"the workbook has no sheet {name!r}; is it a 申报表 made by "
                               "`gdcluster template application`?", field=name)
        worksheet = book[name]
        self.name = name
        self.cells: dict[tuple[int, int], Any] = {}
        self.used: set[tuple[int, int]] = set()
        self.table: tuple[int, int] | None = None  # (first row, last column) of its list
        claimed = worksheet.max_column
        if isinstance(claimed, int) and claimed > MAX_COLUMNS:
            raise InvalidInput(
                f"cells are used up to column {get_column_letter(claimed)}; the form has at "
                f"most {MAX_COLUMNS} columns: clear what lies to the right of it", field=name)
        worksheet.reset_dimensions()  # the stated size may be wrong: read what is there
        for row in worksheet.iter_rows(max_col=MAX_COLUMNS):
            for cell in row:
                if _is_blank(cell.value):
                    continue
                if cell.row > MAX_ROWS:
                    raise InvalidInput(f"the form has at most {MAX_ROWS} rows; clear what lies "
                                       "below it", field=self.where(cell.row, cell.column))
                self.cells[(cell.row, cell.column)] = cell

    def where(self, row: int, column: int) -> str:
        from openpyxl.utils import get_column_letter

        return f"{self.name}!{get_column_letter(column)}{row}"

    def get(self, row: int, column: int) -> Any:
        self.used.add((row, column))
        return self.cells.get((row, column))

    def text(self, row: int, column: int) -> str:
        cell = self.get(row, column)
        if cell is None:
            return ""
        return str(cell.value).strip()

    def expect(self, row: int, column: int, label: str, what: str) -> None:
        """The template's own text must still stand here: the rows and columns are in place."""
        found = self.text(row, column)
        if found != label:
            raise InvalidInput(
                f"expected the {what} {label!r} here, found {found or 'nothing'}; rows, columns "
                "and labels of the form must stay where `gdcluster template application` put "
                "them", field=self.where(row, column))

    def last_row(self) -> int:
        return max((row for row, _ in self.cells), default=0)

    def check_nothing_else(self) -> None:
        """A value outside the form would be silently dropped: refuse it instead."""
        for (row, column), _cell in sorted(self.cells.items()):
            if (row, column) in self.used:
                continue
            if self.table is not None and row >= self.table[0] and column <= self.table[1]:
                continue
            raise InvalidInput("this cell is not part of the form, so its value would be "
                               "ignored: clear it, or move it to its field",
                               field=self.where(row, column))


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _Reader:
    """Builds the raw application (the mapping a JSON file would hold) and ``places``."""

    def __init__(self, book: Any, filename: str) -> None:
        self.book = book
        self.filename = filename
        self.raw: dict[str, Any] = {}
        self.places: dict[str, str] = {}

    # -- cells --------------------------------------------------------------------------------

    def value(self, sheet: _Sheet, row: int, column: int, kind: str, path: str,
              choices: Mapping[str, Any] | None = None) -> Any:
        """The cell's value as the schema reads it, or ``_BLANK``; the cell is recorded as the
        place of ``path``."""
        where = sheet.where(row, column)
        self.places[path] = where
        cell = sheet.get(row, column)
        if cell is None:
            return _BLANK
        try:
            return _convert(cell, kind, choices)
        except _Refused as refusal:
            raise InvalidInput(refusal.problem, field=f"{where} ({path})") from None

    # -- sheets -------------------------------------------------------------------------------

    def basic(self) -> CaseHeader:
        sheet = _Sheet(self.book, BASIC)
        _expect_header(sheet, 2, ("项目", "填写内容"))
        values: dict[str, Any] = {}
        for offset, line in enumerate(HEADER_LINES):
            row = BASIC_FIRST_ROW + offset
            sheet.expect(row, 1, line.label, "row")
            value = self.value(sheet, row, 2, line.kind, line.key)
            sheet.used.add((row, 3))
            if value is _BLANK:
                continue
            if line.kind == "year":
                value = _round_year(value, f"{sheet.where(row, 2)} ({line.key})")
            values[line.key] = value
        sheet.used.update({(1, 1), (2, 3)})
        sheet.check_nothing_else()
        return CaseHeader(round_year=values.get("round"), name=values.get("name"),
                          county=values.get("county"), industry=values.get("industry"))

    def figures(self) -> None:
        sheet = _Sheet(self.book, FIGURES)
        sheet.used.add((1, 1))
        _expect_header(sheet, SERIES_HEADER_ROW, ("指标", "单位"))
        years: list[tuple[int, int]] = []  # (column, year)
        column = 3
        while column <= MAX_COLUMNS:
            text = sheet.text(SERIES_HEADER_ROW, column)
            if text == "说明":
                break
            where = sheet.where(SERIES_HEADER_ROW, column)
            year = _header_year(text, where)
            if year in {known for _, known in years}:
                raise InvalidInput(f"the year {year} heads two columns", field=where)
            years.append((column, year))
            column += 1
        else:
            raise InvalidInput("no column headed 说明 after the year columns",
                               field=sheet.where(SERIES_HEADER_ROW, 3))
        notes_column = column
        for offset, line in enumerate(SERIES_LINES):
            row = SERIES_FIRST_ROW + offset
            sheet.expect(row, 1, line.label, "row")
            sheet.expect(row, 2, line.unit, "unit (values are read in this unit)")
            sheet.used.add((row, notes_column))
            self.places[line.key] = sheet.where(row, 1)
            series: dict[int, Any] = {}
            for column, year in years:
                value = self.value(sheet, row, column, line.kind, f"{line.key}.{year}")
                if value is not _BLANK:
                    series[year] = value
            if series:
                self.raw[line.key] = series
        _expect_header(sheet, SINGLE_HEADER_ROW, ("指标", "单位", "数值"))
        sheet.used.add((SINGLE_HEADER_ROW, notes_column))
        for offset, line in enumerate(SINGLE_LINES):
            row = SINGLE_FIRST_ROW + offset
            sheet.expect(row, 1, line.label, "row")
            sheet.expect(row, 2, line.unit, "unit (values are read in this unit)")
            sheet.used.add((row, notes_column))
            value = self.value(sheet, row, 3, line.kind, line.key)
            if value is not _BLANK:
                self.raw[line.key] = value
        sheet.check_nothing_else()

    def declaration(self, sheet: _Sheet, row: int, line: Line) -> tuple[Any, str]:
        sheet.expect(row, 1, line.label, "row")
        sheet.used.add((row, 3))
        value = self.value(sheet, row, 2, "declaration", line.key)
        return value, sheet.where(row, 2)

    def enterprises(self) -> None:
        sheet = _Sheet(self.book, ENTERPRISES)
        sheet.used.add((1, 1))
        declared = [self.declaration(sheet, 2 + index, line)
                    for index, line in enumerate(ENTERPRISE_DECLARATIONS)]
        champions: list[dict[str, Any]] = []
        quality: list[dict[str, Any]] = []
        for row in _table_rows(sheet, ENTERPRISE_HEADER_ROW, ENTERPRISE_COLUMNS):
            champion_path = f"champion_enterprises[{len(champions)}]"
            quality_path = f"quality_smes[{len(quality)}]"
            name = self.value(sheet, row, 2, "text", f"{champion_path}.name")
            self.places[f"{quality_path}.name"] = sheet.where(row, 2)
            kind = self.value(sheet, row, 3, "choice", f"{champion_path}.kind",
                              _choices(CHAMPION_LABELS))
            kinds: list[str] = []
            for offset, quality_kind in enumerate(QUALITY_KINDS):
                answer = self.value(sheet, row, 4 + offset, "bool",
                                    f"{quality_path}.kinds[{len(kinds)}]")
                if answer is True:
                    kinds.append(quality_kind)
            self.places[f"{quality_path}.kinds"] = sheet.where(row, 4)
            if kind is _BLANK and not kinds:
                raise InvalidInput(
                    "give the enterprise's title: a 国家级称号, or 是 under at least one of "
                    + "、".join(QUALITY_LABELS.values()), field=sheet.where(row, 3))
            entry_name = None if name is _BLANK else name
            if kind is not _BLANK:
                self.places[champion_path] = sheet.where(row, 2)
                champions.append({"name": entry_name, "kind": kind})
            if kinds:
                self.places[quality_path] = sheet.where(row, 2)
                quality.append({"name": entry_name, "kinds": kinds})
        for (declaration, where), key, entries in zip(
                declared, ("champion_enterprises", "quality_smes"), (champions, quality),
                strict=True):
            self._declared_list(key, declaration, where, entries)
        sheet.check_nothing_else()

    def _declared_list(self, key: str, declaration: Any, where: str,
                       entries: list[dict[str, Any]]) -> None:
        """有: the list as given (at least one entry); 无: none may be listed; blank: the list
        as given, or not answered yet when it is empty."""
        if declaration is False and entries:
            raise InvalidInput(f"answered 无, but {len(entries)} are listed below; answer 有 "
                               "or clear the list", field=f"{where} ({key})")
        if declaration is True and not entries:
            raise InvalidInput("answered 有, but none is listed below", field=f"{where} ({key})")
        if entries or declaration is False:
            self.raw[key] = entries

    def incidents(self) -> None:
        sheet = _Sheet(self.book, INCIDENTS)
        sheet.used.add((1, 1))
        declaration, where = self.declaration(sheet, 2, INCIDENT_DECLARATION)
        entries: list[dict[str, Any]] = []
        kinds = {**_choices(INCIDENT_LABELS), **{kind: kind for kind in INCIDENT_KINDS}}
        grades = {grade: grade for grade in INCIDENT_GRADES}
        for row in _table_rows(sheet, INCIDENT_HEADER_ROW, INCIDENT_COLUMNS):
            path = f"incidents[{len(entries)}]"
            self.places[path] = sheet.where(row, 3)
            entry: dict[str, Any] = {}
            for column, key, kind, choices in (
                    (2, "year", "year", None), (3, "kind", "choice", kinds),
                    (4, "grade", "choice", grades), (5, "major", "bool", None),
                    (6, "description", "free_text", None)):
                value = self.value(sheet, row, column, kind, f"{path}.{key}", choices)
                if value is not _BLANK:
                    entry[key] = value
            entries.append(entry)
        self._declared_list("incidents", declaration, where, entries)
        sheet.check_nothing_else()

    def governance(self) -> None:
        sheet = _Sheet(self.book, GOVERNANCE)
        sheet.used.add((1, 1))
        _expect_header(sheet, 2, ("项目", "填写内容"))
        sheet.used.add((2, 3))
        parts: dict[str, dict[str, Any]] = {"management_body": {}, "development_plan": {}}
        for offset, line in enumerate(GOVERNANCE_LINES):
            row = GOVERNANCE_FIRST_ROW + offset
            sheet.expect(row, 1, line.label, "row")
            sheet.used.add((row, 3))
            value = self.value(sheet, row, 2, line.kind, line.key)
            part, _, key = line.key.partition(".")
            self.places.setdefault(part, sheet.where(row, 2))
            if value is not _BLANK:
                parts[part][key] = value
        goals: list[dict[str, Any]] = []
        for row in _table_rows(sheet, GOAL_HEADER_ROW, GOAL_COLUMNS):
            path = f"development_plan.goals[{len(goals)}]"
            self.places[path] = sheet.where(row, 2)
            goal: dict[str, Any] = {}
            for column, key, kind in ((2, "indicator", "text"), (3, "unit", "text"),
                                      (8, "text", "free_text")):
                value = self.value(sheet, row, column, kind, f"{path}.{key}")
                if value is not _BLANK:
                    goal[key] = value
            for column, key in ((4, "baseline"), (6, "target")):
                self.places[f"{path}.{key}"] = sheet.where(row, column)
                point = {}
                year = self.value(sheet, row, column, "year", f"{path}.{key}.year")
                number = self.value(sheet, row, column + 1, "number", f"{path}.{key}.value")
                if year is not _BLANK:
                    point["year"] = year
                if number is not _BLANK:
                    point["value"] = number
                if point:
                    goal[key] = point
            goals.append(goal)
        if goals:
            parts["development_plan"]["goals"] = goals
        for part, values in parts.items():
            if values:
                self.raw[part] = values
        sheet.check_nothing_else()

    def narrative(self) -> None:
        sheet = _Sheet(self.book, NARRATIVE)
        sheet.used.add((1, 1))
        _expect_header(sheet, NARRATIVE_HEADER_ROW, NARRATIVE_COLUMNS)
        first = NARRATIVE_HEADER_ROW + 1
        sheet.table = (first, len(NARRATIVE_COLUMNS))
        texts: dict[str, Any] = {}
        rows_of: dict[str, int] = {}
        for row in range(first, sheet.last_row() + 1):
            code = sheet.text(row, 3)
            label = sheet.text(row, 1)
            key = code or label
            path = f"narrative.{key}"
            text = self.value(sheet, row, 2, "free_text", path)
            if text is _BLANK:
                continue
            if not key:
                raise InvalidInput("name the dimension this text is about",
                                   field=sheet.where(row, 1))
            if key in rows_of:
                raise InvalidInput(f"the dimension {key!r} is already given in row "
                                   f"{rows_of[key]}", field=sheet.where(row, 3 if code else 1))
            rows_of[key] = row
            texts[key] = text
        self.places["narrative"] = sheet.where(NARRATIVE_HEADER_ROW, 2)
        if texts:
            self.raw["narrative"] = texts
        sheet.check_nothing_else()


def _table_rows(sheet: _Sheet, header_row: int, columns: Sequence[str]) -> Iterator[int]:
    """The rows of the list under ``header_row`` that hold anything in their data columns;
    the list's area may hold values down to the end of the sheet."""
    _expect_header(sheet, header_row, columns)
    first = header_row + 1
    sheet.table = (first, len(columns))
    for row in range(first, sheet.last_row() + 1):
        if not _row_blank(sheet, row, 2, len(columns)):
            yield row


def _expect_header(sheet: _Sheet, row: int, labels: Sequence[str]) -> None:
    for column, label in enumerate(labels, start=1):
        sheet.expect(row, column, label, "column")


def _row_blank(sheet: _Sheet, row: int, first: int, last: int) -> bool:
    """A table row with nothing in its data columns (the 序号 in column A does not count)."""
    if any((row, column) in sheet.cells for column in range(first, last + 1)):
        return False
    sheet.used.add((row, 1))
    return True


def _choices(labels: Mapping[str, str]) -> dict[str, str]:
    """Label → code, codes accepted too."""
    return {**{label: code for code, label in labels.items()}, **{code: code for code in labels}}


def _header_year(text: str, where: str) -> int:
    match = re.fullmatch(r"([0-9]{4})\s*年?", text)
    if match is None:
        raise InvalidInput(f"expected a year such as 2023年 heading this column, or 说明 after "
                           f"the last year, found {text or 'nothing'}", field=where)
    return int(match[1])


def _round_year(value: Any, where: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 2000 <= value <= 2100:
        return value
    raise InvalidInput(f"expected the year of the round, such as 2024, not {value!r}",
                       field=where)


class _Refused(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _convert(cell: Any, kind: str, choices: Mapping[str, Any] | None) -> Any:
    """One cell's value for the schema: numbers exact, 是/否 as booleans, labels as codes."""
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    value = cell.value
    if cell.data_type == "f" or isinstance(value, ArrayFormula | DataTableFormula):
        raise _Refused(f"holds a formula ({str(getattr(value, 'text', value))[:60]}); its "
                       "cached result cannot be trusted, so type the value itself")
    if cell.data_type == "e":
        raise _Refused(f"holds the error value {value}; type the value itself")
    if isinstance(value, datetime | date | time):
        if kind == "date_text" and isinstance(value, date):
            if not isinstance(value, datetime):
                return value
            if value.time() == time():
                return value.date()
        raise _Refused("holds a date or time (the cell is formatted as a date); expected "
                       + _EXPECTED.get(kind, "a value") + ": format the cell as a number or "
                       "text and type it again")
    if isinstance(value, str):
        return _text_value(value, kind, choices)
    if isinstance(value, bool):
        if kind == "bool":
            return value
        raise _Refused(f"holds {'TRUE' if value else 'FALSE'}; expected "
                       + _EXPECTED.get(kind, "a value"))
    if isinstance(value, int | float):
        number = _exact(value)
        if "%" in (cell.number_format or "") and kind != "share":
            raise _Refused(
                f"is formatted as a percentage ({number * 100}%), but this field is not a share: "
                "write the number in the unit of its row (30 for 30%) in a cell formatted as a "
                "number")
        if kind == "year" and number == number.to_integral_value():
            return int(number)
        if kind in ("bool", "choice", "declaration", "text", "free_text"):
            raise _Refused(f"holds the number {number}; expected " + _EXPECTED[kind]
                           + ("" if kind not in ("text", "free_text") else
                              " (format the cell as text, or type ' before the digits)"))
        return number if isinstance(value, float) else value
    raise _Refused(f"holds a value of an unknown type ({type(value).__name__})")


_EXPECTED: Final = {"bool": "是 or 否", "declaration": "有 or 无", "choice": "one of the list's "
                    "entries", "amount": "a number", "area": "a number", "count": "a whole "
                    "number", "share": "a share such as 78%", "year": "a year such as 2023",
                    "number": "a number", "text": "text", "free_text": "text",
                    "date_text": "a date such as 2019-06-18"}


def _text_value(value: str, kind: str, choices: Mapping[str, Any] | None) -> Any:
    if kind in ("bool", "declaration"):
        answers = {YES: True, NO: False} if kind == "bool" else {HAVE: True, NONE: False}
        answer = answers.get(value.strip())
        if answer is None:
            raise _Refused(f"{value.strip()!r}: write {' or '.join(answers)}")
        return answer
    if kind == "choice":
        assert choices is not None
        code = choices.get(value.strip())
        if code is None:
            listed = "、".join(key for key in choices if not key.isascii())
            raise _Refused(f"{value.strip()!r} is not in the list: {listed}")
        return code
    if kind == "year":
        return value.strip().removesuffix("年").strip()
    if kind in ("text", "date_text"):
        return value.strip()
    if kind == "free_text":
        return value
    return value.strip()  # a number written as text: the schema reads plain decimals


def _exact(value: int | float) -> Decimal:
    """A numeric cell as the decimal that was typed (see the module docstring)."""
    if isinstance(value, int):
        return Decimal(value)
    text = repr(value)
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - repr of a float is always a Decimal
        raise _Refused(f"holds {text}, not a number") from None
    if not number.is_finite():
        raise _Refused(f"holds {text}, not a finite number")
    if _significant_digits(number) > EXCEL_DIGITS:
        raise _Refused(
            f"holds {text}, which has more than {EXCEL_DIGITS} significant digits: not a value "
            "typed in Excel (a computed or pasted result); type the value as shown, or as text")
    return number
