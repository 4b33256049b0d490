"""Tables for administrators' spreadsheets: the case list (.xlsx or .csv) and a round's
推荐汇总表 with every expert's scores (.xlsx). Pure functions of what the engine's reads return.

Every text goes into a workbook as a string cell (``workbook.put``): a name such as
``=HYPERLINK(…)`` is shown and read back as that text, never run as a formula. A CSV file has no
cell types, so a text starting with = + - @, a tab or a carriage return is written with a single
quote before it, as OWASP's CSV-injection guidance advises (Excel shows the quote; the .xlsx
export is the exact one). Every CSV field is quoted, and the file is UTF-8 with a byte-order
mark, so Excel opens the Chinese correctly; lines end in CRLF (RFC 4180).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from gdcluster.engine.workbook import FORMULA_TRIGGERS, put
from gdcluster.engine.workbook_writer import BookWriter

__all__ = [
    "CASE_COLUMNS",
    "case_rows",
    "cases_csv",
    "cases_xlsx",
    "city_name",
    "csv_text",
    "export_cases",
    "export_round",
    "round_case_count",
    "round_xlsx",
    "state_label",
    "unit_in_city",
]

Progress = Callable[[int], None] | None

#: The case list's columns: header, and how each case fills it.
CASE_COLUMNS: Final[tuple[tuple[str, Callable[[Any], Any]], ...]] = (
    ("编号", lambda view: view.id),
    ("年度", lambda view: view.round),
    ("地市", lambda view: view.city),
    ("县（市、区）", lambda view: unit_in_city(view.city, view.county)),
    ("集群名称", lambda view: view.name),
    ("主导产业", lambda view: view.industry),
    ("状态", lambda view: state_label(view.state)),
    ("状态代码", lambda view: view.state),
    ("得分", lambda view: _score(view.score)),
    ("公示开始", lambda view: view.publicity_start),
    ("公示结束", lambda view: view.publicity_end),
    ("有效期起", lambda view: view.valid_from),
    ("有效期止", lambda view: view.valid_until),
    ("版本", lambda view: view.version),
)

SUMMARY_SHEET: Final = "推荐汇总表"
QUOTA_SHEET: Final = "地市名额"
SCORES_SHEET: Final = "专家评分"
SUMMARY_COLUMNS: Final = ("序号", "地市", "县（市、区）", "集群名称", "主导产业", "状态", "得分",
                          "编号")


def state_label(state: str) -> str:
    """The state's Chinese label (草稿, 已推荐 …), or its code when it has none."""
    from gdcluster.states.workflow import load_workflow

    try:
        return load_workflow().state(state).label or state
    except KeyError:
        return state


def unit_in_city(city: str, county: str) -> str:
    """顺德区 for 佛山市顺德区 beside its city; a unit not named after its city stays whole."""
    return county.removeprefix(city) or county


def _score(score: str | None) -> Decimal | None:
    if score is None:
        return None
    try:
        return Decimal(score)
    except InvalidOperation:
        return None


def case_rows(views: Iterable[Any], progress: Progress = None) -> Iterable[list[Any]]:
    """The header, then one row per case."""
    yield [header for header, _ in CASE_COLUMNS]
    for view in views:
        yield [value(view) for _, value in CASE_COLUMNS]
        if progress is not None:
            progress(1)


# --------------------------------------------------------------------------------------------
# CSV


def csv_text(value: Any) -> str:
    """A cell as CSV text: dates in ISO form, decimals as written, a text that a spreadsheet
    would take for a formula behind a single quote."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
    return str(value)


def cases_csv(views: Iterable[Any], progress: Progress = None) -> bytes:
    output = io.StringIO()
    writer = csv.writer(output, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in case_rows(views, progress):
        writer.writerow([csv_text(value) for value in row])
    return ("\ufeff" + output.getvalue()).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Workbooks


class _Book(BookWriter):
    def row(self, sheet: Any, row: int, values: Sequence[Any], *, header: bool = False) -> None:
        if header:
            self.header(sheet, row, values)
        else:
            super().row(sheet, row, values)


def cases_xlsx(views: Iterable[Any], progress: Progress = None) -> bytes:
    """The case list as one sheet 案件列表: a header row, then a row per case."""
    book = _Book()
    sheet = book.sheet("案件列表", [8, 8, 10, 16, 40, 16, 16, 18, 10, 12, 12, 12, 12, 6])
    for index, row in enumerate(case_rows(views, progress), start=1):
        book.row(sheet, index, row, header=index == 1)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    return book.save()


def round_xlsx(summary: Mapping[str, Any], views: Sequence[Any],
               scores: Mapping[int, Sequence[Any]], *, trim_from: int,
               city: str | None = None) -> bytes:
    """A round's workbook: 推荐汇总表 (every case of the round, by city in the region table's
    order, then by unit and id), 地市名额 (each city's quota and recommendations) and 专家评分
    (each expert's points per rubric indicator, their total and the case's final score).

    ``summary`` is ``Engine.round_summary``; ``views`` the round's cases; ``scores`` each case's
    ``Engine.scores``; ``trim_from`` the rubric's number of experts from which the highest and
    lowest totals are dropped; ``city`` keeps only that city's cases and quota.
    """
    from gdcluster.states.regions import load_regions

    year = summary["year"]
    order = {name: index for index, name in enumerate(load_regions().cities)}
    cases = sorted((view for view in views if city is None or view.city == city),
                   key=lambda view: (order.get(view.city, len(order)), view.city, view.county,
                                     view.id))
    book = _Book()
    where = f"（{city}）" if city else ""
    sheet = book.sheet(SUMMARY_SHEET, [6, 10, 16, 40, 16, 16, 10, 8])
    book.title(sheet, f"{year}年广东省中小企业特色产业集群推荐汇总表{where}")
    book.row(sheet, 2, SUMMARY_COLUMNS, header=True)
    for index, view in enumerate(cases, start=1):
        book.row(sheet, 2 + index, [index, view.city, unit_in_city(view.city, view.county),
                                    view.name, view.industry, state_label(view.state),
                                    _score(view.score), view.id])
    sheet.freeze_panes = "A3"

    quotas = [quota for quota in summary.get("quotas", []) if city is None or
              quota["city"] == city]
    sheet = book.sheet(QUOTA_SHEET, [12, 12, 12, 10, 14])
    book.title(sheet, f"{year}年各地市推荐名额{where}")
    book.row(sheet, 2, ("地市", "名额下限", "名额上限", "已推荐", "低于下限"), header=True)
    for index, quota in enumerate(quotas, start=3):
        book.row(sheet, index, [quota["city"], quota["min"], quota["max"], quota["recommended"],
                                "是" if quota["below_minimum"] else "否"])

    rubric = list(summary.get("rubric", []))
    known = {item["id"] for item in rubric}
    for case_scores in scores.values():
        for entry in case_scores:
            for key in entry.points:
                if key not in known:  # scored under another rubric: shown, never dropped
                    known.add(key)
                    rubric.append({"id": key, "name": key, "weight": None})
    sheet = book.sheet(SCORES_SHEET, [8, 10, 40, 12, *([14] * len(rubric)), 10, 10, 18])
    book.title(sheet, f"{year}年专家评分明细{where}")
    headers = ["编号", "地市", "集群名称", "专家",
               *(f"{item['name']}（{item['weight']}分）" if item["weight"] is not None
                 else item["name"] for item in rubric), "合计", "最终得分", "评分时间"]
    book.row(sheet, 2, headers, header=True)
    row = 3
    for view in sorted(cases, key=lambda view: view.id):
        for entry in scores.get(view.id, ()):
            book.row(sheet, row, [view.id, view.city, view.name, entry.expert,
                                  *(entry.points.get(item["id"]) for item in rubric),
                                  entry.total, _score(view.score),
                                  entry.at.astimezone(_SHANGHAI).replace(tzinfo=None)])
            row += 1
    put(sheet.cell(row=row + 1, column=1),
        f"最终得分为各专家合计的平均值；{trim_from}名及以上专家评分时去掉一个"
        "最高分和一个最低分，四舍五入保留四位小数。评分时间为北京时间。")
    sheet.freeze_panes = "E3"
    return book.save()


def export_cases(views: Iterable[Any], fmt: str, progress: Progress = None) -> bytes:
    """The case list as ``csv`` or ``xlsx``."""
    return cases_csv(views, progress) if fmt == "csv" else cases_xlsx(views, progress)


def export_round(engine: Any, year: int, *, city: str | None = None,
                 progress: Progress = None) -> bytes:
    """Round ``year``'s workbook (``round_xlsx``) from the engine's public reads; ``progress(1)``
    after each case's scores are read."""
    from gdcluster.states.policy import load_policy

    summary = engine.round_summary(year, kind="recognition").to_dict()
    city = city_name(city)
    listing = engine.list_cases
    views = list(listing(round_year=year, city=city))
    scores: dict[int, Sequence[Any]] = {}
    for view in views:
        scores[view.id] = engine.scores(view.id)
        if progress is not None:
            progress(1)
    trim_from = int(load_policy(summary["policy"]).rubric.trim_from)
    return round_xlsx(summary, views, scores, trim_from=trim_from, city=city)


def round_case_count(engine: Any, year: int, city: str | None = None) -> int:
    """How many cases ``export_round`` reads (to size a progress bar)."""
    counts = engine.round_summary(year, kind="recognition").to_dict()["counts"]
    if city is None:
        return int(counts["total"])
    return sum(counts["by_city"].get(city_name(city), {}).values())


def city_name(city: str | None) -> str | None:
    """The city's full name (佛山 → 佛山市), or ``InvalidInput``."""
    from gdcluster.engine.errors import InvalidInput
    from gdcluster.states.regions import UnknownRegion, load_regions

    if city is None:
        return None
    try:
        return load_regions().city(city).name
    except UnknownRegion as error:
        raise InvalidInput(str(error), field="city") from None


def _shanghai() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


_SHANGHAI: Final = _shanghai()
