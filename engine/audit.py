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
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, insert, select, update

from gdcluster.engine.clock import local_text
from gdcluster.engine.errors import ClockBehind
from gdcluster.engine.i18n import Message
from gdcluster.engine.store import connection_of, sql_connection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return "".join(_ENCODE(value, 0))


#: ``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
#: default=str)``, its encoder made once.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              default=str)


def _encoder() -> Callable[[Any, int], Sequence[str]]:
    """:data:`_CANONICAL`'s C encoder, made once rather than on every call as
    ``JSONEncoder.encode`` makes it (without the check for circular values, which no stored
    value has: JSON in, JSON out); ``_CANONICAL`` itself where the C encoder is missing or
    does not write what it writes."""
    from json import encoder as json_encoder

    def fallback(value: Any, _level: int) -> Sequence[str]:
        return (_CANONICAL.encode(value),)

    try:
        made = json_encoder.c_make_encoder(  # type: ignore[attr-defined]
            None, _CANONICAL.default, json_encoder.encode_basestring, None, ":", ",", True,
            False, True)
        sample = {"b": [1, 2.5, None, True, "广东\n\"x\""], "a": {"z": {}, "y": []}}
        if "".join(made(sample, 0)) != _CANONICAL.encode(sample):
            return fallback
    except Exception:  # no C encoder, or another signature
        return fallback
    return made


_ENCODE = _encoder()


def digest(value: Any) -> str:
    """SHA-256 of ``value``'s canonical JSON: what an audit row records of a stored document
    (an application, an annual report) instead of the document itself."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def instant_text(value: datetime) -> str:
    """An instant as the chain hashes it: UTC, ``2024-07-09T02:00:00.000000Z``."""
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value.year < 1000:  # strftime does not pad the year
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # the same text as strftime("%Y-%m-%dT%H:%M:%S.%fZ"), made faster
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


#: the columns a row's hash covers, besides ``attest`` (covered when the row has one)
HASHED = ("seq", "case_id", "round_year", "actor", "trigger", "from_state", "to_state",
          "reason", "payload", "article", "at", "prev_hash")


def values_hash(values: dict[str, Any]) -> str:
    """The hash of a row given as its column values (what ``append`` writes): SHA-256 of the
    canonical JSON of :data:`HASHED` (``at`` as :func:`instant_text`) and, when the row
    vouches for more (``gdcluster.engine.coverage``), its ``attest``; rows without one hash
    as they always did."""
    body = {name: values[name] for name in HASHED}
    body["at"] = instant_text(body["at"])
    attest = values.get("attest")
    if attest is not None:
        body["attest"] = attest
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def row_hash(entry: Any) -> str:
    """The row's hash; ``entry`` is an ``AuditEntry`` or anything with its attributes."""
    values = {name: getattr(entry, name) for name in HASHED}
    values["attest"] = getattr(entry, "attest", None)
    return values_hash(values)


@cache
def _statements() -> SimpleNamespace:
    """The append's prepared statements, built on first use (the audit tables load then)."""
    from gdcluster.engine.audit_tables import AUDIT_HEAD as head
    from gdcluster.engine.audit_tables import AUDIT_ROWS as rows
    from gdcluster.engine.prepared import Prepared

    return SimpleNamespace(
        head_for_update=select(head.c.seq, head.c.hash).where(head.c.id == 1)
        .with_for_update(),
        insert=insert(rows),
        # one row, every column bound; without ``attest`` for a row that has none (written
        # as before the column, so also on a database made before it)
        insert_one=Prepared(insert(rows).values(
            {column.name: bindparam(column.name, type_=column.type)
             for column in rows.columns})),
        insert_plain=Prepared(insert(rows).values(
            {column.name: bindparam(column.name, type_=column.type)
             for column in rows.columns if column.name != "attest"})),
        row_time=select(rows.c.at).where(rows.c.seq == bindparam("seq")),
        move_head=update(head).where(head.c.id == 1)
        .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")),
        # move the head only if it is still where this process last left it
        move_known_head=Prepared(
            update(head).where(head.c.id == 1, head.c.seq == bindparam("old_seq"),
                               head.c.hash == bindparam("old_hash"))
            .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))),
        # ``amend``: the head row's new attest and hash, then the head's hash
        amend_row=Prepared(update(rows).where(rows.c.seq == bindparam("amend_seq"))
                           .values(attest=bindparam("amend_attest"),
                                   hash=bindparam("amend_hash"))),
        amend_head=Prepared(update(head).where(head.c.id == 1,
                                               head.c.seq == bindparam("amend_seq"))
                            .values(hash=bindparam("amend_hash"))),
    )


#: Where each database's head was after this process's last append (seq, hash, time), by writer
#: engine. Only a guess that saves reading the head: the move is conditional on it, and a stale
#: guess (another process appended, a transaction rolled back, the head was tampered with) falls
#: back to reading the head, and the time of its row, under the head's lock.
_LAST_HEADS: dict[int, tuple[int, str, datetime]] = {}


@dataclass(frozen=True, eq=False)
class Appended:
    """What :func:`append` wrote: the new row's place in the chain (and the row itself)."""

    seq: int
    hash: str
    values: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Asked with ``probe``: of each kind of record the chain vouches for, whether one waits
    #: to be (``coverage.probing_insert``), as the row's insert found it; else None.
    unvouched: tuple[Any, ...] | None = field(default=None, repr=False)

    def __init__(self, seq: int, hash: str, values: dict[str, Any] | None = None,
                 unvouched: tuple[Any, ...] | None = None) -> None:
        # one update, not an object.__setattr__ per field: every act appends a row
        self.__dict__.update(seq=seq, hash=hash, values={} if values is None else values,
                             unvouched=unvouched)

    @property
    def prev_hash(self) -> str:
        """The hash of the row before: the head as this row found it."""
        return str(self.values.get("prev_hash", GENESIS))


def append(
    session: Session | Any,
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
    attest: dict[str, Any] | None = None,
    probe: Callable[[bool], Any] | None = None,
) -> Appended:
    """Lock and move the head, insert the next row: SQL statements, no ORM objects.

    The rows are those an ``AuditEntry`` flushed through the unit of work would write, without
    its machinery, which every act would pay for. Pending ORM changes (the case row, any
    deadline rows) are flushed first, so locks are still taken case, deadlines, then head.
    The head is moved by a conditional ``UPDATE`` from where this process last left it; only
    when it has moved since is it read (``SELECT … FOR UPDATE``) and moved again.

    Time only moves forward: a row dated before the row it follows is refused
    (``ClockBehind``), on every database, whoever appends — the one place every act passes.

    ``probe``: the row is inserted by ``probe(with_attest)``'s prepared statement instead,
    which also returns whether records wait to be vouched for (``Appended.unvouched``:
    ``coverage.probing_insert``), so that a transaction that writes nothing after its audit
    row is sealed without another statement (``coverage.seal``).
    """
    connection = sql_connection(session)
    sql = _statements()
    values: dict[str, Any] = {
        "case_id": case_id,
        "round_year": round_year,
        "actor": actor,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        "payload": canonical_json(payload) if payload else "{}",  # canonical_json({})
        "article": article,
        "at": at.astimezone(UTC),
    }
    if attest:  # absent, not null: a row without it is written as before the column
        values["attest"] = canonical_json(attest)
    writer = id(connection.engine)
    known = _LAST_HEADS.get(writer)
    moved = False
    # the guess is tried only when this row would not go back before it: a row the guess
    # follows is this process's own last row, whose time it knows
    if known is not None and values["at"] >= known[2]:
        _link(values, known[0], known[1])
        moved = sql.move_known_head.run(connection, {
            "old_seq": known[0], "old_hash": known[1], "new_seq": values["seq"],
            "new_hash": values["hash"]}) == 1
    if not moved:
        head = connection.execute(sql.head_for_update).one()
        if head.seq:
            last_at = connection.execute(sql.row_time, {"seq": head.seq}).scalar()
            if last_at is not None and values["at"] < _utc(last_at):
                raise ClockBehind(local_text(values["at"]), local_text(last_at), head.seq)
        _link(values, head.seq, head.hash)
        connection.execute(sql.move_head, {"new_seq": values["seq"],
                                           "new_hash": values["hash"]})
    unvouched = None
    if probe is not None:
        found = probe("attest" in values).first(connection, values)
        assert found is not None  # one row inserted, one row returned
        unvouched = tuple(found)
    else:
        (sql.insert_one if "attest" in values else sql.insert_plain).run(connection, values)
    _LAST_HEADS[writer] = (values["seq"], values["hash"], values["at"])
    return Appended(values["seq"], values["hash"], values, unvouched)


def amend(connection: Any, last: Appended, attest: dict[str, Any]) -> Appended:
    """Add ``attest`` to the row ``last`` just appended (still the head, still locked by this
    transaction): its new hash, written to the row and the head."""
    values = dict(last.values)
    merged = json.loads(values["attest"]) if values.get("attest") else {}
    merged.update(attest)
    values["attest"] = canonical_json(merged)
    values["hash"] = values_hash(values)
    sql = _statements()
    sql.amend_row.run(connection, {"amend_seq": last.seq, "amend_attest": values["attest"],
                                   "amend_hash": values["hash"]})
    if sql.amend_head.run(connection, {"amend_seq": last.seq, "amend_hash": values["hash"]}) != 1:
        raise RuntimeError(f"audit row {last.seq} is no longer the head of the chain")
    writer = id(connection.engine)
    _LAST_HEADS[writer] = (last.seq, values["hash"], values["at"])
    return Appended(last.seq, values["hash"], values)


def append_many(session: Session, rows: list[dict[str, Any]]) -> list[Appended]:
    """Append several rows, in order, as :func:`append` would one after the other: the head
    locked and read once, the rows linked in memory, inserted by one multi-row statement, the
    head moved once. Each of ``rows`` has :func:`append`'s keyword arguments (``actor``,
    ``trigger``, ``article``, ``at``, and the optional ones); the same ``ClockBehind``."""
    if not rows:
        return []
    session.flush()
    connection = connection_of(session)
    sql = _statements()
    head = connection.execute(sql.head_for_update).one()
    seq, last_hash = head.seq, head.hash
    last_at = connection.execute(sql.row_time, {"seq": seq}).scalar() if seq else None
    last_at = _utc(last_at) if last_at is not None else None
    written: list[dict[str, Any]] = []
    for row in rows:
        values: dict[str, Any] = {
            "case_id": row.get("case_id"), "round_year": row.get("round_year"),
            "actor": row["actor"], "trigger": row["trigger"],
            "from_state": row.get("from_state"), "to_state": row.get("to_state"),
            "reason": row.get("reason"), "payload": canonical_json(row.get("payload") or {}),
            "article": row["article"], "at": row["at"].astimezone(UTC),
            # every row of one statement has the column; a row without it hashes as before
            "attest": canonical_json(row["attest"]) if row.get("attest") else None,
        }
        if last_at is not None and values["at"] < last_at:
            raise ClockBehind(local_text(values["at"]), local_text(last_at), seq)
        _link(values, seq, last_hash)
        seq, last_hash, last_at = values["seq"], values["hash"], values["at"]
        written.append(values)
    connection.execute(sql.move_head, {"new_seq": seq, "new_hash": last_hash})
    connection.execute(sql.insert, written)
    _LAST_HEADS[id(connection.engine)] = (seq, last_hash, written[-1]["at"])
    return [Appended(values["seq"], values["hash"], values) for values in written]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _link(values: dict[str, Any], head_seq: int, head_hash: str) -> None:
    """Make ``values`` the row after the head (seq, hash): its seq, prev_hash and hash."""
    values["seq"] = head_seq + 1
    values["prev_hash"] = head_hash
    values["hash"] = values_hash(values)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    rows: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS
    #: What the checks beyond the hashes looked at (cases replayed, records vouched for,
    #: anchors matched, records not vouched for yet), by name.
    checked: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "checked": dict(self.checked),
        }

    def message(self) -> Message:
        """The verdict in English (``localize()`` shows it in the reader's language)."""
        if self.ok:
            return Message("audit chain intact: {rows} rows, head {head}…", rows=self.rows,
                           head=self.head_hash[:16])
        if self.first_bad_seq is None:
            return Message("audit chain BROKEN: {problem}", problem=self.problem)
        return Message("audit chain BROKEN at row {seq}: {problem}", seq=self.first_bad_seq,
                       problem=self.problem)


class RowCheck(Protocol):
    """A check run on every row of the chain's one pass (after its hash and link are found
    right), then once at the end: the seam that ``gdcluster.engine.verification`` fills."""

    def row(self, entry: Any, attest: dict[str, Any] | None) -> str | None:
        """The problem with this row (it is named as the first bad one), or None. ``entry``
        has the row's stored values in the order of :data:`VERIFIED_COLUMNS`."""

    def finish(self, session: Session) -> tuple[int | None, str] | None:
        """After the last row: the first bad row (or None) and the problem, or None."""

    def counts(self) -> dict[str, int]:
        """What the check looked at, for the report."""


def chain_length(session: Session) -> int:
    """How many rows the chain head records (0 for an empty chain): the size of a check."""
    from gdcluster.engine.records import AuditHead

    head = session.get(AuditHead, 1)
    return head.seq if head is not None else 0


#: The columns of the rows :func:`verify` reads, in order. Its checks read a row's values by
#: their place (``entry[COLUMN["seq"]]``): by name costs several times more.
VERIFIED_COLUMNS = ("seq", "case_id", "round_year", "actor", "trigger", "from_state", "to_state",
                    "reason", "payload", "article", "at", "prev_hash", "hash", "attest")
COLUMN = {name: index for index, name in enumerate(VERIFIED_COLUMNS)}


@cache
def _verify_statement() -> Any:
    """Every audit row in ``seq`` order, each column as the driver hands it back."""
    from sqlalchemy import type_coerce
    from sqlalchemy.types import NullType

    from gdcluster.engine.prepared import Prepared
    from gdcluster.engine.records import AuditEntry

    table = AuditEntry.__table__  # type: ignore[attr-defined]
    return Prepared(select(*(type_coerce(table.c[name], NullType()).label(name)
                             for name in VERIFIED_COLUMNS)).order_by(table.c.seq))


#: Not a value the database hands back.
_NOTHING: Any = object()


def _instant_reader(connection: Any) -> Callable[[Any], tuple[datetime, str]]:
    """An audit row's stored ``at`` → (naive UTC, its text in the row's hash): what
    SQLAlchemy reads it as (aware UTC) and :func:`instant_text` writes of that."""
    from gdcluster.engine.records import AuditEntry

    dialect = connection.dialect
    column = AuditEntry.__table__.c.at  # type: ignore[attr-defined]
    parse = column.type.impl_instance.dialect_impl(dialect).result_processor(dialect, None)

    def instant(raw: Any) -> tuple[datetime, str]:
        value = parse(raw) if parse is not None else raw
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if value.year < 1000:
            return value, instant_text(value)
        return value, value.isoformat(timespec="microseconds") + "Z"

    return instant


def _body(actor: Any, article: Any, at: str, attest: Any, case_id: Any, from_state: Any,
          payload: Any, prev_hash: Any, reason: Any, round_year: Any, seq: Any, to_state: Any,
          trigger: Any) -> str:
    """:func:`row_hash`'s canonical JSON of a row's stored values (``at`` as its text), its
    keys in sorted order: each text by ``json``'s own escaping, each integer as ``int``
    writes it, as :func:`canonical_json` writes them; a row holding a value of any other
    type (changed behind the engine's back) through :func:`canonical_json` itself."""
    if type(seq) is int and (case_id is None or type(case_id) is int) and (
            round_year is None or type(round_year) is int):
        try:
            return (f'{{"actor":{_quote(actor)},"article":{_quote(article)},"at":{_quote(at)},'
                    + (f'"attest":{_quote(attest)},' if attest is not None else "")
                    + f'"case_id":{_NULL if case_id is None else case_id},'
                    f'"from_state":{_NULL if from_state is None else _quote(from_state)},'
                    f'"payload":{_quote(payload)},"prev_hash":{_quote(prev_hash)},'
                    f'"reason":{_NULL if reason is None else _quote(reason)},'
                    f'"round_year":{_NULL if round_year is None else round_year},'
                    f'"seq":{seq},'
                    f'"to_state":{_NULL if to_state is None else _quote(to_state)},'
                    f'"trigger":{_quote(trigger)}}}')
        except TypeError:  # a value that is no text
            pass
    body = {"actor": actor, "article": article, "at": at, "case_id": case_id,
            "from_state": from_state, "payload": payload, "prev_hash": prev_hash,
            "reason": reason, "round_year": round_year, "seq": seq, "to_state": to_state,
            "trigger": trigger}
    if attest is not None:
        body["attest"] = attest
    return canonical_json(body)


_NULL = "null"

#: ``json``'s escaping of a text (``ensure_ascii=False``): TypeError for anything else.
_quote = json.encoder.encode_basestring


def verify(session: Session, *, batch: int = 2000,
           progress: Callable[[int], None] | None = None,
           checks: Sequence[RowCheck] = ()) -> VerifyReport:
    """Recompute the chain row by row, in one streamed pass; the report names the first row
    that does not fit. ``progress(n)`` is told of every ``batch`` rows checked, and of the rest
    at the end. ``checks`` look at each row as it passes, then finish (in order) once the
    chain itself is found intact.

    The rows are read as the driver hands them back (no conversion per column), the time
    converted as :func:`row_hash` would see it (:func:`_instant_reader`), and each body
    written as :func:`canonical_json` writes it (:func:`_body`): the same text, the same hash
    as :func:`row_hash`."""
    from gdcluster.engine.records import AuditHead

    head = session.get(AuditHead, 1)
    previous_hash = GENESIS
    previous_at: datetime | None = None
    expected_seq = 1
    rows = 0
    connection = session.connection()
    instant = _instant_reader(connection)
    sha256, loads = hashlib.sha256, json.loads
    row_checks = [check.row for check in checks]
    last_raw: Any = _NOTHING
    at: Any = None
    at_text = ""
    # rows of stored values, a batch at a time; the checks read them by place (``COLUMN``)
    with _verify_statement().batches(connection, size=batch) as fetched:
        for entry in itertools.chain.from_iterable(fetched):
            (seq, case_id, round_year, actor, trigger, from_state, to_state, reason, payload,
             article, at_raw, prev_hash, digest, attest_text) = entry
            rows += 1
            if progress is not None and rows % batch == 0:
                progress(batch)
            if seq != expected_seq:
                problem = (
                    Message("row {seq} is missing (next row found is {found})",
                            seq=expected_seq, found=seq)
                    if seq > expected_seq
                    else Message("row {seq} appears out of order", seq=seq)
                )
                return VerifyReport(False, rows, expected_seq, problem)
            if prev_hash != previous_hash:
                return VerifyReport(
                    False, rows, seq,
                    Message("its prev_hash does not match the hash of the row before"),
                )
            if at_raw != last_raw:  # rows come in crowds (a batch, a sweep): read once
                at, at_text = instant(at_raw)
                last_raw = at_raw
            body = _body(actor, article, at_text, attest_text, case_id, from_state, payload,
                         prev_hash, reason, round_year, seq, to_state, trigger)
            if sha256(body.encode("utf-8")).hexdigest() != digest:
                return VerifyReport(
                    False, rows, seq,
                    Message("its content does not match its hash (the row was altered)"),
                )
            if previous_at is not None and at < previous_at:
                return VerifyReport(False, rows, seq, Message(
                    "it is dated {at}, before row {seq} ({previous}): time went backwards in "
                    "the chain", at=local_text(at.replace(tzinfo=UTC)), seq=seq - 1,
                    previous=local_text(previous_at.replace(tzinfo=UTC))))
            if row_checks:
                attest = loads(attest_text) if attest_text else None
                for look in row_checks:
                    found = look(entry, attest)
                    if found is not None:
                        return VerifyReport(False, rows, seq, found)
            previous_hash, previous_at = digest, at
            expected_seq += 1
    if progress is not None and rows % batch:
        progress(rows % batch)
    last_seq = expected_seq - 1
    if head is None:
        return VerifyReport(False, rows, None, Message("the chain head record is missing"))
    if head.seq < last_seq:  # rows appended behind the head's back: the first is bad
        return VerifyReport(
            False, rows, head.seq + 1,
            Message("the chain head says {head} rows but {found} were found (rows added at "
                    "the end without the engine, or the head was altered)", head=head.seq,
                    found=last_seq),
        )
    if head.seq > last_seq:
        return VerifyReport(
            False, rows, last_seq + 1,
            Message("the chain head says {head} rows but {found} were found (rows removed "
                    "from the end, or the head was altered)", head=head.seq, found=last_seq),
        )
    if head.hash != previous_hash:  # same length, other last link: the last row replaced
        return VerifyReport(
            False, rows, last_seq,
            Message("its hash is not the one the chain head recorded (the last row was "
                    "replaced, or the head was altered)"),
        )
    checked: dict[str, int] = {}
    for check in checks:
        finished = check.finish(session)
        checked.update(check.counts())
        if finished is not None:
            return VerifyReport(False, rows, finished[0], finished[1], head_seq=head.seq,
                                head_hash=head.hash, checked=checked)
    return VerifyReport(True, rows, head_seq=head.seq, head_hash=head.hash, checked=checked)
