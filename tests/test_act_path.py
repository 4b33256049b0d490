"""The act path on prepared statements (issue 16): what it reads is what SQLAlchemy would read,
its errors are SQLAlchemy's, an act of the table makes no ORM session, and SQLite's
``synchronous`` is FULL unless the engine is opened otherwise. Counted, never timed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError
from support import CITY, COUNTY, Walker

from gdcluster.engine import Engine, InvalidInput, TransitionRefused
from gdcluster.engine.models import Case


def _core_rows(connection: Any, statement: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(statement, params)]


def test_prepared_rows_are_the_rows_core_reads(engine: Engine, walker: Walker) -> None:
    """The case with its round (and its application), and the case's deadlines, objections
    and reports, read on the driver's cursor: value for value what ``Connection.execute``
    returns, types converted alike (aware instants, dates, JSON)."""
    from gdcluster.engine import case_rows

    case_id = walker.create()
    engine.fire(case_id, "submit", COUNTY)
    engine.fire(case_id, "return", CITY, reason="补正材料")
    statements = [
        (case_rows._load_statement(), {"case_id": case_id}),
        (case_rows._load_with_application(), {"case_id": case_id}),
        (case_rows.case_parts(), {"case_id": case_id}),
    ]
    from gdcluster.engine.prepared import Prepared

    with engine.store.engine.begin() as connection:
        for statement, params in statements:
            prepared = [tuple(row) for row in Prepared(statement).rows(connection, params)]
            assert prepared == _core_rows(connection, statement, params)
            assert prepared  # something was read: the comparison compares something
        loaded = case_rows.load(connection, case_id, application=True)
        assert loaded is not None
        case, round_row, application, parts = loaded
        assert [tuple(part) for part in parts] == _core_rows(
            connection, case_rows.case_parts(), {"case_id": case_id})
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
    from sqlalchemy import orm

    made: list[object] = []

    class Counted(orm.Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    case_id = walker.create()
    # the engine imports the ORM's Session where it makes one (``store.joined_session``)
    monkeypatch.setattr(orm, "Session", Counted)
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


def test_an_act_of_the_table_sends_its_audit_row_last(engine: Engine, walker: Walker) -> None:
    """The case's deadlines, objections and reports are read with the case, and whether
    records wait for the chain to vouch for them is asked by the audit row's own insert: after
    that row an act sends nothing but its commit. Per act: the case read, its write, the head
    moved, the row (a recommendation also counts the city's recommendations, after locking
    the round: on PostgreSQL, with the case, in the same statement)."""
    from sqlalchemy import event

    case_id = walker.create()
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(" ".join(statement.split()))

    postgresql = engine.store.engine.dialect.name == "postgresql"
    event.listen(engine.store.engine, "before_cursor_execute", note)
    try:
        for trigger, who, extra in (("submit", COUNTY, 0), ("review", CITY, 0),
                                    ("recommend", CITY, 1)):
            seen.clear()
            engine.fire(case_id, trigger, who)
            assert ("FOR UPDATE OF gd_case, gd_round" in seen[0]) == (
                postgresql and trigger == "recommend"), seen[0]
            assert seen[-1].startswith("INSERT INTO gd_audit"), seen
            assert " RETURNING " in seen[-1] and "attest_seq IS NULL" in seen[-1]
            assert len(seen) == 4 + extra, seen
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", note)
    assert engine.verify_audit().ok


def test_an_act_hands_back_its_case_as_stored(engine: Engine, walker: Walker) -> None:
    """The view an act returns — its deadlines, objections and reports read with the case
    when the act changed none of them, read after the act when it did — is the case as a
    later read finds it."""
    case_id = walker.create()
    for trigger, who, payload in (("submit", COUNTY, {}), ("return", CITY, {"reason": "补正"}),
                                  ("submit", COUNTY, {}), ("review", CITY, {})):
        view = engine.fire(case_id, trigger, who, **payload)
        assert view == engine.get(case_id)
    assert [deadline["status"] for deadline in view.deadlines]  # the correction's, settled


def test_records_made_outside_an_act_are_vouched_for_by_the_next(
        engine: Engine, walker: Walker) -> None:
    """A refused attempt (recorded in a transaction of its own) waits for the next act, whose
    audit row's insert finds it and whose row then vouches for it."""
    from gdcluster.engine.records import Refusal

    case_id = walker.create()
    with pytest.raises(TransitionRefused):
        engine.fire(case_id, "review", CITY)  # a drafted case is not reviewed
    engine.fire(case_id, "submit", COUNTY)
    with engine.store.read() as session:
        refusals = session.scalars(select(Refusal)).all()
    assert refusals and all(refusal.attest_seq is not None for refusal in refusals)
    assert engine.verify_audit().ok


def test_acts_on_a_sqlite_file_reuse_one_writer_connection(
        engine: Engine, walker: Walker) -> None:
    """On a SQLite file, acts after the first check no connection out of the pool: the store
    keeps its writer connection. A refused act hands it back (the pool rolls back what it
    held), and the next act takes one again, once; nothing of the refused act is written."""
    from sqlalchemy import event

    if engine.store.dialect != "sqlite":
        assert not engine.store._hold  # PostgreSQL: every transaction from the pool
        return
    case_id, other = walker.create(), walker.create()
    engine.fire(case_id, "submit", COUNTY)
    checkouts: list[object] = []
    listener = lambda *_args: checkouts.append(_args)  # noqa: E731
    event.listen(engine.store.engine, "checkout", listener)
    try:
        engine.fire(case_id, "review", CITY)
        engine.fire(other, "submit", COUNTY)
        writes = len(checkouts)
        with pytest.raises(TransitionRefused):
            engine.fire(other, "recommend", CITY)
        refused = len(checkouts)
        engine.fire(other, "review", CITY)
        engine.fire(case_id, "recommend", CITY)
    finally:
        event.remove(engine.store.engine, "checkout", listener)
    # the refusal is recorded in a transaction of its own, from the pool (one checkout), and
    # the writer connection, given back on the refusal, is taken again for the next act
    assert (writes, refused, len(checkouts)) == (0, 1, 2)
    assert [engine.get(case_id).state, engine.get(other).state] == ["recommended",
                                                                    "city_reviewed"]
    assert engine.verify_audit().ok


def test_what_an_act_hands_out_holds_exactly_its_dataclass_fields(
        engine: Engine, walker: Walker) -> None:
    """The case view an act returns and the event its subscribers hear are built with their
    fields set in one step, not by the frozen dataclasses' per-field ``__init__``: each holds
    exactly its class's fields, equal to the one the class's own constructor makes."""
    from dataclasses import fields, replace

    heard: list[Any] = []
    engine.subscribe(heard.append)
    view = engine.fire(walker.create(), "submit", COUNTY)
    for made in (view, heard[-1]):
        names = [field.name for field in fields(made)]
        assert list(vars(made)) == names
        assert made == replace(made) == type(made)(**{name: getattr(made, name)
                                                     for name in names})
    assert heard[-1].trigger == "submit" and heard[-1].at.utcoffset().total_seconds() == 8 * 3600
