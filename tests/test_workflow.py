"""The workflow definition: validated at load, exported as diagrams, one Machine."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from gdcluster.states.workflow import InvalidDefinition, load_workflow, parse_workflow


def _raw() -> dict:
    text = resources.files("gdcluster.states").joinpath("workflow.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_shipped_definition_is_valid_and_complete() -> None:
    """The shipped table loads and names every state and trigger of DESIGN §2."""
    workflow = load_workflow()
    assert workflow.initial == "drafted"
    assert set(workflow.state_names) == {
        "drafted", "submitted", "city_reviewed", "recommended", "expert_reviewed", "publicized",
        "recognized", "under_review", "renewed", "revoked", "rejected", "withdrawn",
    }
    assert {s.name for s in workflow.states if s.final} == {"revoked", "rejected", "withdrawn"}
    assert set(workflow.triggers) >= {
        "create", "update", "submit", "return", "review", "recommend", "score", "expert_review",
        "publicize", "object", "resolve", "recognize", "report", "change", "apply_review",
        "renew", "revoke", "reject", "withdraw",
    }


def test_every_rule_cites_an_article() -> None:
    """Every act is recorded under the provision it is taken under."""
    assert all(rule.article.strip() for rule in load_workflow().rules)


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda d: d.update(initial="nowhere"), "initial state"),
        (lambda d: d["states"].append({"name": "limbo", "label": "孤立"}), "not reachable"),
        (lambda d: d["transitions"].append(
            {"trigger": "reopen", "label": "x", "sources": ["revoked"], "dest": "drafted",
             "actors": ["province"], "article": "x"}), "leaves final state"),
        (lambda d: d["transitions"].append(
            {"trigger": "jump", "label": "x", "sources": ["drafted"], "dest": "moon",
             "actors": ["province"], "article": "x"}), "unknown state"),
        (lambda d: d["transitions"].append(
            {"trigger": "jump", "label": "x", "sources": ["drafted"], "dest": "submitted",
             "actors": ["mayor"], "article": "x"}), "unknown actors"),
        (lambda d: d["transitions"].append(
            {"trigger": "jump", "label": "x", "sources": ["drafted"], "dest": "submitted",
             "actors": ["province"], "article": " "}), "cites no article"),
        (lambda d: d["transitions"].append(dict(d["transitions"][2])), "defined twice"),
        (lambda d: d["states"][0].pop("label"), "missing key"),
    ],
    ids=["bad-initial", "unreachable-state", "exit-from-final", "unknown-dest", "unknown-actor",
         "no-article", "duplicate-rule", "missing-key"],
)
def test_invalid_definitions_are_refused_at_load(mutation, message: str) -> None:
    """A definition that contradicts itself never loads."""
    data = _raw()
    mutation(data)
    with pytest.raises(InvalidDefinition, match=message):
        parse_workflow(data)


def test_one_machine_fires_on_plain_holders() -> None:
    """The single Machine moves any holder without binding it, and refuses wrong states."""
    from transitions import MachineError

    machine = load_workflow().machine()
    assert machine is load_workflow().machine()

    class Holder:
        state = "drafted"

    holder = Holder()
    assert machine.events["submit"].trigger(holder)
    assert holder.state == "submitted"
    with pytest.raises(MachineError):
        machine.events["recognize"].trigger(holder)
    assert machine.models == []


def test_resolve_goes_by_outcome() -> None:
    """An upheld objection rejects the case; a dismissed one leaves it in publicity."""
    workflow = load_workflow()
    assert workflow.rule("resolve", "publicized", "uphold").dest == "rejected"
    assert workflow.rule("resolve", "publicized", "dismiss").dest_from("publicized") == "publicized"
    assert workflow.rule("resolve", "publicized", None) is None


def test_mermaid_and_dot_exports_list_every_edge() -> None:
    """The diagrams show each (source, trigger, dest) of the table."""
    workflow = load_workflow()
    mermaid, dot = workflow.to_mermaid(), workflow.to_dot()
    assert mermaid.startswith("stateDiagram-v2")
    assert dot.startswith("digraph")
    for source, dest, rule in workflow.edges():
        assert f"{source} --> {dest}: {rule.trigger}" in mermaid
        assert f'"{source}" -> "{dest}" [label="{rule.trigger}' in dot
    assert "revoked --> [*]" in mermaid
