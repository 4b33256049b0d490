"""``audit verify``: the chain's hashes, then what the chain vouches for (issue 15 §12, §13).

One streamed pass over the audit rows in ``seq`` order (``audit.verify``) runs the row checks
of :func:`row_checks` on every row, then each check finishes once the chain itself is intact:

* :class:`CaseReplay` replays every case from its rows (the state, version, validity and
  previous state each act left, ``attest.case``) and compares the result with ``gd_case``;
* :class:`Coverage` recomputes the groups of notices (with their bodies' hashes), renderings,
  refusals and deadline outcomes each row vouches for, and counts that none went missing;
* :class:`Anchors` (``--anchors FILE``) compares the rows at the anchored positions with the
  hashes recorded outside.

Other checks (time never going back, …) are added to :data:`ROW_CHECKS`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import col

from gdcluster.engine import audit
from gdcluster.engine.coverage import COVERED, Covered, Group, case_snapshot
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import N_, Message
from gdcluster.engine.prepared import Prepared

#: the records whose body a check names (``Covered.name``), for the catalog
RECORDS_WITH_BODIES = (N_("notice"), N_("rendering"))

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


__all__ = [
    "ROW_CHECKS",
    "Anchor",
    "Anchors",
    "CaseReplay",
    "Coverage",
    "read_anchors",
    "row_checks",
    "verify",
]

_FIELDS = ("state", "version", "valid_from", "valid_until", "previous_state")
#: Where the checks find a row's values (``audit.VERIFIED_COLUMNS``).
_SEQ, _CASE_ID, _FROM_STATE, _TO_STATE, _HASH = (
    audit.COLUMN[name] for name in ("seq", "case_id", "from_state", "to_state", "hash"))


#: Not known (``None`` is a state a row may leave).
_UNKNOWN: Any = object()


@cache
def _case_columns() -> Prepared:
    """What :class:`CaseReplay` compares of every case, in ``id`` order; the dates as stored
    (read as dates only for a case whose rows give them)."""
    from sqlalchemy import type_coerce
    from sqlalchemy.types import NullType

    from gdcluster.engine.models import Case

    table = Case.__table__  # type: ignore[attr-defined]
    return Prepared(select(table.c.id, table.c.state, table.c.version,
                           type_coerce(table.c.valid_from, NullType()),
                           type_coerce(table.c.valid_until, NullType()),
                           table.c.previous_state).order_by(table.c.id))


class CaseReplay:
    """Every case as its audit rows leave it, compared with ``gd_case`` at the end.

    Keeps what a case's last row left (never the rows): its fields, where that row gives them
    all (``attest.case``), else its state; and that row's ``seq``. A row from before the
    coverage (no ``attest.case``) gives the state only, until the upgrade's row
    (``attest.cases``) gives everything. A state alone is kept as a plain value in a dict of
    its own, not in a tuple per case: a tuple kept to the end for each of 100,000 cases is
    what the garbage collector walks again and again as they accumulate."""

    def __init__(self) -> None:
        #: a case's fields (``_FIELDS``) and the row that gave them all
        self.cases: dict[int, tuple[tuple[Any, ...], int]] = {}
        #: a case whose last row gave its state only: that state, and that row
        self.states: dict[int, Any] = {}
        self.seqs: dict[int, int] = {}
        self.compared = 0

    def _full(self, case_id: int, fields: tuple[Any, ...], seq: int) -> None:
        self.cases[case_id] = (fields, seq)
        if self.states:
            self.states.pop(case_id, None)
            self.seqs.pop(case_id, None)

    def row(self, entry: Any, attest: dict[str, Any] | None) -> str | None:
        if attest is not None and "cases" in attest:
            for item in attest["cases"]:
                self._full(int(item[0]), tuple(item[1:]), entry[_SEQ])
        case_id = entry[_CASE_ID]
        if case_id is None:
            return None
        cases = self.cases
        known = cases.get(case_id) if cases else None
        before = known[0][0] if known is not None else self.states.get(case_id, _UNKNOWN)
        if before is not _UNKNOWN and entry[_FROM_STATE] != before:
            return Message("case {id}: this row moves it from {state!r}, but the rows before "
                           "leave it {before!r} (row {seq})", id=case_id,
                           state=entry[_FROM_STATE], before=before,
                           seq=known[1] if known is not None else self.seqs[case_id])
        snapshot = attest.get("case") if attest is not None else None
        if snapshot is not None:
            self._full(case_id, tuple(snapshot), entry[_SEQ])
        else:
            self.states[case_id] = entry[_TO_STATE]
            self.seqs[case_id] = entry[_SEQ]
            if known is not None:
                del cases[case_id]
        return None

    def finish(self, session: Session) -> tuple[int | None, str] | None:
        from gdcluster.engine.models import Case

        table = Case.__table__  # type: ignore[attr-defined]
        connection = session.connection()
        dialect = connection.dialect
        read_day = table.c.valid_from.type.dialect_impl(dialect).result_processor(dialect, None)
        with _case_columns().batches(connection, size=2000) as rows:
            found = self._compare(itertools.chain.from_iterable(rows), read_day)
        if found is None and self.compared < len(self.cases) + len(self.states):
            # cases the rows record that gd_case lacks: the first of them (a failure only)
            with _case_columns().batches(connection, size=2000) as rows:
                present = {row[0] for row in itertools.chain.from_iterable(rows)}
            case_id = min(case_id for case_id in itertools.chain(self.cases, self.states)
                          if case_id not in present)
            seq = self.cases[case_id][1] if case_id in self.cases else self.seqs[case_id]
            return seq, Message("case {id} has audit rows but is missing from gd_case",
                                id=case_id)
        return found

    def _compare(self, rows: Iterable[Any],
                 read_day: Callable[[Any], Any] | None) -> tuple[int | None, str] | None:
        cases, states = self.cases, self.states
        for row in rows:
            case_id, state = row[0], row[1]
            known = cases.get(case_id) if cases else None
            if known is None:
                expected_state = states.get(case_id, _UNKNOWN)
                if expected_state is _UNKNOWN:
                    return None, Message("case {id} is in gd_case but no audit row records "
                                         "it (added behind the engine's back)", id=case_id)
                self.compared += 1
                if state == expected_state:
                    continue
                seq = self.seqs[case_id]
                return seq, Message("case {id}: {name} is {actual!r} in gd_case, but its "
                                    "audit rows leave it {expected!r} (last row {seq})",
                                    id=case_id, name=_FIELDS[0], actual=state,
                                    expected=expected_state, seq=seq)
            self.compared += 1
            expected, seq = known
            valid_from, valid_until = row[3], row[4]
            if read_day is not None:
                valid_from, valid_until = read_day(valid_from), read_day(valid_until)
            actual = case_snapshot(SimpleNamespace(
                state=state, version=row[2], valid_from=valid_from,
                valid_until=valid_until, previous_state=row[5]))
            for index, name in enumerate(_FIELDS):
                if actual[index] != expected[index]:
                    return seq, Message("case {id}: {name} is {actual!r} in gd_case, but its "
                                        "audit rows leave it {expected!r} (last row {seq})",
                                        id=case_id, name=name, actual=actual[index],
                                        expected=expected[index], seq=seq)
        return None

    def counts(self) -> dict[str, int]:
        return {"cases": self.compared}


class Coverage:
    """The records each row vouches for (``attest.<kind>``: count and hash), recomputed from
    their tables: one streamed query per kind, in the order of the rows vouching."""

    def __init__(self) -> None:
        self.expected = {covered.name: 0 for covered in COVERED}
        self.found = {covered.name: 0 for covered in COVERED}
        self.pending = {covered.name: 0 for covered in COVERED}

    def row(self, entry: Any, attest: dict[str, Any] | None) -> str | None:
        if attest is not None:
            for covered in COVERED:
                if covered.name in attest:
                    self.expected[covered.name] += int(attest[covered.name][0])
        return None

    def finish(self, session: Session) -> tuple[int | None, str] | None:
        for covered in COVERED:
            found = self._kind(session, covered)
            if found is not None:
                return found
        return None

    def _kind(self, session: Session, covered: Covered) -> tuple[int | None, str] | None:
        from gdcluster.engine.models import AuditEntry

        table = covered.table
        columns = [table.c[name] for name in covered.columns]
        if covered.body:
            columns.append(table.c.body)
        statement = (select(table.c.attest_seq, AuditEntry.attest, *columns)  # type: ignore[call-overload]
                     .outerjoin(AuditEntry, AuditEntry.seq == table.c.attest_seq))
        chosen = covered.selectable()
        if chosen is not None:
            statement = statement.where(chosen)
        statement = statement.order_by(table.c.attest_seq, table.c.id)
        with session.execute(statement.execution_options(yield_per=500)) as rows:
            found = self._groups(covered, rows)
        if found is not None:
            return found
        if self.found[covered.name] != self.expected[covered.name]:
            missing = self.expected[covered.name] - self.found[covered.name]
            return self._missing(session, covered), Message(
                "{count} {what} vouched for by the chain are missing from {table}",
                count=missing, what=Message(covered.label), table=table.name)
        return None

    def _groups(self, covered: Covered, rows: Iterable[Any]) -> tuple[int | None, str] | None:
        """Each group of records (by the row vouching for them) against that row."""
        width = len(covered.columns)
        current: int | None = None
        attest_text: str | None = None
        items = Group()
        ids: list[Any] = []  # the first few, to name them
        for row in rows:
            seq, text, values = row[0], row[1], tuple(row[2:2 + width])
            if seq is None:
                self.pending[covered.name] += 1
                continue
            if covered.body:
                body = row[2 + width]
                if hashlib.sha256(body).hexdigest() != row._mapping["sha256"]:
                    return seq, Message("{what} {id}: its body does not match its hash (the "
                                        "stored document was changed)",
                                        what=Message(covered.name), id=values[0])
            if seq != current:
                problem = self._group(covered, current, attest_text, items, ids)
                if problem is not None:
                    return problem
                current, attest_text, items, ids = seq, text, Group(), []
            items.add(values)
            if len(ids) < 5:
                ids.append(values[0])
        return self._group(covered, current, attest_text, items, ids)

    def _group(self, covered: Covered, seq: int | None, text: str | None, items: Group,
               ids: list[Any]) -> tuple[int | None, str] | None:
        if seq is None:
            return None
        attest = json.loads(text) if text else {}
        recorded = attest.get(covered.name)
        counted = items.value()
        if recorded != counted:
            named = ", ".join(str(item) for item in ids)
            return seq, Message("the {what} it vouches for do not match it (now {count}, ids "
                                "{ids}; the row says {recorded}): one was changed, added or "
                                "removed", what=Message(covered.label), count=counted[0],
                                ids=named, recorded=recorded[0] if recorded else 0)
        self.found[covered.name] += counted[0]
        return None

    @staticmethod
    def _missing(session: Session, covered: Covered) -> int | None:
        """The first row whose vouched-for records are all gone (a failure path only)."""
        from sqlalchemy import exists

        from gdcluster.engine.models import AuditEntry

        table = covered.table
        statement = (select(col(AuditEntry.seq)).where(
            col(AuditEntry.attest).contains(f'"{covered.name}":'),
            ~exists().where(table.c.attest_seq == col(AuditEntry.seq)))
            .order_by(col(AuditEntry.seq)).limit(1))
        return session.scalar(statement)

    def counts(self) -> dict[str, int]:
        counts = {covered.name + "s": self.found[covered.name] for covered in COVERED}
        counts.update({f"{name}s_not_yet_vouched_for": count
                       for name, count in self.pending.items()})
        return counts


@dataclass(frozen=True)
class Anchor:
    """A head recorded outside (``audit anchor``): when, the position, the hash."""

    line: int
    at: str
    seq: int
    hash: str

    def name(self) -> Message:
        return Message("anchor of {at} (line {line}: row {seq}, {hash}…)", at=self.at,
                       line=self.line, seq=self.seq, hash=self.hash[:16])


def read_anchors(path: str | os.PathLike[str]) -> list[Anchor]:
    """The anchors of a file ``audit anchor --to FILE`` appended to (JSON lines)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(Message("cannot read the anchors file {path}: {error}", path=path,
                                   error=exc.strerror), field="anchors") from exc
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            anchor = Anchor(number, str(record["at"]), int(record["seq"]), str(record["hash"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(Message("line {number} of {path} is not an anchor (JSON with "
                                       "at, seq, hash)", number=number, path=path),
                               field="anchors") from exc
        if anchor.seq < 0 or len(anchor.hash) != 64:
            raise InvalidInput(Message("line {number} of {path}: seq must be ≥ 0 and hash 64 "
                                       "hex digits", number=number, path=path),
                               field="anchors")
        anchors.append(anchor)
    return anchors


class Anchors:
    """The rows at anchored positions must still hash as recorded outside, and the chain must
    reach every anchor."""

    def __init__(self, anchors: Iterable[Anchor]) -> None:
        self.by_seq: dict[int, list[Anchor]] = {}
        for anchor in anchors:
            self.by_seq.setdefault(anchor.seq, []).append(anchor)
        self.matched = 0
        self.last_seq = 0

    def row(self, entry: Any, attest: dict[str, Any] | None) -> str | None:
        self.last_seq = entry[_SEQ]
        for anchor in self.by_seq.pop(entry[_SEQ], ()):
            if anchor.hash != entry[_HASH]:
                return Message("it differs from the {anchor}: the chain was rewritten up to "
                               "here", anchor=anchor.name())
            self.matched += 1
        return None

    def finish(self, session: Session) -> tuple[int | None, str] | None:
        genesis = self.by_seq.pop(0, [])
        for anchor in genesis:  # an anchor of the empty chain
            if anchor.hash != audit.GENESIS:
                return None, Message("the {anchor} is not the empty chain's",
                                     anchor=anchor.name())
            self.matched += 1
        if self.by_seq:
            anchor = self.by_seq[min(self.by_seq)][0]
            return self.last_seq + 1, Message(
                "the chain ends at row {seq}, before the {anchor}: rows were cut off the end",
                seq=self.last_seq, anchor=anchor.name())
        return None

    def counts(self) -> dict[str, int]:
        return {"anchors": self.matched}


#: The checks every ``audit verify`` runs, as factories (a check keeps state for one pass).
ROW_CHECKS: list[Callable[[], audit.RowCheck]] = [CaseReplay, Coverage]


def row_checks(anchors: Iterable[Anchor] | None = None) -> list[audit.RowCheck]:
    """Fresh checks for one pass: :data:`ROW_CHECKS`, then the anchors if given."""
    checks: list[audit.RowCheck] = [make() for make in ROW_CHECKS]
    if anchors is not None:
        checks.append(Anchors(anchors))
    return checks


def verify(session: Session, *, anchors: Iterable[Anchor] | None = None,
           progress: Callable[[int], None] | None = None) -> audit.VerifyReport:
    """The chain's hashes and links, then everything :data:`ROW_CHECKS` (and ``anchors``)
    check, in one pass over the rows."""
    return audit.verify(session, progress=progress, checks=row_checks(anchors))
