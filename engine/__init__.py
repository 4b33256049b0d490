"""The gdcluster engine: the public surface for the CLI and for host systems.

    from gdcluster.engine import Engine, Actor
    engine = Engine.open("sqlite:///gdcluster.db")
    engine.fire(case_id, "submit", Actor.parse("county:佛山市南海区@李四"))

Everything a host system needs is named in ``__all__``; the rest of the package is the engine's
own. The names load on first use, so that importing a light module of the package
(``gdcluster.engine.parse``, whose bounds the CLI reads at start-up) loads no database layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdcluster import lazy_exports

__all__ = [
    "Actor",
    "CalendarGap",
    "CaseView",
    "Clock",
    "ClockBehind",
    "CloseResult",
    "ConcurrentModification",
    "ConnectionLost",
    "DatabaseReplaced",
    "DatabaseUnavailable",
    "DeadlineOutcome",
    "Engine",
    "EngineError",
    "FakeClock",
    "InvalidInput",
    "NotFound",
    "NotInitialized",
    "PendingDeadline",
    "PermissionDenied",
    "PolicyStatus",
    "PublicityResult",
    "Reason",
    "RecognitionResult",
    "RoundSummary",
    "ScoreRow",
    "SimulationOnly",
    "SystemClock",
    "TransitionEvent",
    "TransitionRefused",
    "WaitingFor",
]

_HOMES = {
    "Actor": "actors",
    "CalendarGap": "errors",
    "CaseView": "views",
    "Clock": "clock",
    "ClockBehind": "errors",
    "CloseResult": "rounds",
    "ConcurrentModification": "errors",
    "ConnectionLost": "errors",
    "DatabaseReplaced": "errors",
    "DatabaseUnavailable": "errors",
    "DeadlineOutcome": "sweep",
    "Engine": "api",
    "EngineError": "errors",
    "FakeClock": "clock",
    "InvalidInput": "errors",
    "NotFound": "errors",
    "NotInitialized": "errors",
    "PendingDeadline": "preview",
    "PermissionDenied": "errors",
    "PolicyStatus": "policies",
    "PublicityResult": "rounds",
    "Reason": "errors",
    "RecognitionResult": "recognition",
    "RoundSummary": "views",
    "ScoreRow": "views",
    "SimulationOnly": "errors",
    "SystemClock": "clock",
    "TransitionEvent": "kernel",
    "TransitionRefused": "errors",
    "WaitingFor": "errors",
}

if TYPE_CHECKING:
    from gdcluster.engine.actors import Actor
    from gdcluster.engine.api import Engine
    from gdcluster.engine.clock import Clock, FakeClock, SystemClock
    from gdcluster.engine.errors import (
        CalendarGap,
        ClockBehind,
        ConcurrentModification,
        ConnectionLost,
        DatabaseReplaced,
        DatabaseUnavailable,
        EngineError,
        InvalidInput,
        NotFound,
        NotInitialized,
        PermissionDenied,
        Reason,
        SimulationOnly,
        TransitionRefused,
        WaitingFor,
    )
    from gdcluster.engine.kernel import TransitionEvent
    from gdcluster.engine.policies import PolicyStatus
    from gdcluster.engine.preview import PendingDeadline
    from gdcluster.engine.recognition import RecognitionResult
    from gdcluster.engine.rounds import CloseResult, PublicityResult
    from gdcluster.engine.sweep import DeadlineOutcome
    from gdcluster.engine.views import CaseView, RoundSummary, ScoreRow

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
