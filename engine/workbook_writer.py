"""Writing the 申报表 (layout: ``gdcluster.engine.workbook``): a blank template for a round, or an
application in the cells the reader reads, so that it can be edited and read back. Every text is a
string cell, never a formula (``workbook.put``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from gdcluster.engine.application import (
    QUALITY_KINDS,
    YEAR_SERIES,
)
from gdcluster.engine.workbook import (
    BASIC,
    BASIC_FIRST_ROW,
    CHAMPION_LABELS,
    ENTERPRISE_COLUMNS,
    ENTERPRISE_DECLARATIONS,
    ENTERPRISE_HEADER_ROW,
    ENTERPRISES,
    FIGURES,
    GOAL_COLUMNS,
    GOAL_HEADER_ROW,
    GOVERNANCE,
    GOVERNANCE_FIRST_ROW,
    GOVERNANCE_LINES,
    GUIDE,
    HAVE,
    HEADER_LINES,
    INCIDENT_COLUMNS,
    INCIDENT_DECLARATION,
    INCIDENT_HEADER_ROW,
    INCIDENTS,
    NARRATIVE,
    NARRATIVE_COLUMNS,
    NARRATIVE_HEADER_ROW,
    NO,
    NONE,
    RESULT_COLUMNS,
    RESULT_HEADER_ROW,
    RESULTS,
    SERIES_FIRST_ROW,
    SERIES_HEADER_ROW,
    SERIES_LINES,
    SHARE_FORMAT,
    SINGLE_FIRST_ROW,
    SINGLE_HEADER_ROW,
    SINGLE_LINES,
    TABLE_ROWS,
    YES,
    CaseHeader,
    Line,
    put,
    window,
)
from gdcluster.states.policy import (
    INCIDENT_GRADES,
    INCIDENT_KINDS,
    INCIDENT_LABELS,
    Condition,
    Policy,
    Threshold,
)

__all__ = [
    "BookWriter",
    "application_workbook",
    "review_workbook",
]

# --------------------------------------------------------------------------------------------
# Writing the 申报表


def application_workbook(data: Mapping[str, Any], *, round_year: int, policy: Policy,
                         header: CaseHeader | None = None) -> bytes:
    """The 申报表 for ``round_year``: blank when ``data`` is empty (the template), else the
    application (as ``validate_application`` or ``read_stored_application`` give it) in the
    cells the reader reads, so that it can be edited and read back."""
    return _application_sheets(data, round_year, policy, header).save()


def review_workbook(data: Mapping[str, Any], *, review_year: int, policy: Policy,
                    header: CaseHeader | None = None, goals: Sequence[str] = ()) -> bytes:
    """The 复核申报表 for the 复核 round of ``review_year``: the 申报表 of that year (its
    近三年 are the 复核's) with ``data`` written in, and the sheet 规划目标完成情况 listing the
    plan goals' indicators (``goals``: the case's, when known) for their results."""
    writer = _application_sheets(data, review_year, policy, header)
    writer.goal_results(goals)
    return writer.save()


def _application_sheets(data: Mapping[str, Any], year: int, policy: Policy,
                        header: CaseHeader | None) -> _Writer:
    """A writer holding the 申报表's sheets for ``year`` with ``data`` written in."""
    writer = _Writer(policy, year)
    writer.guide()
    writer.basic(header or CaseHeader(round_year=year))
    writer.figures(data)
    writer.enterprises(data)
    writer.incidents(data)
    writer.governance(data)
    writer.narrative(data)
    return writer


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

    def _item(self, item_id: str) -> Threshold | Condition | None:
        items: tuple[Threshold | Condition, ...] = (*self.policy.thresholds,
                                                    *self.policy.conditions)
        for item in items:
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

    def goal_results(self, goals: Sequence[str]) -> None:
        sheet = self.sheet(RESULTS, (6, 36, 14, 40))
        self.title(sheet, f"规划目标完成情况（{self.round_year}年复核：每项发展规划目标的实际值，"
                          f"第十六条）")
        self.header(sheet, RESULT_HEADER_ROW, RESULT_COLUMNS,
                    {2: "发展规划中的指标名称，与规划一致（每个目标一行）",
                     3: "该指标的实际完成值，单位与规划相同",
                     4: "数据来源或说明（如：统计快报、认定名单）"})
        for index, indicator in enumerate(goals, start=1):
            self.row(sheet, RESULT_HEADER_ROW + index, [index, indicator])
        for row in range(RESULT_HEADER_ROW + 1, RESULT_HEADER_ROW + max(len(goals), 8) + 1):
            for column in (2, 3, 4):
                sheet.cell(row=row, column=column).fill = self.input_fill

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
