"""What each notice says, gathered from the database as of the act it announces.

A notice is built from an act (a ``TransitionEvent``: the live one inside the act's transaction,
or one rebuilt from its audit row later), never from "whatever the case looks like now": the
validity printed in a recognition list is the one that act set, even after a later renewal.
Everything user-written (cluster names, reasons) stays data; the templates decide the wording.

A notice asserts only what the database records: the steps a round went through (现场考察 only
when an act recorded one for the round: trigger ``site_visit``), the departments by their names
(``states/departments.toml``), the remedies of the law.

A kind's context builder is ``builder(session, settings, event) -> dict``, registered in
``_BUILDERS``; it starts from :func:`common_context`, which holds what every template may use
(issuer, date, contact, fonts, the measures, the round's 申报通知, remedies, copies).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import col

from gdcluster.engine.clock import local_date
from gdcluster.engine.effects import NOT_PUBLICIZED, NOT_RECOMMENDED, NOT_SUBMITTED
from gdcluster.engine.errors import InvalidInput, NotFound
from gdcluster.engine.i18n import Message
from gdcluster.engine.kernel import TransitionEvent, acting
from gdcluster.engine.models import AuditEntry, Case, Round
from gdcluster.engine.policies import policy_for
from gdcluster.engine.procedures import current as current_procedure
from gdcluster.engine.views import load_case as _load_case
from gdcluster.engine.views import load_round as _load_round
from gdcluster.notifications.kinds import ALSO_KINDS, KIND_TRIGGERS, KINDS, TRIGGER_KINDS
from gdcluster.notifications.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


__all__ = [
    "SITE_VISIT_TRIGGER",
    "NoticeSpec",
    "build_context",
    "common_context",
    "event_from_audit",
    "latest_event",
    "specs_for_event",
]

#: The audit trigger of an act recording a 现场考察 (site visit) of a round's applicants.
SITE_VISIT_TRIGGER = "site_visit"
#: The steps of a round before its publicity, as the notices name them.
ROUND_STEPS = ("申报推荐", "资格初审", "专家评审")

#: Application fields (DESIGN §4) by their official names, for 退回补正 letters.
FIELD_LABELS = {
    "area_km2": "集群占地面积",
    "output": "集群产值",
    "sme_output_share": "中小企业产值占比",
    "leading_industry_share": "主导产业产值占比",
    "champion_enterprises": "国家级单项冠军或专精特新“小巨人”企业",
    "quality_smes": "省级专精特新、创新型中小企业和高新技术企业",
    "sme_rd_expense": "中小企业研发经费",
    "invention_patents": "有效发明专利拥有量",
    "employees": "从业人员数",
    "industrial_internet_rate": "工业互联网平台应用普及率",
    "co2_intensity": "单位产值二氧化碳排放强度",
    "energy_intensive": "是否属于高耗能集群",
    "energy_efficiency_above_benchmark": "能效水平",
    "water_intensive": "是否属于高耗水集群",
    "water_efficiency_above_benchmark": "水效水平",
    "incidents": "安全、质量、环境及违法失信情况",
    "management_body": "集群运营管理机构",
    "development_plan": "集群三年发展规划",
    "narrative": "申报材料文字说明",
}


@dataclass(frozen=True)
class NoticeSpec:
    """One notice an act calls for: its kind and what it is about."""

    kind: str
    case_id: int | None = None
    round_year: int | None = None
    case_ids: tuple[int, ...] = ()


def specs_for_event(event: TransitionEvent) -> list[NoticeSpec]:
    kind = TRIGGER_KINDS.get(event.trigger)
    if kind is None:
        return []
    if kind == "not_selected" and event.payload.get("reason_kind") == NOT_SUBMITTED:
        return []  # never submitted: nobody was told it was under review
    if kind == "rejection" and event.to_state != "rejected":
        return []  # an objection dismissed
    if kind in ("publicity", "recognition"):
        return [NoticeSpec(kind, round_year=event.round_year)]
    if kind == "renewal":
        assert event.case_id is not None
        return [NoticeSpec(kind, case_id=event.case_id, round_year=event.round_year,
                           case_ids=(event.case_id,))]
    return [NoticeSpec(each, case_id=event.case_id, round_year=event.round_year)
            for each in (kind, *ALSO_KINDS.get(event.trigger, ()))]


# ---------------------------------------------------------------------------- acts
def event_from_audit(entry: AuditEntry) -> TransitionEvent:
    return TransitionEvent(
        case_id=entry.case_id, round_year=entry.round_year, trigger=entry.trigger,
        from_state=entry.from_state, to_state=entry.to_state, actor=entry.actor, at=entry.at,
        reason=entry.reason, payload=json.loads(entry.payload), audit_seq=entry.seq,
        prev_hash=entry.prev_hash,
    )


def latest_event(
    session: Session, kind: str, *, case_id: int | None = None, round_year: int | None = None
) -> TransitionEvent:
    """The last act that called for a ``kind`` notice about this case or round."""
    triggers = KIND_TRIGGERS[kind]
    trigger = triggers[0]
    statement = select(AuditEntry).where(col(AuditEntry.trigger).in_(triggers))
    if kind == "rejection":
        statement = statement.where(col(AuditEntry.to_state) == "rejected")
    if case_id is not None:
        statement = statement.where(col(AuditEntry.case_id) == case_id)
    else:
        statement = statement.where(col(AuditEntry.round_year) == round_year,
                                    col(AuditEntry.case_id).is_(None))
    entry = session.scalars(statement.order_by(col(AuditEntry.seq).desc()).limit(1)).first()
    if entry is None:
        about = (Message("case {id}", id=case_id) if case_id is not None
                 else Message("round {year}", year=round_year))
        raise NotFound(Message("{trigger} act (the {kind} notice's occasion) for",
                               trigger=trigger, kind=kind), about)
    return event_from_audit(entry)


def _acts(session: Session, trigger: str, case_ids: Iterable[int],
          before: int | None = None) -> dict[int, TransitionEvent]:
    """The latest ``trigger`` act of each case (up to audit row ``before``)."""
    statement = select(AuditEntry).where(
        col(AuditEntry.trigger) == trigger,
        col(AuditEntry.case_id).in_(list(case_ids)),
    )
    if before is not None:
        statement = statement.where(col(AuditEntry.seq) <= before)
    found: dict[int, TransitionEvent] = {}
    for entry in session.scalars(statement.order_by(col(AuditEntry.seq))):
        assert entry.case_id is not None
        found[entry.case_id] = event_from_audit(entry)
    return found


# ---------------------------------------------------------------------------- context
def build_context(
    session: Session,
    spec: NoticeSpec,
    settings: Settings,
    *,
    event: TransitionEvent | None = None,
) -> dict[str, Any]:
    """The template context of one notice. ``event`` is the act (looked up when not given)."""
    if spec.kind not in KINDS:
        raise InvalidInput(Message("unknown notice kind {kind!r}; use {kinds}", kind=spec.kind,
                                   kinds=", ".join(KINDS)), field="kind")
    if spec.kind == "renewal":
        return _renewal(session, spec, settings, event)
    if event is None:
        event = latest_event(session, spec.kind, case_id=spec.case_id,
                             round_year=spec.round_year if spec.case_id is None else None)
    builder = _BUILDERS[spec.kind]
    context = builder(session, settings, event)
    context.setdefault("anchor", anchor_text(event))
    return context


def anchor_text(event: TransitionEvent) -> str | None:
    """The short form of the chain as ``event``'s act found it, printed in a notice's footer:
    the row before the act's and the first 16 hex digits of its hash (``gdcluster audit verify
    --anchors`` checks the full hash kept in the notice's record)."""
    if event.prev_hash is None:
        return None
    return f"存证 {event.audit_seq - 1}·{event.prev_hash[:16]}"


def load_case(session: Session, case_id: int | None) -> Case:
    """The act's case: as the act left it, when it handed it to the hooks; else read."""
    found = acting(session, "case", case_id)
    return found if found is not None else _load_case(session, case_id)


def load_round(session: Session, year: int | None) -> Round:
    """The round: as the act read it, when it handed it to the hooks; else read."""
    found = acting(session, "round", year)
    return found if found is not None else _load_round(session, year)


def _book_title(title: str) -> str:
    """A document title in 书名号, whether or not it was given with them."""
    title = title.strip()
    return title if title.startswith("《") and title.endswith("》") else f"《{title}》"


@cache
def _departments() -> Any:
    from gdcluster.states.departments import load_departments

    return load_departments()


def _cited(title: str, doc_no: str | None) -> str:
    return f"{title}（{doc_no}）" if doc_no else title


def common_context(settings: Settings, round_row: Round, at_date: date) -> dict[str, Any]:
    """What every notice template may use; a kind's builder adds its own and overrides these
    (``addressee``, ``copies``, ``doc_no``, ``attachments``, ``issuer`` …)."""
    policy = policy_for(round_row.policy, round_row.policy_digest)
    departments = _departments()
    notice = None
    if round_row.notice_title:
        title = _book_title(round_row.notice_title)
        notice = {"title": title, "doc_no": round_row.notice_doc_no,
                  "citation": _cited(title, round_row.notice_doc_no)}
    measures = _book_title(policy.title)
    issued_as = departments.issued_title(policy.doc_no)
    issued_as = _book_title(issued_as) if issued_as else measures
    remedies = departments.remedies
    return {
        "issuer": settings.issuer,
        "date": at_date,
        "contact": settings.contact if settings.contact.given else None,
        "fonts": settings.fonts,
        # ``citation`` for an article of the measures (第十八条…), ``issued_citation`` for the
        # measures as a whole, by the 印发通知 they were issued with (as the 厅's 通告 cite them)
        "measures": {"title": measures, "doc_no": policy.doc_no,
                     "citation": _cited(measures, policy.doc_no),
                     "issued_title": issued_as,
                     "issued_citation": _cited(issued_as, policy.doc_no)},
        "application_notice": notice,
        "round": {"year": round_row.year, "policy": round_row.policy},
        "validity_years": int(policy.periods.validity_years),
        "remedies": {"review_body": remedies.review_body, "review_days": remedies.review_days,
                     "litigation_months": remedies.litigation_months},
        "doc_no": None,
        "addressee": None,
        "copies": [],
        "attachments": [],
    }


def _site_visit_recorded(session: Session, year: int, before: int | None) -> bool:
    """Whether an act recorded a 现场考察 for round ``year`` (before audit row ``before``)."""
    statement = select(col(AuditEntry.seq)).where(col(AuditEntry.trigger) == SITE_VISIT_TRIGGER,
                                                  col(AuditEntry.round_year) == year)
    if before is not None:
        statement = statement.where(col(AuditEntry.seq) < before)
    return session.scalars(statement.limit(1)).first() is not None


def _steps(session: Session, year: int, before: int | None) -> list[str]:
    steps = list(ROUND_STEPS)
    if _site_visit_recorded(session, year, before):
        steps.append("现场考察")
    return steps


@cache
def _region_order() -> Mapping[str, tuple[int, int]]:
    from gdcluster.states.regions import load_regions

    order: dict[str, tuple[int, int]] = {}
    for city_index, city in enumerate(load_regions()):
        order[city.name] = (city_index, -1)
        for unit_index, unit in enumerate(city.units):
            order[unit.name] = (city_index, unit_index)
    return order


def _short_unit(name: str) -> str:
    from gdcluster.states.regions import UnknownRegion, load_regions

    try:
        return load_regions().unit(name).short
    except UnknownRegion:
        return name


def _cluster(case: Case, **extra: Any) -> dict[str, Any]:
    return {"id": case.id, "name": case.name, "city": case.city, "county": case.county,
            "county_short": _short_unit(case.county), "industry": case.industry,
            "round": case.round_year, **extra}


def _in_region_order(clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = _region_order()
    clusters.sort(key=lambda row: (order.get(row["city"], (99, 0))[0],
                                   order.get(row["county"], (99, 999))[1], row["id"]))
    for index, row in enumerate(clusters, start=1):
        row["index"] = index
    return clusters


def _cases(session: Session, ids: Sequence[int]) -> list[Case]:
    if not ids:
        return []
    # a list names clusters: their applications (kilobytes of JSON each, gd_application)
    # stay unread
    rows = {case.id: case for case in session.scalars(
        select(Case).where(col(Case.id).in_(list(ids))))}
    missing = [case_id for case_id in ids if case_id not in rows]
    if missing:
        raise NotFound("case", missing[0])
    return [rows[case_id] for case_id in ids]


def _list_table(clusters: list[dict[str, Any]], *, validity: bool = False) -> dict[str, Any]:
    headers = ["序号", "地市", "县（市、区）", "集群名称", "主导产业"]
    if validity:
        headers.append("认定有效期")
    rows = []
    for row in clusters:
        cells = [str(row["index"]), row["city"], row["county_short"], row["name"], row["industry"]]
        if validity:
            cells.append(f"{_cn(row['valid_from'])}至{_cn(row['valid_until'])}")
        rows.append(cells)
    return {"headers": headers, "rows": rows}


def _cn(day: date) -> str:
    from gdcluster.notifications.render import cn_date

    return cn_date(day)


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _one_range(clusters: list[dict[str, Any]]) -> tuple[date, date] | None:
    ranges = {(row["valid_from"], row["valid_until"]) for row in clusters}
    return ranges.pop() if len(ranges) == 1 else None


# ---------------------------------------------------------------------------- the kinds
def _publicity(session: Session, settings: Settings, event: TransitionEvent) -> dict[str, Any]:
    round_row = load_round(session, event.round_year)
    policy = policy_for(round_row.policy, round_row.policy_digest)
    payload = event.payload
    clusters = _in_region_order([_cluster(case) for case in
                                 _cases(session, [int(i) for i in payload.get("publicized", [])])])
    start, end = _date(payload.get("publicity_start")), _date(payload.get("publicity_end"))
    if start is None or end is None:
        raise InvalidInput("the publicize act records no publicity period", field="publicity")
    from gdcluster.engine.calendar import calendar_from_session  # and PyYAML: when counted

    workdays = len(calendar_from_session(session).workdays_between(start, end))
    context = common_context(settings, round_row, local_date(event.at))
    year = round_row.year
    list_title = f"{year}年广东省中小企业特色产业集群拟认定名单"
    context.update(
        kind="publicity",
        title=f"关于{year}年广东省中小企业特色产业集群拟认定名单的公示",
        doc_no=payload.get("doc_no") or round_row.publicity_doc_no,
        count=len(clusters),
        clusters=clusters,
        period={"start": start, "end": end, "workdays": workdays,
                "policy_workdays": int(policy.periods.publicity_workdays)},
        steps=_steps(session, year, event.audit_seq),
        attachments=[{"title": list_title, "table": _list_table(clusters)}],
    )
    return context


def _recognition(session: Session, settings: Settings, event: TransitionEvent) -> dict[str, Any]:
    """The 名单通告 (or a supplementary one) of a ``recognize_round`` act: dated its 成文日期,
    listing the clusters it recognized, with its one validity. An act recorded before
    recognition came with the 通告 lists with each case's own recognition act."""
    round_row = load_round(session, event.round_year)
    policy = policy_for(round_row.policy, round_row.policy_digest)
    payload = event.payload
    ids = [int(i) for i in payload.get("recognized", [])]
    stated = (_date(payload.get("valid_from")), _date(payload.get("valid_until")))
    acts = {} if stated[1] is not None else _acts(session, "recognize", ids,
                                                  before=event.audit_seq)
    clusters = []
    for case in _cases(session, ids):
        act = acts.get(case.id)  # type: ignore[arg-type]
        if stated[1] is not None:
            valid_from, valid_until = stated
        else:
            valid_from = _date(act.payload.get("valid_from")) if act else case.valid_from
            valid_until = _date(act.payload.get("valid_until")) if act else case.valid_until
        clusters.append(_cluster(case, valid_from=valid_from, valid_until=valid_until))
    clusters = _in_region_order(clusters)
    validity = _one_range(clusters)
    month, day = policy.periods.report_due_month_day
    signed = _date(payload.get("doc_date")) or local_date(event.at)
    context = common_context(settings, round_row, signed)
    year = round_row.year
    supplementary = bool(payload.get("supplementary"))
    listed = f"{year}年广东省中小企业特色产业集群{'补充名单' if supplementary else '名单'}"
    context.update(
        kind="recognition",
        title=f"{settings.issuer}关于公布{listed}的通告",
        doc_no=payload.get("doc_no") or round_row.recognition_doc_no,
        count=len(clusters),
        clusters=clusters,
        supplementary=supplementary,
        validity={"start": validity[0], "end": validity[1]} if validity else None,
        report_due=f"{month}月{day}日",
        steps=[*_steps(session, year, event.audit_seq), "公示"],
        attachments=[{"title": listed,
                      "table": _list_table(clusters, validity=validity is None)}],
    )
    return context


def _renewal(session: Session, spec: NoticeSpec, settings: Settings,
             event: TransitionEvent | None) -> dict[str, Any]:
    if spec.case_ids:
        ids = list(spec.case_ids)
    elif spec.case_id is not None:
        ids = [spec.case_id]
    else:
        year = load_round(session, spec.round_year).year
        ids = list(session.scalars(
            select(col(AuditEntry.case_id)).where(col(AuditEntry.trigger) == "renew",
                                                  col(AuditEntry.round_year) == year)
            .distinct()
        ))
        if not ids:
            raise NotFound("renew act (the renewal notice's occasion) for", f"round {year}")
    acts = _acts(session, "renew", ids, before=event.audit_seq if event else None)
    if event is not None and event.case_id is not None:
        acts[event.case_id] = event
    clusters = []
    for case in _cases(session, ids):
        act = acts.get(case.id)  # type: ignore[arg-type]
        if act is None:
            raise NotFound("renew act of case", case.id)
        clusters.append(_cluster(case, valid_from=_date(act.payload.get("valid_from")),
                                 valid_until=_date(act.payload.get("valid_until")),
                                 at=act.at))
    clusters = _in_region_order(clusters)
    rounds = sorted({row["round"] for row in clusters})
    latest = max(row["at"] for row in clusters)
    context = common_context(settings, load_round(session, rounds[-1]), local_date(latest))
    validity = _one_range(clusters)
    batch = f"{rounds[0]}年认定的" if len(rounds) == 1 else ""
    context.update(
        kind="renewal",
        title=f"{settings.issuer}关于{batch}广东省中小企业特色产业集群复核结果的通告",
        rounds=rounds,
        count=len(clusters),
        clusters=clusters,
        validity={"start": validity[0], "end": validity[1]} if validity else None,
        attachments=[{"title": "通过复核的广东省中小企业特色产业集群名单",
                      "table": _list_table(clusters, validity=validity is None)}],
    )
    return context


def _procedure_letter(session: Session, settings: Settings, event: TransitionEvent, kind: str,
                      title: str, **extra: Any) -> dict[str, Any]:
    """A letter of the 第十八条 procedure: to the county's 中小企业主管部门, copied to the city's
    (深圳: 深圳市中小企业服务局), about the cluster with its validity."""
    case = load_case(session, event.case_id)
    context = common_context(settings, load_round(session, case.round_year),
                             local_date(event.at))
    context.update(
        kind=kind, title=title.format(name=case.name),
        addressee=_departments().unit(case.county),
        copies=[_departments().city(case.city)],
        city_department=_departments().city(case.city),
        cluster=_cluster(case, valid_from=case.valid_from, valid_until=case.valid_until),
        **extra)
    return context


def _ground(session: Session, event: TransitionEvent) -> dict[str, Any]:
    case = load_case(session, event.case_id)
    policy = policy_for(case.policy, case.policy_digest)
    code = str(event.payload.get("reason_code", "")).strip()
    ground = policy.revocation(code)
    return {"code": code, "article": ground.article, "text": ground.text}


def _facts(event: TransitionEvent) -> str:
    """The facts of the procedure: its payload's, or (a revocation recorded before the
    procedure) the reason after its ground's code."""
    facts = event.payload.get("facts")
    if facts:
        return str(facts).strip()
    code = str(event.payload.get("reason_code", "")).strip()
    facts = (event.reason or "").strip()
    return facts[len(code):].strip() if code and facts.startswith(code) else facts


def _revocation_proposal(session: Session, settings: Settings,
                         event: TransitionEvent) -> dict[str, Any]:
    """拟撤销告知书: the facts, the ground, the 陈述申辩 deadline."""
    return _procedure_letter(
        session, settings, event, "revocation_proposal",
        "关于拟撤销{name}广东省中小企业特色产业集群认定的告知书",
        ground=_ground(session, event), facts=_facts(event),
        hearing_due=_date(event.payload.get("hearing_due")))


def _revocation(session: Session, settings: Settings, event: TransitionEvent) -> dict[str, Any]:
    """撤销决定: the facts, the procedure and the statements considered, the ground, the
    remedies; its 文号 when the decision has one."""
    payload = event.payload
    context = _procedure_letter(
        session, settings, event, "revocation",
        "关于撤销{name}广东省中小企业特色产业集群认定的通知",
        ground=_ground(session, event), facts=_facts(event), effective=local_date(event.at),
        hearing_due=_date(payload.get("hearing_due")),
        statements=int(payload.get("statements") or 0),
        decision_reason=(payload.get("decision_reason") or "").strip(),
        by_timer=event.actor == "system")
    context["doc_no"] = payload.get("doc_no") or None
    return context


def _procedure_opened(session: Session, event: TransitionEvent) -> Any:
    """The audit row that opened the procedure an act (maintain) ends."""
    procedure = current_procedure(session, int(event.case_id or 0))
    if procedure is None:
        raise NotFound("revocation procedure of case", event.case_id)
    return procedure


def _maintained(session: Session, settings: Settings, event: TransitionEvent) -> dict[str, Any]:
    """维持认定: the procedure it ends, the province's reason."""
    procedure = _procedure_opened(session, event)
    case = load_case(session, event.case_id)
    policy = policy_for(case.policy, case.policy_digest)
    ground = policy.revocation(procedure.reason_code)
    return _procedure_letter(
        session, settings, event, "maintained",
        "关于维持{name}广东省中小企业特色产业集群认定的通知",
        proposed_on=local_date(procedure.opened_at),
        ground={"code": procedure.reason_code, "article": ground.article, "text": ground.text},
        statements=len(procedure.statements), reason=(event.reason or "").strip())


def _reinstated(session: Session, settings: Settings, event: TransitionEvent) -> dict[str, Any]:
    """恢复认定: the revocation it undoes (date, 文号), the reason and its reference."""
    revoked = session.scalars(
        select(AuditEntry).where(col(AuditEntry.case_id) == event.case_id,
                                 col(AuditEntry.trigger) == "revoke",
                                 col(AuditEntry.seq) < event.audit_seq)
        .order_by(col(AuditEntry.seq).desc()).limit(1)).first()
    if revoked is None:
        raise NotFound("revocation of case", event.case_id)
    return _procedure_letter(
        session, settings, event, "reinstated",
        "关于恢复{name}广东省中小企业特色产业集群认定的通知",
        revoked_on=local_date(revoked.at),
        revocation_doc_no=json.loads(revoked.payload).get("doc_no"),
        reason=(event.reason or "").strip(),
        reference=str(event.payload.get("reference", "")).strip())


def _return(session: Session, settings: Settings, event: TransitionEvent) -> dict[str, Any]:
    """退回补正, from the city's department to the county's: what to correct, and the
    correction deadline the act set (a return recorded before deadlines were set names the
    round's application deadline, or its own ``resubmit_by``)."""
    case = load_case(session, event.case_id)
    round_row = load_round(session, case.round_year)
    fields = [_field_label(str(name)) for name in event.payload.get("fields", []) or []]
    context = common_context(settings, round_row, local_date(event.at))
    context.update(
        kind="return",
        title=f"关于{case.name}申报材料退回补正的通知",
        issuer=settings.city_issuer(case.city),
        addressee=_departments().unit(case.county),
        cluster=_cluster(case),
        reason=(event.reason or "").strip(),
        fields=fields,
        correction_due=_date(event.payload.get("correction_due")),
        resubmit_by=_date(event.payload.get("resubmit_by")),
        apply_by=round_row.apply_by,
    )
    return context


def _correction_reminder(session: Session, settings: Settings,
                         event: TransitionEvent) -> dict[str, Any]:
    """补正提醒, from the city that returned the application: its deadline is near."""
    case = load_case(session, event.case_id)
    round_row = load_round(session, case.round_year)
    due = _date(event.payload.get("correction_due")) or case.correction_due
    if due is None:
        raise InvalidInput("a correction reminder needs the correction deadline",
                           field="correction_due")
    returned = _acts(session, "return", [case.id], before=event.audit_seq)  # type: ignore[list-item]
    context = common_context(settings, round_row, local_date(event.at))
    context.update(
        kind="correction_reminder",
        title=f"关于{case.name}申报材料补正截止日期的提醒",
        issuer=settings.city_issuer(case.city),
        addressee=_departments().unit(case.county),
        cluster=_cluster(case),
        returned_on=local_date(returned[case.id].at) if case.id in returned else None,
        correction_due=due,
    )
    return context


def _not_selected(session: Session, settings: Settings,
                  event: TransitionEvent) -> dict[str, Any]:
    """未入选告知, from the province to the county's department, copied to the city's."""
    case = load_case(session, event.case_id)
    round_row = load_round(session, case.round_year)
    kind = event.payload.get("reason_kind")
    if kind not in (NOT_RECOMMENDED, NOT_PUBLICIZED):
        raise InvalidInput(Message("no 未入选告知 is issued for a case closed as {kind!r}",
                                   kind=kind), field="reason_kind")
    context = common_context(settings, round_row, local_date(event.at))
    context.update(
        kind="not_selected",
        title=f"关于{case.name}未入选{round_row.year}年广东省中小企业特色产业集群的告知",
        addressee=_departments().unit(case.county),
        copies=[_departments().city(case.city)],
        cluster=_cluster(case),
        reason_kind=kind,
        city_department=_departments().city(case.city),
    )
    return context


#: The step that ended an application, by the state it was rejected from.
_REJECTED_AT = {
    "submitted": "经资格初审",
    "city_reviewed": "经资格初审",
    "recommended": "经专家评审",
    "expert_reviewed": "经专家评审",
    "publicized": "公示期间有单位或个人提出实名异议，经核查，异议成立",
    "publicity_closed": "经审核",
}


def _rejection(session: Session, settings: Settings, event: TransitionEvent) -> dict[str, Any]:
    """不予认定通知: from the city (资格初审) or the province, to the county's department
    (the province's copied to the city's), with the step, the reason and the remedies — a
    city's decision is reviewed by the city's people's government, the province's as the
    departments' data say."""
    case = load_case(session, event.case_id)
    round_row = load_round(session, case.round_year)
    by_city = str(event.actor).startswith("city:")
    context = common_context(settings, round_row, local_date(event.at))
    remedies = dict(context["remedies"])
    if by_city:
        remedies["review_body"] = f"{case.city}人民政府"
    context.update(
        kind="rejection",
        title=f"关于{case.name}不予认定为广东省中小企业特色产业集群的通知",
        issuer=settings.city_issuer(case.city) if by_city else settings.issuer,
        addressee=_departments().unit(case.county),
        copies=[] if by_city else [_departments().city(case.city)],
        cluster=_cluster(case),
        step=_REJECTED_AT.get(str(event.from_state), "经审核"),
        reason=(event.reason or "").strip(),
        remedies=remedies,
        by_city=by_city,
    )
    return context


def _field_label(path: str) -> str:
    head, _, rest = path.partition(".")
    label = FIELD_LABELS.get(head)
    if label is None:
        return path
    if rest:
        year = rest.split(".")[0]
        detail = f"{year}年" if year.isdigit() and len(year) == 4 else rest
        return f"{label}（{detail}）"
    return label


def _report_reminder(session: Session, settings: Settings,
                     event: TransitionEvent) -> dict[str, Any]:
    case = load_case(session, event.case_id)
    round_row = load_round(session, case.round_year)
    policy = policy_for(case.policy, case.policy_digest)
    payload = event.payload
    month, day = policy.periods.report_due_month_day
    year = payload.get("year")
    due = _date(payload.get("due") or payload.get("report_due"))
    if year is None and due is None:
        raise InvalidInput("a report reminder needs the report year or its due date",
                           field="year")
    if year is None:
        assert due is not None
        year = due.year - 1
    year = int(year)
    if due is None:
        due = date(year + 1, month, day)
    ground = policy.revocation("18.3")
    context = common_context(settings, round_row, local_date(event.at))
    listed = f"《{settings.issuer}关于公布{round_row.year}年广东省中小企业特色产业集群名单的通告》"
    context.update(
        kind="report_reminder",
        title=f"关于报送{case.name}{year}年度发展情况的提醒",
        addressee=f"{_departments().unit(case.county)}、{case.name}运营管理机构",
        copies=[_departments().city(case.city)],
        cluster=_cluster(case),
        year=year,
        due=due,
        report_due=f"{month}月{day}日",
        recognition_notice=_cited(listed, round_row.recognition_doc_no),
        missed_report_revokes=policy.periods.missed_report_action == "revoke",
        ground={"code": "18.3", "article": ground.article, "text": ground.text},
    )
    return context



def _report_urge(session: Session, settings: Settings, event: TransitionEvent) -> dict[str, Any]:
    """催报通知: the year, the deadline missed, the grace and the 18.3 procedure after it."""
    context = _report_reminder(session, settings, event)
    case = load_case(session, event.case_id)
    context.update(
        kind="report_urge",
        title=f"关于催报{case.name}{context['year']}年度发展情况的通知",
        grace_due=_date(event.payload.get("grace_due")),
    )
    return context

def _expiry_reminder(session: Session, settings: Settings,
                     event: TransitionEvent) -> dict[str, Any]:
    from gdcluster.engine.deadlines import review_window_opens

    case = load_case(session, event.case_id)
    round_row = load_round(session, case.round_year)
    policy = policy_for(case.policy, case.policy_digest)
    valid_until = _date(event.payload.get("valid_until")) or case.valid_until
    if valid_until is None:
        raise InvalidInput("the case has no validity period", field="valid_until")
    months = int(policy.periods.review_window_months)
    ground = policy.revocation("18.1")
    context = common_context(settings, round_row, local_date(event.at))
    context.update(
        kind="expiry_reminder",
        title=f"关于{case.name}认定有效期即将届满的提醒",
        addressee=f"{_departments().unit(case.county)}、{case.name}运营管理机构",
        copies=[_departments().city(case.city)],
        cluster=_cluster(case, valid_from=case.valid_from, valid_until=valid_until),
        valid_until=valid_until,
        window={"start": review_window_opens(valid_until, months), "end": valid_until,
                "months": months},
        renewed_from=valid_until + timedelta(days=1),
        ground={"code": "18.1", "article": ground.article, "text": ground.text},
    )
    return context


def _review_notice(session: Session, settings: Settings,
                   event: TransitionEvent) -> dict[str, Any]:
    """复核通知 (case): the 复核 round covering the cluster, its application and 初审 deadlines;
    to the county's department, copied to the city's."""
    case = load_case(session, event.case_id)
    policy = policy_for(case.policy, case.policy_digest)
    year = int(event.payload["year"])
    valid_until = _date(event.payload.get("valid_until")) or case.valid_until
    if valid_until is None:
        raise InvalidInput("the case has no validity period", field="valid_until")
    ground = policy.revocation("18.1")
    window = int(policy.window_years)
    context = common_context(settings, load_round(session, case.round_year),
                             local_date(event.at))
    context.update(
        kind="review_notice",
        title=f"关于{case.name}开展{year}年复核工作的通知",
        addressee=_departments().unit(case.county),
        copies=[_departments().city(case.city)],
        cluster=_cluster(case, valid_from=case.valid_from, valid_until=valid_until),
        year=year, valid_until=valid_until, expired=valid_until < local_date(event.at),
        apply_by=_date(event.payload.get("apply_by")),
        check_by=_date(event.payload.get("check_by")),
        window=list(range(year - window, year)),
        renewed_from=valid_until + timedelta(days=1),
        ground={"code": "18.1", "article": ground.article, "text": ground.text},
    )
    return context


def _review_result(session: Session, settings: Settings,
                   event: TransitionEvent) -> dict[str, Any]:
    """复核结果 of a 复核 not passed (case): the reasons, the 考核 recorded, and that the 拟撤销
    procedure follows (its 告知书 goes with this letter)."""
    payload = event.payload
    assessment = payload.get("assessment") or {}
    goals = assessment.get("goals") or []
    return _procedure_letter(
        session, settings, event, "review_result", "关于{name}复核结果的通知",
        year=payload.get("review_round"), reasons=str(payload.get("review_reasons") or ""),
        city_opinion=payload.get("city_opinion"),
        goals_total=len(goals), goals_met=sum(goal.get("met") is True for goal in goals),
        criteria_passed=assessment.get("criteria_passed") if assessment else None,
        ground=_ground(session, event), hearing_due=_date(payload.get("hearing_due")))


_BUILDERS = {
    "publicity": _publicity,
    "recognition": _recognition,
    "revocation": _revocation,
    "revocation_proposal": _revocation_proposal,
    "maintained": _maintained,
    "reinstated": _reinstated,
    "return": _return,
    "correction_reminder": _correction_reminder,
    "not_selected": _not_selected,
    "rejection": _rejection,
    "report_reminder": _report_reminder,
    "report_urge": _report_urge,
    "expiry_reminder": _expiry_reminder,
    "review_notice": _review_notice,
    "review_result": _review_result,
}
