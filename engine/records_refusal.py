"""Refused attempts (SQLModel), for security review.

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field

from gdcluster.engine.tablebase import TableModel


class Refusal(TableModel, table=True):
    """Refused attempts (permission, guard, state), for security review. Vouched for by the next
    audit row appended (``attest_seq``)."""

    __tablename__ = "gd_refusal"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str = Field(sa_column=Column(Text, nullable=False))
    trigger: str = Field(max_length=32)
    case_id: int | None = Field(default=None, index=True)
    round_year: int | None = None
    code: str = Field(max_length=32)
    message: str = Field(sa_column=Column(Text, nullable=False))
    attest_seq: int | None = Field(default=None, index=True)
