"""The case tables (SQLModel): meta, rounds, 复核 rounds, cases, applications, objections,
annual reports, deadlines. Schema changes go through Alembic migrations.

Named through ``gdcluster.engine.models`` (``from gdcluster.engine.models import Case``), which
loads this module when one of them is first named: an act writes its case and deadlines on
Core tables (``case_tables``) and defines none of these classes unless an effect, a guard or
a read works with model objects.

All instants are aware UTC (sqlmodel's ``UTCDateTime``); calendar dates are plain dates.
Amounts and scores are exact decimals kept as strings, never floats.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlalchemy.orm import declared_attr
from sqlmodel import Field

from gdcluster.engine.tablebase import TableModel

__all__ = ["AnnualReport", "Application", "Case", "Deadline", "Meta", "Objection", "ReviewRound",
           "Round"]


class Meta(TableModel, table=True):
    __tablename__ = "gd_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class Round(TableModel, table=True):
    __tablename__ = "gd_round"
    """A recognition round (认定: applications, recommendations, publicity, the 名单通告). The
    复核 round of the same year is a row of its own (``ReviewRound``): both may be open."""

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
    #: When ``round close`` closed the round's leftovers: no application is filed, submitted or
    #: reopened after it.
    closed_at: datetime | None = None
    version: int = Field(default=1)
    #: The publicity pick of ``round publicize`` (its arguments, the ids to publicize and to
    #: reject, the period), stored before the first case moves, so that a run interrupted by a
    #: crash is finished with the same pick instead of a new one among the remaining cases.
    publicity_pick: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: Likewise for ``round recognize``: the cases of the batch, its 通告's 文号 and 成文日期,
    #: its validity start.
    recognition_batch: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class ReviewRound(TableModel, table=True):
    """A 复核 round (第十六条, ``round open YEAR --kind review``): the 复核 of the clusters whose
    validity ends by the end of ``year``. No case is filed in it; the cases it covers name it in
    ``gd_case.review_round``. A year may hold a recognition round and a 复核 round: a record
    that names a round by its year tells which by its own kind (``round_kind_of``)."""

    __tablename__ = "gd_review_round"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    policy: str = Field(max_length=64)
    policy_version: int
    policy_digest: str = Field(max_length=64)
    #: The counties' application deadline and the cities' 初审 deadline.
    apply_by: date | None = None
    check_by: date | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    version: int = Field(default=1)


class Case(TableModel, table=True):
    __tablename__ = "gd_case"
    __table_args__ = (
        Index("ix_gd_case_round_state", "round_year", "state"),
        Index("ix_gd_case_city_state", "city", "state"),
        # the city quota count of each recommendation reads only that city's recommended
        # cases of the round, not every case of the round
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
    score: str | None = Field(default=None, max_length=32)
    recommended_at: datetime | None = None
    publicity_start: date | None = None
    publicity_end: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    #: The state the case came from into a state that remembers it (rejected, not_selected);
    #: a row back to "<previous>" reads it, never guesses.
    previous_state: str | None = Field(default=None, max_length=32)
    #: The 退回补正 deadline: the county may resubmit until its 24:00, after the round's own
    #: application deadline too.
    correction_due: date | None = None
    #: The 复核 round that covers the case (``round open YEAR --kind review``), and the 复核 in
    #: progress or last decided: {year, data (the 复核申报), filed_at, check (the city's 初审)}.
    review_round: int | None = None
    review: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
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


class Application(TableModel, table=True):
    """A case's application data (JSON text, as stored), apart from the case row: listing,
    replaying and sweeping cases never walk it, and only the acts that read an application
    load it (``gdcluster.engine.applications``)."""

    __tablename__ = "gd_application"
    case_id: int = Field(foreign_key="gd_case.id", primary_key=True,
                         sa_column_kwargs={"autoincrement": False})
    data: str = Field(sa_column=Column(Text, nullable=False))


class Objection(TableModel, table=True):
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


class AnnualReport(TableModel, table=True):
    __tablename__ = "gd_annual_report"
    __table_args__ = (UniqueConstraint("case_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    year: int
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    filed_at: datetime


class Deadline(TableModel, table=True):
    """A legal deadline as a row, written in the transaction of the act that creates it.

    ``key`` is unique ("case:12:report:2024", "round:2024:apply_by") so that the same deadline is
    never scheduled twice. A sweep reads only ``status='pending' AND due_at <=
    now`` through ``ix_gd_deadline_due``.
    """

    __tablename__ = "gd_deadline"
    __table_args__ = (
        Index("ix_gd_deadline_due", "status", "due_at"),
        Index("ix_gd_deadline_attest", "attest_seq", "status"),
        UniqueConstraint("key", name="uq_gd_deadline_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="gd_case.id", index=True)
    #: The year of the round the deadline belongs to: its ``kind`` tells which round of that
    #: year (``round_review_check_close`` is the 复核 round's, the others the recognition
    #: round's), hence no foreign key to either table.
    round_year: int | None = None
    kind: str = Field(max_length=32)
    key: str = Field(max_length=96)
    due_at: datetime
    status: str = Field(default="pending", max_length=16)
    created_at: datetime
    fired_at: datetime | None = None
    result: str | None = Field(default=None, sa_column=Column(Text))
    #: The audit row that vouches for the deadline's outcome (set once it is closed).
    attest_seq: int | None = None
