"""Round acts: opening a round, publicity (公示, ``round publicize``) and the round's closing
(``round close``: its leftovers 未入选), a 现场考察 recorded for the round, and the plumbing of
the batches that move many cases at once (recognition, ``round recognize``, is in
``engine/recognition.py`` and uses the same plumbing).

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

from sqlalchemy import func, select
from sqlmodel import col

from gdcluster.engine import deadlines
from gdcluster.engine.actors import Actor
from gdcluster.engine.calendar import calendar_from_session
from gdcluster.engine.clock import end_of_day, local_date
from gdcluster.engine.effects import CLOSE_REASON_BY_STATE, CLOSE_REASONS
from gdcluster.engine.errors import InvalidInput, PermissionDenied, Reason, TransitionRefused
from gdcluster.engine.i18n import Message
from gdcluster.engine.kernel import Kernel, Transaction
from gdcluster.engine.models import Case, Round, key_column
from gdcluster.engine.parse import (
    as_date,
    as_year,
    clean_text,
    name_text,
    publicity_choice,
    validate_doc_no,
    validate_quotas,
)
from gdcluster.engine.policies import effective_until, in_force, policy_for
from gdcluster.engine.views import iso, load_round
from gdcluster.states.policy import DEFAULT_POLICY

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.states.policy import Policy

__all__ = ["CLOSABLE", "CloseResult", "PublicityResult", "batch_act", "close_round",
           "finish_batch", "open_round", "publicize_round", "record_site_visit",
           "stored_batch"]

#: The states ``round close`` leaves 未入选 (the sources of the ``close`` row).
CLOSABLE = ("drafted", "submitted", "city_reviewed", "recommended", "expert_reviewed")


@dataclass(frozen=True)
class PublicityResult:
    """What ``round publicize`` did: the cases publicized, those not picked (未入选, reason
    ``not_publicized``), the period."""

    year: int
    publicized: list[int]
    not_selected: list[int]
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
                "not_selected": list(self.not_selected), "publicity_start": self.publicity_start,
                "publicity_end": self.publicity_end, "doc_no": self.doc_no}

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
    """Open round ``year`` (province): its policy, deadlines, quotas and 申报通知. The policy
    must be in force on the day (第二十条: its own validity, extensions included); a refusal
    is recorded with the refused attempts."""
    year = as_year(year)
    kernel.require(who, ("province",), "open_round", Message("open a round"),
                   round_year=year)
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
    try:
        with kernel.transaction() as transaction:
            _open(transaction, year, who, chosen, now, apply_day, recommend_day, quota_table,
                  notice_title, notice_doc_no)
    except TransitionRefused as refusal:
        kernel.record_refusal(who, "open_round", refusal, round_year=year)
        raise


def _open(transaction: Transaction, year: int, who: Actor, chosen: Policy, now: datetime,
          apply_day: date | None, recommend_day: date | None,
          quota_table: dict[str, list[int]] | None, notice_title: str | None,
          notice_doc_no: str | None) -> None:
    session = transaction.session
    if session.get(Round, year) is not None:
        raise TransitionRefused(Message("round {year} is already open", year=year), round_year=year)
    today = local_date(now)
    until = effective_until(session, chosen)
    if not in_force(chosen, until, today):
        raise TransitionRefused(
            Message("policy {policy} is not in force on {today}: its measures are valid from "
                    "{start} to {until} (第二十条); extend it with `gdcluster policy extend "
                    "{policy} --until DATE --source 文号` (province), or open the round under a "
                    "policy in force", policy=chosen.name, today=today,
                    start=chosen.effective_from, until=until),
            round_year=year, policy=chosen.name,
            effective_from=chosen.effective_from, effective_until=until)
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
    """Pick the cases for publicity; publicize them and close the others (未入选, reason
    ``not_publicized``).

    The period starts on ``start`` (default: the day of the act, which is the notice's date),
    never before it. The pick is computed once, checked for a tie straddling the cut, and
    stored on the round in the transaction that makes it, before any case moves. Several
    processes may run the same pick at once; each case moves once. Once a pick is finished, a
    new run picks among the cases expert-reviewed since.
    """
    year = as_year(year)
    kernel.require(who, ("province",), "publicize_round",
                   Message("publicize round {year}", year=year),
                   round_year=year)
    choice = publicity_choice(top, min_score, select_ids)
    start_day = as_date(start, "start")
    if doc_no is not None:
        validate_doc_no(doc_no)
    now = kernel.clock.now()
    if start_day is not None and start_day < local_date(now):
        raise InvalidInput(Message("{start} is before today ({today}), the day the 公示 is "
                                   "issued: publicity never starts in the past",
                                   start=start_day, today=local_date(now)), field="start")
    kernel.check_batch(who, "publicize_round", year)

    def new_pick(session: Session, round_row: Round, number: int) -> dict[str, Any]:
        pick = _pick(session, round_row, choice, start_day or local_date(now), doc_no, who,
                     now, batch=number)
        if doc_no is not None:
            round_row.publicity_doc_no = doc_no
        return pick

    pick, resumed, calendar = stored_batch(
        kernel, who, year, "publicize", new_pick, choice, start=iso(start_day), doc_no=doc_no)
    assert pick is not None  # a pick always names its cases (or the pick refused)
    chosen = set(pick["publicize"])
    elsewhere: dict[str, str] = {}
    for case_id in pick["ranked"]:
        if case_id in chosen:
            found = batch_act(kernel, case_id, "publicize", who,
                              {"start": date.fromisoformat(pick["start"])},
                              waiting="expert_reviewed", target="publicized", calendar=calendar)
        else:
            found = batch_act(kernel, case_id, "close", who, {},
                              waiting="expert_reviewed", target="not_selected")
        if found is not None:
            elsewhere[str(case_id)] = found
        if progress:
            progress(1)
    result = PublicityResult(
        year=year, publicized=list(pick["publicize"]),
        not_selected=list(pick.get("not_selected", pick.get("reject", []))),
        publicity_start=pick["publicity_start"], publicity_end=pick["publicity_end"],
        doc_no=pick["doc_no"], batch=pick["batch"], resumed=resumed, elsewhere=elsewhere,
    )
    finish_batch(kernel, year, "publicity_pick", pick["batch"], who, "publicize_round",
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
        select(col(Case.id), col(Case.score), col(Case.name))
        .where(col(Case.round_year) == year, col(Case.state) == "expert_reviewed")
        .order_by(col(Case.id))
    ).all())
    if not candidates:
        raise TransitionRefused(Message("round {year} has no expert-reviewed case to "
                                        "publicize", year=year), round_year=year)
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
                Message("a tie at score {tie} straddles the cut at {top}: {tied}. Choose with "
                        "--select or --min-score.", tie=tie, top=top, tied="; ".join(tied)),
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
                Message("case(s) {ids} are not expert-reviewed cases of round {year}",
                        ids=", ".join(map(str, unknown)), year=year), field="select",
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
        "not_selected": [row.id for row in ranked if row.id not in picked_ids],
        "done": False,
    }


# ---------------------------------------------------------------------------- closing
@dataclass(frozen=True)
class CloseResult:
    """What ``round close`` did: the leftovers it closed (未入选) by reason kind, whether this
    run recorded the round's closing, and the cases another act moved meanwhile."""

    year: int
    closed: dict[str, list[int]]
    closed_round: bool
    closed_at: str | None
    elsewhere: dict[str, str]

    def act_payload(self) -> dict[str, Any]:
        """What the round's audit row records."""
        return {"year": self.year, "closed": {kind: list(ids) for kind, ids
                                              in self.closed.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {**self.act_payload(), "closed_round": self.closed_round,
                "closed_at": self.closed_at, "elsewhere": self.elsewhere}


def closing_blocked(session: Session, round_row: Round, now: datetime) -> Message | None:
    """Why round ``round_row`` cannot be closed at ``now`` (``None``: it can): a window of the
    round, or a 退回补正 deadline of one of its cases, still runs."""
    for deadline, what in ((round_row.apply_by, Message("applications")),
                           (round_row.recommend_by, Message("recommendations"))):
        if deadline is not None and now < end_of_day(deadline):
            return Message("round {year} is open for {what} until 24:00 of {deadline}",
                           year=round_row.year, what=what, deadline=deadline)
    correction = session.scalar(
        select(func.max(col(Case.correction_due))).where(col(Case.round_year) == round_row.year,
                                                         col(Case.state) == "drafted"))
    if correction is not None and now < end_of_day(correction):
        return Message("a case of round {year} returned for correction may be submitted again "
                       "until 24:00 of {correction}", year=round_row.year, correction=correction)
    return None


def close_round(kernel: Kernel, year: int, who: Actor, *,
                progress: Callable[[int], None] | None = None) -> CloseResult:
    """Close round ``year`` (province): every case left before publicity (``CLOSABLE``)
    becomes 未入选 with its reason kind, one act each (a 未入选告知 to each county whose case
    was submitted), then the round's own act, once, after which nothing of the round is
    filed, submitted or reopened. Refused while a window of the round still runs. Run again,
    it finishes what a crash left; a round closed already with nothing left writes nothing."""
    year = as_year(year)
    kernel.require(who, ("province",), "close_round",
                   Message("close round {year}", year=year), round_year=year)
    kernel.check_batch(who, "close_round", year)
    now = kernel.clock.now()
    with kernel.store.read() as session:
        round_row = load_round(session, year)
        already = round_row.closed_at
        blocked = closing_blocked(session, round_row, now) if already is None else None
        leftovers = list(session.execute(
            select(key_column(Case.id), col(Case.state))
            .where(col(Case.round_year) == year, col(Case.state).in_(CLOSABLE))
            .order_by(col(Case.id))))
    if blocked is not None:
        refusal = TransitionRefused(Message("{blocked}: it is closed after that",
                                            blocked=blocked),
                                    round_year=year, reasons=[Reason.ROUND_CLOSED])
        kernel.record_refusal(who, "close_round", refusal, round_year=year)
        raise refusal
    closed: dict[str, list[int]] = {kind: [] for kind in CLOSE_REASONS}
    elsewhere: dict[str, str] = {}
    if already is not None and not leftovers:
        return CloseResult(year, closed, False, iso(already), elsewhere)
    for case_id, state in leftovers:
        found = batch_act(kernel, case_id, "close", who, {}, waiting=state,
                          target="not_selected")
        if found is None:
            closed[CLOSE_REASON_BY_STATE[state]].append(case_id)
        else:
            elsewhere[str(case_id)] = found
        if progress:
            progress(1)
    with kernel.transaction() as transaction:
        round_row = load_round(transaction.session, year, lock=True)
        recorded = round_row.closed_at is None
        if recorded:
            at = kernel.clock.now()
            round_row.closed_at = at
            transaction.record(actor=who, trigger="close_round", at=at, round_year=year,
                               article="《暂行办法》认定程序：评审与认定",
                               payload=CloseResult(year, closed, True, None, {}).act_payload())
        closed_at = round_row.closed_at
    return CloseResult(year, closed, recorded, iso(closed_at), elsewhere)


# ---------------------------------------------------------------------------- 现场考察
def record_site_visit(kernel: Kernel, year: int, who: Actor, *, day: date | str,
                      note: str) -> dict[str, Any]:
    """Record a 现场考察 of round ``year``'s applicants (province): its day (not after today,
    not before the round opened) and a note. The round's later notices name the step."""
    year = as_year(year)
    kernel.require(who, ("province",), "site_visit",
                   Message("record a 现场考察 of round {year}", year=year),
                   round_year=year)
    visited = as_date(day, "date")
    if visited is None:
        raise InvalidInput("is required", field="date")
    text = clean_text(note, "note")
    now = kernel.clock.now()
    if visited > local_date(now):
        raise InvalidInput(Message("{visited} is after today ({today}): a 现场考察 is recorded "
                                   "once it has taken place", visited=visited,
                                   today=local_date(now)), field="date")
    payload = {"year": year, "date": visited.isoformat(), "note": text}
    with kernel.transaction() as transaction:
        round_row = load_round(transaction.session, year)
        opened = local_date(round_row.opened_at)
        if visited < opened:
            raise InvalidInput(Message("{visited} is before round {year} was opened ({opened})",
                                       visited=visited, year=year, opened=opened),
                               field="date")
        transaction.record(actor=who, trigger="site_visit", at=now, round_year=year,
                           article="《暂行办法》认定程序：现场考察", payload=payload)
    return payload


# ---------------------------------------------------------------------------- batch plumbing
#: Where each kind of batch is stored on the round, and the round act that finishes it.
_BATCHES = {"publicize": ("publicity_pick", "publicize_round"),
            "recognize": ("recognition_batch", "recognize_round")}


def stored_batch(
    kernel: Kernel, who: Actor, year: int, kind: str,
    start_new: Callable[[Session, Round, int], dict[str, Any] | None],
    choice: dict[str, Any] | None, *, resumable: Callable[[dict[str, Any]], bool] | None = None,
    **given: str | None,
) -> tuple[dict[str, Any] | None, bool, WorkCalendar]:
    """The round's unfinished batch of ``kind`` — refused when this run's arguments differ —
    or a new one (``start_new``; ``None`` when there is nothing to do, and nothing is
    stored), stored on the round before any case moves; whether it was resumed; and the
    working-day calendar for the whole batch. ``resumable`` tells an unfinished stored batch
    that can be finished from one left by an earlier version, which is set aside. A refusal
    is recorded as the round act's."""
    column, trigger = _BATCHES[kind]
    try:
        with kernel.store.write() as session:
            round_row = load_round(session, year, lock=True)
            stored = getattr(round_row, column)
            resumed = stored is not None and not stored.get("done")
            if resumed and resumable is not None and not resumable(stored):
                setattr(round_row, column, {**stored, "done": True, "superseded": True})
                resumed = False
            if resumed:
                _check_same_batch(kind, year, stored, choice, **given)
            else:
                number = (stored or {}).get("batch", 0) + 1
                stored = start_new(session, round_row, number)
                if stored is not None:
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


def finish_batch(kernel: Kernel, year: int, column: str, batch: int, who: Actor,
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
                f"{len(stored.get('not_selected', stored.get('reject', [])))} other(s) 未入选")
    else:
        what = (f"--doc-no {stored['doc_no']} --doc-date {stored['doc_date']} "
                f"--valid-from {stored['valid_from']}"
                + f": cases {', '.join(map(str, stored['cases'])) or 'none'}")
    raise TransitionRefused(
        Message("round {year} has an unfinished {kind} batch {batch}, stored {at} by {by} with "
                "{what}. This run asks for {asked}: run `gdcluster round {kind} {year}` with "
                "the stored arguments to finish that batch first", year=year, kind=kind,
                batch=stored["batch"], at=stored["at"], by=stored["by"], what=what,
                asked=" ".join(asked)),
        round_year=year, stored=stored,
    )
