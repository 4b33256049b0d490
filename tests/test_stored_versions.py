"""Data and rules stored before a change keep working, on SQLite and PostgreSQL (issue 11).

An application stored in an earlier shape (a plan as sentences, a violation without
``major``) is re-read by every act and by ``case check`` without an exception: the criteria
then fail it honestly. A case filed under an earlier version of its policy file is judged by
that version (found by its digest in ``states/policies/archive``) to the end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from support import CITY, COUNTY, Walker

from gdcluster.cli import cli
from gdcluster.engine import Engine, TransitionRefused
from gdcluster.engine.application import to_json, validate_application
from gdcluster.engine.models import Application, Case, Round
from gdcluster.states.policy import load_policy

#: An application as the first version stored it: plan goals as sentences, a fire-safety fine
#: recorded as `illegal` with no `major` (that version barred any violation).
LEGACY_APPLICATION_CHANGES: dict[str, Any] = {
    "development_plan": {"period": "2024–2026",
                         "goals": ["集群产值2026年突破260亿元", "做大做强"]},
    "incidents": [{"year": 2023, "kind": "illegal", "description": "消防设施不合格，罚款5000元"}],
}
GUANGDONG_V1 = "6f3e01d78cd55ad30f33307ac18e199ed1d80357a7e96386b4231a742ce22369"
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None})


def store(engine: Engine, case_id: int, **values: Any) -> None:
    """Write columns of a case (and its ``application``) as an earlier version would have
    left them."""
    with engine.store.write() as session:
        if "application" in values:
            session.execute(update(Application).where(Application.case_id == case_id)
                            .values(data=json.dumps(values.pop("application"))))
        if values:
            session.execute(update(Case).where(Case.id == case_id).values(**values))


def legacy(application: dict[str, Any]) -> dict[str, Any]:
    """The application as stored today, with the parts the first version stored differently."""
    return {**to_json(validate_application(application)), **LEGACY_APPLICATION_CHANGES}


def test_a_stored_legacy_application_is_read_by_acts_and_check(
        engine: Engine, walker: Walker, application: dict[str, Any]) -> None:
    """`case check`, `submit` and `review` re-read the stored legacy application without an
    exception: 13(九) fails (no measurable goal) and the violation whose `major` is unknown
    counts, each explained; review --pass is a refusal (exit 3), and an update in today's
    schema repairs the case."""
    case_id = walker.create()
    store(engine, case_id, application=legacy(application))
    report = engine.check(case_id)
    governance, incidents = report.item("governance"), report.item("incidents")
    assert governance.result == "fail" and "无可量化目标" in governance.value
    assert "“做大做强”缺少指标、单位、基期值、目标值" in governance.value
    assert incidents.result == "fail" and "未注明是否重大（早期版本录入的数据）" in incidents.value
    engine.fire(case_id, "submit", COUNTY)  # complete: a period and goals are there
    with pytest.raises(TransitionRefused) as caught:
        engine.fire(case_id, "review", CITY)
    assert caught.value.exit_code == 3
    assert set(caught.value.failed) == {"incidents", "governance"}
    engine.fire(case_id, "return", CITY, reason="请按新格式填报发展规划目标和事故情况")
    engine.fire(case_id, "update", COUNTY, data=application)
    assert engine.check(case_id).passed


def test_a_stored_legacy_application_through_case_check(
        engine: Engine, walker: Walker, application: dict[str, Any]) -> None:
    """`gdcluster case check` on the stored legacy application: exit 0, the plan and the
    incident explained, no traceback."""
    case_id = walker.create()
    store(engine, case_id, application=legacy(application))
    result = RUNNER.invoke(cli, ["--db", engine.url, "case", "check", str(case_id)])
    assert result.exit_code == 0, result.output
    assert "not measurable: 做大做强 — lacks 指标、单位、基期值、目标值" in result.stdout
    assert "2023 illegal: COUNTS: 未注明是否重大" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("FAILED")


def test_a_case_filed_under_the_old_policy_file_keeps_being_judged_by_it(
        engine: Engine, walker: Walker, application: dict[str, Any]) -> None:
    """A round and case recorded under guangdong-2023 version 1 (its digest) are judged by the
    archived version 1: there any 违法违规 record barred, so the fixture's minor fine fails
    13(一) for that case, while a case under today's file passes."""
    old = walker.create()
    new = walker.create(name="佛山市顺德区家电产业集群", county="佛山市顺德区")
    store(engine, old, policy_version=1, policy_digest=GUANGDONG_V1)
    with engine.store.write() as session:
        session.execute(update(Round).where(Round.year == 2024)
                        .values(policy_version=1, policy_digest=GUANGDONG_V1))
    judged = engine.check(old)
    assert judged.item("incidents").result == "fail"
    assert "一经查实即计入" in judged.item("incidents").value
    assert judged.item("area").rule == "集群占地面积一般不超过100平方公里"  # v1's own wording
    assert judged.item("area").text is None
    assert engine.check(new).passed
    engine.fire(old, "submit", COUNTY)
    with pytest.raises(TransitionRefused) as caught:
        engine.fire(old, "review", CITY)
    assert caught.value.failed == ["incidents"]
    assert engine.get(old).policy_version == 1
    assert engine.round_summary(2024).policy_version == 1


def test_a_case_whose_policy_version_is_not_shipped_is_refused(
        engine: Engine, walker: Walker) -> None:
    """A digest no shipped version has (a file edited in place): acts and `case check` refuse
    (exit 3) rather than judge by another text."""
    case_id = walker.create()
    store(engine, case_id, policy_digest="0" * 64)
    for call in (lambda: engine.check(case_id),
                 lambda: engine.fire(case_id, "submit", COUNTY)):
        with pytest.raises(TransitionRefused) as caught:
            call()
        assert "not shipped" in caught.value.message
    current = load_policy("guangdong-2023")  # version 3 since the revocation procedure
    assert (current.version, current.digest != "0" * 64) == (3, True)  # and it is not used instead
