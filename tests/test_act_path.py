"""The act path on prepared statements (issue 16): what it reads is what SQLAlchemy would read,
its errors are SQLAlchemy's, an act of the table makes no ORM session, and SQLite's
``synchronous`` is FULL unless the engine is opened otherwise. Counted, never timed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError
from support import CITY, COUNTY, Walker

from gdcluster.engine import Engine, InvalidInput
from gdcluster.engine.models import Case


def _core_rows(connection: Any, statement: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(statement, params)]


def test_prepared_rows_are_the_rows_core_reads(engine: Engine, walker: Walker) -> None:
    """The case with its round (and its application), and the case's deadlines, objections
    and reports, read on the driver's cursor: value for value what ``Connection.execute``
    returns, types converted alike (aware instants, dates, JSON)."""
    from gdcluster.engine import case_rows
    from gdcluster.engine.views import _case_parts

    case_id = walker.create()
    engine.fire(case_id, "submit", COUNTY)
    engine.fire(case_id, "return", CITY, reason="补正材料")
    statements = [
        (case_rows._load_statement(), {"case_id": case_id}),
        (case_rows._load_with_application(), {"case_id": case_id}),
        (_case_parts(), {"case_id": case_id}),
    ]
    from gdcluster.engine.prepared import Prepared

    with engine.store.engine.begin() as connection:
        for statement, params in statements:
            prepared = [tuple(row) for row in Prepared(statement).rows(connection, params)]
            assert prepared == _core_rows(connection, statement, params)
            assert prepared  # something was read: the comparison compares something
        loaded = case_rows.load(connection, case_id, application=True)
        assert loaded is not None
        case, round_row, application = loaded
        assert (case.state, case.correction_due is not None) == ("drafted", True)
        assert round_row is not None and round_row.year == 2024
        assert application == connection.execute(
            text("SELECT data FROM gd_application WHERE case_id = :id"), {"id": case_id}
        ).scalar()
        assert case_rows.load(connection, 10**6) is None


def test_a_failing_prepared_statement_raises_what_sqlalchemy_raises(engine: Engine) -> None:
    from gdcluster.engine.prepared import Prepared

    broken = Prepared(select(Case.id).where(Case.id == bindparam("case_id")))
    with engine.store.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE gd_case RENAME TO gd_case_moved")
        with pytest.raises(DBAPIError):
            broken.rows(connection, {"case_id": 1})


def test_acts_of_the_table_make_no_orm_session(
        engine: Engine, walker: Walker, monkeypatch: pytest.MonkeyPatch) -> None:
    """submit, review and recommend run on the transaction's connection alone; an act whose
    effect works with model objects (an objection filed) makes its session when it asks."""
    from gdcluster.engine import kernel

    made: list[object] = []

    class Counted(kernel.Session):  # type: ignore[misc,name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    case_id = walker.create()
    monkeypatch.setattr(kernel, "Session", Counted)
    for trigger, who in (("submit", COUNTY), ("review", CITY), ("recommend", CITY)):
        engine.fire(case_id, trigger, who)
    assert made == []
    assert engine.get(case_id).state == "recommended"
    assert engine.verify_audit().ok


def test_sqlite_is_opened_full_unless_normal_is_asked_for(tmp_path: Any) -> None:
    from gdcluster.engine.clock import FakeClock

    url = f"sqlite:///{tmp_path / 'sync.db'}"
    Engine.init(url, simulation=True, clock=FakeClock("2024-03-01T09:00")).close()
    for asked, expected in ((None, 2), ("FULL", 2), ("NORMAL", 1)):
        engine = Engine.open(url, clock=FakeClock("2024-03-01T09:00"),
                             **({} if asked is None else {"synchronous": asked}))
        try:
            with engine.store.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == expected
        finally:
            engine.close()
    with pytest.raises(InvalidInput):
        Engine.open(url, clock=FakeClock("2024-03-01T09:00"), synchronous="OFF")
