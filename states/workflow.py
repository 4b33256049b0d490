"""The lifecycle as data: ``workflow.toml`` loaded and validated.

The definition is validated when loaded (``InvalidDefinition``): the initial state exists, every
state is reachable from it, final states have no exits, a closed state's only exits are
corrections, a row back to the state a case came from (dest ``"<previous>"``) leaves only states
that remember it, every trigger names known states and actors, and no payload key is both
required and optional. The engine binds the guard and effect names to its functions and
builds the one ``transitions`` Machine from this table (``gdcluster.engine.lifecycle``); a
refusal at run time is a different thing and belongs to the engine.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gdcluster.states.workflow_file import workflow_data

ACTOR_KINDS = frozenset({"province", "city", "county", "system", "anyone"})
SAME = "="
#: A row's dest meaning "the state the case came from" (``gd_case.previous_state``).
PREVIOUS = "<previous>"
#: A row's sources meaning every state that is neither final nor closed.
ANY = "*"


class InvalidDefinition(ValueError):
    """The workflow file contradicts itself; raised at load, never at run time."""


class UnknownName(LookupError):
    """A state or trigger named in none of its forms (code, hyphen form, Chinese label); the
    message lists the valid ones, code and label."""

    def __init__(self, kind: str, given: str, choices: Collection[tuple[str, str]],
                 ambiguous: Collection[str] = ()) -> None:
        self.kind, self.given = kind, given
        self.choices = tuple(choices)
        self.ambiguous = tuple(ambiguous)
        listed = ", ".join(f"{code}（{label}）" if label else code for code, label in self.choices)
        if self.ambiguous:
            message = (f"{kind} {given!r} is the label of several {kind}s: "
                       f"{', '.join(self.ambiguous)}; name one by its code")
        else:
            message = f"unknown {kind} {given!r}; valid {kind}s: {listed}"
        super().__init__(message)


@dataclass(frozen=True)
class State:
    """A state. ``final``: no exit at all. ``closed``: ends the case like a final state (its
    pending deadlines are cancelled on entry) but keeps a correction exit. ``remembers``:
    entering it records the state the case came from, which a ``"<previous>"`` row returns
    to."""

    name: str
    label: str
    final: bool = False
    closed: bool = False
    remembers: bool = False
    #: Entered only from states that remember, it keeps the state remembered there (a case
    #: revoked after a 拟撤销 procedure keeps the state it had before the procedure), which a
    #: ``"<previous>"`` row (a correction) returns to.
    keeps: bool = False


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
    effect: str | None = None
    requires: tuple[str, ...] = ()
    #: Payload keys the act may also be given; any key outside ``requires``, ``accepts`` (and
    #: ``when`` where the row has one) is refused.
    accepts: tuple[str, ...] = ()
    when: str | None = None
    #: The round command that fires this row for a whole batch (``round recognize``); such a
    #: row is never fired on one case alone.
    fired_by: str | None = None
    #: A correction: the only kind of row that may leave a closed state.
    correction: bool = False
    #: ``sources = "*"``: every state that is neither final nor closed (an act on the case's
    #: record, such as attaching a file, that any open case takes). Drawn once, as a note.
    any_state: bool = False

    def dest_from(self, source: str) -> str:
        return source if self.dest == SAME else self.dest

    @property
    def who(self) -> str:
        """Who fires the row, as the diagrams label it (``province via round recognize``)."""
        who = ", ".join(self.actors)
        return f"{who} via {self.fired_by}" if self.fired_by else who

    @property
    def payload_keys(self) -> frozenset[str]:
        """Every payload key the row takes."""
        return frozenset((*self.requires, *self.accepts, *(("when",) if self.when else ())))


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

    def state_named(self, text: str) -> str:
        """The state ``text`` names: its code (``city_reviewed``), hyphen form
        (``city-reviewed``) or Chinese label (``已通过资格初审``); else ``UnknownName``."""
        return _named("state", text, [(state.name, state.label) for state in self.states])

    def trigger_named(self, text: str, among: Collection[str] | None = None) -> str:
        """The trigger ``text`` names, as code, hyphen form or the label of one of its rows
        (``退回补正``), only ``among`` these triggers when given; else ``UnknownName``."""
        labels: dict[str, list[str]] = {}
        for rule in self.rules:
            if among is None or rule.trigger in among:
                labels.setdefault(rule.trigger, []).append(rule.label)
        return _named("trigger", text, [(trigger, label) for trigger, names in labels.items()
                                        for label in dict.fromkeys(names)])

    def edges(self) -> Iterator[tuple[str, str, Rule]]:
        """(source, dest, row) for every move; a ``"<previous>"`` row once per state the case
        may have come from."""
        for rule in self.rules:
            for source in rule.sources:
                if rule.dest == PREVIOUS:
                    for dest in self.previous_states(source):
                        yield source, dest, rule
                else:
                    yield source, rule.dest_from(source), rule

    def previous_states(self, state: str) -> tuple[str, ...]:
        """The states a case may have come from into ``state`` (by a row that is not itself a
        return to the previous state), in the order of the states."""
        came = {source for rule in self.rules if rule.dest == state for source in rule.sources}
        if self._by_name[state].keeps:
            came = {earlier for source in came if source != state
                    for earlier in self.previous_states(source)}
        return tuple(name for name in self.state_names if name in came and name != state)

    @property
    def closed_states(self) -> frozenset[str]:
        return frozenset(state.name for state in self.states if state.closed)

    # ------------------------------------------------------------------ export
    def to_mermaid(self) -> str:
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for source, dest, rule in self.edges():
            if not rule.any_state:
                lines.append(f"    {source} --> {dest}: {rule.trigger} ({rule.who})")
        for state in self.states:
            if state.final or state.closed:
                lines.append(f"    {state.name} --> [*]")
        for rule in self.rules:
            if rule.any_state:
                lines.append(f"    note left of {self.initial}: {rule.trigger} ({rule.who}) "
                             f"in every state neither final nor closed")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        lines = ["digraph gdcluster {", "    rankdir=LR;", '    node [shape=box, style=rounded];']
        lines.append('    "__start__" [shape=point];')
        for state in self.states:
            shape = ", peripheries=2" if state.final or state.closed else ""
            lines.append(f'    "{state.name}" [label="{state.name}\\n{state.label}"{shape}];')
        lines.append(f'    "__start__" -> "{self.initial}";')
        for source, dest, rule in self.edges():
            if not rule.any_state:
                lines.append(f'    "{source}" -> "{dest}" [label="{rule.trigger}\\n({rule.who})"];')
        for rule in self.rules:
            if rule.any_state:
                lines.append(f'    "{rule.trigger}" [shape=note, label="{rule.trigger} '
                             f'({rule.who})\\nin every state neither final nor closed"];')
        lines.append("}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- loading
def parse_workflow(data: dict[str, Any], origin: str = "workflow.toml") -> Workflow:
    def fail(message: str) -> InvalidDefinition:
        return InvalidDefinition(f"{origin}: {message}")

    try:
        states = tuple(
            State(name=s["name"], label=s["label"], final=bool(s.get("final", False)),
                  closed=bool(s.get("closed", False)), remembers=bool(s.get("remembers", False)),
                  keeps=bool(s.get("keeps", False)))
            for s in data["states"]
        )
        open_states = tuple(s.name for s in states if not s.final and not s.closed)
        rules = tuple(
            Rule(
                trigger=t["trigger"],
                label=t["label"],
                sources=open_states if t["sources"] == ANY else tuple(t["sources"]),
                any_state=t["sources"] == ANY,
                dest=t["dest"],
                actors=tuple(t["actors"]),
                article=t["article"],
                guards=tuple(t.get("guards", ())),
                effect=t.get("effect"),
                requires=tuple(t.get("requires", ())),
                accepts=tuple(t.get("accepts", ())),
                when=t.get("when"),
                fired_by=t.get("fired_by"),
                correction=bool(t.get("correction", False)),
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
    closed = {s.name for s in states if s.closed}
    remembering = {s.name for s in states if s.remembers}
    keeping = {s.name for s in states if s.keeps}
    for state in states:
        if state.final and state.closed:
            raise fail(f"state {state.name!r} is both final and closed")
        if state.keeps and state.remembers:
            raise fail(f"state {state.name!r} both remembers and keeps the previous state")
    seen: set[tuple[str, str | None, str | None]] = set()
    for rule in rules:
        where = f"trigger {rule.trigger!r}"
        if not rule.article.strip():
            raise fail(f"{where} cites no article")
        both = sorted(set(rule.requires) & set(rule.accepts))
        if both:
            raise fail(f"{where} both requires and accepts {both[0]!r}")
        if rule.fired_by is not None and not rule.fired_by.strip():
            raise fail(f"{where} is fired_by an empty command")
        named = (*rule.guards, *((rule.effect,) if rule.effect is not None else ()))
        if not all(isinstance(name, str) and name.strip() for name in named):
            raise fail(f"{where} names a guard or effect that is not a name: {named}")
        if not rule.actors or set(rule.actors) - ACTOR_KINDS:
            raise fail(f"{where} has unknown actors {sorted(set(rule.actors) - ACTOR_KINDS)}")
        if rule.dest not in (SAME, PREVIOUS) and rule.dest not in known:
            raise fail(f"{where} goes to unknown state {rule.dest!r}")
        if not rule.sources and rule.dest == SAME:
            raise fail(f"{where} creates a case but names no state to create it in")
        for source in rule.sources:
            if source not in known:
                raise fail(f"{where} starts from unknown state {source!r}")
            if source in finals:
                raise fail(f"{where} leaves final state {source!r}")
            if source in closed and not rule.correction:
                raise fail(f"{where} leaves closed state {source!r} but is not a correction")
            if rule.dest == PREVIOUS and source not in remembering | keeping:
                raise fail(f"{where} returns to the previous state from {source!r}, which "
                           f"does not remember it (remembers = true)")
            if rule.dest in keeping and source not in remembering | {rule.dest}:
                raise fail(f"{where} enters {rule.dest!r}, which keeps the state remembered "
                           f"before it, from {source!r}, which remembers none")
            key = (rule.trigger, source, rule.when)
            if key in seen:
                raise fail(f"{where} is defined twice from {source!r}")
            seen.add(key)
    workflow = Workflow(initial=initial, states=states, rules=rules)
    reachable = {initial}
    frontier = [initial]
    edges = list(workflow.edges())
    while frontier:
        current = frontier.pop()
        for source, dest, _rule in edges:
            if source == current and dest not in reachable:
                reachable.add(dest)
                frontier.append(dest)
    unreachable = known - reachable
    if unreachable:
        raise fail(f"states not reachable from {initial!r}: {sorted(unreachable)}")
    return workflow


@cache
def load_workflow() -> Workflow:
    return parse_workflow(workflow_data())


def _named(kind: str, text: str, forms: list[tuple[str, str]]) -> str:
    """The code among ``forms`` (code, label pairs; a code may have several labels) that
    ``text`` names: compared after NFKC and trimming, codes without regard to case or to
    hyphens for underscores."""
    given = unicodedata.normalize("NFKC", text).strip()
    first_label: dict[str, str] = {}
    for code, label in forms:
        first_label.setdefault(code, label)
    code = given.lower().replace("-", "_")
    if code in first_label:
        return code
    matches = list(dict.fromkeys(
        code for code, label in forms if unicodedata.normalize("NFKC", label) == given))
    if len(matches) == 1:
        return matches[0]
    raise UnknownName(kind, text, list(first_label.items()), ambiguous=matches)
