"""Rendering notices: the one Jinja environment, and the three formats.

Each notice kind has one template, ``templates/<kind>.xml.j2``, holding its wording as a small
document vocabulary (title, 发文字号, addressee, paragraphs with 黑体/楷体 headings, attachments
with tables, signature, date). It is rendered with autoescaping, so whatever a user wrote (a
cluster named ``{{7*7}}`` or ``<script>``) stays text and can never add structure; the result is
parsed into a :class:`Document`, which is laid out as plain text (``_layout.txt.j2``), as HTML
after GB/T 9704-2012 (``_layout.html.j2``, autoescaped), as .docx (:mod:`.word`) and as PDF
(that same HTML through WeasyPrint, :mod:`.pdf`, loaded only when a PDF is asked for).

Every template starts with ``{# version: N #}``; a rendering records the versions of all the
templates it used (``publicity.xml.j2@1 _layout.html.j2@1``).
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.engine.text import display_width
from gdcluster.notifications.document import Attachment, Document, Paragraph, Run, Table
from gdcluster.notifications.layout import font_stack, table_columns
from gdcluster.notifications.settings import DEFAULT_FORMATS, FORMATS, Fonts

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Rendered",
    "cn_date",
    "environment",
    "render",
    "template_version",
]

MEDIA_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
BINARY_FORMATS = frozenset({"docx", "pdf"})
#: GB/T 9704: 28 characters to a line of the 156 mm text block.
LINE_CHARS = 28
_VERSION = re.compile(r"\{#\s*version:\s*([0-9A-Za-z.\-]+)\s*#\}")
_CN_DIGITS = "〇一二三四五六七八九"


@dataclass(frozen=True)
class Rendered:
    """One rendering: the bytes and what produced them."""

    kind: str
    format: str
    body: bytes
    template: str
    template_version: str
    title: str
    doc_no: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def text(self) -> str:
        if self.format in BINARY_FORMATS:
            raise ValueError(f"a .{self.format} rendering is binary")
        return self.body.decode("utf-8")


# ---------------------------------------------------------------------------- filters
def cn_date(value: date | datetime | str) -> str:
    """成文日期 form: Arabic numerals, no zero padding (2024年7月9日)."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.date()
    return f"{value.year}年{value.month}月{value.day}日"


def cn_number(value: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 25 → 二十五 (for 一、二、 headings; 1–99)."""
    number = int(value)
    if not 0 < number < 100:
        raise ValueError(f"cn_number handles 1–99, not {number}")
    tens, ones = divmod(number, 10)
    text = ("" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十"))
    return text + (_CN_DIGITS[ones] if ones else "")


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - display_width(text), 0)


def _center(text: str, columns: int = LINE_CHARS * 2) -> str:
    return " " * max((columns - display_width(text)) // 2, 0) + text


def text_title(text: str) -> str:
    """Centred in the 28-character line; a longer title is left whole for the reader to wrap
    (splitting it at a fixed width would break words, which GB/T 9704 forbids)."""
    return _center(text)


def text_table(table: Table) -> str:
    widths = [display_width(h) for h in table.headers]
    for row in table.rows:
        widths = [max(w, display_width(cell)) for w, cell in zip(widths, row, strict=True)]
    rule = "  ".join("─" * w for w in widths)
    lines = ["  ".join(_pad(h, w) for h, w in zip(table.headers, widths, strict=True)).rstrip(),
             rule]
    lines += ["  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in table.rows]
    return "\n".join(lines)


def text_signature(document: Document) -> str:
    """The issuer centred over the date; the date 4 characters from the right (GB/T 9704)."""
    end = LINE_CHARS * 2 - 8
    date_width = display_width(document.date)
    date_start = max(end - date_width, 0)
    middle = date_start + date_width // 2
    issuer_width = display_width(document.issuer)
    issuer_start = max(min(middle - issuer_width // 2, LINE_CHARS * 2 - issuer_width), 0)
    return f"{' ' * issuer_start}{document.issuer}\n{' ' * date_start}{document.date}"


# ---------------------------------------------------------------------------- environment
def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith((".html.j2", ".xml.j2"))


@cache
def environment() -> Environment:
    """The one Jinja environment of gdcluster (templates are package data)."""
    env = Environment(
        loader=PackageLoader("gdcluster", "templates"),
        undefined=StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        cn_date=cn_date,
        cn_number=cn_number,
        text_title=text_title,
        text_table=text_table,
        text_signature=text_signature,
        font_stack=font_stack,
        table_columns=table_columns,
    )
    return env


@cache
def template_version(name: str) -> str:
    """The ``{# version: N #}`` header of a template; a template without one is refused."""
    env = environment()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, name)
    match = _VERSION.search(source.split("\n", 1)[0])
    if match is None:
        raise LookupError(f"template {name} has no '{{# version: N #}}' first line")
    return match.group(1)


def kind_template(kind: str) -> str:
    return f"{kind}.xml.j2"


@cache
def template_closure(name: str) -> tuple[str, ...]:
    """``name`` and every template it extends or includes, each once, ``name`` first."""
    from jinja2 import meta

    env = environment()
    assert env.loader is not None
    seen: list[str] = []
    pending = [name]
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.append(current)
        source, _, _ = env.loader.get_source(env, current)
        pending += [ref for ref in meta.find_referenced_templates(env.parse(source)) if ref]
    return tuple(seen)


def versions(*names: str) -> str:
    """"publicity.xml.j2@1 _notice.xml.j2@1 …": what a rendering was made with."""
    used: list[str] = []
    for name in names:
        used += [item for item in template_closure(name) if item not in used]
    return " ".join(f"{item}@{template_version(item)}" for item in used)


# ---------------------------------------------------------------------------- rendering
def render(kind: str, context: Mapping[str, Any],
           formats: Iterable[str] = DEFAULT_FORMATS) -> list[Rendered]:
    """Render one notice in each of ``formats`` (the wording is rendered once; a PDF is made
    from the HTML). ``context["fonts"]`` (:class:`Fonts`) names the font stacks of the HTML."""
    formats = list(formats)
    for name in formats:
        if name not in FORMATS:
            raise InvalidInput(Message("unknown format {format!r}; use {formats}", format=name,
                                       formats=", ".join(FORMATS)), field="format")
    source = kind_template(kind)
    document = compose(kind, context)
    fonts = context.get("fonts") or Fonts()
    html: str | None = None
    results = []
    for name in formats:
        if name == "docx":
            from gdcluster.notifications import word

            body = word.build(document)
            version = f"{versions(source)} word.py@{word.VERSION}"
        elif name == "pdf":
            from gdcluster.notifications import pdf

            html = html or _html(document, fonts)
            body = pdf.build(html)
            version = (f"{versions(source, '_layout.html.j2')} pdf.py@{pdf.VERSION} "
                       f"{pdf.engine_version()}")
        elif name == "html":
            html = html or _html(document, fonts)
            body = html.encode("utf-8")
            version = versions(source, "_layout.html.j2")
        else:
            layout = f"_layout.{name}.j2"
            body = environment().get_template(layout).render(doc=document).encode("utf-8")
            version = versions(source, layout)
        results.append(Rendered(kind=kind, format=name, body=body, template=source,
                                template_version=version, title=document.title,
                                doc_no=document.doc_no))
    return results


def compose(kind: str, context: Mapping[str, Any]) -> Document:
    """The notice as the layouts see it: its template rendered with ``context`` and parsed,
    with the audit chain anchor of its act (``context["anchor"]``) for the printed footer."""
    try:
        template = environment().get_template(kind_template(kind))
    except Exception as exc:  # TemplateNotFound
        raise InvalidInput(Message("no template for notice kind {kind!r}", kind=kind),
                           field="kind") from exc
    document = parse_document(kind, template.render(**context))
    if context.get("anchor"):
        document = replace(document, anchor=str(context["anchor"]))
    return document


def _html(document: Document, fonts: Fonts) -> str:
    return environment().get_template("_layout.html.j2").render(doc=document, fonts=fonts)


def parse_document(kind: str, xml: str) -> Document:
    """Read the wording template's output into a :class:`Document`."""
    root = ET.fromstring(xml)
    if root.tag != "notice":
        raise ValueError(f"template {kind} must render a <notice> element, not <{root.tag}>")

    def text_of(tag: str, required: bool = True) -> str | None:
        element = root.find(tag)
        if element is None:
            if required:
                raise ValueError(f"template {kind}: <{tag}> is missing")
            return None
        return _clean("".join(element.itertext()))

    body = tuple(_paragraph(element) for element in root.findall("./body/p"))
    attachments = []
    found = root.findall("./attachments/attachment")
    for number, element in enumerate(found, start=1):
        table_element = element.find("table")
        table = None
        if table_element is not None:
            head = table_element.find("head")
            headers = tuple(_clean("".join(c.itertext())) for c in
                            (head if head is not None else []))
            rows = tuple(tuple(_clean("".join(c.itertext())) for c in row)
                         for row in table_element.findall("row"))
            table = Table(headers, rows)
        attachments.append(Attachment(
            number=number if len(found) > 1 else None,
            title=_clean(element.get("title", "")),
            table=table,
            paragraphs=tuple(_paragraph(p) for p in element.findall("p")),
        ))
    doc_no = text_of("docno", required=False) or None
    addressee = text_of("addressee", required=False) or None
    return Document(
        kind=kind,
        title=text_of("title") or "",
        doc_no=doc_no,
        addressee=addressee,
        body=body,
        issuer=text_of("signature") or "",
        date=text_of("date") or "",
        attachments=tuple(attachments),
        # 信函格式 is a letter's form: a 函 number on a 公示 or 通告 (no addressee) does not
        # make it one, and those are numbered from their first page
        letter=bool(addressee and doc_no and "函" in doc_no),
        issued=date.fromisoformat(issued) if (issued := _attribute(root, "date", "iso")) else None,
        copies=tuple(_clean("".join(unit.itertext())) for unit in root.findall("./copies/unit")),
    )


def _attribute(root: ET.Element, tag: str, name: str) -> str | None:
    element = root.find(tag)
    return element.get(name) if element is not None else None


def _clean(text: str) -> str:
    return text.strip()


def _paragraph(element: ET.Element) -> Paragraph:
    runs: list[Run] = []

    def add(text: str | None, style: str | None) -> None:
        text = _clean(text or "")
        if text:
            runs.append(Run(text, style))

    add(element.text, None)
    for child in element:
        if child.tag not in ("h1", "h2"):
            raise ValueError(f"<p> may hold <h1> and <h2> only, not <{child.tag}>")
        add("".join(child.itertext()), child.tag)
        add(child.tail, None)
    return Paragraph(tuple(runs), indent=element.get("indent", "2") != "0")
