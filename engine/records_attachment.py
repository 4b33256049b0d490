"""Attached files (SQLModel): what was attached by whom (the bytes: ``records_blob``).

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field

# defines gd_case, the table this module's foreign keys name, on the same metadata
import gdcluster.engine.case_models  # noqa: F401
from gdcluster.engine.tablebase import TableModel


class Attachment(TableModel, table=True):
    """A file attached to a case by its own audited act (``attach``): what it is and who
    attached it when. The bytes are kept once per SHA-256 in ``AttachmentBlob``, so that
    listing a case's attachments never reads them; the hash is in the act's audit row too."""

    __tablename__ = "gd_attachment"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    size: int
    media_type: str = Field(max_length=128)
    name: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(max_length=32)
    note: str | None = Field(default=None, sa_column=Column(Text))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    #: The audit row of the act that attached it (set in that act's transaction).
    audit_seq: int | None = Field(default=None, index=True)
    attached_at: datetime
