"""`case show`: the application's key figures, the 第十三条 check in short, each expert's
scores, deadlines and the notices issued, on one screen; `--json` carries all of it (the
application whole), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from click.testing import CliRunner
from support import CITY, Walker

from gdcluster.cli import cli
from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None})


def show(db_url: str, *args: str) -> str:
    result = RUNNER.invoke(cli, ["--db", db_url, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_show_prints_figures_criteria_and_each_experts_points(
        db_url: str, engine: Engine, walker: Walker) -> None:
    """An expert-reviewed case: its 近三年 output, shares as percentages, counts of firms, the
    criteria verdict with its counts, and each expert with points per indicator and total —
    in at most one screen (40 lines)."""
    case_id = walker.to("expert_reviewed")
    text = show(db_url, "case", "show", str(case_id))
    assert "集群产值（亿元）" in text and "2021: 152.3 / 2022: 171.8 / 2023: 196.4" in text
    assert "中小企业产值占比" in text and "78%" in text
    assert "第十三条: every automatic criterion is met (pass 14, fail 0, expert 4)" in text
    for expert, total in (("专家1", "100"), ("专家2", "94"), ("专家3", "88")):
        line = next(line for line in text.splitlines() if line.strip().startswith(expert))
        assert "leading_industry" in line and line.rstrip().endswith(f"total {total}")
    assert len(text.splitlines()) <= 40


def test_show_json_has_the_application_criteria_scores_and_notices(
        db_url: str, engine: Engine, walker: Walker, clock: FakeClock) -> None:
    """`--json` keeps DESIGN §11's keys and adds the application (as `engine.application`
    returns it), the criteria summary, every score and the notices issued (here the 退回补正
    notice of a return done through the CLI, which issues it)."""
    scored = walker.to("expert_reviewed")
    data = json.loads(show(db_url, "--json", "case", "show", str(scored)))
    for key in ("id", "state", "deadlines", "objections", "reports", "score"):
        assert key in data
    assert data["application"]["output"] == {"2021": "152.3", "2022": "171.8",
                                             "2023": "196.4"}
    assert data["criteria"]["passed"] is True and data["criteria"]["failed"] == []
    assert data["criteria"]["counts"]["fail"] == 0
    assert [(row["expert"], row["total"]) for row in data["scores"]] == [
        ("专家1", "100"), ("专家2", "94"), ("专家3", "88")]
    assert data["scores"][1]["points"]["leading_industry"] == "24"

    returned = walker.create("南海退回产业集群", "佛山市南海区")
    walker.step(returned, "submit")
    show(db_url, "--as", CITY, "--now", "2024-03-02T09:00", "case", "review", str(returned),
         "--return", "--reason", "补充产值证明")
    data = json.loads(show(db_url, "--json", "case", "show", str(returned)))
    assert data["notices"] and {row["kind"] for row in data["notices"]} == {"return"}
    assert all(len(row["sha256"]) == 64 for row in data["notices"])
    assert data["correction_due"] is not None
    text = show(db_url, "case", "show", str(returned))
    assert "notices issued:" in text and "txt,html,docx" in text
    assert text.count("退回补正的通知") == 1  # one line per notice, its formats together
