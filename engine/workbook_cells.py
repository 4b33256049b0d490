"""One cell of a filled 申报表 as its field reads it (the rules: ``engine/workbook.py``): numbers
exact, 是/否 and 有/无 as booleans, list labels as codes; a formula, an error value, a date where
a number is expected or a number no person typed is refused (``CellRefused``), naming what the
cell should hold. ``workbook_reader`` places a refusal at its sheet and cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from gdcluster.engine.i18n import N_, Message
from gdcluster.engine.workbook import EXCEL_DIGITS, HAVE, NO, NONE, YES, significant_digits

__all__ = ["CellRefused", "read_cell"]


class CellRefused(Exception):
    """A cell holds what its field cannot take; ``problem`` says what and what to type."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def read_cell(cell: Any, kind: str, choices: Mapping[str, Any] | None) -> Any:
    """One cell's value for the schema: numbers exact, 是/否 as booleans, labels as codes."""
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    value = cell.value
    if cell.data_type == "f" or isinstance(value, ArrayFormula | DataTableFormula):
        raise CellRefused(Message("holds a formula ({formula}); its cached result cannot be "
                                   "trusted, so type the value itself",
                                   formula=str(getattr(value, "text", value))[:60]))
    if cell.data_type == "e":
        raise CellRefused(Message("holds the error value {value}; type the value itself",
                                   value=value))
    if isinstance(value, datetime | date | time):
        if kind == "date_text" and isinstance(value, date):
            if not isinstance(value, datetime):
                return value
            if value.time() == time():
                return value.date()
        raise CellRefused(Message("holds a date or time (the cell is formatted as a date); "
                                   "expected {expected}: format the cell as a number or text and "
                                   "type it again", expected=_expected(kind)))
    if isinstance(value, str):
        return _text_value(value, kind, choices)
    if isinstance(value, bool):
        if kind == "bool":
            return value
        raise CellRefused(Message("holds {value}; expected {expected}",
                                   value="TRUE" if value else "FALSE", expected=_expected(kind)))
    if isinstance(value, int | float):
        number = _exact(value)
        if "%" in (cell.number_format or "") and kind != "share":
            raise CellRefused(
                Message("is formatted as a percentage ({percent}%), but this field is not a "
                        "share: write the number in the unit of its row (30 for 30%) in a cell "
                        "formatted as a number", percent=number * 100))
        if kind == "year" and number == number.to_integral_value():
            return int(number)
        if kind in ("bool", "choice", "declaration", "text", "free_text"):
            raise CellRefused(
                Message("holds the number {number}; expected {expected}", number=number,
                        expected=_expected(kind)) if kind not in ("text", "free_text") else
                Message("holds the number {number}; expected {expected} (format the cell as "
                        "text, or type ' before the digits)", number=number,
                        expected=_expected(kind)))
        return number if isinstance(value, float) else value
    raise CellRefused(Message("holds a value of an unknown type ({kind})",
                               kind=type(value).__name__))


_EXPECTED: Final = {"bool": N_("是 or 否"), "declaration": N_("有 or 无"),
                    "choice": N_("one of the list's entries"), "amount": N_("a number"),
                    "area": N_("a number"), "count": N_("a whole number"),
                    "share": N_("a share such as 78%"), "year": N_("a year such as 2023"),
                    "number": N_("a number"), "text": N_("text"), "free_text": N_("text"),
                    "date_text": N_("a date such as 2019-06-18")}


_ANY: Final = N_("a value")


def _expected(kind: str) -> Message:
    """What a cell of ``kind`` should hold, as a message (translated where shown)."""
    return Message(_EXPECTED.get(kind, _ANY))


def _text_value(value: str, kind: str, choices: Mapping[str, Any] | None) -> Any:
    if kind in ("bool", "declaration"):
        answers = {YES: True, NO: False} if kind == "bool" else {HAVE: True, NONE: False}
        answer = answers.get(value.strip())
        if answer is None:
            raise CellRefused(Message("{value!r}: write {answers}", value=value.strip(),
                                       answers=_expected(kind)))  # 是 or 否, 有 or 无
        return answer
    if kind == "choice":
        assert choices is not None
        code = choices.get(value.strip())
        if code is None:
            listed = "、".join(key for key in choices if not key.isascii())
            raise CellRefused(Message("{value!r} is not in the list: {listed}",
                                       value=value.strip(), listed=listed))
        return code
    if kind == "year":
        return value.strip().removesuffix("年").strip()
    if kind in ("text", "date_text"):
        return value.strip()
    if kind == "free_text":
        return value
    return value.strip()  # a number written as text: the schema reads plain decimals


def _exact(value: int | float) -> Decimal:
    """A numeric cell as the decimal that was typed (see ``engine/workbook.py``)."""
    if isinstance(value, int):
        return Decimal(value)
    text = repr(value)
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - repr of a float is always a Decimal
        raise CellRefused(Message("holds {text}, not a number", text=text)) from None
    if not number.is_finite():
        raise CellRefused(Message("holds {text}, not a finite number", text=text))
    if significant_digits(number) > EXCEL_DIGITS:
        raise CellRefused(
                Message("holds {text}, which has more than {digits} significant digits: not a "
                        "value typed in Excel (a computed or pasted result); type the value as "
                        "shown, or as text", text=text, digits=EXCEL_DIGITS))
    return number
