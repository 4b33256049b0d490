"""The housekeeping tables (SQLModel): change filings, imported calendar years, policy
extensions and the OS users' grants.

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field

# defines gd_case, the table this module's foreign keys name, on the same metadata
import gdcluster.engine.case_models  # noqa: F401
from gdcluster.engine.tablebase import TableModel


class ChangeFiling(TableModel, table=True):
    __tablename__ = "gd_change_filing"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    kind: str = Field(max_length=32)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    filed_at: datetime


class CalendarYear(TableModel, table=True):
    """An imported year of the working-day calendar; overrides the built-in data for that year."""

    __tablename__ = "gd_calendar_year"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(sa_column=Column(Text, nullable=False))
    holidays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    workdays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    imported_at: datetime


class PolicyExtension(TableModel, table=True):
    """An extension of a policy's own validity (第二十条), recorded by an audited province act
    with the 文号 of the document that extends it. A policy is in force up to the latest
    ``until`` recorded for it (or its file's ``effective_until``, whichever is later)."""

    __tablename__ = "gd_policy_extension"
    id: int | None = Field(default=None, primary_key=True)
    policy: str = Field(max_length=64, index=True)
    until: date
    source: str = Field(max_length=64)
    actor: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime


class ActorGrant(TableModel, table=True):
    """An OS user's grant to act as an actor (DESIGN §8a), written and removed only by an
    audited province act (``actors grant`` / ``actors revoke``). ``actor`` is a pattern:
    ``city:佛山市@张三``, ``city:佛山市`` (any person), ``county:*`` (any county), ``province``."""

    __tablename__ = "gd_actor_grant"
    __table_args__ = (UniqueConstraint("os_user", "actor", name="uq_gd_actor_grant"),)
    id: int | None = Field(default=None, primary_key=True)
    os_user: str = Field(max_length=64, index=True)
    actor: str = Field(sa_column=Column(Text, nullable=False))
    granted_by: str = Field(sa_column=Column(Text, nullable=False))
    granted_at: datetime
    audit_seq: int
