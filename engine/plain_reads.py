"""A case's file read in plain SQL: what `gdcluster case show` prints, without the tables'
classes.

Defining the SQLModel tables, configuring their mappers and compiling ORM queries was most of
`case show`'s own start-up (issue 16, P3), for one case's rows. Here each read is a SQL text
naming its columns; the columns whose values are converted (dates, aware UTC instants, JSON)
carry the type of the table's column, so each back-end's driver values are converted as the
tables would convert them, and the rest (integers, texts) come as the driver gives them.
``tests/test_imports.py`` holds every column named here to its table's column type.

The rows read like the tables' objects (``row.state``, ``row.valid_until``): the case view
(``views.case_view``), the 第十三条 check and the 复核 status read them as they read a ``Case``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Date, text

from gdcluster.engine.ormless import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.sql.selectable import TextualSelect

__all__ = ["DEADLINE_PART", "OBJECTION_PART", "QUERIES", "REPORT_PART", "TABLES", "case_file"]

#: The parts of a case's view (``case_rows.case_parts``): deadlines, objections, reports.
DEADLINE_PART, OBJECTION_PART, REPORT_PART = 1, 2, 3

#: By name: (table, columns, the converted columns' types, order).
_SPECS: dict[str, tuple[str, tuple[str, ...], dict[str, Any], str | None]] = {
    "case": ("gd_case", (
        "id", "round_year", "name", "city", "county", "industry", "state", "version", "policy",
        "policy_version", "policy_digest", "score", "publicity_start", "publicity_end",
        "valid_from", "valid_until", "created_at", "updated_at", "previous_state",
        "correction_due", "review_round", "review"),
        {"publicity_start": Date, "publicity_end": Date, "valid_from": Date,
         "valid_until": Date, "correction_due": Date, "created_at": UTCDateTime,
         "updated_at": UTCDateTime, "review": JSON}, None),
    "application": ("gd_application", ("data",), {}, None),
    "deadlines": ("gd_deadline", ("id", "kind", "key", "due_at", "status", "result"),
                  {"due_at": UTCDateTime}, None),
    "objections": ("gd_objection", ("id", "name", "unit", "status", "filed_at", "evidence",
                                    "resolution"), {"filed_at": UTCDateTime}, None),
    "reports": ("gd_annual_report", ("year", "data"), {"data": JSON}, "year"),
    "scores": ("gd_expert_score", ("expert", "scores", "total", "at"),
               {"scores": JSON, "at": UTCDateTime}, "id"),
    "notices": ("gd_notice", ("id", "kind", "format", "title", "doc_no", "created_at",
                              "sha256", "path"), {"created_at": UTCDateTime}, "id"),
    "attachments": ("gd_attachment", ("id", "sha256", "size", "media_type", "name", "kind",
                                      "note", "actor", "audit_seq", "attached_at"),
                    {"attached_at": UTCDateTime}, "id"),
}
#: The table each read reads, and the columns it names (the test compares them).
TABLES: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    name: (table, columns, types) for name, (table, columns, types, _order) in _SPECS.items()}


def _query(table: str, columns: tuple[str, ...], types: dict[str, Any],
           order: str | None) -> TextualSelect:
    key = "id" if table == "gd_case" else "case_id"
    named = ", ".join(f'"{name}"' for name in columns)  # quoted: "key" is a keyword in places
    sql = (f"SELECT {named} FROM {table} WHERE {key} = :case_id"
           + (f" ORDER BY {order}" if order else ""))
    return text(sql).columns(**{name: type_() for name, type_ in types.items()})


#: The statements, by name.
QUERIES: dict[str, TextualSelect] = {name: _query(*spec) for name, spec in _SPECS.items()}


def case_file(connection: Any, case_id: int) -> dict[str, list[Any]] | None:
    """The rows of case ``case_id``'s file by read name, the view's ``parts`` among them (in
    ``case_rows.case_parts``'s shape); None when there is no such case."""
    found = {name: list(connection.execute(statement, {"case_id": case_id}))
             for name, statement in QUERIES.items()}
    if not found["case"]:
        return None
    found["parts"] = [
        *((DEADLINE_PART, row.id, row.due_at, row.kind, row.key, row.status, row.result, None)
          for row in found["deadlines"]),
        *((OBJECTION_PART, row.id, row.filed_at, row.name, row.unit, row.status, row.evidence,
           row.resolution) for row in found["objections"]),
        *((REPORT_PART, row.year, None, None, None, None, None, None)
          for row in found["reports"])]
    return found
