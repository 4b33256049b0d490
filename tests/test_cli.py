"""The command line of DESIGN §11, driven as a user drives it: a SQLite file made with
``gdcluster init --simulation``, time moved with ``--now``, every command, every exit code."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gdcluster.cli import cli

DATA = Path(__file__).parent / "data"
APPLICATION = DATA / "application-complete.json"
APPLICATION_YAML = DATA / "application-complete.yaml"
SCORES = [DATA / f"scores-expert{n}.json" for n in (1, 2, 3)]
SCORES_INCOMPLETE = DATA / "scores-incomplete.json"
REPORT = DATA / "report-2024.json"
REVIEW = DATA / "review-2027.json"
CALENDAR_2027 = DATA / "calendar-2027.yaml"

PROVINCE = "province@王处长"
FOSHAN = "city:佛山市@张三"
GUANGZHOU = "city:广州市@陈科长"
NANHAI = "county:佛山市南海区@李四"
SHUNDE = "county:佛山市顺德区"

# Asia/Shanghai wall times of round 2024
T_OPEN = "2024-03-01T09:00"
T_RECOMMEND = "2024-06-20T09:00"
T_SCORE = "2024-07-10T09:00"
T_PUBLICIZE = "2024-09-27T10:00"

# experts' totals 90, 86 and 91.5: the case score is their mean
EXPECTED_SCORE = "89.1667"

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None, "GDCLUSTER_SETTINGS": None})


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Acts write their notices to ./outbox: keep them out of the working tree."""
    monkeypatch.chdir(tmp_path)


def gd(db: Path | str | None, *args: Any, actor: str | None = None, now: str | None = None,
       env: dict[str, str | None] | None = None) -> Result:
    """Run ``gdcluster [--db DB] [--as ACTOR] [--now NOW] ARGS…`` in-process."""
    argv: list[str] = []
    if db is not None:
        argv += ["--db", str(db)]
    if actor is not None:
        argv += ["--as", actor]
    if now is not None:
        argv += ["--now", now]
    argv += [str(arg) for arg in args]
    return RUNNER.invoke(cli, argv, env=env, catch_exceptions=False)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\n" \
                                  f"stderr: {result.stderr}"
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def state_of(db: Path, case_id: int) -> str:
    return as_json(gd(db, "case", "show", case_id, "--json"))["state"]


def create(db: Path, name: str, county: str, data: Path = APPLICATION) -> int:
    result = ok(gd(db, "case", "create", "--round", 2024, "--name", name, "--county", county,
                   "--industry", "灯饰照明", "--data", data, actor=f"county:{county}",
                   now=T_OPEN))
    return int(result.stdout)


def score_all(db: Path, case_id: int, now: str = T_SCORE) -> None:
    for number, path in enumerate(SCORES, start=1):
        ok(gd(db, "case", "score", case_id, "--expert", f"专家{number}", "--scores", path,
              actor=PROVINCE, now=now))


def copy_db(source: Path, target_dir: Path) -> Path:
    target = target_dir / source.name
    for suffix in ("", "-wal", "-shm"):
        sibling = Path(f"{source}{suffix}")
        if sibling.exists():
            shutil.copy(sibling, f"{target}{suffix}")
    return target


# ---------------------------------------------------------------------------------------------
# A small database shared by the error, list and batch tests (copied for each test), every act
# at T_OPEN (time only moves forward: a test's own acts are at T_OPEN or later):
#   1 南海 drafted   2 南海 submitted   3 顺德 submitted, fails 第十三条
#   4 天河, 5 越秀 expert_reviewed with equal scores   6 海珠 recommended, not scored


def failing_application(folder: Path) -> Path:
    data = json.loads(APPLICATION.read_text("utf-8"))
    data["area_km2"] = "150"  # 不超过100平方公里
    data["sme_output_share"] = "70%"  # 高于70%: exactly 70% fails
    path = folder / "application-failing.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("base")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        return build_base(folder)


def build_base(folder: Path) -> Path:
    db = folder / "gdcluster.db"
    ok(gd(db, "init", "--simulation"))
    ok(gd(db, "round", "open", 2024, "--apply-by", "2024-05-31", "--recommend-by", "2024-06-30",
          actor=PROVINCE, now=T_OPEN))
    assert create(db, "南海铝型材产业集群", "佛山市南海区") == 1
    assert create(db, "南海纺织服装产业集群", "佛山市南海区") == 2
    ok(gd(db, "case", "submit", 2, actor=NANHAI, now=T_OPEN))
    assert create(db, "顺德家电产业集群", "佛山市顺德区", failing_application(folder)) == 3
    ok(gd(db, "case", "submit", 3, actor=SHUNDE, now=T_OPEN))
    for expected, county in ((4, "广州市天河区"), (5, "广州市越秀区"), (6, "广州市海珠区")):
        assert create(db, f"{county}软件产业集群", county) == expected
        for trigger in ("submit", "review", "recommend"):
            args = ["--pass"] if trigger == "review" else []
            actor = f"county:{county}" if trigger == "submit" else GUANGZHOU
            ok(gd(db, "case", trigger, expected, *args, actor=actor, now=T_OPEN))
    for case_id in (4, 5):
        score_all(db, case_id, T_OPEN)
        ok(gd(db, "case", "expert-review", case_id, actor=PROVINCE, now=T_OPEN))
    return db


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> Path:
    return copy_db(base_db, tmp_path)


# ---------------------------------------------------------------------------------------------
# The walk: one round, six cases, every act of the CLI, time moving with --now


def to_city_reviewed(label: str, case_id: int, county: str, name: str) -> list[tuple]:
    actor = f"county:{county}"
    return [
        (f"{label}-create->drafted", actor, T_OPEN,
         ["case", "create", "--round", "2024", "--name", name, "--county", county,
          "--industry", "灯饰照明", "--data", APPLICATION], case_id, "drafted"),
        (f"{label}-submit->submitted", actor, T_OPEN, ["case", "submit", case_id], case_id,
         "submitted"),
        (f"{label}-review-pass->city_reviewed", FOSHAN, T_OPEN,
         ["case", "review", case_id, "--pass", "--spot-check", "实地抽查2家企业"], case_id,
         "city_reviewed"),
    ]


def recommend(label: str, case_id: int) -> list[tuple]:
    return [(f"{label}-recommend->recommended", FOSHAN, T_RECOMMEND,
             ["case", "recommend", case_id], case_id, "recommended")]


def score(label: str, case_id: int) -> list[tuple]:
    steps: list[tuple] = []
    for number, path in enumerate(SCORES, start=1):
        steps.append((f"{label}-score-expert{number}->recommended", PROVINCE, T_SCORE,
                      ["case", "score", case_id, "--expert", f"专家{number}", "--scores", path],
                      case_id, "recommended"))
    steps.append((f"{label}-expert-review->expert_reviewed", PROVINCE, T_SCORE,
                  ["case", "expert-review", case_id], case_id, "expert_reviewed"))
    return steps


# (step id, actor, now, argv, case id, state expected after the step)
WALK: list[tuple] = [
    ("round-open", PROVINCE, T_OPEN,
     ["round", "open", "2024", "--apply-by", "2024-05-31", "--recommend-by", "2024-06-30",
      "--quota", "佛山市=1:3",
      "--notice-title", "关于开展2024年广东省中小企业特色产业集群申报工作的通知",
      "--notice-doc-no", "粤工信服务函〔2024〕1号"], None, None),
    ("A-create->drafted", NANHAI, T_OPEN,
     ["case", "create", "--round", "2024", "--name", "南海灯饰产业集群", "--county", "佛山市南海区",
      "--industry", "灯饰照明", "--data", APPLICATION], 1, "drafted"),
    ("A-update-yaml->drafted", NANHAI, T_OPEN, ["case", "update", "1", "--data", APPLICATION_YAML],
     1, "drafted"),
    ("A-submit->submitted", NANHAI, T_OPEN, ["case", "submit", "1"], 1, "submitted"),
    ("A-review-return->drafted", FOSHAN, T_OPEN,
     ["case", "review", "1", "--return", "--reason", "缺少2023年产值证明", "--due",
      "2024-03-15"], 1, "drafted"),
    ("A-resubmit->submitted", NANHAI, T_OPEN, ["case", "submit", "1"], 1, "submitted"),
    ("A-review-pass->city_reviewed", FOSHAN, T_OPEN, ["case", "review", "1", "--pass"], 1,
     "city_reviewed"),
    *to_city_reviewed("B", 2, "佛山市顺德区", "顺德家电产业集群"),
    *to_city_reviewed("C", 3, "佛山市南海区", "南海铝型材产业集群"),
    ("D-create->drafted", NANHAI, T_OPEN,
     ["case", "create", "--round", "2024", "--name", "南海陶瓷产业集群", "--county", "佛山市南海区",
      "--industry", "陶瓷", "--data", APPLICATION], 4, "drafted"),
    ("D-submit->submitted", NANHAI, T_OPEN, ["case", "submit", "4"], 4, "submitted"),
    ("D-review-reject->rejected", FOSHAN, T_OPEN,
     ["case", "review", "4", "--reject", "--reason", "主导产业与申报不符"], 4, "rejected"),
    *to_city_reviewed("E", 5, "佛山市顺德区", "顺德家具产业集群"),
    ("E-reject->rejected", FOSHAN, T_OPEN, ["case", "reject", "5", "--reason", "实地抽查不合格"],
     5, "rejected"),
    ("G-create->drafted", SHUNDE, T_OPEN,
     ["case", "create", "--round", "2024", "--name", "顺德机器人产业集群",
      "--county", "佛山市顺德区",
      "--industry", "机器人", "--data", APPLICATION], 6, "drafted"),
    ("G-withdraw->withdrawn", SHUNDE, T_OPEN, ["case", "withdraw", "6"], 6, "withdrawn"),
    *recommend("A", 1), *recommend("B", 2), *recommend("C", 3),
    ("H-create->drafted", NANHAI, T_RECOMMEND,
     ["case", "create", "--round", "2024", "--name", "南海五金产业集群", "--county", "佛山市南海区",
      "--industry", "五金", "--data", APPLICATION], 7, "drafted"),
    *score("A", 1), *score("B", 2), *score("C", 3),
    ("round-site-visit", PROVINCE, "2024-08-01T10:00",
     ["round", "site-visit", "2024", "--date", "2024-07-30", "--note", "省专家组现场考察"],
     None, None),
    ("round-publicize->publicized", PROVINCE, T_PUBLICIZE,
     ["round", "publicize", "2024", "--min-score", "80", "--start", "2024-09-27",
      "--doc-no", "粤工信服务函〔2024〕5号"], 1, "publicized"),
    ("B-object-as-public->publicized", None, "2024-09-30T15:00",
     ["case", "object", "2", "--name", "王五", "--contact", "13800000000",
      "--evidence", "2023年产值与统计年鉴不符"], 2, "publicized"),
    ("C-object-with-unit->publicized", "public@赵六", "2024-09-30T16:00",
     ["case", "object", "3", "--name", "赵六", "--contact", "020-12345678",
      "--evidence", "有企业近三年发生较大安全事故", "--unit", "某铝材企业"], 3, "publicized"),
    ("B-resolve-uphold->rejected", PROVINCE, "2024-10-08T09:00",
     ["case", "resolve", "2", "1", "--uphold", "--reason", "经核查产值数据不实"], 2, "rejected"),
    ("round-recognize->recognized", PROVINCE, "2024-10-14T09:00",
     ["round", "recognize", "2024", "--doc-no", "粤工信服务函〔2024〕9号", "--doc-date",
      "2024-10-12"], 1, "recognized"),
    ("C-held-by-open-objection->publicized", None, None, ["case", "show", "3"], 3, "publicized"),
    ("H-closed-with-the-round->not_selected", None, None, ["case", "show", "7"], 7,
     "not_selected"),
    ("C-resolve-dismiss->publicized", PROVINCE, "2024-10-14T10:00",
     ["case", "resolve", "3", "2", "--dismiss", "--reason", "经核查为一般事故，异议不成立"], 3,
     "publicized"),
    ("C-close-publicity->publicity_closed", PROVINCE, "2024-10-14T10:30",
     ["case", "close-publicity", "3"], 3, "publicity_closed"),
    ("round-recognize-supplementary->recognized", PROVINCE, "2024-10-15T09:00",
     ["round", "recognize", "2024", "--doc-no", "粤工信服务函〔2024〕10号"], 3, "recognized"),
    ("A-report->recognized", NANHAI, "2025-02-01T09:00",
     ["case", "report", "1", "--year", "2024", "--data", REPORT], 1, "recognized"),
    ("A-change->recognized", NANHAI, "2025-02-01T10:00",
     ["case", "change", "1", "--kind", "management_body",
      "--detail", "运营管理机构更名为集群促进会"],
     1, "recognized"),
    ("round-open-review", PROVINCE, "2027-06-01T09:00",
     ["round", "open", "2027", "--kind", "review", "--apply-by", "2027-09-30", "--check-by",
      "2027-10-11"], None, None),
    ("A-apply-review->under_review", NANHAI, "2027-06-01T10:00",
     ["case", "apply-review", "1", "--data", REVIEW], 1, "under_review"),
    ("A-review-check->under_review", FOSHAN, "2027-06-01T15:00",
     ["case", "review-check", "1", "--pass", "--opinion", "经初审，符合复核条件"], 1,
     "under_review"),
    ("A-renew->renewed", PROVINCE, "2027-06-02T09:00", ["case", "renew", "1"], 1, "renewed"),
    ("calendar-import-2027", PROVINCE, "2027-06-30T09:00",
     ["calendar", "import", str(CALENDAR_2027)], None, None),
    ("A-propose-revocation->revocation_proposed", PROVINCE, "2027-07-01T09:00",
     ["case", "propose-revocation", "1", "--reason-code", "18.4", "--facts",
      "主导产业变更未报备"], 1, "revocation_proposed"),
    ("A-state->revocation_proposed", NANHAI, "2027-07-02T09:00",
     ["case", "state", "1", "--text", "变更已于6月口头报告"], 1, "revocation_proposed"),
    ("A-revoke->revoked", PROVINCE, "2027-07-05T09:00",
     ["case", "revoke", "1", "--reason", "口头报告不构成报备", "--doc-no",
      "粤工信服务函〔2027〕51号"], 1, "revoked"),
]


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the whole walk once; each step's result and the case's state afterwards."""
    folder = tmp_path_factory.mktemp("walk")
    db = folder / "gdcluster.db"
    steps: dict[str, tuple[Result, str | None]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        ok(gd(db, "init", "--simulation"))
        for step_id, actor, now, argv, case_id, _state in WALK:
            result = gd(db, *argv, actor=actor, now=now)
            state = state_of(db, case_id) if case_id is not None else None
            steps[step_id] = (result, state)
    return {"db": db, "steps": steps}


@pytest.mark.parametrize(("step_id", "case_id", "expected"),
                         [(step[0], step[4], step[5]) for step in WALK],
                         ids=[step[0] for step in WALK])
def test_walk_step(walk: dict[str, Any], step_id: str, case_id: int | None,
                   expected: str | None) -> None:
    """Each act of the walk succeeds (exit 0) and leaves the case in the state of DESIGN §2."""
    result, state = walk["steps"][step_id]
    ok(result)
    assert state == expected
    if "-create->" in step_id:
        assert result.stdout == f"{case_id}\n"  # create prints the id and nothing else


def test_walk_acts_report_what_they_did(walk: dict[str, Any]) -> None:
    """round publicize names the publicity window; case object names the new objection's id;
    round recognize names the case it held back because of its open objection, and why."""
    publicize = walk["steps"]["round-publicize->publicized"][0].stdout
    assert "publicized: 1, 2, 3" in publicize
    assert "2024-09-27 – 2024-10-11" in publicize
    assert "objection 1 filed" in walk["steps"]["B-object-as-public->publicized"][0].stdout
    recognize = walk["steps"]["round-recognize->recognized"][0].stdout
    assert "publicity closed: 1" in recognize
    assert ("recognized: 1 (名单通告 粤工信服务函〔2024〕9号 of 2024-10-12; valid 2024-10-12 – "
            "2027-10-11)") in recognize
    assert "held: case 3" in recognize and "objection" in recognize
    assert "not selected (未入选, not_submitted): 7" in recognize
    assert "round 2024 closed" in recognize
    later = walk["steps"]["round-recognize-supplementary->recognized"][0].stdout
    assert ("recognized: 3 (supplementary 通告 粤工信服务函〔2024〕10号 of 2024-10-15; valid "
            "2024-10-15 – 2027-10-14)") in later
    returned = walk["steps"]["A-review-return->drafted"][0].stdout
    assert "correction deadline: 2024-03-15 (24:00)" in returned


def test_walk_show_json_has_the_contract_fields(walk: dict[str, Any]) -> None:
    """case show --json carries every field of DESIGN §11 with ISO dates and the full record."""
    shown = as_json(gd(walk["db"], "case", "show", 1, "--json"))
    assert {"id", "round", "name", "city", "county", "industry", "state", "version", "policy",
            "score", "publicity_start", "publicity_end", "valid_from", "valid_until",
            "deadlines", "objections", "reports"} <= set(shown)
    assert shown["id"] == 1 and shown["round"] == 2024 and shown["city"] == "佛山市"
    assert shown["county"] == "佛山市南海区" and shown["state"] == "revoked"
    assert shown["score"] == EXPECTED_SCORE
    assert (shown["publicity_start"], shown["publicity_end"]) == ("2024-09-27", "2024-10-11")
    # renewed contiguously: the first validity was 2024-10-12 – 2027-10-11
    assert (shown["valid_from"], shown["valid_until"]) == ("2027-10-12", "2030-10-11")
    assert shown["reports"] == [2024]
    assert all({"kind", "due_at", "status"} <= set(row) for row in shown["deadlines"])
    assert not [row for row in shown["deadlines"] if row["status"] == "pending"]  # revoked
    objections = as_json(gd(walk["db"], "--json", "case", "show", 3))["objections"]
    assert [(row["id"], row["name"], row["status"]) for row in objections] == \
        [(2, "赵六", "dismissed")]


def test_walk_history_json_is_the_audit_trail(walk: dict[str, Any]) -> None:
    """case history --json lists every act of the case in order, with actor, time and reason."""
    rows = as_json(gd(walk["db"], "case", "history", 1, "--json"))
    assert [row["trigger"] for row in rows] == [
        "create", "update", "submit", "return", "submit", "review", "recommend", "score",
        "score", "score", "expert_review", "publicize", "close_publicity", "recognize",
        "report", "change", "review_notice", "apply_review", "review_check", "renew",
        "propose_revocation", "state", "revoke",
    ]
    assert rows[3]["payload"]["correction_due"] == "2024-03-15"
    assert all({"trigger", "from_state", "to_state", "actor", "at", "reason"} <= set(row)
               for row in rows)
    assert rows[3]["reason"] == "缺少2023年产值证明"
    assert rows[3]["actor"] == FOSHAN
    assert (rows[-1]["from_state"], rows[-1]["to_state"]) == ("revocation_proposed", "revoked")
    assert rows[-3]["from_state"] == "renewed" and rows[-1]["payload"]["statements"] == 1
    assert rows[0]["at"] == "2024-03-01T09:00:00+08:00"  # Asia/Shanghai (stored UTC)
    objector = as_json(gd(walk["db"], "case", "history", 2, "--json"))
    assert "public@王五" in [row["actor"] for row in objector]  # object without --as


def test_walk_history_human_shows_local_times(walk: dict[str, Any]) -> None:
    """The human history shows Asia/Shanghai wall time and the transition of each act."""
    text = ok(gd(walk["db"], "case", "history", 1)).stdout
    assert "2024-03-01 09:00" in text
    assert "renewed → revocation_proposed" in text and "revocation_proposed → revoked" in text
    assert "18.4" in text


def test_walk_round_show(walk: dict[str, Any]) -> None:
    """round show --json gives the rubric, counts by state and by city, and the cities below
    their minimum quota; the human form says the same in short."""
    summary = as_json(gd(walk["db"], "round", "show", 2024, "--json"))
    assert summary["year"] == 2024 and summary["policy"] == "guangdong-2023"
    rubric_ids = {item["id"] for item in summary["rubric"]}
    for path in SCORES:  # the shipped score files are full rubrics of this policy
        assert set(json.loads(path.read_text("utf-8"))) == rubric_ids
    assert sum(item["weight"] for item in summary["rubric"]) == 100
    assert summary["counts"]["by_state"] == {"revoked": 1, "recognized": 1, "rejected": 3,
                                             "withdrawn": 1, "not_selected": 1}
    assert summary["closed_at"] is not None
    assert summary["counts"]["by_city"]["佛山市"]["rejected"] == 3
    assert "广州市" in summary["cities_below_minimum"]
    assert "佛山市" not in summary["cities_below_minimum"]  # quota 1:3, three recommended
    text = ok(gd(walk["db"], "round", "show", 2024)).stdout
    assert "已撤销" in text and "leading_industry" in text and "广州市" in text


def test_walk_check(walk: dict[str, Any]) -> None:
    """case check --json judges each 第十三条 item; the human table says 通过/专家评审."""
    report = as_json(gd(walk["db"], "case", "check", 1, "--json"))
    assert report["passed"] is True
    assert report["items"]
    assert all({"article", "item", "rule", "value", "result"} <= set(item)
               for item in report["items"])
    assert {item["result"] for item in report["items"]} == {"pass", "expert"}
    assert report["window"] == [2021, 2022, 2023] and report["years_not_used"] == {}
    assert [row["counts"] for row in report["incidents"]] == [False, False]
    assert report["plan"]["period_ok"] is True and report["plan"]["measurable_goals"] == 4
    text = ok(gd(walk["db"], "case", "check", 1)).stdout
    assert "通过 pass" in text and "专家评审" in text and "占地面积" in text
    assert text.startswith("近三年: 2021–2023 (the 3 years before the round year 2024")
    assert "years not used: none" in text.splitlines()[0]
    assert ("  2023 illegal (major: no): does not count: 未标明为重大（如一般行政处罚），不计入"
            " — 某灯具企业消防设施维护不到位，被处警告和小额罚款，已整改") in text
    assert "  2022 safety (grade 一般): does not count: 未达较大及以上，不计入" in text
    assert ("plan (第十三条第（九）项): period 2024–2026 (must start in 2024 or 2025): ok; "
            "4 of 4 goal(s) measurable") in text
    assert "  measurable: 集群产值（亿元）：2023年196.4 → 2026年260" in text
    assert text.rstrip().splitlines()[-1].startswith("passed")


def test_check_lists_the_years_it_does_not_use(tmp_path: Path) -> None:
    """`case check` on an application with years outside 近三年: they are named as not used,
    and the verdicts are those of the window alone (issue 11)."""
    db = tmp_path / "gd.db"
    ok(gd(db, "init", "--simulation"))
    ok(gd(db, "round", "open", 2024, actor=PROVINCE, now=T_OPEN))
    data = json.loads(APPLICATION.read_text("utf-8"))
    data["output"].update({"2018": "20", "2019": "30", "2024": "250"})
    data["co2_intensity"]["2020"] = "0.3"
    path = tmp_path / "application.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    case_id = create(db, "南海铝型材产业集群", "佛山市南海区", path)
    text = ok(gd(db, "case", "check", case_id)).stdout
    assert text.splitlines()[0].endswith(
        "years not used: 产值 output 2018, 2019, 2024; 二氧化碳排放强度 co2_intensity 2020")
    report = as_json(gd(db, "case", "check", case_id, "--json"))
    assert report["passed"] is True
    assert report["years_not_used"] == {"output": [2018, 2019, 2024], "co2_intensity": [2020]}


def test_audit_verify_intact_then_tampered(walk: dict[str, Any], tmp_path: Path) -> None:
    """audit verify exits 0 on the intact chain, and 3 naming the first altered row."""
    assert "intact" in ok(gd(walk["db"], "audit", "verify")).stdout
    report = as_json(gd(walk["db"], "audit", "verify", "--json"))
    assert report["ok"] is True and report["rows"] > len(WALK)
    db = copy_db(walk["db"], tmp_path)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE gd_audit SET reason = '篡改' WHERE seq = 5")
    connection.close()
    broken = gd(db, "audit", "verify")
    assert broken.exit_code == 3
    assert "row 5" in broken.stderr
    broken_json = gd(db, "--json", "audit", "verify")
    assert broken_json.exit_code == 3
    assert json.loads(broken_json.stdout)["first_bad_seq"] == 5


# ---------------------------------------------------------------------------------------------
# Exit codes and the error shape

# (id, actor, now, argv, exit code, fragments the message must contain)
ERRORS = [
    ("unknown-case", None, None, ["case", "show", "99"], 2, ["case 99 not found"]),
    ("unknown-case-act", NANHAI, T_OPEN, ["case", "submit", "99"], 2, ["case 99 not found"]),
    ("unknown-round", None, None, ["round", "show", "2030"], 2, ["round 2030 not found"]),
    ("missing-data-file", NANHAI, T_OPEN, ["case", "update", "1", "--data", "{tmp}/nope.json"],
     2, ["nope.json"]),
    ("malformed-data-file", NANHAI, T_OPEN, ["case", "update", "1", "--data", "{bad_json}"], 2,
     ["bad.json", "not valid JSON"]),
    ("unknown-application-field", NANHAI, T_OPEN,
     ["case", "update", "1", "--data", "{unknown_field}"], 2, ["turnover"]),
    ("incomplete-scores-file", PROVINCE, T_OPEN,
     ["case", "score", "6", "--expert", "专家1", "--scores", str(SCORES_INCOMPLETE)], 2,
     ["scores.governance"]),
    ("bad-date", PROVINCE, T_OPEN, ["round", "open", "2025", "--apply-by", "2025-02-30"], 2,
     ["2025-02-30"]),
    ("bad-quota", PROVINCE, T_OPEN, ["round", "open", "2025", "--quota", "佛山市=5"], 2,
     ["CITY=MIN:MAX"]),
    ("bad-now", None, "yesterday", ["case", "list"], 2, ["yesterday"]),
    ("bad-actor-kind", "mayor:佛山市", T_OPEN, ["case", "submit", "1"], 2, ["mayor"]),
    ("unknown-unit-in-actor", "county:火星区", T_OPEN, ["case", "submit", "1"], 2, ["火星区"]),
    ("unknown-unit", NANHAI, T_OPEN,
     ["case", "create", "--round", "2024", "--name", "火星产业集群", "--county", "火星区",
      "--industry", "航天", "--data", str(APPLICATION)], 2, ["火星区"]),
    ("no-actor", None, T_OPEN, ["case", "submit", "1"], 2, ["--as"]),
    ("case-id-zero", None, None, ["case", "show", "0"], 2, ["ID"]),
    ("year-out-of-range", None, None, ["round", "show", "1999"], 2, ["1999"]),
    ("return-without-reason", FOSHAN, T_OPEN, ["case", "review", "2", "--return"], 2,
     ["--return needs --reason"]),
    ("review-without-decision", FOSHAN, T_OPEN, ["case", "review", "2"], 2, ["--pass"]),
    ("unknown-state-filter", None, None, ["case", "list", "--state", "approved"], 2,
     ["approved"]),
    ("unknown-city-filter", None, None, ["case", "list", "--city", "火星市"], 2, ["火星市"]),
    ("wrong-state", PROVINCE, T_OPEN, ["case", "close-publicity", "1"], 3,
     ["drafted", "close_publicity"]),
    ("recognize-one-case", PROVINCE, T_PUBLICIZE, ["case", "recognize", "4"], 3,
     ["round recognize"]),
    ("publicity-starts-in-the-past", PROVINCE, T_PUBLICIZE,
     ["round", "publicize", "2024", "--select", "4", "--start", "2024-09-01"], 2,
     ["start", "2024-09-01", "in the past"]),
    ("recognize-needs-a-doc-no", PROVINCE, T_PUBLICIZE, ["round", "recognize", "2024"], 2,
     ["--doc-no"]),
    ("valid-from-2000", PROVINCE, T_PUBLICIZE,
     ["round", "recognize", "2024", "--doc-no", "粤工信服务函〔2024〕9号", "--valid-from",
      "2000-01-01"], 2, ["valid_from", "2000-01-01"]),
    ("doc-date-after-today", PROVINCE, T_PUBLICIZE,
     ["round", "recognize", "2024", "--doc-no", "粤工信服务函〔2024〕9号", "--doc-date",
      "2024-10-30"], 2, ["doc_date", "after today"]),
    ("correction-due-in-the-past", FOSHAN, T_OPEN,
     ["case", "review", "2", "--return", "--reason", "补正", "--due", "2024-02-01"], 2,
     ["due", "never in the past"]),
    ("correction-due-after-recommend-by", FOSHAN, T_OPEN,
     ["case", "review", "2", "--return", "--reason", "补正", "--due", "2024-07-01"], 2,
     ["due", "2024-06-30"]),
    ("due-without-return", FOSHAN, T_OPEN,
     ["case", "review", "2", "--pass", "--due", "2024-03-15"], 2, ["--due"]),
    ("time-goes-back", NANHAI, "2024-02-01T09:00", ["case", "submit", "1"], 3,
     ["time only moves forward", "2024-03-01 09:00"]),
    ("policy-not-in-force", PROVINCE, "2029-03-01T09:00", ["round", "open", "2029"], 3,
     ["not in force", "2025-12-31", "policy extend"]),
    ("round-close-while-open", PROVINCE, T_OPEN, ["round", "close", "2024"], 3,
     ["open for applications until 24:00 of 2024-05-31"]),
    ("reopen-without-previous", PROVINCE, T_OPEN, ["case", "reopen", "1", "--reason", "x"], 3,
     ["drafted", "reopen"]),
    ("criteria-fail", FOSHAN, T_OPEN, ["case", "review", "3", "--pass"], 3,
     ["资格初审", "占地面积", "中小企业产值占比"]),
    ("application-deadline-passed", NANHAI, "2024-06-01T09:00", ["case", "submit", "1"], 3,
     ["closed for applications"]),
    ("too-few-experts", PROVINCE, T_SCORE, ["case", "expert-review", "6"], 3,
     ["at least 3"]),
    ("tie-straddles-cut", PROVINCE, T_PUBLICIZE, ["round", "publicize", "2024", "--top", "1"], 3,
     ["tie", "广州市天河区软件产业集群", "广州市越秀区软件产业集群"]),
    ("round-already-open", PROVINCE, T_OPEN, ["round", "open", "2024"], 3, ["already open"]),
    ("other-city", GUANGZHOU, T_OPEN, ["case", "review", "2", "--pass"], 4, ["city:佛山市"]),
    ("other-county", SHUNDE, T_OPEN, ["case", "submit", "1"], 4, ["county:佛山市南海区"]),
    ("county-files-for-another", SHUNDE, T_OPEN,
     ["case", "create", "--round", "2024", "--name", "南海五金产业集群", "--county", "佛山市南海区",
      "--industry", "五金", "--data", str(APPLICATION)], 4, ["佛山市南海区"]),
    ("county-opens-round", NANHAI, T_OPEN, ["round", "open", "2025"], 4, ["province"]),
    ("county-imports-calendar", NANHAI, None, ["calendar", "import", str(CALENDAR_2027)], 4,
     ["calendar"]),
]


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, str]:
    bad = tmp_path / "bad.json"
    bad.write_text('{"area_km2": "47.8",', "utf-8")
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"turnover": "12"}', "utf-8")
    return {"tmp": str(tmp_path), "bad_json": str(bad), "unknown_field": str(unknown)}


@pytest.mark.parametrize("output", ["text", "json"])
@pytest.mark.parametrize(("actor", "now", "argv", "code", "fragments"),
                         [error[1:] for error in ERRORS], ids=[error[0] for error in ERRORS])
def test_error_exit_codes_and_messages(db: Path, bad_files: dict[str, str], output: str,
                                       actor: str | None, now: str | None, argv: list[str],
                                       code: int, fragments: list[str]) -> None:
    """Each failure exits with its code (2 input, 3 refused, 4 permission) and says why on
    stderr — a line, or {"error": {"code", "message"}} with --json — and nothing on stdout."""
    argv = [arg.format(**bad_files) for arg in argv]
    flags = ["--json"] if output == "json" else []
    result = gd(db, *flags, *argv, actor=actor, now=now)
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    if output == "json":
        error = json.loads(result.stderr)["error"]
        assert set(error) == {"code", "message"}
        assert error["code"]
        message = error["message"]
    else:
        message = result.stderr
        assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message


def test_error_code_names_the_engine_error(db: Path) -> None:
    """The JSON error code is the engine's: not_found, refused, permission_denied, usage."""
    codes = {
        "not_found": gd(db, "--json", "case", "show", 99),
        "refused": gd(db, "--json", "case", "recognize", 1, actor=PROVINCE, now=T_OPEN),
        "permission_denied": gd(db, "--json", "case", "submit", 1, actor=SHUNDE, now=T_OPEN),
        "usage": gd(db, "--json", "case", "show", 0),
    }
    assert {name: json.loads(result.stderr)["error"]["code"]
            for name, result in codes.items()} == {name: name for name in codes}


def test_stale_expected_version_exits_5(db: Path) -> None:
    """--expected-version guards an act: a version someone else moved past refuses with exit 5
    and changes nothing; the current version goes through."""
    version = as_json(gd(db, "case", "show", 1, "--json"))["version"]
    ok(gd(db, "case", "update", 1, "--data", APPLICATION_YAML, actor=NANHAI, now=T_OPEN))
    stale = gd(db, "case", "submit", 1, "--expected-version", version, actor=NANHAI, now=T_OPEN)
    assert stale.exit_code == 5, stale.stderr
    assert "changed by someone else" in stale.stderr
    assert state_of(db, 1) == "drafted"
    fresh = as_json(gd(db, "case", "submit", 1, "--expected-version", version + 1, "--json",
                       actor=NANHAI, now=T_OPEN))
    assert fresh["state"] == "submitted"


def test_now_refused_on_a_real_database(tmp_path: Path) -> None:
    """A database made without --simulation refuses --now (exit 4): nobody backdates an act."""
    db = tmp_path / "real.db"
    assert "simulation" not in ok(gd(db, "init")).stdout
    ok(gd(db, "case", "list"))
    result = gd(db, "case", "list", now="2024-01-01")
    assert result.exit_code == 4
    assert "simulation" in result.stderr
    env_result = gd(db, "case", "list", env={"GDCLUSTER_NOW": "2024-01-01"})
    assert env_result.exit_code == 4


def test_unexpected_error_exits_1_with_a_short_message(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug is exit 1 with one line on stderr; the traceback only with GDCLUSTER_DEBUG=1."""
    from gdcluster.engine.api import Engine

    def broken(self: Engine, case_id: int) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Engine, "case_file", broken)  # what `case show` reads
    quiet = gd(db, "case", "show", 1)
    assert quiet.exit_code == 1
    assert "RuntimeError: disk on fire" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    assert json.loads(gd(db, "--json", "case", "show", 1).stderr)["error"]["code"] == "unexpected"
    loud = gd(db, "case", "show", 1, env={"GDCLUSTER_DEBUG": "1"})
    assert loud.exit_code == 1
    assert "Traceback" in loud.stderr


def test_uninitialized_database_says_run_init(tmp_path: Path) -> None:
    """Any command on a database without the schema (here an empty SQLite file) exits 2 and
    says to run gdcluster init."""
    (tmp_path / "empty.db").touch()
    result = gd(tmp_path / "empty.db", "case", "list")
    assert result.exit_code == 2
    assert "gdcluster init" in result.stderr


# ---------------------------------------------------------------------------------------------
# Commands one by one


def test_init_creates_and_upgrades(tmp_path: Path) -> None:
    """init --simulation creates a simulation database; running it again is harmless."""
    db = tmp_path / "fresh.db"
    assert "simulation database" in ok(gd(db, "init", "--simulation")).stdout
    assert as_json(gd(db, "--json", "init", "--simulation")) == {
        "db": f"sqlite:///{db}", "simulation": True}
    assert as_json(gd(db, "case", "list", "--json")) == []


def test_create_json_prints_the_id(db: Path) -> None:
    """case create --json prints {"id": …}; the case is a draft of that unit."""
    created = as_json(gd(db, "--json", "case", "create", "--round", 2024,
                         "--name", "南海五金产业集群", "--county", "南海区", "--industry", "五金",
                         "--data", APPLICATION,
                         actor=NANHAI, now=T_OPEN))
    assert created == {"id": 7}
    shown = as_json(gd(db, "case", "show", 7, "--json"))
    assert (shown["county"], shown["state"]) == ("佛山市南海区", "drafted")


def test_acts_print_the_new_state_or_the_case(db: Path) -> None:
    """An act prints the case's new state with its Chinese label; with --json the whole case."""
    text = ok(gd(db, "case", "submit", 1, actor=NANHAI, now=T_OPEN)).stdout
    assert "submitted（已申报）" in text
    shown = as_json(gd(db, "case", "review", 1, "--pass", "--json", actor=FOSHAN, now=T_OPEN))
    assert shown["state"] == "city_reviewed" and shown["id"] == 1


def test_show_human(db: Path) -> None:
    """case show prints the case for a person: state with its label, unit, deadlines."""
    text = ok(gd(db, "case", "show", 4)).stdout
    assert "expert_reviewed（已完成专家评审）" in text
    assert "广州市天河区" in text and EXPECTED_SCORE in text


def test_global_and_trailing_json_flag_agree(db: Path) -> None:
    """--json may come before the command or after it, with the same output."""
    before = gd(db, "--json", "case", "show", 2)
    after = gd(db, "case", "show", 2, "--json")
    assert ok(before).stdout == ok(after).stdout
    assert json.loads(before.stdout)["state"] == "submitted"


def test_json_output_is_utf8_not_escaped(db: Path) -> None:
    """JSON is written as UTF-8 text, Chinese unescaped, dates in ISO form."""
    result = ok(gd(db, "case", "show", 4, "--json"))
    assert "广州市天河区" in result.stdout
    assert "\\u" not in result.stdout
    assert "广州市天河区".encode() in result.stdout_bytes


LISTS = [
    ("all", [], [1, 2, 3, 4, 5, 6]),
    ("state-underscore", ["--state", "expert_reviewed"], [4, 5]),
    ("state-dash", ["--state", "expert-reviewed"], [4, 5]),
    ("city", ["--city", "广州市"], [4, 5, 6]),
    ("city-and-state", ["--city", "佛山市", "--state", "submitted"], [2, 3]),
    ("round", ["--round", "2024"], [1, 2, 3, 4, 5, 6]),
    ("other-round", ["--round", "2025"], []),
    ("limit", ["--limit", "2"], [1, 2]),
    ("limit-offset", ["--limit", "2", "--offset", "3"], [4, 5]),
    ("offset-past-end", ["--offset", "10"], []),
    ("filter-then-page", ["--city", "广州市", "--offset", "1"], [5, 6]),
]


@pytest.mark.parametrize(("args", "expected"), [item[1:] for item in LISTS],
                         ids=[item[0] for item in LISTS])
def test_case_list_filters_and_pages(db: Path, args: list[str], expected: list[int]) -> None:
    """case list --json is a list of case objects, filtered and paged; the human list has one
    line per case."""
    cases = as_json(gd(db, "case", "list", *args, "--json"))
    assert [case["id"] for case in cases] == expected
    assert all({"id", "state", "city", "county", "name", "round"} <= set(case) for case in cases)
    text = ok(gd(db, "case", "list", *args)).stdout
    assert len(text.splitlines()) == len(expected)


@pytest.mark.parametrize("limit", ["0", "-1", "x"], ids=["zero", "negative", "word"])
def test_case_list_rejects_bad_paging(db: Path, limit: str) -> None:
    """--limit is a positive whole number (exit 2 otherwise)."""
    assert gd(db, "case", "list", "--limit", limit).exit_code == 2


@pytest.mark.parametrize("output", ["terminal", "json"])
def test_batch_progress_on_terminal_only(db: Path, monkeypatch: pytest.MonkeyPatch,
                                         output: str) -> None:
    """round publicize shows progress on a terminal's stderr, and nothing with --json; the
    selection with --select publicizes exactly those cases."""
    import gdcluster.cli as module

    monkeypatch.setattr(module, "_is_terminal", lambda: True)
    flags = ["--json"] if output == "json" else []
    result = ok(gd(db, *flags, "round", "publicize", 2024, "--select", "5,4",
                   "--start", "2024-09-27", actor=PROVINCE, now=T_PUBLICIZE))
    if output == "json":  # no progress; only the notices' warnings, as JSON (no settings)
        assert [json.loads(line)["warning"]["code"] for line in result.stderr.splitlines()] == [
            "contact_missing"]
        assert json.loads(result.stdout)["publicized"] == [4, 5]
    else:
        assert "publicizing" in result.stderr
        assert "publicized: 4, 5" in result.stdout
    assert state_of(db, 4) == state_of(db, 5) == "publicized"


def test_publicize_select_unknown_case_is_bad_input(db: Path) -> None:
    """--select naming a case that is not expert-reviewed is refused as bad input (exit 2)."""
    result = gd(db, "round", "publicize", 2024, "--select", "4,2", actor=PROVINCE,
                now=T_PUBLICIZE)
    assert result.exit_code == 2
    assert "case(s) 2 are not expert-reviewed" in result.stderr
    assert state_of(db, 4) == "expert_reviewed"


WORKDAYS = [
    ("national-day", "2024-09-27", 7, "2024-10-11"),
    ("mid-autumn-national-day", "2025-09-26", 7, "2025-10-11"),
    ("new-year-across-years", "2023-12-29", 7, "2024-01-09"),
    ("one-day", "2024-09-27", 1, "2024-09-27"),
]


@pytest.mark.parametrize(("start", "n", "end"), [item[1:] for item in WORKDAYS],
                         ids=[item[0] for item in WORKDAYS])
def test_calendar_workdays(db: Path, start: str, n: int, end: str) -> None:
    """calendar workdays START N prints the N-th working day; --json {"start","n","end"}."""
    assert ok(gd(db, "calendar", "workdays", start, n)).stdout == f"{end}\n"
    assert as_json(gd(db, "calendar", "workdays", start, n, "--json")) == {
        "start": start, "n": n, "end": end}


def test_calendar_gap_then_import(db: Path) -> None:
    """A year without data is refused (exit 3) naming the year and the import command; after
    calendar import (province) it counts."""
    gap = gd(db, "calendar", "workdays", "2027-09-24", 7)
    assert gap.exit_code == 3
    assert "2027" in gap.stderr and "calendar import" in gap.stderr
    imported = as_json(gd(db, "--json", "calendar", "import", CALENDAR_2027, actor=PROVINCE))
    assert imported == {"years": [2027]}
    # Fri 24th, make-up Sunday 26th, Mon–Thu 27th–30th, 国庆 1st–7th, Fri 8 October
    assert ok(gd(db, "calendar", "workdays", "2027-09-24", 7)).stdout == "2027-10-08\n"


@pytest.mark.parametrize("start", ["2024-02-30", "tomorrow"], ids=["no-such-day", "word"])
def test_calendar_bad_start(db: Path, start: str) -> None:
    """A start that is not an ISO date is a usage error naming the value (exit 2)."""
    result = gd(db, "calendar", "workdays", start, 7)
    assert result.exit_code == 2
    assert start in result.stderr


GRAPHS = [
    ("mermaid-default", [], "stateDiagram-v2", "drafted --> submitted: submit"),
    ("mermaid", ["--format", "mermaid"], "stateDiagram-v2", "revoked --> [*]"),
    ("dot", ["--format", "dot"], "digraph", '"drafted" -> "submitted"'),
]


@pytest.mark.parametrize(("args", "first", "edge"), [item[1:] for item in GRAPHS],
                         ids=[item[0] for item in GRAPHS])
def test_graph(args: list[str], first: str, edge: str) -> None:
    """graph exports the lifecycle as Mermaid or DOT, without touching any database."""
    text = ok(gd(None, "graph", *args)).stdout
    assert text.startswith(first)
    assert edge in text


def test_graph_rejects_unknown_format() -> None:
    """Only mermaid and dot are offered (exit 2)."""
    assert gd(None, "graph", "--format", "png").exit_code == 2


def test_environment_variables_stand_in_for_options(db: Path) -> None:
    """GDCLUSTER_DB, GDCLUSTER_ACTOR and GDCLUSTER_NOW do what --db, --as and --now do."""
    env = {"GDCLUSTER_DB": str(db), "GDCLUSTER_ACTOR": NANHAI, "GDCLUSTER_NOW": T_OPEN}
    ok(gd(None, "case", "submit", 1, env=env))
    history = as_json(gd(db, "case", "history", 1, "--json"))
    assert history[-1]["actor"] == NANHAI
    assert history[-1]["at"] == "2024-03-01T09:00:00+08:00"


def test_scores_file_may_be_yaml(db: Path, tmp_path: Path) -> None:
    """A scores file may be YAML; its decimals are read exactly."""
    path = tmp_path / "scores.yaml"
    path.write_text("leading_industry: 24.5\ninnovation: 18\ndigital: 13\ngreen: 9\n"
                    "cooperation: 13\ngovernance: 14\n", "utf-8")
    ok(gd(db, "case", "score", 6, "--expert", "专家4", "--scores", path, actor=PROVINCE,
          now=T_SCORE))
    history = as_json(gd(db, "case", "history", 6, "--json"))
    assert history[-1]["payload"]["total"] == "91.5"


def test_demo_is_wired_lazily(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """demo calls gdcluster.engine.demo.run(out_dir, echo) and lets it narrate."""
    import types

    calls: list[tuple] = []

    def run(out_dir: Path | None, echo: Any) -> None:
        calls.append((out_dir,))
        echo("第一步：开放2024年度申报")

    fake = types.ModuleType("gdcluster.engine.demo")
    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gdcluster.engine.demo", fake)
    result = ok(gd(None, "demo", "--out", tmp_path / "demo"))
    assert calls == [(tmp_path / "demo",)]
    assert "第一步" in result.stdout


CONTRACT = {
    "init", "demo", "graph",
    "round open", "round show", "round list", "round publicize", "round recognize", "round close",
    "round site-visit", "policy list", "policy extend",
    "case create", "case update", "case submit", "case withdraw", "case recommend",
    "case expert-review", "case recognize", "case close-publicity", "case reopen",
    "case apply-review", "case review-check", "case renew", "case fail-review", "case review",
    "case score", "case object", "case resolve", "case report", "case change", "case revoke",
    "case reject", "case show", "case history", "case check", "case list",
    "calendar workdays", "calendar import", "audit verify",
    # issue 14: Excel in and out
    "case import", "case export", "template application", "template review",
    # issue 14: the administrators' day
    "todo", "case attach", "case attachments", "case attachment",
    # issue 15.10: which OS user may act as whom (DESIGN §8a)
    "actors grant", "actors revoke", "actors list",
    # issue 15 §13: the audit chain's head recorded outside
    "audit anchor",
    # issue 12: the revocation procedure
    "case propose-revocation", "case state", "case maintain", "case reinstate",
    "audit procedures",
}


#: groups of DESIGN §11 that other modules hang on the CLI
OTHER_GROUPS = ("notice", "scheduler")


def test_command_tree_is_the_contract() -> None:
    """The CLI offers every command of DESIGN §11 under its exact name, and nothing else
    outside the groups other modules add (notice, scheduler)."""
    import click

    names: set[str] = set()
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            names.update(f"{name} {sub}" for sub in command.commands)
        else:
            names.add(name)
    assert names >= CONTRACT
    assert {name for name in names - CONTRACT if name.split()[0] not in OTHER_GROUPS} == set()


# ---------------------------------------------------------------------------------------------
# The installed entry point, in real processes


def entry_point() -> Path:
    path = Path(sys.executable).with_name("gdcluster")
    assert path.exists(), f"the gdcluster entry point is not installed next to {sys.executable}"
    return path


def run_entry_point(*args: str) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    """Run the installed ``gdcluster``; returns the process and the modules it imported."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GDCLUSTER_")}
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    process = subprocess.run([str(entry_point()), *args], capture_output=True, env=env,
                             timeout=120, check=False)
    modules = {line.rsplit("|", 1)[-1].strip()
               for line in process.stderr.decode("utf-8", "replace").splitlines()
               if line.startswith("import time:")}
    return process, modules


@pytest.mark.slow
def test_entry_point_show_json_loads_no_heavy_machinery(db: Path) -> None:
    """The installed gdcluster prints case show --json as UTF-8 JSON and never imports the
    state machine, templates, scheduler, migrations or docx to do it."""
    process, modules = run_entry_point("--db", str(db), "case", "show", "4", "--json")
    assert process.returncode == 0, process.stderr.decode()[-2000:]
    shown = json.loads(process.stdout.decode("utf-8"))
    assert shown["county"] == "广州市天河区"
    assert "sqlalchemy" in modules  # the profile did record imports
    heavy = {"transitions", "jinja2", "apscheduler", "alembic", "docx"}
    assert not {module.split(".")[0] for module in modules} & heavy
    missing, _ = run_entry_point("--db", str(db), "case", "show", "99")
    assert missing.returncode == 2
    assert "未找到申报 99".encode() in missing.stderr  # Chinese: no GDCLUSTER_LANG here


@pytest.mark.slow
def test_entry_point_help_loads_no_engine() -> None:
    """gdcluster --help imports click and nothing of the engine or the database layer (but the
    message catalog's reader, and the cache of its parsed form)."""
    process, modules = run_entry_point("--help")
    assert process.returncode == 0
    assert b"case" in process.stdout and b"round" in process.stdout
    assert "click" in modules
    loaded = {module.split(".")[0] for module in modules}
    assert not loaded & {"sqlalchemy", "sqlmodel", "yaml", "transitions"}
    assert {module for module in modules if module.startswith("gdcluster.")} == {
        "gdcluster.cli", "gdcluster.engine", "gdcluster.engine.i18n", "gdcluster.states",
        "gdcluster.states.parsed_cache"}


#: An ISO 8601 date-time anywhere in a text (a date alone is not an instant).
INSTANT = __import__("re").compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}[0-9:.]*(Z|[+-]\d{2}:\d{2})?")


def instants(value: Any) -> list[str]:
    """Every ISO date-time found in the strings of a JSON value."""
    if isinstance(value, dict):
        return [found for item in value.values() for found in instants(item)]
    if isinstance(value, list):
        return [found for item in value for found in instants(item)]
    if isinstance(value, str):
        return [match.group(0) for match in INSTANT.finditer(value)]
    return []


JSON_COMMANDS = [
    ["case", "show", "1"], ["case", "show", "3"], ["case", "history", "1"],
    ["case", "history", "2"], ["case", "list"], ["round", "show", "2024"],
    ["notice", "list", "--case", "1"], ["notice", "list", "--round", "2024"],
    ["scheduler", "pending", "--until", "2031-12-31"],
]


@pytest.mark.parametrize("argv", JSON_COMMANDS, ids=[" ".join(argv) for argv in JSON_COMMANDS])
def test_json_times_are_asia_shanghai(walk: dict[str, Any], argv: list[str]) -> None:
    """Issue 15.17: every time in --json output is ISO 8601 in Asia/Shanghai with +08:00 —
    the case's own times, deadlines, audit rows and the instants inside their payloads,
    stored batches, notices — never UTC or a naive time."""
    found = instants(as_json(gd(walk["db"], "--json", *argv, now="2031-12-31T09:00")))
    assert found, f"{argv}: no time in the output"
    assert all(text.endswith("+08:00") for text in found), found


def test_sweep_json_times_are_asia_shanghai(db: Path) -> None:
    """`scheduler run --once --json` gives each deadline's due time at +08:00 (24:00 of the
    last publicity day is the next day's 00:00+08:00), and the stored row keeps UTC."""
    ok(gd(db, "round", "publicize", 2024, "--top", "2", "--start", "2024-09-27",
          actor=PROVINCE, now=T_PUBLICIZE))
    swept = as_json(gd(db, "--json", "scheduler", "run", "--once", now="2024-10-12T09:00"))
    assert {item["due_at"] for item in swept if item["kind"] == "publicity_end"} == {
        "2024-10-12T00:00:00+08:00"}
    assert all(item["due_at"].endswith("+08:00") for item in swept)
    with sqlite3.connect(db) as connection:
        stored = {row[0] for row in connection.execute(
            "SELECT due_at FROM gd_deadline WHERE kind = 'publicity_end'")}
    assert stored == {"2024-10-11 16:00:00.000000"}
