"""The README's commands work as printed: its walkthrough and embedding example run here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def _block(name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n```\w+\n(.*?)```\n<!-- {name}:end -->", README,
                      re.S)
    assert match, f"README has no {name} block"
    return match.group(1)


def _workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "tests" / "data", tmp_path / "tests" / "data")
    return tmp_path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDCLUSTER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    """The README opens with exactly two commands; .ci/run runs the test one verbatim."""
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick, re.S)
    assert len(commands) == 2
    assert "gdcluster demo" in commands[0]
    assert "pytest" in commands[1] and "[test]" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text("utf-8")


def test_administrator_walkthrough_runs_as_printed(tmp_path: Path) -> None:
    """Every command of the administrator walkthrough succeeds, in order, from a fresh
    directory; the case ends revoked and the audit chain verifies."""
    workdir = _workdir(tmp_path)
    script = "set -euo pipefail\n" + _block("walkthrough")
    result = subprocess.run(["bash", "-c", script], cwd=workdir, env=_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "revoked" in result.stdout
    assert "2024-10-11" in result.stdout  # calendar workdays 2024-09-27 7


def test_embedding_example_runs_as_printed(tmp_path: Path) -> None:
    """The host-system example runs and prints what its comments say."""
    workdir = _workdir(tmp_path)
    result = subprocess.run([sys.executable, "-c", _block("embedding")], cwd=workdir,
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "True"
    assert lines[1] == "3 submitted"
    assert lines[2].startswith("submitted ['open_round', 'create', 'submit']")


def test_excel_example_runs_as_printed(tmp_path: Path) -> None:
    """The Excel block: the template, the import of a folder and the three exports succeed
    from a fresh directory, and the 推荐汇总表 names the imported cluster."""
    from openpyxl import load_workbook

    workdir = _workdir(tmp_path)
    script = "set -euo pipefail\n" + _block("excel")
    result = subprocess.run(["bash", "-c", script], cwd=workdir, env=_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 created, 0 already filed, 0 failed, 0 skipped" in result.stdout
    summary = load_workbook(workdir / "2024年推荐汇总表.xlsx")["推荐汇总表"]
    assert summary["D3"].value == "中山市古镇镇灯饰照明产业集群"
    assert load_workbook(workdir / "申报表.xlsx")["指标数据"]["C2"].value == "2021年"
    assert (workdir / "古镇灯饰-导出.xlsx").exists()
    assert (workdir / "案件列表.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_the_state_diagram_is_what_gdcluster_graph_prints() -> None:
    """The README's Mermaid diagram is the current lifecycle: exactly `gdcluster graph`'s
    output, made from states/workflow.toml (so publicity_closed, close_publicity, the
    round-only recognize and close, and reopen to the state a case came from are in it)."""
    from gdcluster.states.workflow import load_workflow

    match = re.search(r"```mermaid\n(.*?)```", README, re.S)
    assert match, "README has no mermaid block"
    assert match.group(1) == load_workflow().to_mermaid()
    assert "publicity_closed --> recognized: recognize (province via round recognize)" in \
        match.group(1)


def test_day_of_work_runs_as_printed(tmp_path: Path) -> None:
    """The "一天的工作" block: import, attach, submit, the city's todo, case show, the
    attachment written out unchanged, review, recommend, the 推荐汇总表, the province's todo
    with the open objection, and the export — from a fresh directory."""
    from openpyxl import load_workbook

    workdir = _workdir(tmp_path)
    script = "set -euo pipefail\n" + _block("day")
    result = subprocess.run(["bash", "-c", script], cwd=workdir, env=_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "gdcluster case review 1" in result.stdout  # the city's todo
    assert "gdcluster case resolve 1 1" in result.stdout  # the province's todo
    assert (workdir / "古镇-产值证明.pdf").read_bytes() == \
        (workdir / "tests" / "data" / "proof.pdf").read_bytes()
    summary = load_workbook(workdir / "中山市推荐汇总表.xlsx")["推荐汇总表"]
    assert (summary["D3"].value, summary["F3"].value) == ("中山市古镇镇灯饰照明产业集群", "已推荐")
