"""The 复核申报表 workbook (issue 12): `gdcluster template review` writes the 申报表 of the 复核
round's year plus the sheet 规划目标完成情况 (the case's plan goals listed), and `case
apply-review --data FILE.xlsx` files it with the JSON file's validation, naming the sheet and
cell of what it refuses."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from deadline_support import DATA
from review_support import COUNTY, batch_2023, cli_at, load, open_review_2026

from gdcluster.engine import Engine
from gdcluster.engine.testing import FakeClock

GOALS = ["集群产值", "专精特新中小企业", "工业互联网平台应用普及率", "单位产值二氧化碳排放"]


@pytest.fixture
def covered(tmp_path: Path, clock: FakeClock, monkeypatch: Any) -> tuple[str, int, Any]:
    """A SQLite database with one case of the 2023 batch covered by the 复核 round 2026, and a
    function running the CLI on it at 2026-07-01."""
    db = f"sqlite:///{tmp_path / 'gd.db'}"
    engine = Engine.init(db, simulation=True, clock=clock)
    try:
        [case_id] = batch_2023(engine, clock, count=1)
        open_review_2026(engine, clock)
    finally:
        engine.close()
    gd = cli_at(db, "2026-07-01T10:00", tmp_path, monkeypatch)

    return db, case_id, gd


def filled(tmp_path: Path, name: str, *, results: dict[str, Any] | None = None,
           figures: dict[str, Any] | None = None) -> str:
    """The 复核申报 of ``review-2026.json`` as a filled 复核申报表 (its data written by the
    workbook writer, each goal's result typed into 规划目标完成情况), changed by ``results``
    (cell of 规划目标完成情况 → value) and ``figures`` (cell of 指标数据 → value)."""
    from openpyxl import load_workbook

    from gdcluster.engine.application import validate_application
    from gdcluster.engine.policies import policy_for
    from gdcluster.engine.workbook import CaseHeader
    from gdcluster.engine.workbook_writer import review_workbook

    data = load("review-2026.json")
    given = data.pop("goal_results")
    content = review_workbook(validate_application(data), review_year=2026,
                              policy=policy_for("guangdong-2023"),
                              header=CaseHeader(round_year=2026), goals=GOALS)
    book = load_workbook(io.BytesIO(content))
    sheet = book["规划目标完成情况"]
    for row, result in enumerate(given, start=3):
        sheet.cell(row=row, column=3, value=float(result["actual"]))
        sheet.cell(row=row, column=4, value=result["note"])
    for cell, value in (results or {}).items():
        sheet[cell] = value
    for cell, value in (figures or {}).items():
        book["指标数据"][cell] = value
    path = tmp_path / name
    book.save(path)
    return str(path)


def test_template_review_lists_the_cases_plan_goals(covered: tuple[str, int, Any],
                                                    tmp_path: Path) -> None:
    """`template review --case ID` writes the 申报表 of 2026 (近三年 2023–2025) with the case
    named and its four plan goals listed for their results."""
    from openpyxl import load_workbook

    _db, case_id, gd = covered
    written = gd("--json", "template", "review", "--case", str(case_id), "-o", "复核申报表.xlsx")
    assert written.exit_code == 0, written.output
    report = json.loads(written.output)
    assert (report["round"], report["window"], report["goals"]) == (2026, [2023, 2024, 2025],
                                                                    GOALS)
    book = load_workbook(tmp_path / "复核申报表.xlsx")
    sheet = book["规划目标完成情况"]
    assert [sheet.cell(row=2, column=column).value for column in (1, 2, 3, 4)] == [
        "序号", "指标", "实际值", "说明"]
    assert [sheet.cell(row=row, column=2).value for row in range(3, 7)] == GOALS
    assert book["基本信息"]["B3"].value in (2026, "2026")


def test_apply_review_files_the_workbook_like_the_json(covered: tuple[str, int, Any],
                                                       tmp_path: Path) -> None:
    """The filled workbook is filed: the case is under review with the same 复核申报 as the
    JSON file gives (each goal's result), and the 考核 meets the four goals."""
    _db, case_id, gd = covered
    applied = gd("case", "apply-review", str(case_id), "--data",
                 filled(tmp_path, "复核申报表.xlsx"), actor=COUNTY)
    assert applied.exit_code == 0 and "under_review" in applied.output, applied.output
    kaohe = json.loads(gd("--json", "case", "check", str(case_id), "--review").output)
    assert kaohe["assessment"]["goals_met"] == 4


@pytest.mark.parametrize(("change", "where"), [
    ({"results": {"C4": "很多"}}, "规划目标完成情况!C4 (goal_results[1].actual)"),
    ({"results": {"B6": "不在规划中的指标"}}, "规划目标完成情况!B6"),
    ({"figures": {"E3": -3}}, "指标数据!E3 (output.2025)"),
], ids=["actual-not-a-number", "indicator-not-in-the-plan", "negative-output"])
def test_apply_review_names_the_cell_it_refuses(covered: tuple[str, int, Any], tmp_path: Path,
                                                change: dict, where: str) -> None:
    """A wrong value is bad input (exit 2) naming its sheet and cell, as the 申报表 path does;
    the case stays recognized."""
    _db, case_id, gd = covered
    refused = gd("case", "apply-review", str(case_id), "--data",
                 filled(tmp_path, "bad.xlsx", **change), actor=COUNTY)
    assert refused.exit_code == 2, refused.output
    assert where in refused.output, refused.output
    shown = json.loads(gd("--json", "case", "show", str(case_id)).output)
    assert shown["state"] == "recognized"


def test_the_json_file_still_files(covered: tuple[str, int, Any]) -> None:
    """`case apply-review --data FILE.json` is unchanged."""
    _db, case_id, gd = covered
    applied = gd("case", "apply-review", str(case_id), "--data", str(DATA / "review-2026.json"),
                 actor=COUNTY)
    assert applied.exit_code == 0 and "复核 round 2026" in applied.output, applied.output
