"""Round acts: opening a round, and the two batches that move many of its cases at once —
publicity (公示, ``round publicize``) and recognition (名单通告, ``round recognize``).

A batch is stored on the round before its first case moves (``publicity_pick``,
``recognition_batch``); each case then moves in a transaction of its own through the act kernel,
exactly as ``Engine.fire`` would move it; the round's own act (and its notice) is recorded
once, by whoever finishes the batch. A run cut short (a crash, a lost race) is finished by
running it again with the same arguments; other arguments are refused until then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gdcluster.engine import deadlines
from gdcluster.engine.actors import Actor
from gdcluster.engine.calendar import calendar_from_session
from gdcluster.engine.clock import end_of_day, local_date
from gdcluster.engine.errors import InvalidInput, PermissionDenied, Reason, TransitionRefused
from gdcluster.engine.kernel import Kernel
from gdcluster.engine.models import Case, Round
from gdcluster.engine.parse import (
    as_date,
    as_year,
    name_text,
    publicity_choice,
    validate_doc_no,
    validate_quotas,
)
from gdcluster.engine.policies import policy_for
from gdcluster.engine.views import iso, load_round
from gdcluster.states.policy import DEFAULT_POLICY

if TYPE_CHECKING:
    from gdcluster.engine.calendar import WorkCalendar

__all__ = ["PublicityResult", "RecognitionResult", "batch_act", "open_round",
           "publicize_round", "recognize_round"]


@dataclass(frozen=True)
class PublicityResult:
    """What ``round publicize`` did: the cases publicized and rejected (未入选), the period."""

    year: int
    publicized: list[int]
    rejected: list[int]
    publicity_start: str
    publicity_end: str
    doc_no: str | None
    #: The stored pick's number, whether this run finished a pick left unfinished, and the
    #: cases another act had moved elsewhere meanwhile (id → state).
    batch: int
    resumed: bool
    elsewhere: dict[str, str]

    def act_payload(self) -> dict[str, Any]:
        """What the round's audit row (and its 公示 notice) records."""
        return {"year": self.year, "publicized": list(self.publicized),
                "rejected": list(self.rejected), "publicity_start": self.publicity_start,
                "publicity_end": self.publicity_end, "doc_no": self.doc_no}

    def to_dict(self) -> dict[str, Any]:
        return {**self.act_payload(), "batch": self.batch, "resumed": self.resumed,
                "elsewhere": self.elsewhere}


@dataclass(frozen=True)
class RecognitionResult:
    """What ``round recognize`` did: every recognized case of the round (the 名单通告's list),
    those of this batch, and those held (id → why)."""

    year: int
    recognized: list[int]
    newly_recognized: list[int]
    held: dict[str, str]
    valid_from: str | None
    doc_no: str | None
    batch: int
    resumed: bool
    elsewhere: dict[str, str]

    def act_payload(self) -> dict[str, Any]:
        """What the round's audit row (and its 名单通告) records."""
        return {"year": self.year, "recognized": self.recognized,
                "newly_recognized": self.newly_recognized, "held": self.held,
                "valid_from": self.valid_from, "doc_no": self.doc_no}

    def to_dict(self) -> dict[str, Any]:
        return {**self.act_payload(), "batch": self.batch, "resumed": self.resumed,
                "elsewhere": self.elsewhere}


# ---------------------------------------------------------------------------- opening
def open_round(
    kernel: Kernel, year: int, who: Actor, *, policy: str | None = None,
    apply_by: date | str | None = None, recommend_by: date | str | None = None,
    quotas: Mapping[str, tuple[int, int]] | None = None, notice_title: str | None = None,
    notice_doc_no: str | None = None,
) -> None:
    """Open round ``year`` (province): its policy, deadlines, quotas and 申报通知."""
    year = as_year(year)
    kernel.require(who, ("province",), "open_round", "open a round", round_year=year)
    chosen = policy_for(policy or DEFAULT_POLICY)
    apply_day = as_date(apply_by, "apply_by")
    recommend_day = as_date(recommend_by, "recommend_by")
    if apply_day and recommend_day and recommend_day < apply_day:
        raise InvalidInput("the recommendation deadline comes before the application one",
                           field="recommend_by")
    quota_table = validate_quotas(quotas) if quotas else None
    if notice_title is not None:
        notice_title = name_text(notice_title, "notice_title", limit=500)
    if notice_doc_no is not None:
        validate_doc_no(notice_doc_no)
    now = kernel.clock.now()
    with kernel.transaction() as transaction:
        session = transaction.session
        if session.get(Round, year) is not None:
            raise TransitionRefused(f"round {year} is already open", round_year=year)
        session.add(Round(
            year=year, policy=chosen.name, policy_version=chosen.version,
            policy_digest=chosen.digest, apply_by=apply_day, recommend_by=recommend_day,
            quotas=quota_table, notice_title=notice_title, notice_doc_no=notice_doc_no,
            opened_at=now,
        ))
        session.flush()
        for day, kind in ((apply_day, deadlines.ROUND_APPLY_CLOSE),
                          (recommend_day, deadlines.ROUND_RECOMMEND_CLOSE)):
            if day is not None:
                deadlines.schedule(session, kind=kind, key=deadlines.round_key(year, kind),
                                   due_at=end_of_day(day), now=now, round_year=year)
        transaction.record(
            actor=who, trigger="open_round", article="《暂行办法》认定程序：组织申报", at=now,
            round_year=year,
            payload={"policy": chosen.name, "policy_version": chosen.version,
                     "apply_by": iso(apply_day), "recommend_by": iso(recommend_day),
                     "quotas": quota_table},
        )


# ---------------------------------------------------------------------------- publicity
def publicize_round(
    kernel: Kernel, year: int, who: Actor, *, top: int | None = None,
    min_score: Decimal | str | None = None, select_ids: Iterable[int] | None = None,
    start: date | str | None = None, doc_no: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> PublicityResult:
    """Pick the cases for publicity; publicize them and reject the others (未入选).

    The pick is computed once, checked for a tie straddling the cut, and stored on the round
    in the transaction that makes it, before any case moves. Several processes may run the
    same pick at once; each case moves once. Once a pick is finished, a new run picks among
    the cases expert-reviewed since.
    """
    year = as_year(year)
    kernel.require(who, ("province",), "publicize_round", f"publicize round {year}",
                   round_year=year)
    choice = publicity_choice(top, min_score, select_ids)
    start_day = as_date(start, "start")
    if doc_no is not None:
        validate_doc_no(doc_no)
    kernel.check_batch(who, "publicize_round", year)
    now = kernel.clock.now()

    def new_pick(session: Session, round_row: Round, number: int) -> dict[str, Any]:
        pick = _pick(session, round_row, choice, start_day or local_date(now), doc_no, who,
                     now, batch=number)
        if doc_no is not None:
            round_row.publicity_doc_no = doc_no
        return pick

    pick, resumed, calendar = _stored_batch(
        kernel, who, year, "publicize", new_pick, choice, start=iso(start_day), doc_no=doc_no)
    chosen = set(pick["publicize"])
    elsewhere: dict[str, str] = {}
    for case_id in pick["ranked"]:
        if case_id in chosen:
            found = batch_act(kernel, case_id, "publicize", who,
                              {"start": date.fromisoformat(pick["start"])},
                              waiting="expert_reviewed", target="publicized", calendar=calendar)
        else:
            found = batch_act(kernel, case_id, "reject", who, {"reason": "未入选"},
                              waiting="expert_reviewed", target="rejected")
        if found is not None:
            elsewhere[str(case_id)] = found
        if progress:
            progress(1)
    result = PublicityResult(
        year=year, publicized=list(pick["publicize"]), rejected=list(pick["reject"]),
        publicity_start=pick["publicity_start"], publicity_end=pick["publicity_end"],
        doc_no=pick["doc_no"], batch=pick["batch"], resumed=resumed, elsewhere=elsewhere,
    )
    _finish_batch(kernel, year, "publicity_pick", pick["batch"], who, "publicize_round",
                  "《暂行办法》认定程序：公示", result.act_payload())
    return result


def _pick(
    session: Session, round_row: Round, choice: dict[str, Any], start_day: date,
    doc_no: str | None, who: Actor, now: datetime, *, batch: int,
) -> dict[str, Any]:
    """The publicity pick among the round's expert-reviewed cases, as it is stored."""
    year = round_row.year
    policy = policy_for(round_row.policy, round_row.policy_digest)
    candidates = list(session.execute(
        select(Case.id, Case.score, Case.name)
        .where(Case.round_year == year, Case.state == "expert_reviewed").order_by(Case.id)
    ).all())
    if not candidates:
        raise TransitionRefused(f"round {year} has no expert-reviewed case to publicize",
                                round_year=year)
    calendar = calendar_from_session(session)
    # fail before changing anything if the calendar cannot count the period
    end_day = calendar.add_workdays(start_day, int(policy.periods.publicity_workdays))
    ranked = sorted(candidates, key=lambda row: (-Decimal(row.score or "0"), row.id))
    if "top" in choice:
        top = choice["top"]
        picked = ranked[:top]
        if len(ranked) > top and Decimal(ranked[top - 1].score or 0) == Decimal(
            ranked[top].score or 0
        ):
            tie = Decimal(ranked[top - 1].score or 0)
            tied = [f"{row.id} {row.name}" for row in ranked if Decimal(row.score or 0) == tie]
            raise TransitionRefused(
                f"a tie at score {tie} straddles the cut at {top}: " + "; ".join(tied)
                + ". Choose with --select or --min-score.",
                round_year=year, tied=tied,
            )
    elif "min_score" in choice:
        threshold = Decimal(choice["min_score"])
        picked = [row for row in ranked if Decimal(row.score or 0) >= threshold]
    else:
        wanted = set(choice["select"])
        unknown = sorted(wanted - {row.id for row in candidates})
        if unknown:
            raise InvalidInput(
                f"case(s) {', '.join(map(str, unknown))} are not expert-reviewed cases of "
                f"round {year}", field="select",
            )
        picked = [row for row in ranked if row.id in wanted]
    picked_ids = {row.id for row in picked}
    return {
        "batch": batch, "choice": choice, "by": str(who), "at": now.isoformat(),
        "start": start_day.isoformat(), "doc_no": doc_no,
        "publicity_start": calendar.next_workday(start_day).isoformat(),
        "publicity_end": end_day.isoformat(),
        "ranked": [row.id for row in ranked],
        "publicize": [row.id for row in ranked if row.id in picked_ids],
        "reject": [row.id for row in ranked if row.id not in picked_ids],
        "done": False,
    }


# ---------------------------------------------------------------------------- recognition
def recognize_round(
    kernel: Kernel, year: int, who: Actor, *, valid_from: date | str | None = None,
    doc_no: str | None = None, progress: Callable[[int], None] | None = None,
) -> RecognitionResult:
    """Recognize the round's publicized cases whose publicity is over without an open
    objection (the others are held and stay publicized), and issue the 名单通告: it lists
    every recognized case of the round, including those the scheduler recognized at the end
    of publicity. A stored batch never carries two validity starts: a different
    ``valid_from`` or ``doc_no`` is refused until it is finished.
    """
    year = as_year(year)
    start = as_date(valid_from, "valid_from")
    if doc_no is not None:
        validate_doc_no(doc_no)
    kernel.require(who, ("province",), "recognize", "recognize a round", round_year=year)
    kernel.check_batch(who, "recognize_round", year)
    now = kernel.clock.now()

    def new_batch(session: Session, round_row: Round, number: int) -> dict[str, Any]:
        ids = list(session.scalars(
            select(Case.id).where(Case.round_year == year, Case.state == "publicized")
            .order_by(Case.id)
        ))
        if start is not None:
            round_row.valid_from = start
        if doc_no is not None:
            round_row.recognition_doc_no = doc_no
        return {"batch": number, "by": str(who), "at": now.isoformat(),
                "valid_from": iso(start), "doc_no": doc_no, "cases": ids, "done": False}

    batch, resumed, calendar = _stored_batch(
        kernel, who, year, "recognize", new_batch, None, valid_from=iso(start), doc_no=doc_no)
    start = as_date(batch["valid_from"], "valid_from")
    recognized: list[int] = []
    held: dict[int, str] = {}
    elsewhere: dict[str, str] = {}
    for case_id in batch["cases"]:
        try:
            found = batch_act(kernel, case_id, "recognize", who, {"valid_from": start},
                              waiting="publicized", target="recognized", calendar=calendar)
        except TransitionRefused as exc:
            held[case_id] = exc.message
        else:
            if found is None:
                recognized.append(case_id)
            else:
                elsewhere[str(case_id)] = found
        if progress:
            progress(1)
    with kernel.store.read() as session:
        # the 名单通告 names every cluster of the round now recognized, including those the
        # scheduler recognized at the end of publicity before the province published it
        listed = list(session.scalars(
            select(Case.id).where(Case.round_year == year, Case.state == "recognized")
            .order_by(Case.id)
        ))
    result = RecognitionResult(
        year=year, recognized=listed, newly_recognized=recognized,
        held={str(key): value for key, value in held.items()},
        valid_from=batch["valid_from"], doc_no=batch["doc_no"], batch=batch["batch"],
        resumed=resumed, elsewhere=elsewhere,
    )
    if listed:
        _finish_batch(kernel, year, "recognition_batch", batch["batch"], who, "recognize_round",
                      "《暂行办法》认定程序：认定", result.act_payload())
    else:  # a batch that recognized nothing is done without an act to record
        _finish_batch(kernel, year, "recognition_batch", batch["batch"], who, None, None, None)
    return result


# ---------------------------------------------------------------------------- batch plumbing
#: Where each kind of batch is stored on the round, and the round act that finishes it.
_BATCHES = {"publicize": ("publicity_pick", "publicize_round"),
            "recognize": ("recognition_batch", "recognize_round")}


def _stored_batch(
    kernel: Kernel, who: Actor, year: int, kind: str,
    start_new: Callable[[Session, Round, int], dict[str, Any]], choice: dict[str, Any] | None,
    **given: str | None,
) -> tuple[dict[str, Any], bool, WorkCalendar]:
    """The round's unfinished batch of ``kind`` — refused when this run's arguments differ —
    or a new one (``start_new``), stored on the round before any case moves; whether it was
    resumed; and the working-day calendar for the whole batch. A refusal is recorded as the
    round act's."""
    column, trigger = _BATCHES[kind]
    try:
        with kernel.store.write() as session:
            round_row = load_round(session, year, lock=True)
            stored = getattr(round_row, column)
            resumed = stored is not None and not stored.get("done")
            if resumed:
                _check_same_batch(kind, year, stored, choice, **given)
            else:
                stored = start_new(session, round_row, (stored or {}).get("batch", 0) + 1)
                setattr(round_row, column, stored)
            # one calendar for the whole batch (the one a pick's period was counted with)
            calendar = calendar_from_session(session)
    except TransitionRefused as refusal:
        kernel.record_refusal(who, trigger, refusal, round_year=year)
        raise
    return stored, resumed, calendar


def batch_act(kernel: Kernel, case_id: int, trigger: str, who: Actor, payload: dict[str, Any],
              *, waiting: str, target: str, calendar: WorkCalendar | None = None) -> str | None:
    """One case of a stored batch, through the act kernel: ``None`` when it is in ``target``
    now (moved by this call, or earlier by an interrupted run or a concurrent one), else the
    state another act left it in. Finding it moved already is no refusal: nothing is
    recorded then."""
    try:
        kernel.act(case_id, trigger, who, payload, view=False, calendar=calendar,
                   record_refusal=False)
    except TransitionRefused as refusal:
        if Reason.WRONG_STATE in refusal.reasons and refusal.state != waiting:
            return None if refusal.state == target else str(refusal.state)
        kernel.record_refusal(who, trigger, refusal, case_id=case_id)
        raise
    except PermissionDenied as denied:
        kernel.record_refusal(who, trigger, denied, case_id=case_id)
        raise
    return None


def _finish_batch(kernel: Kernel, year: int, column: str, batch: int, who: Actor,
                  trigger: str | None, article: str | None,
                  payload: dict[str, Any] | None) -> bool:
    """Mark the stored batch done and record the round's act (``trigger``), once: a
    concurrent run that finishes the same batch later writes nothing."""
    with kernel.transaction() as transaction:
        round_row = load_round(transaction.session, year, lock=True)
        stored = getattr(round_row, column)
        if stored is None or stored.get("batch") != batch or stored.get("done"):
            return False
        at = kernel.clock.now()
        setattr(round_row, column, {**stored, "done": True, "done_at": at.isoformat()})
        if trigger is not None:
            assert article is not None
            transaction.record(actor=who, trigger=trigger, article=article, at=at,
                               round_year=year, payload=payload)
    return True


def _choice_text(choice: dict[str, Any]) -> str:
    if "top" in choice:
        return f"--top {choice['top']}"
    if "min_score" in choice:
        return f"--min-score {choice['min_score']}"
    return "--select " + ",".join(map(str, choice["select"]))


def _check_same_batch(kind: str, year: int, stored: dict[str, Any],
                      choice: dict[str, Any] | None, **given: str | None) -> None:
    """Refuse a rerun whose arguments differ from the unfinished batch stored on the round."""
    asked = []
    if choice is not None and choice != stored["choice"]:
        asked.append(_choice_text(choice))
    for name, value in given.items():
        if value is not None and value != stored.get(name):
            asked.append(f"--{name.replace('_', '-')} {value}")
    if not asked:
        return
    if kind == "publicize":
        what = (f"{_choice_text(stored['choice'])} --start {stored['start']}"
                + (f" --doc-no {stored['doc_no']}" if stored.get("doc_no") else "")
                + f": publicize {', '.join(map(str, stored['publicize'])) or 'none'}; "
                f"reject {len(stored['reject'])} other(s)")
    else:
        what = ((f"--valid-from {stored['valid_from']}" if stored.get("valid_from")
                 else "no --valid-from")
                + (f" --doc-no {stored['doc_no']}" if stored.get("doc_no") else "")
                + f": cases {', '.join(map(str, stored['cases'])) or 'none'}")
    raise TransitionRefused(
        f"round {year} has an unfinished {kind} batch {stored['batch']}, stored {stored['at']} "
        f"by {stored['by']} with {what}. This run asks for {' '.join(asked)}: run "
        f"`gdcluster round {kind} {year}` with the stored arguments to finish that batch first",
        round_year=year, stored=stored,
    )
