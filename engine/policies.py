"""The policy a case or a round is judged under: a file of ``states/policies``, checked against
the digest stored when the case was submitted, so that an in-flight case is never judged by a
text other than the one it was submitted under."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdcluster.engine.errors import InvalidInput, TransitionRefused

if TYPE_CHECKING:
    from gdcluster.states.policy import Policy

__all__ = ["policy_for"]


def policy_for(name: str, digest: str | None = None) -> Policy:
    """The policy ``name``; with ``digest``, refused when its text has changed since."""
    from gdcluster.states import policy as policy_files  # read when first needed, not at open

    try:
        policy = policy_files.load_policy(name)
    except (policy_files.InvalidPolicy, FileNotFoundError, KeyError, LookupError) as exc:
        raise InvalidInput(f"unknown or invalid policy {name!r}: {exc}", field="policy") from exc
    if digest is not None and policy.digest != digest:
        raise TransitionRefused(
            f"the policy file {name!r} has changed since this case was submitted under it; "
            f"in-flight cases are judged by the text they were submitted under",
            policy=name,
        )
    return policy
