"""The workflow definition: validated at load, bound to the engine's guards and effects,
exported as diagrams, one Machine."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from gdcluster.engine.lifecycle import Lifecycle
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
        "publicity_closed", "recognized", "under_review", "renewed", "expired",
        "revocation_proposed", "revoked", "rejected", "not_selected", "withdrawn",
    }
    assert {s.name for s in workflow.states if s.final} == {"withdrawn"}
    assert workflow.closed_states == {"rejected", "not_selected", "revoked"}
    assert {s.name for s in workflow.states if s.remembers} == {
        "rejected", "not_selected", "revocation_proposed"}
    assert {s.name for s in workflow.states if s.keeps} == {"revoked"}
    assert workflow.state("publicity_closed").label == "公示期满"
    assert workflow.state("not_selected").label == "未入选"
    assert set(workflow.triggers) >= {
        "create", "update", "submit", "return", "review", "recommend", "score", "expert_review",
        "publicize", "object", "resolve", "close_publicity", "recognize", "report", "change",
        "apply_review", "review_check", "renew", "fail_review", "expire", "revoke", "reject",
        "withdraw", "close", "reopen", "propose_revocation", "state", "maintain", "reinstate",
    }


def test_validity_ends_by_expiry_never_by_revocation() -> None:
    """The system's act at the end of validity is `expire` (有效期届满), from recognized or
    renewed; no row lets the system revoke without the procedure of 第十八条, and a 复核 is
    applied for from recognized, renewed or expired."""
    workflow = load_workflow()
    [expire] = [rule for rule in workflow.rules if rule.trigger == "expire"]
    assert (set(expire.sources), expire.dest, expire.actors) == (
        {"recognized", "renewed"}, "expired", ("system",))
    [apply] = [rule for rule in workflow.rules if rule.trigger == "apply_review"]
    assert (set(apply.sources), apply.dest, apply.requires) == (
        {"recognized", "renewed", "expired"}, "under_review", ("data",))
    assert workflow.state("expired").label == "有效期届满"


def test_no_revocation_without_a_procedure() -> None:
    """`revoke` leaves only revocation_proposed; the procedure remembers the state it came
    from, and a revoked case keeps it, so that maintain and reinstate return there."""
    workflow = load_workflow()
    [revoke] = [rule for rule in workflow.rules if rule.trigger == "revoke"]
    assert revoke.sources == ("revocation_proposed",) and revoke.dest == "revoked"
    assert not any(rule.dest == "revoked" for rule in workflow.rules if rule is not revoke)
    came = workflow.previous_states("revocation_proposed")
    assert {"recognized", "renewed", "under_review"} <= set(came)
    assert workflow.previous_states("revoked") == came
    [reinstate] = [rule for rule in workflow.rules if rule.trigger == "reinstate"]
    assert reinstate.correction and reinstate.actors == ("province",)
    assert {(source, dest) for source, dest, rule in workflow.edges()
            if rule.trigger == "maintain"} == {("revocation_proposed", state) for state in came}


def test_recognition_comes_only_with_the_published_list() -> None:
    """`recognize` leaves only publicity_closed, only the province fires it, and only as the
    round command `round recognize` (never the scheduler, never one case alone); the end of
    publicity is `close_publicity`, which the scheduler may fire."""
    workflow = load_workflow()
    [recognize] = [rule for rule in workflow.rules if rule.trigger == "recognize"]
    assert (recognize.sources, recognize.dest, recognize.actors, recognize.fired_by) == (
        ("publicity_closed",), "recognized", ("province",), "round recognize")
    assert set(recognize.requires) == {"valid_from", "doc_no", "doc_date", "batch"}
    [closing] = [rule for rule in workflow.rules if rule.trigger == "close_publicity"]
    assert (closing.sources, closing.dest, set(closing.actors)) == (
        ("publicized",), "publicity_closed", {"province", "system"})
    assert not any("system" in rule.actors and rule.dest == "recognized"
                   for rule in workflow.rules)


def test_every_rule_cites_an_article() -> None:
    """Every act is recorded under the provision it is taken under."""
    assert all(rule.article.strip() for rule in load_workflow().rules)


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda d: d.update(initial="nowhere"), "initial state"),
        (lambda d: d["states"].append({"name": "limbo", "label": "孤立"}), "not reachable"),
        (lambda d: d["transitions"].append(
            {"trigger": "reopen", "label": "x", "sources": ["withdrawn"], "dest": "drafted",
             "actors": ["province"], "article": "x"}), "leaves final state"),
        (lambda d: d["transitions"].append(
            {"trigger": "jump", "label": "x", "sources": ["recognized"], "dest": "revoked",
             "actors": ["province"], "article": "x"}), "remembers none"),
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
        (lambda d: d["transitions"].append(
            {"trigger": "revive", "label": "x", "sources": ["not_selected"], "dest": "drafted",
             "actors": ["province"], "article": "x"}), "not a correction"),
        (lambda d: d["transitions"].append(
            {"trigger": "undo", "label": "x", "sources": ["recognized"], "dest": "<previous>",
             "actors": ["province"], "article": "x", "correction": True}),
         "does not remember it"),
        (lambda d: d["transitions"].append(
            {"trigger": "jump", "label": "x", "sources": ["drafted"], "dest": "submitted",
             "actors": ["province"], "article": "x", "requires": ["reason"],
             "accepts": ["reason"]}), "both requires and accepts"),
        (lambda d: d["states"][-1].update(closed=True), "both final and closed"),
    ],
    ids=["bad-initial", "unreachable-state", "exit-from-final", "keeps-without-memory",
         "unknown-dest", "unknown-actor",
         "no-article", "duplicate-rule", "missing-key", "exit-from-closed",
         "previous-without-memory", "key-required-and-optional", "final-and-closed"],
)
def test_invalid_definitions_are_refused_at_load(mutation, message: str) -> None:
    """A definition that contradicts itself never loads."""
    data = _raw()
    mutation(data)
    with pytest.raises(InvalidDefinition, match=message):
        parse_workflow(data)


def test_one_machine_for_the_process_binds_no_case() -> None:
    """The lifecycle's single Machine is shared, binds no model, knows each row's destination,
    and refuses a trigger from a state it does not leave before any check runs."""
    from transitions import MachineError

    machine = Lifecycle.of(load_workflow()).machine
    assert machine is Lifecycle.of(load_workflow()).machine

    class Holder:
        workflow_state = "submitted"  # the Machine's attribute ("state" is a trigger)

    [submit] = machine.events["submit"].transitions["drafted"]
    assert (submit.dest, submit.rule.trigger) == ("submitted", "submit")
    with pytest.raises(MachineError):
        machine.events["recognize"].trigger(Holder())
    assert machine.models == []


def test_a_return_to_the_previous_state_is_one_transition_per_state_it_may_have_come_from(
) -> None:
    """`reopen` (dest "<previous>") becomes, from each closed state, one transition to each
    state a case can enter it from, each conditioned on the recorded previous state."""
    workflow = load_workflow()
    machine = Lifecycle.of(workflow).machine
    for closed in ("rejected", "not_selected"):
        rows = machine.events["reopen"].transitions[closed]
        assert [row.dest for row in rows] == list(workflow.previous_states(closed))
        assert all(row.conditions[0].func.__name__ == f"came_from_{row.dest}" for row in rows)
    assert workflow.previous_states("not_selected") == (
        "drafted", "submitted", "city_reviewed", "recommended", "expert_reviewed")
    assert workflow.previous_states("rejected") == (
        "submitted", "city_reviewed", "recommended", "expert_reviewed", "publicized",
        "publicity_closed")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [('requires = ["reason"]\naccepts = ["fields", "due"]',
      'requires = ["reason"]\naccepts = ["fields", "due", "deadline"]',
      r"takes \['deadline'\], which no guard or effect of it reads"),
     ('requires = ["reason"]\naccepts = ["fields", "due"]', 'requires = ["reason"]\n'
      'accepts = ["fields"]', r"does not take \['due'\], which its guards or effect read")],
    ids=["declared-but-unread", "read-but-undeclared"],
)
def test_a_rows_payload_keys_are_what_its_guards_and_effect_read(old: str, new: str,
                                                                 message: str) -> None:
    """Binding refuses a row that declares a payload key nobody reads (it would be accepted
    and ignored) or lacks one its effect reads (it could never be given)."""
    text = resources.files("gdcluster.states").joinpath("workflow.toml").read_text("utf-8")
    assert text.count(old) == 1
    workflow = parse_workflow(tomllib.loads(text.replace(old, new)))
    with pytest.raises(InvalidDefinition, match=message):
        Lifecycle(workflow)


def test_resolve_goes_by_outcome() -> None:
    """An upheld objection rejects the case; a dismissed one leaves it in publicity; the
    Machine has no way to resolve without saying which."""
    rows = Lifecycle.of(load_workflow()).machine.events["resolve"].transitions["publicized"]
    assert {row.rule.when: row.dest for row in rows} == {"dismiss": "publicized",
                                                         "uphold": "rejected"}


@pytest.mark.parametrize(
    ("line", "misspelt"),
    [('guards = ["enough_experts"]', 'guards = ["enough_expert"]'),
     ('effect = "publicize"', 'effect = "publicise"')],
    ids=["guard", "effect"],
)
def test_an_unknown_guard_or_effect_fails_when_the_workflow_is_bound(
        line: str, misspelt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard or effect workflow.toml names but the engine does not have is refused when the
    workflow is bound — when an engine is built on it — naming it; never later, as an act."""
    from gdcluster.engine.testing import memory_engine
    from gdcluster.states import workflow as workflow_module

    text = resources.files("gdcluster.states").joinpath("workflow.toml").read_text("utf-8")
    assert text.count(line) == 1
    workflow = parse_workflow(tomllib.loads(text.replace(line, misspelt)))
    name = misspelt.split('"')[1]
    with pytest.raises(InvalidDefinition, match=f"names the (guard|effect) '{name}'"):
        Lifecycle(workflow)
    # Engine.kernel resolves load_workflow from its module when it binds the workflow: at
    # construction for an engine opened to act (memory_engine's acts=True), not at the first act
    monkeypatch.setattr(workflow_module, "load_workflow", lambda: workflow)
    with pytest.raises(InvalidDefinition, match=name):
        memory_engine()


def test_every_guard_and_effect_is_named_in_the_table() -> None:
    """No registered guard or effect is left unused by workflow.toml (a row lost in an edit)."""
    from gdcluster.engine.effects import EFFECTS
    from gdcluster.engine.guards import GUARDS
    from gdcluster.engine.procedure_acts import open_procedure  # registers its acts
    from gdcluster.engine.procedures import PROPOSED

    assert PROPOSED in load_workflow().state_names and callable(open_procedure)

    rules = load_workflow().rules
    assert GUARDS.names == {name for rule in rules for name in rule.guards}
    assert EFFECTS.names == {rule.effect for rule in rules if rule.effect is not None}


def test_mermaid_and_dot_exports_list_every_edge() -> None:
    """The diagrams show each (source, trigger, dest) of the table; a row of every open
    state (``sources = "*"``: attach) once, as a note, not as a loop on each state."""
    workflow = load_workflow()
    mermaid, dot = workflow.to_mermaid(), workflow.to_dot()
    assert mermaid.startswith("stateDiagram-v2")
    assert dot.startswith("digraph")
    for source, dest, rule in workflow.edges():
        if rule.any_state:
            assert f"drafted --> drafted: {rule.trigger}" not in mermaid
            assert mermaid.count(f"{rule.trigger} ({rule.who}) in every state") == 1
            assert dot.count(f'"{rule.trigger}" [shape=note') == 1
            continue
        assert f"{source} --> {dest}: {rule.trigger}" in mermaid
        assert f'"{source}" -> "{dest}" [label="{rule.trigger}' in dot
    assert "revoked --> [*]" in mermaid


def test_sources_star_is_every_state_neither_final_nor_closed() -> None:
    """``sources = "*"`` (attach) takes every open state of the table, so that a state added
    to it is included without touching the row; final and closed states are not."""
    workflow = load_workflow()
    attach = next(rule for rule in workflow.rules if rule.trigger == "attach")
    assert attach.any_state
    assert set(attach.sources) == {state.name for state in workflow.states
                                   if not state.final and not state.closed}
    assert {"revoked", "withdrawn", "rejected", "not_selected"}.isdisjoint(attach.sources)


def _toy_machine(**extra: object) -> tuple[object, list[str]]:
    """A Machine shaped like the lifecycle's (callables, ``send_event``, no model), whose
    conditions and callbacks log what they were handed."""
    from transitions import Machine

    seen: list[str] = []

    def log(name: str, answer: object = None) -> object:
        def callback(event: object) -> object:
            seen.append(f"{name}:{event.model.workflow_state}:{event.transition.dest}")
            if isinstance(answer, Exception):
                raise answer
            return answer

        return callback

    machine = Machine(model=None, states=["a", "b", "c"], initial="a", auto_transitions=False,
                      send_event=True, model_attribute="workflow_state",
                      before_state_change=[log("taken")], **extra)
    machine.add_transition("go", "a", "b", conditions=[log("first", True), log("no", False)],
                           before=[log("effect")])
    machine.add_transition("go", "a", "c", conditions=[log("second", True)],
                           before=[log("effect")])
    machine.add_transition("fail", "a", "b", conditions=[log("raises", ValueError("no"))])
    return machine, seen


class _Model:
    def __init__(self) -> None:
        self.workflow_state = "a"
        self.trigger = "go"


@pytest.mark.parametrize("trigger", ["go", "fail", "unknown-from-b"])
def test_an_act_walks_the_machines_own_transitions_as_the_machine_fires_them(
        trigger: str) -> None:
    """The walk of an event (``lifecycle._walk``) tries the Machine's transitions in order,
    stops at the first condition that says no, runs ``before_state_change`` then ``before``
    and moves the state; a condition that raises, and a state the event does not leave,
    end it as they end the Machine's own processing."""
    from transitions import MachineError

    from gdcluster.engine.lifecycle import _walk, _walks

    outcomes = []
    for walked in (True, False):
        machine, seen = _toy_machine()
        model = _Model()
        if trigger == "unknown-from-b":
            model.workflow_state, name = "b", "go"
        else:
            name = trigger
        try:
            moved = (_walk(_walks(machine)[name], model.workflow_state, model) if walked
                     else machine.events[name].trigger(model))
        except (MachineError, ValueError) as error:
            moved = type(error).__name__
        outcomes.append((moved, model.workflow_state, seen))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] in ({"go": True, "fail": "ValueError"}.get(trigger, "MachineError"),)


def test_an_event_with_more_than_the_walk_does_is_fired_by_the_machine() -> None:
    """A Machine with callbacks the walk does not run (here ``after_state_change``, or a
    state's ``on_enter``) is left to the Machine; the shipped table is walked entirely."""
    from gdcluster.engine.lifecycle import _walks

    machine, _seen = _toy_machine(after_state_change=[lambda event: None])
    assert _walks(machine) == {}
    machine, _seen = _toy_machine()
    machine.get_state("c").on_enter.append(lambda event: None)
    assert set(_walks(machine)) == {"fail"}
    shipped = Lifecycle.of(load_workflow())
    assert set(_walks(shipped.machine)) == set(shipped.machine.events)


def test_the_state_labels_are_the_workflows() -> None:
    """``workflow_file.state_labels`` (what ``case show`` prints beside a state, read without
    building the workflow) gives each state the label the loaded workflow gives it."""
    from gdcluster.states.workflow_file import state_labels

    assert state_labels() == {state.name: state.label for state in load_workflow().states}
    assert state_labels()["recognized"] == "已认定"
