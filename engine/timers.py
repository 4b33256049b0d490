"""The legal timers: what a due deadline does to its case, decided from the case as it is now
(DESIGN §3, §9). Reads only; ``engine/sweep.py`` claims the deadline and acts on the decision
through the act kernel.

=================  =======================================================================
publicity_end      ``close_publicity`` by ``system``; held while an objection is open
                   (dismissing the last one after the window re-arms it, see ``deadlines``).
                   Recognition is never a timer's: it comes with the 名单通告
                   (``round recognize``)
correction_due     the 退回补正 window closes: the result is recorded, no act
correction_         a reminder of the correction deadline (notice ``correction_reminder``)
reminder
report_due         on a rest day, where the policy rolls it (民法典 第203条): moved to 24:00 of
                   the next working day; else ``report_overdue`` (催报, a grace of policy
                   ``report_grace_workdays`` working days), or ``flag`` when the policy says
report_grace       the report still missing: ``propose_revocation`` 18.3
validity_end       ``expire`` (有效期届满: nothing is revoked); an ``under_review`` case stays
                   under review, its validity shown as ended, until the province decides
review_apply_due   a 复核 round's application deadline: ``propose_revocation`` 18.1 (有效期满
                   未申请复核) for a covered case that has not applied
hearing_end        the 陈述申辩 period is over: nothing adverse, the case awaits the
                   province's decision; ``revoke`` only where the policy lets the system
                   decide and no statement came
report_reminder,   a reminder: an audit row and an event for the notices, no state change
expiry_reminder
round_*_close      the round's window closes: an audit row and an event
=================  =======================================================================

A deadline on a case no longer in a state where it applies is closed with a result that says
so. A new timer is a deadline kind scheduled by the act that starts the period, a branch of
:func:`plan` naming the trigger it fires (a row of workflow.toml that ``system`` may fire), and
its article.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlmodel import col

from gdcluster.engine import deadlines, procedures
from gdcluster.engine.actors import Actor
from gdcluster.engine.case_rows import DEADLINE_PART, OBJECTION_PART, REPORT_PART, CaseRow
from gdcluster.engine.clock import as_utc, end_of_day, local_date, local_text
from gdcluster.engine.errors import EngineError
from gdcluster.engine.i18n import Message
from gdcluster.engine.models import AnnualReport, Case, Deadline, Objection
from gdcluster.engine.policies import policy_for
from gdcluster.engine.store import connection_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.calendar import WorkCalendar

__all__ = ["Plan", "Reads", "describe", "key_year", "not_applicable", "plan", "predict",
           "too_late"]

#: Who the timers act as.
SYSTEM = Actor.system()

#: The state of a case in a 拟撤销 procedure.
PROCEDURE_STATE = procedures.PROPOSED
#: States in which a recognized cluster owes annual reports.
VALID_STATES = ("recognized", "renewed", "under_review")
#: States a 复核 round covers a case in, and from which it may apply.
REVIEW_STATES = ("recognized", "renewed", "expired")

# what a deadline comes to, as a sweep reports it (``DeadlineOutcome.outcome``) and logs it
PUBLICITY_CLOSED = "publicity_closed"
PROPOSED = "revocation_proposed"
AWAITING = "awaiting_decision"
ROLLED = "rolled"
OVERDUE = "overdue"
REVOKED = "revoked"
EXPIRED = "expired"
FLAGGED = "flagged"
REMINDED = "reminded"
CLOSED = "closed"
HELD = "held"
NOT_APPLICABLE = "not_applicable"
#: A reminder found only after what it announces has passed (the scheduler was down): closed,
#: not sent.
TOO_LATE = "too_late"
REFUSED = "refused"
WAITING = "waiting"
BUSY = "busy"
ERROR = "error"

#: What a timer's own acts cite.
REMINDER_ARTICLES = {
    deadlines.CORRECTION_REMINDER: "《暂行办法》认定程序：资格初审（退回补正提醒）",
    deadlines.REPORT_REMINDER: "《暂行办法》动态管理：年度报告（提醒）",
    deadlines.EXPIRY_REMINDER: "《暂行办法》动态管理：复核（有效期届满提醒）",
}
ROUND_ARTICLES = {
    deadlines.ROUND_APPLY_CLOSE: "《暂行办法》认定程序：申报（截止）",
    deadlines.ROUND_RECOMMEND_CLOSE: "《暂行办法》认定程序：推荐（截止）",
    deadlines.ROUND_REVIEW_CHECK_CLOSE: "第十六条（复核初审截止）",
}


@dataclass(frozen=True)
class Plan:
    """What a due deadline will do to its case now: a trigger, a record, or nothing."""

    outcome: str
    result: str
    trigger: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    #: A deadline that moves instead of acting: (the new row's key, its due time).
    reschedule: tuple[str, datetime] | None = None


@lru_cache(maxsize=4096)  # deadlines come in crowds at the same instants
def deadline_day(due_at: datetime) -> date:
    """The calendar day a deadline falls on: 24:00 of a day belongs to that day."""
    return local_date(as_utc(due_at) - timedelta(microseconds=1))


#: The report year in ``case:12:report:2024[:reminder-30d]`` (``deadlines.key_year``).
key_year = deadlines.key_year


class Reads:
    """What :func:`plan` reads beyond the case and the deadline, one query each — or none,
    answered from the case's parts as read with the case (``parts``: the rows of
    ``case_rows.case_parts``, which the sweep reads with the case it locks). ``scheduler
    pending`` answers the same questions from rows it read for a whole batch at once.
    ``calendar``: where the working-day calendar comes from (a sweep's batch shares one)."""

    def __init__(self, session: Session, parts: Sequence[Sequence[Any]] | None = None,
                 calendar: Callable[[], WorkCalendar] | None = None) -> None:
        self.session = session
        self._parts = parts
        self._calendar: WorkCalendar | None = None
        self._calendar_source = calendar

    def calendar(self) -> WorkCalendar:
        """The working-day calendar (built-in years and those imported), read once for all
        the rows these reads answer for."""
        if self._calendar is None:
            if self._calendar_source is not None:
                self._calendar = self._calendar_source()
            else:
                from gdcluster.engine.calendar import calendar_from_session  # start-up time

                self._calendar = calendar_from_session(self.session)
        return self._calendar

    def open_objections(self, case_id: int) -> list[int]:
        """The ids of the case's open objections, in order."""
        if self._parts is not None:
            return sorted(number for part, number, _at, _name, _unit, status, *_rest
                          in self._parts if part == OBJECTION_PART and status == "open")
        return list(self.session.scalars(
            select(col(Objection.id))
            .where(col(Objection.case_id) == case_id, col(Objection.status) == "open")
            .order_by(col(Objection.id))))

    def report_filed(self, case_id: int, year: int) -> bool:
        """Whether the case's annual report for ``year`` is filed."""
        if self._parts is not None:
            return any(part == REPORT_PART and number == year
                       for part, number, *_rest in self._parts)
        return connection_of(self.session).execute(
            _REPORT_FILED, {"case_id": case_id, "year": year}).first() is not None

    def report_due(self, case_id: int, year: int | None) -> datetime | None:
        """When the case's annual report for ``year`` is due (its deadline row), if known."""
        key = deadlines.case_key(case_id, "report", year)
        if self._parts is not None:
            return next((at for part, _number, at, _kind, found, *_rest in self._parts
                         if part == DEADLINE_PART and found == key), None)
        return connection_of(self.session).execute(_REPORT_DUE, {"key": key}).scalar()


# the reads' statements, built once (Core: a timer's reads come before anything it writes)
_REPORT_FILED = select(col(AnnualReport.id)).where(
    col(AnnualReport.case_id) == bindparam("case_id"),
    col(AnnualReport.year) == bindparam("year"))
_REPORT_DUE = select(col(Deadline.due_at)).where(col(Deadline.key) == bindparam("key"))


def plan(session: Session, row: Any, case: Case | CaseRow, now: datetime,
         reads: Reads | None = None) -> Plan:
    """Decide what ``row`` does to ``case`` as it stands at ``now``. Reads only (through
    ``reads``, default: one query each in ``session``).

    A reminder found only after the deadline it announces has passed (the scheduler was down)
    is closed as too late rather than sent beside the consequence.
    """
    reads = reads if reads is not None else Reads(session)
    assert case.id is not None  # a stored case
    kind, state = row.kind, case.state
    if kind == deadlines.PUBLICITY_END:
        if state != "publicized":
            return not_applicable(Message("case is {state}, no longer in publicity",
                                          state=state))
        open_ids = reads.open_objections(case.id)
        if open_ids:
            listed = ", ".join(map(str, open_ids))
            return Plan(HELD, Message("held: objection(s) {listed} open; the publicity closes "
                                      "once the province has decided (dismissing the last one "
                                      "re-arms it)", listed=listed))
        return Plan(PUBLICITY_CLOSED, Message("publicity closed by system at the end of its "
                                              "window; recognition follows with the 名单通告"),
                    "close_publicity")
    if kind in (deadlines.CORRECTION_DUE, deadlines.CORRECTION_REMINDER):
        # the rows of one return are settled by the resubmission that answers it, so the
        # pending ones are always those of the case's current correction deadline
        due = case.correction_due
        if state != "drafted" or due is None:
            return not_applicable(Message("case is {state}: resubmitted or closed", state=state))
        if kind == deadlines.CORRECTION_DUE:
            return Plan(CLOSED, Message("correction window closed at 24:00 of {due}: the case "
                                        "can no longer be submitted; `round close` closes it",
                                        due=due))
        if end_of_day(due) <= now:
            return too_late(Message("the correction deadline ended {due}", due=due))
        return Plan(REMINDED, Message("reminder sent: correction deadline {due}", due=due), None,
                    {"correction_due": due.isoformat()})
    if kind in (deadlines.REPORT_DUE, deadlines.REPORT_REMINDER):
        year = deadlines.key_year(row.key)
        if state not in VALID_STATES:
            return not_applicable(Message("case is {state}; no annual report is owed",
                                          state=state))
        if year is not None and reads.report_filed(case.id, year):
            return not_applicable(Message("the report for {year} is filed", year=year))
        due = deadline_day(row.due_at)
        if kind == deadlines.REPORT_REMINDER:
            report_due = reads.report_due(case.id, year)
            if report_due is not None and as_utc(report_due) <= now:
                return too_late(Message("the report for {year} was due {due}", year=year,
                                        due=local_text(report_due)))
            return Plan(REMINDED, Message("reminder sent: annual report for {year}", year=year),
                        None,
                        {"year": year, "report_due": deadline_day(report_due).isoformat()
                         if report_due is not None else None})
        policy = policy_for(case.policy, case.policy_digest)
        if policy.periods.report_roll_to_workday:
            calendar = reads.calendar()
            if not calendar.is_workday(due):
                rolled = calendar.next_workday(due, inclusive=False)
                return Plan(ROLLED, Message("{due} is not a working day: the report for {year} "
                                            "is due at 24:00 of {rolled} (民法典 第二百零三条)",
                                            due=due, year=year, rolled=rolled),
                            reschedule=(f"{row.key}:rolled", end_of_day(rolled)))
        facts = f"未按时报送{year}年度发展情况（应于{_cn_date(due)}24时前报送）"
        if policy.periods.missed_report_action == "flag":
            return Plan(FLAGGED, Message("flagged: report for {year} missed (policy: flag)",
                                         year=year), "flag",
                        {"reason": facts})
        return Plan(OVERDUE, Message("催报: report for {year} missed; grace of {days} working "
                                     "days", year=year,
                                     days=policy.periods.report_grace_workdays),
                    "report_overdue", {"year": year, "report_due": due.isoformat()})
    if kind == deadlines.REPORT_GRACE:
        return _grace_end(reads, row, case)
    if kind in (deadlines.VALIDITY_END, deadlines.EXPIRY_REMINDER):
        if kind == deadlines.VALIDITY_END and state == "under_review":
            return Plan(HELD, Message("held: 复核 applied for; the case stays under review, its "
                                      "validity ended, until the province decides"))
        if state not in ("recognized", "renewed"):
            return not_applicable(Message("case is {state}", state=state))
        until = case.valid_until
        named = deadlines.base_key(row.key)  # a reinstatement's row names the one it re-arms
        if until is None or named != deadlines.case_key(case.id, kind, until.isoformat()):
            return not_applicable(Message("validity now ends {until}", until=until))
        if kind == deadlines.EXPIRY_REMINDER:
            if end_of_day(until) <= now:
                return too_late(Message("validity ended {until}", until=until))
            return Plan(REMINDED, Message("reminder sent: validity ends {until}", until=until),
                        None,
                        {"valid_until": until.isoformat()})
        return Plan(EXPIRED, Message("expired: validity ended at 24:00 of {until}", until=until),
                    "expire")
    if kind == deadlines.REVIEW_APPLY_DUE:
        return _review_apply_due(row, case)
    if kind == deadlines.HEARING_END:
        return _hearing_end(session, row, case, now)
    return not_applicable(Message("unknown deadline kind {kind!r}", kind=kind))


def _review_apply_due(row: Any, case: Case | CaseRow) -> Plan:
    """A 复核 round's application deadline for one covered case: 18.1 proposed (the 拟撤销
    procedure, never a revocation) unless the case applied in that round."""
    year = int(row.key.rsplit(":", 1)[-1])
    if case.review_round != year:
        return not_applicable(Message("case is covered by 复核 round {covered}, not {year}",
                                      covered=case.review_round, year=year))
    if (case.review or {}).get("year") == year:
        return not_applicable(Message("复核 applied for in round {year}", year=year))
    if case.state not in REVIEW_STATES:
        return not_applicable(Message("case is {state}", state=case.state))
    due = deadline_day(row.due_at)
    facts = (f"{year}年复核申报已于{_cn_date(due)}24时截止，该集群未申请复核"
             + (f"（认定有效期至{_cn_date(case.valid_until)}）" if case.valid_until else ""))
    return Plan(PROPOSED, Message("revocation proposed 18.1: no 复核 application in round {year}",
                                  year=year),
                "propose_revocation", {"reason_code": "18.1", "facts": facts})


def _grace_end(reads: Reads, row: Any, case: Case | CaseRow) -> Plan:
    """The 催报 grace is over: the report still missing, the system opens the 18.3
    procedure."""
    year = deadlines.key_year(row.key)
    if case.state not in VALID_STATES:
        return not_applicable(Message("case is {state}", state=case.state))
    assert case.id is not None
    if year is not None and reads.report_filed(case.id, year):
        return not_applicable(Message("the report for {year} is filed", year=year))
    grace = deadline_day(row.due_at)
    facts = (f"未按时报送{year}年度发展情况，经催报，至催报期限{_cn_date(grace)}24时仍未报送")
    return Plan(PROPOSED, Message("revocation proposed 18.3: report for {year} still missing "
                                  "after the 催报 grace ({grace})", year=year, grace=grace),
                "propose_revocation", {"reason_code": "18.3", "facts": facts})


def _hearing_end(session: Session, row: Any, case: Case | CaseRow, now: datetime) -> Plan:
    """The 陈述申辩 period is over: by default nothing adverse, the case awaits the province's
    decision; where the policy lets the system decide, an unanswered period ends in
    ``revoke``."""
    if case.state != PROCEDURE_STATE:
        return not_applicable(Message("case is {state}: the procedure is decided",
                                      state=case.state))
    assert case.id is not None
    procedure = procedures.current(session, case.id)
    due = deadline_day(row.due_at)
    if procedure is None or procedure.hearing_due != due:
        return not_applicable(Message("the hearing deadline of an earlier procedure"))
    policy = policy_for(case.policy, case.policy_digest)
    if policy.revocation_decided_by == "system" and not procedure.statements:
        return Plan(REVOKED, Message("revoked {code}: hearing period ended {due} without a "
                                     "statement (policy: decided by the system)",
                                     code=procedure.reason_code, due=due),
                    "revoke", {"reason": f"陈述申辩期限（{_cn_date(due)}）届满，未提出陈述申辩"})
    heard = Message("{count} statement(s)", count=len(procedure.statements)) \
        if procedure.statements else Message("no statement")
    return Plan(AWAITING, Message("hearing ended {due} ({heard}); awaiting the province's "
                                  "decision (case revoke or case maintain)", due=due,
                                  heard=heard))


def not_applicable(why: str) -> Plan:
    """Nothing to do: the case is no longer where the deadline applies, and why."""
    return Plan(NOT_APPLICABLE, Message("not applicable: {why}", why=why))


def too_late(why: str) -> Plan:
    """A reminder not sent because what it announces has passed, and what that was."""
    return Plan(TOO_LATE, Message("too late: {why}", why=why))


def _cn_date(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "?"


def predict(session: Session, row: Any, now: datetime) -> str:
    """What a sweep at ``now`` would do with ``row``, in a word or two (``scheduler pending``)."""
    if row.case_id is None:
        return Message("close the round's {window} window",
                       window=row.kind.removeprefix("round_").removesuffix("_close"))
    case = session.get(Case, row.case_id)
    if case is None:
        return Message("not applicable: no such case")
    try:
        decided = plan(session, row, case, max(now, as_utc(row.due_at)))
    except EngineError as error:
        return Message("refused: {problem}", problem=error.as_message())
    return describe(decided)


def describe(decided: Plan) -> str:
    """A plan in a word or two, as ``scheduler pending`` lists it."""
    if decided.reschedule is not None:
        return Message("roll to 24:00 of {day}", day=deadline_day(decided.reschedule[1]))
    if decided.trigger == "propose_revocation":
        return Message("propose revocation {code}", code=decided.payload["reason_code"])
    if decided.trigger is not None:
        return decided.trigger
    return Message("remind") if decided.outcome == REMINDED else decided.result
