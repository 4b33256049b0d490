"""复核 rounds (第十六条): ``round open YEAR --kind review``.

The province opens a 复核 round for the clusters whose validity ends by the end of YEAR and
that are not yet renewed for the next period (recognized, renewed or already expired). The
round is opened, each of those cases is covered by it (``gd_case.review_round``) with its
application deadline (a deadline row per case, key ``case:ID:review:YEAR``: when it passes
without an application the system proposes revocation under 18.1), the round's 初审 deadline
is scheduled, and each covered case receives its 复核通知 — all in one transaction.

A 复核 round is a row of ``gd_review_round``, apart from the recognition rounds: a year may
hold both (工信厅企业函〔2025〕77号 opened the 2022 batch's 复核 alongside the 2025
recommendations). A record that names a round by its year (an audit row, a refusal, a
deadline, a notice) tells which of the two it belongs to by its own trigger or kind:
``round_kind_of``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from gdcluster.engine import deadlines
from gdcluster.engine.actors import Actor
from gdcluster.engine.clock import end_of_day, local_date
from gdcluster.engine.errors import InvalidInput, TransitionRefused
from gdcluster.engine.i18n import Message
from gdcluster.engine.kernel import Kernel, Transaction
from gdcluster.engine.ormless import col
from gdcluster.engine.parse import as_date, as_year
from gdcluster.engine.policies import policy_for
from gdcluster.engine.store import Store
from gdcluster.engine.views import iso
from gdcluster.states.policy import DEFAULT_POLICY

__all__ = ["NOTICE_TRIGGER", "OPEN_TRIGGER", "open_review_round", "recognition_acts_only"]

#: The round's own act, and the act of each covered case that calls for its 复核通知.
OPEN_TRIGGER = "open_review_round"
NOTICE_TRIGGER = "review_notice"
ARTICLE = "第十六条（复核）"

def open_review_round(kernel: Kernel, year: int, who: Actor, *, policy: str | None = None,
                      apply_by: date | str | None = None,
                      check_by: date | str | None = None) -> list[int]:
    """Open the 复核 round ``year`` (province); returns the covered case ids.

    ``apply_by`` (the counties' application deadline) defaults to the policy's
    ``review_apply_workdays`` working days counted from the day after today, ``check_by``
    (the cities' 初审 deadline) to ``review_check_workdays`` working days after that; neither is
    ever in the past, and the 初审 never closes before the applications."""
    year = as_year(year)
    kernel.require(who, ("province",), OPEN_TRIGGER, "open a 复核 round", round_year=year)
    chosen = policy_for(policy or DEFAULT_POLICY)
    apply_day = as_date(apply_by, "apply_by")
    check_day = as_date(check_by, "check_by")
    now = kernel.clock.now()
    today = local_date(now)
    if apply_day is not None and apply_day < today:
        raise InvalidInput(Message("{day} is before today ({today}): a 复核 application "
                                   "deadline is never in the past", day=apply_day, today=today),
                           field="apply_by")
    kernel.check_batch(who, OPEN_TRIGGER, year)
    try:
        with kernel.transaction() as transaction:
            return _open(transaction, year, who, chosen, now, apply_day, check_day)
    except TransitionRefused as refusal:
        kernel.record_refusal(who, OPEN_TRIGGER, refusal, round_year=year)
        raise


def _open(transaction: Transaction, year: int, who: Actor, chosen: Any, now: datetime,
          apply_day: date | None, check_day: date | None) -> list[int]:
    from gdcluster.engine.models import Case, ReviewRound

    session = transaction.session
    if session.get(ReviewRound, year) is not None:
        raise TransitionRefused(Message("复核 round {year} is already open", year=year),
                                round_year=year)
    from gdcluster.engine.calendar import calendar_from_session  # for opening a round only
    from gdcluster.engine.timers import REVIEW_STATES

    calendar = calendar_from_session(session)
    periods = chosen.periods
    today = local_date(now)
    if apply_day is None:
        apply_day = calendar.add_workdays(today + timedelta(days=1),
                                          int(periods.review_apply_workdays))
    if check_day is None:
        check_day = calendar.add_workdays(apply_day + timedelta(days=1),
                                          int(periods.review_check_workdays))
    if check_day < apply_day:
        raise InvalidInput(Message("the 初审 deadline {check} comes before the application "
                                   "deadline {apply}", check=check_day, apply=apply_day),
                           field="check_by")
    covered = list(session.execute(
        select(col(Case.id), col(Case.state), col(Case.valid_until))
        .where(col(Case.state).in_(REVIEW_STATES), col(Case.valid_until) <= date(year, 12, 31))
        .order_by(col(Case.id)).with_for_update()).all())
    if not covered:
        raise TransitionRefused(
            Message("no recognized cluster's validity ends by the end of {year}: a 复核 round "
                    "of {year} would cover nobody", year=year), round_year=year)
    session.add(ReviewRound(year=year, policy=chosen.name,
                      policy_version=chosen.version, policy_digest=chosen.digest,
                      apply_by=apply_day, check_by=check_day, opened_at=now))
    session.flush()
    ids = [row.id for row in covered]
    session.execute(update(Case).where(col(Case.id).in_(ids))
                    .values(review_round=year, version=col(Case.version) + 1, updated_at=now)
                    .execution_options(synchronize_session=False))
    deadlines.schedule(session, kind=deadlines.ROUND_REVIEW_CHECK_CLOSE,
                       key=deadlines.round_key(year, deadlines.ROUND_REVIEW_CHECK_CLOSE),
                       due_at=end_of_day(check_day), now=now, round_year=year)
    transaction.record(actor=who, trigger=OPEN_TRIGGER, article=ARTICLE, at=now,
                       round_year=year,
                       payload={"kind": "review", "policy": chosen.name,
                                "apply_by": iso(apply_day), "check_by": iso(check_day),
                                "covered": ids})
    for row in covered:
        deadlines.schedule(session, kind=deadlines.REVIEW_APPLY_DUE,
                           key=deadlines.case_key(row.id, "review", year),
                           due_at=end_of_day(apply_day), now=now, case_id=row.id)
        transaction.record(actor=who, trigger=NOTICE_TRIGGER, article=ARTICLE, at=now,
                           case_id=row.id, round_year=year, from_state=row.state,
                           to_state=row.state,
                           payload={"year": year, "apply_by": iso(apply_day),
                                    "check_by": iso(check_day),
                                    "valid_until": iso(row.valid_until)})
    return ids


#: The round commands of a recognition round, which a 复核 round does not take.
RECOGNITION_BATCHES = ("publicize_round", "recognize_round", "close_round")


def recognition_acts_only(store: Store) -> Any:
    """A batch check (``Kernel.before_batch``): `round publicize`, `round recognize` and
    `round close` are refused on a 复核 round, before they write anything."""
    def check(trigger: str, year: int) -> None:
        if trigger not in RECOGNITION_BATCHES:
            return
        from gdcluster.engine.models import ReviewRound, Round

        with store.read() as session:
            review_only = (session.get(Round, year) is None
                           and session.get(ReviewRound, year) is not None)
        if review_only:
            raise TransitionRefused(
                Message("round {year} is a 复核 round: {act} is an act of a recognition round",
                        year=year, act=trigger.removesuffix("_round")),
                round_year=year, trigger=trigger)

    return check
