"""Random triggers by random actors at random moments, checking the engine's invariants after
every step. A moment before the last act is a refusal like any other (time only moves
forward): nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from support import COUNTY, PROVINCE, full_scores, rule_for

from gdcluster.engine import EngineError
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.testing import memory_engine
from gdcluster.states.workflow import PREVIOUS, load_workflow

WORKFLOW = load_workflow()
APPLICATION = json.loads(
    (Path(__file__).parent / "data" / "application-complete.json").read_text("utf-8")
)
ACTORS = [COUNTY, "county:佛山市禅城区", "city:佛山市", "city:广州市", PROVINCE, "system",
          "public@王五"]
TIMES = ["2024-03-01T09:00", "2024-09-27T10:00", "2024-10-08T10:00", "2024-10-12T09:00",
         "2025-03-01T09:00", "2027-06-01T09:00"]
PAYLOADS = {
    "update": {"data": APPLICATION},
    "return": {"reason": "补正"},
    "reject": {"reason": "不符合"},
    "score": {"expert": "专家", "scores": full_scores()},
    "publicize": {"start": "2024-09-27"},
    "object": {"name": "王五", "contact": "138", "evidence": "证据"},
    "resolve": {"objection": 1, "reason": "处理", "when": "dismiss"},
    "report": {"year": 2024, "data": {}},
    "change": {"kind": "spatial_scope", "detail": "扩区"},
    "propose_revocation": {"reason_code": "18.2", "facts": "虚假申报"},
    "state": {"text": "陈述申辩"},
    "maintain": {"reason": "维持"},
    "revoke": {"reason": "虚假申报属实"},
    "reinstate": {"reason": "纠错", "reference": "自我纠错"},
    "flag": {"reason": "逾期"},
    "report_overdue": {"year": 2024, "report_due": "2025-03-31"},
    "reopen": {"reason": "纠错"},
    "attach": {"content": b"%PDF-1.4 proof", "name": "证明.pdf", "kind": "证明材料"},
}


class LifecycleMachine(RuleBasedStateMachine):
    """Fires any trigger at any case as any actor at any of a few moments in the cycle."""

    @initialize()
    def setup(self) -> None:
        self.clock = FakeClock(TIMES[0])
        self.engine = memory_engine(self.clock)
        self.engine.open_round(2024, PROVINCE, apply_by="2024-05-31",
                               recommend_by="2024-06-30")
        self.cases: list[int] = []
        self.versions: dict[int, int] = {}
        self.acts = 0
        self.latest = TIMES[0]  # the moment of the last act recorded (ISO text, comparable)
        self.expert = 0

    def teardown(self) -> None:
        self.engine.close()

    @rule()
    def create(self) -> None:
        self.clock.set(self.latest)  # filed when the last act was: never before it
        case_id = self.engine.create_case(round_year=2024, name=f"集群{len(self.cases)}",
                                          county="佛山市南海区", industry="陶瓷",
                                          data=APPLICATION, actor=COUNTY)
        self.cases.append(case_id)
        self.versions[case_id] = 1
        self.acts += 1

    @rule(index=st.integers(0, 20), trigger=st.sampled_from(WORKFLOW.triggers),
          actor=st.sampled_from(ACTORS), moment=st.sampled_from(TIMES),
          outcome=st.sampled_from(["dismiss", "uphold"]))
    def fire(self, index: int, trigger: str, actor: str, moment: str, outcome: str) -> None:
        if not self.cases or trigger == "create":
            return
        case_id = self.cases[index % len(self.cases)]
        self.clock.set(moment)
        payload = dict(PAYLOADS.get(trigger, {}))
        if trigger == "score":
            self.expert += 1
            payload["expert"] = f"专家{self.expert}"
        if trigger == "resolve":
            objections = self.engine.get(case_id).objections
            payload.update(objection=objections[-1]["id"] if objections else 0, when=outcome)
        before = self.engine.get(case_id)
        head = self.engine.verify_audit().head_hash
        try:
            after = self.engine.fire(case_id, trigger, actor, **payload)
        except EngineError:
            now = self.engine.get(case_id)
            assert (now.state, now.version) == (before.state, before.version)
            assert self.engine.verify_audit().head_hash == head
            return
        rule_used = rule_for(WORKFLOW, trigger, before.state, payload.get("when"))
        assert rule_used is not None, f"{trigger} succeeded from {before.state}"
        assert rule_used.fired_by is None, f"{trigger} is a round command's"
        assert after.state == (before.previous_state if rule_used.dest == PREVIOUS
                               else rule_used.dest_from(before.state))
        assert after.version == before.version + 1
        self.versions[case_id] = after.version
        self.acts += 1
        self.latest = max(self.latest, moment)

    @invariant()
    def states_are_in_the_table(self) -> None:
        for case in self.engine.list_cases():
            assert case.state in WORKFLOW.state_names
            assert case.version == self.versions[case.id]

    @invariant()
    def audit_chain_verifies(self) -> None:
        report = self.engine.verify_audit()
        assert report.ok, report.message()
        assert report.rows == self.acts + 1  # + the round opening


LifecycleMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = LifecycleMachine.TestCase
