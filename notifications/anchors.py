"""Anchoring the audit chain outside the database (issue 15 §13).

``gdcluster audit anchor --to FILE`` appends a dated line — ``{"at": "…+08:00", "seq": N,
"hash": "…"}`` — with the chain's head; ``--to URL`` posts the same JSON to a webhook (no
redirects: a 3xx is a failure). ``gdcluster audit verify --anchors FILE`` then proves that no
row up to an anchored one was changed or dropped: whoever holds the database alone can
rewrite the whole chain consistently, but not the copies kept elsewhere. Every issued notice
carries such an anchor too (its metadata and the footer of its printed copy).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gdcluster import __version__
from gdcluster.engine.api import Engine
from gdcluster.engine.clock import SHANGHAI, as_utc
from gdcluster.engine.errors import ConcurrentModification, InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.notifications.delivery import no_redirects

__all__ = ["AnchorNotSent", "anchor", "head_record"]

#: How long the webhook may take to answer.
TIMEOUT = 20.0


class AnchorNotSent(ConcurrentModification):
    """The anchor could not be written or posted: nothing was anchored; retry (exit 5)."""

    code = "anchor_not_sent"

    def __init__(self, target: str, problem: str) -> None:
        ConcurrentModification.__init__(self, None)
        self.message = Message("the anchor was not recorded at {target}: {problem}; retry",
                               target=target, problem=problem)
        self.args = (self.message,)
        self.template = None  # not the parent's "database stayed locked": this message is told
        self.facts.update(target=target, problem=problem)


def head_record(engine: Engine) -> dict[str, Any]:
    """The chain's head now, dated by the engine's clock (Asia/Shanghai, ``+08:00``)."""
    from gdcluster.engine.models import AuditHead

    with engine.store.read() as session:
        head = session.get(AuditHead, 1)
        seq, hash_ = (head.seq, head.hash) if head is not None else (0, "0" * 64)
    at = as_utc(engine.clock.now()).astimezone(SHANGHAI).isoformat(timespec="seconds")
    return {"at": at, "seq": seq, "hash": hash_}


def anchor(engine: Engine, target: str) -> dict[str, Any]:
    """Record the head at ``target``: appended as a JSON line to a file, or posted to an
    ``http(s)://`` URL. Returns the record."""
    record = head_record(engine)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True)
    if target.startswith(("http://", "https://")):
        _post(target, line.encode("utf-8"))
    elif "://" in target:
        raise InvalidInput(Message("an anchor goes to a file or an http(s) URL, not "
                                   "{target!r}", target=target), field="to")
    else:
        _append(Path(target), line)
    return record


def _append(path: Path, line: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")
            stream.flush()
            os.fsync(stream.fileno())
    except IsADirectoryError as exc:
        raise InvalidInput(Message("{path} is a folder: name a file", path=path),
                           field="to") from exc
    except OSError as exc:
        raise AnchorNotSent(str(path), exc.strerror or str(exc)) from exc


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"gdcluster/{__version__}", "X-Gdcluster-Event": "audit.anchor"})
    try:
        with no_redirects().open(request, timeout=TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location") if 300 <= exc.code < 400 else None
        where = f" (redirect to {location} not followed)" if location else ""
        exc.close()
        raise AnchorNotSent(url, f"HTTP {exc.code} {exc.reason}{where}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AnchorNotSent(url, str(reason)) from exc
    if not 200 <= status < 300:
        raise AnchorNotSent(url, f"HTTP {status}")
