"""The act as guards and effects see it, and the registry that names them for workflow.toml.

A guard checks and refuses (``raise act.refuse(...)``, with the facts); an effect changes rows
and fills in what the audit row will say. Neither commits: the act kernel owns the transaction,
so a failure anywhere leaves nothing behind. Each is registered under the name workflow.toml
gives it::

    GUARDS = Registry("guard")

    @GUARDS.register("city_quota")
    def city_quota(act: Act) -> None: ...

    @EFFECTS.register("return", reads=("reason", "fields", "due"))
    def return_for_correction(act: Act) -> None: ...

``reads`` names the payload keys the function reads. A new trigger is a row in workflow.toml
plus, where it needs them, a registered guard or effect: the lifecycle resolves every name when
the engine opens and refuses an unknown one then (``InvalidDefinition``), never when the act
fires; it also refuses a row whose payload keys (``requires``, ``accepts``) are not exactly
what its guards and effect read, so that a key the row declares is never ignored and a key an
effect reads is never unreachable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from gdcluster.engine.actors import Actor
from gdcluster.engine.clock import local_date
from gdcluster.engine.errors import InvalidInput, NotFound, TransitionRefused
from gdcluster.engine.i18n import Message
from gdcluster.engine.parse import MAX_ID, TEXT_LIMIT, as_date, clean_text
from gdcluster.engine.views import load_round
from gdcluster.states.workflow import InvalidDefinition, Rule

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.engine.models import Case, Objection, Round
    from gdcluster.states.policy import Policy

__all__ = ["Act", "Check", "Registry"]


@dataclass
class Act:
    """One act in progress: the case, who, what was given, and what the audit row will say.

    It is also what the one ``transitions`` Machine fires on: ``state`` reads and moves the
    case's state, so no case is ever bound to the Machine.
    """

    #: The kernel's transaction the act runs in (``session``, ``connection``).
    transaction: Any
    case: Case
    trigger: str
    actor: Actor
    payload: dict[str, Any]
    now: datetime
    calendar: Callable[[], WorkCalendar]
    #: The policy the case is judged under; set once the act is admitted, before any guard.
    policy: Policy = field(init=False)
    #: The row of the table the Machine took; set as the transition begins.
    rule: Rule = field(init=False)
    reason: str | None = None
    audit: dict[str, Any] = field(default_factory=dict)
    #: The case's round as the act read it with the case (``Kernel.act``), if it did.
    loaded_round: Any = field(default=None, repr=False)
    #: ... and read under its row lock (PostgreSQL), with the case, in the same statement.
    round_locked: bool = field(default=False, repr=False)
    #: The case's application as stored: as read with the case (``Kernel.act``), or once the
    #: act has read or written it.
    stored_application: str | None = field(default=None, repr=False)

    @property
    def session(self) -> Session:
        """An ORM session in the act's transaction (made when first asked for)."""
        return self.transaction.session

    @property
    def connection(self) -> Any:
        """The act's connection: its session's (flushed) when it has one."""
        from gdcluster.engine.store import sql_connection

        return sql_connection(self.transaction.executor())

    @property
    def state(self) -> str:
        return self.case.state

    @state.setter
    def state(self, value: str) -> None:
        self.case.state = value

    #: The attribute the Machine reads and moves (``state`` is also a trigger's name).
    workflow_state = state

    def refuse(self, message: str, *reasons: str, **facts: Any) -> TransitionRefused:
        return TransitionRefused(
            message,
            case_id=self.case.id,
            trigger=self.trigger,
            state=self.case.state,
            reasons=reasons,
            **facts,
        )

    @property
    def today(self) -> date:
        return local_date(self.now)

    def round(self, *, lock: bool = False) -> Round:
        """The case's round: as read with the case when the act did, else from the identity
        map when this act already read it. ``lock`` serializes the acts of one round on
        PostgreSQL; SQLite's writers are serialized by ``BEGIN IMMEDIATE`` already, so no row
        lock is taken there."""
        if self.loaded_round is not None:
            if (lock and not self.round_locked
                    and self.transaction.connection.dialect.name != "sqlite"):
                from gdcluster.engine.case_rows import load_round_locked

                self.loaded_round = load_round_locked(self.transaction.connection,
                                                      self.case.round_year)
                self.round_locked = True
            return self.loaded_round
        lock = lock and self.transaction.connection.dialect.name != "sqlite"
        return load_round(self.session, self.case.round_year, lock=lock)

    def application(self) -> str:
        """The case's application as stored (JSON text), read when first asked for: only the
        acts that judge or change an application load it (``gdcluster.engine.applications``)."""
        if self.stored_application is None:
            from gdcluster.engine.applications import stored_text

            assert self.case.id is not None  # an act's case is stored
            self.stored_application = stored_text(self.connection, self.case.id)
        return self.stored_application

    def store_application(self, stored: Any) -> str:
        """Replace the case's application with ``stored`` (``to_json`` of a validated one);
        returns the text stored."""
        from gdcluster.engine.applications import encode, write

        text = encode(stored)
        assert self.case.id is not None  # an act's case is stored
        write(self.connection, self.case.id, text)
        self.stored_application = text
        return text

    def objection(self) -> Objection:
        """The objection of this case that the payload names, or ``NotFound``."""
        from gdcluster.engine.models import Objection

        raw = self.payload.get("objection")
        try:
            objection_id = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise InvalidInput(Message("not an objection id: {raw!r}", raw=raw),
                               field="objection") from exc
        objection = (self.session.get(Objection, objection_id) if 1 <= objection_id <= MAX_ID
                     else None)
        if objection is None or objection.case_id != self.case.id:
            raise NotFound(Message("objection of case {id}", id=self.case.id), objection_id)
        return objection

    def text(self, name: str, *, required: bool = True, limit: int = TEXT_LIMIT,
             one_line: bool = False) -> str | None:
        return clean_text(self.payload.get(name), name, required=required, limit=limit,
                          one_line=one_line)

    def day(self, name: str) -> date | None:
        return as_date(self.payload.get(name), name)


#: A guard or an effect: it reads and changes the act; a guard refuses by raising.
Check = Callable[[Act], None]


class Registry:
    """Guards, or effects, by the names workflow.toml gives them."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._functions: dict[str, Check] = {}
        self._reads: dict[str, frozenset[str]] = {}
        #: The functions that read the case's application (``Act.application``).
        self.reading_application: set[str] = set()
        #: The functions that lock the case's round (``Act.round(lock=True)``).
        self.locking_round: set[str] = set()

    def register(self, name: str, *, reads: tuple[str, ...] = (), application: bool = False,
                 locks_round: bool = False) -> Callable[[Check], Check]:
        """Decorator: register the function under ``name``, reading the payload keys
        ``reads`` (and the case's application, when ``application``: the act then reads it
        with its case; ``locks_round``: it asks ``act.round(lock=True)``, and the act locks
        the round with its case); a name is registered once."""

        def add(function: Check) -> Check:
            if name in self._functions:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._functions[name] = function
            self._reads[name] = frozenset(reads)
            if application:
                self.reading_application.add(name)
            if locks_round:
                self.locking_round.add(name)
            return function

        return add

    def reads(self, name: str) -> frozenset[str]:
        """The payload keys the function registered as ``name`` reads."""
        return self._reads.get(name, frozenset())

    def resolve(self, name: str, where: str) -> Check:
        """The function registered as ``name``, or ``InvalidDefinition`` naming it."""
        function = self._functions.get(name)
        if function is None:
            raise InvalidDefinition(
                f"workflow.toml: {where} names the {self.kind} {name!r}, which does not exist "
                f"(known: {', '.join(sorted(self._functions))})"
            )
        return function

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._functions)
