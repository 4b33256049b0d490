"""Packaging: one `gdcluster` namespace, and a wheel that carries its data files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_is_exactly_the_designed_layout() -> None:
    """The repository top level is the one of DESIGN §1 (plus dotfiles and the package init)."""
    names = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    names -= {"__pycache__", "build", "dist", "gdcluster.egg-info", "gdcluster.db", "outbox"}
    names = {n for n in names if not n.startswith("gdcluster.db")}
    assert names == {"pyproject.toml", "README.md", "cli.py", "engine", "states",
                     "notifications", "templates", "tests", "__init__.py"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("src") / "gdcluster"
    # build from a clean copy of the tracked tree, so stray local files cannot leak in
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            target.write_bytes((ROOT / name).read_bytes())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        check=True,
    )
    (built,) = out.glob("gdcluster-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_carries_code_templates_policies_regions_and_migrations(
    wheel: zipfile.ZipFile,
) -> None:
    """Everything the engine loads at run time is inside the wheel, under gdcluster/."""
    names = set(wheel.namelist())
    for required in [
        "gdcluster/__init__.py",
        "gdcluster/cli.py",
        "gdcluster/engine/api.py",
        "gdcluster/states/workflow.toml",
        "gdcluster/states/policies/guangdong-2023.toml",
        "gdcluster/states/policies/national-2022.toml",
        "gdcluster/states/policies/archive/guangdong-2023@1.toml",
        "gdcluster/states/policies/archive/national-2022@1.toml",
        "gdcluster/states/regions.json",
        "gdcluster/engine/migrations/env.py",
        "gdcluster/engine/migrations/script.py.mako",
        "gdcluster/engine/migrations/versions/0001_initial.py",
    ]:
        assert required in names, required
    assert any(n.startswith("gdcluster/templates/") and not n.endswith(".py") for n in names)
    assert not any(n.startswith("gdcluster/tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "gdcluster = gdcluster.cli:main" in wheel.read(entry_points).decode()
