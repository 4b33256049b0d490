"""The ``Engine`` facade's housekeeping acts and reads, apart from the cases: who may act as
whom (DESIGN §8a), the policies in force (第二十条) and the working-day calendar.

``Engine`` inherits them; they use only its public seams (``store``, ``clock``, ``simulation``
and the act ``kernel``).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gdcluster.engine.actors import Actor
from gdcluster.engine.errors import InvalidInput, PermissionDenied
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import col
from gdcluster.engine.parse import as_date

if TYPE_CHECKING:
    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.engine.clock import Clock
    from gdcluster.engine.kernel import Kernel
    from gdcluster.engine.policies import PolicyStatus
    from gdcluster.engine.store import Store

__all__ = ["Administration"]


class Administration:
    """Grants, policies and the calendar, for :class:`gdcluster.engine.Engine`."""

    store: Store

    if TYPE_CHECKING:
        @property
        def kernel(self) -> Kernel: ...

        @property
        def clock(self) -> Clock: ...

        @property
        def simulation(self) -> bool: ...

    # ------------------------------------------------------------------ who may act (§8a)
    def authorize(self, os_user: str, actor: Actor | str, settings: Any = None, *,
                  trigger: str = "act_as") -> Actor:
        """The actor ``os_user`` names, if that OS user may act as it (``engine/grants.py``:
        ``settings`` is the settings file's ``[actors]`` table as TOML reads it, and the
        database holds its grants); else ``PermissionDenied``, recorded with the refused
        attempts under ``trigger`` (what the user tried). ``system`` is refused on every
        database; simulation databases skip the rest. The CLI asks this before every act; a
        host system answers for its own users.
        """
        from gdcluster.engine import grants

        who = Actor.of(actor)
        try:
            if who.kind == "system" or not self.simulation:
                with self.store.read_connection() as connection:
                    grants.check_actor(connection, grants.os_user_name(os_user), who,
                                       grants.settings_grants(settings), trigger)
        except PermissionDenied as error:
            self.kernel.record_refusal(who, trigger, error)
            raise
        return who

    def grant_actor(self, os_user: str, actor: str, by: Actor | str, *,
                    first: bool = False) -> dict[str, Any]:
        """Let ``os_user`` act as the actors ``actor`` (a pattern) names: a province act,
        audited; returns what its audit row records. ``first``: only when the database holds
        no grant yet (``init`` granting its runner ``province``) — otherwise nothing is
        written and ``{}`` returned."""
        from gdcluster.engine import grants
        from gdcluster.engine.records import ActorGrant

        who = Actor.of(by)
        self.kernel.require(who, ("province",), "actor_grant", "grant actors")
        user, pattern = grants.os_user_name(os_user), grants.Pattern.parse(actor)
        now = self.clock.now()
        with self.kernel.transaction() as transaction:
            session = transaction.session
            if first and session.scalar(select(col(ActorGrant.id)).limit(1)) is not None:
                return {}
            payload = {"os_user": user, "actor": str(pattern)}
            event = transaction.record(actor=who, trigger="actor_grant", at=now,
                                       article=grants.ARTICLE, payload=payload)
            grants.grant(session, user, pattern, by=str(who), at=now, audit_seq=event.audit_seq)
        return payload

    def revoke_actor(self, os_user: str, actor: str, by: Actor | str) -> dict[str, Any]:
        """Take back a grant (``NotFound`` when there is none): a province act, audited."""
        from gdcluster.engine import grants

        who = Actor.of(by)
        self.kernel.require(who, ("province",), "actor_revoke", "revoke actors")
        user, pattern = grants.os_user_name(os_user), grants.Pattern.parse(actor)
        now = self.clock.now()
        with self.kernel.transaction() as transaction:
            grants.revoke(transaction.session, user, pattern)
            payload = {"os_user": user, "actor": str(pattern)}
            transaction.record(actor=who, trigger="actor_revoke", at=now,
                               article=grants.ARTICLE, payload=payload)
        return payload

    def actor_grants(self, by: Actor | str) -> list[dict[str, Any]]:
        """Every grant in the database (province only; reading writes nothing)."""
        from gdcluster.engine import grants

        self.kernel.require(Actor.of(by), ("province",), "actor_list", "list actor grants")
        with self.store.read() as session:
            return grants.grants(session)

    # ------------------------------------------------------------------ policies
    def policies(self) -> list[PolicyStatus]:
        """Every shipped policy: version, its own validity with extensions, in force today."""
        from gdcluster.engine.clock import local_date
        from gdcluster.engine.policies import policy_statuses

        with self.store.read() as session:
            return policy_statuses(session, local_date(self.clock.now()))

    def extend_policy(self, name: str, actor: Actor | str, *, until: date | str,
                      source: str) -> dict[str, Any]:
        """Extend policy ``name``'s own validity to ``until`` (province), under the document
        ``source`` (its 发文字号): an audited act. Returns what its audit row records."""
        from gdcluster.engine.parse import validate_doc_no
        from gdcluster.engine.policies import extend_policy

        who = Actor.of(actor)
        self.kernel.require(who, ("province",), "policy_extend",
                            Message("extend a policy"))
        day = as_date(until, "until")
        if day is None:
            raise InvalidInput("is required", field="until")
        source = validate_doc_no(source)
        now = self.clock.now()
        with self.kernel.transaction() as transaction:
            payload = extend_policy(transaction.session, name, day, source, str(who), now)
            transaction.record(actor=who, trigger="policy_extend", at=now, payload=payload,
                               article="第二十条（有效期）")
        return payload

    # ------------------------------------------------------------------ calendar
    def calendar(self) -> WorkCalendar:
        """The working-day calendar in force: built-in years and imported ones."""
        from gdcluster.engine.calendar import calendar_from_session

        with self.store.read() as session:
            return calendar_from_session(session)

    def workdays(self, start: date | str, n: int) -> date:
        """The ``n``-th working day counting ``start`` as day 1 (a publicity of n days ends
        then); ``CalendarGap`` when a year has no data."""
        day = as_date(start, "start")
        assert day is not None
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 366:
            raise InvalidInput("must be a whole number from 1 to 366", field="n")
        return self.calendar().add_workdays(day, n)

    def import_calendar(self, content: bytes, filename: str, actor: Actor | str) -> list[int]:
        """Load years of the State Council's holiday arrangement (YAML or TOML; province or
        system): an audited act; returns the years imported."""
        from gdcluster.engine.calendar import import_years, parse_calendar_file

        who = Actor.of(actor)
        self.kernel.require(who, ("province", "system"), "calendar_import",
                            Message("change the working-day calendar"))
        years = parse_calendar_file(content, filename)
        now = self.clock.now()
        with self.kernel.transaction() as transaction:
            import_years(transaction.session, years, now)
            transaction.record(
                actor=who, trigger="calendar_import", at=now,
                article="工作日历（国务院办公厅节假日安排）",
                payload={"file": filename, "years": sorted(years),
                         "sources": {str(y): d.source for y, d in years.items()}},
            )
        return sorted(years)

