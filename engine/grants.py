"""Who may act (DESIGN §8a): the OS users of a server bound to the actors granted to them.

``--as`` is free text; on a real (non-simulation) database it is checked against the actors
the OS user running the command may act as. Two sources grant them, and an OS user may act as
any actor either grants (their union):

* the settings' ``[actors]`` table — the server administrator's file
  (``"zhangsan" = ["city:佛山市@张三"]``);
* the database's grants (``gd_actor_grant``) — written and removed only by the province's
  audited acts ``actors grant`` / ``actors revoke``; ``init`` of a real database grants the OS
  user who ran it ``province`` when no grant exists yet.

Once any grant exists — in the settings or in the database — every OS user is bound: an actor
no grant covers is refused (``PermissionDenied``, exit 4, naming the OS user and what it may
act as), and an OS user with no grant may not act at all. A database with no grant anywhere
(one upgraded from before grants) binds nobody until the first is made. ``system`` is never
granted: it is the scheduler's (see ``Transaction.claim_deadline``). Simulation databases skip
the binding.

A pattern is an actor as ``--as`` names it, where the region may be ``*`` (any) and the
person may be left out (any person of that actor): ``province``, ``city:佛山市``,
``city:佛山市@张三``, ``county:*``, ``public``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, text

from gdcluster.engine.actors import Actor
from gdcluster.engine.errors import InvalidInput, NotFound, PermissionDenied
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["Pattern", "check_actor", "grant", "grants", "os_user_name", "revoke",
           "settings_grants"]

#: The article an actor grant is recorded under.
ARTICLE = "操作人授权（DESIGN §8a）"
#: An OS user name: a POSIX login or DOMAIN\\user; no spaces, quotes or control characters.
_OS_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._@$\\-]{0,63}")


@dataclass(frozen=True)
class Pattern:
    """An actor pattern: ``kind``, a region (``*`` for any), a person (None for any)."""

    kind: str
    region: str | None
    person: str | None

    @classmethod
    def parse(cls, text: Any, field: str = "actor") -> Pattern:
        """The pattern ``text`` names; ``system`` is refused (the scheduler's alone)."""
        if not isinstance(text, str):
            raise InvalidInput("an actor pattern is text, e.g. 'city:佛山市@张三'", field=field)
        body, at, person = text.strip().partition("@")
        kind, _, region = body.partition(":")
        if region.strip() == "*":
            if kind.strip().lower() not in ("city", "county") or at:
                raise InvalidInput(Message("{text!r}: only city:* and county:* take a wildcard "
                                           "region", text=text), field=field)
            return cls(kind.strip().lower(), "*", None)
        try:
            actor = Actor.parse(text if person.strip() or kind.strip().lower() != "public"
                                else f"{text.strip()}@*")
        except InvalidInput as exc:
            raise InvalidInput(Message("{text!r}: {field}: {problem}", text=text,
                                       field=exc.facts.get("field"), problem=exc.detail),
                               field=field) from exc
        if actor.kind == "system":
            raise InvalidInput("system is reserved for the scheduler process: it is never "
                               "granted", field=field)
        anyone = actor.kind == "public" and actor.person == "*"
        return cls(actor.kind, actor.region, None if anyone else actor.person)

    def matches(self, actor: Actor) -> bool:
        """Whether ``actor`` is one this pattern grants."""
        return (actor.kind == self.kind
                and (self.region == "*" or actor.region == self.region)
                and (self.person is None or actor.person == self.person))

    def __str__(self) -> str:
        text = self.kind if self.region is None else f"{self.kind}:{self.region}"
        return f"{text}@{self.person}" if self.person else text


def os_user_name(text: Any, field: str = "os_user") -> str:
    """``text`` as an OS user name, or ``InvalidInput``."""
    if not isinstance(text, str) or not _OS_USER.fullmatch(text.strip()):
        raise InvalidInput(Message("{text!r} is not an OS user name (letters, digits, . _ - @ "
                                   "$ \\, at most 64)", text=text), field=field)
    return text.strip()


def settings_grants(table: Any) -> dict[str, tuple[Pattern, ...]]:
    """The settings' ``[actors]`` table (OS user → list of patterns), validated: a bad entry
    is ``InvalidInput`` naming ``actors.<user>``."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise InvalidInput("[actors] maps OS users to lists of actors", field="actors")
    found: dict[str, tuple[Pattern, ...]] = {}
    for user, patterns in table.items():
        field = f"actors.{user}"
        name = os_user_name(user, field)
        if not isinstance(patterns, list) or not patterns:
            raise InvalidInput("a list of actors, e.g. [\"city:佛山市@张三\"]", field=field)
        found[name] = tuple(Pattern.parse(pattern, field) for pattern in patterns)
    return found


# ---------------------------------------------------------------------------- the database
def grants(session: Session, os_user: str | None = None) -> list[dict[str, Any]]:
    """The database's grants (of one OS user, when given), in the order they were made."""
    from gdcluster.engine.records import ActorGrant

    statement = select(ActorGrant).order_by(col(ActorGrant.id))
    if os_user is not None:
        statement = statement.where(col(ActorGrant.os_user) == os_user)
    return [{"os_user": row.os_user, "actor": row.actor, "granted_by": row.granted_by,
             "granted_at": row.granted_at, "audit_seq": row.audit_seq}
            for row in session.scalars(statement)]


def grant(session: Session, os_user: str, pattern: Pattern, *, by: str, at: datetime,
          audit_seq: int) -> bool:
    """Record the grant (inside the act's transaction); False when it was there already."""
    from gdcluster.engine.records import ActorGrant

    exists = session.scalar(select(col(ActorGrant.id)).where(col(ActorGrant.os_user) == os_user,
                                                             col(ActorGrant.actor) == str(pattern)))
    if exists is not None:
        return False
    session.add(ActorGrant(os_user=os_user, actor=str(pattern), granted_by=by, granted_at=at,
                           audit_seq=audit_seq))
    return True


def revoke(session: Session, os_user: str, pattern: Pattern) -> None:
    """Remove the grant (inside the act's transaction), or ``NotFound``."""
    from gdcluster.engine.records import ActorGrant

    removed = session.execute(delete(ActorGrant).where(
        col(ActorGrant.os_user) == os_user, col(ActorGrant.actor) == str(pattern)))
    if not removed.rowcount:  # type: ignore[attr-defined]
        raise NotFound("actor grant", f"{os_user} → {pattern}")


_GRANTED = text("SELECT actor FROM gd_actor_grant WHERE os_user = :os_user ORDER BY id")
_ANY_GRANT = text("SELECT id FROM gd_actor_grant LIMIT 1")


def check_actor(session: Session | Any, os_user: str, actor: Actor,
                settings: Mapping[str, tuple[Pattern, ...]], trigger: str) -> None:
    """Refuse (``PermissionDenied``, naming ``trigger``) an actor the OS user may not act as:
    see the module's docstring for the rule. Not for simulation databases, which skip it."""
    if actor.kind == "system":
        raise PermissionDenied(Message("system is reserved for the scheduler process; no "
                                       "command acts as system ({trigger})", trigger=trigger),
                               actor=str(actor), trigger=trigger)
    # plain SQL, on a session or a connection: an act's permission check defines no table
    # model and loads no ORM
    stored = [Pattern.parse(row) for row in session.execute(_GRANTED, {"os_user": os_user})
              .scalars()]
    allowed = [*settings.get(os_user, ()), *stored]
    if any(pattern.matches(actor) for pattern in allowed):
        return
    if not allowed:
        if not settings and session.execute(_ANY_GRANT).scalar() is None:
            return  # no grant anywhere yet: nobody is bound
        raise PermissionDenied(
            Message("OS user {user} has no actor granted on this database, so it may not act "
                    "as {actor} ({trigger}): the province grants actors (`gdcluster actors "
                    "grant {user} ACTOR`)", user=os_user, actor=actor, trigger=trigger),
            actor=str(actor), trigger=trigger, os_user=os_user)
    names = ", ".join(dict.fromkeys(str(pattern) for pattern in allowed))
    raise PermissionDenied(Message("OS user {user} may not act as {actor} ({trigger}); it may "
                                   "act as {names}", user=os_user, actor=actor, trigger=trigger,
                                   names=names),
                           actor=str(actor), trigger=trigger, os_user=os_user)
