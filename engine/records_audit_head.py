"""The audit chain's head (SQLModel): its last link, locked by every appender.

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from sqlmodel import Field

from gdcluster.engine.tablebase import TableModel


class AuditHead(TableModel, table=True):
    """The chain's last link; locked by every appender so the chain never forks."""

    __tablename__ = "gd_audit_head"
    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = 0
    hash: str = Field(max_length=64)
