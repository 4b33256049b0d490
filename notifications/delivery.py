"""Delivery channels and the retry loop.

Channels: ``outbox`` (every rendering as a file; always), ``smtp`` (one e-mail per recipient:
the text as body, the HTML as alternative, the .docx and the PDF attached; stdlib ``smtplib``) and
``webhook`` (an HTTP POST of a JSON event; stdlib ``urllib``; signed with HMAC-SHA256 when a
secret is configured).

Deliveries are worked in short transactions of their own, never inside an act's: claim
(``pending``/``failed`` → ``sending``, one more attempt, a lease), send, then record the
outcome. An act's outbox files are claimed in one transaction and their outcomes recorded in
one more; each e-mail or webhook row (a network channel, which may be slow) is claimed and
recorded on its own, its lease counting from its own claim. The outcome is ``sent``, or
``failed`` with the error and the time of the next attempt, doubling each time up to the cap,
until ``max_attempts``. A row left ``sending`` by a crash is taken up again
when its lease runs out, so every delivery happens at least once; receivers get the delivery id
(``X-Gdcluster-Delivery``, ``Message-ID``) to drop the rare duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlmodel import col

from gdcluster import __version__
from gdcluster.engine.api import Engine
from gdcluster.engine.clock import in_shanghai
from gdcluster.engine.models import Delivery, Notice, key_column
from gdcluster.notifications.render import MEDIA_TYPES
from gdcluster.notifications.settings import Settings

__all__ = ["CHANNELS", "DeliveryReport", "deliver", "no_redirects", "write_file"]

#: Channels that write on this machine: claimed and recorded together (``deliver``).
LOCAL_CHANNELS = frozenset({"outbox"})
#: How long a claimed delivery may take before another worker may take it up.
LEASE = timedelta(minutes=10)
ERROR_LIMIT = 2000


class DeliveryError(Exception):
    """A channel could not deliver; the message is recorded on the delivery row."""


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "failures": self.failures}


@dataclass(frozen=True)
class _Work:
    """A claimed delivery with everything needed to send it, read before sending."""

    delivery_id: int
    channel: str
    target: str
    notice: dict[str, Any]
    bodies: dict[str, bytes]
    files: list[dict[str, Any]]


def deliver(
    engine: Engine,
    settings: Settings,
    *,
    audit_seq: int | None = None,
    audit_seqs: Sequence[int] | None = None,
    retry_failed: bool = False,
    lease: timedelta = LEASE,
) -> DeliveryReport:
    """Work off due deliveries (of one act's notices when ``audit_seq`` is given, of those
    acts' when ``audit_seqs`` is).

    Due: never tried, or failed and past its backoff, or stuck ``sending`` past its lease.
    ``retry_failed`` also takes failed deliveries before their backoff ends and those given up
    after ``max_attempts`` (``gdcluster notice deliver --retry-failed``). Times come from the
    engine's clock, read again for each row: each row's lease (``lease`` long) counts from its
    own claim, so a batch that runs longer than a lease never hands its later rows out already
    expired to a second worker.

    Before each send the database is checked to be the one opened (``Store.ensure_same``):
    a notice is never delivered for an act that a deleted or replaced database file took with
    it; :class:`~gdcluster.engine.errors.DatabaseReplaced` is raised instead.
    """
    report = DeliveryReport()
    seqs = None if audit_seq is None and audit_seqs is None else sorted(
        {*(audit_seqs or ()), *(() if audit_seq is None else (audit_seq,))})
    due = _due(engine, now=engine.clock.now(), audit_seqs=seqs, retry_failed=retry_failed)
    # the outbox files (local, quick): claimed together, written, their outcomes recorded
    # together — two transactions for all of them; a network channel's row (e-mail, webhook)
    # is claimed and recorded on its own, so its lease counts from its own claim
    local = [delivery_id for delivery_id, channel in due if channel in LOCAL_CHANNELS]
    for start in range(0, len(local), LOCAL_CHUNK):
        works = _claim_local(engine, local[start:start + LOCAL_CHUNK], now=engine.clock.now(),
                             retry_failed=retry_failed, lease=lease)
        _finish(engine, _send_local(engine, works, report), settings, now=engine.clock.now())
    for delivery_id, channel in due:
        if channel in LOCAL_CHANNELS:
            continue
        works = _claim(engine, [delivery_id], now=engine.clock.now(),
                       retry_failed=retry_failed, lease=lease)
        _finish(engine, [_send(engine, work, settings, report) for work in works], settings,
                now=engine.clock.now())
    return report


def _send(engine: Engine, work: _Work, settings: Settings,
          report: DeliveryReport) -> tuple[int, str | None]:
    """Send one claimed delivery: (its id, the error or None), counted in ``report``."""
    engine.store.ensure_same()
    try:
        CHANNELS[work.channel](work, settings)
    except Exception as exc:  # recorded on the row; the act it announces stays committed
        error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
        report.failed += 1
        report.failures.append({"id": work.delivery_id, "channel": work.channel,
                                "target": work.target, "error": error})
        return work.delivery_id, error
    report.sent += 1
    return work.delivery_id, None


def _due(engine: Engine, *, now: datetime, audit_seqs: Sequence[int] | None,
         retry_failed: bool) -> list[tuple[int, str]]:
    expired = and_(col(Delivery.status) == "sending", col(Delivery.next_attempt_at) <= now)
    if retry_failed:
        condition = or_(col(Delivery.status).in_(("pending", "failed")), expired)
    else:
        condition = or_(
            and_(col(Delivery.status) == "pending",
                 or_(col(Delivery.next_attempt_at).is_(None),
                     col(Delivery.next_attempt_at) <= now)),
            and_(col(Delivery.status) == "failed", col(Delivery.next_attempt_at) <= now),
            expired,
        )
    statement = (select(key_column(Delivery.id), col(Delivery.channel)).where(condition)
                 .order_by(col(Delivery.id)))
    if audit_seqs is not None:
        statement = statement.join(Notice, col(Notice.id) == col(Delivery.notice_id)).where(
            col(Notice.audit_seq).in_(audit_seqs)
        )
    with engine.store.read() as session:
        return [(int(value), str(channel)) for value, channel in session.execute(statement)]


def _claim(engine: Engine, delivery_ids: list[int], *, now: datetime,
           retry_failed: bool, lease: timedelta) -> list[_Work]:
    """Claim the deliveries still due among ``delivery_ids``, in one transaction; those another
    worker took, or no longer due, are left out."""
    with engine.store.write() as session:
        taken = (_take(session, delivery_id, now=now, retry_failed=retry_failed, lease=lease)
                 for delivery_id in delivery_ids)
        return [work for work in taken if work is not None]


def _take(session: Any, delivery_id: int, *, now: datetime, retry_failed: bool,
          lease: timedelta) -> _Work | None:
    """Claim one delivery in ``session``: ``sending``, one more attempt, its lease."""
    row = session.get(Delivery, delivery_id, with_for_update=True)
    if row is None or not _still_due(row, now, retry_failed):
        return None
    row.status = "sending"
    row.attempts += 1
    row.next_attempt_at = now + lease
    notice = session.get(Notice, row.notice_id)
    assert notice is not None
    bodies = {notice.format: notice.body}
    files = [_file(notice)]
    if row.channel != "outbox":
        for sibling in session.scalars(
            select(Notice).where(Notice.audit_seq == notice.audit_seq,
                                 Notice.kind == notice.kind, Notice.id != notice.id)
            .order_by(col(Notice.id))
        ):
            bodies[sibling.format] = sibling.body
            files.append(_file(sibling))
    return _Work(
        delivery_id=delivery_id, channel=row.channel, target=row.target,
        notice={"id": notice.id, "kind": notice.kind, "format": notice.format,
                "title": notice.title, "doc_no": notice.doc_no,
                "case_id": notice.case_id, "round_year": notice.round_year,
                "audit_seq": notice.audit_seq, "sha256": notice.sha256,
                "path": notice.path, "template_version": notice.template_version,
                "issued_at": in_shanghai(notice.created_at)},
        bodies=bodies, files=files,
    )


#: Outbox deliveries claimed (and recorded) together by one statement at most.
LOCAL_CHUNK = 500
_D = Delivery.__table__.c  # type: ignore[attr-defined]
_N = Notice.__table__.c  # type: ignore[attr-defined]


def _claim_local(engine: Engine, delivery_ids: list[int], *, now: datetime,
                 retry_failed: bool, lease: timedelta) -> list[_Work]:
    """:func:`_claim` for outbox rows, which need their own notice only: the rows and their
    notices read by one statement, those still due claimed by another."""
    with engine.store.write() as session:
        connection = session.connection()
        rows = connection.execute(
            select(_D.id, _D.status, _D.next_attempt_at, _D.channel, _D.target, _N.id,
                   _N.kind, _N.format, _N.title, _N.doc_no, _N.case_id, _N.round_year,
                   _N.audit_seq, _N.sha256, _N.path, _N.template_version, _N.created_at,
                   _N.body)
            .join_from(Delivery.__table__, Notice.__table__,  # type: ignore[attr-defined]
                       _N.id == _D.notice_id)
            .where(_D.id.in_(delivery_ids)).order_by(_D.id)
            .with_for_update(of=Delivery.__table__)).all()  # type: ignore[attr-defined]
        taken = [row for row in rows if _still_due(row, now, retry_failed)]
        if taken:
            connection.execute(
                update(Delivery.__table__)  # type: ignore[attr-defined]
                .where(_D.id.in_([row[0] for row in taken]))
                .values(status="sending", attempts=_D.attempts + 1,
                        next_attempt_at=now + lease))
    return [_Work(
        delivery_id=row[0], channel=row[3], target=row[4],
        notice={"id": row[5], "kind": row[6], "format": row[7], "title": row[8],
                "doc_no": row[9], "case_id": row[10], "round_year": row[11],
                "audit_seq": row[12], "sha256": row[13], "path": row[14],
                "template_version": row[15], "issued_at": in_shanghai(row[16])},
        bodies={row[7]: row[17]},
        files=[{"format": row[7], "path": row[14], "sha256": row[13], "size": len(row[17]),
                "media_type": MEDIA_TYPES[row[7]]}],
    ) for row in taken]


def _send_local(engine: Engine, works: list[_Work],
                report: DeliveryReport) -> list[tuple[int, str | None]]:
    """The outbox files of ``works``, written as :func:`write_file` writes each — a temporary
    file synced, then renamed into place — with the syncs of all of them running at once (the
    file system commits them together), and counted in ``report`` as :func:`_send` does."""
    if not works:
        return []
    engine.store.ensure_same()
    errors: dict[int, str] = {}
    written: list[tuple[_Work, int, str]] = []  # (work, open descriptor, temporary path)

    def failed(work: _Work, exc: Exception) -> None:
        errors[work.delivery_id] = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]

    try:
        for work in works:
            try:
                prepared = _temporary(Path(work.target), work.bodies[work.notice["format"]],
                                      work.notice["sha256"])
            except Exception as exc:  # recorded on the row; the act stays committed
                failed(work, exc)
                continue
            if prepared is not None:
                written.append((work, *prepared))
        with ThreadPoolExecutor(max_workers=SYNC_THREADS) as pool:
            synced = list(pool.map(_sync, [handle for _, handle, _ in written]))
        for (work, _, temporary), problem in zip(written, synced, strict=True):
            try:
                if problem is not None:
                    raise problem
                os.replace(temporary, work.target)
            except Exception as exc:
                failed(work, exc)
    finally:
        for _, handle, temporary in written:
            os.close(handle)
            Path(temporary).unlink(missing_ok=True)
    outcomes: list[tuple[int, str | None]] = []
    for work in works:
        error = errors.get(work.delivery_id)
        outcomes.append((work.delivery_id, error))
        if error is None:
            report.sent += 1
        else:
            report.failed += 1
            report.failures.append({"id": work.delivery_id, "channel": work.channel,
                                    "target": work.target, "error": error})
    return outcomes


#: Outbox files synced at once (each ``fsync`` waits on the disk, not on Python).
SYNC_THREADS = 16


def _sync(handle: int) -> OSError | None:
    try:
        os.fsync(handle)
    except OSError as problem:
        return problem
    return None


def _still_due(row: Any, now: datetime, retry_failed: bool) -> bool:
    if row.status == "sending":
        return row.next_attempt_at is not None and _aware(row.next_attempt_at) <= now
    if row.status == "pending":
        return retry_failed or row.next_attempt_at is None or _aware(row.next_attempt_at) <= now
    if row.status == "failed":
        return retry_failed or (row.next_attempt_at is not None
                                and _aware(row.next_attempt_at) <= now)
    return False


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _finish(engine: Engine, outcomes: list[tuple[int, str | None]], settings: Settings, *,
            now: datetime) -> None:
    """Record each ``(delivery id, error or None)`` on its row, in one transaction."""
    if not outcomes:
        return
    with engine.store.write() as session:
        sent = [delivery_id for delivery_id, error in outcomes if error is None]
        for start in range(0, len(sent), LOCAL_CHUNK):
            session.connection().execute(
                update(Delivery.__table__)  # type: ignore[attr-defined]
                .where(_D.id.in_(sent[start:start + LOCAL_CHUNK]))
                .values(status="sent", delivered_at=now, last_error=None,
                        next_attempt_at=None))
        for delivery_id, error in outcomes:
            if error is None:
                continue
            row = session.get(Delivery, delivery_id, with_for_update=True)
            assert row is not None
            row.status, row.last_error = "failed", error
            policy = settings.delivery
            row.next_attempt_at = (
                now + timedelta(seconds=policy.backoff(row.attempts))
                if row.attempts < policy.max_attempts else None  # given up: retry by hand
            )


def _file(notice: Notice) -> dict[str, Any]:
    return {"format": notice.format, "path": notice.path, "sha256": notice.sha256,
            "size": notice.size, "media_type": MEDIA_TYPES[notice.format]}


# ---------------------------------------------------------------------------- channels
def send_outbox(work: _Work, settings: Settings) -> None:
    """Write the rendering to its path (atomically); an identical file already there is fine."""
    write_file(Path(work.target), work.bodies[work.notice["format"]], work.notice["sha256"])


def write_file(target: Path, body: bytes, sha256: str) -> None:
    """Write ``body`` to ``target`` atomically; an identical file already there is fine, a
    different one is never overwritten (it may be an issued notice)."""
    prepared = _temporary(target, body, sha256)
    if prepared is None:
        return
    handle, temporary = prepared
    try:
        os.fsync(handle)
        os.replace(temporary, target)
    finally:
        os.close(handle)
        Path(temporary).unlink(missing_ok=True)


def _temporary(target: Path, body: bytes, sha256: str) -> tuple[int, str] | None:
    """``body`` written (not yet synced) to a temporary file beside ``target``: its open
    descriptor and path; None when ``target`` already holds these bytes, refused
    (``DeliveryError``) when it holds others."""
    if target.exists():
        if hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            return None
        raise DeliveryError(f"{target} exists with other content; not overwriting an issued "
                            f"notice")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".", suffix=".part", dir=target.parent)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(handle, view):]
    except BaseException:
        os.close(handle)
        Path(temporary).unlink(missing_ok=True)
        raise
    return handle, temporary


#: What a file name may hold on the file systems recipients save attachments to (ext4, NTFS).
FILE_NAME_BYTES = 255


def attachment_name(title: str, suffix: str) -> str:
    """The title as a file name the recipient can save: whole where it fits in 255 bytes of
    UTF-8, else cut with an ellipsis (a cluster name may run to 10,000 characters)."""
    if len((title + suffix).encode("utf-8")) <= FILE_NAME_BYTES:
        return title + suffix
    room = FILE_NAME_BYTES - len(("…" + suffix).encode("utf-8"))
    cut = title.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return cut + "…" + suffix


def send_smtp(work: _Work, settings: Settings) -> None:
    smtp = settings.smtp
    if smtp is None:
        raise DeliveryError("SMTP is not configured ([smtp] in the settings file)")
    notice = work.notice
    message = EmailMessage()
    message["Subject"] = notice["title"] + (f"（{notice['doc_no']}）" if notice["doc_no"] else "")
    message["From"] = smtp.sender
    message["To"] = work.target
    message["Date"] = format_datetime(_aware(datetime.fromisoformat(notice["issued_at"])))
    message["Message-ID"] = make_msgid(f"gdcluster.{work.delivery_id}",
                                       domain=smtp.sender.rpartition("@")[2])
    message["X-Gdcluster-Notice"] = str(notice["id"])
    message["X-Gdcluster-Kind"] = notice["kind"]
    message["X-Gdcluster-Delivery"] = str(work.delivery_id)
    message.set_content(work.bodies["txt"].decode("utf-8"), subtype="plain", charset="utf-8")
    if "html" in work.bodies:
        message.add_alternative(work.bodies["html"].decode("utf-8"), subtype="html",
                                charset="utf-8")
    if "docx" in work.bodies:
        message.add_attachment(
            work.bodies["docx"], maintype="application",
            subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
            filename=attachment_name(notice["title"], ".docx"),
        )
    if "pdf" in work.bodies:
        message.add_attachment(work.bodies["pdf"], maintype="application", subtype="pdf",
                               filename=attachment_name(notice["title"], ".pdf"))
    connect = smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP
    context = ssl.create_default_context()
    kwargs: dict[str, Any] = {"timeout": smtp.timeout}
    if smtp.ssl:
        kwargs["context"] = context
    with connect(smtp.host, smtp.port, **kwargs) as client:
        if smtp.starttls:
            client.starttls(context=context)
        if smtp.user:
            client.login(smtp.user, smtp.password() or "")
        refused = client.send_message(message, from_addr=smtp.sender, to_addrs=[work.target])
    if refused:
        raise DeliveryError(f"recipient refused: {refused}")


def webhook_body(work: _Work) -> bytes:
    event = {
        "event": "notice.issued",
        "delivery_id": work.delivery_id,
        "notice": {**work.notice, "text": work.bodies["txt"].decode("utf-8"),
                   "files": work.files},
    }
    return json.dumps(event, ensure_ascii=False, sort_keys=True).encode("utf-8")


def send_webhook(work: _Work, settings: Settings) -> None:
    hook = next((item for item in settings.webhooks if item.url == work.target), None)
    if hook is None:
        raise DeliveryError(f"webhook {work.target} is no longer in the settings")
    body = webhook_body(work)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"gdcluster/{__version__}",
        "X-Gdcluster-Event": "notice.issued",
        "X-Gdcluster-Delivery": str(work.delivery_id),
    }
    secret = hook.secret()
    if secret is not None:
        digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
        headers["X-Gdcluster-Signature"] = f"sha256={digest}"
    request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=hook.timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location") if 300 <= exc.code < 400 else None
        where = f" (redirect to {location} not followed)" if location else ""
        raise DeliveryError(f"HTTP {exc.code} {exc.reason} from {hook.url}{where}") from exc
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} from {hook.url}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook's answer is final: a 3xx is a failure, never followed. Following it would
    let a receiver steer the signed notice to another (internal) address, and urllib turns a
    redirected POST into a GET whose 2xx would count as delivered."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirects)


def no_redirects() -> urllib.request.OpenerDirector:
    """The opener of every outgoing POST (webhooks, anchors): a 3xx is final, never followed."""
    return _OPENER


CHANNELS: dict[str, Callable[[_Work, Settings], None]] = {
    "outbox": send_outbox,
    "smtp": send_smtp,
    "webhook": send_webhook,
}
