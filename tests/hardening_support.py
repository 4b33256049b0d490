"""Helpers for the reliability and security tests of issue 6 (races, crashes, hostile input,
permissions, tampering, injection): databases a whole module shares, and snapshots that show
whether anything at all was written.

The PostgreSQL rule is conftest's: skipped on a developer machine without
``GDCLUSTER_TEST_PG``, a failure under CI.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pg_support import pg_url_or_skip, schema_url
from sqlalchemy import func, select
from sqlmodel import SQLModel

from gdcluster.engine import Engine
from gdcluster.engine.models import AuditHead, load_all

DATA = Path(__file__).parent / "data"
APPLICATION_FILE = DATA / "application-complete.json"
PROVINCE = "province@王处长"


@contextmanager
def pg_schema(*, fast: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards; yields its URL (``fast``: see
    ``pg_support.schema_url``)."""
    with schema_url(pg_url_or_skip(), fast=fast) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_db_url(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL of each back-end that every test of a module shares."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('shared-db') / 'gdcluster.db'}"
        return
    with pg_schema(fast=True) as url:
        yield url


def fresh_url(kind: str, folder: Path) -> Any:
    """A context manager yielding a new empty database of ``kind`` (sqlite/postgresql)."""
    @contextmanager
    def make() -> Iterator[str]:
        if kind == "sqlite":
            yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
        else:
            with pg_schema(fast=True) as url:
                yield url
    return make()


def backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def load_application() -> dict[str, Any]:
    from gdcluster.engine.application import load_application_file

    return load_application_file(APPLICATION_FILE.read_bytes(), APPLICATION_FILE.name)


@dataclass(frozen=True)
class Snapshot:
    """Every table's row count and the audit chain's head: equal snapshots, nothing written."""

    counts: dict[str, int]
    head: tuple[int, str]

    def without(self, *tables: str) -> dict[str, int]:
        return {name: count for name, count in self.counts.items() if name not in tables}


def snapshot(engine: Engine) -> Snapshot:
    load_all()  # count every table, those of gdcluster.engine.records included
    tables = sorted(SQLModel.metadata.tables.values(), key=lambda table: table.name)
    with engine.store.read() as session:
        counts = {table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                  for table in tables}
        head = session.get(AuditHead, 1)
        assert head is not None
        return Snapshot(counts, (head.seq, head.hash))
