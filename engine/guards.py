"""The guards of the workflow table: checks an act must pass before the case moves.

Each is registered under the name workflow.toml gives it and becomes a condition of the one
``transitions`` Machine (``engine/lifecycle.py``). A guard passes by returning and refuses by
raising ``act.refuse(message, Reason..., **facts)``: the refusal says what failed and keeps the
facts, which a bare ``False`` could not.

The engine binds the guards when it opens, reads included, so what only a guard's body needs
(the criteria, the quota count, the records) is imported when the guard first runs.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from gdcluster.engine.acts import Act, Registry
from gdcluster.engine.case_tables import OBJECTION
from gdcluster.engine.clock import end_of_day, local_date, start_of_day
from gdcluster.engine.errors import InvalidInput, Reason
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col

__all__ = ["GUARDS"]

GUARDS = Registry("guard")


@GUARDS.register("submission_window")
def submission_window(act: Act) -> None:
    """The round accepts applications until 24:00 of its deadline; a case returned for
    correction (退回补正) may be submitted again until 24:00 of its own correction deadline,
    after the round's too. Nothing is filed once the round is closed."""
    round_row = act.round()
    if round_row.closed_at is not None:
        raise act.refuse(Message("round {year} is closed: nothing more is submitted",
                                 year=act.case.round_year), Reason.ROUND_CLOSED)
    correction = act.case.correction_due
    if correction is not None and act.now < end_of_day(correction):
        return
    deadline = round_row.apply_by
    if deadline is not None and act.now >= end_of_day(deadline):
        if correction is not None:
            raise act.refuse(
                Message("round {year} closed for applications at the end of {deadline}, and "
                        "this case's correction deadline ended at 24:00 of {correction}",
                        year=act.case.round_year, deadline=deadline, correction=correction),
                Reason.SUBMISSION_WINDOW_CLOSED, Reason.APPLICATION_DEADLINE_PASSED,
                deadline=deadline, correction_due=correction,
            )
        raise act.refuse(
            Message("round {year} closed for applications at the end of {deadline}",
                    year=act.case.round_year, deadline=deadline),
            Reason.APPLICATION_DEADLINE_PASSED, deadline=deadline,
        )


@GUARDS.register("round_running")
def round_running(act: Act) -> None:
    """A closed application is reopened only while its round is running: before ``round
    close`` (run by ``round recognize`` too) has closed it."""
    closed = act.round().closed_at
    if closed is not None:
        raise act.refuse(
            Message("round {year} was closed on {day}: its cases are no longer reopened",
                    year=act.case.round_year, day=local_date(closed)),
            Reason.ROUND_CLOSED, closed_at=closed,
        )


@GUARDS.register("application_complete", application=True)
def application_complete(act: Act) -> None:
    from gdcluster.engine.application import missing_for_submission
    from gdcluster.engine.criteria import validated

    application = validated(act.application())
    missing = missing_for_submission(
        application, act.case.round_year, act.policy.min_growth_years
    )
    if missing:
        raise act.refuse(
            Message("the application is incomplete; missing: {missing}",
                    missing=", ".join(missing)), *missing,
            missing=missing,
        )


@GUARDS.register("criteria_pass", application=True)
def criteria_pass(act: Act) -> None:
    from gdcluster.engine.criteria import check_case

    report = check_case(act.case, act.policy, act.application())
    failed = [item for item in report.items if item.result == "fail"]
    if failed:
        lines = [f"{item.article} {item.item}: {item.rule}（{item.value}）" for item in failed]
        raise act.refuse(
            Message("资格初审 refused: automatic criteria not met — {items}",
                    items="; ".join(lines)),
            *lines,
            failed=[item.id for item in failed],
        )
    act.audit["criteria"] = "all automatic items pass"


@GUARDS.register("round_accepting_recommendations")
def round_accepting_recommendations(act: Act) -> None:
    _window_open(act, act.round().recommend_by, Message("recommendations"),
                 Reason.RECOMMENDATION_DEADLINE_PASSED)


def _window_open(act: Act, deadline: date | None, what: Message, reason: Reason) -> None:
    """A round's window closes at 24:00 of its deadline (none set: it stays open)."""
    if deadline is not None and act.now >= end_of_day(deadline):
        raise act.refuse(
            Message("round {year} closed for {what} at the end of {deadline}",
                    year=act.case.round_year, what=what, deadline=deadline), reason,
            deadline=deadline,
        )


@GUARDS.register("city_quota", locks_round=True)
def city_quota_left(act: Act) -> None:
    from gdcluster.engine.quotas import city_quota, recommended_count

    round_row = act.round(lock=True)  # serializes recommendations of one round
    quota = city_quota(round_row, act.policy, act.case.city)
    used = recommended_count(act.connection, act.case.round_year, act.case.city)
    if used >= quota[1]:
        raise act.refuse(
            Message("{city} has already recommended {used} clusters in round {year}; its "
                    "maximum is {maximum}", city=act.case.city, used=used,
                    year=act.case.round_year, maximum=quota[1]),
            Reason.CITY_QUOTA_REACHED,
            quota_max=quota[1],
            used=used,
        )


@GUARDS.register("enough_experts")
def enough_experts(act: Act) -> None:
    from gdcluster.engine.records import ExpertScore
    from gdcluster.engine.scoring import expert_key

    # distinct people: a name stored in two spellings ("王专家", "王专家 ") is one expert
    count = len({expert_key(name) for name in act.session.scalars(
        select(col(ExpertScore.expert)).where(col(ExpertScore.case_id) == act.case.id))})
    needed = int(act.policy.rubric.min_experts)
    if count < needed:
        raise act.refuse(
            Message("{count} expert(s) scored this case; the rubric needs at least {needed}",
                    count=count, needed=needed),
            Reason.NOT_ENOUGH_EXPERTS,
            experts=count,
            needed=needed,
        )


@GUARDS.register("publicity_open")
def publicity_open(act: Act) -> None:
    start, end = act.case.publicity_start, act.case.publicity_end
    if start is None or end is None or not (start_of_day(start) <= act.now < end_of_day(end)):
        raise act.refuse(
            Message("objections are accepted only during the publicity period ({start} to "
                    "{end})", start=start, end=end),
            Reason.OUTSIDE_PUBLICITY,
        )


@GUARDS.register("objection_open", reads=("objection",))
def objection_open(act: Act) -> None:
    objection = act.objection()
    if objection.status != "open":
        raise act.refuse(
            Message("objection {id} is already {status}", id=objection.id,
                    status=objection.status), Reason.OBJECTION_NOT_OPEN
        )


@GUARDS.register("publicity_over")
def publicity_over(act: Act) -> None:
    end = act.case.publicity_end
    if end is None or act.now < end_of_day(end):
        raise act.refuse(
            Message("the publicity period runs until 24:00 of {end}; it closes only then",
                    end=end),
            Reason.PUBLICITY_NOT_OVER,
            publicity_end=end,
        )


@GUARDS.register("no_open_objection")
def no_open_objection(act: Act) -> None:
    open_ids = list(
        act.session.scalars(
            select(OBJECTION.c.id).where(
                OBJECTION.c.case_id == act.case.id, OBJECTION.c.status == "open"
            )
        )
    )
    if open_ids:
        raise act.refuse(
            Message("objection(s) {ids} are still open; resolve them first",
                    ids=", ".join(map(str, open_ids))),
            Reason.OPEN_OBJECTION,
            objections=open_ids,
        )


@GUARDS.register("revocation_code", reads=("reason_code",))
def revocation_code(act: Act) -> None:
    code = str(act.payload.get("reason_code", "")).strip()
    known = list(act.policy.revocations)
    if code not in known:
        raise InvalidInput(
            Message("unknown revocation reason code {code!r}; use one of {known}", code=code,
                    known=", ".join(known)),
            field="reason_code",
        )
