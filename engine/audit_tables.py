"""The audit chain's two tables as SQLAlchemy Core ``Table`` objects, for the statements of
an act (``audit.append``, ``audit.amend``, the seal's probing insert).

The tables themselves are the SQLModel classes of ``records_audit`` and ``records_audit_head``
(migrations, ``create_all`` and the ORM reads use those); an act only writes SQL, and defining
these two ``Table`` objects costs a fraction of defining the two classes — which a command
that acts (``gdcluster case submit``) then never does. On a ``MetaData`` of their own, so that
they are not a second definition of the tables on ``SQLModel.metadata``; a test compares
their columns with the classes' (tests/test_chain_coverage.py).
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table, Text

from gdcluster.engine.ormless import AutoString, UTCDateTime

__all__ = ["AUDIT_HEAD", "AUDIT_ROWS"]

_METADATA = MetaData()

#: ``gd_audit`` (``records_audit.AuditEntry``).
AUDIT_ROWS = Table(
    "gd_audit", _METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("case_id", Integer, nullable=True, index=True),
    Column("round_year", Integer, nullable=True),
    Column("actor", Text, nullable=False),
    Column("trigger", AutoString(32), nullable=False),
    Column("from_state", AutoString(32), nullable=True),
    Column("to_state", AutoString(32), nullable=True),
    Column("reason", Text, nullable=True),
    Column("payload", Text, nullable=False),
    Column("article", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("prev_hash", AutoString(64), nullable=False),
    Column("hash", AutoString(64), nullable=False),
    Column("attest", Text, nullable=True),
)

#: ``gd_audit_head`` (``records_audit_head.AuditHead``).
AUDIT_HEAD = Table(
    "gd_audit_head", _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False, default=1),
    Column("seq", Integer, nullable=False, default=0),
    Column("hash", AutoString(64), nullable=False),
)
