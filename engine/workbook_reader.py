"""Reading a filled 申报表 (layout: ``gdcluster.engine.workbook``) through the application's own
validation; a refusal names the sheet and cell. Cells are read as typed, never evaluated.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from gdcluster.engine.application import (
    QUALITY_KINDS,
    validate_application,
)
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import N_, Message
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
    HEADER_LINES,
    INCIDENT_COLUMNS,
    INCIDENT_DECLARATION,
    INCIDENT_HEADER_ROW,
    INCIDENTS,
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    NARRATIVE,
    NARRATIVE_COLUMNS,
    NARRATIVE_HEADER_ROW,
    QUALITY_LABELS,
    RESULT_COLUMNS,
    RESULT_HEADER_ROW,
    RESULTS,
    SERIES_FIRST_ROW,
    SERIES_HEADER_ROW,
    SERIES_LINES,
    SINGLE_FIRST_ROW,
    SINGLE_HEADER_ROW,
    SINGLE_LINES,
    ApplicationFile,
    CaseHeader,
    Line,
    relocate,
)
from gdcluster.engine.workbook_cells import CellRefused, read_cell
from gdcluster.states.policy import INCIDENT_GRADES, INCIDENT_KINDS, INCIDENT_LABELS

__all__ = [
    "is_workbook",
    "read_application_workbook",
]

# --------------------------------------------------------------------------------------------
# Reading the 申报表


def is_workbook(content: bytes, filename: str) -> bool:
    """An .xlsx by its name, or (standard input) by its zip signature."""
    return filename.lower().endswith(".xlsx") or content.startswith(b"PK\x03\x04")


def read_application_workbook(content: bytes, filename: str) -> ApplicationFile:
    """The application in a filled 申报表, validated like a JSON file; ``InvalidInput`` names
    the sheet and cell (``指标数据!C5 (output.2023): …``) of the first thing wrong."""
    header, reader = _read_sheets(content, filename)
    try:
        data = validate_application(reader.raw)
    except InvalidInput as error:
        raise relocate(error, reader.places) from None
    return ApplicationFile(source=filename, header=header, data=data, places=reader.places)


def read_review_workbook(content: bytes, filename: str) -> tuple[CaseHeader, dict[str, Any],
                                                                   dict[str, str]]:
    """A filled 复核申报表 (``gdcluster template review``): the case it names, the 复核申报 as a
    JSON file would hold it (``goal_results`` from the sheet 规划目标完成情况) and where each
    field stood. The act validates it (``validate_review_application``, against the case's
    plan and its 复核 round's year); ``relocate`` with these places names the cell of what it
    refuses (``指标数据!E3 (output.2025)``, ``规划目标完成情况!C4 (goal_results[1].actual)``)."""
    header, reader = _read_sheets(content, filename, review=True)
    return header, reader.raw, reader.places


def _read_sheets(content: bytes, filename: str, *, review: bool = False) -> tuple[CaseHeader,
                                                                                  _Reader]:
    """The 申报表's sheets read (and, for a 复核申报表, its 规划目标完成情况)."""
    book = _open(content, filename)
    try:
        reader = _Reader(book, filename)
        header = reader.basic()
        reader.figures()
        reader.enterprises()
        reader.incidents()
        reader.governance()
        reader.narrative()
        if review:
            reader.goal_results()
    finally:
        book.close()
    return header, reader


def _open(content: bytes, filename: str) -> Any:
    from openpyxl import load_workbook

    if len(content) > MAX_FILE_BYTES:
        raise InvalidInput(Message("the file has {size} bytes; the limit is {limit} (10 MB)",
                                   size=len(content), limit=MAX_FILE_BYTES), field=filename)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InvalidInput("not an .xlsx workbook (Excel 2007 or later); an .xls or .et file "
                           "must first be saved as .xlsx", field=filename) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise InvalidInput(Message("the workbook unpacks to {size} bytes; the limit is {limit}",
                                   size=unpacked, limit=MAX_UNPACKED_BYTES), field=filename)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about parts it drops (extensions, external links): not our data
            warnings.simplefilter("ignore")
            return load_workbook(io.BytesIO(content), read_only=True, data_only=False,
                                 keep_links=False, rich_text=False)
    except Exception as error:  # openpyxl raises many kinds on a damaged or foreign file
        raise InvalidInput(Message("cannot be read as an .xlsx workbook ({kind}: {error})",
                                   kind=type(error).__name__,
                                   error=" ".join(str(error).split())[:200]),
                           field=filename) from None


_BLANK: Final = object()


class _Sheet:
    """The non-empty cells of one sheet, by (row, column), and which of them were read."""

    def __init__(self, book: Any, name: str) -> None:
        from openpyxl.utils import get_column_letter

        if name not in book.sheetnames:
            raise InvalidInput(Message("the workbook has no sheet {name!r}; is it a 申报表 made "
                                       "by `gdcluster template application`?", name=name),
                               field=name)
        worksheet = book[name]
        self.name = name
        self.cells: dict[tuple[int, int], Any] = {}
        self.used: set[tuple[int, int]] = set()
        self.table: tuple[int, int] | None = None  # (first row, last column) of its list
        claimed = worksheet.max_column
        if isinstance(claimed, int) and claimed > MAX_COLUMNS:
            raise InvalidInput(
                Message("cells are used up to column {column}; the form has at most {limit} "
                        "columns: clear what lies to the right of it",
                        column=get_column_letter(claimed), limit=MAX_COLUMNS), field=name)
        worksheet.reset_dimensions()  # the stated size may be wrong: read what is there
        for row in worksheet.iter_rows(max_col=MAX_COLUMNS):
            for cell in row:
                if _is_blank(cell.value):
                    continue
                if cell.row > MAX_ROWS:
                    raise InvalidInput(Message("the form has at most {limit} rows; clear what "
                                               "lies below it", limit=MAX_ROWS),
                                       field=self.where(cell.row, cell.column))
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
                Message("expected the {what} {label!r} here, found {found}; rows, columns and "
                        "labels of the form must stay where `gdcluster template application` "
                        "put them", what=Message(what), label=label,
                        found=found or Message("nothing")), field=self.where(row, column))

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
            return read_cell(cell, kind, choices)
        except CellRefused as refusal:
            raise InvalidInput(refusal.problem, field=f"{where} ({path})") from None

    # -- sheets -------------------------------------------------------------------------------

    def basic(self) -> CaseHeader:
        sheet = _Sheet(self.book, BASIC)
        _expect_header(sheet, 2, ("项目", "填写内容"))
        values: dict[str, Any] = {}
        for offset, line in enumerate(HEADER_LINES):
            row = BASIC_FIRST_ROW + offset
            sheet.expect(row, 1, line.label, N_("row"))
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
                raise InvalidInput(Message("the year {year} heads two columns", year=year),
                                   field=where)
            years.append((column, year))
            column += 1
        else:
            raise InvalidInput("no column headed 说明 after the year columns",
                               field=sheet.where(SERIES_HEADER_ROW, 3))
        notes_column = column
        for offset, line in enumerate(SERIES_LINES):
            row = SERIES_FIRST_ROW + offset
            sheet.expect(row, 1, line.label, N_("row"))
            sheet.expect(row, 2, line.unit, N_("unit (values are read in this unit)"))
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
            sheet.expect(row, 1, line.label, N_("row"))
            sheet.expect(row, 2, line.unit, N_("unit (values are read in this unit)"))
            sheet.used.add((row, notes_column))
            value = self.value(sheet, row, 3, line.kind, line.key)
            if value is not _BLANK:
                self.raw[line.key] = value
        sheet.check_nothing_else()

    def declaration(self, sheet: _Sheet, row: int, line: Line) -> tuple[Any, str]:
        sheet.expect(row, 1, line.label, N_("row"))
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
                    Message("give the enterprise's title: a 国家级称号, or 是 under at least one "
                            "of {labels}", labels="、".join(QUALITY_LABELS.values())),
                    field=sheet.where(row, 3))
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
            raise InvalidInput(Message("answered 无, but {count} are listed below; answer 有 or "
                                       "clear the list", count=len(entries)),
                               field=f"{where} ({key})")
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
            sheet.expect(row, 1, line.label, N_("row"))
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
            goal = self.cells(sheet, row, path, ((2, "indicator", "text"), (3, "unit", "text"),
                                                 (8, "text", "free_text")))
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

    def cells(self, sheet: _Sheet, row: int, path: str,
              columns: tuple[tuple[int, str, str], ...]) -> dict[str, Any]:
        """The values of ``row``'s ``columns`` (column, key, kind) that are not blank, by key;
        each read as ``path.key``."""
        found: dict[str, Any] = {}
        for column, key, kind in columns:
            value = self.value(sheet, row, column, kind, f"{path}.{key}")
            if value is not _BLANK:
                found[key] = value
        return found

    def goal_results(self) -> None:
        sheet = _Sheet(self.book, RESULTS)
        sheet.used.add((1, 1))
        results: list[dict[str, Any]] = []
        for row in _table_rows(sheet, RESULT_HEADER_ROW, RESULT_COLUMNS):
            path = f"goal_results[{len(results)}]"
            self.places[path] = sheet.where(row, 2)
            results.append(self.cells(sheet, row, path, (
                (2, "indicator", "text"), (3, "actual", "number"), (4, "note", "free_text"))))
        self.places["goal_results"] = sheet.where(RESULT_HEADER_ROW + 1, 2)
        self.raw["goal_results"] = results
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
                raise InvalidInput(Message("the dimension {key!r} is already given in row {row}",
                                           key=key, row=rows_of[key]),
                                   field=sheet.where(row, 3 if code else 1))
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
        sheet.expect(row, column, label, N_("column"))


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
        raise InvalidInput(Message("expected a year such as 2023年 heading this column, or 说明 "
                                   "after the last year, found {found}",
                                   found=text or Message("nothing")), field=where)
    return int(match[1])


def _round_year(value: Any, where: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 2000 <= value <= 2100:
        return value
    raise InvalidInput(Message("expected the year of the round, such as 2024, not {value!r}",
                               value=value), field=where)
