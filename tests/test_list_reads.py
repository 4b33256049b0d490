"""`case list` never reads the application column — counted, never timed.

The application JSON is the largest value of a case; listing shows none of it. On SQLite the
authorizer is called, when each statement is prepared, with the table and column of every
column it reads (so ``SELECT *`` counts too); on PostgreSQL the statements sent are read. Reading
one case whole (``Engine.get``) must count, or the counter proves nothing.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from support import Walker

from gdcluster.engine import Engine


@contextmanager
def application_reads(engine: Engine) -> Iterator[Counter[str]]:
    """Counts statements that read ``gd_case.application`` while the block runs."""
    sa_engine = engine.store.engine
    reads: Counter[str] = Counter()
    if sa_engine.dialect.name == "sqlite":

        def authorize(action: int, table: str | None, column: str | None, *_: Any) -> int:
            if action == sqlite3.SQLITE_READ and (table, column) == ("gd_case", "application"):
                reads["application"] += 1
            return sqlite3.SQLITE_OK

        def checkout(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.set_authorizer(authorize)  # also expires its prepared statements

        def checkin(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.set_authorizer(None)

        listeners = [("checkout", checkout), ("checkin", checkin)]
    else:

        def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
            if "application" in text:
                reads["application"] += 1

        listeners = [("before_cursor_execute", statement)]
    for name, listener in listeners:
        event.listen(sa_engine, name, listener)
    try:
        yield reads
    finally:
        for name, listener in listeners:
            event.remove(sa_engine, name, listener)


def test_case_list_never_reads_the_application_column(engine: Engine, walker: Walker) -> None:
    created = [walker.create(name=f"测试产业集群{index}") for index in range(3)]
    listing = getattr(engine, "list_cases", None) or engine.list
    with application_reads(engine) as reads:
        listed = [view.id for view in listing()]
        filtered = [view.id for view in listing(state="drafted", limit=2)]
    assert listed == created
    assert filtered == created[:2]
    assert reads["application"] == 0
    with application_reads(engine) as reads:  # the counter sees a read when there is one
        engine.get(created[0])
    assert reads["application"] >= 1
