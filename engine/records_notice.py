"""Official notices as issued (SQLModel).

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field

# defines gd_case, the table this module's foreign keys name, on the same metadata
import gdcluster.engine.case_models  # noqa: F401
from gdcluster.engine.tablebase import TableModel


class Notice(TableModel, table=True):
    """One official notice as issued, in one format (DESIGN §10).

    Written by ``gdcluster.notifications`` inside the transaction of the act it announces
    (``audit_seq``), so a notice exists exactly when its act does. ``body`` is the issued
    document itself; ``sha256`` is over those bytes and over the outbox file at ``path``.
    """

    __tablename__ = "gd_notice"
    __table_args__ = (
        UniqueConstraint("audit_seq", "kind", "format", name="uq_gd_notice_act"),
        Index("ix_gd_notice_round_kind", "round_year", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    format: str = Field(max_length=8)
    case_id: int | None = Field(default=None, foreign_key="gd_case.id", index=True)
    #: The year of the round it is about; its ``kind`` tells which round of the year.
    round_year: int | None = None
    audit_seq: int = Field(index=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    doc_no: str | None = Field(default=None, max_length=64)
    template: str = Field(max_length=64)
    template_version: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    size: int
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    #: The audit chain as the act found it (its last row's ``seq`` and ``hash``), also printed
    #: in the notice's footer: every copy handed out anchors the chain up to there.
    anchor_seq: int | None = None
    anchor_hash: str | None = Field(default=None, max_length=64)
    attest_seq: int | None = Field(default=None, index=True)
