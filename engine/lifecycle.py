"""The lifecycle: the workflow table bound to the engine's guards and effects, and the one
``transitions`` Machine built from it — the one authority on which transition a trigger takes.

Each row of ``states/workflow.toml`` becomes one transition per source state — a row back to
the state the case came from (dest ``"<previous>"``) one per state it may have come from. Its
conditions, in this order, are: for such a row, that the case came from that state
(``gd_case.previous_state``); the row's ``when`` (``resolve`` as ``uphold`` or ``dismiss``); who
may fire it (``actors``); the payload it ``requires`` and nothing it does not take; the case's
policy still being the text the case was submitted under; then the row's ``guards``. Its
``before`` callbacks are the row's ``effect`` and, for a row that accepts ``attachments``, the
storing of the files the act carries (``attachments.store_evidence``). A condition refuses by
raising, with its facts (``PermissionDenied``, ``InvalidInput``, ``TransitionRefused``),
except ``when`` and the previous state, which answer ``False`` so that the Machine goes on to
the row's sibling. So when :meth:`Lifecycle.take` returns, the Machine has chosen the row, the
checks have passed, the effect has run and the case's state has moved; the row it took is the
one the audit row cites.

Binding (``Lifecycle.of``) resolves every guard and effect name of the table and fails at once,
naming what it cannot resolve (``InvalidDefinition``), as it does for a row whose payload keys
differ from what its guards and effect read; the engine binds when it opens. The
Machine itself is built from the bound rows when the first act needs it: it can no longer fail
on a name then, and a read (``gdcluster case show``) never pays for importing ``transitions``.
One Machine serves the whole process, with no model bound to it: it fires on the act itself,
whose ``state`` is its case's.

An act walks the Machine's own transitions of its trigger and state directly (``_Walk``):
each transition's conditions in order, the first whose conditions all hold runs the Machine's
``before_state_change`` and its ``before`` callbacks and moves the state — what the Machine's
event processing does, without its per-event objects, queue checks and logging. The walk is
read from the built Machine, so the Machine stays the one authority; an event that has
anything the walk does not do (``prepare``/``after`` callbacks, ``unless`` conditions, callbacks
named by string, state ``on_enter``/``on_exit``, final states, machine-wide event callbacks) is
fired through the Machine as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gdcluster.engine import review_acts  # noqa: F401  (registers its guards and effects)
from gdcluster.engine.acts import Act, Check
from gdcluster.engine.attachments import EVIDENCE, store_evidence
from gdcluster.engine.effects import EFFECTS
from gdcluster.engine.errors import InvalidInput, PermissionDenied, Reason, TransitionRefused
from gdcluster.engine.guards import GUARDS
from gdcluster.engine.i18n import Message
from gdcluster.engine.policies import policy_for
from gdcluster.engine.procedure_acts import open_procedure  # noqa: F401 (registers its acts)
from gdcluster.states.workflow import PREVIOUS, InvalidDefinition, Rule, Workflow

if TYPE_CHECKING:
    from transitions import Machine

__all__ = ["Lifecycle"]


class Lifecycle:
    """A workflow whose every name is resolved; its Machine; the row a trigger takes."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        creations = [rule for rule in workflow.rules if not rule.sources]
        if len(creations) != 1:
            raise InvalidDefinition("workflow.toml: exactly one row creates a case "
                                    f"(no sources), not {len(creations)}")
        #: The row that creates a case (``create``): no Machine transition, no source state.
        self.creation = creations[0]
        #: The triggers a case can be sent (every row with a source state).
        self.triggers = frozenset(rule.trigger for rule in workflow.rules if rule.sources)
        self.finals = frozenset(state.name for state in workflow.states if state.final)
        #: States that end a case (final or closed): entering one cancels its deadlines.
        self.ends = self.finals | workflow.closed_states
        #: States whose entry records the state the case came from.
        self.remembering = frozenset(state.name for state in workflow.states if state.remembers)
        #: Triggers only a round command fires (trigger -> the command).
        self.round_only = {rule.trigger: rule.fired_by for rule in workflow.rules
                           if rule.fired_by is not None}
        self._bound = [(rule, *_resolve(rule)) for rule in workflow.rules if rule.sources]
        #: Triggers a guard of which reads the case's application: the act reads it with
        #: the case, in the same statement.
        self.reading_application = frozenset(
            rule.trigger for rule in workflow.rules
            if GUARDS.reading_application.intersection(rule.guards))
        #: Triggers a guard of which locks the case's round: the act locks it with the case
        #: (PostgreSQL), in the same statement.
        self.locking_round = frozenset(
            rule.trigger for rule in workflow.rules
            if GUARDS.locking_round.intersection(rule.guards))
        self._machine: Machine | None = None
        #: trigger -> source state -> the Machine's transitions (see ``_walks``); a trigger
        #: missing here is fired through the Machine
        self._walks: dict[str, dict[str, tuple[_Walk, ...]]] = {}
        self._building = threading.Lock()
        self._payload_keys: dict[str, frozenset[str]] = {}

    @classmethod
    def of(cls, workflow: Workflow) -> Lifecycle:
        """The process's one lifecycle of ``workflow``, bound on first asking; keyed by the
        workflow's content, so an equal table shares it and another table never does."""
        lifecycle = _LIFECYCLES.get(workflow)
        if lifecycle is None:
            lifecycle = _LIFECYCLES.setdefault(workflow, cls(workflow))
        return lifecycle

    @property
    def machine(self) -> Machine:
        """The one Machine (built on first use, then shared by every act of the process)."""
        machine = self._machine
        if machine is None:
            with self._building:
                if self._machine is None:
                    built = self._build()
                    self._walks = _walks(built)
                    self._machine = built
                machine = self._machine
        return machine

    def take(self, act: Act) -> Rule:
        """Fire ``act.trigger`` on ``act``: the row the Machine took, its checks passed, its
        effect run and the case moved — or the refusal of whichever check said no."""
        machine = self.machine
        state, trigger = act.state, act.trigger
        try:
            walks = self._walks.get(trigger)
            if walks is not None and state in machine.states:
                moved = _walk(walks, state, act)
            else:
                moved = machine.events[trigger].trigger(act)
        except Exception as error:
            # imported here, only when something failed (``machine`` imported the package)
            from transitions import MachineError

            if not isinstance(error, MachineError):
                raise
            # no row of this trigger leaves this state
            allowed = ", ".join(machine.get_triggers(state)) or Message("none (final)")
            raise TransitionRefused(
                Message("case {id} is {state}: {trigger} is not allowed (allowed now: "
                        "{allowed})", id=act.case.id, state=state, trigger=trigger,
                        allowed=allowed),
                case_id=act.case.id, trigger=trigger, state=state, reasons=[Reason.WRONG_STATE],
            ) from None
        if not moved:  # a row's `when`, or the state the case came from, answered no
            rows: list[Any] = machine.events[trigger].transitions[state]
            if any(transition.rule.dest == PREVIOUS for transition in rows):
                came = act.case.previous_state
                raise TransitionRefused(
                    Message("case {id} is {state}, and the state it came from is not recorded"
                            "{came}: it cannot {trigger} (a case closed before this was "
                            "recorded stays as it is)", id=act.case.id, state=state,
                            came=f" ({came})" if came else "", trigger=trigger),
                    case_id=act.case.id, trigger=trigger, state=state,
                    reasons=[Reason.NO_PREVIOUS_STATE],
                )
            ways = " or ".join(transition.rule.when for transition in rows)
            raise InvalidInput(Message("say which: {ways} (not {given!r})", ways=ways,
                                       given=act.payload.get("when")), field="when")
        return act.rule

    def payload_keys(self, trigger: str) -> frozenset[str]:
        """Every payload key some row of ``trigger`` takes (resolved once per trigger)."""
        found = self._payload_keys.get(trigger)
        if found is None:
            found = self._payload_keys[trigger] = frozenset().union(
                *(rule.payload_keys for rule in self.workflow.rules if rule.trigger == trigger))
        return found

    def _build(self) -> Machine:
        from transitions import Machine, Transition

        class RuleTransition(Transition):
            """A transition that knows the row of the table it comes from."""

            def __init__(self, *args: Any, rule: Rule, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.rule = rule

        class RuleMachine(Machine):
            transition_cls = RuleTransition

        machine = RuleMachine(
            model=None, states=list(self.workflow.state_names), initial=self.workflow.initial,
            auto_transitions=False, send_event=True, ignore_invalid_triggers=False,
            # not "state": that is a trigger (陈述申辩)
            model_attribute="workflow_state",
            before_state_change=[_taken],
        )
        for rule, guards, effect in self._bound:
            conditions: list[Any] = [_said(rule.when)] if rule.when is not None else []
            conditions.append(_admit)
            conditions.extend(_condition(guard) for guard in guards)
            before: Any = [_callback(effect)] if effect is not None else []
            if EVIDENCE in rule.payload_keys:
                before.append(_callback(store_evidence))
            for source in rule.sources:
                if rule.dest == PREVIOUS:
                    for dest in self.workflow.previous_states(source):
                        machine.add_transition(
                            rule.trigger, source, dest, conditions=[_came_from(dest),
                                                                    *conditions],
                            before=before, rule=rule,
                        )
                    continue
                machine.add_transition(
                    rule.trigger, source, rule.dest_from(source), conditions=conditions,
                    before=before, rule=rule,
                )
        return machine


_LIFECYCLES: dict[Workflow, Lifecycle] = {}


class _Walk:
    """One transition of the Machine as the walk runs it: its conditions, then the callbacks
    before the state changes (the Machine's ``before_state_change``, then its ``before``)."""

    __slots__ = ("callbacks", "conditions", "dest", "transition")

    def __init__(self, transition: Any, callbacks: tuple[Any, ...]) -> None:
        self.transition = transition
        self.conditions = tuple(condition.func for condition in transition.conditions)
        self.callbacks = callbacks
        self.dest = transition.dest


class _Event:
    """What a condition or callback is handed on the walk: the act (``model``) and the
    transition being tried, as the Machine's event data carries them."""

    __slots__ = ("model", "transition")

    def __init__(self, model: Act) -> None:
        self.model = model
        self.transition: Any = None


def _walks(machine: Any) -> dict[str, dict[str, tuple[_Walk, ...]]]:
    """The Machine's transitions of each event that the walk does exactly as the Machine
    would (see the module's docstring); events with anything more are left out."""
    if (machine.prepare_event or machine.finalize_event or machine.on_exception
            or machine.after_state_change or machine.on_final or machine.has_queue
            or not machine.send_event or machine.ignore_invalid_triggers
            or not all(callable(callback) for callback in machine.before_state_change)):
        return {}
    plain_states = {name for name, state in machine.states.items()
                    if not (state.on_enter or state.on_exit or state.final
                            or state.ignore_invalid_triggers)}
    walks: dict[str, dict[str, tuple[_Walk, ...]]] = {}
    for name, event in machine.events.items():
        by_state: dict[str, tuple[_Walk, ...]] = {}
        for source, transitions in event.transitions.items():
            if source not in plain_states or not all(
                    not transition.prepare and not transition.after
                    and transition.dest in plain_states
                    and all(condition.target is True and callable(condition.func)
                            for condition in transition.conditions)
                    and all(callable(callback) for callback in transition.before)
                    for transition in transitions):
                break
            by_state[source] = tuple(
                _Walk(transition, (*machine.before_state_change, *transition.before))
                for transition in transitions)
        else:
            walks[name] = by_state
    return walks


def _walk(walks: dict[str, tuple[_Walk, ...]], state: str, act: Act) -> bool:
    """Fire on ``act`` in ``state`` by the walk: whether a transition was taken (the
    Machine's ``MachineError`` when none leaves ``state``)."""
    found = walks.get(state)
    if found is None:
        from transitions import MachineError

        raise MachineError(f"Can't trigger event {act.trigger} from state {state}!")
    event = _Event(act)
    for walk in found:
        event.transition = walk.transition
        for condition in walk.conditions:
            if condition(event) != True:  # noqa: E712  (the Machine's test: not == True)
                break
        else:
            for callback in walk.callbacks:
                callback(event)
            act.workflow_state = walk.dest
            return True
    return False


def _resolve(rule: Rule) -> tuple[tuple[Check, ...], Check | None]:
    where = f"trigger {rule.trigger!r}" + (f" ({rule.when})" if rule.when else "")
    guards = tuple(GUARDS.resolve(name, where) for name in rule.guards)
    effect = EFFECTS.resolve(rule.effect, where) if rule.effect is not None else None
    read = frozenset().union(*(GUARDS.reads(name) for name in rule.guards),
                             EFFECTS.reads(rule.effect) if rule.effect is not None else ())
    if rule.when is not None:
        read |= {"when"}
    if EVIDENCE in rule.payload_keys:  # the files the act carries, stored after its effect
        read |= {EVIDENCE}
    unread, undeclared = rule.payload_keys - read, read - rule.payload_keys
    if unread or undeclared:
        raise InvalidDefinition(
            f"workflow.toml: {where} "
            + (f"takes {sorted(unread)}, which no guard or effect of it reads" if unread else
               f"does not take {sorted(undeclared)}, which its guards or effect read")
            + " (requires/accepts must be what they read)")
    return guards, effect


# ---------------------------------------------------------------------------- conditions
def _said(way: str) -> Callable[[Any], bool]:
    def said(event: Any) -> bool:
        return bool(event.model.payload.get("when") == way)

    said.__name__ = f"when_{way}"
    return said


def _came_from(state: str) -> Callable[[Any], bool]:
    def came_from(event: Any) -> bool:
        return bool(event.model.case.previous_state == state)

    came_from.__name__ = f"came_from_{state}"
    return came_from


def _admit(event: Any) -> bool:
    """Who, what and under which policy: the row's actors, its payload (what it requires, and
    nothing it does not take), and the policy version the case was submitted under (its
    digest; refused when not shipped)."""
    act: Act = event.model
    rule: Rule = event.transition.rule
    _authorize(rule, act)
    unknown = sorted(set(act.payload) - rule.payload_keys) if act.payload else None
    if unknown:
        raise InvalidInput(
            Message("{trigger} does not take {key!r}; it takes {keys}", trigger=rule.trigger,
                    key=unknown[0],
                    keys=", ".join(sorted(rule.payload_keys)) or Message("nothing")),
            field=unknown[0])
    for name in rule.requires:
        value = act.payload.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidInput(Message("is required"), field=name)
    act.policy = policy_for(act.case.policy, act.case.policy_digest)
    return True


def _condition(guard: Check) -> Callable[[Any], bool]:
    def condition(event: Any) -> bool:
        guard(event.model)
        return True

    condition.__name__ = guard.__name__
    return condition


def _callback(effect: Check) -> Callable[[Any], None]:
    def callback(event: Any) -> None:
        effect(event.model)

    callback.__name__ = effect.__name__
    return callback


def _taken(event: Any) -> None:
    event.model.rule = event.transition.rule


def _authorize(rule: Rule, act: Act) -> None:
    """``PermissionDenied`` unless the row lets ``act.actor`` fire it on this case: a city acts
    only on its own counties' cases, a county only on its own cases, anyone but the scheduler
    may raise a real-name objection."""
    who, case = act.actor, act.case
    allowed = rule.actors  # a few names: tested in place
    if "anyone" in allowed and who.kind != "system":
        return
    ok = who.kind in allowed and (
        who.kind in ("province", "system")
        or (who.kind == "city" and who.region == case.city)
        or (who.kind == "county" and who.region == case.county)
    )
    if not ok:
        kinds = " or ".join(
            f"{kind}:{case.city}" if kind == "city" else
            f"county:{case.county}" if kind == "county" else kind
            for kind in rule.actors
        )
        raise PermissionDenied(
            Message("{who} may not {trigger} case {id} ({county}); only {kinds} may", who=who,
                    trigger=rule.trigger, id=case.id, county=case.county, kinds=kinds),
            actor=str(who), trigger=rule.trigger, case_id=case.id,
        )
