"""The one exception tree of gdcluster.

::

    EngineError                      exit 1  unexpected
    ├── InvalidInput                 exit 2  bad input; ``field`` names the path
    ├── NotFound                     exit 2  unknown case, round, objection, ...
    ├── NotInitialized               exit 2  database has no schema: run ``gdcluster init``
    ├── DatabaseUnavailable          exit 2  cannot open or use the database; says why
    │   └── DatabaseReplaced         exit 2  the SQLite file was deleted or replaced meanwhile
    ├── TransitionRefused            exit 3  wrong state, failed guard, closed window, quota
    │   └── WaitingFor               exit 3  refused until data or settings are supplied
    │       ├── CalendarGap          exit 3  working days needed for a year with no data
    │       └── ClockBehind          exit 3  the act is dated before the last audit row
    ├── PermissionDenied             exit 4  actor may not do this here
    │   └── SimulationOnly           exit 4  clock set on a real database
    └── ConcurrentModification       exit 5  lost an optimistic-locking race; retry
        └── ConnectionLost           exit 5  the database connection dropped; retry

Each error keeps its facts as attributes and writes its own message, so the CLI only formats
``code``, ``message`` and ``exit_code``. ``message`` is English (``--json`` and logs carry it);
``localized()`` is the same message in the language people read (``GDCLUSTER_LANG``, Chinese by
default), from the message catalog: an error whose class writes its message keeps the English
template as a msgid, a message raised as an ``i18n.Message`` keeps its own, and any other
message is looked up whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from gdcluster.engine.i18n import N_, Message, gettext, localize


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1
    code = "engine_error"

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts
        for key, value in facts.items():
            setattr(self, key, value)

    #: the English template ``message`` was made from, when the class writes its own message
    template: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    def as_message(self) -> Message:
        """``message`` as an ``i18n.Message`` that is shown as ``localized()`` says: for a
        message kept apart from its error (an import's per-file outcome)."""
        return _ErrorMessage(self)

    def localized(self) -> str:
        """The message in the current language, for people (``message`` stays English)."""
        if self.template is not None:
            return gettext(self.template).format(**self.facts)
        return localize(self.message)


class _ErrorMessage(Message):
    """An error's English message that localizes as the error does."""

    error: EngineError

    def __new__(cls, error: EngineError) -> _ErrorMessage:
        message = super().__new__(cls, "{text}", text=error.message)
        message.error = error
        return message

    def localized(self) -> str:
        return self.error.localized()


class InvalidInput(EngineError):
    exit_code = 2
    code = "invalid_input"
    field: str | None  # set from the facts, as each one is

    def __init__(self, message: str, *, field: str | None = None, **facts: Any) -> None:
        text = f"{field}: {message}" if field else message
        super().__init__(text, field=field, **facts)
        self.detail = message

    def localized(self) -> str:
        detail = localize(self.detail)
        field = self.facts.get("field")
        return f"{field}: {detail}" if field else detail


class NotFound(EngineError):
    exit_code = 2
    code = "not_found"

    #: the things looked up by name (``what``), for the catalog
    THINGS = (N_("case"), N_("round"), N_("复核 round"), N_("objection"), N_("policy"),
              N_("notice"))

    def __init__(self, what: str, key: Any) -> None:
        super().__init__(f"{what} {key!s} not found", what=what, key=key)

    def localized(self) -> str:
        key = self.facts["key"]
        return gettext("{what} {key} not found").format(
            what=localize(self.facts["what"]),
            key=key.localized() if isinstance(key, Message) else key)


class NotInitialized(EngineError):
    exit_code = 2
    code = "not_initialized"

    def __init__(self, url: str) -> None:
        template = N_("database {url} has no gdcluster schema (or an old one): run "
                      "`gdcluster init`")
        super().__init__(template.format(url=url), url=url)
        self.template = template


class DatabaseUnavailable(EngineError):
    """The database cannot be opened or used as asked: a missing file, a refused or
    unreachable server, an unknown database, a read-only file for an act. The message names
    the cause; ``url`` is the database's URL without its password."""

    exit_code = 2
    code = "database_unavailable"

    def __init__(self, message: str, *, url: str | None = None, **facts: Any) -> None:
        super().__init__(message, url=url, **facts)


class DatabaseReplaced(DatabaseUnavailable):
    """The SQLite file opened at the start is gone or is another file now: whatever was
    written since went into a file nobody can open any more, so nothing more is done or
    delivered, and the command fails."""

    code = "database_replaced"

    def __init__(self, path: str, *, deleted: bool) -> None:
        self.template = (
            N_("the database file {path} was deleted while this command ran: acts written since "
               "are not in any database, so nothing more is done and no notice is delivered; "
               "restore the database and run the command again") if deleted else
            N_("the database file {path} was replaced by another file while this command ran: "
               "acts written since are not in any database, so nothing more is done and no "
               "notice is delivered; restore the database and run the command again"))
        super().__init__(self.template.format(path=path), url=f"sqlite:///{path}", path=path,
                         deleted=deleted)
class Reason(StrEnum):
    """Why the workflow refused an act, as ``TransitionRefused.reasons`` lists it: compare with
    these, never with text. (A guard may add facts of its own, such as the missing fields of an
    application or the criteria not met, as further reasons.)"""

    WRONG_STATE = "wrong state"
    APPLICATION_DEADLINE_PASSED = "application deadline passed"
    RECOMMENDATION_DEADLINE_PASSED = "recommendation deadline passed"
    CITY_QUOTA_REACHED = "city quota reached"
    NOT_ENOUGH_EXPERTS = "not enough experts"
    OUTSIDE_PUBLICITY = "outside the publicity period"
    OBJECTION_NOT_OPEN = "objection not open"
    PUBLICITY_NOT_OVER = "publicity period not over"
    OPEN_OBJECTION = "open objection"
    NO_VALIDITY = "no validity"
    OUTSIDE_REVIEW_WINDOW = "outside the 复核 window"
    ALREADY_SCORED = "already scored"
    NOT_SCORED = "not scored"
    EXPERT_SCORED_TWICE = "expert scored twice"
    YEAR_NOT_COVERED = "year not covered"
    YEAR_NOT_BEGUN = "year not begun"
    ALREADY_FILED = "already filed"
    SUBMISSION_WINDOW_CLOSED = "submission window closed"
    ROUND_CLOSED = "round closed"
    ROUND_ACT_ONLY = "round act only"
    NO_PREVIOUS_STATE = "no previous state recorded"
    NO_REVIEW_ROUND = "no 复核 round covers the case"
    NO_CITY_OPINION = "no 复核初审 opinion"
    CITY_OPINION_NOT_PASSED = "复核初审 not passed"
    REVIEW_ROUND = "a 复核 round"
    HEARING_NOT_OVER = "hearing period not over"
    NO_PROCEDURE = "no revocation procedure recorded"
    NOT_SYSTEM_GROUND = "ground not opened by the system"
    NOT_SYSTEM_DECISION = "decision not the system's"
    GROUND_CURED = "ground cured"


class TransitionRefused(EngineError):
    exit_code = 3
    code = "refused"
    # set from the facts, as each one is
    case_id: int | None
    trigger: str | None
    state: str | None
    reasons: list[str]

    def __init__(
        self,
        message: str,
        *,
        case_id: int | None = None,
        trigger: str | None = None,
        state: str | None = None,
        reasons: Sequence[str] = (),
        **facts: Any,
    ) -> None:
        super().__init__(
            message, case_id=case_id, trigger=trigger, state=state, reasons=list(reasons), **facts
        )


class WaitingFor(TransitionRefused):
    """Refused until something outside the workflow is supplied (a year of the working-day
    calendar, the notices' contact settings): nothing is wrong with the case, so a deadline
    refused this way stays pending and the next sweep tries again."""

    code = "waiting"


class CalendarGap(WaitingFor):
    code = "calendar_gap"

    def __init__(self, year: int) -> None:
        template = N_("no working-day calendar data for {year}: the built-in data cover "
                      "2004–2026; load the State Council's {year} holiday arrangement with "
                      "`gdcluster calendar import FILE` (see README, 'Working-day "
                      "calendar')")
        super().__init__(template.format(year=year), year=year)
        self.template = template


class ClockBehind(WaitingFor):
    """Time only moves forward: an act dated before the last row of the audit trail is refused
    on every database. On a simulation database the clock was set back (``--now``); with the
    system clock another act was recorded meanwhile with a later time, and the act can be tried
    again. A deadline refused this way stays pending for the next sweep."""

    code = "clock_behind"

    def __init__(self, at: str, last_at: str, last_seq: int) -> None:
        template = N_("time only moves forward: this act is dated {at}, before the last act "
                      "of the audit trail (row {last_seq}, {last_at}); act at {last_at} or "
                      "later")
        super().__init__(template.format(at=at, last_at=last_at, last_seq=last_seq), at=at,
                         last_at=last_at, last_seq=last_seq)
        self.template = template


class PermissionDenied(EngineError):
    exit_code = 4
    code = "permission_denied"

    def __init__(
        self,
        message: str,
        *,
        actor: str | None = None,
        trigger: str | None = None,
        case_id: int | None = None,
        **facts: Any,
    ) -> None:
        super().__init__(message, actor=actor, trigger=trigger, case_id=case_id, **facts)


class SimulationOnly(PermissionDenied):
    code = "simulation_only"

    def __init__(self, url: str) -> None:
        template = N_("the clock can only be set on a simulation database (created with "
                      "`gdcluster init --simulation`); {url} is a real one, so acts are "
                      "dated by the system clock")
        super().__init__(template.format(url=url), url=url)
        self.template = template


class ConcurrentModification(EngineError):
    exit_code = 5
    code = "concurrent_modification"

    def __init__(self, case_id: int | None, expected_version: int | None = None) -> None:
        template = (
            N_("case {case_id} was changed by someone else meanwhile (expected version "
               "{expected_version}); reload and retry")
            if case_id is not None else
            N_("the database stayed locked by another writer; nothing was changed: retry")
        )
        super().__init__(template.format(case_id=case_id, expected_version=expected_version),
                         case_id=case_id, expected_version=expected_version)
        self.template = template


class ConnectionLost(ConcurrentModification):
    """The database connection dropped mid-transaction (the server restarted, an
    administrator ended the session, the network failed). The transaction is rolled back by
    the server, so nothing is half-written; running the command again is safe."""

    code = "connection_lost"

    def __init__(self, cause: str, *, committing: bool = False) -> None:
        template = (
            N_("database connection lost while committing ({cause}): the act was done whole or "
               "not at all, never half; check it (e.g. `gdcluster case show`) and retry")
            if committing else
            N_("database connection lost ({cause}); nothing was written: retry")
        )
        EngineError.__init__(self, template.format(cause=cause), case_id=None,
                             expected_version=None, cause=cause, committing=committing)
        self.template = template
