"""The policy a case or a round is judged under: a file of ``states/policies``, in the version
whose digest was stored when the case was submitted or the round opened (an archived version
when the file has changed since), so that an in-flight case is never judged by a text other than
the one it was submitted under.

And the measures' own validity (第二十条): a policy file states ``effective_from`` and
``effective_until``; an extension recorded by the province (``gd_policy_extension``, with the
文号 of the document that extends it) carries the end further. A round is opened only under a
policy in force that day; cases in flight keep their policy to the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gdcluster.engine.errors import InvalidInput, TransitionRefused
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.states.policy import Policy

__all__ = ["PolicyStatus", "effective_until", "extend_policy", "in_force", "policy_for",
           "policy_statuses"]


def policy_for(name: str, digest: str | None = None) -> Policy:
    """The policy ``name``; with ``digest``, the shipped version a case or round was filed
    under (``TransitionRefused`` when that version is not shipped)."""
    # read when first needed, not at open (imported by its full name: every act asks, and a
    # ``from`` import of a package's module costs a Python-level call each time)
    import gdcluster.states.policy as policy_files

    try:
        return policy_files.load_policy(name, digest=digest)
    except policy_files.UnknownPolicyVersion as exc:
        raise TransitionRefused(
            Message("the policy file {name!r} has changed since this case was submitted under "
                    "it and the version it was submitted under is not shipped; in-flight cases "
                    "are judged by the text they were submitted under ({problem})", name=name,
                    problem=exc.problem),
            policy=name,
        ) from exc
    except (policy_files.InvalidPolicy, FileNotFoundError, KeyError, LookupError) as exc:
        known = policy_files.policy_names()
        if name not in known:
            raise InvalidInput(Message("unknown policy {name!r}; known: {known}", name=name,
                                       known=", ".join(known)), field="policy") from exc
        raise InvalidInput(Message("unknown or invalid policy {name!r}: {error}", name=name,
                                   error=exc), field="policy") from exc


def _extension(session: Session, name: str) -> tuple[date, str] | None:
    """The furthest extension recorded for policy ``name``: its end and its source."""
    from gdcluster.engine.records import PolicyExtension

    row = session.execute(
        select(col(PolicyExtension.until), col(PolicyExtension.source))
        .where(col(PolicyExtension.policy) == name)
        .order_by(col(PolicyExtension.until).desc(), col(PolicyExtension.id).desc()).limit(1)
    ).first()
    return (row.until, row.source) if row is not None else None


def effective_until(session: Session, policy: Policy) -> date | None:
    """The last day ``policy`` is in force: its file's ``effective_until`` or, when later, the
    furthest extension recorded for it."""
    extended = _extension(session, policy.name)
    until = policy.effective_until
    if extended is not None and (until is None or extended[0] > until):
        return extended[0]
    return until


def in_force(policy: Policy, until: date | None, day: date) -> bool:
    """Whether ``policy`` is in force on ``day``, given its last day ``until`` (with
    extensions); a file that states no validity is never in force."""
    if policy.effective_from is None or until is None:
        return False
    return policy.effective_from <= day <= until


@dataclass(frozen=True)
class PolicyStatus:
    """A shipped policy as `gdcluster policy list` shows it."""

    name: str
    version: int
    title: str
    doc_no: str
    effective_from: date | None
    effective_until: date | None
    extended_until: date | None
    extension_source: str | None
    in_force: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "title": self.title,
                "doc_no": self.doc_no,
                "effective_from": _iso(self.effective_from),
                "effective_until": _iso(self.effective_until),
                "extended_until": _iso(self.extended_until),
                "extension_source": self.extension_source, "in_force": self.in_force}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def policy_statuses(session: Session, today: date) -> list[PolicyStatus]:
    """Every shipped policy (its current version), its validity with extensions, and whether
    it is in force ``today``."""
    from gdcluster.states.policy import policy_names

    statuses = []
    for name in policy_names():
        policy = policy_for(name)
        extended = _extension(session, name)
        until = effective_until(session, policy)
        statuses.append(PolicyStatus(
            name=name, version=policy.version, title=policy.title, doc_no=policy.doc_no,
            effective_from=policy.effective_from, effective_until=policy.effective_until,
            extended_until=extended[0] if extended else None,
            extension_source=extended[1] if extended else None,
            in_force=in_force(policy, until, today)))
    return statuses


def extend_policy(session: Session, name: str, until: date, source: str, actor: str,
                  now: datetime) -> dict[str, Any]:
    """Record an extension of policy ``name`` to ``until`` under the document ``source`` (a
    发文字号, validated by the caller); refused unless it carries the end further. Returns
    what the act's audit row records."""
    from gdcluster.engine.records import PolicyExtension

    policy = policy_for(name)
    if policy.effective_from is None:
        raise TransitionRefused(Message("policy {name} states no validity of its own to extend",
                                        name=name), policy=name)
    previous = effective_until(session, policy)
    if previous is not None and until <= previous:
        raise InvalidInput(Message("{until} does not extend policy {name}: it is in force until "
                                   "{previous} already", until=until, name=name,
                                   previous=previous), field="until")
    session.add(PolicyExtension(policy=name, until=until, source=source, actor=actor, at=now))
    return {"policy": name, "version": policy.version, "until": until.isoformat(),
            "source": source, "previous_until": _iso(previous)}
