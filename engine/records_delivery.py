"""Later renderings of issued notices and their deliveries (SQLModel).

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field

from gdcluster.engine.records_notice import Notice  # noqa: F401  (their foreign keys name it)
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


class Delivery(TableModel, table=True):
    """One delivery of a notice through one channel to one target, with its retries.

    Rows are created with their notice (inside the act's transaction) and worked off after
    the commit; the unique key makes each delivery recorded once, and the retry loop makes
    it happen at least once.
    """

    __tablename__ = "gd_delivery"
    __table_args__ = (
        UniqueConstraint("notice_id", "channel", "target", name="uq_gd_delivery_target"),
        Index("ix_gd_delivery_due", "status", "next_attempt_at"),
    )
    STATUSES: ClassVar[tuple[str, ...]] = ("pending", "sending", "sent", "failed")

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="gd_notice.id", index=True)
    channel: str = Field(max_length=16)
    target: str = Field(max_length=512)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None
