"""Attachments (附件): attached on their own audited act with the file's SHA-256 in the audit
row, stored once per hash apart from the list, recognized by content (not name), limited in
size, listed, written back out verified against the hash — on SQLite and PostgreSQL, through
the engine and the CLI; and a database made at 0006 upgrades to hold them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text, update
from support import CITY, PROVINCE, Walker

from gdcluster.cli import cli
from gdcluster.engine import Engine, InvalidInput, PermissionDenied, TransitionRefused
from gdcluster.engine.attachments import AttachmentCorrupted, file_type
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.records import Attachment, AttachmentBlob
from gdcluster.states.attachments import AttachmentDataError, parse_attachment_rules

DATA = Path(__file__).parent / "data"
PDF = (DATA / "proof.pdf").read_bytes()
NANHAI = "county:佛山市南海区@李四"


def zipped(part: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(part, "<x/>")
    return buffer.getvalue()


def xlsx() -> bytes:
    from openpyxl import Workbook

    buffer = io.BytesIO()
    Workbook().save(buffer)
    return buffer.getvalue()


def docx() -> bytes:
    from docx import Document

    buffer = io.BytesIO()
    Document().save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("content", "expected"), [
    pytest.param(PDF, "pdf", id="pdf"),
    pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpg", id="jpg"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png", id="png"),
    pytest.param(docx(), "docx", id="docx"),
    pytest.param(xlsx(), "xlsx", id="xlsx"),
    pytest.param(zipped("OFD.xml"), "ofd", id="ofd"),
    pytest.param(zipped("other.xml"), None, id="zip-of-something-else"),
    pytest.param(b"PK\x03\x04 not a zip at all", None, id="broken-zip"),
    pytest.param(b"MZ\x90\x00 an executable", None, id="exe"),
    pytest.param("%PDF 伪装".encode()[1:], None, id="text"),
])
def test_file_types_are_told_by_content(content: bytes, expected: str | None) -> None:
    assert file_type(content) == expected


def test_attachment_rules_are_validated_when_loaded() -> None:
    good = {"max_size_mb": 1, "kinds": ["证明材料"],
            "types": [{"name": "pdf", "media_type": "application/pdf"}]}
    assert parse_attachment_rules(good).max_size == 1024 * 1024
    for broken in ({**good, "kinds": []}, {**good, "kinds": ["a", "a"]},
                   {**good, "types": [{"name": "exe", "media_type": "x"}]},
                   {**good, "max_size_mb": 0}, {**good, "types": []}):
        with pytest.raises(AttachmentDataError):
            parse_attachment_rules(broken)


def test_attach_records_the_hash_in_the_audit_row_and_stores_bytes_once(
        engine: Engine, walker: Walker) -> None:
    """Two cases, the same file: one blob, two attachment rows, each linked to its act's
    audit row, whose payload carries the SHA-256; the act bumps the version and leaves the
    state; the chain verifies; the bytes come back verified, by full hash or a prefix."""
    first = walker.to("submitted")
    second = walker.create("南海第二产业集群", "佛山市南海区")
    sha = hashlib.sha256(PDF).hexdigest()
    version = engine.get(first).version
    row = engine.attach(first, CITY, PDF, name="产值证明.pdf", kind="证明材料", note="2023年")
    assert (row["sha256"], row["size"], row["media_type"], row["kind"], row["name"],
            row["note"]) == (sha, len(PDF), "application/pdf", "证明材料", "产值证明.pdf",
                             "2023年")
    engine.attach(second, NANHAI, PDF, name="copy.pdf", kind="其他")
    assert (engine.get(first).state, engine.get(first).version) == ("submitted", version + 1)
    history = engine.history(first)[-1]
    assert history["trigger"] == "attach" and history["payload"]["sha256"] == sha
    assert row["audit_seq"] == history["seq"]
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(AttachmentBlob)) == 1
        assert session.scalar(select(func.count()).select_from(Attachment)) == 2
    assert engine.verify_audit().ok
    assert engine.attachment(first, sha) == (row, PDF)
    assert engine.attachment(first, sha[:8].upper())[1] == PDF
    assert engine.case_file(first).attachments == [row]


def test_refused_files_write_nothing(engine: Engine, walker: Walker) -> None:
    """A text file named .pdf, an unknown kind, an empty or too large file: exit-2 errors
    naming the field, and no row, blob or audit row is written."""
    case_id = walker.to("submitted")
    before = engine.audit_length()
    cases = [
        (b"just text, named like a pdf", "fake.pdf", "证明材料", "file", "accepted file types"),
        (PDF, "a.pdf", "照片", "kind", "证明材料, 陈述申辩, 异议证据, 复核材料, 其他"),
        (b"", "empty.pdf", "证明材料", "file", "empty"),
        (b"%PDF-" + b"0" * (20 * 1024 * 1024), "big.pdf", "证明材料", "file", "limit"),
    ]
    for content, name, kind, field, words in cases:
        with pytest.raises(InvalidInput) as refused:
            engine.attach(case_id, NANHAI, content, name=name, kind=kind)
        assert refused.value.field == field and words in refused.value.message, name
        assert refused.value.exit_code == 2
    assert engine.audit_length() == before
    assert engine.attachments(case_id) == []
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(AttachmentBlob)) == 0


def test_who_may_attach_and_when(engine: Engine, walker: Walker) -> None:
    """The case's county, city and the province may; another city may not (exit 4); a
    withdrawn case takes no attachment (exit 3)."""
    case_id = walker.to("submitted")
    for actor in (NANHAI, CITY, PROVINCE):
        engine.attach(case_id, actor, PDF, name="a.pdf", kind="证明材料")
    with pytest.raises(PermissionDenied):
        engine.attach(case_id, "city:广州市", PDF, name="a.pdf", kind="证明材料")
    withdrawn = walker.to("withdrawn", name="南海撤回产业集群")
    with pytest.raises(TransitionRefused):
        engine.attach(withdrawn, NANHAI, PDF, name="a.pdf", kind="证明材料")


def test_changed_bytes_are_refused_on_export(engine: Engine, walker: Walker) -> None:
    case_id = walker.to("submitted")
    sha = engine.attach(case_id, NANHAI, PDF, name="a.pdf", kind="证明材料")["sha256"]
    with engine.store.write() as session:
        session.execute(update(AttachmentBlob).values(content=PDF + b"tampered"))
    with pytest.raises(AttachmentCorrupted) as caught:
        engine.attachment(case_id, sha)
    assert sha in caught.value.message
    with pytest.raises(InvalidInput):
        engine.attachment(case_id, "abc")  # too short to name one


RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None})


def test_cli_attach_list_show_and_export(db_url: str, engine: Engine, walker: Walker,
                                         tmp_path: Path) -> None:
    """`case attach`, `case attachments`, `case show` and `case attachment -o` (verified)."""
    case_id = str(walker.to("submitted"))

    def gd(*args: str) -> str:
        result = RUNNER.invoke(cli, ["--db", db_url, *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    sha = hashlib.sha256(PDF).hexdigest()
    out = gd("--as", NANHAI, "--now", "2024-03-02T09:00", "case", "attach", case_id,
             str(DATA / "proof.pdf"), "--kind", "证明材料", "--note", "产值证明")
    assert sha in out and "证明材料" in out
    listed = json.loads(gd("--json", "case", "attachments", case_id))
    assert [(row["sha256"], row["name"], row["actor"]) for row in listed] == [
        (sha, "proof.pdf", NANHAI.split("@")[0] + "@李四")]
    assert "content" not in listed[0]
    shown = gd("case", "show", case_id)
    assert "attachments:" in shown and sha[:12] in shown and "产值证明" in shown
    target = tmp_path / "back.pdf"
    gd("case", "attachment", case_id, sha[:12], "-o", str(target))
    assert target.read_bytes() == PDF
    bad = tmp_path / "fake.pdf"
    bad.write_text("not a pdf", "utf-8")
    result = RUNNER.invoke(cli, ["--db", db_url, "--as", NANHAI, "--now", "2024-03-02T10:00",
                                 "case", "attach", case_id, str(bad), "--kind", "证明材料"])
    assert result.exit_code == 2 and "accepted file types" in result.stderr
    result = RUNNER.invoke(cli, ["--db", db_url, "--as", NANHAI, "--now", "2024-03-02T10:00",
                                 "case", "attach", case_id, str(tmp_path / "missing.pdf"),
                                 "--kind", "证明材料"])
    assert result.exit_code == 2 and "missing.pdf" in result.stderr


def test_a_database_made_at_0006_upgrades_and_takes_attachments(db_url: str,
                                                                 application: dict) -> None:
    """A database at 0006 with a submitted case: `init` upgrades it (the two tables appear,
    nothing else changes) and the case takes an attachment; the chain verifies."""
    from alembic import command
    from alembic.config import Config

    from gdcluster.engine import migrations
    from gdcluster.engine.store import Store, resolve_url

    clock = FakeClock("2024-03-01T09:00")
    engine = Engine.init(db_url, simulation=True, clock=clock)
    try:
        case_id = Walker(engine, clock, application).to("submitted")
    finally:
        engine.close()
    store = Store(resolve_url(db_url), create=False)
    try:
        config = Config()
        config.set_main_option("script_location", os.path.dirname(migrations.__file__))
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006_lifecycle_recognition")
            connection.execute(text("UPDATE gd_meta SET value = '0006_lifecycle_recognition' "
                                    "WHERE key = 'schema_revision'"))
        with store.engine.connect() as connection:
            tables = set(store.engine.dialect.get_table_names(connection))
            assert "gd_attachment" not in tables and "gd_case" in tables
    finally:
        store.dispose()
    engine = Engine.init(db_url, simulation=True, clock=FakeClock("2024-03-02T09:00"))
    try:
        assert engine.get(case_id).state == "submitted"
        row = engine.attach(case_id, NANHAI, PDF, name="a.pdf", kind="证明材料")
        assert engine.attachments(case_id) == [row]
        assert engine.verify_audit().ok
    finally:
        engine.close()
