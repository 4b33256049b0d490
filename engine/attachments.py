"""Attachments (附件): files attached to a case by their own audited act, ``attach``.

A file is accepted when its kind is one of ``states/attachments.toml``'s, its size within the
limit there, and its content (magic bytes, not the name's extension) one of the types there:
pdf, jpg, png, and the ZIP containers docx, xlsx and ofd, told apart by the parts they hold.
Its bytes are stored once per SHA-256 (``gd_attachment_blob``); the attachment row names the
case, kind, original name, size, media type, who attached it and the audit row of that act,
whose payload records the hash. Reading the bytes back checks them against the hash.

An act that carries evidence (a row of ``workflow.toml`` that accepts ``attachments``: a
陈述申辩, an objection, a 复核申报, an annual report, a revocation decision …) stores its files
the same way, inside its own transaction, after its checks and its effect
(:func:`store_evidence`); its audit row lists their hashes under ``attachments``. A refused
act stores nothing.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from gdcluster.engine.errors import EngineError, InvalidInput, NotFound
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col
from gdcluster.engine.parse import clean_text
from gdcluster.states.attachments import load_attachment_rules

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.acts import Act

__all__ = ["EVIDENCE", "MAX_EVIDENCE_FILES", "AttachmentCorrupted", "attachment_content",
           "attachments_of", "file_type", "link_audit_row", "store_attachment", "store_evidence"]

#: The payload key of the files an act carries (a list of {content, name, kind, note?}).
EVIDENCE = "attachments"
#: The most files one act carries.
MAX_EVIDENCE_FILES = 20


def _listed() -> tuple[Any, ...]:
    """What the listing shows of an attachment (never the bytes). The attachment tables are
    defined when first used: an act that carries no file (the lifecycle imports this module)
    never defines them."""
    from gdcluster.engine.records import Attachment

    return (col(Attachment.id), col(Attachment.sha256), col(Attachment.size),
            col(Attachment.media_type), col(Attachment.name), col(Attachment.kind),
            col(Attachment.note), col(Attachment.actor), col(Attachment.audit_seq),
            col(Attachment.attached_at))

#: ZIP-based formats by a part only they hold.
_ZIP_PARTS = (("docx", "word/document.xml"), ("xlsx", "xl/workbook.xml"), ("ofd", "OFD.xml"))


class AttachmentCorrupted(EngineError):
    """The stored bytes no longer hash to the attachment's SHA-256: nothing is handed out
    (exit 1, as for any damage the engine did not expect)."""

    exit_code = 1
    code = "attachment_corrupted"


def file_type(content: bytes) -> str | None:
    """The type name (pdf, jpg, png, docx, xlsx, ofd) ``content`` is, by its bytes; None when
    it is none of them."""
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError):
            return None
        for name, part in _ZIP_PARTS:
            if part in names:
                return name
    return None


def store_attachment(session: Session, *, case_id: int, content: Any, name: str, kind: str,
                     note: str | None, actor: str, now: datetime) -> dict[str, Any]:
    """Check and store one file of case ``case_id``; returns what the audit row records
    (``InvalidInput`` naming ``file`` or ``kind`` when the file is refused)."""
    from gdcluster.engine.records import Attachment, AttachmentBlob

    rules = load_attachment_rules()
    if kind not in rules.kinds:
        raise InvalidInput(Message("unknown kind {kind!r}; use one of {kinds}", kind=kind,
                                   kinds=", ".join(rules.kinds)), field="kind")
    if not isinstance(content, bytes | bytearray | memoryview):
        raise InvalidInput("must be the file's bytes", field="content")
    content = bytes(content)
    if not content:
        raise InvalidInput(Message("{name} is empty", name=name), field="file")
    if len(content) > rules.max_size:
        raise InvalidInput(Message("{name} is {size:,} bytes; the limit is {limit:,} bytes "
                                   "({mib} MiB)", name=name, size=len(content),
                                   limit=rules.max_size, mib=rules.max_size // 1048576),
                           field="file")
    found = file_type(content)
    media_type = rules.media_type(found) if found is not None else None
    if media_type is None:
        raise InvalidInput(Message("{name} is not one of the accepted file types ({types}), "
                                   "judged by its content, not its name", name=name,
                                   types=", ".join(item.name for item in rules.types)),
                           field="file")
    sha256 = hashlib.sha256(content).hexdigest()
    if session.get(AttachmentBlob, sha256) is None:
        _insert_blob(session, sha256, content)
    session.add(Attachment(case_id=case_id, sha256=sha256, size=len(content),
                           media_type=media_type, name=name, kind=kind, note=note, actor=actor,
                           attached_at=now))
    session.flush()
    return {"sha256": sha256, "size": len(content), "media_type": media_type, "name": name,
            "kind": kind, "note": note}


def store_evidence(act: Act) -> None:
    """Store the files the act carries (``act.payload["attachments"]``) on its case, in its
    transaction, and list them in its audit row; a file refused names its place
    (``attachments[N].file``) and the whole act is refused with it."""
    files = act.payload.get(EVIDENCE)
    if files is None:
        return
    if not isinstance(files, list | tuple) or not all(isinstance(item, dict) for item in files):
        raise InvalidInput(Message("must be a list of files, each with its content, name and "
                                   "kind"), field=EVIDENCE)
    if len(files) > MAX_EVIDENCE_FILES:
        raise InvalidInput(Message("{count} files; an act carries at most {limit}",
                                   count=len(files), limit=MAX_EVIDENCE_FILES), field=EVIDENCE)
    assert act.case.id is not None
    stored = []
    for index, item in enumerate(files):
        try:
            name = clean_text(item.get("name"), "name", limit=255, one_line=True) or ""
            kind = clean_text(item.get("kind"), "kind", limit=32, one_line=True) or ""
            note = clean_text(item.get("note"), "note", required=False)
            stored.append(store_attachment(
                act.session, case_id=act.case.id, content=item.get("content"), name=name,
                kind=kind, note=note, actor=str(act.actor), now=act.now))
        except InvalidInput as error:
            field = f"{EVIDENCE}[{index}]." + str(error.facts.get("field") or "file")
            raise InvalidInput(error.detail, field=field) from None
    act.audit[EVIDENCE] = stored


def _insert_blob(session: Session, sha256: str, content: bytes) -> None:
    """``INSERT … ON CONFLICT DO NOTHING``: two acts attaching the same bytes at once (on
    PostgreSQL) both succeed, and the bytes are kept once."""
    from gdcluster.engine.records import AttachmentBlob

    insert = import_module(f"sqlalchemy.dialects.{session.get_bind().dialect.name}").insert
    session.execute(insert(AttachmentBlob).values(sha256=sha256, content=content)
                    .on_conflict_do_nothing(index_elements=["sha256"]))


def link_audit_row(session: Session, case_id: int | None, seq: int) -> None:
    """Name the audit row ``seq`` on the attachments its act just stored (in its
    transaction, right after the row is appended)."""
    from gdcluster.engine.records import Attachment

    session.execute(update(Attachment)
                    .where(col(Attachment.case_id) == case_id, col(Attachment.audit_seq).is_(None))
                    .values(audit_seq=seq))


def attachments_of(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's attachments, oldest first, without their bytes."""
    from gdcluster.engine.records import Attachment

    return [dict(row._mapping) for row in session.execute(
        select(*_listed()).where(col(Attachment.case_id) == case_id).order_by(col(Attachment.id)))]


def attachment_content(session: Session, case_id: int, sha256: str) -> tuple[dict[str, Any],
                                                                            bytes]:
    """The attachment of case ``case_id`` whose SHA-256 is ``sha256`` (or starts with it, when
    that names one; at least 8 hex digits) and its bytes, checked against the hash."""
    from gdcluster.engine.records import Attachment, AttachmentBlob

    prefix = sha256.strip().lower() if isinstance(sha256, str) else ""
    if len(prefix) < 8 or len(prefix) > 64 or any(ch not in "0123456789abcdef" for ch in prefix):
        raise InvalidInput("give the attachment's SHA-256 (at least its first 8 hex digits)",
                           field="sha256")
    rows = [dict(row._mapping) for row in session.execute(
        select(*_listed()).where(col(Attachment.case_id) == case_id,
                               col(Attachment.sha256).startswith(prefix))
        .order_by(col(Attachment.id)))]
    if len({row["sha256"] for row in rows}) > 1:
        raise InvalidInput(Message("{prefix} names several attachments of case {id}: give "
                                   "more of the hash", prefix=prefix, id=case_id),
                           field="sha256")
    if not rows:
        raise NotFound(Message("attachment of case {id}", id=case_id), prefix)
    row = rows[0]
    content = session.scalar(select(col(AttachmentBlob.content))
                             .where(col(AttachmentBlob.sha256) == row["sha256"]))
    if content is None or hashlib.sha256(bytes(content)).hexdigest() != row["sha256"]:
        raise AttachmentCorrupted(Message("the stored bytes of {name} do not match its SHA-256 "
                                          "{sha256}", name=row["name"], sha256=row["sha256"]),
                                  case_id=case_id, sha256=row["sha256"])
    return row, bytes(content)
