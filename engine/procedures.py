"""The 第十八条 procedure: no revocation without the cluster being heard (DESIGN §2, §6).

=====================  ===================================================================
propose_revocation     拟撤销告知: the ground (18.N, quoted from the policy), the facts and the
                       陈述申辩 deadline — policy ``hearing_workdays`` working days counted
                       from the day after the act, or a later ``due``. The province for any
                       ground; the system for 18.1 and 18.3 only.
state                  陈述申辩 by the county (or its city); may be repeated; one made after the
                       hearing deadline is kept, marked late.
revoke                 the decision (撤销决定), once the hearing deadline has passed or a
                       statement is in; by the system only where the policy says
                       (``revocation.decided_by = "system"``) and no statement came.
maintain               维持认定: back to the state the case came from.
reinstate              恢复认定 of a revoked case (行政复议/行政诉讼/自我纠错): back to the state
                       before the procedure, validity as it was, its deadlines re-armed.
=====================  ===================================================================

A procedure's record is the audit trail (the act that opened it, the statements, the
decision) and its hearing deadline a deadline row; :func:`current` reads it back. Any act that
opens a procedure (``propose_revocation``; ``fail_review`` of a 复核) calls
:func:`gdcluster.engine.procedure_acts.open_procedure` from its effect, so every ground runs
the same way; that module holds the acts, this one what they and the read models read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from gdcluster.engine.clock import as_utc, end_of_day
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["PROPOSED", "SYSTEM_GROUNDS", "Procedure", "current", "missing_reports",
           "procedure_shown", "unheard_revocations"]

#: The state of a case whose revocation is proposed.
PROPOSED = "revocation_proposed"
#: The states whose case view shows a procedure (``procedure_shown``).
PROCEDURE_STATES = (PROPOSED, "revoked")
#: The grounds the system may open a procedure on (DESIGN §6): no 复核 application, or the
#: annual report still missing after the 催报 grace.
SYSTEM_GROUNDS = ("18.1", "18.3")


@dataclass(frozen=True)
class Procedure:
    """A case's latest 拟撤销 procedure, as its audit rows and hearing deadline record it."""

    opened_seq: int
    opened_at: datetime
    opened_by: str
    trigger: str
    reason_code: str
    article: str
    ground: str
    facts: str
    hearing_due: date
    #: [{``at``, ``actor``, ``text``, ``late``}] in order.
    statements: list[dict[str, Any]] = field(default_factory=list)
    #: For 18.3: the report years missing when the procedure opened, and those filed since.
    missing_years: list[int] = field(default_factory=list)
    filed_years: list[int] = field(default_factory=list)
    #: The decision (``revoke`` or ``maintain``) once taken: {``trigger``, ``at``, ``actor``}.
    decision: dict[str, Any] | None = None

    def hearing_over(self, now: datetime) -> bool:
        """The 陈述申辩 period ends at 24:00 of ``hearing_due``."""
        return now >= end_of_day(self.hearing_due)

    @property
    def cured(self) -> bool:
        """An 18.3 ground whose missing reports have all been filed since it was opened."""
        return bool(self.missing_years) and set(self.missing_years) <= set(self.filed_years)

    def status(self, hearing_ended: bool) -> str:
        """Where the procedure stands, in words an administrator reads."""
        if self.decision is not None:
            return Message("decided: {trigger}", trigger=self.decision["trigger"])
        if hearing_ended:
            return Message("hearing ended, awaiting decision")
        if self.statements:
            return Message("statement received, hearing period running")
        return Message("hearing period running")

    def to_dict(self, hearing_ended: bool) -> dict[str, Any]:
        """The procedure as ``case show --json`` prints it; ``hearing_ended``: its hearing
        deadline has been handled by the scheduler (or has passed)."""
        return {
            "reason_code": self.reason_code, "article": self.article, "ground": self.ground,
            "facts": self.facts, "opened_at": self.opened_at.isoformat(),
            "opened_by": self.opened_by, "hearing_due": self.hearing_due.isoformat(),
            "statements": [{**row, "at": row["at"].isoformat()} for row in self.statements],
            "missing_years": list(self.missing_years), "filed_years": list(self.filed_years),
            "cured": self.cured, "status": self.status(hearing_ended),
            "decision": None if self.decision is None else
            {**self.decision, "at": self.decision["at"].isoformat()},
        }


def current(session: Session, case_id: int) -> Procedure | None:
    """The latest procedure opened on the case (``None``: never one), read from the audit."""
    # the tables are defined when first read: a case view out of a procedure needs none
    from gdcluster.engine.models import AnnualReport, AuditEntry
    opened = session.execute(
        select(col(AuditEntry.seq), col(AuditEntry.at), col(AuditEntry.actor),
               col(AuditEntry.trigger), col(AuditEntry.payload))
        .where(col(AuditEntry.case_id) == case_id, col(AuditEntry.to_state) == PROPOSED,
               col(AuditEntry.from_state) != PROPOSED)
        .order_by(col(AuditEntry.seq).desc()).limit(1)
    ).first()
    if opened is None:
        return None
    payload = json.loads(opened.payload)
    later = session.execute(
        select(col(AuditEntry.at), col(AuditEntry.actor), col(AuditEntry.trigger),
               col(AuditEntry.payload))
        .where(col(AuditEntry.case_id) == case_id, col(AuditEntry.seq) > opened.seq,
               col(AuditEntry.trigger).in_(("state", "revoke", "maintain")))
        .order_by(col(AuditEntry.seq))
    ).all()
    statements: list[dict[str, Any]] = []
    decision: dict[str, Any] | None = None
    for row in later:
        if row.trigger == "state":
            given = json.loads(row.payload)
            statements.append({"at": as_utc(row.at), "actor": row.actor,
                               "text": given.get("text", ""), "late": bool(given.get("late"))})
        elif decision is None:
            decision = {"trigger": row.trigger, "at": as_utc(row.at), "actor": row.actor}
    missing = [int(year) for year in payload.get("missing_years", [])]
    filed = sorted(session.scalars(
        select(col(AnnualReport.year))
        .where(col(AnnualReport.case_id) == case_id,
               col(AnnualReport.year).in_(missing)))) if missing else []
    return Procedure(
        opened_seq=opened.seq, opened_at=as_utc(opened.at), opened_by=opened.actor,
        trigger=opened.trigger, reason_code=str(payload.get("reason_code", "")),
        article=str(payload.get("article", "")), ground=str(payload.get("ground", "")),
        facts=str(payload.get("facts", "")),
        hearing_due=date.fromisoformat(payload["hearing_due"]),
        statements=statements, missing_years=missing, filed_years=filed, decision=decision,
    )


def missing_reports(session: Session, case_id: int, now: datetime) -> list[int]:
    """The years whose annual report was due by ``now`` and is not filed."""
    from gdcluster.engine import deadlines  # loaded when asked: a read of a case needs none
    from gdcluster.engine.models import AnnualReport, Deadline

    years = {deadlines.key_year(key) for key in session.scalars(
        select(col(Deadline.key)).where(col(Deadline.case_id) == case_id,
                                        col(Deadline.kind) == deadlines.REPORT_DUE,
                                        col(Deadline.due_at) <= now))}
    years.discard(None)
    filed = set(session.scalars(select(col(AnnualReport.year))
                                .where(col(AnnualReport.case_id) == case_id)))
    return sorted(year for year in years if year is not None and year not in filed)


def procedure_shown(session: Session, case_id: int, state: str,
                    deadline_rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The procedure as a case's read model shows it (a case proposed for revocation, or
    revoked after a procedure), its status told by its hearing deadline's row: no longer
    pending once the scheduler has handled it ("hearing ended, awaiting decision")."""
    if state not in PROCEDURE_STATES:
        return None
    procedure = current(session, case_id)
    if procedure is None:
        return None
    from gdcluster.engine.deadlines import HEARING_END

    ended = any(row["kind"] == HEARING_END and row["status"] != "pending"
                and as_utc(row["due_at"]) == end_of_day(procedure.hearing_due)
                for row in deadline_rows)
    return procedure.to_dict(ended)


def unheard_revocations(session: Session) -> list[dict[str, Any]]:
    """Revocations recorded without a 拟撤销 procedure (by the timer under 18.1 or 18.3, or
    by the province at once, before the procedure existed), oldest first, with where each case
    stands now: the administrator's list for ``case reinstate``. Nothing is changed."""
    from gdcluster.engine.models import AuditEntry, Case

    revoked = session.execute(
        select(col(AuditEntry.seq), col(AuditEntry.case_id), col(AuditEntry.at),
               col(AuditEntry.actor), col(AuditEntry.from_state), col(AuditEntry.reason),
               col(AuditEntry.payload), col(Case.name), col(Case.county), col(Case.state))
        .join(Case, col(Case.id) == col(AuditEntry.case_id))
        .where(col(AuditEntry.trigger) == "revoke", col(AuditEntry.to_state) == "revoked",
               col(AuditEntry.from_state) != PROPOSED)
        .order_by(col(AuditEntry.seq))).all()
    reinstated = {row.case_id: row.seq for row in session.execute(
        select(col(AuditEntry.case_id), func.max(col(AuditEntry.seq)).label("seq"))
        .where(col(AuditEntry.trigger) == "reinstate").group_by(col(AuditEntry.case_id)))}
    return [{
        "case_id": row.case_id, "name": row.name, "county": row.county,
        "revoked_at": as_utc(row.at), "actor": row.actor,
        "reason_code": json.loads(row.payload).get("reason_code"), "reason": row.reason,
        "from_state": row.from_state, "state": row.state,
        "reinstated": reinstated.get(row.case_id, 0) > row.seq,
    } for row in revoked]
