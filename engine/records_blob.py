"""The bytes of attached files (SQLModel), one row per SHA-256.

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field

from gdcluster.engine.tablebase import TableModel


class AttachmentBlob(TableModel, table=True):
    """The bytes of attached files, one row per SHA-256 of their content."""

    __tablename__ = "gd_attachment_blob"
    sha256: str = Field(primary_key=True, max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
