"""What each act checks (guards) and does (effects), inside the act's one transaction.

Guards raise ``TransitionRefused`` with the facts; effects change rows and fill in the audit
payload. Neither commits: ``Engine.fire`` owns the transaction, so a failure anywhere leaves
nothing behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gdcluster.engine import deadlines
from gdcluster.engine.actors import Actor
from gdcluster.engine.clock import end_of_day, local_date, start_of_day
from gdcluster.engine.errors import InvalidInput, TransitionRefused
from gdcluster.engine.models import (
    AnnualReport,
    Case,
    ChangeFiling,
    ExpertScore,
    Objection,
    Round,
)
from gdcluster.engine.parse import (
    MAX_ID,
    PERSON_LIMIT,
    as_date,
    as_year,
    clean_text,
    exact_number,
)

CHANGE_KINDS = ("leading_industry", "spatial_scope", "management_body")
SCORE_PLACES = Decimal("0.0001")


@dataclass
class Act:
    """One act in progress: the case, who, what was given, and what the audit row will say."""

    session: Session
    case: Case
    trigger: str
    actor: Actor
    payload: dict[str, Any]
    now: datetime
    policy: Any
    calendar: Callable[[], Any]
    reason: str | None = None
    audit: dict[str, Any] = field(default_factory=dict)

    def refuse(self, message: str, *reasons: str, **facts: Any) -> TransitionRefused:
        return TransitionRefused(
            message,
            case_id=self.case.id,
            trigger=self.trigger,
            state=self.case.state,
            reasons=reasons,
            **facts,
        )

    @property
    def today(self) -> date:
        return local_date(self.now)

    def round(self, *, lock: bool = False) -> Round:
        # session.get answers from the identity map when the row is already loaded in this
        # transaction (the two round guards of `recommend`): one query per act (issue 5, P1)
        # SQLite's writers are serialized by BEGIN IMMEDIATE: no row lock to take there
        lock = lock and self.session.get_bind().dialect.name != "sqlite"
        row = self.session.get(Round, self.case.round_year, with_for_update=True if lock else None)
        if row is None:
            from gdcluster.engine.errors import NotFound

            raise NotFound("round", self.case.round_year)
        return row

    def text(self, name: str, *, required: bool = True, limit: int = 20_000,
             one_line: bool = False) -> str | None:
        return clean_text(self.payload.get(name), name, required=required, limit=limit,
                          one_line=one_line)

    def day(self, name: str) -> date | None:
        return as_date(self.payload.get(name), name)


def digest(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- guards
def guard_round_accepting_applications(act: Act) -> None:
    deadline = act.round().apply_by
    if deadline is not None and act.now >= end_of_day(deadline):
        raise act.refuse(
            f"round {act.case.round_year} closed for applications at the end of {deadline}",
            "application deadline passed",
            deadline=deadline,
        )


def guard_application_complete(act: Act) -> None:
    from gdcluster.engine.application import missing_for_submission

    application = validated(act.case.application)
    missing = missing_for_submission(
        application, act.case.round_year, act.policy.min_growth_years
    )
    if missing:
        raise act.refuse(
            "the application is incomplete; missing: " + ", ".join(missing), *missing,
            missing=missing,
        )


def guard_criteria_pass(act: Act) -> None:
    report = check_case(act.case, act.policy)
    failed = [item for item in report.items if item.result == "fail"]
    if failed:
        lines = [f"{item.article} {item.item}: {item.rule}（{item.value}）" for item in failed]
        raise act.refuse(
            "资格初审 refused: automatic criteria not met — " + "; ".join(lines),
            *lines,
            failed=[item.id for item in failed],
        )
    act.audit["criteria"] = "all automatic items pass"


def guard_round_accepting_recommendations(act: Act) -> None:
    deadline = act.round().recommend_by
    if deadline is not None and act.now >= end_of_day(deadline):
        raise act.refuse(
            f"round {act.case.round_year} closed for recommendations at the end of {deadline}",
            "recommendation deadline passed",
            deadline=deadline,
        )


def guard_city_quota(act: Act) -> None:
    round_row = act.round(lock=True)  # serializes recommendations of one round
    quota = city_quota(round_row, act.policy, act.case.city)
    used = recommended_count(act.session, act.case.round_year, act.case.city)
    if used >= quota[1]:
        raise act.refuse(
            f"{act.case.city} has already recommended {used} clusters in round "
            f"{act.case.round_year}; its maximum is {quota[1]}",
            "city quota reached",
            quota_max=quota[1],
            used=used,
        )


def guard_enough_experts(act: Act) -> None:
    count = act.session.scalar(
        select(func.count()).select_from(ExpertScore).where(ExpertScore.case_id == act.case.id)
    )
    needed = int(act.policy.rubric.min_experts)
    if (count or 0) < needed:
        raise act.refuse(
            f"{count} expert(s) scored this case; the rubric needs at least {needed}",
            "not enough experts",
            experts=count,
            needed=needed,
        )


def guard_publicity_open(act: Act) -> None:
    start, end = act.case.publicity_start, act.case.publicity_end
    if start is None or end is None or not (start_of_day(start) <= act.now < end_of_day(end)):
        raise act.refuse(
            f"objections are accepted only during the publicity period ({start} to {end})",
            "outside the publicity period",
        )


def guard_objection_open(act: Act) -> None:
    objection = find_objection(act)
    if objection.status != "open":
        raise act.refuse(
            f"objection {objection.id} is already {objection.status}", "objection not open"
        )


def guard_publicity_over(act: Act) -> None:
    end = act.case.publicity_end
    if end is None or act.now < end_of_day(end):
        raise act.refuse(
            f"the publicity period runs until 24:00 of {end}; recognition waits until it is over",
            "publicity period not over",
            publicity_end=end,
        )


def guard_no_open_objection(act: Act) -> None:
    open_ids = list(
        act.session.scalars(
            select(Objection.id).where(
                Objection.case_id == act.case.id, Objection.status == "open"
            )
        )
    )
    if open_ids:
        raise act.refuse(
            f"objection(s) {', '.join(map(str, open_ids))} are still open; resolve them first",
            "open objection",
            objections=open_ids,
        )


def guard_review_window(act: Act) -> None:
    until = act.case.valid_until
    if until is None:
        raise act.refuse("the case has no validity period", "no validity")
    months = int(act.policy.periods.review_window_months)
    opens = deadlines.review_window_opens(until, months)
    if not (opens <= act.today <= until):
        raise act.refuse(
            f"复核 may be applied for from {opens} to {until} ({months} months before the end "
            f"of validity); today is {act.today}",
            "outside the 复核 window",
            window=(opens, until),
        )


def guard_revocation_code(act: Act) -> None:
    code = str(act.payload.get("reason_code", "")).strip()
    known = list(act.policy.revocations)
    if code not in known:
        raise InvalidInput(
            f"unknown revocation reason code {code!r}; use one of {', '.join(known)}",
            field="reason_code",
        )


GUARDS: dict[str, Callable[[Act], None]] = {
    name.removeprefix("guard_"): function
    for name, function in globals().items()
    if name.startswith("guard_")
}


# ---------------------------------------------------------------------------- effects
def effect_update(act: Act) -> None:
    from gdcluster.engine.application import to_json, validate_application

    data = act.payload.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("the application must be a mapping of fields", field="data")
    stored = to_json(validate_application(data))
    act.case.application = stored
    act.audit["application_sha256"] = digest(stored)


def effect_return(act: Act) -> None:
    act.reason = act.text("reason")
    fields = act.payload.get("fields")
    if fields:
        act.audit["fields"] = [str(item) for item in fields]
    resubmit_by = act.day("resubmit_by")
    if resubmit_by:
        act.audit["resubmit_by"] = resubmit_by.isoformat()


def effect_review(act: Act) -> None:
    note = act.text("spot_check", required=False)
    if note:
        act.audit["spot_check"] = note


def effect_recommend(act: Act) -> None:
    act.case.recommended_at = act.now


def effect_score(act: Act) -> None:
    expert = act.text("expert", limit=128, one_line=True)
    assert expert is not None
    scores = validate_scores(act.payload.get("scores"), act.policy)
    exists = act.session.scalar(
        select(ExpertScore.id).where(
            ExpertScore.case_id == act.case.id, ExpertScore.expert == expert
        )
    )
    if exists is not None:
        raise act.refuse(f"expert {expert} has already scored this case", "already scored")
    total = sum(scores.values(), Decimal(0))
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


def effect_expert_review(act: Act) -> None:
    totals = [
        Decimal(row)
        for row in act.session.scalars(
            select(ExpertScore.total).where(ExpertScore.case_id == act.case.id)
        )
    ]
    score = final_score(totals, int(act.policy.rubric.trim_from))
    act.case.score = str(score)
    act.audit.update(score=str(score), experts=len(totals))


def effect_publicize(act: Act) -> None:
    start = act.day("start") or act.today
    workdays = int(act.policy.periods.publicity_workdays)
    calendar = act.calendar()
    first = calendar.next_workday(start, inclusive=True)
    end = calendar.add_workdays(start, workdays)
    # the deadline first: its lookup autoflushes, and a case already changed would be
    # written twice, now and with the act (issue 5, P5)
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


def effect_object(act: Act) -> None:
    name = act.text("name", limit=PERSON_LIMIT, one_line=True)
    contact = act.text("contact", limit=500, one_line=True)
    evidence = act.text("evidence")
    unit = act.text("unit", required=False, limit=500, one_line=True)
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


def effect_resolve(act: Act) -> None:
    objection = find_objection(act)
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
            act.audit["recognition_due"] = act.now.isoformat()


def effect_recognize(act: Act) -> None:
    given = act.day("valid_from")
    valid_from = given or act.round().valid_from or act.today
    years = int(act.policy.periods.validity_years)
    valid_until = deadlines.validity_until(valid_from, years)
    act.case.valid_from = valid_from
    act.case.valid_until = valid_until
    deadlines.settle(
        act.session, now=act.now, result=f"recognized by {act.actor}", case_id=act.case.id,
        kinds=(deadlines.PUBLICITY_END,),
    )
    deadlines.schedule_validity(
        act.session, case_id=act.case.id, valid_from=valid_from, valid_until=valid_until,
        periods=act.policy.periods, calendar=act.calendar(), now=act.now,
    )
    act.audit.update(valid_from=valid_from.isoformat(), valid_until=valid_until.isoformat())


def effect_report(act: Act) -> None:
    year = as_year(act.payload.get("year"))
    if act.case.valid_from is None or act.case.valid_until is None:
        raise act.refuse("the case has no validity period", "no validity")
    due_years = deadlines.report_years(act.case.valid_from, act.case.valid_until)
    if year not in due_years:
        raise act.refuse(
            f"no annual report is due for {year}: the cluster is valid "
            f"{act.case.valid_from} to {act.case.valid_until}",
            "year not covered",
        )
    if year > act.today.year:
        raise act.refuse(f"the report for {year} cannot be filed before {year} begins",
                         "year not begun")
    already = act.session.scalar(
        select(AnnualReport.id).where(AnnualReport.case_id == act.case.id,
                                      AnnualReport.year == year)
    )
    if already is not None:
        raise act.refuse(f"the report for {year} was already filed", "already filed")
    data = act.payload.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidInput("the report must be a mapping of fields", field="data")
    from gdcluster.engine.application import to_json, validate_report

    data = to_json(validate_report(data, year))
    act.session.add(AnnualReport(case_id=act.case.id, year=year, data=data,
                                 filed_at=act.now))
    deadlines.settle(
        act.session, now=act.now, result=f"report filed by {act.actor}",
        key_prefix=deadlines.case_key(act.case.id, "report", year),
    )
    act.audit.update(year=year, report_sha256=digest(jsonable(data)))


def effect_change(act: Act) -> None:
    kind = act.text("kind", limit=32)
    if kind not in CHANGE_KINDS:
        raise InvalidInput(f"must be one of {', '.join(CHANGE_KINDS)}", field="kind")
    detail = act.text("detail")
    act.session.add(ChangeFiling(case_id=act.case.id, kind=kind, detail=detail or "",
                                 filed_at=act.now))
    act.audit.update(kind=kind, detail=detail)


def effect_flag(act: Act) -> None:
    act.reason = act.text("reason")


def effect_renew(act: Act) -> None:
    old_until = act.case.valid_until
    assert old_until is not None
    new_from = date.fromordinal(old_until.toordinal() + 1)
    new_until = deadlines.validity_until(new_from, int(act.policy.periods.validity_years))
    act.case.valid_from = new_from
    act.case.valid_until = new_until
    deadlines.settle(
        act.session, now=act.now, result=f"renewed by {act.actor}", status="cancelled",
        case_id=act.case.id, kinds=(deadlines.VALIDITY_END, deadlines.EXPIRY_REMINDER),
    )
    deadlines.schedule_validity(
        act.session, case_id=act.case.id, valid_from=new_from, valid_until=new_until,
        periods=act.policy.periods, calendar=act.calendar(), now=act.now,
    )
    act.audit.update(valid_from=new_from.isoformat(), valid_until=new_until.isoformat(),
                     previous_valid_until=old_until.isoformat())


def effect_revoke(act: Act) -> None:
    code = str(act.payload["reason_code"]).strip()
    text = act.text("reason")
    act.reason = f"{code} {text}"
    act.audit.update(reason_code=code, ground=act.policy.revocation_reason(code))


def effect_reject(act: Act) -> None:
    act.reason = act.text("reason")


def effect_withdraw(act: Act) -> None:
    act.reason = act.text("reason", required=False)


EFFECTS: dict[str, Callable[[Act], None]] = {
    name.removeprefix("effect_"): function
    for name, function in globals().items()
    if name.startswith("effect_")
}


# ---------------------------------------------------------------------------- shared rules
def check_case(case: Case, policy: Any) -> Any:
    """The criteria report of the case's application under ``policy`` for its round."""
    from gdcluster.engine.criteria import evaluate

    key = (_content_key(case.application), policy.name, policy.digest, case.round_year)
    report = _CHECKED.get(key)
    if report is None:
        report = evaluate(validated(case.application), policy, case.round_year)
        _remember(_CHECKED, key, report)
    return report


# Validating an application and judging it are pure functions of its content (and of the
# policy and round): acts on the same application reuse the answer instead of spending a
# fifth of each `submit`, `review` and `recommend` on it again (issue 5, P1). Keyed by the
# content itself, never by case id or version, so an answer cannot outlive what it judged.
_CACHE_SIZE = 256
_VALIDATED: dict[str, dict[str, Any]] = {}
_CHECKED: dict[tuple[str, str, str, int], Any] = {}


def _content_key(application: Any) -> str:
    return json.dumps(application, ensure_ascii=False, sort_keys=True, default=repr)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        del cache[next(iter(cache))]  # oldest first
    cache[key] = value


def validated(application: Any) -> dict[str, Any]:
    """``validate_application`` of a stored application, remembered by content. The answer
    is shared: read it, never change it."""
    from gdcluster.engine.application import validate_application

    key = _content_key(application)
    answer = _VALIDATED.get(key)
    if answer is None:
        answer = validate_application(application)
        _remember(_VALIDATED, key, answer)
    return answer


def find_objection(act: Act) -> Objection:
    raw = act.payload.get("objection")
    try:
        objection_id = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"not an objection id: {raw!r}", field="objection") from exc
    objection = (act.session.get(Objection, objection_id) if 1 <= objection_id <= MAX_ID
                 else None)
    if objection is None or objection.case_id != act.case.id:
        from gdcluster.engine.errors import NotFound

        raise NotFound(f"objection of case {act.case.id}", objection_id)
    return objection


def jsonable(value: Any) -> Any:
    """Plain JSON for storage: decimals as strings, keys as strings."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, Decimal | date):
        return str(value)
    if isinstance(value, float):
        raise InvalidInput("binary floating-point numbers are not accepted; write decimals")
    return value


def validate_scores(raw: Any, policy: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        raise InvalidInput("must map each rubric indicator id to points", field="scores")
    indicators = {item.id: item for item in policy.rubric.indicators}
    unknown = sorted(set(map(str, raw)) - set(indicators))
    if unknown:
        raise InvalidInput(f"unknown rubric indicator {unknown[0]!r}", field=f"scores.{unknown[0]}")
    scores: dict[str, Decimal] = {}
    for key, indicator in indicators.items():
        if key not in raw:
            raise InvalidInput("missing score", field=f"scores.{key}")
        value = raw[key]
        if isinstance(value, bool | float):
            raise InvalidInput("write points as an integer or a decimal string",
                               field=f"scores.{key}")
        # the application's reader: plain decimal digits only ("1e1", "0x10", "１０", "NaN"
        # and "1_0" are refused, where Decimal() would take them)
        points = exact_number(value, f"scores.{key}")
        if not points.is_finite() or not Decimal(0) <= points <= Decimal(indicator.weight):
            raise InvalidInput(f"must be between 0 and {indicator.weight}",
                               field=f"scores.{key}")
        if points.as_tuple().exponent < -2:  # type: ignore[operator]
            raise InvalidInput("at most two decimal places", field=f"scores.{key}")
        scores[key] = points
    return scores


def final_score(totals: list[Decimal], trim_from: int) -> Decimal:
    """Mean of the experts' totals, dropping the highest and lowest when ``trim_from`` scored.

    Computed exactly, then rounded half-up to four decimals; ranking uses the stored value.
    """
    ordered = sorted(totals)
    if len(ordered) >= trim_from and len(ordered) > 2:
        ordered = ordered[1:-1]
    mean = sum((Fraction(value) for value in ordered), Fraction(0)) / len(ordered)
    return (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(
        SCORE_PLACES, rounding=ROUND_HALF_UP
    )


def city_quota(round_row: Round, policy: Any, city: str) -> tuple[int, int]:
    if round_row.quotas and city in round_row.quotas:
        low, high = round_row.quotas[city]
        return int(low), int(high)
    if round_row.quotas and "*" in round_row.quotas:
        low, high = round_row.quotas["*"]
        return int(low), int(high)
    quota = policy.quota_for(city)
    return int(quota.min), int(quota.max)


def _recommended_count_statement() -> Any:
    from sqlalchemy import bindparam

    case = Case.__table__.c  # type: ignore[attr-defined]
    return (select(func.count()).select_from(Case.__table__)  # type: ignore[attr-defined]
            .where(case.round_year == bindparam("round_year"), case.city == bindparam("city"),
                   case.recommended_at.is_not(None), case.state != "withdrawn"))


#: Built once, run on the session's connection: built per call through the ORM it was a
#: tenth of each `recommend` (issue 5, P1).
_RECOMMENDED_COUNT = _recommended_count_statement()


def recommended_count(session: Session, round_year: int, city: str) -> int:
    """Cases of the round the city has recommended (withdrawn ones not counted)."""
    session.flush()
    from gdcluster.engine.store import connection_of

    return int(connection_of(session).execute(
        _RECOMMENDED_COUNT, {"round_year": round_year, "city": city}).scalar() or 0)
