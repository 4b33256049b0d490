"""Deliveries of issued notices (SQLModel): one per channel and target, with its retries.

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from gdcluster.engine.records_notice import Notice  # noqa: F401  (its foreign key names it)
from gdcluster.engine.tablebase import TableModel


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
