"""A case's application data, kept apart from the case row (``gd_application``).

The application is the largest value of a case (kilobytes of JSON) and few acts read it:
filing and ``update`` write it, ``submit`` (complete?) and ``review`` (第十三条) read it, and
``case show`` / ``case check`` print it. Listing, the sweep, ``todo`` and ``audit verify``
never touch the table. The data stay the JSON text they were stored as: the validation and
criteria caches (``gdcluster.engine.criteria``) are keyed on that text, never on JSON encoded
again.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from gdcluster.engine.audit import canonical_json
from gdcluster.engine.errors import NotFound
from gdcluster.engine.models import Application
from gdcluster.engine.prepared import Prepared

__all__ = ["application", "encode", "insert_many", "read", "stored_text", "write"]

_TABLE = Application.__table__  # type: ignore[attr-defined]
_READ = Prepared(select(_TABLE.c.data).where(_TABLE.c.case_id == bindparam("case_id")))
_UPDATE = (update(_TABLE).where(_TABLE.c.case_id == bindparam("_case_id"))
           .values(data=bindparam("data")))
_INSERT = insert(_TABLE)


def encode(stored: Any) -> str:
    """The text an application is stored as: its canonical JSON (``audit.canonical_json``),
    whose SHA-256 is what the audit row records of it (``audit.digest``)."""
    return canonical_json(stored)


def stored_text(connection: Any, case_id: int) -> str:
    """The application of case ``case_id`` as stored (``NotFound`` when it has none)."""
    row = _READ.first(connection, {"case_id": case_id})
    if row is None:
        raise NotFound("case", case_id)
    return str(row[0])


def read(text: str) -> Any:
    """The stored data of ``text`` (``read_stored_application`` reads them further)."""
    return json.loads(text)


def write(connection: Any, case_id: int, text: str) -> None:
    """Replace the application of case ``case_id`` with ``text`` (an ``encode``\\ d value)."""
    if connection.execute(_UPDATE, {"_case_id": case_id, "data": text}).rowcount != 1:
        connection.execute(_INSERT, {"case_id": case_id, "data": text})


def insert_many(connection: Any, rows: list[dict[str, Any]]) -> None:
    """The applications of new cases: ``rows`` of ``{"case_id", "data"}`` in one statement."""
    if rows:
        connection.execute(_INSERT, rows)


def application(store: Any, case_id: int) -> dict[str, Any]:
    """The application of case ``case_id`` as ``validate_application`` returns it; data
    stored by earlier versions are read as ``read_stored_application`` reads them."""
    from gdcluster.engine.application import read_stored_application
    from gdcluster.engine.parse import as_case_id

    case_id = as_case_id(case_id)
    with store.read() as session:
        return read_stored_application(read(stored_text(session.connection(), case_id)))
