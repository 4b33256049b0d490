"""Excel in and out through the command line, on SQLite and PostgreSQL: a case filed from a
申报表 workbook, a bad cell refused by sheet!cell with nothing written, a folder imported file
by file, the case list and a round's 推荐汇总表 with every expert's scores exported and read
back cell by cell, an application exported and filed again, and progress shown only on a
terminal (a real pty)."""

from __future__ import annotations

import copy
import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook
from support import PROVINCE, Walker
from terminal_support import run_gdcluster
from workbook_support import complete, workbook

from gdcluster.cli import cli
from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock
from gdcluster.states.policy import load_policy

DATA = Path(__file__).parent / "data"
POLICY = load_policy("guangdong-2023")
NANHAI = "county:佛山市南海区@李四"
T_OPEN = "2024-03-01T09:00"
T_FILE = "2024-04-15T10:00"

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})


def gd(db: str | None, *args: Any, actor: str | None = None, now: str | None = None) -> Result:
    argv: list[str] = []
    if db is not None:
        argv += ["--db", db]
    if actor is not None:
        argv += ["--as", actor]
    if now is not None:
        argv += ["--now", now]
    return RUNNER.invoke(cli, argv + [str(arg) for arg in args], catch_exceptions=False)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def canonical(application: dict[str, Any]) -> dict[str, Any]:
    """Kinds in the workbook's column order (the only thing a workbook does not keep)."""
    result = copy.deepcopy(application)
    order = ["specialized_new", "innovative", "high_tech"]
    for entry in result.get("quality_smes", []):
        entry["kinds"] = sorted(entry["kinds"], key=order.index)
    return result


def audit_rows(db: str) -> int:
    return int(json.loads(ok(gd(db, "--json", "audit", "verify")).stdout)["rows"])


def case_names(db: str) -> list[str]:
    return [case["name"] for case in json.loads(ok(gd(db, "--json", "case", "list")).stdout)]


@pytest.fixture
def db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An initialized simulation database with round 2024 open; the test runs in tmp_path."""
    monkeypatch.chdir(tmp_path)
    ok(gd(db_url, "init", "--simulation"))
    ok(gd(db_url, "round", "open", 2024, "--apply-by", "2024-05-31", "--recommend-by",
          "2024-06-30", actor=PROVINCE, now=T_OPEN))
    return db_url


# --------------------------------------------------------------------------------------------
# case create / update from a workbook


def test_case_create_reads_the_workbook_and_its_basic_sheet(db: str, tmp_path: Path) -> None:
    """No --round/--name/--county/--industry: 基本信息 names the case; the stored application is
    the workbook's, exactly."""
    path = workbook(tmp_path / "申报表.xlsx", "佛山市南海区铝型材产业集群", county="南海区")
    created = json.loads(ok(gd(db, "--json", "case", "create", "--data", path, actor=NANHAI,
                               now=T_FILE)).stdout)
    shown = json.loads(ok(gd(db, "--json", "case", "show", created["id"])).stdout)
    assert (shown["round"], shown["name"], shown["county"], shown["industry"], shown["state"]) \
        == (2024, "佛山市南海区铝型材产业集群", "佛山市南海区", "铝型材", "drafted")
    engine = Engine.open(db)
    try:
        assert engine.application(created["id"]) == canonical(complete())
    finally:
        engine.close()


def test_options_that_contradict_the_workbook_are_refused(db: str, tmp_path: Path) -> None:
    """--name naming another cluster than 基本信息!B4 is exit 2 naming the cell; nothing is
    written. Options the workbook agrees with are accepted."""
    path = workbook(tmp_path / "申报表.xlsx", "佛山市南海区铝型材产业集群")
    before = audit_rows(db)
    result = gd(db, "case", "create", "--data", path, "--name", "别的集群", actor=NANHAI,
                now=T_FILE)
    assert result.exit_code == 2
    assert ("Error: 基本信息!B4 (name): '别的集群' was given for the cluster's name, but the "
            "file says '佛山市南海区铝型材产业集群'") in result.stderr
    assert audit_rows(db) == before and case_names(db) == []
    ok(gd(db, "case", "create", "--data", path, "--county", "南海区", "--round", 2024,
          actor=NANHAI, now=T_FILE))
    assert case_names(db) == ["佛山市南海区铝型材产业集群"]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_bad_cell_is_exit_2_with_its_sheet_and_cell_and_nothing_is_written(
        db: str, tmp_path: Path, as_json: bool) -> None:
    path = workbook(tmp_path / "申报表.xlsx", "佛山市南海区铝型材产业集群",
                    cells={"指标数据!E3": -3})
    before = audit_rows(db)
    flags = ["--json"] if as_json else []
    result = gd(db, *flags, "case", "create", "--data", path, actor=NANHAI, now=T_FILE)
    assert result.exit_code == 2
    message = "指标数据!E3 (output.2023): must not be negative, not -3"
    if as_json:
        error = json.loads(result.stderr)["error"]
        assert error["code"] == "invalid_input" and error["message"].startswith(message)
    else:
        assert result.stderr.startswith(f"Error: {message}")
    assert audit_rows(db) == before and case_names(db) == []


def test_case_update_takes_a_workbook_for_the_same_case_only(db: str, tmp_path: Path) -> None:
    """A draft is updated from its edited workbook; a workbook naming another cluster is
    refused with its cell, and the draft keeps its data."""
    first = workbook(tmp_path / "a.xlsx", "佛山市南海区铝型材产业集群")
    case_id = json.loads(ok(gd(db, "--json", "case", "create", "--data", first, actor=NANHAI,
                               now=T_FILE)).stdout)["id"]
    edited = workbook(tmp_path / "a.xlsx", "佛山市南海区铝型材产业集群",
                      cells={"指标数据!C9": 50})
    ok(gd(db, "case", "update", case_id, "--data", edited, actor=NANHAI, now=T_FILE))
    other = workbook(tmp_path / "b.xlsx", "佛山市南海区陶瓷产业集群", cells={"指标数据!C9": 60})
    result = gd(db, "case", "update", case_id, "--data", other, actor=NANHAI, now=T_FILE)
    assert result.exit_code == 2
    assert "基本信息!B4 (name): the file is for '佛山市南海区陶瓷产业集群'" in result.stderr
    engine = Engine.open(db)
    try:
        assert engine.application(case_id)["area_km2"] == Decimal("50")
    finally:
        engine.close()


# --------------------------------------------------------------------------------------------
# case import


def test_import_files_each_workbook_and_reports_the_bad_one(db: str, tmp_path: Path) -> None:
    """Three workbooks, one with a bad cell: two cases created, one failure naming sheet!cell,
    exit 2. Run again after the fix: the two are reported as filed, the third is created."""
    folder = tmp_path / "申报"
    folder.mkdir()
    workbook(folder / "1-铝型材.xlsx", "佛山市南海区铝型材产业集群")
    workbook(folder / "2-陶瓷.xlsx", "佛山市南海区陶瓷产业集群", cells={"指标数据!E3": -3})
    workbook(folder / "3-五金.xlsx", "佛山市南海区五金产业集群")
    (folder / "~$1-铝型材.xlsx").write_bytes(b"Excel's lock file")
    (folder / "说明.txt").write_text("not an application", encoding="utf-8")
    result = gd(db, "--json", "case", "import", folder, actor=NANHAI, now=T_FILE)
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["exit_code"] == 2
    assert report["counts"] == {"created": 2, "exists": 0, "failed": 1, "skipped": 1}
    files = {Path(item["file"]).name: item for item in report["files"]}
    assert list(files) == ["1-铝型材.xlsx", "2-陶瓷.xlsx", "3-五金.xlsx", "说明.txt"]
    assert files["1-铝型材.xlsx"]["status"] == files["3-五金.xlsx"]["status"] == "created"
    bad = files["2-陶瓷.xlsx"]
    assert (bad["status"], bad["exit_code"], bad["code"], bad["id"]) == (
        "failed", 2, "invalid_input", None)
    assert bad["message"].startswith("指标数据!E3 (output.2023): must not be negative")
    assert files["说明.txt"]["status"] == "skipped"
    assert case_names(db) == ["佛山市南海区铝型材产业集群", "佛山市南海区五金产业集群"]
    assert [item["id"] for item in report["files"] if item["status"] == "created"] == [1, 2]

    workbook(folder / "2-陶瓷.xlsx", "佛山市南海区陶瓷产业集群")
    again = ok(gd(db, "case", "import", folder, actor=NANHAI, now=T_FILE))
    lines = again.stdout.splitlines()
    assert any("1-铝型材.xlsx" in line and "exists" in line and "case 1" in line for line in lines)
    assert any("2-陶瓷.xlsx" in line and "created" in line and "case 3" in line for line in lines)
    assert lines[-1] == "1 created, 2 already filed, 0 failed, 1 skipped"
    assert sorted(case_names(db)) == sorted(
        ["佛山市南海区铝型材产业集群", "佛山市南海区五金产业集群", "佛山市南海区陶瓷产业集群"])


def test_import_reads_json_with_a_case_block_and_refuses_it_without(db: str,
                                                                     tmp_path: Path) -> None:
    """A JSON file names its case in a top-level case block; without one it is refused. A file
    of another county is refused for this actor (exit 4), and the first failure's code is the
    command's exit code."""
    data = json.loads((DATA / "application-complete.json").read_text("utf-8"))
    with_block = {"case": {"round": 2024, "name": "佛山市南海区灯饰产业集群", "county": "南海区",
                           "industry": "灯饰"}, **data}
    (tmp_path / "a.json").write_text(json.dumps(with_block, ensure_ascii=False), "utf-8")
    (tmp_path / "b.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    other = {**with_block, "case": {**with_block["case"], "county": "顺德区"}}
    (tmp_path / "c.yaml").write_text(json.dumps(other, ensure_ascii=False), "utf-8")
    result = gd(db, "--json", "case", "import", tmp_path / "c.yaml", tmp_path / "a.json",
                tmp_path / "b.json", actor=NANHAI, now=T_FILE)
    report = json.loads(result.stdout)
    assert [(Path(item["file"]).name, item["status"], item["exit_code"])
            for item in report["files"]] == [("c.yaml", "failed", 4), ("a.json", "created", 0),
                                             ("b.json", "failed", 2)]
    assert report["files"][2]["message"].startswith(
        "case: a JSON or YAML file to import needs a top-level case block")
    assert result.exit_code == report["exit_code"] == 4
    assert case_names(db) == ["佛山市南海区灯饰产业集群"]


def test_import_of_an_empty_folder_says_so(db: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = gd(db, "case", "import", tmp_path / "empty", actor=NANHAI, now=T_FILE)
    assert result.exit_code == 2
    assert "no application file found" in result.stderr


# --------------------------------------------------------------------------------------------
# case export


@pytest.mark.parametrize("fmt", ["json", "yaml", "xlsx"])
def test_an_exported_application_is_filed_again_unchanged(db: str, tmp_path: Path,
                                                          fmt: str) -> None:
    """`case export` writes the application with its case block; `case create --data` of that
    file alone files the same cluster with the same data."""
    engine = Engine.open(db, clock=FakeClock(T_FILE))
    try:
        first = engine.create_case(round_year=2024, name="佛山市南海区铝型材产业集群",
                                   county="佛山市南海区", industry="铝型材", data=complete(),
                                   actor=NANHAI)
    finally:
        engine.close()
    target = tmp_path / f"export.{fmt}"
    ok(gd(db, "case", "export", first, "--format", fmt, "-o", target))
    if fmt == "json":
        document = json.loads(target.read_text("utf-8"))
        assert document["case"] == {"round": 2024, "name": "佛山市南海区铝型材产业集群",
                                    "county": "佛山市南海区", "industry": "铝型材"}
        assert document["output"] == {"2021": "152.3", "2022": "171.8", "2023": "196.4"}
        assert ok(gd(db, "case", "export", first)).stdout == target.read_text("utf-8")
    second = json.loads(ok(gd(db, "--json", "case", "create", "--data", target, actor=NANHAI,
                              now=T_FILE)).stdout)["id"]
    engine = Engine.open(db)
    try:
        expected = canonical(complete()) if fmt == "xlsx" else complete()
        assert engine.application(second) == expected
        assert engine.get(second).name == engine.get(first).name
    finally:
        engine.close()


def test_case_export_needs_a_file_for_a_workbook(db: str) -> None:
    result = gd(db, "case", "export", 1, "--format", "xlsx")
    assert result.exit_code == 2 and "give -o FILE" in result.stderr


# --------------------------------------------------------------------------------------------
# case list --format xlsx|csv


HOSTILE_NAMES = ['=HYPERLINK("http://evil.example/","点击")产业集群', "+SUM(1)产业集群",
                 "-1产业集群", "@cmd产业集群"]


def _file_cases(db: str, names: list[str], county: str = "佛山市南海区") -> list[int]:
    engine = Engine.open(db, clock=FakeClock(T_FILE))
    try:
        return [engine.create_case(round_year=2024, name=name, county=county, industry="五金",
                                   data=complete(), actor=f"county:{county}") for name in names]
    finally:
        engine.close()


def test_case_list_exports_to_xlsx_cell_by_cell(db: str, tmp_path: Path) -> None:
    """Chinese headers; one row per case with the list's filters; names that look like
    formulas are string cells holding exactly the name."""
    ids = _file_cases(db, HOSTILE_NAMES)
    _file_cases(db, ["广州市番禺区珠宝产业集群"], county="广州市番禺区")
    result = ok(gd(db, "case", "list", "--city", "佛山", "--format", "xlsx", "-o",
                   tmp_path / "cases.xlsx"))
    assert "wrote 4 cases to" in result.stderr
    sheet = load_workbook(tmp_path / "cases.xlsx").active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["编号", "年度", "地市", "县（市、区）", "集群名称", "主导产业", "状态",
                       "状态代码", "得分", "公示开始", "公示结束", "有效期起", "有效期止", "版本"]
    assert rows[1:] == [[case_id, 2024, "佛山市", "南海区", name, "五金", "草稿", "drafted", None,
                         None, None, None, None, 1] for case_id, name in zip(ids, HOSTILE_NAMES,
                                                                              strict=True)]
    for row in sheet.iter_rows(min_row=2):
        assert row[4].data_type == "s" and row[4].quotePrefix


def test_case_list_exports_to_csv_neutralized(db: str, tmp_path: Path) -> None:
    """UTF-8 with a byte-order mark, every field quoted, CRLF; texts that a spreadsheet would
    run as a formula start with a single quote."""
    ids = _file_cases(db, HOSTILE_NAMES)
    ok(gd(db, "case", "list", "--format", "csv", "-o", tmp_path / "cases.csv"))
    raw = (tmp_path / "cases.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf\"\xe7\xbc\x96\xe5\x8f\xb7\"")  # BOM, "编号"
    assert raw.count(b"\r\n") == len(ids) + 1
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0][:5] == ["编号", "年度", "地市", "县（市、区）", "集群名称"]
    assert [row[4] for row in rows[1:]] == ["'" + name for name in HOSTILE_NAMES]
    assert [row[0] for row in rows[1:]] == [str(case_id) for case_id in ids]
    piped = ok(gd(db, "case", "list", "--format", "csv")).stdout_bytes
    assert piped == raw


# --------------------------------------------------------------------------------------------
# round show --format xlsx


EXPERT_POINTS = [
    {"leading_industry": "23.5", "innovation": 18, "digital": 13, "green": 9, "cooperation": 13,
     "governance": 14},
    {"leading_industry": 22, "innovation": "17.25", "digital": 12, "green": 8, "cooperation": 12,
     "governance": 15},
    {"leading_industry": 24, "innovation": 19, "digital": 14, "green": "9.5", "cooperation": 14,
     "governance": 13},
]


def test_round_show_exports_the_summary_by_city_and_every_experts_points(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """推荐汇总表: every case of the round by city (region order), its unit, name, industry,
    state and score; 专家评分: each expert's points per rubric indicator, the total and the
    case's final score; --city keeps one city's cases."""
    monkeypatch.chdir(tmp_path)
    ok(gd(db_url, "init", "--simulation"))
    clock = FakeClock(T_OPEN)
    engine = Engine.open(db_url, clock=clock)
    try:
        walker = Walker(engine, clock, complete())
        scored = walker.to("recommended")
        for index, points in enumerate(EXPERT_POINTS, start=1):
            engine.fire(scored, "score", PROVINCE, expert=f"专家{index}", scores=points)
        engine.fire(scored, "expert_review", PROVINCE)
        drafted = walker.create(name="广州市番禺区珠宝产业集群", county="广州市番禺区")
        final = engine.get(scored).score
    finally:
        engine.close()
    ok(gd(db_url, "round", "show", 2024, "--format", "xlsx", "-o", tmp_path / "r.xlsx"))
    book = load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["推荐汇总表", "地市名额", "专家评分"]
    summary = [[cell.value for cell in row] for row in book["推荐汇总表"].iter_rows()]
    assert summary[0][0] == "2024年广东省中小企业特色产业集群推荐汇总表"
    assert summary[1] == ["序号", "地市", "县（市、区）", "集群名称", "主导产业", "状态", "得分",
                          "编号"]
    assert summary[2:] == [
        [1, "广州市", "番禺区", "广州市番禺区珠宝产业集群", "铝型材", "草稿", None, drafted],
        [2, "佛山市", "南海区", "佛山市南海区铝型材产业集群", "铝型材", "已完成专家评审",
         float(final), scored]]
    scores = [[cell.value for cell in row] for row in book["专家评分"].iter_rows()]
    assert scores[1] == ["编号", "地市", "集群名称", "专家", "主导产业优势（25分）",
                         "协同创新能力（20分）", "数字化转型（15分）", "绿色低碳发展（10分）",
                         "协作网络与开放合作（15分）", "治理与服务能力（15分）", "合计",
                         "最终得分", "评分时间"]
    order = [item.id for item in POLICY.rubric.indicators]
    for index, points in enumerate(EXPERT_POINTS):
        row = scores[2 + index]
        expected = [Decimal(str(points[key])) for key in order]
        assert row[:4] == [scored, "佛山市", "佛山市南海区铝型材产业集群", f"专家{index + 1}"]
        assert [Decimal(str(value)) for value in row[4:10]] == expected
        assert Decimal(str(row[10])) == sum(expected)
        assert Decimal(str(row[11])) == Decimal(final)
    assert final == "90.0833"  # (90.5 + 86.25 + 93.5) / 3, as the engine stored it
    assert scores[6][0].startswith("最终得分为各专家合计的平均值")
    quotas = {row[0].value: row[3].value for row in book["地市名额"].iter_rows(min_row=3)}
    assert quotas["佛山市"] == 1 and quotas["广州市"] == 0

    ok(gd(db_url, "round", "show", 2024, "--format", "xlsx", "--city", "广州", "-o",
          tmp_path / "gz.xlsx"))
    only = load_workbook(tmp_path / "gz.xlsx")
    assert [row[3].value for row in only["推荐汇总表"].iter_rows(min_row=3)] == [
        "广州市番禺区珠宝产业集群"]
    assert [row[0].value for row in only["地市名额"].iter_rows(min_row=3)] == ["广州市"]
    assert only["专家评分"].max_row == 4  # title, header, blank row, the note
    refused = gd(db_url, "round", "show", 2024, "--city", "广州")
    assert refused.exit_code == 2 and "--format xlsx" in refused.stderr


# --------------------------------------------------------------------------------------------
# template application


def test_template_command_writes_the_rounds_workbook_without_a_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--round picks the round (its 近三年 as columns); without it, the clock's year. No
    database is opened or created."""
    monkeypatch.chdir(tmp_path)
    report = json.loads(ok(gd(None, "--json", "template", "application", "--round", 2025, "-o",
                              "申报表.xlsx")).stdout)
    assert report == {"output": "申报表.xlsx", "round": 2025, "window": [2022, 2023, 2024],
                      "policy": "guangdong-2023"}
    book = load_workbook(tmp_path / "申报表.xlsx")
    assert book["基本信息"]["B3"].value == 2025
    assert [book["指标数据"].cell(row=2, column=column).value for column in (3, 4, 5)] == [
        "2022年", "2023年", "2024年"]
    result = ok(gd(None, "template", "application", "-o", "t.xlsx", now="2026-02-01T10:00"))
    assert "round 2026 (近三年 2023–2025" in result.stderr
    assert load_workbook(tmp_path / "t.xlsx")["基本信息"]["B3"].value == 2026
    assert not (tmp_path / "gdcluster.db").exists()


# --------------------------------------------------------------------------------------------
# Progress on a terminal only


@pytest.fixture
def three_workbooks(tmp_path: Path) -> list[str]:
    db = f"sqlite:///{tmp_path / 'gdcluster.db'}"
    ok(gd(db, "init", "--simulation"))
    ok(gd(db, "round", "open", 2024, "--apply-by", "2024-05-31", actor=PROVINCE, now=T_OPEN))
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("铝型材", "陶瓷", "五金"):
        workbook(folder / f"{name}.xlsx", f"佛山市南海区{name}产业集群")
    return ["--db", db, "--as", NANHAI, "--now", T_FILE]


def test_import_and_export_show_progress_on_a_terminal(three_workbooks: list[str],
                                                       tmp_path: Path) -> None:
    """On a terminal, stderr shows the progress bar of the import (3 of 3 files) and of the
    export; stdout keeps the report."""
    code, stdout, terminal = run_gdcluster([*three_workbooks, "case", "import", "in"],
                                           tmp_path, terminal=True)
    assert code == 0, stdout + terminal
    assert b"importing" in terminal and b"100%" in terminal
    assert b"3 created, 0 already filed, 0 failed, 0 skipped" in stdout
    code, _, terminal = run_gdcluster([*three_workbooks, "case", "list", "--format", "xlsx",
                                       "-o", "out.xlsx"], tmp_path, terminal=True)
    assert code == 0 and b"exporting" in terminal and b"100%" in terminal
    assert load_workbook(tmp_path / "out.xlsx").active.max_row == 4


@pytest.mark.parametrize("where", ["json-on-a-terminal", "pipe"])
def test_no_progress_under_json_or_on_a_pipe(three_workbooks: list[str], tmp_path: Path,
                                             where: str) -> None:
    """--json on a terminal: stderr stays empty and stdout is the JSON report; on a pipe the
    human report comes without any progress line."""
    flags = ["--json"] if where.startswith("json") else []
    code, stdout, stderr = run_gdcluster([*three_workbooks, *flags, "case", "import", "in"],
                                         tmp_path, terminal=where != "pipe")
    assert code == 0
    assert b"importing" not in stderr and b"%" not in stderr
    if flags:
        assert stderr == b""
        assert json.loads(stdout)["counts"]["created"] == 3
    else:
        assert b"3 created" in stdout
