"""The tamper-evident audit chain.

Every act appends one row whose ``hash`` is SHA-256 over the canonical JSON of the row, which
includes ``prev_hash``, the previous row's hash. Appenders lock the single ``gd_audit_head`` row
first, so concurrent transactions (several processes on PostgreSQL) queue up instead of forking
the chain. ``verify`` recomputes everything and names the first row that does not fit: a changed
byte, a deleted row (a gap in ``seq`` or a broken link), an inserted or reordered row (a broken
link), or rows cut off the end (the head no longer matches the last row).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from gdcluster.engine.clock import local_text
from gdcluster.engine.errors import ClockBehind
from gdcluster.engine.i18n import Message
from gdcluster.engine.store import connection_of

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    """SHA-256 of ``value``'s canonical JSON: what an audit row records of a stored document
    (an application, an annual report) instead of the document itself."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _instant(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(entry: Any) -> str:
    """The row's hash; ``entry`` is an ``AuditEntry`` or anything with its attributes."""
    body = canonical_json(
        {
            "seq": entry.seq,
            "case_id": entry.case_id,
            "round_year": entry.round_year,
            "actor": entry.actor,
            "trigger": entry.trigger,
            "from_state": entry.from_state,
            "to_state": entry.to_state,
            "reason": entry.reason,
            "payload": entry.payload,
            "article": entry.article,
            "at": _instant(entry.at),
            "prev_hash": entry.prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@cache
def _statements() -> SimpleNamespace:
    """The append's prepared statements, built on first use (the audit tables load then)."""
    from gdcluster.engine.records import AuditEntry, AuditHead

    head = AuditHead.__table__  # type: ignore[attr-defined]
    return SimpleNamespace(
        head_for_update=select(head.c.seq, head.c.hash).where(head.c.id == 1)
        .with_for_update(),
        insert=insert(AuditEntry.__table__),  # type: ignore[attr-defined]
        row_time=select(AuditEntry.__table__.c.at)  # type: ignore[attr-defined]
        .where(AuditEntry.__table__.c.seq == bindparam("seq")),  # type: ignore[attr-defined]
        move_head=update(head).where(head.c.id == 1)
        .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")),
        # move the head only if it is still where this process last left it
        move_known_head=update(head)
        .where(head.c.id == 1, head.c.seq == bindparam("old_seq"),
               head.c.hash == bindparam("old_hash"))
        .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")),
    )


#: Where each database's head was after this process's last append (seq, hash, time), by writer
#: engine. Only a guess that saves reading the head: the move is conditional on it, and a stale
#: guess (another process appended, a transaction rolled back, the head was tampered with) falls
#: back to reading the head, and the time of its row, under the head's lock.
_LAST_HEADS: dict[int, tuple[int, str, datetime]] = {}


@dataclass(frozen=True)
class Appended:
    """What :func:`append` wrote: the new row's place in the chain."""

    seq: int
    hash: str


def append(
    session: Session,
    *,
    actor: str,
    trigger: str,
    article: str,
    at: datetime,
    case_id: int | None = None,
    round_year: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
) -> Appended:
    """Lock and move the head, insert the next row: SQL statements, no ORM objects.

    The rows are those an ``AuditEntry`` flushed through the unit of work would write, without
    its machinery, which every act would pay for. Pending ORM changes (the case row, any
    deadline rows) are flushed first, so locks are still taken case, deadlines, then head.
    The head is moved by a conditional ``UPDATE`` from where this process last left it; only
    when it has moved since is it read (``SELECT … FOR UPDATE``) and moved again.

    Time only moves forward: a row dated before the row it follows is refused
    (``ClockBehind``), on every database, whoever appends — the one place every act passes.
    """
    session.flush()
    connection = connection_of(session)
    sql = _statements()
    values: dict[str, Any] = {
        "case_id": case_id,
        "round_year": round_year,
        "actor": actor,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        "payload": canonical_json(payload or {}),
        "article": article,
        "at": at.astimezone(UTC),
    }
    writer = id(connection.engine)
    known = _LAST_HEADS.get(writer)
    moved = False
    # the guess is tried only when this row would not go back before it: a row the guess
    # follows is this process's own last row, whose time it knows
    if known is not None and values["at"] >= known[2]:
        _link(values, known[0], known[1])
        moved = connection.execute(sql.move_known_head, {
            "old_seq": known[0], "old_hash": known[1], "new_seq": values["seq"],
            "new_hash": values["hash"]}).rowcount == 1
    if not moved:
        head = connection.execute(sql.head_for_update).one()
        if head.seq:
            last_at = connection.execute(sql.row_time, {"seq": head.seq}).scalar()
            if last_at is not None and values["at"] < _utc(last_at):
                raise ClockBehind(local_text(values["at"]), local_text(last_at), head.seq)
        _link(values, head.seq, head.hash)
        connection.execute(sql.move_head, {"new_seq": values["seq"],
                                           "new_hash": values["hash"]})
    connection.execute(sql.insert, values)
    _LAST_HEADS[writer] = (values["seq"], values["hash"], values["at"])
    return Appended(values["seq"], values["hash"])


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _link(values: dict[str, Any], head_seq: int, head_hash: str) -> None:
    """Make ``values`` the row after the head (seq, hash): its seq, prev_hash and hash."""
    values["seq"] = head_seq + 1
    values["prev_hash"] = head_hash
    values["hash"] = row_hash(SimpleNamespace(**values))


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    rows: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
        }

    def message(self) -> Message:
        """The verdict in English (``localize()`` shows it in the reader's language)."""
        if self.ok:
            return Message("audit chain intact: {rows} rows, head {head}…", rows=self.rows,
                           head=self.head_hash[:16])
        return Message("audit chain BROKEN at row {seq}: {problem}", seq=self.first_bad_seq,
                       problem=self.problem)


def chain_length(session: Session) -> int:
    """How many rows the chain head records (0 for an empty chain): the size of a check."""
    from gdcluster.engine.records import AuditHead

    head = session.get(AuditHead, 1)
    return head.seq if head is not None else 0


def verify(session: Session, *, batch: int = 2000,
           progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Recompute the chain row by row; the report names the first row that does not fit.
    ``progress(n)`` is told of every ``batch`` rows checked, and of the rest at the end."""
    from gdcluster.engine.records import AuditEntry, AuditHead

    head = session.get(AuditHead, 1)
    previous_hash = GENESIS
    expected_seq = 1
    rows = 0
    query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    with session.scalars(query) as entries:  # closes the server-side cursor on early return
        for entry in entries:
            rows += 1
            if progress is not None and rows % batch == 0:
                progress(batch)
            if entry.seq != expected_seq:
                problem = (
                    f"row {expected_seq} is missing (next row found is {entry.seq})"
                    if entry.seq > expected_seq
                    else f"row {entry.seq} appears out of order"
                )
                return VerifyReport(False, rows, expected_seq, problem)
            if entry.prev_hash != previous_hash:
                return VerifyReport(
                    False, rows, entry.seq,
                    "its prev_hash does not match the hash of the row before",
                )
            if row_hash(entry) != entry.hash:
                return VerifyReport(
                    False, rows, entry.seq,
                    "its content does not match its hash (the row was altered)",
                )
            previous_hash = entry.hash
            expected_seq += 1
            session.expunge(entry)
    if progress is not None and rows % batch:
        progress(rows % batch)
    last_seq = expected_seq - 1
    if head is None:
        return VerifyReport(False, rows, None, "the chain head record is missing")
    if head.seq < last_seq:  # rows appended behind the head's back: the first is bad
        return VerifyReport(
            False, rows, head.seq + 1,
            f"the chain head says {head.seq} rows but {last_seq} were found "
            f"(rows added at the end without the engine, or the head was altered)",
        )
    if head.seq > last_seq:
        return VerifyReport(
            False, rows, last_seq + 1,
            f"the chain head says {head.seq} rows but {last_seq} were found "
            f"(rows removed from the end, or the head was altered)",
        )
    if head.hash != previous_hash:  # same length, other last link: the last row replaced
        return VerifyReport(
            False, rows, last_seq,
            "its hash is not the one the chain head recorded (the last row was replaced, "
            "or the head was altered)",
        )
    return VerifyReport(True, rows, head_seq=head.seq, head_hash=head.hash)
