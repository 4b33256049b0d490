"""Recognition with the published list (第十五条(三), DESIGN §2): ``round recognize``.

A case is recognized only by the 名单通告 that lists it, never by a timer: the end of publicity
closes the window (``close_publicity``), and the 通告 recognizes the round's cases whose
publicity has closed, each with the one validity the 通告 states. In order, ``round recognize
YEAR --doc-no NO [--doc-date D] [--valid-from D]``:

1. closes each publicity of the round whose window has ended with no objection open, as the
   timer would (dated now, by the province);
2. recognizes the round's ``publicity_closed`` cases as a stored batch (resumable after a
   crash, like the publicity pick): the 通告's 成文日期 ``doc_date`` (default: the day of the
   act) may precede the day it is entered, as paper is signed first, but is never on or before
   the close of any listed case's publicity and never after today; validity starts on the
   成文日期 or on a later ``valid_from``;
3. records the round's act ``recognize_round`` (its 名单通告 lists this batch's cases), once;
4. runs ``round close`` for the round's leftovers, where no window of the round still runs.

A rerun that finds nobody to recognize writes nothing: no act, no notice, no change to the
round. A rerun that finds cases whose publicity closed since is a supplementary 通告 for those
only, under a 文号 of its own (the same 文号 again is refused).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import col

from gdcluster.engine import deadlines, rounds
from gdcluster.engine.actors import Actor
from gdcluster.engine.clock import end_of_day, local_date
from gdcluster.engine.errors import InvalidInput, TransitionRefused
from gdcluster.engine.i18n import Message
from gdcluster.engine.kernel import Kernel
from gdcluster.engine.models import AuditEntry, Case, Objection, Round
from gdcluster.engine.parse import as_date, as_year, validate_doc_no
from gdcluster.engine.policies import policy_for
from gdcluster.engine.views import iso, load_round

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


__all__ = ["RecognitionResult", "recognize_round"]

ARTICLE = "《暂行办法》认定程序：认定"


@dataclass(frozen=True)
class RecognitionResult:
    """What ``round recognize`` did: the cases its 通告 recognized (none when there was nobody
    to recognize: then nothing was written), the publicity it closed first, the cases still
    in publicity (id → why), the 通告's 文号, 成文日期 and validity, and the round's closing."""

    year: int
    recognized: list[int]
    publicity_closed: list[int]
    held: dict[str, str]
    doc_no: str | None
    doc_date: str | None
    valid_from: str | None
    valid_until: str | None
    batch: int | None
    supplementary: bool
    resumed: bool
    elsewhere: dict[str, str]
    closed: rounds.CloseResult | None
    not_closed: str | None

    def act_payload(self) -> dict[str, Any]:
        """What the round's audit row (and its 名单通告) records."""
        return {"year": self.year, "recognized": list(self.recognized), "doc_no": self.doc_no,
                "doc_date": self.doc_date, "valid_from": self.valid_from,
                "valid_until": self.valid_until, "batch": self.batch,
                "supplementary": self.supplementary}

    def to_dict(self) -> dict[str, Any]:
        return {**self.act_payload(), "publicity_closed": list(self.publicity_closed),
                "held": self.held, "resumed": self.resumed, "elsewhere": self.elsewhere,
                "closed": self.closed.to_dict() if self.closed is not None else None,
                "not_closed": self.not_closed}


def recognize_round(
    kernel: Kernel, year: int, who: Actor, *, doc_no: str | None,
    doc_date: date | str | None = None, valid_from: date | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> RecognitionResult:
    """``round recognize``: see the module's docstring."""
    year = as_year(year)
    kernel.require(who, ("province",), "recognize_round",
                   Message("recognize round {year}", year=year),
                   round_year=year)
    if doc_no is None or not str(doc_no).strip():
        raise InvalidInput("is required: the 发文字号 of the 名单通告", field="doc_no")
    validate_doc_no(doc_no)
    now = kernel.clock.now()
    today = local_date(now)
    signed = as_date(doc_date, "doc_date") or today
    if signed > today:
        raise InvalidInput(Message("the 通告's 成文日期 {day} is after today ({today})",
                                   day=signed, today=today), field="doc_date")
    start = as_date(valid_from, "valid_from") or signed
    if start < signed:
        raise InvalidInput(Message("validity cannot start ({start}) before the 通告's 成文日期 "
                                   "{day}", start=start, day=signed), field="valid_from")
    arguments = {"doc_no": doc_no, "doc_date": signed.isoformat(),
                 "valid_from": start.isoformat()}
    given = {"doc_no": doc_no, "doc_date": iso(as_date(doc_date, "doc_date")),
             "valid_from": iso(as_date(valid_from, "valid_from"))}
    kernel.check_batch(who, "recognize_round", year)
    closable, held = _publicity_to_close(kernel, year, now)
    _check_documents(kernel, who, year, closable, signed, doc_no, given)
    closed_now = []
    for case_id in closable:
        found = rounds.batch_act(kernel, case_id, "close_publicity", who, {},
                                 waiting="publicized", target="publicity_closed")
        if found is None:
            closed_now.append(case_id)
    def new_batch(session: Session, round_row: Round, batch: int) -> dict[str, Any] | None:
        ids = _closed_cases(session, year)
        if not ids:
            return None
        _check_after_publicity(session, ids, signed)
        earlier = _earlier_doc_nos(session, year)
        if doc_no in earlier:
            raise _reused(year, doc_no, earlier[doc_no])
        if round_row.recognition_doc_no is None:  # the round's first 通告
            round_row.recognition_doc_no = doc_no
            round_row.valid_from = start
        return {"batch": batch, "by": str(who), "at": now.isoformat(), **arguments,
                "cases": ids, "done": False}

    batch, resumed, calendar = rounds.stored_batch(
        kernel, who, year, "recognize", new_batch, None,
        resumable=lambda stored: "doc_date" in stored, **given)
    if batch is None:
        return _finish(kernel, year, who, RecognitionResult(
            year=year, recognized=[], publicity_closed=closed_now, held=held, doc_no=None,
            doc_date=None, valid_from=None, valid_until=None, batch=None,
            supplementary=False, resumed=False, elsewhere={}, closed=None, not_closed=None))
    valid = date.fromisoformat(batch["valid_from"])
    payload = {"valid_from": valid, "doc_no": batch["doc_no"],
               "doc_date": date.fromisoformat(batch["doc_date"]), "batch": batch["batch"]}
    recognized: list[int] = []
    elsewhere: dict[str, str] = {}
    for case_id in batch["cases"]:
        found = rounds.batch_act(kernel, case_id, "recognize", who, dict(payload),
                                 waiting="publicity_closed", target="recognized",
                                 calendar=calendar)
        if found is None:
            recognized.append(case_id)
        else:
            elsewhere[str(case_id)] = found
        if progress:
            progress(1)
    with kernel.store.read() as session:
        round_row = load_round(session, year)
        years = int(policy_for(round_row.policy, round_row.policy_digest)
                    .periods.validity_years)
        supplementary = any(earlier != batch["batch"] for earlier
                            in _earlier_doc_nos(session, year).values())
    result = RecognitionResult(
        year=year, recognized=recognized, publicity_closed=closed_now, held=held,
        doc_no=batch["doc_no"], doc_date=batch["doc_date"], valid_from=batch["valid_from"],
        valid_until=deadlines.validity_until(valid, years).isoformat(), batch=batch["batch"],
        supplementary=supplementary, resumed=resumed, elsewhere=elsewhere, closed=None,
        not_closed=None)
    # a batch whose cases all went elsewhere is done without an act: its 通告 would list none
    rounds.finish_batch(kernel, year, "recognition_batch", batch["batch"], who,
                        "recognize_round" if recognized else None,
                        ARTICLE if recognized else None,
                        result.act_payload() if recognized else None)
    return _finish(kernel, year, who, result)


def _finish(kernel: Kernel, year: int, who: Actor,
            result: RecognitionResult) -> RecognitionResult:
    """Close the round's leftovers where no window of the round still runs."""
    now = kernel.clock.now()
    with kernel.store.read() as session:
        round_row = load_round(session, year)
        blocked = rounds.closing_blocked(session, round_row, now) \
            if round_row.closed_at is None else None
    if blocked is not None:
        return _with(result, closed=None, not_closed=blocked)
    closed = rounds.close_round(kernel, year, who)
    return _with(result, closed=closed, not_closed=None)


def _with(result: RecognitionResult, **changes: Any) -> RecognitionResult:
    return replace(result, **changes)


def _publicity_to_close(kernel: Kernel, year: int, now: Any
                        ) -> tuple[list[int], dict[str, str]]:
    """The round's cases in publicity whose window has ended with no objection open (to be
    closed now), and the others with why they are held."""
    closable: list[int] = []
    held: dict[str, str] = {}
    with kernel.store.read() as session:
        rows = list(session.execute(
            select(col(Case.id), col(Case.publicity_end)).where(col(Case.round_year) == year,
                                                                col(Case.state) == "publicized")
            .order_by(col(Case.id))))
        objected = set(session.scalars(
            select(col(Objection.case_id))
            .where(col(Objection.case_id).in_([row.id for row in rows]),
                   col(Objection.status) == "open")))
    for row in rows:
        if row.publicity_end is None or now < end_of_day(row.publicity_end):
            held[str(row.id)] = f"in publicity until 24:00 of {row.publicity_end}"
        elif row.id in objected:
            held[str(row.id)] = "an objection is open: the province decides it first"
        else:
            closable.append(row.id)
    return closable, held


def _closed_cases(session: Session, year: int) -> list[int]:
    return list(session.scalars(
        select(col(Case.id))
        .where(col(Case.round_year) == year, col(Case.state) == "publicity_closed")
        .order_by(col(Case.id))))


def _check_documents(kernel: Kernel, who: Actor, year: int, closable: list[int],
                     signed: date, doc_no: str, given: dict[str, str | None]) -> None:
    """Before anything is written: the 成文日期 comes after the close of publicity of every
    case the 通告 would list, and a new 通告 does not reuse an earlier 文号 of the round. A
    refusal is recorded like the round act's."""
    try:
        with kernel.store.read() as session:
            round_row = load_round(session, year)
            stored = round_row.recognition_batch
            if stored is not None and not stored.get("done") and "doc_date" in stored:
                return  # resuming a batch: stored_batch compares the arguments
            ids = [*_closed_cases(session, year), *closable]
            if not ids:
                return
            _check_after_publicity(session, ids, signed)
            earlier = _earlier_doc_nos(session, year)
            if doc_no in earlier:
                raise _reused(year, doc_no, earlier[doc_no])
    except TransitionRefused as refusal:
        kernel.record_refusal(who, "recognize_round", refusal, round_year=year)
        raise


def _check_after_publicity(session: Session, ids: list[int], signed: date) -> None:
    last = session.execute(
        select(col(Case.id), col(Case.publicity_end)).where(col(Case.id).in_(ids))
        .order_by(col(Case.publicity_end).desc(), col(Case.id)).limit(1)
    ).first()
    if last is not None and last.publicity_end is not None and signed <= last.publicity_end:
        raise InvalidInput(
            Message("the 通告's 成文日期 {day} is not after the close of publicity: case {id}'s "
                    "publicity ran until {end}; the 通告 is signed after it", day=signed,
                    id=last.id, end=last.publicity_end), field="doc_date")


def _earlier_doc_nos(session: Session, year: int) -> dict[str, int]:
    """The 文号 of each 名单通告 of the round so far, with its batch number."""
    found: dict[str, int] = {}
    for payload in session.scalars(
        select(col(AuditEntry.payload)).where(col(AuditEntry.trigger) == "recognize_round",
                                              col(AuditEntry.round_year) == year,
                                              col(AuditEntry.case_id).is_(None))
    ):
        data = json.loads(payload)
        if data.get("doc_no"):
            found[str(data["doc_no"])] = int(data.get("batch") or 0)
    return found


def _reused(year: int, doc_no: str, batch: int) -> TransitionRefused:
    return TransitionRefused(
        Message("{doc_no} is the 文号 of round {year}'s 名单通告 (batch {batch}): the cases "
                "whose publicity has closed since are recognized by a supplementary 通告 with "
                "a 文号 of its own", doc_no=doc_no, year=year, batch=batch),
        round_year=year, doc_no=doc_no)
