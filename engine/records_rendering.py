"""Later renderings of issued notices (SQLModel).

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field

# defines gd_case, the table this module's foreign keys name, on the same metadata
import gdcluster.engine.case_models  # noqa: F401
from gdcluster.engine.records_notice import Notice  # noqa: F401  (its foreign key names it)
from gdcluster.engine.tablebase import TableModel


class Rendering(TableModel, table=True):
    """An issued notice rendered again later (another format, a newer template), kept beside it.

    The issued ``Notice`` rows are never changed: a rendering made afterwards from the same act
    (``audit_seq``) is its own row, linked to the issued notice (``notice_id``), with its own
    bytes, hash, template versions and outbox path. The same bytes are recorded once.
    """

    __tablename__ = "gd_rendering"
    __table_args__ = (
        UniqueConstraint("audit_seq", "kind", "format", "sha256", name="uq_gd_rendering_body"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="gd_notice.id", index=True)
    audit_seq: int = Field(index=True)
    kind: str = Field(max_length=32)
    format: str = Field(max_length=8)
    case_id: int | None = Field(default=None, foreign_key="gd_case.id")
    #: The year of the round it is about; its ``kind`` tells which round of the year.
    round_year: int | None = None
    title: str = Field(sa_column=Column(Text, nullable=False))
    doc_no: str | None = Field(default=None, max_length=64)
    template: str = Field(max_length=64)
    template_version: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    size: int
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))
    actor: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime
    attest_seq: int | None = Field(default=None, index=True)
