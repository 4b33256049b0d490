"""The 申报表 workbook: the template's layout, a filled template read back to the same data as
the equivalent JSON, every refusal named by sheet!cell, exact numbers, and text that is never
written as a formula. Real .xlsx files, written and read with openpyxl; no database."""

from __future__ import annotations

import copy
import io
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from gdcluster.engine.application import load_application_file, validate_application
from gdcluster.engine.application_files import application_document, read_application_file
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.workbook import SHEETS, CaseHeader, excel_number
from gdcluster.engine.workbook_reader import read_application_workbook
from gdcluster.engine.workbook_writer import application_workbook
from gdcluster.states.policy import load_policy

DATA = Path(__file__).parent / "data"
POLICY = load_policy("guangdong-2023")


def complete() -> dict[str, Any]:
    path = DATA / "application-complete.json"
    return validate_application(load_application_file(path.read_bytes(), path.name))


def canonical(application: dict[str, Any]) -> dict[str, Any]:
    """The application with each enterprise's kinds in the workbook's column order (专精特新,
    创新型, 高新技术): the one thing a workbook cannot keep is the order they were listed in."""
    result = copy.deepcopy(application)
    order = ["specialized_new", "innovative", "high_tech"]
    for entry in result.get("quality_smes", []):
        entry["kinds"] = sorted(entry["kinds"], key=order.index)
    return result


def template(round_year: int = 2024) -> Any:
    """The blank 申报表, opened for filling in as a person would."""
    content = application_workbook({}, round_year=round_year, policy=POLICY)
    return load_workbook(io.BytesIO(content))


def saved(book: Any) -> bytes:
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def fill(book: Any, cells: dict[str, Any]) -> Any:
    """Type ``cells`` ({"指标数据!C3": 152.3}) into ``book``."""
    for address, value in cells.items():
        sheet, _, cell = address.partition("!")
        book[sheet][cell] = value
    return book


def refusal(content: bytes) -> str:
    with pytest.raises(InvalidInput) as caught:
        read_application_workbook(content, "申报表.xlsx")
    return caught.value.message


# --------------------------------------------------------------------------------------------
# The template


def test_template_has_a_sheet_per_part_the_window_as_columns_units_and_notes() -> None:
    """Round 2025's template: the sheets in order, 2022–2024 as year columns, units beside each
    indicator, and every field's note citing its article of 第十三条."""
    book = template(2025)
    assert book.sheetnames == list(SHEETS)
    basic = book["基本信息"]
    assert [basic[f"A{row}"].value for row in range(3, 7)] == [
        "申报年度", "集群名称", "所在县（市、区）", "主导产业"]
    assert basic["B3"].value == 2025
    figures = book["指标数据"]
    assert [figures.cell(row=2, column=column).value for column in range(1, 7)] == [
        "指标", "单位", "2022年", "2023年", "2024年", "说明"]
    assert [(figures[f"A{row}"].value, figures[f"B{row}"].value) for row in range(3, 7)] == [
        ("集群产值", "亿元"), ("中小企业研发经费", "亿元"), ("有效发明专利拥有量", "件"),
        ("单位产值二氧化碳排放强度", "吨/万元")]
    assert (figures["A9"].value, figures["B9"].value) == ("占地面积", "平方公里")
    assert (figures["A11"].value, figures["B11"].value) == ("中小企业产值占比", "%")
    assert figures["C11"].number_format == "0.0%"
    assert "第十三条第（二）项" in figures["F3"].value and "40亿元" in figures["F3"].value
    assert "100平方公里" in figures["F9"].value
    for row in (*range(3, 7), *range(9, 18)):
        assert "第十三条" in figures[f"F{row}"].value, row
    incidents = book["事故与违法失信"]
    assert "第十三条第（一）项" in incidents["C2"].value
    assert "第十三条第（一）项" in incidents["C4"].comment.text
    assert "第十三条第（三）项" in book["企业名单"]["C5"].comment.text
    assert "第十三条第（九）项" in book["管理机构与发展规划"]["C5"].value
    assert [book["文字说明"][f"C{row}"].value for row in range(3, 9)] == [
        item.id for item in POLICY.rubric.indicators]


def _validations(sheet: Any) -> dict[str, Any]:
    return {str(rule.sqref): rule for rule in sheet.data_validations.dataValidation}


def test_template_validates_input_with_lists_and_ranges() -> None:
    """Drop-down lists for 是/否, 有/无, incident kinds and grades, enterprise titles; amounts
    ≥ 0, counts whole, shares between 0 and 1, years as four digits."""
    book = template()
    figures = _validations(book["指标数据"])
    assert figures["C3:E3"].type == "decimal" and figures["C3:E3"].operator == \
        "greaterThanOrEqual" and figures["C3:E3"].formula1 == "0"
    assert figures["C5:E5"].type == "whole"
    assert (figures["C11"].type, figures["C11"].formula1, figures["C11"].formula2) == (
        "decimal", "0", "1")
    assert figures["C14"].type == "list" and figures["C14"].formula1 == '"是,否"'
    enterprises = _validations(book["企业名单"])
    assert enterprises["B2"].formula1 == '"有,无"'
    assert enterprises["C6:C205"].formula1 == '"制造业单项冠军,专精特新“小巨人”"'
    assert enterprises["D6:F205"].formula1 == '"是,否"'
    incidents = _validations(book["事故与违法失信"])
    assert incidents["C5:C204"].formula1 == (
        '"安全事故,质量事故,环境污染事故,网络安全事件,数据安全事件,偷税漏税,违法违规行为,'
        '严重失信行为,其它重大问题"')
    assert incidents["D5:D204"].formula1 == '"一般,较大,重大,特别重大"'
    assert incidents["B5:B204"].type == "whole"


def test_blank_template_reads_as_an_empty_draft() -> None:
    """Nothing filled in: no field, and the header names only the round."""
    file = read_application_workbook(saved(template()), "申报表.xlsx")
    assert file.data == {}
    assert file.header == CaseHeader(round_year=2024)


#: What a county types into round 2024's template, cell by cell, as Excel stores it: numbers
#: as numbers, 78% as 0.78 in a percentage cell, labels from the drop-down lists.
TYPED: dict[str, Any] = {
    "基本信息!B4": "佛山市南海区铝型材产业集群", "基本信息!B5": "南海区", "基本信息!B6": "铝型材",
    "指标数据!C3": 152.3, "指标数据!D3": "171.8", "指标数据!E3": 196.4,
    "指标数据!C4": 4.12, "指标数据!D4": 4.68, "指标数据!E4": 5.35,
    "指标数据!C5": 1020, "指标数据!D5": 1195, "指标数据!E5": 1400,
    "指标数据!C6": 0.412, "指标数据!D6": 0.395, "指标数据!E6": "0.371",
    "指标数据!C9": 47.8, "指标数据!C10": 86000, "指标数据!C11": 0.78, "指标数据!C12": "83%",
    "指标数据!C13": 0.215, "指标数据!C14": "否", "指标数据!C16": "是", "指标数据!C17": "是",
    "企业名单!B2": "有", "企业名单!B3": "有",
    "企业名单!B6": "佛山示例星澜科技股份有限公司", "企业名单!C6": "专精特新“小巨人”",
    "企业名单!A7": 2, "企业名单!B7": "佛山示例明辉铝业有限公司", "企业名单!D7": "是",
    "企业名单!F7": "是",
    "企业名单!B8": "佛山示例华彩型材有限公司", "企业名单!C8": "制造业单项冠军",
    "企业名单!E8": "是",
    "事故与违法失信!B2": "有",
    "事故与违法失信!B5": 2022, "事故与违法失信!C5": "安全事故", "事故与违法失信!D5": "一般",
    "事故与违法失信!F5": "仓库一般火灾事故，无人员伤亡，\n已整改",
    "事故与违法失信!B6": "2023年", "事故与违法失信!C6": "违法违规行为",
    "事故与违法失信!E6": "否",
    "管理机构与发展规划!B3": "南海铝型材产业集群发展促进中心",
    "管理机构与发展规划!B4": datetime(2019, 6, 18),
    "管理机构与发展规划!B5": "2024-2026", "管理机构与发展规划!B6": "建设数字化供应链平台。",
    "管理机构与发展规划!B9": "集群产值", "管理机构与发展规划!C9": "亿元",
    "管理机构与发展规划!D9": 2023, "管理机构与发展规划!E9": 196.4,
    "管理机构与发展规划!F9": 2026, "管理机构与发展规划!G9": 260,
    "管理机构与发展规划!H9": "集群产值2026年突破260亿元",
    "管理机构与发展规划!B10": "单位产值二氧化碳排放", "管理机构与发展规划!C10": "吨/万元",
    "管理机构与发展规划!D10": 2023, "管理机构与发展规划!E10": 0.371,
    "管理机构与发展规划!F10": 2026, "管理机构与发展规划!G10": "0.338",
    "文字说明!B3": "铝型材是南海区的支柱产业。", "文字说明!B5": "推广工业互联网平台。",
    "文字说明!A9": "人才培养", "文字说明!B9": "与职业院校共建实训基地。",
}

#: The same application as a JSON file would hold it.
EQUIVALENT_JSON = """{
  "area_km2": "47.8",
  "output": {"2021": "152.3", "2022": "171.8", "2023": "196.4"},
  "sme_output_share": "78%", "leading_industry_share": "0.83",
  "industrial_internet_rate": "21.5%",
  "champion_enterprises": [
    {"name": "佛山示例星澜科技股份有限公司", "kind": "little_giant"},
    {"name": "佛山示例华彩型材有限公司", "kind": "single_champion"}],
  "quality_smes": [
    {"name": "佛山示例明辉铝业有限公司", "kinds": ["specialized_new", "high_tech"]},
    {"name": "佛山示例华彩型材有限公司", "kinds": ["innovative"]}],
  "sme_rd_expense": {"2021": "4.12", "2022": "4.68", "2023": "5.35"},
  "invention_patents": {"2021": 1020, "2022": 1195, "2023": 1400},
  "employees": 86000,
  "co2_intensity": {"2021": "0.412", "2022": "0.395", "2023": "0.371"},
  "energy_intensive": false, "water_intensive": true, "water_efficiency_above_benchmark": true,
  "incidents": [
    {"year": 2022, "kind": "safety", "grade": "一般",
     "description": "仓库一般火灾事故，无人员伤亡，\\n已整改"},
    {"year": 2023, "kind": "illegal", "major": false}],
  "management_body": {"name": "南海铝型材产业集群发展促进中心", "established": "2019-06-18"},
  "development_plan": {
    "period": "2024–2026",
    "goals": [
      {"indicator": "集群产值", "unit": "亿元", "baseline": {"year": 2023, "value": "196.4"},
       "target": {"year": 2026, "value": "260"}, "text": "集群产值2026年突破260亿元"},
      {"indicator": "单位产值二氧化碳排放", "unit": "吨/万元",
       "baseline": {"year": 2023, "value": "0.371"}, "target": {"year": 2026, "value": "0.338"}}],
    "text": "建设数字化供应链平台。"},
  "narrative": {"leading_industry": "铝型材是南海区的支柱产业。",
                "digital": "推广工业互联网平台。", "人才培养": "与职业院校共建实训基地。"}
}"""


def test_a_filled_template_reads_back_as_the_equivalent_json() -> None:
    """Typed into the template and saved, the workbook gives exactly the data the equivalent
    JSON file gives, and the header names the case."""
    book = template()
    fill(book, TYPED)
    book["指标数据"]["C12"].number_format = "@"  # "83%" typed into a text cell
    file = read_application_workbook(saved(book), "申报表.xlsx")
    expected = validate_application(load_application_file(EQUIVALENT_JSON.encode(), "a.json"))
    assert file.data == expected
    assert file.header == CaseHeader(round_year=2024, name="佛山市南海区铝型材产业集群",
                                     county="南海区", industry="铝型材")
    assert file.data["sme_output_share"] == Decimal("0.78")
    assert file.data["output"][2021] == Decimal("152.3")


@pytest.mark.parametrize("source", ["complete", "typed"])
def test_an_application_written_out_reads_back_to_the_same_data(source: str) -> None:
    """Written in the template's layout (the export of `case export --format xlsx`) and read
    back: the same data, each enterprise's kinds in column order."""
    if source == "complete":
        application = complete()
    else:
        application = validate_application(load_application_file(EQUIVALENT_JSON.encode(),
                                                                  "a.json"))
    header = CaseHeader(2024, "中山市古镇镇灯饰照明产业集群", "中山市古镇镇", "灯饰照明")
    content = application_document(header, application, "xlsx", POLICY)
    file = read_application_file(content, "export.xlsx")
    assert file.data == canonical(application)
    assert file.header == header


def test_years_outside_the_window_get_their_own_columns() -> None:
    """An application with 2020 as well exports four year columns, and reads back with it."""
    application = complete()
    application["output"] = {2020: Decimal("140"), **application["output"]}
    content = application_workbook(application, round_year=2024, policy=POLICY)
    book = load_workbook(io.BytesIO(content))
    assert [book["指标数据"].cell(row=2, column=column).value for column in range(3, 8)] == [
        "2020年", "2021年", "2022年", "2023年", "说明"]
    assert read_application_workbook(content, "x.xlsx").data["output"][2020] == Decimal("140")


@pytest.mark.parametrize(("declared", "expected"), [
    ("无", {"champion_enterprises": [], "incidents": []}),
    (None, {}),
], ids=["none-declared", "not-answered"])
def test_an_empty_list_is_declared_with_none(declared: str | None,
                                             expected: dict[str, Any]) -> None:
    """无 declares the list empty (JSON's []); left blank, the list is not answered yet."""
    book = template()
    if declared:
        fill(book, {"企业名单!B2": declared, "事故与违法失信!B2": declared})
    assert read_application_workbook(saved(book), "x.xlsx").data == expected


# --------------------------------------------------------------------------------------------
# Refusals, each named by sheet!cell and field


def _with_formula(book: Any) -> None:
    book["指标数据"]["D3"] = "=C3*1.1"


def _with_date(book: Any) -> None:
    book["指标数据"]["C9"] = date(2024, 1, 2)


def _with_percent_amount(book: Any) -> None:
    book["指标数据"]["C3"] = 0.3
    book["指标数据"]["C3"].number_format = "0%"


def _with_error_value(book: Any) -> None:
    book["指标数据"]["C10"] = "#DIV/0!"
    book["指标数据"]["C10"].data_type = "e"


BAD_CELLS = [
    ("negative", {"指标数据!E3": -3}, "指标数据!E3 (output.2023): must not be negative"),
    ("formula", _with_formula, "指标数据!D3 (output.2022): holds a formula (=C3*1.1)"),
    ("date-for-number", _with_date, "指标数据!C9 (area_km2): holds a date or time"),
    ("percent-format-not-share", _with_percent_amount,
     "指标数据!C3 (output.2021): is formatted as a percentage"),
    ("error-value", _with_error_value, "指标数据!C10 (employees): holds the error value #DIV/0!"),
    ("bare-78-as-share", {"指标数据!C11": 78},
     "指标数据!C11 (sme_output_share): a share must lie between 0 and 1"),
    ("text-not-a-number", {"指标数据!C4": "约4亿"},
     "指标数据!C4 (sme_rd_expense.2021): '约4亿' is not a number"),
    ("fractional-count", {"指标数据!C5": 10.5},
     "指标数据!C5 (invention_patents.2021): expected a whole number"),
    ("yes-no", {"指标数据!C14": "也许"}, "指标数据!C14 (energy_intensive): '也许': write 是 or 否"),
    ("unknown-title", {"企业名单!B6": "某企业", "企业名单!C6": "国家级"},
     "企业名单!C6 (champion_enterprises[0].kind): '国家级' is not in the list"),
    ("enterprise-without-title", {"企业名单!B6": "某企业"},
     "企业名单!C6: give the enterprise's title"),
    ("enterprise-without-name", {"企业名单!D6": "是"},
     "企业名单!B6 (quality_smes[0].name): missing"),
    ("none-declared-but-listed", {"企业名单!B3": "无", "企业名单!B6": "某企业",
                                  "企业名单!E6": "是"},
     "企业名单!B3 (quality_smes): answered 无, but 1 are listed below"),
    ("have-declared-none-listed", {"事故与违法失信!B2": "有"},
     "事故与违法失信!B2 (incidents): answered 有, but none is listed below"),
    ("grade-missing", {"事故与违法失信!B5": 2023, "事故与违法失信!C5": "安全事故"},
     "事故与违法失信!D5 (incidents[0].grade): a safety incident needs its grade"),
    ("major-on-graded", {"事故与违法失信!B5": 2023, "事故与违法失信!C5": "质量事故",
                         "事故与违法失信!D5": "一般", "事故与违法失信!E5": "是"},
     "事故与违法失信!E5 (incidents[0].major): a quality incident is judged by its grade"),
    ("bad-year", {"事故与违法失信!B5": "去年", "事故与违法失信!C5": "偷税漏税"},
     "事故与违法失信!B5 (incidents[0].year): a year must be a whole number"),
    ("period", {"管理机构与发展规划!B5": "明年起三年"},
     "管理机构与发展规划!B5 (development_plan.period): write the plan period as years"),
    ("target-equals-baseline", {"管理机构与发展规划!B9": "集群产值", "管理机构与发展规划!D9": 2023,
                                "管理机构与发展规划!E9": 200, "管理机构与发展规划!F9": 2026,
                                "管理机构与发展规划!G9": 200},
     "管理机构与发展规划!G9 (development_plan.goals[0].target.value): the target equals the "
     "baseline"),
    ("established-without-body", {"管理机构与发展规划!B4": "2019"},
     "管理机构与发展规划!B3 (management_body.name): missing"),
    ("number-as-name", {"基本信息!B4": 2024},
     "基本信息!B4 (name): holds the number 2024; expected text"),
    ("control-character", {"文字说明!B3": "正文\u202e反转"},
     "文字说明!B3 (narrative.leading_industry): contains U+202E"),
    ("stray-value", {"指标数据!D9": 5},
     "指标数据!D9: this cell is not part of the form"),
    ("moved-row", {"指标数据!A3": "产值"},
     "指标数据!A3: expected the row '集群产值' here, found 产值"),
    ("changed-unit", {"指标数据!B3": "万元"},
     "指标数据!B3: expected the unit (values are read in this unit) '亿元' here, found 万元"),
    ("year-header", {"指标数据!D2": "第二年"},
     "指标数据!D2: expected a year such as 2023年 heading this column"),
    ("duplicate-dimension", {"文字说明!A9": "主导产业优势", "文字说明!B9": "再写一遍",
                             "文字说明!C9": "leading_industry", "文字说明!B3": "第一遍"},
     "文字说明!C9: the dimension 'leading_industry' is already given in row 3"),
]


@pytest.mark.parametrize(("change", "message"), [case[1:] for case in BAD_CELLS],
                         ids=[case[0] for case in BAD_CELLS])
def test_a_bad_cell_is_refused_with_its_sheet_cell_and_field(change: Any, message: str) -> None:
    book = template()
    if callable(change):
        change(book)
    else:
        fill(book, change)
    assert refusal(saved(book)).startswith(message)


def _rezipped(content: bytes, part: str, old: str, new: str,
              added: dict[str, str] | None = None) -> bytes:
    """``content`` with one text of one part replaced and ``added`` parts written in: what
    another program might have written."""
    source = zipfile.ZipFile(io.BytesIO(content))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == part:
                text = data.decode("utf-8")
                assert old in text
                data = text.replace(old, new, 1).encode("utf-8")
            target.writestr(item, data)
        for name, text in (added or {}).items():
            assert name not in source.namelist()
            target.writestr(name, text)
    return output.getvalue()


def _patched(content: bytes, sheet_index: int, old: str, new: str) -> bytes:
    return _rezipped(content, f"xl/worksheets/sheet{sheet_index}.xml", old, new)


def test_a_double_that_is_not_a_typed_decimal_is_refused() -> None:
    """0.30000000000000004 (a computed 0.1+0.2 stored by another program) has 17 significant
    digits: not what anyone typed, so it is refused rather than rounded."""
    book = template()
    fill(book, {"指标数据!C9": 0.25})
    content = _patched(saved(book), 3, "<v>0.25</v>", "<v>0.30000000000000004</v>")
    assert refusal(content).startswith(
        "指标数据!C9 (area_km2): holds 0.30000000000000004, which has more than 15 significant "
        "digits")


@pytest.mark.parametrize(("stored", "expected"), [
    ("0.1", "0.1"), ("152.30000000000001", "152.3"), ("196.4", "196.4"),
    ("4.0999999999999996", "4.1"), ("1E-3", "0.001"), ("86000", "86000"),
])
def test_a_numeric_cell_is_the_decimal_that_was_typed(stored: str, expected: str) -> None:
    """Excel stores the double nearest what was typed, often with 17 digits; the shortest
    decimal that reads back as that double is exactly the typed value."""
    book = template()
    fill(book, {"指标数据!C9": 12.5})
    content = _patched(saved(book), 3, "<v>12.5</v>", f"<v>{stored}</v>")
    value = read_application_workbook(content, "x.xlsx").data["area_km2"]
    assert value == Decimal(expected) and str(value) == str(Decimal(expected))


def test_a_number_in_a_text_cell_is_read_as_written() -> None:
    """Text cells with plain decimals are numbers, trailing zeros kept, as in JSON."""
    book = template()
    fill(book, {"指标数据!C3": "152.30", "指标数据!C10": " 86000 "})
    data = read_application_workbook(saved(book), "x.xlsx").data
    assert str(data["output"][2021]) == "152.30"
    assert data["employees"] == 86000


def test_not_a_workbook_or_not_a_template_is_refused() -> None:
    """A file that is no .xlsx, and a workbook without the template's sheets."""
    with pytest.raises(InvalidInput, match=r"^a\.xlsx: not an \.xlsx workbook"):
        read_application_workbook(b"not a zip", "a.xlsx")
    from openpyxl import Workbook

    with pytest.raises(InvalidInput, match="the workbook has no sheet '基本信息'"):
        read_application_workbook(saved(Workbook()), "b.xlsx")


def test_an_entity_expansion_bomb_is_refused() -> None:
    """A shared-strings part with nested entities (billion laughs) is refused by the XML
    parser's amplification limit instead of filling the memory."""
    entities = "".join(f'<!ENTITY e{level} "{f"&e{level - 1};" * 10}">'
                       for level in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY e0 "lol">{entities}]>'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
            'uniqueCount="1"><si><t>&e9;</t></si></sst>')
    override = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
    bombed = _rezipped(saved(template()), "[Content_Types].xml", "</Types>",
                       override + "</Types>", added={"xl/sharedStrings.xml": bomb})
    with pytest.raises(InvalidInput, match=r"cannot be read as an \.xlsx workbook.*amplification"):
        read_application_workbook(bombed, "bomb.xlsx")


# --------------------------------------------------------------------------------------------
# Writing: exact numbers, text never a formula


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("0.1"), 0.1), (Decimal("196.40"), 196.4), (Decimal("260"), 260), (86000, 86000),
    (Decimal("0.12345678901234567"), None), (Decimal("1E+20"), 1e20), (10**16, 1e16),
    (12345678901234567, None), (Decimal("1E+400"), None),
])
def test_a_decimal_is_written_as_a_number_only_when_exact(value: Any, expected: Any) -> None:
    assert excel_number(value) == expected


HOSTILE = ["=HYPERLINK(\"http://evil.example/\",\"点击\")", "+86-20-83133333", "-2+3",
           "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "=1+1"]


def test_text_that_looks_like_a_formula_is_written_as_text_and_read_back_exactly() -> None:
    """Names, indicators and texts starting with = + - @, tab or CR are string cells (data type
    's', Excel's quote prefix), no formula is in the file, and each reads back unchanged."""
    application = complete()
    application["management_body"]["name"] = HOSTILE[0]
    application["development_plan"]["goals"][0]["indicator"] = HOSTILE[1]
    application["development_plan"]["goals"][0]["text"] = HOSTILE[2]
    application["champion_enterprises"][0]["name"] = HOSTILE[3]
    application["incidents"][0]["description"] = HOSTILE[4]
    application["narrative"]["green"] = HOSTILE[5]
    header = CaseHeader(2024, HOSTILE[6], "中山市古镇镇", "灯饰照明")
    content = application_document(header, application, "xlsx", POLICY)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [archive.read(name) for name in archive.namelist()
                  if name.startswith("xl/worksheets/")]
    assert not any(re.search(rb"<f[ >]", sheet) for sheet in sheets)
    book = load_workbook(io.BytesIO(content))
    places = {HOSTILE[0]: ("管理机构与发展规划", "B3"), HOSTILE[1]: ("管理机构与发展规划", "B9"),
              HOSTILE[2]: ("管理机构与发展规划", "H9"), HOSTILE[3]: ("企业名单", "B6"),
              HOSTILE[4]: ("事故与违法失信", "F5"), HOSTILE[5]: ("文字说明", "B6"),
              HOSTILE[6]: ("基本信息", "B4")}
    for text, (sheet, cell) in places.items():
        found = book[sheet][cell]
        assert (found.value, found.data_type, found.quotePrefix) == (text, "s", True), cell
    file = read_application_workbook(content, "x.xlsx")
    assert file.header.name == HOSTILE[6]
    assert file.data["management_body"]["name"] == HOSTILE[0]
    assert file.data["narrative"]["green"] == HOSTILE[5]
    assert file.data["incidents"][0]["description"] == HOSTILE[4]


def test_the_sample_workbook_is_the_complete_application() -> None:
    """tests/data/application-complete.xlsx (the filled 申报表 the README files) reads as
    application-complete.json for 中山市古镇镇灯饰照明产业集群 in round 2024: a layout change
    that leaves it behind fails here."""
    path = DATA / "application-complete.xlsx"
    file = read_application_workbook(path.read_bytes(), path.name)
    assert file.header == CaseHeader(2024, "中山市古镇镇灯饰照明产业集群", "中山市古镇镇",
                                     "灯饰照明")
    assert file.data == canonical(complete())
