"""The acts of the 第十八条 procedure (``engine/procedures.py`` describes it): its guard and
effects, registered under the names workflow.toml gives them, and :func:`open_procedure`, which
every act that opens a procedure calls from its effect (``propose_revocation``; a 复核's
``fail_review``)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from gdcluster.engine import deadlines
from gdcluster.engine.acts import Act
from gdcluster.engine.case_tables import DEADLINE
from gdcluster.engine.clock import as_utc, end_of_day
from gdcluster.engine.effects import EFFECTS
from gdcluster.engine.errors import InvalidInput, Reason
from gdcluster.engine.guards import GUARDS
from gdcluster.engine.i18n import Message
from gdcluster.engine.parse import as_year, validate_doc_no
from gdcluster.engine.procedures import SYSTEM_GROUNDS, Procedure, current, missing_reports
from gdcluster.engine.store import connection_of

__all__ = ["open_procedure"]

#: The deadlines a revocation cancels that a reinstatement re-arms.
_REARMED = (deadlines.REPORT_DUE, deadlines.REPORT_REMINDER, deadlines.VALIDITY_END,
            deadlines.EXPIRY_REMINDER)
#: What the kernel writes into the deadlines a case entering ``revoked`` cancels.
_CANCELLED_BY_REVOCATION = "case revoked"


def open_procedure(act: Act, *, code: str, facts: str, due: date | None = None) -> date:
    """Open a 拟撤销 procedure in ``act`` (its effect, before the case moves): the hearing
    deadline scheduled, the ground and facts in the audit row. Returns the hearing deadline.

    The 陈述申辩 period is the policy's ``hearing_workdays`` working days from the day after
    the act (民法典 第二百零一条: the day of the act is not counted); ``due`` may give a later
    day, never an earlier one."""
    code = code.strip()
    if code not in act.policy.revocations:
        raise InvalidInput(Message("unknown revocation reason code {code!r}; use one of "
                                   "{codes}", code=code, codes=", ".join(act.policy.revocations)),
                           field="reason_code")
    if act.actor.kind == "system" and code not in SYSTEM_GROUNDS:
        raise act.refuse(Message("the system opens revocation procedures under {grounds} "
                                 "only, not {code}", grounds=" and ".join(SYSTEM_GROUNDS),
                                 code=code),
                         Reason.NOT_SYSTEM_GROUND, reason_code=code)
    ground = act.policy.revocation(code)
    workdays = int(act.policy.periods.hearing_workdays)
    earliest = act.calendar().add_workdays(act.today + timedelta(days=1), workdays)
    if due is not None and due < earliest:
        raise InvalidInput(Message("{due} leaves less than the {workdays} working days of "
                                   "陈述申辩 the policy gives: give {earliest} or later", due=due,
                                   workdays=workdays, earliest=earliest), field="due")
    hearing_due = due or earliest
    assert act.case.id is not None
    number = 1 + int(act.session.scalar(
        select(func.count()).select_from(DEADLINE)
        .where(DEADLINE.c.case_id == act.case.id,
               DEADLINE.c.kind == deadlines.HEARING_END)) or 0)
    key = deadlines.schedule(act.session, kind=deadlines.HEARING_END,
                             key=deadlines.case_key(act.case.id, "hearing", number),
                             due_at=end_of_day(hearing_due), now=act.now, case_id=act.case.id)
    act.reason = f"{code} {facts}"
    act.audit.update(reason_code=code, article=ground.article, ground=ground.wording,
                     facts=facts, hearing_due=hearing_due.isoformat(), hearing_key=key,
                     hearing_workdays=workdays)
    if code == "18.3":
        act.audit["missing_years"] = missing_reports(act.session, act.case.id, act.now)
    return hearing_due


def _procedure(act: Act) -> Procedure:
    assert act.case.id is not None
    procedure = current(act.session, act.case.id)
    if procedure is None:
        raise act.refuse(Message("case {id} has no 拟撤销 procedure on record: open one with "
                                 "propose_revocation", id=act.case.id), Reason.NO_PROCEDURE)
    return procedure




# ---------------------------------------------------------------------------- the acts
@EFFECTS.register("propose_revocation", reads=("reason_code", "facts", "due"))
def propose_revocation(act: Act) -> None:
    """拟撤销告知 (the 告知书 is the notice of this act)."""
    facts = act.text("facts")
    assert facts is not None  # required by the row
    open_procedure(act, code=str(act.payload["reason_code"]), facts=facts, due=act.day("due"))


@EFFECTS.register("state", reads=("text",))
def state(act: Act) -> None:
    """陈述申辩: kept as given; one made after the hearing deadline is kept, marked late."""
    procedure = _procedure(act)
    text = act.text("text")
    act.reason = text
    act.audit.update(text=text, reason_code=procedure.reason_code,
                     hearing_due=procedure.hearing_due.isoformat())
    if procedure.hearing_over(act.now):
        act.audit["late"] = True


@GUARDS.register("hearing_done")
def hearing_done(act: Act) -> None:
    """The decision comes after the 陈述申辩 period, or once a statement is in. The system
    decides only where the policy lets it, after a period that ended unanswered."""
    procedure = _procedure(act)
    over = procedure.hearing_over(act.now)
    if act.actor.kind == "system":
        if act.policy.revocation_decided_by != "system":
            raise act.refuse("the system may not revoke: the province decides under this "
                             "policy (revocation.decided_by is not \"system\")",
                             Reason.NOT_SYSTEM_DECISION)
        if procedure.statements or not over:
            raise act.refuse("the system may revoke only after a hearing period that ended "
                             "without a statement; the province decides this one",
                             Reason.NOT_SYSTEM_DECISION)
        return
    if not over and not procedure.statements:
        raise act.refuse(
            Message("the 陈述申辩 period runs until 24:00 of {day} and no statement has been "
                    "received: the decision comes after it", day=procedure.hearing_due),
            Reason.HEARING_NOT_OVER, hearing_due=procedure.hearing_due)


@EFFECTS.register("revoke", reads=("reason", "doc_no"))
def revoke(act: Act) -> None:
    """撤销决定: the ground of the procedure, its facts, the statements considered. A cured
    18.3 ground (every missing report filed since) is revoked only with a reason saying why it
    still holds."""
    procedure = _procedure(act)
    reason = act.text("reason", required=False)
    doc_no = act.payload.get("doc_no")
    if doc_no is not None:
        doc_no = validate_doc_no(str(doc_no))
    if procedure.statements and not reason and act.actor.kind != "system":
        raise InvalidInput("a statement (陈述申辩) was received: say why it does not change the "
                           "decision", field="reason")
    if procedure.cured and not reason:
        filed = ", ".join(map(str, procedure.filed_years))
        raise act.refuse(
            Message("the ground 18.3 is cured: the report(s) for {filed} were filed during "
                    "the procedure; maintain the recognition, or revoke with a reason saying "
                    "why the ground still holds", filed=filed),
            Reason.GROUND_CURED, filed_years=procedure.filed_years)
    act.reason = f"{procedure.reason_code} {procedure.facts}"
    act.audit.update(
        reason_code=procedure.reason_code, article=procedure.article, ground=procedure.ground,
        facts=procedure.facts, proposed_seq=procedure.opened_seq,
        hearing_due=procedure.hearing_due.isoformat(),
        statements=len(procedure.statements), decision_reason=reason, doc_no=doc_no)
    if procedure.cured:
        act.audit["cured_years"] = procedure.filed_years


@EFFECTS.register("maintain", reads=("reason",))
def maintain(act: Act) -> None:
    """维持认定: the procedure ends, the case goes back to where it was."""
    procedure = _procedure(act)
    act.reason = act.text("reason")
    deadlines.settle(act.session, now=act.now, result=f"maintained by {act.actor}",
                     status="cancelled", case_id=act.case.id, kinds=(deadlines.HEARING_END,))
    act.audit.update(reason_code=procedure.reason_code, proposed_seq=procedure.opened_seq,
                     returned_to=act.case.previous_state,
                     statements=len(procedure.statements))
    if procedure.cured:
        act.audit["cured_years"] = procedure.filed_years


@EFFECTS.register("reinstate", reads=("reason", "reference"))
def reinstate(act: Act) -> None:
    """恢复认定: back to the state before the procedure with the validity it had; the report
    and validity deadlines the revocation cancelled are pending again (a reminder that comes
    too late is closed as such when it fires).

    The cancelled rows are outcomes the audit chain vouches for, never written again: each is
    scheduled anew, same kind and due time, under its key with ``:rearmed-N``
    (:func:`deadlines.base_key` reads it as the deadline it re-arms). A deadline is re-armed
    when its latest row is one a revocation cancelled (an earlier revocation's rows were
    re-armed by its own reinstatement)."""
    act.reason = act.text("reason")
    reference = act.text("reference", limit=200, one_line=True)
    table = DEADLINE
    act.session.flush()
    found = connection_of(act.session).execute(
        select(table.c.kind, table.c.key, table.c.due_at, table.c.status, table.c.result)
        .where(table.c.case_id == act.case.id).order_by(table.c.id)).all()
    latest = {deadlines.base_key(row.key): row for row in found if row.kind in _REARMED}
    taken = {row.key for row in found}
    wanted = []
    for base, row in latest.items():
        if (row.status, row.result) != ("cancelled", _CANCELLED_BY_REVOCATION):
            continue
        number = 1
        while f"{base}:rearmed-{number}" in taken:
            number += 1
        wanted.append((row.kind, f"{base}:rearmed-{number}", as_utc(row.due_at)))
    deadlines.schedule_many(act.session, wanted, now=act.now, case_id=act.case.id)
    act.audit.update(reference=reference, returned_to=act.case.previous_state,
                     rearmed_deadlines=len(wanted))


@EFFECTS.register("report_overdue", reads=("year", "report_due"))
def report_overdue(act: Act) -> None:
    """催报: the report for ``year`` was due at 24:00 of ``report_due``; the grace runs policy
    ``report_grace_workdays`` working days from the day after the 催报 (a deadline row whose
    end, with the report still missing, opens the 18.3 procedure)."""
    year = as_year(act.payload.get("year"))
    due = act.day("report_due")
    assert due is not None and act.case.id is not None  # required by the row
    workdays = int(act.policy.periods.report_grace_workdays)
    grace = act.calendar().add_workdays(act.today + timedelta(days=1), workdays)
    deadlines.schedule(act.session, kind=deadlines.REPORT_GRACE,
                       key=deadlines.case_key(act.case.id, "report", year, "grace"),
                       due_at=end_of_day(grace), now=act.now, case_id=act.case.id)
    act.reason = f"{year}年度发展情况应于{due.year}年{due.month}月{due.day}日24时前报送，逾期未报"
    act.audit.update(year=year, report_due=due.isoformat(), grace_due=grace.isoformat(),
                     grace_workdays=workdays)
