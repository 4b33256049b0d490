"""The code is checked as part of the suite, with the versions pinned in the test extras:
ruff (style, imports, likely bugs; configured in pyproject.toml) over the whole tree, and
mypy over the engine, the workflow definitions and the notifications. A missing tool is a
failure, not a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_tool(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    result = run_tool("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_finds_nothing(tmp_path: Path) -> None:
    """The checkout is the gdcluster package whatever its folder is called (`fresh-ci`, `main`):
    mypy searches a folder holding only a link named gdcluster to it, so the project's own
    imports resolve under their real name, and checks the packages pyproject.toml names. An
    import mypy cannot resolve is an error there, except the untyped libraries it lists."""
    (tmp_path / "gdcluster").symlink_to(ROOT, target_is_directory=True)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", os.devnull],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(tmp_path)}, capture_output=True,
        text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
