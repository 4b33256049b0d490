"""Notices tied to acts: issued inside the act's transaction, delivered after its commit.

``attach(engine, settings)`` (:mod:`.notifier`) registers two things on an
:class:`~gdcluster.engine.Engine`, which run the functions below:

* a transaction hook (``Engine.on_transaction``): for an act that calls for a notice (see
  :data:`~gdcluster.notifications.kinds.TRIGGER_KINDS`) it renders the notice in each
  configured format and writes the ``Notice`` rows and their pending ``Delivery`` rows in the
  act's own transaction. The notice exists exactly when the act does; an act that fails leaves
  neither.
* a subscriber (``Engine.subscribe``): after the commit it works off the act's deliveries
  (outbox file, e-mail, webhook). A failure there is recorded on the delivery row and retried
  with backoff; it never touches the committed act.

A notice that prints contact details is refused on a real database while they are missing
(:mod:`.contact`). An issued notice is never changed: :func:`record_rendering` renders it again
(another format, newer templates) as a separate ``Rendering`` row linked to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select
from sqlmodel import col

from gdcluster.engine.api import Engine
from gdcluster.engine.clock import in_shanghai, local_date
from gdcluster.engine.errors import InvalidInput, NotFound
from gdcluster.engine.i18n import Message
from gdcluster.engine.kernel import TransitionEvent
from gdcluster.engine.models import AuditEntry, Notice, Rendering, round_kind_of
from gdcluster.notifications.context import NoticeSpec, build_context
from gdcluster.notifications.kinds import (
    CASE_KINDS,
    KINDS,
    ROUND_KINDS,
)
from gdcluster.notifications.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.models import Delivery
    from gdcluster.notifications.render import Rendered

__all__ = [
    "RecordedRendering",
    "issue",
    "list_notices",
    "ready",
    "record_rendering",
    "render_notice",
]



# ---------------------------------------------------------------------------- issuing
def issue(session: Session, spec: NoticeSpec, settings: Settings,
          event: TransitionEvent, *, simulation: bool) -> list[int]:
    """Render ``spec`` for ``event`` and write its notice and delivery rows in ``session``'s
    transaction (one statement for the notices, one for their deliveries); the notices' ids,
    txt first.

    Refused (``ContactMissing``) on a real database while the contact settings the notice
    prints are missing; on a simulation database (``simulation``: the engine's) it is issued
    anyway, with a warning."""
    from gdcluster.notifications.render import render

    ready(spec.kind, settings, simulation=simulation)
    context = build_context(session, spec, settings, event=event)
    renderings = render(spec.kind, context, settings.formats)
    scope = f"case{spec.case_id}" if spec.case_id is not None else f"round{spec.round_year}"
    stem = f"{local_date(event.at).isoformat()}_{spec.kind}_{scope}_a{event.audit_seq}"
    outbox = str(settings.outbox.absolute())
    paths = [os.path.join(outbox, f"{stem}.{rendering.format}") for rendering in renderings]
    session.flush()  # what the act left pending goes first, as it did before the notices
    connection = session.connection()
    rows = [{
        "kind": spec.kind, "format": rendering.format, "case_id": spec.case_id,
        "round_year": spec.round_year, "audit_seq": event.audit_seq, "title": rendering.title,
        "doc_no": rendering.doc_no, "template": rendering.template,
        "template_version": rendering.template_version, "sha256": rendering.sha256,
        "size": len(rendering.body), "body": rendering.body, "path": path,
        "created_at": event.at, "anchor_seq": event.audit_seq - 1,
        "anchor_hash": event.prev_hash, "attest_seq": None,
    } for rendering, path in zip(renderings, paths, strict=True)]
    ids = _insert_notices(connection, rows)
    deliveries = [(notice_id, "outbox", path) for notice_id, path in zip(ids, paths,
                                                                        strict=True)]
    primary = ids[0]  # txt, always rendered first
    deliveries += [(primary, "smtp", address)
                   for address in recipients(settings, _regions(context))]
    deliveries += [(primary, "webhook", hook.url) for hook in settings.webhooks
                   if hook.wants(spec.kind)]
    connection.execute(_insert_delivery(), [{
        "notice_id": notice_id, "channel": channel, "target": target, "status": "pending",
        "attempts": 0, "last_error": None, "next_attempt_at": None, "created_at": event.at,
        "delivered_at": None,
    } for notice_id, channel, target in deliveries])
    return ids


def _insert_notices(connection: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the renderings of one notice (``rows``: a format each) by one statement; their
    ids, in the order of ``rows``."""
    found = _notices_insert(len(rows)).rows(connection, {
        f"{name}_{index}": value for index, row in enumerate(rows)
        for name, value in row.items()})
    ids = {format_: notice_id for notice_id, format_ in found}  # one row per format
    return [ids[row["format"]] for row in rows]


@cache
def _notices_insert(count: int) -> Any:
    """``INSERT … VALUES (…), … RETURNING id, format`` of ``count`` notice rows (numbered
    bind parameters), prepared once per count: the rows come back in whatever order the
    database returns them, and are told apart by their format (unique in one notice)."""
    from gdcluster.engine.prepared import Prepared

    table = Notice.__table__  # type: ignore[attr-defined]
    names = [column.name for column in table.columns if column.name != "id"]
    return Prepared(insert(table).values([
        {name: bindparam(f"{name}_{index}", type_=table.c[name].type) for name in names}
        for index in range(count)]).returning(table.c.id, table.c.format))


@cache
def _insert_delivery() -> Any:
    """The delivery rows' insert: the delivery table is defined when a notice is first issued
    (an act without one never defines it)."""
    from gdcluster.engine.models import Delivery

    return insert(Delivery.__table__)  # type: ignore[attr-defined]


def ready(kind: str, settings: Settings, *, simulation: bool, warn: bool = True) -> None:
    """Refuse a ``kind`` notice that cannot be issued as the settings ask: its contact
    details missing on a real database (a warning on a simulation one, unless ``warn`` is
    false), or PDF asked for where it cannot be rendered."""
    from gdcluster.notifications.contact import check_contact

    if warn or not simulation:
        check_contact(kind, settings, simulation=simulation)
    if "pdf" in settings.formats:
        from gdcluster.notifications import pdf
        from gdcluster.notifications.errors import PdfUnavailable

        problem = pdf.unavailable()
        if problem is not None:
            raise PdfUnavailable(problem)


def _regions(context: dict[str, Any]) -> set[str]:
    clusters = context.get("clusters") or [context["cluster"]]
    return {row["city"] for row in clusters} | {row["county"] for row in clusters}


def recipients(settings: Settings, regions: Iterable[str]) -> list[str]:
    """"*" gets every notice; each city and county-level unit the notices about its clusters."""
    if settings.smtp is None:
        return []
    found: list[str] = []
    for key in ["*", *sorted(regions)]:
        for address in settings.smtp.recipients.get(key, ()):
            if address.lower() not in (known.lower() for known in found):
                found.append(address)
    return found


# ---------------------------------------------------------------------------- reading
def list_notices(engine: Engine, *, case_id: int | None = None,
                 round_year: int | None = None) -> list[dict[str, Any]]:
    """Stored notices (without bodies), oldest first, each with its deliveries and the
    renderings recorded of it later."""
    statement = select(Notice).order_by(col(Notice.id))
    if case_id is not None:
        statement = statement.where(col(Notice.case_id) == case_id)
    if round_year is not None:
        statement = statement.where(col(Notice.round_year) == round_year)
    with engine.store.read() as session:
        rows = [_notice_dict(row) for row in session.scalars(
            statement.options(_without_body()))]
        ids = [row["id"] for row in rows]
        deliveries: dict[int, list[dict[str, Any]]] = {}
        renderings: dict[int, list[dict[str, Any]]] = {}
        if ids:
            from gdcluster.engine.models import Delivery

            for delivery in session.scalars(
                select(Delivery).where(col(Delivery.notice_id).in_(ids))
                .order_by(col(Delivery.id))
            ):
                deliveries.setdefault(delivery.notice_id, []).append(delivery_dict(delivery))
            for rendering in session.scalars(
                select(Rendering).where(col(Rendering.notice_id).in_(ids))
                .options(_without_body(Rendering)).order_by(col(Rendering.id))
            ):
                renderings.setdefault(rendering.notice_id, []).append(
                    rendering_dict(rendering))
    for row in rows:
        row["deliveries"] = deliveries.get(row["id"], [])
        row["renderings"] = renderings.get(row["id"], [])
    return rows


def _without_body(table: Any = Notice) -> Any:
    from sqlalchemy.orm import defer

    return defer(table.body)


def _notice_dict(row: Notice) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind, "format": row.format, "case_id": row.case_id,
        "round_year": row.round_year, "round_kind": round_kind_of(row.kind),
        "audit_seq": row.audit_seq, "title": row.title, "doc_no": row.doc_no,
        "template": row.template,
        "template_version": row.template_version, "sha256": row.sha256, "size": row.size,
        "path": row.path, "created_at": in_shanghai(row.created_at),
    }


def rendering_dict(row: Rendering) -> dict[str, Any]:
    return {
        "id": row.id, "notice_id": row.notice_id, "audit_seq": row.audit_seq,
        "kind": row.kind, "format": row.format, "case_id": row.case_id,
        "round_year": row.round_year, "round_kind": round_kind_of(row.kind),
        "title": row.title, "doc_no": row.doc_no,
        "template": row.template, "template_version": row.template_version,
        "sha256": row.sha256, "size": row.size, "path": row.path, "actor": row.actor,
        "created_at": in_shanghai(row.created_at),
    }


def delivery_dict(row: Delivery) -> dict[str, Any]:
    iso = in_shanghai

    return {
        "id": row.id, "notice_id": row.notice_id, "channel": row.channel,
        "target": row.target, "status": row.status, "attempts": row.attempts,
        "last_error": row.last_error, "next_attempt_at": iso(row.next_attempt_at),
        "delivered_at": iso(row.delivered_at),
    }


def _kind_and_format(kind: str, fmt: str) -> None:
    from gdcluster.notifications.render import FORMATS

    if kind not in KINDS:
        raise InvalidInput(Message("unknown notice kind {kind!r}; use {kinds}", kind=kind,
                                   kinds=", ".join(KINDS)), field="kind")
    if fmt not in FORMATS:
        raise InvalidInput(Message("unknown format {format!r}; use {formats}", format=fmt,
                                   formats=", ".join(FORMATS)), field="format")


def _target(kind: str, fmt: str, case_id: int | None, round_year: int | None) -> None:
    _kind_and_format(kind, fmt)
    if (case_id is None) == (round_year is None):
        raise InvalidInput("give exactly one of --case and --round", field="case")
    if case_id is not None and kind not in CASE_KINDS:
        raise InvalidInput(Message("a {kind} notice is about a round: use --round", kind=kind),
                           field="case")
    if round_year is not None and kind not in ROUND_KINDS:
        raise InvalidInput(Message("a {kind} notice is about a case: use --case", kind=kind),
                           field="round")


def render_notice(
    engine: Engine,
    kind: str,
    *,
    case_id: int | None = None,
    round_year: int | None = None,
    case_ids: Iterable[int] | None = None,
    fmt: str = "txt",
    settings: Settings | None = None,
    fresh: bool = False,
) -> Rendered:
    """A notice about a case or a round, in one format.

    The issued one (the stored bytes) when there is one and ``fresh`` is false — or, for a
    format it was not issued in, the latest rendering of it recorded later
    (:func:`record_rendering`); otherwise rendered now from the act that called for it (its
    audit row) and the current settings, without storing anything. A renewal notice for a round
    lists every renewal of that round; ``case_ids`` makes one renewal notice of the given cases'
    renewals.
    """
    from gdcluster.notifications.render import render

    if case_ids is not None:
        _kind_and_format(kind, fmt)
        if kind != "renewal" or case_id is not None or round_year is not None:
            raise InvalidInput("a list of cases makes a renewal notice only", field="case")
        ids = tuple(int(item) for item in case_ids)
        if not ids:
            raise InvalidInput("name at least one case", field="case")
        with engine.store.read() as session:
            context = build_context(session, NoticeSpec(kind, case_ids=ids),
                                    settings or load_settings())
        return render(kind, context, [fmt])[0]
    _target(kind, fmt, case_id, round_year)
    with engine.store.read() as session:
        if not fresh and not (kind == "renewal" and round_year is not None):
            stored = _stored(session, kind, fmt, case_id=case_id, round_year=round_year)
            if stored is not None:
                return _rendered(stored)
        spec = NoticeSpec(kind, case_id=case_id, round_year=round_year)
        context = build_context(session, spec, settings or load_settings())
    return render(kind, context, [fmt])[0]


def _rendered(row: Notice | Rendering) -> Rendered:
    from gdcluster.notifications.render import Rendered

    return Rendered(kind=row.kind, format=row.format, body=row.body, template=row.template,
                    template_version=row.template_version, title=row.title, doc_no=row.doc_no)


def _issued(session: Session, kind: str, *, case_id: int | None,
            round_year: int | None) -> list[Notice]:
    """The notice rows (one per format) of the latest act that issued a ``kind`` notice about
    this case or round, oldest first (txt first)."""
    statement = select(col(Notice.audit_seq)).where(col(Notice.kind) == kind)
    if case_id is not None:
        statement = statement.where(col(Notice.case_id) == case_id)
    else:
        statement = statement.where(col(Notice.round_year) == round_year,
                                    col(Notice.case_id).is_(None))
    seq = session.scalars(statement.order_by(col(Notice.audit_seq).desc()).limit(1)).first()
    if seq is None:
        return []
    return list(session.scalars(select(Notice).where(col(Notice.audit_seq) == seq,
                                                     col(Notice.kind) == kind)
                                .order_by(col(Notice.id))))


def _stored(session: Session, kind: str, fmt: str, *, case_id: int | None,
            round_year: int | None) -> Notice | Rendering | None:
    """The issued notice in ``fmt``, else the latest rendering of it recorded in ``fmt``."""
    issued = _issued(session, kind, case_id=case_id, round_year=round_year)
    if not issued:
        return None
    same = next((row for row in issued if row.format == fmt), None)
    if same is not None:
        return same
    return session.scalars(
        select(Rendering).where(col(Rendering.audit_seq) == issued[0].audit_seq,
                                col(Rendering.kind) == kind, col(Rendering.format) == fmt)
        .order_by(col(Rendering.id).desc()).limit(1)
    ).first()


@dataclass(frozen=True)
class RecordedRendering:
    """What :func:`record_rendering` made: the bytes, and the row that records them (None when
    they are the issued notice's own bytes: nothing new to record)."""

    rendered: Rendered
    notice_id: int
    row: dict[str, Any] | None
    new: bool


def record_rendering(
    engine: Engine,
    kind: str,
    *,
    case_id: int | None = None,
    round_year: int | None = None,
    fmt: str,
    settings: Settings | None = None,
    actor: str | None = None,
) -> RecordedRendering:
    """Render an issued notice again — in another format, or with the templates and settings
    now in force — and keep that rendering as its own row, linked to the issued notice and its
    act, hashed and written to the outbox. The issued notice is never changed.

    The same bytes are recorded once (asking again returns the recorded row); bytes equal to
    the issued notice's in that format are not recorded at all. Refused like an act on a real
    database while the contact settings the notice prints are missing.
    """
    from gdcluster.notifications.contact import check_contact
    from gdcluster.notifications.context import event_from_audit
    from gdcluster.notifications.delivery import write_file
    from gdcluster.notifications.render import render

    _target(kind, fmt, case_id, round_year)
    if kind == "renewal" and round_year is not None:
        raise InvalidInput("a round's renewal notice is composed from several acts and was never "
                           "issued as one: re-render a case's (--case ID)", field="round")
    settings = settings or load_settings()
    check_contact(kind, settings, simulation=engine.simulation)
    with engine.store.write() as session:
        issued = _issued(session, kind, case_id=case_id, round_year=round_year)
        if not issued:
            about = (Message("case {id}", id=case_id) if case_id is not None
                     else Message("round {year}", year=round_year))
            raise NotFound(Message("issued {kind} notice (nothing to render again) of",
                                   kind=kind), about)
        act = session.get(AuditEntry, issued[0].audit_seq)
        assert act is not None
        event = event_from_audit(act)
        spec = NoticeSpec(kind, case_id=case_id, round_year=round_year,
                          case_ids=(case_id,) if kind == "renewal" and case_id else ())
        rendering = render(kind, build_context(session, spec, settings, event=event), [fmt])[0]
        same = next((row for row in issued if row.format == fmt), None)
        if same is not None and same.sha256 == rendering.sha256:
            return RecordedRendering(rendering, same.id or 0, None, False)
        linked = same or issued[0]
        row = session.scalars(select(Rendering).where(
            col(Rendering.audit_seq) == linked.audit_seq, col(Rendering.kind) == kind,
            col(Rendering.format) == fmt, col(Rendering.sha256) == rendering.sha256)).first()
        new = row is None
        if row is None:
            assert linked.id is not None  # a stored notice
            name = f"{Path(linked.path).stem}_r{rendering.sha256[:12]}.{fmt}"
            row = Rendering(
                notice_id=linked.id, audit_seq=linked.audit_seq, kind=kind, format=fmt,
                case_id=linked.case_id, round_year=linked.round_year, title=rendering.title,
                doc_no=rendering.doc_no, template=rendering.template,
                template_version=rendering.template_version, sha256=rendering.sha256,
                size=len(rendering.body), body=rendering.body,
                path=str(settings.outbox.absolute() / name), actor=actor,
                created_at=engine.clock.now(),
            )
            session.add(row)
            session.flush()
        recorded = rendering_dict(row)
    write_file(Path(recorded["path"]), rendering.body, rendering.sha256)
    return RecordedRendering(rendering, int(recorded["notice_id"]), recorded, new)
