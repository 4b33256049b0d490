"""The lifecycle as data: ``workflow.toml`` loaded, validated, and built into a Machine.

The definition is validated when loaded (``InvalidDefinition``): the initial state exists, every
state is reachable from it, final states have no exits, every trigger names known states and
actors. A refusal at run time is a different thing and belongs to the engine.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

ACTOR_KINDS = frozenset({"province", "city", "county", "system", "anyone"})
SAME = "="


class InvalidDefinition(ValueError):
    """The workflow file contradicts itself; raised at load, never at run time."""


@dataclass(frozen=True)
class State:
    name: str
    label: str
    final: bool = False


@dataclass(frozen=True)
class Rule:
    """One row of the transition table."""

    trigger: str
    label: str
    sources: tuple[str, ...]
    dest: str
    actors: tuple[str, ...]
    article: str
    guards: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    when: str | None = None

    def dest_from(self, source: str) -> str:
        return source if self.dest == SAME else self.dest


@dataclass(frozen=True)
class Workflow:
    initial: str
    states: tuple[State, ...]
    rules: tuple[Rule, ...]
    _by_name: dict[str, State] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({state.name: state for state in self.states})

    # ------------------------------------------------------------------ lookup
    def state(self, name: str) -> State:
        return self._by_name[name]

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(state.name for state in self.states)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.trigger for rule in self.rules))

    def rules_for(self, trigger: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.trigger == trigger)

    def rule(self, trigger: str, state: str | None, when: str | None = None) -> Rule | None:
        """The row that applies to ``trigger`` fired in ``state`` (``None`` = creation)."""
        for rule in self.rules:
            if rule.trigger != trigger:
                continue
            if state is None and rule.sources:
                continue
            if state is not None and state not in rule.sources:
                continue
            if rule.when is not None and rule.when != when:
                continue
            return rule
        return None

    def allowed_from(self, state: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.trigger for r in self.rules if state in r.sources))

    def edges(self) -> Iterator[tuple[str, str, Rule]]:
        for rule in self.rules:
            for source in rule.sources:
                yield source, rule.dest_from(source), rule

    # ------------------------------------------------------------------ machine
    def machine(self) -> Any:
        """One ``transitions.Machine`` for the process (model=None, no auto transitions).

        Cases are not bound to it: the engine fires ``machine.events[t].trigger(holder)`` on a
        plain state holder, so 10,000 cases cost nothing to "add" (DESIGN §13).
        """
        return _machine(self)

    # ------------------------------------------------------------------ export
    def to_mermaid(self) -> str:
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for source, dest, rule in self.edges():
            who = ", ".join(rule.actors)
            lines.append(f"    {source} --> {dest}: {rule.trigger} ({who})")
        for state in self.states:
            if state.final:
                lines.append(f"    {state.name} --> [*]")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        lines = ["digraph gdcluster {", "    rankdir=LR;", '    node [shape=box, style=rounded];']
        lines.append('    "__start__" [shape=point];')
        for state in self.states:
            shape = ", peripheries=2" if state.final else ""
            lines.append(f'    "{state.name}" [label="{state.name}\\n{state.label}"{shape}];')
        lines.append(f'    "__start__" -> "{self.initial}";')
        for source, dest, rule in self.edges():
            who = ", ".join(rule.actors)
            lines.append(f'    "{source}" -> "{dest}" [label="{rule.trigger}\\n({who})"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


def _machine(workflow: Workflow) -> Any:
    cached = _MACHINES.get(id(workflow))
    if cached is not None:
        return cached
    from transitions import Machine

    transitions: list[dict[str, Any]] = []
    for rule in workflow.rules:
        for source in rule.sources:
            spec: dict[str, Any] = {
                "trigger": rule.trigger,
                "source": source,
                "dest": rule.dest_from(source),
            }
            if rule.when is not None:
                spec["conditions"] = [_when(rule.when)]
            transitions.append(spec)
    machine = Machine(
        model=None,
        states=list(workflow.state_names),
        initial=workflow.initial,
        transitions=transitions,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    _MACHINES[id(workflow)] = machine
    return machine


_MACHINES: dict[int, Any] = {}


def _when(value: str) -> Any:
    def condition(event: Any) -> bool:
        return bool(event.kwargs.get("when") == value)

    condition.__name__ = f"when_{value}"
    return condition


# ---------------------------------------------------------------------------- loading
def parse_workflow(data: dict[str, Any], origin: str = "workflow.toml") -> Workflow:
    def fail(message: str) -> InvalidDefinition:
        return InvalidDefinition(f"{origin}: {message}")

    try:
        states = tuple(
            State(name=s["name"], label=s["label"], final=bool(s.get("final", False)))
            for s in data["states"]
        )
        rules = tuple(
            Rule(
                trigger=t["trigger"],
                label=t["label"],
                sources=tuple(t["sources"]),
                dest=t["dest"],
                actors=tuple(t["actors"]),
                article=t["article"],
                guards=tuple(t.get("guards", ())),
                requires=tuple(t.get("requires", ())),
                when=t.get("when"),
            )
            for t in data["transitions"]
        )
        initial = data["initial"]
    except KeyError as exc:
        raise fail(f"missing key {exc.args[0]!r}") from exc
    except TypeError as exc:
        raise fail(f"malformed entry: {exc}") from exc

    names = [s.name for s in states]
    if len(set(names)) != len(names):
        raise fail("a state is listed twice")
    known = set(names)
    if initial not in known:
        raise fail(f"initial state {initial!r} is not a state")
    finals = {s.name for s in states if s.final}
    seen: set[tuple[str, str | None, str | None]] = set()
    for rule in rules:
        where = f"trigger {rule.trigger!r}"
        if not rule.article.strip():
            raise fail(f"{where} cites no article")
        if not rule.actors or set(rule.actors) - ACTOR_KINDS:
            raise fail(f"{where} has unknown actors {sorted(set(rule.actors) - ACTOR_KINDS)}")
        if rule.dest != SAME and rule.dest not in known:
            raise fail(f"{where} goes to unknown state {rule.dest!r}")
        if not rule.sources and rule.dest == SAME:
            raise fail(f"{where} creates a case but names no state to create it in")
        for source in rule.sources:
            if source not in known:
                raise fail(f"{where} starts from unknown state {source!r}")
            if source in finals:
                raise fail(f"{where} leaves final state {source!r}")
            key = (rule.trigger, source, rule.when)
            if key in seen:
                raise fail(f"{where} is defined twice from {source!r}")
            seen.add(key)
    reachable = {initial}
    frontier = [initial]
    while frontier:
        current = frontier.pop()
        for rule in rules:
            if current in rule.sources:
                dest = rule.dest_from(current)
                if dest not in reachable:
                    reachable.add(dest)
                    frontier.append(dest)
    unreachable = known - reachable
    if unreachable:
        raise fail(f"states not reachable from {initial!r}: {sorted(unreachable)}")
    return Workflow(initial=initial, states=states, rules=rules)


@cache
def load_workflow() -> Workflow:
    text = resources.files("gdcluster.states").joinpath("workflow.toml").read_text("utf-8")
    return parse_workflow(tomllib.loads(text))


def normalize_state(name: str) -> str:
    """The CLI accepts ``city-reviewed`` and ``city_reviewed``."""
    return name.strip().replace("-", "_")
