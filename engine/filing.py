"""Filing applications as draft cases: one (``Engine.create_case``) or many at once
(``Engine.create_cases``, ``case import``).

Both take the same checks, in the same order: the input parsed (round, name, industry, the
county-level unit), only that unit itself may file (a refusal is recorded), the application
validated, then — in the write transaction — the round must exist and not be closed. Both write
the same rows: the case, and one audit row (trigger ``create``) per case.

The batch path files its cases in chunks, one transaction per chunk: the chunk's rounds read
once, its cases inserted by one multi-row statement, its audit rows linked in memory and
inserted by one more (``audit.append_many``). A chunk is all or nothing: a refusal found in it
before writing either stops the batch (the chunks before stay filed) or, with ``on_refusal``,
is reported and its case left out.

Within a chunk an application is validated once per distinct input (:class:`Validated`): the
input's exact pickled form is the key, which keeps every type (``"1"``, ``1``, ``1.0``,
``True``, ``Decimal("1.0")`` and ``Decimal("1.00")`` are different keys), the order of keys
and the shape (a tuple is not a list); an input holding anything but plain data is validated
afresh each time, and only accepted inputs are remembered, so a refusal is the validator's own.
An application the schema plainly accepts is put in its stored form in one pass
(``accepted.accepted_json``); any other is validated by the schema, which refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from hashlib import sha256
from io import BytesIO
from itertools import islice
from pickle import Pickler
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from gdcluster.engine import applications
from gdcluster.engine.actors import Actor
from gdcluster.engine.applications import encode
from gdcluster.engine.errors import (
    ClockBehind,
    EngineError,
    InvalidInput,
    PermissionDenied,
    Reason,
    TransitionRefused,
)
from gdcluster.engine.i18n import Message
from gdcluster.engine.models import Case, ReviewRound, Round
from gdcluster.engine.parse import as_year, name_text
from gdcluster.engine.store import connection_of
from gdcluster.engine.views import load_round

if TYPE_CHECKING:
    from gdcluster.engine.kernel import Kernel, Transaction
    from gdcluster.states.regions import Unit

__all__ = ["CHUNK", "NewCase", "Validated", "create_cases", "new_case"]

#: Cases per transaction of the batch path.
CHUNK = 1000
_CASE_TABLE = Case.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NewCase:
    """A case to file, checked: its round, name, unit, industry, the application as stored
    (its canonical JSON, ``applications.encode``) with that text's SHA-256, and who files
    it."""

    round_year: int
    name: str
    unit: Unit
    industry: str
    application: str
    application_sha256: str
    who: Actor


class _Unkeyed(Exception):
    """The input holds something other than plain data: it has no key."""


#: The types a key may hold besides those pickle writes itself (None, bool, int, float, str,
#: bytes, tuple, list, dict, set): each pickled as its exact value (a Decimal by its digits,
#: a date by its bytes).
_PLAIN = (Decimal, date)


class _ExactPickler(Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # pickle asks only about objects it does not write itself: subclasses of the plain
        # types (a dict subclass may read differently), classes and anything else
        if type(obj) in _PLAIN or obj is Decimal or obj is date:
            return NotImplemented
        raise _Unkeyed


class Validated:
    """The applications of one chunk, each distinct input validated once: ``stored(data)`` is
    ``(text, sha256)`` of the validated application as stored."""

    def __init__(self) -> None:
        self._known: dict[bytes, tuple[str, str]] = {}

    def stored(self, data: Mapping[str, Any]) -> tuple[str, str]:
        key = _key(data)
        if key is not None and (known := self._known.get(key)) is not None:
            return known
        made = stored_application(data)
        if key is not None:
            self._known[key] = made
        return made


def _key(data: Any) -> bytes | None:
    """``data`` exactly, as bytes (None when it holds more than plain data)."""
    buffer = BytesIO()
    try:
        _ExactPickler(buffer, protocol=5).dump(data)
    except (_Unkeyed, RecursionError):
        return None
    return buffer.getvalue()


def stored_application(data: Mapping[str, Any]) -> tuple[str, str]:
    """``data`` validated (``InvalidInput`` when refused), as stored: its text and SHA-256."""
    from gdcluster.engine.accepted import accepted_json
    from gdcluster.engine.application import to_json, validate_application

    stored = accepted_json(data)  # the plainly accepted case, in one pass; None when in doubt
    if stored is None:
        stored = to_json(validate_application(dict(data)))
    text = encode(stored)
    return text, sha256(text.encode("utf-8")).hexdigest()


def new_case(kernel: Kernel, validated: Validated | None = None, /, *, round_year: Any,
             name: Any, county: Any, industry: Any, data: Mapping[str, Any],
             actor: Actor | str) -> NewCase:
    """The checks before any write: the input parsed, the filer allowed (a refusal is
    recorded), the application validated (by ``validated``, the chunk's, in a batch)."""
    from gdcluster.states.regions import UnknownRegion, load_regions

    who = Actor.of(actor)
    round_year = as_year(round_year, "round")
    name = name_text(name, "name")
    industry = name_text(industry, "industry")
    try:
        unit = load_regions().unit(county)
    except UnknownRegion as exc:
        raise InvalidInput(str(exc), field="county") from exc
    rule = kernel.lifecycle.creation
    if who.kind not in rule.actors or who.region != unit.name:
        error = PermissionDenied(
            Message("{who} may not file an application for {unit}; only county:{unit} may",
                    who=who, unit=unit.name),
            actor=str(who), trigger=rule.trigger,
        )
        kernel.record_refusal(who, rule.trigger, error, round_year=round_year)
        raise error
    text, text_sha256 = (stored_application(data) if validated is None
                         else validated.stored(data))
    return NewCase(round_year, name, unit, industry, text, text_sha256, who)


def file_cases(transaction: Transaction, kernel: Kernel, cases: list[NewCase],
               now: datetime) -> list[int]:
    """The cases and their audit rows, in ``transaction``, in order; refused (nothing of
    them written) when a round is closed."""
    rule = kernel.lifecycle.creation
    rounds = {}
    for year in dict.fromkeys(case.round_year for case in cases):
        session = transaction.session
        if session.get(Round, year) is None and session.get(ReviewRound, year) is not None:
            raise TransitionRefused(
                Message("round {year} is a 复核 round: applications for recognition are filed "
                        "in a recognition round", year=year),
                trigger=rule.trigger, round_year=year, reasons=[Reason.REVIEW_ROUND])
        round_row = load_round(session, year)
        if round_row.closed_at is not None:
            raise TransitionRefused(
                Message("round {year} is closed: no application is filed in it any more",
                        year=year),
                trigger=rule.trigger, round_year=year, reasons=[Reason.ROUND_CLOSED])
        rounds[year] = round_row
    rows = []
    for case in cases:
        round_row = rounds[case.round_year]
        rows.append({
            "round_year": case.round_year, "name": case.name, "city": case.unit.city,
            "county": case.unit.name, "industry": case.industry, "state": rule.dest,
            "version": 1, "policy": round_row.policy,
            "policy_version": round_row.policy_version,
            "policy_digest": round_row.policy_digest, "created_at": now, "updated_at": now})
    connection = connection_of(transaction.session)
    if len(rows) == 1:  # one case (Engine.create_case): INSERT … RETURNING, one audit append
        ids = [connection.execute(insert(_CASE_TABLE).returning(_CASE_TABLE.c.id),
                                  rows[0]).scalar_one()]
    else:
        ids = list(connection.execute(
            insert(_CASE_TABLE).returning(_CASE_TABLE.c.id, sort_by_parameter_order=True),
            rows).scalars())
    applications.insert_many(connection, [{"case_id": case_id, "data": case.application}
                                          for case_id, case in zip(ids, cases, strict=True)])
    records = [
        {"actor": case.who, "trigger": rule.trigger, "article": rule.article, "at": now,
         "case_id": case_id, "round_year": case.round_year, "from_state": None,
         "to_state": rule.dest,
         "case": SimpleNamespace(state=rule.dest, version=1, valid_from=None, valid_until=None,
                                 previous_state=None),
         "payload": {"name": case.name, "county": case.unit.name, "industry": case.industry,
                     "application_sha256": case.application_sha256}}
        for case, case_id in zip(cases, ids, strict=True)]
    if len(records) == 1:
        transaction.record(**records[0])
    else:
        transaction.record_many(records)
    return ids


def write_cases(kernel: Kernel, cases: list[NewCase]) -> list[int]:
    """``cases`` in one transaction of their own, at the clock's time; with the system clock,
    done again at a fresh time when another act was recorded meanwhile (``ClockBehind``)."""
    from gdcluster.engine.clock import is_system_clock

    retries = 3
    for attempt in range(retries + 1):
        try:
            with kernel.transaction() as transaction:
                return file_cases(transaction, kernel, cases, kernel.clock.now())
        except ClockBehind:
            if not is_system_clock(kernel.clock) or attempt == retries:
                raise
    raise AssertionError("unreachable")


def _chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def create_cases(kernel: Kernel, rows: Iterable[Mapping[str, Any]], *, chunk: int = CHUNK,
                 on_refusal: Callable[[int, EngineError], None] | None = None
                 ) -> list[int | None]:
    """File each of ``rows`` (``Engine.create_case``'s keyword arguments) as a draft case,
    ``chunk`` cases per transaction; the ids in the order of ``rows``.

    Without ``on_refusal`` the first refused row stops the batch with its error: its chunk
    writes nothing, the chunks before it stay filed. With it, ``on_refusal(index, error)`` is
    told of each refused row, whose id is ``None``, and the others are filed.
    """
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise InvalidInput("must be a whole number of at least 1", field="chunk")
    ids: list[int | None] = []
    for part in _chunks(rows, chunk):
        start = len(ids)
        ids.extend([None] * len(part))
        checked: list[tuple[int, NewCase]] = []
        validated = Validated()
        for offset, row in enumerate(part):
            try:
                checked.append((start + offset, new_case(kernel, validated, **row)))
            except (EngineError, TypeError) as error:
                refusal = error if isinstance(error, EngineError) else InvalidInput(
                    str(error), field=f"rows[{start + offset}]")
                if on_refusal is None:
                    raise refusal from None
                on_refusal(start + offset, refusal)
        _write_checked(kernel, checked, ids, on_refusal)
    return ids


def _write_checked(kernel: Kernel, checked: list[tuple[int, NewCase]], ids: list[int | None],
                   on_refusal: Callable[[int, EngineError], None] | None) -> None:
    """Write a chunk's checked cases; a round refused (closed, not found) is reported for
    each of its cases, and the chunk written again without them."""
    while checked:
        try:
            written = write_cases(kernel, [case for _, case in checked])
        except TransitionRefused as refusal:
            year = refusal.facts.get("round_year")
            for _, case in checked:
                if case.round_year == year or on_refusal is None:
                    kernel.record_refusal(case.who, kernel.lifecycle.creation.trigger,
                                          refusal, round_year=case.round_year)
                    if on_refusal is None:
                        break
            if on_refusal is None:
                raise
            checked = _without_round(checked, year, refusal, on_refusal)
            continue
        except EngineError as error:
            if on_refusal is None or error.facts.get("what") != "round":
                raise
            checked = _without_round(checked, error.facts.get("key"), error, on_refusal)
            continue
        for (index, _), case_id in zip(checked, written, strict=True):
            ids[index] = case_id
        return


def _without_round(checked: list[tuple[int, NewCase]], year: Any, error: EngineError,
                   on_refusal: Callable[[int, EngineError], None]) -> list[tuple[int, NewCase]]:
    kept = []
    for index, case in checked:
        if case.round_year == year:
            on_refusal(index, error)
        else:
            kept.append((index, case))
    if len(kept) == len(checked):  # not a refusal of one of these rounds: do not loop
        raise error
    return kept
