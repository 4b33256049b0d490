"""The .docx of a notice is built fast (issue 16 point 3) and its bytes are python-docx's.

``word.build`` builds the usual notice (no letter, no table) on a cached skeleton of the
shared set-up, and zips every notice itself (``notifications/docx_package.py``), compressing
each distinct part once. Both are checked here against python-docx's own ``save`` of the
whole document, re-zipped with every entry dated the notice's date (what the notices did
before): the same bytes, for a reminder, a letter, a list with its table, texts with tabs,
line breaks and padding, long titles, no anchor, no date.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import date

import pytest

from gdcluster.notifications import word
from gdcluster.notifications.document import Attachment, Document, Paragraph, Run, Table

REMINDER = Document(
    kind="report_reminder",
    title="关于报送示例产业集群2024年度发展情况的提醒",
    doc_no=None,
    addressee="广州市荔湾区中小企业主管部门、示例产业集群运营管理机构：",
    body=(Paragraph((Run("根据有关工作要求，集群应于每年3月31日前报送上一年度发展情况。"),)),
          Paragraph((Run("一、", "h1"), Run("报送要求"), Run("（一）", "h2"),
                     Run("请如实填报。")))),
    issuer="广东省工业和信息化厅",
    date="2025年3月1日",
    issued=date(2025, 3, 1),
    copies=("广州市工业和信息化局",),
    anchor="存证 50·d890925bd1ead476",
)
LIST = Table(("序号", "地市", "集群名称"),
             tuple((str(number), "广州市", f" 集群\t{number} ") for number in range(1, 31)))
DOCUMENTS = {
    "reminder": REMINDER,
    "letter": replace(REMINDER, doc_no="粤工信服务函〔2024〕5号", letter=True),
    "letter without anchor": replace(REMINDER, doc_no="粤工信服务函〔2024〕5号", letter=True,
                                     anchor=None),
    "no anchor, no copies, no date": replace(REMINDER, anchor=None, copies=(), issued=None),
    "tabs, breaks and padding": replace(
        REMINDER, title="标题\t甲\n乙 ", addressee=" 对象\r\n", anchor="存证\t1",
        body=(Paragraph((Run("甲\t乙\n丙"), Run(" ", "h1")), indent=False),)),
    "long title and issuer": replace(REMINDER, title="长" * 400, issuer="厅" * 300),
    "attachments without a table": replace(REMINDER, attachments=(
        Attachment(None, "附件说明", None, (Paragraph((Run("说明文字"),)),)),)),
    "a list": replace(REMINDER, attachments=(
        Attachment(1, "名单", LIST, (Paragraph((Run("说明"),)),)),
        Attachment(2, "空表", Table(("序号", "地市"), ()), ()))),
}


def saved_by_python_docx(document: Document) -> bytes:
    """The whole document built through python-docx and written by its ``save``, every zip
    entry then dated the notice's date."""
    captured = []

    def save(docx: object, when: tuple[int, ...]) -> bytes:
        buffer = io.BytesIO()
        docx.save(buffer)  # type: ignore[attr-defined]
        captured.append(when)
        return buffer.getvalue()

    original = word.docx_package.package
    word.docx_package.package = save  # type: ignore[assignment]
    try:
        stamp = word._stamp(document)
        data = word._build_whole(document, (stamp.year, stamp.month, stamp.day, 0, 0, 0))
    finally:
        word.docx_package.package = original
    [when] = captured
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=when)  # type: ignore[arg-type]
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_a_notice_docx_is_what_python_docx_saves(name: str) -> None:
    document = DOCUMENTS[name]
    built = word.build(document)
    assert built == saved_by_python_docx(document)
    assert word.build(document) == built  # and again, from the caches
    names = zipfile.ZipFile(io.BytesIO(built)).namelist()
    assert names[0] == "[Content_Types].xml" and "word/document.xml" in names


def test_the_skeleton_builds_the_usual_notice_and_the_whole_document_the_rest() -> None:
    """Which path each notice takes: the skeleton for no letter and no table."""
    taken = []
    original = word._build_on_skeleton

    def spy(document: Document, when: tuple[int, ...]) -> bytes:
        taken.append(document.kind)
        return original(document, when)

    word._build_on_skeleton = spy  # type: ignore[assignment]
    try:
        for name in ("reminder", "letter", "a list", "attachments without a table"):
            word.build(replace(DOCUMENTS[name], kind=name))
    finally:
        word._build_on_skeleton = original  # type: ignore[assignment]
    assert taken == ["reminder", "attachments without a table"]
