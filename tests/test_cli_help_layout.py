"""The help of every command, laid out by ``TranslatedFormatter``'s direct paths (lines that
fit are written without ``textwrap``; the terminal width without ``shutil``), is the same as
click's own layout at widths 50, 80 and 120 in Chinese and English (issue 5)."""

from __future__ import annotations

import shutil

import click
import pytest
from click.testing import CliRunner

from gdcluster import cli as cli_module
from gdcluster.cli import _clip, _terminal_columns, _width, _wrap, cli

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})


def _paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            paths += _paths(sub, (*path, name))
    return paths


PATHS = _paths(cli)


def _help(path: tuple[str, ...], width: int) -> str:
    result = RUNNER.invoke(cli, [*path, "--help"], prog_name="gdcluster", terminal_width=width,
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_walked() -> None:
    assert len(PATHS) > 60


@pytest.mark.parametrize("language", ["zh_CN", "en"])
@pytest.mark.parametrize("width", [50, 80, 120])
def test_help_is_clicks_layout(language: str, width: int,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDCLUSTER_LANG", language)
    shown = {path: _help(path, width) for path in PATHS}
    monkeypatch.setattr(cli_module, "_fits", lambda text, width: False)  # click's way, always
    for path in PATHS:
        assert shown[path] == _help(path, width), " ".join(path)


def test_a_narrow_help_wraps_within_its_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDCLUSTER_LANG", "en")
    text = _help((), 50)
    assert max(len(line) for line in text.splitlines()) <= 50
    assert text != _help((), 120)  # something was wrapped
    monkeypatch.setenv("GDCLUSTER_LANG", "zh_CN")
    text = _help((), 50)
    wide = [line for line in text.splitlines() if _width(line) > 50]
    assert all(line.rstrip()[-1] in "。，、；：？！）」』》" for line in wide), wide
    assert len(text.splitlines()) > len(_help((), 120).splitlines())


@pytest.mark.parametrize("columns", [None, "", "abc", "0", "37", "132"])
def test_terminal_columns_are_shutils(columns: str | None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _terminal_columns() == shutil.get_terminal_size().columns


def _clip_reference(text: str, limit: int) -> str:
    for end in range(len(text)):
        if _width(text[:end + 1]) > limit:
            return text[:max(end - 1, 0)] + "…"
    return text


def _wrap_reference(text: str, limit: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for token in cli_module._tokens(" ".join(text.split())):
        if line and _width(line + token.rstrip()) > limit \
                and token not in cli_module._NO_LINE_START:
            lines.append(line.rstrip())
            line = "" if token.isspace() else token
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


TEXTS = ["", "a", "创建数据库，或将其架构升级到当前版本。", "Create the database, or upgrade it.",
         "按 ID 显示案件（含 case show 的全部字段）", "混合 mixed 文本 with 中文、标点。和 words"]


@pytest.mark.parametrize("text", TEXTS)
def test_clip_and_wrap_are_the_quadratic_ones(text: str) -> None:
    for limit in range(0, 50):
        assert _clip(text, limit) == _clip_reference(text, limit)
        assert _wrap(text, max(limit, 1)) == _wrap_reference(text, max(limit, 1))


@pytest.mark.parametrize("options", [{}, {"dir_okay": False}, {"file_okay": False},
                                     {"dir_okay": False, "writable": True}])
def test_a_lazy_path_is_named_as_clicks(options: dict[str, bool]) -> None:
    from click import types

    made_with = types._
    lazy = cli_module.LazyPath(**options)
    assert types._ is made_with  # click's lookup put back
    assert lazy.name == click.Path(**options).name
    assert lazy.to_info_dict() == click.Path(**options).to_info_dict()
