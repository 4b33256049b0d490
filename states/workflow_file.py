"""``workflow.toml`` as parsed data, and the states' labels read from it.

``states.workflow.load_workflow`` builds and validates the lifecycle from this data; a command
that only prints a state with its label (``case show``) reads the labels here, without
importing the workflow's classes or building the table (issue 16, P3). Both read the same
file through the same parsed cache (``states.parsed_cache``), so the labels are those the
workflow holds.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from gdcluster.states.parsed_cache import parsed

__all__ = ["state_labels", "workflow_data"]


def workflow_data() -> dict[str, Any]:
    """The shipped ``workflow.toml``, parsed (a fresh value each call: callers may keep it)."""
    return parsed(resources.files("gdcluster.states").joinpath("workflow.toml"), _toml)


@cache
def state_labels() -> dict[str, str]:
    """Each state's Chinese label by its code, as ``load_workflow().state(code).label``."""
    return {state["name"]: state["label"] for state in workflow_data()["states"]}


def _toml(content: bytes) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(content.decode("utf-8"))
