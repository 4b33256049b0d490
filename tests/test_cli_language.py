"""click's own texts (usage errors, "Usage:", "Try … for help.") in the gdcluster command's
language: Chinese by default, English with GDCLUSTER_LANG=en and in --json, and untouched for
any other click program in the same process (a host system that imports gdcluster)."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner, Result

from gdcluster.cli import cli

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})


def gd(*args: str) -> Result:
    return RUNNER.invoke(cli, list(args), prog_name="gdcluster", catch_exceptions=False)


@pytest.fixture
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDCLUSTER_LANG", "zh_CN")


@pytest.mark.usefixtures("chinese")
@pytest.mark.parametrize(("args", "usage", "error"), [
    (["case", "show"], "用法：gdcluster case show [OPTIONS] ID", "错误：缺少参数 'ID'."),
    (["case", "list", "--bogus"], "用法：gdcluster case list [OPTIONS]",
     "错误：没有选项 '--bogus'。"),
    (["case", "shwo"], "用法：gdcluster case [OPTIONS] COMMAND [ARGS]...",
     "错误：没有命令 'shwo'。 您是否想输入 'show'？"),
    (["case", "list", "--format", "pdf"], "用法：gdcluster case list [OPTIONS]",
     "错误：'--format' 的值无效：'pdf' 不是可选值之一：'text', 'csv', 'xlsx'。"),
], ids=["missing-argument", "no-such-option", "no-such-command", "bad-choice"])
def test_usage_errors_are_chinese_by_default(args: list[str], usage: str, error: str) -> None:
    result = gd(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == usage
    command = usage.removeprefix("用法：").split(" [")[0]
    assert lines[1] == f"运行 '{command} --help' 查看帮助。"
    assert lines[-1] == error
    assert "Usage" not in result.stderr and "Error" not in result.stderr


@pytest.mark.usefixtures("chinese")
def test_a_suggestion_and_a_missing_option_value_are_chinese() -> None:
    result = gd("case", "list", "--stat", "已申报")
    assert result.exit_code == 2
    assert result.stderr.endswith("错误：没有选项 '--stat'。 您是否想输入 '--state'？\n")
    result = gd("case", "list", "--state")
    assert result.stderr == "错误：选项 '--state' 需要给出值。\n"


@pytest.mark.usefixtures("chinese")
def test_help_headings_of_click_are_chinese() -> None:
    text = gd("case", "show", "--help").output
    assert text.startswith("用法：gdcluster case show [OPTIONS] ID")
    assert "选项：" in text and "显示本帮助并退出。" in text
    assert "Options" not in text and "Show this message" not in text


def test_usage_errors_are_english_with_gdcluster_lang_en() -> None:
    result = gd("case", "show")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Usage: gdcluster case show [OPTIONS] ID",
        "Try 'gdcluster case show --help' for help.", "",
        "Error: Missing argument 'ID'."]


@pytest.mark.usefixtures("chinese")
def test_json_keeps_clicks_english() -> None:
    """--json carries the English message, like the engine's errors."""
    for args in (["--json", "case", "show"], ["case", "show", "--json"]):
        result = gd(*args)
        assert result.exit_code == 2
        assert json.loads(result.stderr) == {
            "error": {"code": "usage", "message": "Missing argument 'ID'."}}


@pytest.mark.usefixtures("chinese")
def test_another_click_program_in_the_process_keeps_its_own_texts() -> None:
    """Only the gdcluster command is translated: a host's click command run after it (and
    click's messages made outside it) read as click writes them."""
    assert gd("case", "show").stderr.endswith("错误：缺少参数 'ID'.\n")

    @click.command()
    @click.argument("name")
    def host(name: str) -> None:
        click.echo(name)

    result = CliRunner().invoke(host, [])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "Usage: host [OPTIONS] NAME"
    assert result.stderr.splitlines()[-1] == "Error: Missing argument 'NAME'."
    assert click.BadParameter("x").format_message() == "Invalid value: x"


def test_help_after_a_chinese_run_is_english_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """click keeps each command's --help option once made: it is made in English and
    translated when shown, so the language of a later run in the same process still counts."""
    monkeypatch.setenv("GDCLUSTER_LANG", "zh_CN")
    assert "显示本帮助并退出。" in gd("policy", "list", "--help").output
    monkeypatch.setenv("GDCLUSTER_LANG", "en")
    text = gd("policy", "list", "--help").output
    assert "Show this message and exit." in text and "显示" not in text


def test_version_in_both_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDCLUSTER_LANG", "zh_CN")
    assert gd("--version").output.startswith("gdcluster，版本 ")
    assert "--version" in gd("--help").output and "显示版本并退出" in gd("--help").output
    monkeypatch.setenv("GDCLUSTER_LANG", "en")
    assert gd("--version").output.startswith("gdcluster, version ")
