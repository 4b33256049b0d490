"""Print layout of the HTML notices (and so of their PDFs): font stacks and table columns.

Both are computed here, not in CSS, because CSS alone cannot size a column to its content and
keep it there across pages: with ``table-layout: auto`` a browser squeezes every column when one
cell is long, and short words break (中山/市, 序/号, 灯饰照/明). A column whose cells are all
short is therefore given the width of its widest cell and never wraps; the columns with long
text (集群名称) share the rest of the 156 mm line and wrap inside themselves.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

__all__ = ["GENERIC_FAMILIES", "Column", "font_stack", "table_columns", "text_ems"]

#: The generic family closing each font stack, by role.
GENERIC_FAMILIES = {"body": "serif", "title": "serif", "h1": "sans-serif", "h2": "serif",
                    "page": "serif"}
#: The text block (156 mm) in 4号 (14 pt) characters, the table's size, less the borders.
LINE_EMS = 31.4
#: Cell padding (4 pt each side) and borders, in 4号 characters, with a little room.
PADDING_EMS = 0.8
#: A column whose longest cell is at most this many characters is kept on one line.
SHORT_EMS = 8.0
#: What a wrapping column is given at least, so that long names do not become a tower …
MIN_WRAPPING_EMS = 7.0
#: … and at the very least, before a short column is made to wrap.
LEAST_WRAPPING_EMS = 4.0
#: A header up to this wide stays on one line (序号, 地市, 主导产业).
HEADER_KEPT_EMS = 4.0


def text_ems(text: str) -> float:
    """Width in characters of the font size: wide and ambiguous (CJK fonts draw them full
    width: ——, “”) count 1, narrow ones (digits, Latin) 0.6, a generous bound for the
    proportional digits of CJK fonts."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WFA" else 0.6 for ch in text)


def font_stack(names: Iterable[str], role: str) -> Markup:
    """``"仿宋_GB2312", "FangSong", …, serif`` for a style sheet. The names were checked by the
    settings (no quotes, escapes or CSS syntax), so they are safe to place in <style>, where
    HTML escaping does not apply."""
    return Markup(", ".join(f'"{name}"' for name in names) + f", {GENERIC_FAMILIES[role]}")


@dataclass(frozen=True)
class Column:
    """One table column: its CSS width (None: a share of the rest) and whether it wraps."""

    width_ems: float | None
    wraps: bool

    @property
    def css_width(self) -> str:
        return "auto" if self.width_ems is None else f"{self.width_ems:.1f}em"

    @property
    def css_class(self) -> str:
        return "wraps" if self.wraps else "nowrap"


def table_columns(table: Any) -> list[Column]:
    """The columns of ``table`` (``headers``, ``rows``): short ones sized to their widest cell,
    unbreakable; long ones wrapping in the remaining width.

    Where the line is too narrow for all of that, in this order: a short column's header wider
    than 4 characters takes two lines; the wrapping columns make do with less; and only then
    does the widest short column wrap."""
    headers: Sequence[str] = table.headers
    rows: Sequence[Sequence[str]] = table.rows
    count = len(headers)
    body = [max((text_ems(row[index]) for row in rows), default=0.0) for index in range(count)]
    head = [text_ems(header) for header in headers]
    short = [width <= SHORT_EMS for width in body]
    if all(short):  # the widest column takes up the slack, so the table still spans the line
        short[max(range(count), key=lambda index: (body[index], -index))] = False

    def width(index: int, fold_header: bool) -> float:
        header = head[index]
        if fold_header and header > HEADER_KEPT_EMS:
            header = math.ceil(header / 2)
        return round(max(body[index], header) + PADDING_EMS, 1)

    def room_left(widths: dict[int, float], wrapping_ems: float) -> float:
        return LINE_EMS - sum(widths.values()) - wrapping_ems * (count - len(widths))

    widths: dict[int, float] = {}
    for fold_header, wrapping_ems in ((False, MIN_WRAPPING_EMS), (True, MIN_WRAPPING_EMS),
                                      (True, LEAST_WRAPPING_EMS)):
        widths = {index: width(index, fold_header) for index in range(count) if short[index]}
        if room_left(widths, wrapping_ems) >= 0:
            break
    while widths and room_left(widths, LEAST_WRAPPING_EMS) < 0:
        del widths[max(widths, key=lambda index: widths[index])]
    return [Column(widths.get(index), index not in widths) for index in range(count)]
