"""The policy a case or a round is judged under: a file of ``states/policies``, in the version
whose digest was stored when the case was submitted or the round opened (an archived version
when the file has changed since), so that an in-flight case is never judged by a text other than
the one it was submitted under."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdcluster.engine.errors import InvalidInput, TransitionRefused

if TYPE_CHECKING:
    from gdcluster.states.policy import Policy

__all__ = ["policy_for"]


def policy_for(name: str, digest: str | None = None) -> Policy:
    """The policy ``name``; with ``digest``, the shipped version a case or round was filed
    under (``TransitionRefused`` when that version is not shipped)."""
    from gdcluster.states import policy as policy_files  # read when first needed, not at open

    try:
        return policy_files.load_policy(name, digest=digest)
    except policy_files.UnknownPolicyVersion as exc:
        raise TransitionRefused(
            f"the policy file {name!r} has changed since this case was submitted under it "
            f"and the version it was submitted under is not shipped; in-flight cases are "
            f"judged by the text they were submitted under ({exc.problem})",
            policy=name,
        ) from exc
    except (policy_files.InvalidPolicy, FileNotFoundError, KeyError, LookupError) as exc:
        raise InvalidInput(f"unknown or invalid policy {name!r}: {exc}", field="policy") from exc
