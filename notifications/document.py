"""A notice as GB/T 9704 elements (title, 发文字号, paragraphs, attachments with tables,
signature, date), independent of the output format: the rendering parses the wording template
into a :class:`Document`; the text and HTML layouts and the .docx writer lay it out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["Attachment", "Document", "Paragraph", "Run", "Table"]

Day = date  # the field ``Document.date`` (text) hides the type inside the class


@dataclass(frozen=True)
class Run:
    text: str
    style: str | None = None  # None (仿宋), "h1" (黑体), "h2" (楷体)


@dataclass(frozen=True)
class Paragraph:
    runs: tuple[Run, ...]
    indent: bool = True

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Attachment:
    number: int | None  # None when the notice has a single attachment ("附件")
    title: str
    table: Table | None = None
    paragraphs: tuple[Paragraph, ...] = ()

    @property
    def label(self) -> str:
        return "附件" if self.number is None else f"附件{self.number}"


@dataclass(frozen=True)
class Document:
    """A notice laid out by GB/T 9704 elements, independent of the output format."""

    kind: str
    title: str
    doc_no: str | None
    addressee: str | None
    body: tuple[Paragraph, ...]
    issuer: str
    date: str
    attachments: tuple[Attachment, ...] = ()
    letter: bool = False  # 信函格式 (a letter with a …函〔Y〕N号 number): first page unnumbered
    issued: Day | None = None
    copies: tuple[str, ...] = ()  # 抄送机关, printed in the 版记 at the end
    #: The audit chain as the act found it, short form ("存证 12·<16 hex>"), printed small in
    #: the footer of every page of the HTML, PDF and .docx (None: not tied to an act).
    anchor: str | None = None

    @property
    def attachment_note(self) -> list[str]:
        """"附件：" lines; no punctuation after the names (GB/T 9704 7.3.4)."""
        if not self.attachments:
            return []
        if len(self.attachments) == 1:
            return [f"附件：{self.attachments[0].title}"]
        lines = [f"附件：1.{self.attachments[0].title}"]
        lines += [f"　　　{a.number}.{a.title}" for a in self.attachments[1:]]
        return lines
