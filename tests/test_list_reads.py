"""Reads that show no application never read one — counted, never timed.

The application JSON is the largest value of a case; it lives in ``gd_application``, apart
from the case row (issue 16). ``case list``, ``todo``, ``scheduler pending`` and ``audit
verify`` show none of it and must never touch that table. Every statement sent is read
(``before_cursor_execute``); on SQLite the authorizer also reports, when each statement is
prepared, every table and column it reads (so ``SELECT *`` and views count too). Reading one
case's application (``Engine.application``, ``case show``) must count, or the counter proves
nothing.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from support import CITY, COUNTY, PROVINCE, Walker

from gdcluster.engine import Engine


@contextmanager
def application_reads(engine: Engine) -> Iterator[Counter[str]]:
    """Counts statements that touch the application (``gd_application``, or a column named
    ``application`` of ``gd_case``) while the block runs: ``sent`` the statements' text,
    ``read`` SQLite's authorizer."""
    sa_engine = engine.store.engine
    reads: Counter[str] = Counter()

    def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        if "gd_application" in text or "application" in text.lower():
            reads["sent"] += 1

    listeners: list[tuple[str, Any]] = [("before_cursor_execute", statement)]
    if sa_engine.dialect.name == "sqlite":

        def authorize(action: int, table: str | None, column: str | None, *_: Any) -> int:
            if action == sqlite3.SQLITE_READ and (
                    table == "gd_application" or (table, column) == ("gd_case", "application")):
                reads["read"] += 1
            return sqlite3.SQLITE_OK

        def checkout(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.set_authorizer(authorize)  # also expires its prepared statements

        def checkin(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.set_authorizer(None)

        listeners += [("checkout", checkout), ("checkin", checkin)]
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
    assert sum(reads.values()) == 0
    with application_reads(engine) as reads:  # the counter sees a read when there is one
        engine.application(created[0])
    assert reads["sent"] >= 1
    if engine.store.dialect == "sqlite":
        assert reads["read"] >= 1


def test_listing_todo_pending_and_verify_of_many_cases_never_touch_the_applications(
        engine: Engine, walker: Walker) -> None:
    """Sixty-one cases (filed by the batch path, some submitted and reviewed, so that deadlines
    and to-dos exist): `case list`, `todo`, `scheduler pending` and `audit verify` send no
    statement that names the application table, and SQLite reads nothing of it; `case show`
    and an act that judges the application do."""
    rows = [{"round_year": 2024, "name": f"测试产业集群{index}", "county": "佛山市南海区",
             "industry": "铝型材", "data": walker.application, "actor": COUNTY}
            for index in range(60)]
    ids = [walker.create(), *engine.create_cases(rows, chunk=25)]
    for case_id in ids[:10]:
        engine.fire(case_id, "submit", COUNTY)
    with application_reads(engine) as reads:
        listed = [view.id for view in engine.list_cases()]
        todo = engine.todo(PROVINCE)
        city_todo = engine.todo(CITY)
        pending = engine.pending("2030-12-31")
        report = engine.verify_audit()
    assert listed == ids
    assert report.ok, report.message()
    assert todo is not None and city_todo is not None and pending is not None
    assert sum(reads.values()) == 0, reads
    with application_reads(engine) as reads:
        engine.case_file(ids[0])
    assert reads["sent"] >= 1
    with application_reads(engine) as reads:
        engine.fire(ids[1], "review", CITY)
    assert reads["sent"] >= 1
