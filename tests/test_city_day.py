"""A 地市 administrator's day (佛山市), end to end through the command line, on SQLite and
PostgreSQL: 南海区 imports three 申报表 workbooks (one with a bad cell: reported as sheet!cell,
nothing written for it), attaches a 证明材料 and submits; the city's `todo` shows the two
cases waiting for its 资格初审; it reads one (`case show`), reviews and recommends both, its
`todo` is then empty, and the 推荐汇总表 it exports (`round show --format xlsx`) is read back
with openpyxl. Structure is checked on `--json` fields and codes (the CLI's other text is
being translated); Chinese state labels, which the CLI and the workbook show, are checked as
they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook
from workbook_support import workbook

from gdcluster.cli import cli

DATA = Path(__file__).parent / "data"
PROVINCE = "province@王处长"
NANHAI = "county:佛山市南海区@李四"
FOSHAN = "city:佛山市@张三"
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})


@pytest.fixture
def gd(db_url: str) -> Any:
    def run(*args: Any, actor: str | None = None, now: str | None = None,
            code: int = 0) -> Result:
        argv = ["--db", db_url]
        argv += ["--as", actor] if actor else []
        argv += ["--now", now] if now else []
        result = RUNNER.invoke(cli, argv + [str(arg) for arg in args])
        assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}"
        return result

    return run


def test_a_city_administrators_day(gd: Any, tmp_path: Path) -> None:
    gd("init", "--simulation")
    gd("round", "open", 2024, "--apply-by", "2024-05-31", "--recommend-by", "2024-06-30",
       actor=PROVINCE, now="2024-03-01T09:00")

    # 南海区 files its three workbooks; the one with a negative output is refused by its cell
    folder = tmp_path / "申报表"
    folder.mkdir()
    workbook(folder / "1-铝型材.xlsx", "佛山市南海区铝型材产业集群")
    workbook(folder / "2-陶瓷.xlsx", "佛山市南海区陶瓷产业集群", cells={"指标数据!E3": -3})
    workbook(folder / "3-五金.xlsx", "佛山市南海区五金产业集群")
    imported = json.loads(gd("--json", "case", "import", folder, actor=NANHAI,
                             now="2024-04-15T10:00", code=2).stdout)
    assert imported["counts"] == {"created": 2, "exists": 0, "failed": 1, "skipped": 0}
    bad = next(item for item in imported["files"] if item["status"] == "failed")
    assert bad["file"].endswith("2-陶瓷.xlsx") and bad["message"].startswith("指标数据!E3")
    ids = [item["id"] for item in imported["files"] if item["status"] == "created"]
    listed = json.loads(gd("--json", "case", "list").stdout)
    assert [case["name"] for case in listed] == ["佛山市南海区铝型材产业集群",
                                                 "佛山市南海区五金产业集群"]
    gd("case", "attach", ids[0], DATA / "proof.pdf", "--kind", "证明材料", "--note",
       "2023年产值统计证明", actor=NANHAI, now="2024-04-15T10:30")
    for case_id in ids:
        gd("case", "submit", case_id, actor=NANHAI, now="2024-04-16T09:00")

    # the city's morning: what waits for me?
    todo = json.loads(gd("--json", "todo", actor=FOSHAN, now="2024-04-17T09:00").stdout)
    assert [(line["case_id"], line["state"]) for line in todo["acts"]] == [
        (ids[0], "submitted"), (ids[1], "submitted")]
    assert all("review" in line["triggers"] for line in todo["acts"])
    assert "已申报" in gd("todo", actor=FOSHAN, now="2024-04-17T09:00").stdout
    assert json.loads(gd("--json", "todo", actor="city:广州市", now="2024-04-17T09:00")
                      .stdout)["acts"] == []

    shown = json.loads(gd("--json", "case", "show", ids[0]).stdout)
    assert shown["criteria"]["passed"] is True
    assert [row["kind"] for row in shown["attachments"]] == ["证明材料"]
    assert "已申报" in gd("case", "show", ids[0]).stdout

    for case_id in ids:
        gd("case", "review", case_id, "--pass", "--spot-check", "实地抽查2家企业",
           actor=FOSHAN, now="2024-04-18T09:00")
    for case_id in ids:
        gd("case", "recommend", case_id, actor=FOSHAN, now="2024-04-18T10:00")
    assert json.loads(gd("--json", "todo", actor=FOSHAN, now="2024-04-18T11:00")
                      .stdout)["acts"] == []

    # the 推荐汇总表 for the province
    target = tmp_path / "佛山市推荐汇总表.xlsx"
    gd("round", "show", 2024, "--format", "xlsx", "--city", "佛山市", "-o", target)
    sheet = load_workbook(target)["推荐汇总表"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=3)]
    assert [(row[1], row[2], row[3], row[5], row[7]) for row in rows] == [
        ("佛山市", "南海区", "佛山市南海区铝型材产业集群", "已推荐", ids[0]),
        ("佛山市", "南海区", "佛山市南海区五金产业集群", "已推荐", ids[1])]
    assert json.loads(gd("--json", "audit", "verify").stdout)["ok"] is True
