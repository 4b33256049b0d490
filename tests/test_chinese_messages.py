"""No English left where people read Chinese: representative failing commands — every kind of
error (not found, bad input, a refusal, a permission, the database, a data file, a workbook,
an attachment, click's own usage errors), `case import`'s per-file failures and `audit
verify`'s findings — print Chinese under the default language, and the same English as
before in --json."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gdcluster.cli import cli

DATA = Path(__file__).parent / "data"
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})
COUNTY = "county:佛山市南海区@李四"

#: Three English words in a row (after quoted values, commands, paths and identifiers are
#: taken out): a sentence the catalog did not translate. (Lists of codes, such as the triggers
#: allowed now or the file types accepted, are separated by commas and are not sentences.)
ENGLISH = re.compile(r"\b[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}\b")
#: What may stay as written: quoted values, `commands`, paths, URLs, field paths and codes
VERBATIM = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\S*/\S*|\b\w+(?:[._]\w+)+\b|--[\w-]+")


def english_left(text: str) -> list[str]:
    return ENGLISH.findall(VERBATIM.sub(" ", text))


def error_line(stderr: str, *, cause: bool = False) -> str:
    """The ``错误：…`` line; with ``cause``, without the operating system's or a parser's own
    words after its last colon (they are quoted, not translated)."""
    line = next(line for line in stderr.splitlines() if line.startswith("错误："))
    return line.rpartition("：")[0] if cause else line


@pytest.fixture(autouse=True)
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDCLUSTER_LANG", "zh_CN")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """A simulation database with round 2024 open and one drafted case; a few bad files."""
    folder = tmp_path_factory.mktemp("chinese")
    db = f"sqlite:///{folder / 'gdcluster.db'}"

    def run(*args: object) -> None:
        result = RUNNER.invoke(cli, ["--db", db, *map(str, args)])
        assert result.exit_code == 0, result.output

    run("init", "--simulation")
    run("--as", "province", "--now", "2024-03-01T09:00", "round", "open", "2024")
    run("--as", COUNTY, "--now", "2024-03-02T09:00", "case", "create", "--round", "2024",
        "--name", "佛山市南海区铝型材产业集群", "--county", "佛山市南海区", "--industry", "铝型材",
        "--data", DATA / "application-complete.json")
    (folder / "fake.pdf").write_text("plain text, named like a pdf", "utf-8")
    (folder / "bad.yaml").write_text("output: [1, 2\n", "utf-8")
    imports = folder / "imports"
    imports.mkdir()
    (imports / "a.json").write_text('{"case": {"round": 2024}, "output": {"2023": "1e5"}}',
                                    "utf-8")
    (imports / "b.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (imports / "c.txt").write_text("notes", "utf-8")
    return {"db": db, "folder": folder}


def gd(world: dict[str, Path | str], *args: object) -> Result:
    return RUNNER.invoke(cli, ["--db", str(world["db"]), *map(str, args)],
                         prog_name="gdcluster")


def failing(world: dict[str, Path | str]) -> dict[str, tuple[list[object], int]]:
    """name → (arguments, exit code); a name ending in ``+cause`` quotes a cause from the
    operating system or a parser at its end."""
    folder = Path(world["folder"])
    at = ["--now", "2024-03-05T09:00"]
    return {
        "not-found": (["case", "show", "99"], 2),
        "no-database-file": (["--db", folder / "none.db", "case", "list"], 2),
        "unknown-url-scheme": (["--db", "mysql://h/db", "case", "list"], 2),
        "bad-now": (["--now", "2024-13-01", "case", "list"], 2),
        "unknown-state": (["case", "list", "--state", "已认定了"], 2),
        "permission": (["--as", "city:广州市", *at, "case", "submit", "1"], 4),
        "refused-act": (["--as", COUNTY, *at, "case", "state", "1", "--text", "申辩"], 3),
        "refused-act-with-attachment": (["--as", COUNTY, *at, "case", "state", "1", "--text",
                                         "申辩", "--attach", DATA / "proof.pdf"], 3),
        "attachment-kind": (["--as", COUNTY, *at, "case", "attach", "1", DATA / "proof.pdf",
                             "--kind", "照片"], 2),
        "attachment-type": (["--as", COUNTY, *at, "case", "attach", "1", folder / "fake.pdf",
                             "--kind", "证明材料"], 2),
        "data-file+cause": (["--as", COUNTY, *at, "case", "update", "1", "--data",
                       folder / "bad.yaml"], 2),
        "todo-for-the-public": (["--as", "public@张三", "todo"], 2),
        "policy": (["--as", "province", *at, "policy", "extend", "nope", "--until",
                    "2030-01-01", "--source", "粤工信〔2025〕1号"], 2),
        "anchors-file+cause": (["audit", "verify", "--anchors", folder / "none.jsonl"], 2),
        "click-missing-argument": (["case", "show"], 2),
        "click-no-such-option": (["case", "list", "--colour"], 2),
        "click-bad-choice": (["round", "open", "2025", "--kind", "annual"], 2),
    }


@pytest.mark.parametrize("name", list(failing({"db": "", "folder": "."})))
def test_a_failing_command_says_why_in_chinese(world: dict[str, Path | str], name: str) -> None:
    args, code = failing(world)[name]
    result = gd(world, *args)
    assert result.exit_code == code, result.output
    message = error_line(result.stderr, cause=name.endswith("+cause"))
    assert re.search(r"[\u4e00-\u9fff]", message.removeprefix("错误："))
    assert english_left(message) == [], result.stderr
    assert "Usage" not in result.stderr and "Error" not in result.stderr


@pytest.mark.parametrize(("name", "english"), [
    ("not-found", "case 99 not found"),
    ("refused-act", "case 1 is drafted: state is not allowed (allowed now: "),
    ("attachment-kind", "kind: unknown kind '照片'; use one of "),
    ("policy", "policy: unknown policy 'nope'; known: "),
    ("click-missing-argument", "Missing argument 'ID'."),
])
def test_json_keeps_the_english_message(world: dict[str, Path | str], name: str,
                                        english: str) -> None:
    args, code = failing(world)[name]
    result = gd(world, "--json", *args)
    assert result.exit_code == code
    assert json.loads(result.stderr)["error"]["message"].startswith(english)


def test_import_reports_each_failed_file_in_chinese(world: dict[str, Path | str]) -> None:
    """Per file: the bad JSON field, the broken workbook and the skipped text file, each with
    its reason in Chinese; the summary too."""
    result = gd(world, "--as", COUNTY, "--now", "2024-03-05T09:00", "case", "import",
                Path(world["folder"]) / "imports")
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines[:3]] == ["失败", "失败", "已跳过"]
    assert "不是 .xlsx 工作簿" in lines[1] and "不是申报文件" in lines[2]
    assert lines[-1] == "已创建 0 个，已申报 0 个，失败 2 个，跳过 1 个"
    assert english_left(result.stdout) == [], result.stdout


def test_audit_verify_names_the_tampering_in_chinese(world: dict[str, Path | str],
                                                     tmp_path: Path) -> None:
    """A case's state changed behind the engine's back: the finding reads Chinese."""
    copy = tmp_path / "copy.db"
    copy.write_bytes(Path(str(world["db"]).removeprefix("sqlite:///")).read_bytes())
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE gd_case SET state = 'recognized' WHERE id = 1")
    result = RUNNER.invoke(cli, ["--db", str(copy), "audit", "verify"])
    assert result.exit_code == 3
    assert result.stderr.startswith("审计链在第 2 行断裂："), result.stderr
    assert "申报 1：gd_case 中的 state 为 'recognized'，但审计记录应为 'drafted'" in result.stderr
    assert english_left(result.stderr) == [], result.stderr


def test_a_deadline_plan_is_stored_in_english_and_shown_in_chinese() -> None:
    """What a sweep records (the deadline's result) stays the English text it always was; what
    `scheduler pending` and `scheduler run` show of it is Chinese, as is the sweep's summary."""
    from datetime import UTC, datetime

    from gdcluster.engine.i18n import Message, localize
    from gdcluster.engine.sweep import DeadlineOutcome, summary
    from gdcluster.engine.timers import not_applicable

    plan = not_applicable(Message("case is {state}; no annual report is owed", state="revoked"))
    assert plan.result == "not applicable: case is revoked; no annual report is owed"
    assert localize(plan.result) == "不适用：申报处于 revoked；无需提交年度报告"
    handled = [DeadlineOutcome(id=1, kind="report_due", case_id=1, round_year=None,
                               due_at=datetime(2025, 3, 31, 16, tzinfo=UTC),
                               outcome="not_applicable", result=plan.result)]
    assert summary(handled) == "已处理 1 个期限：不适用 1 个"
    assert summary([]) == "没有到期的期限"


def test_triggers_show_their_chinese_label(world: dict[str, Path | str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`case history` names each act by its code and the workflow's label (in English, the
    code alone)."""
    history = gd(world, "case", "history", "1").stdout
    assert "create（填报）" in history
    monkeypatch.setenv("GDCLUSTER_LANG", "en")
    history = gd(world, "case", "history", "1").stdout
    assert " create " in history and "填报" not in history
