"""The tables of the record (SQLModel): the audit chain and its head, refused attempts,
expert scores, change filings, imported calendar years, policy extensions, notices, their later
renderings and their deliveries, attachments.

Defined apart from ``gdcluster.engine.models`` and loaded when first named there, so that a
read that needs only cases and deadlines does not define them. Each group of tables lives in
a module of its own (``records_audit``, ``records_notice`` …) that is imported when one of its
classes is first named here: ``from gdcluster.engine.records import Notice`` defines the
notice table alone, so that `gdcluster case show` or an act defines the few tables it
touches (defining SQLModel classes is much of a command's own start-up). Schema changes go
through Alembic migrations, as for every table.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["MODULES", "load_all"]

_GROUPS = {
    "records_audit": ("AuditEntry",),
    "records_audit_head": ("AuditHead",),
    "records_refusal": ("Refusal",),
    "records_scores": ("ExpertScore",),
    "records_admin": ("ChangeFiling", "CalendarYear", "PolicyExtension", "ActorGrant"),
    "records_notice": ("Notice",),
    "records_rendering": ("Rendering",),
    "records_delivery": ("Delivery",),
    "records_attachment": ("Attachment",),
    "records_blob": ("AttachmentBlob",),
}
#: The module defining each table class of the record.
MODULES: dict[str, str] = {name: f"gdcluster.engine.{module}"
                           for module, names in _GROUPS.items() for name in names}

if TYPE_CHECKING:  # named here, loaded on first use
    from gdcluster.engine.records_admin import (  # noqa: F401
        ActorGrant,
        CalendarYear,
        ChangeFiling,
        PolicyExtension,
    )
    from gdcluster.engine.records_attachment import Attachment  # noqa: F401
    from gdcluster.engine.records_audit import AuditEntry  # noqa: F401
    from gdcluster.engine.records_audit_head import AuditHead  # noqa: F401
    from gdcluster.engine.records_blob import AttachmentBlob  # noqa: F401
    from gdcluster.engine.records_delivery import Delivery  # noqa: F401
    from gdcluster.engine.records_notice import Notice  # noqa: F401
    from gdcluster.engine.records_refusal import Refusal  # noqa: F401
    from gdcluster.engine.records_rendering import Rendering  # noqa: F401
    from gdcluster.engine.records_scores import ExpertScore  # noqa: F401


def __getattr__(name: str) -> Any:
    module = MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def load_all() -> None:
    """Define every table of the record (for ``create_all``, migrations and comparisons)."""
    for module in sorted(set(MODULES.values())):
        import_module(module)
