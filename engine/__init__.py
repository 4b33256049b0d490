"""The gdcluster engine: the public surface for the CLI and for host systems.

    from gdcluster.engine import Engine, Actor
    engine = Engine.open("sqlite:///gdcluster.db")
    engine.fire(case_id, "submit", Actor.parse("county:佛山市南海区@李四"))
"""

from gdcluster.engine.actors import Actor
from gdcluster.engine.api import CaseView, Engine, ScoreRow, TransitionEvent
from gdcluster.engine.clock import Clock, FakeClock, SystemClock
from gdcluster.engine.errors import (
    CalendarGap,
    ConcurrentModification,
    ConnectionLost,
    DatabaseReplaced,
    DatabaseUnavailable,
    EngineError,
    InvalidInput,
    NotFound,
    NotInitialized,
    PermissionDenied,
    SimulationOnly,
    TransitionRefused,
)

__all__ = [
    "Actor",
    "CalendarGap",
    "CaseView",
    "Clock",
    "ConcurrentModification",
    "ConnectionLost",
    "DatabaseReplaced",
    "DatabaseUnavailable",
    "Engine",
    "EngineError",
    "FakeClock",
    "InvalidInput",
    "NotFound",
    "NotInitialized",
    "PermissionDenied",
    "ScoreRow",
    "SimulationOnly",
    "SystemClock",
    "TransitionEvent",
    "TransitionRefused",
]
