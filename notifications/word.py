"""The .docx rendering of a notice (python-docx), laid out after GB/T 9704-2012.

A4 with mirrored margins (top 37 mm, bottom 35 mm, binding side 28 mm, outer side 26 mm: a
156 × 225 mm text block), a 22-line grid (28.95 pt), body 3号仿宋 (16 pt), title 2号小标宋
(22 pt), run-in headings 黑体 (一、) and 楷体 (（一）), the attachment on a new page with "附件" in
3号黑体, page numbers "— N —" in 4号宋体 (odd pages right, even pages left; none on the first
page of a 函). Chinese font names are set as East Asian fonts (``w:eastAsia``), which is what Word
and LibreOffice use for CJK text. The zip entries carry the notice's date, not the time of
rendering, so the same notice renders to the same bytes.
"""

from __future__ import annotations

import copy
import io
import re
from datetime import UTC, datetime, time
from functools import cache, lru_cache
from types import SimpleNamespace
from typing import Any

from docx import Document as new_document
from docx.document import _Body
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.coreprops import CoreProperties
from docx.opc.oxml import serialize_part_xml
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Length, Mm, Pt
from docx.text.paragraph import Paragraph as DocxParagraph
from docx.text.run import Run

from gdcluster.engine.text import display_width
from gdcluster.notifications import docx_package
from gdcluster.notifications.document import Document, Paragraph, Table

__all__ = ["FONTS", "VERSION", "build"]

VERSION = "3"

FONTS = {
    "body": "仿宋_GB2312",
    "title": "方正小标宋简体",
    "h1": "黑体",
    "h2": "楷体_GB2312",
    "page": "宋体",
}
BODY_SIZE = Pt(16)  # 3号
TITLE_SIZE = Pt(22)  # 2号
TABLE_SIZE = Pt(14)  # 4号
PAGE_SIZE = Pt(14)  # 4号
LINE = Pt(28.95)  # 225 mm / 22 lines
CHAR = Pt(16)  # one 3号 character


def build(document: Document) -> bytes:
    stamp = _stamp(document)
    when = (stamp.year, stamp.month, stamp.day, 0, 0, 0)
    if not document.letter and all(item.table is None for item in document.attachments):
        return _build_on_skeleton(document, when)
    return _build_whole(document, when)


def _build_whole(document: Document, when: tuple[int, ...]) -> bytes:
    """:func:`build` on a whole python-docx document (a letter's first page has a footer of
    its own; a table needs the document's styles)."""
    word = copy.deepcopy(_blank())  # the shared set-up, parsed once per process
    word.sections[0].different_first_page_header_footer = document.letter
    _properties(word, document)
    if document.anchor:
        _anchor(word.sections[0], document.anchor, letter=document.letter)
    _compose(word, document)
    return docx_package.package(word, when)


def _build_on_skeleton(document: Document, when: tuple[int, ...]) -> bytes:
    """:func:`build` of a notice that is no letter (no first-page footer of its own) and has
    no table: only its document, its two footers and its core properties differ from the
    shared set-up, so only they are copied, filled in and serialized."""
    items, elements = _skeleton()
    own = {name: copy.deepcopy(element) for name, element in elements.items()}
    # no parent part: only paragraphs and runs are added, which never ask it for one
    word = SimpleNamespace(_body=_Body(own["document"].body, None),  # type: ignore[arg-type]
                           core_properties=CoreProperties(own["core"]))
    _properties(word, document)
    if document.anchor:
        for footer in (own["footer"], own["even"]):
            _anchor_paragraph(footer, document.anchor)
    _compose(word, document)
    return docx_package.zipped(
        [(name, serialize_part_xml(own[blob]) if isinstance(blob, str) else blob)
         for name, blob in items], when)


@cache
def _skeleton() -> tuple[list[tuple[str, bytes | str]], dict[str, Any]]:
    """The shared set-up as :func:`build` starts a notice that is no letter: its entries, in
    order, with the changing parts named (``document``, ``footer``, ``even``, ``core``)
    instead of their bytes, and those parts' elements."""
    word = copy.deepcopy(_blank())
    section = word.sections[0]
    section.different_first_page_header_footer = False
    parts = {"document": word.part,
             "footer": section.footer._get_or_add_definition(),
             "even": section.even_page_footer._get_or_add_definition(),
             "core": word.part.package._core_properties_part}
    named = {id(part): name for name, part in parts.items()}
    items = [(name, named.get(id(blob), blob) if not isinstance(blob, bytes) else blob)
             for name, blob in docx_package.entries(word)]
    items = [(name, blob if isinstance(blob, (bytes, str)) else blob.blob)
             for name, blob in items]
    return items, {name: part.element for name, part in parts.items()}


def _compose(word: Any, document: Document) -> None:
    """The notice's text in ``word``'s body: title to 版记."""
    _title(word, document.title)
    if document.doc_no:
        _paragraph(word, document.doc_no, align=WD_ALIGN_PARAGRAPH.CENTER, space_after=LINE)
    if document.addressee:
        _paragraph(word, document.addressee, indent=False)
    body = [_body(word, item) for item in document.body]
    if body:  # the signature never stands alone on a page (GB/T 9704 7.3.5.4)
        body[-1].paragraph_format.keep_together = True
        body[-1].paragraph_format.keep_with_next = True
    notes = document.attachment_note
    if notes:
        _paragraph(word, "", indent=False).paragraph_format.keep_with_next = True
        for index, line in enumerate(notes):
            paragraph = _paragraph(word, line.strip(), indent=False)
            paragraph.paragraph_format.keep_with_next = True
            paragraph.paragraph_format.left_indent = CHAR * (2 if index == 0 else 5)
            if index == 0 and len(notes) > 1:
                paragraph.paragraph_format.left_indent = CHAR * 5
                paragraph.paragraph_format.first_line_indent = -CHAR * 3
    _signature(word, document)
    for attachment in document.attachments:
        _paragraph(word, attachment.label, indent=False, font=FONTS["h1"],
                   page_break_before=True)
        _paragraph(word, attachment.title, align=WD_ALIGN_PARAGRAPH.CENTER,
                   font=FONTS["title"], size=TITLE_SIZE, line_spacing=Pt(36),
                   space_before=LINE, space_after=LINE)
        for item in attachment.paragraphs:
            _body(word, item)
        if attachment.table is not None:
            _table(word, attachment.table)
    if document.copies:  # 版记: 抄送机关 in 4号, one character in (GB/T 9704 7.4.2)
        _paragraph(word, f"抄送：{'，'.join(document.copies)}。", indent=False,
                   size=TABLE_SIZE, left_indent=CHAR, space_before=LINE)


# ---------------------------------------------------------------------------- page and styles
#: Parts of python-docx's default template a notice does not use: Word 2010's duplicate of the
#: styles, a generic thumbnail, and custom XML. Dropping them (and the latent styles) makes a
#: notice a tenth of the size and ten times faster to build.
_UNUSED_RELATIONSHIPS = ("stylesWithEffects", "thumbnail", "customXml", "webSettings")
_USED_STYLES = {"Normal", "DefaultParagraphFont", "TableNormal", "NoList", "TableGrid",
                "Header", "Footer", "HeaderChar", "FooterChar"}


@cache
def _base() -> bytes:
    """The page set-up, styles and footers every notice shares, built once per process."""
    word = new_document()
    for source in (word.part.package, word.part):
        for rid, relationship in list(source.rels.items()):
            if relationship.reltype.rsplit("/", 1)[-1] in _UNUSED_RELATIONSHIPS:
                del source.rels[rid]
    styles = word.styles.element
    for latent in styles.findall(qn("w:latentStyles")):
        styles.remove(latent)
    for style in styles.findall(qn("w:style")):
        if style.get(qn("w:styleId")) not in _USED_STYLES:
            styles.remove(style)
    _page_setup(word)
    _styles(word)
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()


@cache
def _blank() -> Any:
    """:func:`_base` opened, never changed: each notice starts from a copy of it."""
    return new_document(io.BytesIO(_base()))


def _page_setup(word: Any) -> None:
    section = word.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.gutter = Mm(0)
    section.header_distance, section.footer_distance = Mm(15), Mm(28)
    grid = section._sectPr.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        section._sectPr.append(grid)
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), str(int(LINE.pt * 20)))

    settings = word.settings
    _mirror_margins(settings.element)
    settings.odd_and_even_pages_header_footer = True
    _page_number(section.footer.paragraphs[0], WD_ALIGN_PARAGRAPH.RIGHT)
    _page_number(section.even_page_footer.paragraphs[0], WD_ALIGN_PARAGRAPH.LEFT)


#: The elements CT_Settings puts before w:mirrorMargins (ECMA-376 order, which Word enforces).
_BEFORE_MIRROR = tuple(qn(tag) for tag in (
    "w:writeProtection", "w:view", "w:zoom", "w:removePersonalInformation",
    "w:removeDateAndTime", "w:doNotDisplayPageBoundaries", "w:displayBackgroundShape",
    "w:printPostScriptOverText", "w:printFractionalCharacterWidth", "w:printFormsData",
    "w:embedTrueTypeFonts", "w:embedSystemFonts", "w:saveSubsetFonts", "w:saveFormsData",
))


def _mirror_margins(settings: Any) -> None:
    """Mirror the margins: the binding side (28 mm) alternates when printed on both sides."""
    position = 0
    for index, child in enumerate(settings):
        if child.tag in _BEFORE_MIRROR:
            position = index + 1
    settings.insert(position, OxmlElement("w:mirrorMargins"))


def _page_number(paragraph: Any, align: WD_ALIGN_PARAGRAPH) -> None:
    paragraph.alignment = align
    fmt = paragraph.paragraph_format
    if align == WD_ALIGN_PARAGRAPH.RIGHT:
        fmt.right_indent = PAGE_SIZE
    else:
        fmt.left_indent = PAGE_SIZE
    fmt.first_line_indent = Pt(0)
    _formatted_run(paragraph, "— ", FONTS["page"], PAGE_SIZE)
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    inner = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    inner.append(text)
    field.append(inner)
    paragraph._p.append(field)
    _formatted_run(paragraph, " —", FONTS["page"], PAGE_SIZE)


def _styles(word: Any) -> None:
    styles = word.styles
    normal = styles["Normal"]
    normal.font.size = BODY_SIZE
    _set_font(normal.element.get_or_add_rPr(), FONTS["body"])
    language = OxmlElement("w:lang")
    language.set(qn("w:val"), "en-US")
    language.set(qn("w:eastAsia"), "zh-CN")
    normal.element.get_or_add_rPr().append(language)
    fmt = normal.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = LINE
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    fmt.widow_control = False
    # docDefaults too, so that table styles and footers start from the same fonts
    doc_defaults = styles.element.find(qn("w:docDefaults"))
    if doc_defaults is not None:
        run_defaults = doc_defaults.find(qn("w:rPrDefault"))
        if run_defaults is not None and run_defaults.find(qn("w:rPr")) is not None:
            _set_font(run_defaults.find(qn("w:rPr")), FONTS["body"])


def _set_font(rpr: Any, name: str) -> None:
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for key in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(key), name)
    for key in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(key), None)


def _anchor(section: Any, text: str, *, letter: bool) -> None:
    """The audit chain anchor, small and centred under the page number, on every page."""
    footers = [section.footer, section.even_page_footer]
    if letter:  # its own first-page footer, otherwise empty
        footers.append(section.first_page_footer)
    for footer in footers:
        _anchor_paragraph(footer._element, text)


def _anchor_paragraph(footer: Any, text: str) -> None:
    """The anchor's paragraph added to the ``w:ftr`` element ``footer``."""
    p = copy.deepcopy(_anchor_prototype())
    footer._insert_p(p)
    if text:
        run = p.r_lst[0]
        if _TAB_OR_BREAK.search(text) is None:
            run.add_t(text)
        else:
            run.text = text


@cache
def _anchor_prototype() -> Any:
    """The anchor's paragraph in a footer, centred, its one run at 8 pt, without its text."""
    paragraph = _scratch().sections[0].footer.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.add_run().font.size = Pt(8)
    element = paragraph._p
    element.getparent().remove(element)
    return element


def _properties(word: Any, document: Document) -> None:
    properties = word.core_properties
    properties.title = _property(document.title)
    properties.subject = _property(document.kind)
    properties.author = _property(document.issuer)
    properties.last_modified_by = _property(document.issuer)
    properties.comments = document.anchor or ""
    properties.keywords = _property(document.doc_no or "")
    properties.language = "zh-CN"
    properties.revision = 1
    stamp = _stamp(document)
    properties.created = stamp
    properties.modified = stamp
    properties.last_printed = stamp


def _stamp(document: Document) -> datetime:
    day = document.issued or datetime(2000, 1, 1).date()
    return datetime.combine(day, time(0), UTC)


# ---------------------------------------------------------------------------- blocks
# Runs and paragraphs are copied from prototypes formatted once through python-docx (the
# same XML as formatting each through it, which is most of a notice's build time).
@cache
def _scratch() -> Any:
    """A document the prototypes are made in; never saved."""
    return new_document(io.BytesIO(_base()))


@cache
def _run_prototype(font: str, size: int) -> Any:
    """An empty ``w:r`` in ``font`` at ``size``, as ``add_run`` and the font settings make it."""
    element = _formatted_run(_scratch().add_paragraph(), "", font, Emu(size))._r
    element.getparent().remove(element)
    return element


@lru_cache(maxsize=256)
def _paragraph_prototype(align: WD_ALIGN_PARAGRAPH | None, indent: bool,
                         formats: tuple[tuple[str, Any], ...]) -> Any:
    """An empty ``w:p`` aligned (or justified and indented) as :func:`_paragraph` asks, then
    given each of ``formats`` (``paragraph_format`` attributes, in their order)."""
    paragraph = _scratch().add_paragraph()
    if align is not None:
        paragraph.alignment = align
    elif indent:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        paragraph.paragraph_format.first_line_indent = CHAR * 2
    for name, value in formats:
        setattr(paragraph.paragraph_format, name, value)
    element = paragraph._p
    element.getparent().remove(element)
    return element


def _formatted_run(paragraph: Any, text: str, font: str, size: Length) -> Any:
    """``paragraph.add_run(text)`` in ``font`` at ``size``, formatted through python-docx."""
    run = paragraph.add_run(text)
    run.font.size = size
    _set_font(run._r.get_or_add_rPr(), font)
    return run


def _run(paragraph: Any, text: str, font: str, size: Length) -> Any:
    """``paragraph.add_run(text)`` in ``font`` at ``size``."""
    r = copy.deepcopy(_run_prototype(font, int(size)))
    paragraph._p.append(r)
    if text:  # what ``r.text = text`` writes, without its character-by-character pass
        if _TAB_OR_BREAK.search(text) is None:
            r.add_t(text)
        else:
            r.text = text
    return Run(r, paragraph)


def _paragraph(word: Any, text: str, *, align: WD_ALIGN_PARAGRAPH | None = None,
               indent: bool = True, font: str | None = None, size: Pt = BODY_SIZE,
               **formats: Any) -> Any:
    """``word.add_paragraph()`` aligned, or justified with a first-line indent, with ``text``
    in one run; ``formats``: ``paragraph_format`` attributes to set (``keep_with_next=True``),
    in their order. (Set before the run is added: ``w:pPr`` comes first all the same.)"""
    p = copy.deepcopy(_paragraph_prototype(align, indent if align is None else True,
                                           tuple(formats.items())))
    body = word._body
    body._element._insert_p(p)
    paragraph = DocxParagraph(p, body)
    if text:
        _run(paragraph, text, font or FONTS["body"], size)
    return paragraph


def _title(word: Any, text: str) -> None:
    _paragraph(word, text, align=WD_ALIGN_PARAGRAPH.CENTER, font=FONTS["title"],
               size=TITLE_SIZE, line_spacing=Pt(36), space_after=LINE)


def _body(word: Any, item: Paragraph) -> Any:
    paragraph = _paragraph(word, "", indent=item.indent)
    for run in item.runs:
        _run(paragraph, run.text, FONTS.get(run.style or "body", FONTS["body"]), BODY_SIZE)
    return paragraph


def _signature(word: Any, document: Document) -> None:
    """署名 centred over 成文日期; the date 4 characters from the right edge (GB/T 9704 7.3.5)."""
    for _ in range(2):  # 空二行
        _paragraph(word, "", indent=False, keep_with_next=True)
    date_width = display_width(document.date)  # in half-character columns
    issuer_width = display_width(document.issuer)
    _paragraph(word, document.issuer, align=WD_ALIGN_PARAGRAPH.RIGHT, keep_with_next=True,
               right_indent=Emu(max(int(CHAR * 4 + (date_width - issuer_width) * CHAR / 4),
                                    0)))
    _paragraph(word, document.date, align=WD_ALIGN_PARAGRAPH.RIGHT, right_indent=CHAR * 4)


#: Relative column widths by header; the table spans the 156 mm text block.
COLUMN_WEIGHTS = {"序号": 1.0, "地市": 1.6, "县（市、区）": 2.1, "集群名称": 4.3,
                  "主导产业": 2.1, "认定有效期": 3.4}


def _table(word: Any, table: Table) -> None:
    grid = word.add_table(rows=1, cols=len(table.headers))
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    weights = [COLUMN_WEIGHTS.get(header, 2.0) for header in table.headers]
    widths = [Emu(int(Mm(156) * weight / sum(weights))) for weight in weights]
    header_row = grid.rows[0]
    header_props = header_row._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")  # repeat the header on every page
    header_props.append(repeat)
    for cell, text in zip(header_row.cells, table.headers, strict=True):
        _cell(cell, text, FONTS["h1"])
    if table.rows:
        # Format one empty row through python-docx, then copy its XML for every row and set
        # the texts: the same document, without formatting (and sizing) each cell through
        # python-docx, which takes milliseconds a row and seconds for a round's list.
        first = grid.add_row()
        for cell, width in zip(first.cells, widths, strict=True):
            _cell(cell, "", FONTS["body"])
            cell.width = width
        template = copy.deepcopy(first._tr)
        rows = iter(table.rows)
        _fill(first._tr, next(rows))
        for row in rows:
            tr = copy.deepcopy(template)
            grid._tbl.append(tr)
            _fill(tr, row)
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width
    for cell, width in zip(header_row.cells, widths, strict=True):
        cell.width = width


def _fill(tr: Any, texts: tuple[str, ...]) -> None:
    """Put ``texts`` into the one run of each cell of a copied row (as ``add_run`` does).

    The copied runs are empty, so for text without tabs or line breaks what ``run.text =``
    writes is one ``<w:t>``: added directly, without python-docx's character-by-character
    translation, which costs more than the rest of a long list's table."""
    for tc, text in zip(tr.tc_lst, texts, strict=True):
        run = tc.p_lst[0].r_lst[0]
        if text and _TAB_OR_BREAK.search(text) is None:
            run.add_t(text)
        else:
            run.text = text


_TAB_OR_BREAK = re.compile(r"[\t\r\n]")


def _cell(cell: Any, text: str, font: str) -> None:
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    paragraph = cell.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    paragraph.paragraph_format.first_line_indent = Pt(0)
    _run(paragraph, text, font, TABLE_SIZE)


#: python-docx refuses a core property (title, author, keywords) over 255 characters.
PROPERTY_LIMIT = 255


def _property(value: str) -> str:
    """A core property as Word's file properties show it: a title built from a 10,000-character
    cluster name is shortened there, with an ellipsis; the document body keeps it whole."""
    return value if len(value) <= PROPERTY_LIMIT else value[: PROPERTY_LIMIT - 1] + "…"
