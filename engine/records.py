"""The tables of the record (SQLModel): the audit chain and its head, refused attempts,
expert scores, change filings, imported calendar years, policy extensions, notices, their later
renderings and their deliveries.

Defined apart from ``gdcluster.engine.models`` and loaded when first named there, so that a
read that needs only cases and deadlines does not define them. Schema changes go through
Alembic migrations, as for every table.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


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
    #: What else the row vouches for (canonical JSON, hashed with the row when set): the case
    #: as the act left it, and the digests of the records its transaction made — notices,
    #: later renderings, refusals, deadline outcomes (``gdcluster.engine.coverage``).
    attest: str | None = Field(default=None, sa_column=Column(Text))


class AuditHead(SQLModel, table=True):
    """The chain's last link; locked by every appender so the chain never forks."""

    __tablename__ = "gd_audit_head"
    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = 0
    hash: str = Field(max_length=64)


class Refusal(SQLModel, table=True):
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


class ExpertScore(SQLModel, table=True):
    __tablename__ = "gd_expert_score"
    __table_args__ = (UniqueConstraint("case_id", "expert"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    expert: str = Field(max_length=128)
    scores: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    total: str = Field(max_length=32)
    at: datetime


class ChangeFiling(SQLModel, table=True):
    __tablename__ = "gd_change_filing"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    kind: str = Field(max_length=32)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    filed_at: datetime


class CalendarYear(SQLModel, table=True):
    """An imported year of the working-day calendar; overrides the built-in data for that year."""

    __tablename__ = "gd_calendar_year"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(sa_column=Column(Text, nullable=False))
    holidays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    workdays: list[str] = Field(sa_column=Column(JSON, nullable=False))
    imported_at: datetime


class PolicyExtension(SQLModel, table=True):
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


class ActorGrant(SQLModel, table=True):
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


class Rendering(SQLModel, table=True):
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


class Attachment(SQLModel, table=True):
    """A file attached to a case by its own audited act (``attach``): what it is and who
    attached it when. The bytes are kept once per SHA-256 in ``AttachmentBlob``, so that
    listing a case's attachments never reads them; the hash is in the act's audit row too."""

    __tablename__ = "gd_attachment"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    size: int
    media_type: str = Field(max_length=128)
    name: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(max_length=32)
    note: str | None = Field(default=None, sa_column=Column(Text))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    #: The audit row of the act that attached it (set in that act's transaction).
    audit_seq: int | None = Field(default=None, index=True)
    attached_at: datetime


class AttachmentBlob(SQLModel, table=True):
    """The bytes of attached files, one row per SHA-256 of their content."""

    __tablename__ = "gd_attachment_blob"
    sha256: str = Field(primary_key=True, max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
