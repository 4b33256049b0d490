"""Helpers for host systems' own tests: a fake clock and a ready in-memory engine.

    from gdcluster.engine.testing import FakeClock, memory_engine
    clock = FakeClock("2024-03-01T09:00")
    engine = memory_engine(clock)
"""

from __future__ import annotations

from sqlmodel import SQLModel

from gdcluster.engine.api import Engine
from gdcluster.engine.audit import GENESIS
from gdcluster.engine.clock import Clock, FakeClock
from gdcluster.engine.models import SCHEMA_REVISION, AuditHead, Meta, load_all
from gdcluster.engine.store import Store

__all__ = ["FakeClock", "memory_engine", "prepare_schema"]


def prepare_schema(store: Store, *, simulation: bool = True) -> None:
    """Create the tables straight from the models (fast; a test keeps them equal to the
    Alembic migrations) and mark the database as a simulation one."""
    load_all()  # the tables of gdcluster.engine.records too
    SQLModel.metadata.create_all(store.engine)
    with store.write() as session:
        if session.get(AuditHead, 1) is None:
            session.add(AuditHead(id=1, seq=0, hash=GENESIS))
        for key, value in (("schema_revision", SCHEMA_REVISION),
                           ("simulation", "true" if simulation else "false")):
            if session.get(Meta, key) is None:
                session.add(Meta(key=key, value=value))


def memory_engine(clock: Clock | None = None, url: str = "sqlite://") -> Engine:
    """A fresh simulation engine on an in-memory SQLite database (or ``url``)."""
    store = Store(url, create=True)
    prepare_schema(store)
    return Engine(store, clock or FakeClock(), simulation=True)
