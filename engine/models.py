"""Database tables (SQLModel over SQLAlchemy 2). Schema changes go through Alembic migrations.

The table classes are defined in modules of their own and loaded when first named here
(``from gdcluster.engine.models import Case`` works as ever): the case tables in
``case_models``, the tables of the record in ``gdcluster.engine.records``. An act writes on
Core tables (``case_tables``, ``audit_tables``) and a read such as `gdcluster case show` in
plain SQL, so that neither defines SQLModel classes it does not work with: defining them is
much of a command's own start-up.

All instants are aware UTC (sqlmodel's ``UTCDateTime``); calendar dates are plain dates.
Amounts and scores are exact decimals kept as strings, never floats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy.orm import Mapped
from sqlmodel import col

from gdcluster.engine.tablebase import SCHEMA_REVISION as SCHEMA_REVISION  # named here too

#: The triggers (audit rows, refusals) and kinds (deadlines, notices) of the records that
#: name a 复核 round by its year; every other record naming a year names its recognition round.
REVIEW_RECORDS = frozenset({"open_review_round", "review_notice", "round_review_check_close",
                            "review_apply_due", "review_result"})


def round_kind_of(name: str) -> str:
    """Which round of its year a record names: "review" for a record of ``REVIEW_RECORDS``
    (by its trigger or kind), else "recognition"."""
    return "review" if name in REVIEW_RECORDS else "recognition"


#: The case tables, defined in ``gdcluster.engine.case_models`` when first named here.
_CASE_TABLES = frozenset({"Meta", "Round", "ReviewRound", "Case", "Application", "Objection",
                          "AnnualReport", "Deadline"})

#: Tables defined in ``gdcluster.engine.records``: the audit chain, refusals, expert scores,
#: change filings, imported calendar years, policy extensions, notices, renderings,
#: deliveries and attachments. They load when
#: first named here (``from gdcluster.engine.models import AuditEntry`` works as before), so
#: that a read such as `gdcluster case show` does not define tables it never touches —
#: defining the SQLModel classes is most of that command's own start-up.
_RECORDS = frozenset({"AuditEntry", "AuditHead", "Refusal", "ExpertScore", "ChangeFiling",
                      "CalendarYear", "Notice", "Rendering", "Delivery", "PolicyExtension",
                      "Attachment", "AttachmentBlob", "ActorGrant"})

if TYPE_CHECKING:
    from gdcluster.engine.case_models import (  # noqa: F401  (named here, loaded on first use)
        AnnualReport,
        Application,
        Case,
        Deadline,
        Meta,
        Objection,
        ReviewRound,
        Round,
    )
    from gdcluster.engine.records import (  # noqa: F401  (named here, loaded on first use)
        ActorGrant,
        Attachment,
        AttachmentBlob,
        AuditEntry,
        AuditHead,
        CalendarYear,
        ChangeFiling,
        Delivery,
        ExpertScore,
        Notice,
        PolicyExtension,
        Refusal,
        Rendering,
    )


def __getattr__(name: str) -> Any:
    if name in _CASE_TABLES:
        from gdcluster.engine import case_models

        value = getattr(case_models, name)
        globals()[name] = value
        return value
    if name in _RECORDS:
        from gdcluster.engine import records

        return getattr(records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_all() -> None:
    """Define every table on ``SQLModel.metadata``: for ``create_all``, migrations and
    schema comparisons, which must see all of them."""
    from gdcluster.engine import case_models, records  # noqa: F401  (defines the case tables)

    records.load_all()


def key_column(key: int | None) -> Mapped[int]:
    """A table's ``id`` in a query, e.g. ``select(key_column(Case.id))``: the key is None only
    on a row not stored yet, so no result holds None (sqlmodel types the column as the field)."""
    return cast("Mapped[int]", col(key))
