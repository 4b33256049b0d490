"""The case tables as SQLAlchemy Core ``Table`` objects, for the statements of an act: the
case with its round and its parts (``case_rows``), the case written back and the deadlines
(``kernel``, ``deadlines``).

The tables themselves are the SQLModel classes of ``case_models`` (migrations, ``create_all``
and the ORM reads and effects use those, named through ``gdcluster.engine.models``); an act
only sends SQL, and defining these ``Table`` objects costs a fraction of defining the classes
— which a command that acts (``gdcluster case submit``) then mostly never does. On a
``MetaData`` of their own, as ``audit_tables``, so that they are not a second definition of
the tables on ``SQLModel.metadata``; a test compares them with the classes' tables
(tests/test_chain_coverage.py).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)

from gdcluster.engine.ormless import AutoString, UTCDateTime

__all__ = ["ANNUAL_REPORT", "APPLICATION", "CASE", "DEADLINE", "OBJECTION", "ROUND"]

_METADATA = MetaData()


def _text(name: str, length: int, nullable: bool = False, **options: object) -> Column:
    return Column(name, AutoString(length), nullable=nullable, **options)  # type: ignore[arg-type]


#: ``gd_round`` (``case_models.Round``).
ROUND = Table(
    "gd_round", _METADATA,
    Column("year", Integer, primary_key=True, autoincrement=False),
    _text("policy", 64),
    Column("policy_version", Integer, nullable=False),
    _text("policy_digest", 64),
    Column("apply_by", Date, nullable=True),
    Column("recommend_by", Date, nullable=True),
    Column("quotas", JSON, nullable=True),
    Column("notice_title", Text, nullable=True),
    _text("notice_doc_no", 64, True),
    _text("publicity_doc_no", 64, True),
    _text("recognition_doc_no", 64, True),
    Column("valid_from", Date, nullable=True),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("publicity_pick", JSON, nullable=True),
    Column("recognition_batch", JSON, nullable=True),
)

#: ``gd_case`` (``case_models.Case``; its indexes are the class's, not repeated here).
CASE = Table(
    "gd_case", _METADATA,
    Column("id", Integer, primary_key=True),
    Column("round_year", Integer, ForeignKey("gd_round.year"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    _text("city", 32),
    _text("county", 64, index=True),
    Column("industry", Text, nullable=False),
    _text("state", 32, index=True),
    Column("version", Integer, nullable=False, default=1),
    _text("policy", 64),
    Column("policy_version", Integer, nullable=False),
    _text("policy_digest", 64),
    _text("score", 32, True),
    Column("recommended_at", UTCDateTime, nullable=True),
    Column("publicity_start", Date, nullable=True),
    Column("publicity_end", Date, nullable=True),
    Column("valid_from", Date, nullable=True),
    Column("valid_until", Date, nullable=True),
    _text("previous_state", 32, True),
    Column("correction_due", Date, nullable=True),
    Column("review_round", Integer, nullable=True),
    Column("review", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: ``gd_application`` (``case_models.Application``).
APPLICATION = Table(
    "gd_application", _METADATA,
    Column("case_id", Integer, ForeignKey("gd_case.id"), primary_key=True, autoincrement=False),
    Column("data", Text, nullable=False),
)

#: ``gd_objection`` (``case_models.Objection``).
OBJECTION = Table(
    "gd_objection", _METADATA,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("gd_case.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("contact", Text, nullable=False),
    Column("unit", Text, nullable=True),
    Column("evidence", Text, nullable=False),
    _text("status", 16, default="open"),
    Column("filed_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("resolution", Text, nullable=True),
)

#: ``gd_annual_report`` (``case_models.AnnualReport``).
ANNUAL_REPORT = Table(
    "gd_annual_report", _METADATA,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("gd_case.id"), nullable=False, index=True),
    Column("year", Integer, nullable=False),
    Column("data", JSON, nullable=False),
    Column("filed_at", UTCDateTime, nullable=False),
    UniqueConstraint("case_id", "year"),
)

#: ``gd_deadline`` (``case_models.Deadline``).
DEADLINE = Table(
    "gd_deadline", _METADATA,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("gd_case.id"), nullable=True, index=True),
    Column("round_year", Integer, nullable=True),
    _text("kind", 32),
    _text("key", 96),
    Column("due_at", UTCDateTime, nullable=False),
    _text("status", 16, default="pending"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("fired_at", UTCDateTime, nullable=True),
    Column("result", Text, nullable=True),
    Column("attest_seq", Integer, nullable=True),
    UniqueConstraint("key", name="uq_gd_deadline_key"),
)
