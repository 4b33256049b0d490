"""The effects of the workflow table: what an act does to the case and its rows.

Each is registered under the name workflow.toml gives it and runs as the ``before`` callback of
its transition on the one ``transitions`` Machine (``engine/lifecycle.py``): after every guard
passed, before the case's state moves. An effect may still refuse (an expert who already
scored, a report already filed) or reject its input; the act's transaction then leaves nothing.
It fills ``act.reason`` and ``act.audit``, which the audit row records.

The engine binds the effects when it opens, reads included, so what only an effect's body
needs (the application schema, the scoring, the records) is imported when it first runs.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from gdcluster.engine import deadlines
from gdcluster.engine.acts import Act, Registry
from gdcluster.engine.audit import digest
from gdcluster.engine.clock import end_of_day
from gdcluster.engine.errors import InvalidInput, Reason
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col
from gdcluster.engine.parse import PERSON_LIMIT, as_year, validate_doc_no

__all__ = ["CHANGE_KINDS", "CLOSE_REASONS", "CLOSE_REASON_BY_STATE", "EFFECTS",
           "NOT_PUBLICIZED", "NOT_RECOMMENDED", "NOT_SUBMITTED"]

EFFECTS = Registry("effect")

#: What a 重大变动报备 may report (第十八条第（四）项).
CHANGE_KINDS = ("leading_industry", "spatial_scope", "management_body")

#: Why a round leaves a case 未入选 (``close``): never submitted; submitted but not
#: recommended by its city; recommended but not put on the publicity list.
NOT_SUBMITTED, NOT_RECOMMENDED, NOT_PUBLICIZED = "not_submitted", "not_recommended", \
    "not_publicized"
CLOSE_REASONS = {
    NOT_SUBMITTED: "未在申报期限内提交申报",
    NOT_RECOMMENDED: "未获地级以上市中小企业主管部门推荐",
    NOT_PUBLICIZED: "未列入拟认定名单",
}
#: The reason kind of each state a round leaves behind (the sources of ``close``).
CLOSE_REASON_BY_STATE = {
    "drafted": NOT_SUBMITTED,
    "submitted": NOT_RECOMMENDED,
    "city_reviewed": NOT_RECOMMENDED,
    "recommended": NOT_PUBLICIZED,
    "expert_reviewed": NOT_PUBLICIZED,
}


@EFFECTS.register("update", reads=("data",))
def update(act: Act) -> None:
    from gdcluster.engine.application import to_json, validate_application

    data = act.payload.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("the application must be a mapping of fields", field="data")
    stored = to_json(validate_application(data))
    act.store_application(stored)
    act.audit["application_sha256"] = digest(stored)


@EFFECTS.register("submit")
def submit(act: Act) -> None:
    """A resubmission satisfies the 退回补正 deadline and its reminder."""
    if act.case.correction_due is not None:
        deadlines.settle(act.session, now=act.now, result=f"resubmitted by {act.actor}",
                         case_id=act.case.id,
                         kinds=(deadlines.CORRECTION_DUE, deadlines.CORRECTION_REMINDER))


@EFFECTS.register("return", reads=("reason", "fields", "due"))
def return_for_correction(act: Act) -> None:
    """退回补正: the reason, the fields to correct, and the correction deadline — ``due``, or
    the policy's working days from the act's day, never before it and never after the round's
    recommendation deadline. Until its 24:00 the county may submit again, after the round's
    application deadline too; a reminder comes before it."""
    act.reason = act.text("reason")
    fields = act.payload.get("fields")
    if fields:
        if not isinstance(fields, list | tuple):
            raise InvalidInput("must be a list of field paths", field="fields")
        act.audit["fields"] = [str(item) for item in fields]
    given = act.day("due")
    today = act.today
    recommend_by = act.round().recommend_by
    if given is not None and given < today:
        raise InvalidInput(Message("{given} is before the day of the return ({today}): a "
                                   "correction deadline is never in the past", given=given,
                                   today=today), field="due")
    if recommend_by is not None and recommend_by < today:
        raise act.refuse(
            Message("the round's recommendations closed at the end of {day}: a corrected "
                    "application could no longer be recommended, so it is not returned (reject "
                    "it, or leave it to `round close`)", day=recommend_by),
            Reason.RECOMMENDATION_DEADLINE_PASSED,
            deadline=recommend_by)
    if given is not None and recommend_by is not None and given > recommend_by:
        raise InvalidInput(Message("{given} is after the round's recommendation deadline "
                                   "{deadline}: give a day up to it", given=given,
                                   deadline=recommend_by), field="due")
    periods = act.policy.periods
    due, clamped, reminder = deadlines.correction_days(
        today, due=given, workdays=int(periods.correction_workdays),
        reminder_workdays=int(periods.correction_reminder_days), recommend_by=recommend_by,
        calendar=act.calendar())
    assert act.case.id is not None  # the act's case is a stored row
    deadlines.schedule_correction(act.session, case_id=act.case.id, due=due, reminder=reminder,
                                  now=act.now)
    act.case.correction_due = due
    act.audit["correction_due"] = due.isoformat()
    if given is None:
        act.audit["correction_workdays"] = int(periods.correction_workdays)
    if clamped:
        act.audit["clamped_to_recommend_by"] = recommend_by.isoformat() if recommend_by else None
    if reminder is not None:
        act.audit["reminder"] = reminder.isoformat()


@EFFECTS.register("review", reads=("spot_check",))
def review(act: Act) -> None:
    note = act.text("spot_check", required=False)
    if note:
        act.audit["spot_check"] = note


@EFFECTS.register("recommend")
def recommend(act: Act) -> None:
    act.case.recommended_at = act.now


@EFFECTS.register("score", reads=("expert", "scores", "replace"))
def score(act: Act) -> None:
    """One expert's scores; with ``replace`` the correction of scores that expert recorded
    before, whose old points and total the audit row keeps (``replaced``)."""
    from gdcluster.engine.records import ExpertScore
    from gdcluster.engine.scoring import by_expert, expert_name, validate_scores

    expert = expert_name(act.payload.get("expert"))
    replace = act.payload.get("replace", False)
    if not isinstance(replace, bool):
        raise InvalidInput("must be true or false", field="replace")
    scores = validate_scores(act.payload.get("scores"), act.policy)
    stored = by_expert(
        act.session.scalars(select(ExpertScore).where(col(ExpertScore.case_id) == act.case.id)
                            .order_by(col(ExpertScore.id))),
        lambda row: row.expert,
    ).get(expert, [])
    if stored and not replace:
        raise act.refuse(
            Message("expert {expert} has already scored this case (total {total}); to "
                    "correct these scores, score again with --replace", expert=expert,
                    total=stored[-1].total),
            Reason.ALREADY_SCORED,
        )
    if replace and not stored:
        raise act.refuse(
            Message("expert {expert} has not scored this case, so there are no scores to "
                    "replace; without --replace the scores are recorded as a new expert's",
                    expert=expert),
            Reason.NOT_SCORED,
        )
    total = sum(scores.values(), Decimal(0))
    if stored:
        # every stored spelling of this expert (names stored before they were normalized may
        # be several) gives way to the one corrected row; the audit row keeps each of them
        old = [{"expert": row.expert, "scores": dict(row.scores), "total": row.total,
                "at": row.at.isoformat()} for row in stored]
        for row in stored:
            act.session.delete(row)
        act.session.flush()  # before the new row takes the (case, expert) key
        act.audit["replaced"] = old[-1]
        if len(old) > 1:
            act.audit["also_replaced"] = old[:-1]
    assert act.case.id is not None  # the act's case is a stored row
    act.session.add(
        ExpertScore(
            case_id=act.case.id,
            expert=expert,
            scores={key: str(value) for key, value in scores.items()},
            total=str(total),
            at=act.now,
        )
    )
    act.audit.update(expert=expert, total=str(total))


@EFFECTS.register("expert_review")
def expert_review(act: Act) -> None:
    from gdcluster.engine.records import ExpertScore
    from gdcluster.engine.scoring import by_expert, final_score

    experts = by_expert(
        act.session.execute(select(col(ExpertScore.expert), col(ExpertScore.total))
                            .where(col(ExpertScore.case_id) == act.case.id)
                            .order_by(col(ExpertScore.id))),
        lambda row: row.expert,
    )
    twice = {name: rows for name, rows in experts.items() if len(rows) > 1}
    if twice:
        spelled = "; ".join(f"{name} ({', '.join(repr(row.expert) for row in rows)})"
                            for name, rows in twice.items())
        raise act.refuse(
            Message("one expert's scores are stored more than once under spellings of one "
                    "name: {spelled}; keep the scores that stand with `case score {id} --expert "
                    "NAME --scores FILE --replace`", spelled=spelled, id=act.case.id),
            Reason.EXPERT_SCORED_TWICE,
            experts=sorted(twice),
        )
    totals = [Decimal(rows[0].total) for rows in experts.values()]
    result = final_score(totals, int(act.policy.rubric.trim_from))
    act.case.score = str(result)
    act.audit.update(score=str(result), experts=len(totals))


@EFFECTS.register("publicize", reads=("start",))
def publicize(act: Act) -> None:
    start = act.day("start") or act.today
    if start < act.today:
        raise InvalidInput(Message("{start} is before the day of the act ({today}): publicity "
                                   "never starts in the past", start=start, today=act.today),
                           field="start")
    workdays = int(act.policy.periods.publicity_workdays)
    calendar = act.calendar()
    first = calendar.next_workday(start, inclusive=True)
    end = calendar.add_workdays(start, workdays)
    # the deadline before the case's dates: scheduling flushes, and a case changed by then
    # would be written by that flush and again with the act
    assert act.case.id is not None  # the act's case is a stored row
    deadlines.schedule(
        act.session,
        kind=deadlines.PUBLICITY_END,
        key=deadlines.case_key(act.case.id, deadlines.PUBLICITY_END),
        due_at=end_of_day(end),
        now=act.now,
        case_id=act.case.id,
    )
    act.case.publicity_start = first
    act.case.publicity_end = end
    act.audit.update(publicity_start=first.isoformat(), publicity_end=end.isoformat(),
                     workdays=workdays)


@EFFECTS.register("object", reads=("name", "contact", "evidence", "unit"))
def object_to(act: Act) -> None:
    name = act.text("name", limit=PERSON_LIMIT, one_line=True)
    contact = act.text("contact", limit=500, one_line=True)
    evidence = act.text("evidence")
    unit = act.text("unit", required=False, limit=500, one_line=True)
    from gdcluster.engine.models import Objection

    assert act.case.id is not None  # the act's case is a stored row
    objection = Objection(
        case_id=act.case.id,
        name=name or "",
        contact=contact or "",
        unit=unit,
        evidence=evidence or "",
        filed_at=act.now,
    )
    act.session.add(objection)
    act.session.flush()
    act.audit.update(objection=objection.id, name=name, unit=unit)


@EFFECTS.register("resolve", reads=("objection", "reason", "when"))
def resolve(act: Act) -> None:
    objection = act.objection()
    act.reason = act.text("reason")
    outcome = act.payload["when"]
    objection.status = "upheld" if outcome == "uphold" else "dismissed"
    objection.resolved_at = act.now
    objection.resolution = act.reason
    act.audit.update(objection=objection.id, outcome=objection.status)
    if objection.status == "dismissed":
        assert objection.id is not None
        rearmed = deadlines.rearm_publicity_end(act.session, act.case,
                                                objection_id=objection.id, now=act.now)
        if rearmed is not None:
            act.audit["close_publicity_due"] = act.now.isoformat()


@EFFECTS.register("close_publicity")
def close_publicity(act: Act) -> None:
    """The window is over with no objection open: the case awaits the 名单通告."""
    deadlines.settle(
        act.session, now=act.now, result=f"publicity closed by {act.actor}",
        case_id=act.case.id, kinds=(deadlines.PUBLICITY_END,),
    )
    end = act.case.publicity_end
    act.audit["publicity_end"] = end.isoformat() if end else None


@EFFECTS.register("recognize", reads=("valid_from", "doc_no", "doc_date", "batch"))
def recognize(act: Act) -> None:
    """Recognition with the 名单通告 (``round recognize``): validity from the 通告's
    ``valid_from`` (its 成文日期 or later), one validity per 通告."""
    valid_from = act.day("valid_from")
    doc_date = act.day("doc_date")
    assert valid_from is not None and doc_date is not None  # required by the row
    doc_no = validate_doc_no(str(act.payload["doc_no"]))
    end = act.case.publicity_end
    if end is not None and doc_date <= end:
        raise InvalidInput(Message("the 通告's 成文日期 {day} is not after the close of this "
                                   "case's publicity ({end})", day=doc_date, end=end),
                           field="doc_date")
    if valid_from < doc_date:
        raise InvalidInput(Message("validity cannot start ({start}) before the 通告's 成文日期 "
                                   "{day}", start=valid_from, day=doc_date), field="valid_from")
    years = int(act.policy.periods.validity_years)
    valid_until = deadlines.validity_until(valid_from, years)
    act.case.valid_from = valid_from
    act.case.valid_until = valid_until
    assert act.case.id is not None  # the act's case is a stored row
    deadlines.schedule_validity(
        act.session, case_id=act.case.id, valid_from=valid_from, valid_until=valid_until,
        periods=act.policy.periods, calendar=act.calendar(), now=act.now,
    )
    act.audit.update(valid_from=valid_from.isoformat(), valid_until=valid_until.isoformat(),
                     doc_no=doc_no, doc_date=doc_date.isoformat(),
                     batch=int(act.payload["batch"]))


@EFFECTS.register("report", reads=("year", "data"))
def report(act: Act) -> None:
    year = as_year(act.payload.get("year"))
    if act.case.valid_from is None or act.case.valid_until is None:
        raise act.refuse("the case has no validity period", Reason.NO_VALIDITY)
    due_years = deadlines.report_years(act.case.valid_from, act.case.valid_until)
    if year not in due_years:
        raise act.refuse(
            Message("no annual report is due for {year}: the cluster is valid {start} to "
                    "{end}", year=year, start=act.case.valid_from, end=act.case.valid_until),
            Reason.YEAR_NOT_COVERED,
        )
    if year > act.today.year:
        raise act.refuse(Message("the report for {year} cannot be filed before {year} begins",
                                 year=year), Reason.YEAR_NOT_BEGUN)
    from gdcluster.engine.models import AnnualReport

    already = act.session.scalar(
        select(col(AnnualReport.id)).where(col(AnnualReport.case_id) == act.case.id,
                                           col(AnnualReport.year) == year)
    )
    if already is not None:
        raise act.refuse(Message("the report for {year} was already filed", year=year),
                         Reason.ALREADY_FILED)
    data = act.payload.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidInput("the report must be a mapping of fields", field="data")
    from gdcluster.engine.application import to_json, validate_report

    data = to_json(validate_report(data, year))
    assert act.case.id is not None  # the act's case is a stored row
    act.session.add(AnnualReport(case_id=act.case.id, year=year, data=data,
                                 filed_at=act.now))
    deadlines.settle(
        act.session, now=act.now, result=f"report filed by {act.actor}",
        key_prefix=deadlines.case_key(act.case.id, "report", year),
    )
    act.audit.update(year=year, report_sha256=digest(data))


@EFFECTS.register("change", reads=("kind", "detail"))
def change(act: Act) -> None:
    from gdcluster.engine.records import ChangeFiling

    kind = act.text("kind", limit=32)
    if kind not in CHANGE_KINDS:
        raise InvalidInput(Message("must be one of {kinds}", kinds=", ".join(CHANGE_KINDS)),
                           field="kind")
    detail = act.text("detail")
    assert act.case.id is not None  # the act's case is a stored row
    act.session.add(ChangeFiling(case_id=act.case.id, kind=kind, detail=detail or "",
                                 filed_at=act.now))
    act.audit.update(kind=kind, detail=detail)




@EFFECTS.register("reason", reads=("reason",))
def record_reason(act: Act) -> None:
    """The act's reason, required (reject, flag)."""
    act.reason = act.text("reason")


@EFFECTS.register("withdraw", reads=("reason",))
def withdraw(act: Act) -> None:
    act.reason = act.text("reason", required=False)


@EFFECTS.register("close")
def close(act: Act) -> None:
    """未入选: the round closes a case it left behind, saying why — the reason kind follows
    from the state the case was left in (``CLOSE_REASON_BY_STATE``)."""
    kind = CLOSE_REASON_BY_STATE[act.state]
    act.reason = CLOSE_REASONS[kind]
    act.audit["reason_kind"] = kind


@EFFECTS.register("reopen", reads=("reason",))
def reopen(act: Act) -> None:
    """Back to the state the case came from (自我纠错), while its round runs. A case back in
    publicity has its window's end armed again (due at once when it has passed)."""
    act.reason = act.text("reason")
    returned_to = act.case.previous_state
    act.audit["returned_to"] = returned_to
    end = act.case.publicity_end
    if returned_to == "publicized" and end is not None:
        assert act.case.id is not None
        deadlines.schedule(
            act.session, kind=deadlines.PUBLICITY_END,
            key=deadlines.case_key(act.case.id, deadlines.PUBLICITY_END,
                                   f"reopened-{act.now.strftime('%Y%m%dT%H%M%S%f')}"),
            due_at=max(end_of_day(end), act.now), now=act.now, case_id=act.case.id)


@EFFECTS.register("attach", reads=("content", "name", "kind", "note"))
def attach(act: Act) -> None:
    """One file onto the case's record; its hash, size, type, name and kind go into the
    audit row (the bytes never do)."""
    from gdcluster.engine.attachments import store_attachment

    assert act.case.id is not None
    name = act.text("name", limit=255, one_line=True) or ""
    kind = act.text("kind", limit=32, one_line=True) or ""
    act.audit.update(store_attachment(
        act.session, case_id=act.case.id, content=act.payload.get("content"), name=name,
        kind=kind, note=act.text("note", required=False), actor=str(act.actor), now=act.now))
