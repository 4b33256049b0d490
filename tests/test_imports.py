"""Start-up stays light: reads and ``--help`` load none of the heavy libraries (issue 5, P3).

Each command runs in a fresh interpreter, which then reports what ``sys.modules`` holds. No
timing is asserted anywhere: a module that is not imported costs nothing on any machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import Walker

from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock

#: Libraries a read needs none of (the scheduler, notices, migrations, the state machine) —
#: with what they drag in (Mako for Alembic, lxml for python-docx).
HEAVY = ("apscheduler", "jinja2", "docx", "lxml", "alembic", "mako", "transitions")

DRIVER = """
import json, sys
from gdcluster.cli import main
report, argv = sys.argv[1], sys.argv[2:]
try:
    main(argv)
    code = 0
except SystemExit as exit:
    code = exit.code
with open(report, "w", encoding="utf-8") as stream:
    json.dump({"code": code, "modules": sorted(sys.modules)}, stream)
"""


def loaded_after(argv: list[str], tmp_path: Path, db: str | None = None) -> set[str]:
    """The top-level packages ``gdcluster ARGV`` imported, run in a fresh interpreter."""
    return {name.split(".")[0] for name in modules_after(argv, tmp_path, db)}


def modules_after(argv: list[str], tmp_path: Path, db: str | None = None) -> set[str]:
    """Every module ``gdcluster ARGV`` imported, run in a fresh interpreter."""
    report = tmp_path / "modules.json"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GDCLUSTER_")}
    if db is not None:
        env["GDCLUSTER_DB"] = db
    subprocess.run([sys.executable, "-c", DRIVER, str(report), *argv], env=env, cwd=tmp_path,
                   check=True, stdout=subprocess.DEVNULL, timeout=120)
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["code"] in (0, None), result["code"]
    return set(result["modules"])


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """A SQLite file with one recognized case (deadlines, history) and a draft."""
    from gdcluster.engine.application import load_application_file

    folder = tmp_path_factory.mktemp("imports")
    url = f"sqlite:///{folder / 'gdcluster.db'}"
    path = Path(__file__).parent / "data" / "application-complete.json"
    application = load_application_file(path.read_bytes(), path.name)
    clock = FakeClock("2024-03-01T09:00:00")
    engine = Engine.init(url, simulation=True, clock=clock)
    try:
        walker = Walker(engine, clock, application)
        case_id = walker.to("recognized")
        walker.create(name="佛山市顺德区家电产业集群", county="佛山市顺德区")
    finally:
        engine.close()
    return url, case_id


@pytest.mark.slow
def test_help_loads_no_heavy_library_and_no_database_layer(tmp_path: Path) -> None:
    """``gdcluster --help`` imports click and the CLI module, not SQLAlchemy nor any heavy one."""
    loaded = loaded_after(["--help"], tmp_path)
    assert "click" in loaded
    assert not loaded & {*HEAVY, "sqlalchemy", "sqlmodel", "pydantic"}, sorted(loaded)


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["case", "show", "{id}", "--json"], id="case-show-json"),
        pytest.param(["case", "show", "{id}"], id="case-show-human"),
        pytest.param(["case", "list", "--json", "--limit", "5"], id="case-list-json"),
        pytest.param(["case", "history", "{id}", "--json"], id="case-history-json"),
    ],
)
def test_reads_load_no_heavy_library(argv: list[str], database: tuple[str, int],
                                     tmp_path: Path) -> None:
    """Reading a case needs neither the scheduler, Jinja, python-docx, Alembic nor the Machine."""
    url, case_id = database
    loaded = loaded_after([part.format(id=case_id) for part in argv], tmp_path, db=url)
    assert "sqlalchemy" in loaded  # it did read the database
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["case", "show", "{id}", "--json"],
                                  ["case", "list", "--json", "--limit", "5"]],
                         ids=["case-show-json", "case-list-json"])
def test_reads_define_only_the_tables_they_read(argv: list[str], database: tuple[str, int],
                                                tmp_path: Path) -> None:
    """A list of cases defines the case tables only: not the audit, notice and delivery
    tables of ``gdcluster.engine.records`` (half of the model classes' start-up); `case show`
    reads the expert scores and notices there, so it defines them. Neither attaches the
    notice service."""
    url, case_id = database
    modules = modules_after([part.format(id=case_id) for part in argv], tmp_path, db=url)
    assert "gdcluster.engine.models" in modules
    assert ("gdcluster.engine.records" in modules) == (argv[1] == "show")
    assert not {name for name in modules if name.startswith("gdcluster.notifications")}
