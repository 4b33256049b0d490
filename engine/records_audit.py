"""The audit chain (SQLModel): its rows, hash-chained (the head: ``records_audit_head``).

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field

from gdcluster.engine.tablebase import TableModel


class AuditEntry(TableModel, table=True):
    """Append-only, hash-chained: ``hash = sha256(canonical JSON of the row incl. prev_hash)``."""

    __tablename__ = "gd_audit"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    case_id: int | None = Field(default=None, index=True)
    round_year: int | None = None
    actor: str = Field(sa_column=Column(Text, nullable=False))
    trigger: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    article: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    #: What else the row vouches for (canonical JSON, hashed with the row when set): the case
    #: as the act left it, and the digests of the records its transaction made — notices,
    #: later renderings, refusals, deadline outcomes (``gdcluster.engine.coverage``).
    attest: str | None = Field(default=None, sa_column=Column(Text))
