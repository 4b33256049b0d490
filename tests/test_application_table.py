"""The application out of the case row (issue 16, migration 0013): upgrading a database made
at 0011 moves every application into ``gd_application`` as the text it was stored as, drops
``gd_case.application``, and the audit chain still verifies; acts read and write the new
table afterwards, in their own transactions."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session
from support import COUNTY, database_made_at

from gdcluster.engine import Engine
from gdcluster.engine.application import to_json, validate_application
from gdcluster.engine.clock import FakeClock


def _database_at_0011(db_url: str, application: dict[str, Any]) -> dict[int, str | None]:
    """A database the previous version made (schema 0011): round 2024 open, a drafted case
    with a complete application, one with none (NULL), each with its audit row vouching for
    it. Returns the application text stored for each case."""
    from gdcluster.engine import audit
    from gdcluster.engine.clock import parse_instant
    from gdcluster.engine.coverage import case_snapshot
    from gdcluster.states.policy import load_policy

    stored = {1: json.dumps(to_json(validate_application(application))), 2: None}
    store = database_made_at(db_url, "0011_chain_coverage")
    try:
        policy = load_policy("guangdong-2023")
        at = parse_instant("2024-03-02T09:00")
        json_value = ":app" if store.dialect == "sqlite" else "CAST(:app AS json)"
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO gd_round (year, kind, policy, policy_version, policy_digest, "
                "apply_by, recommend_by, quotas, opened_at, version) VALUES (2024, "
                "'recognition', :name, :version, :digest, '2024-05-31', '2024-06-30', "
                "'{\"*\": [0, 100]}', :at, 1)"),
                {"name": policy.name, "version": policy.version, "digest": policy.digest,
                 "at": at})
            for case_id, value in stored.items():
                connection.execute(text(
                    "INSERT INTO gd_case (id, round_year, name, city, county, industry, state, "
                    "version, policy, policy_version, policy_digest, application, created_at, "
                    f"updated_at) VALUES (:id, 2024, :name, '佛山市', '佛山市南海区', '铝型材', "
                    f"'drafted', 1, :policy, :version, :digest, {json_value}, :at, :at)"),
                    {"id": case_id, "name": f"升级前的集群{case_id}", "policy": policy.name,
                     "version": policy.version, "digest": policy.digest, "app": value,
                     "at": at})
            if store.dialect != "sqlite":
                connection.execute(text("SELECT setval(pg_get_serial_sequence('gd_case', "
                                        "'id'), 2)"))
        with Session(store.engine) as session, session.begin():
            for case_id in stored:
                audit.append(session, actor=COUNTY, trigger="create", article="升级前的申报",
                             at=at, case_id=case_id, round_year=2024, to_state="drafted",
                             attest={"case": case_snapshot(SimpleNamespace(
                                 state="drafted", version=1, valid_from=None,
                                 valid_until=None, previous_state=None))})
    finally:
        store.dispose()
    return stored


def test_the_upgrade_moves_each_application_as_stored_and_the_chain_verifies(
        db_url: str, application: dict[str, Any]) -> None:
    stored = _database_at_0011(db_url, application)
    engine = Engine.init(db_url, simulation=True, clock=FakeClock("2024-03-03T09:00"))
    try:
        report = engine.verify_audit()
        assert report.ok, report.message()
        columns = {column["name"] for column in inspect(engine.store.engine).get_columns(
            "gd_case")}
        assert "application" not in columns
        with engine.store.engine.connect() as connection:
            moved = dict(connection.execute(text(
                "SELECT case_id, data FROM gd_application ORDER BY case_id")).all())
        assert list(moved) == [1, 2]
        if engine.store.dialect == "sqlite":  # the very text, byte for byte
            assert moved[1] == stored[1]
        assert json.loads(moved[1]) == json.loads(stored[1] or "")
        assert json.loads(moved[2]) is None
        assert engine.application(1) == validate_application(application)
        # acts read the moved application (complete: submitted) and write new ones
        engine.fire(1, "submit", COUNTY)
        assert engine.get(1).state == "submitted"
        engine.fire(2, "update", COUNTY, data=application)
        assert engine.application(2) == validate_application(application)
        new = engine.create_case(round_year=2024, name="升级后的集群", county="佛山市南海区",
                                 industry="铝型材", data=application, actor=COUNTY)
        assert engine.application(new) == validate_application(application)
        report = engine.verify_audit()
        assert report.ok, report.message()
    finally:
        engine.close()


def test_an_act_that_fails_after_its_effect_leaves_the_application_as_it_was(
        engine: Engine, walker: Any, application: dict[str, Any]) -> None:
    """The application is written in the act's transaction: an update whose transaction fails
    after the effect wrote it (a transaction hook raises) leaves no trace of it."""
    case_id = walker.create()
    before = engine.application(case_id)
    version = engine.get(case_id).version

    def fail(_session: Any, _event: Any) -> None:
        raise RuntimeError("the notice could not be recorded")

    remove = engine.on_transaction(fail)
    try:
        engine.fire(case_id, "update", COUNTY, data={**application, "area_km2": "99"})
    except RuntimeError:
        pass
    else:
        raise AssertionError("the failing hook did not abort the act")
    finally:
        remove()
    assert engine.application(case_id) == before
    assert engine.get(case_id).version == version
