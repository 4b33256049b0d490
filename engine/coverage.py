"""What the audit chain vouches for besides its own rows (issue 15 §12).

Each audit row may carry an ``attest`` (canonical JSON, hashed with the row):

* ``case``: the case as the act left it — ``[state, version, valid_from, valid_until,
  previous_state]`` — written by the act itself. ``audit verify`` replays every case from
  these and compares the result with ``gd_case``.
* ``notice``, ``rendering``, ``refusal``, ``deadline``: ``[count, sha256]`` over the records of
  that kind the row vouches for (the issued notices with their body hashes, later renderings,
  refused attempts, closed deadlines with their outcome). When a transaction of the act kernel
  commits, every such record not yet vouched for (``attest_seq IS NULL``) is given to the
  transaction's last audit row (:func:`seal`): the act's own notices and deadline outcomes, and
  the refusals, renderings and deadline closings made outside an act since the previous one.
  One transaction per act stays one transaction: nothing is written after the commit.
* ``cases`` (one row, appended by the upgrade that introduced all this): every case as it was
  then, and the records made before it, so that an upgraded chain verifies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, func, select, update

from gdcluster.engine.audit import canonical_json, instant_text, values_hash
from gdcluster.engine.i18n import N_

__all__ = ["COVERED", "Covered", "Group", "baseline", "case_snapshot", "group", "probing_insert",
           "seal"]

#: Deadline statuses that are an outcome (a pending deadline is not vouched for yet).
CLOSED_STATUSES = ("fired", "done", "cancelled")


@dataclass(frozen=True)
class Covered:
    """One kind of record the chain vouches for: its table, the columns hashed (``id``
    first), what to call it in a report, and whether only closed rows count."""

    name: str
    model: str
    columns: tuple[str, ...]
    label: str
    closed_only: bool = False
    body: bool = False  # the row keeps a ``body`` whose SHA-256 is its ``sha256`` column

    @property
    def table(self) -> Any:
        from gdcluster.engine import models

        return getattr(models, self.model).__table__

    def selectable(self) -> Any:
        """The rows of this kind that are (or are to be) vouched for."""
        return self.table.c.status.in_(CLOSED_STATUSES) if self.closed_only else None


COVERED: tuple[Covered, ...] = (
    Covered("notice", "Notice",
            ("id", "kind", "format", "case_id", "round_year", "audit_seq", "title", "doc_no",
             "template", "template_version", "sha256", "size", "path", "created_at",
             "anchor_seq", "anchor_hash"), N_("notices"), body=True),
    Covered("rendering", "Rendering",
            ("id", "notice_id", "audit_seq", "kind", "format", "case_id", "round_year", "title",
             "doc_no", "template", "template_version", "sha256", "size", "path", "actor",
             "created_at"), N_("renderings"), body=True),
    Covered("refusal", "Refusal",
            ("id", "at", "actor", "trigger", "case_id", "round_year", "code", "message"),
            N_("refusals")),
    Covered("deadline", "Deadline",
            ("id", "case_id", "round_year", "kind", "key", "due_at", "status", "fired_at",
             "result"), N_("deadline outcomes"), closed_only=True),
)


#: The table of each kind of :data:`COVERED` (``Covered.table``'s name; a test compares them).
TABLES = {"notice": "gd_notice", "rendering": "gd_rendering", "refusal": "gd_refusal",
          "deadline": "gd_deadline"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return instant_text(value)  # the same text as an audit row's time
    if isinstance(value, date):
        return value.isoformat()
    return value


class Group:
    """``[count, sha256]`` over records (each the values of its ``columns``, in id order),
    hashed as they come: the SHA-256 of the canonical JSON of their list, without the list."""

    def __init__(self) -> None:
        self.count = 0
        self._hash = hashlib.sha256(b"[")

    def add(self, row: Sequence[Any]) -> None:
        """One more record."""
        if self.count:
            self._hash.update(b",")
        self._hash.update(canonical_json([_plain(value) for value in row]).encode("utf-8"))
        self.count += 1

    def value(self) -> list[Any]:
        """``[count, sha256]``, as an audit row's ``attest`` records it."""
        final = self._hash.copy()
        final.update(b"]")
        return [self.count, final.hexdigest()]


def group(rows: Iterable[Sequence[Any]]) -> list[Any]:
    """``[count, sha256]`` over records (each the values of its ``columns``, in id order)."""
    digest = Group()
    for row in rows:
        digest.add(row)
    return digest.value()


def case_snapshot(case: Any) -> list[Any]:
    """What an act's row records of the case it left: state, version, validity, previous
    state."""
    return [case.state, case.version, _plain(case.valid_from), _plain(case.valid_until),
            case.previous_state]


@cache
def _seal_statements(covered: Covered) -> tuple[Any, Any, Any]:
    """The claim of the records not yet vouched for, the read of those claimed, and the two
    in one: the claim returning the columns hashed (where the database can)."""
    table = covered.table
    claim = update(table).where(table.c.attest_seq.is_(None))
    chosen = covered.selectable()
    if chosen is not None:
        claim = claim.where(chosen)
    from sqlalchemy import bindparam

    claim = claim.values(attest_seq=bindparam("seal_seq"))
    columns = [table.c[name] for name in covered.columns]
    read = select(*columns).where(table.c.attest_seq == bindparam("seal_seq")).order_by(
        table.c.id)
    return claim, read, claim.returning(*columns)


def unvouched_checks() -> list[Any]:
    """Of each kind, in :data:`COVERED`'s order: is there a record not yet vouched for? (Most
    acts make none and find none: one indexed look-up per kind, and no write.) The closed
    statuses as equalities, so that a prepared statement has no list to expand."""
    from sqlalchemy import column, exists, or_, table

    checks = []
    for covered in COVERED:
        # the two columns asked, by name: a light clause, so that asking defines none of the
        # record tables (an act that makes no notice never loads the notice's table class)
        light = table(TABLES[covered.name], column("attest_seq"), column("status"))
        found = exists().where(light.c.attest_seq.is_(None))
        if covered.closed_only:
            found = found.where(or_(*(light.c.status == status for status in CLOSED_STATUSES)))
        checks.append(found)
    return checks


@cache
def probing_insert(attest: bool) -> Any:
    """The audit row's insert (with its ``attest`` column or without) returning
    :func:`unvouched_checks`, as seen right after the row: ``audit.append``'s ``probe``."""
    from sqlalchemy import bindparam, insert

    from gdcluster.engine.audit_tables import AUDIT_ROWS as rows
    from gdcluster.engine.prepared import Prepared

    return Prepared(insert(rows).values(
        {column.name: bindparam(column.name, type_=column.type) for column in rows.columns
         if attest or column.name != "attest"}).returning(*unvouched_checks()))


@cache
def _unvouched() -> Any:
    """:func:`unvouched_checks` as one prepared statement."""
    from gdcluster.engine.prepared import Prepared

    return Prepared(select(*unvouched_checks()))


def pending_groups(connection: Connection, seq: int,
                   flags: Sequence[Any] | None = None) -> dict[str, list[Any]]:
    """Give every record not yet vouched for to row ``seq``; their groups by kind.
    ``flags``: :func:`unvouched_checks` as already asked in this transaction after its last
    write (by the audit row's insert), else asked now."""
    groups: dict[str, list[Any]] = {}
    if flags is None:
        flags = _unvouched().rows(connection)[0]
    for covered, found in zip(COVERED, flags, strict=True):
        if not found:
            continue
        claim, read, returning = _seal_statements(covered)
        if connection.dialect.update_returning:  # claimed and read by one statement
            claimed = connection.execute(returning, {"seal_seq": seq}).all()
            if claimed:  # in id order (the first column), as the read gives them
                groups[covered.name] = group(sorted(claimed, key=lambda row: row[0]))
        elif connection.execute(claim, {"seal_seq": seq}).rowcount:
            groups[covered.name] = group(connection.execute(read, {"seal_seq": seq}))
    return groups


def seal(connection: Connection, last: Any, flags: Sequence[Any] | None = None) -> Any:
    """At the end of a kernel transaction (the head still locked by it): vouch in its last
    audit row (``last``: what ``audit.append`` returned) for the records not yet vouched for,
    re-hashing that row and moving the head's hash with it. Returns the row as sealed.

    ``flags``: whether there are such records, as the row's own insert found them
    (``Appended.unvouched``), when the transaction has written nothing since; most acts find
    none, and then send no statement here at all."""
    if flags is not None and not any(flags):
        return last
    groups = pending_groups(connection, last.seq, flags)
    if not groups:
        return last
    from gdcluster.engine import audit

    return audit.amend(connection, last, groups)


def baseline(connection: Connection) -> int | None:
    """Append the row that starts the coverage on a database made before it: every case as it
    is and every record made so far, vouched for at once (the upgrade's own row, dated as the
    last row so that time never goes back). Nothing on an empty database. Returns its seq."""
    from gdcluster.engine import models

    audit_table = models.AuditEntry.__table__  # type: ignore[attr-defined]
    head_table = models.AuditHead.__table__  # type: ignore[attr-defined]
    case_table = models.Case.__table__  # type: ignore[attr-defined]
    head = connection.execute(select(head_table.c.seq, head_table.c.hash)
                              .where(head_table.c.id == 1)).first()
    cases = connection.execute(
        select(case_table.c.id, case_table.c.state, case_table.c.version,
               case_table.c.valid_from, case_table.c.valid_until,
               case_table.c.previous_state).order_by(case_table.c.id)).all()
    if head is None or (not head.seq and not cases):
        return None
    at = connection.execute(select(audit_table.c.at)
                            .where(audit_table.c.seq == head.seq)).scalar()
    if at is None:
        at = connection.execute(select(func.max(case_table.c.updated_at))).scalar()
    assert at is not None  # a chain with rows, or cases: one of them has a time
    seq = head.seq + 1
    attest: dict[str, Any] = {"cases": [[row.id, *case_snapshot(row)] for row in cases]}
    attest.update(pending_groups(connection, seq))
    values = {
        "seq": seq, "case_id": None, "round_year": None, "actor": "system",
        "trigger": "chain_coverage", "from_state": None, "to_state": None, "reason": None,
        "payload": canonical_json({"cases": len(cases)}),
        "article": "审计链覆盖起点：此前的案件状态与记录一并存证", "at": _aware(at),
        "prev_hash": head.hash, "attest": canonical_json(attest),
    }
    values["hash"] = values_hash(values)
    connection.execute(audit_table.insert(), values)
    connection.execute(update(head_table).where(head_table.c.id == 1)
                       .values(seq=seq, hash=values["hash"]))
    return seq


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_attest(text: str | None) -> dict[str, Any] | None:
    """The row's ``attest`` as a dict (None when it has none)."""
    return json.loads(text) if text else None
