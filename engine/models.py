"""Database tables (SQLModel over SQLAlchemy 2). Schema changes go through Alembic migrations.

All instants are aware UTC (sqlmodel's ``UTCDateTime``); calendar dates are plain dates.
Amounts and scores are exact decimals kept as strings, never floats.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

#: The Alembic head this code expects; ``Engine.open`` refuses any other (``gdcluster init``).
SCHEMA_REVISION = "0004_quota_index"


class Meta(SQLModel, table=True):
    __tablename__ = "gd_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class Round(SQLModel, table=True):
    __tablename__ = "gd_round"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    policy: str = Field(max_length=64)
    policy_version: int
    policy_digest: str = Field(max_length=64)
    apply_by: date | None = None
    recommend_by: date | None = None
    quotas: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    notice_title: str | None = Field(default=None, sa_column=Column(Text))
    notice_doc_no: str | None = Field(default=None, max_length=64)
    publicity_doc_no: str | None = Field(default=None, max_length=64)
    recognition_doc_no: str | None = Field(default=None, max_length=64)
    valid_from: date | None = None
    opened_at: datetime
    version: int = Field(default=1)
    #: The publicity pick of ``round publicize`` (its arguments, the ids to publicize and to
    #: reject, the period), stored before the first case moves, so that a run interrupted by a
    #: crash is finished with the same pick instead of a new one among the remaining cases.
    publicity_pick: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: Likewise for ``round recognize``: the cases of the batch, its validity start and doc no.
    recognition_batch: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Case(SQLModel, table=True):
    __tablename__ = "gd_case"
    __table_args__ = (
        Index("ix_gd_case_round_state", "round_year", "state"),
        Index("ix_gd_case_city_state", "city", "state"),
        # the city quota count of each recommendation reads only that city's recommended
        # cases of the round, not every case of the round (issue 5, P1/P6)
        Index("ix_gd_case_round_city", "round_year", "city", "recommended_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_year: int = Field(foreign_key="gd_round.year", index=True)
    name: str = Field(sa_column=Column(Text, nullable=False))
    city: str = Field(max_length=32)
    county: str = Field(max_length=64, index=True)
    industry: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=32, index=True)
    version: int = Field(default=1)
    policy: str = Field(max_length=64)
    policy_version: int
    policy_digest: str = Field(max_length=64)
    application: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    score: str | None = Field(default=None, max_length=32)
    recommended_at: datetime | None = None
    publicity_start: date | None = None
    publicity_end: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    created_at: datetime
    updated_at: datetime

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # The engine sets ``version`` itself, once per act (an act may flush several times);
        # SQLAlchemy still adds ``WHERE version = <loaded>`` to every UPDATE.
        return {
            "version_id_col": cls.__table__.c.version,  # type: ignore[attr-defined]
            "version_id_generator": False,
        }


class AuditEntry(SQLModel, table=True):
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


class AuditHead(SQLModel, table=True):
    """The chain's last link; locked by every appender so the chain never forks."""

    __tablename__ = "gd_audit_head"
    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = 0
    hash: str = Field(max_length=64)


class Refusal(SQLModel, table=True):
    """Refused attempts (permission, guard, state), for security review. Not part of the chain."""

    __tablename__ = "gd_refusal"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str = Field(sa_column=Column(Text, nullable=False))
    trigger: str = Field(max_length=32)
    case_id: int | None = Field(default=None, index=True)
    round_year: int | None = None
    code: str = Field(max_length=32)
    message: str = Field(sa_column=Column(Text, nullable=False))


class ExpertScore(SQLModel, table=True):
    __tablename__ = "gd_expert_score"
    __table_args__ = (UniqueConstraint("case_id", "expert"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    expert: str = Field(max_length=128)
    scores: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    total: str = Field(max_length=32)
    at: datetime


class Objection(SQLModel, table=True):
    __tablename__ = "gd_objection"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    name: str = Field(sa_column=Column(Text, nullable=False))
    contact: str = Field(sa_column=Column(Text, nullable=False))
    unit: str | None = Field(default=None, sa_column=Column(Text))
    evidence: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="open", max_length=16)
    filed_at: datetime
    resolved_at: datetime | None = None
    resolution: str | None = Field(default=None, sa_column=Column(Text))


class AnnualReport(SQLModel, table=True):
    __tablename__ = "gd_annual_report"
    __table_args__ = (UniqueConstraint("case_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    year: int
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    filed_at: datetime


class ChangeFiling(SQLModel, table=True):
    __tablename__ = "gd_change_filing"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    kind: str = Field(max_length=32)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    filed_at: datetime


class Deadline(SQLModel, table=True):
    """A legal deadline as a row, written in the transaction of the act that creates it.

    ``key`` is unique ("case:12:report:2024", "round:2024:apply_by") so that the same deadline is
    never scheduled twice. A sweep reads only ``status='pending' AND due_at <=
    now`` through ``ix_gd_deadline_due``.
    """

    __tablename__ = "gd_deadline"
    __table_args__ = (
        Index("ix_gd_deadline_due", "status", "due_at"),
        UniqueConstraint("key", name="uq_gd_deadline_key"),
    )
    STATUSES: ClassVar[tuple[str, ...]] = ("pending", "fired", "done", "cancelled")

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="gd_case.id", index=True)
    round_year: int | None = Field(default=None, foreign_key="gd_round.year")
    kind: str = Field(max_length=32)
    key: str = Field(max_length=96)
    due_at: datetime
    status: str = Field(default="pending", max_length=16)
    created_at: datetime
    fired_at: datetime | None = None
    result: str | None = Field(default=None, sa_column=Column(Text))


class CalendarYear(SQLModel, table=True):
    """An imported year of the working-day calendar; overrides the built-in data for that year."""

    __tablename__ = "gd_calendar_year"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(sa_column=Column(Text, nullable=False))
    holidays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    workdays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    imported_at: datetime


class Notice(SQLModel, table=True):
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
    round_year: int | None = Field(default=None, foreign_key="gd_round.year")
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


class Delivery(SQLModel, table=True):
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
