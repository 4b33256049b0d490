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

#: Libraries a read needs none of (the scheduler, notices, migrations, the state machine,
#: the workbooks, PDF, YAML files) — with what they drag in (Mako for Alembic, lxml for
#: python-docx).
HEAVY = ("apscheduler", "jinja2", "docx", "lxml", "alembic", "mako", "transitions", "openpyxl",
         "weasyprint", "yaml")

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


def modules_after(argv: list[str], tmp_path: Path, db: str | None = None,
                  pycache: Path | None = None) -> set[str]:
    """Every module ``gdcluster ARGV`` imported, run in a fresh interpreter; with ``pycache``,
    writing bytecode (and the parsed shipped files) under that prefix."""
    report = tmp_path / "modules.json"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GDCLUSTER_")}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
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
def test_help_imports_neither_shutil_nor_textwrap(tmp_path: Path) -> None:
    """``gdcluster --help`` (Chinese, the default) finds the terminal's width itself, writes
    the lines that fit directly and asks the standard library's gettext nothing: ``shutil``
    (with bz2, lzma and zlib), ``textwrap`` and ``locale`` stay unloaded, a tenth of its
    instructions (issue 5)."""
    loaded = modules_after(["--help"], tmp_path)
    assert "gdcluster.cli" in loaded
    assert not loaded & {"shutil", "bz2", "lzma", "zlib", "textwrap", "click._textwrap",
                         "locale"}, sorted(loaded)


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
    modules = modules_after([part.format(id=case_id) for part in argv], tmp_path, db=url)
    loaded = {name.split(".")[0] for name in modules}
    assert "sqlalchemy" in loaded  # it did read the database
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    # click's progress bars and shell completion load when used, not for every command
    assert not {"click._termui_impl", "click.shell_completion"} & modules


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["case", "show", "{id}", "--json"],
                                  ["case", "list", "--json", "--limit", "5"]],
                         ids=["case-show-json", "case-list-json"])
def test_reads_define_only_the_tables_they_read(argv: list[str], database: tuple[str, int],
                                                tmp_path: Path) -> None:
    """A list of cases defines the case tables only: none of the tables of
    ``gdcluster.engine.records`` (the model classes are much of a command's start-up); `case
    show` of a case out of a 拟撤销 procedure defines none at all: it reads in plain SQL
    (``gdcluster.engine.plain_reads``). Neither attaches the notice service."""
    url, case_id = database
    modules = modules_after([part.format(id=case_id) for part in argv], tmp_path, db=url)
    tables = {name.removeprefix("gdcluster.engine.") for name in modules
              if name.startswith("gdcluster.engine.records_")}
    if argv[1] == "show":
        assert "gdcluster.engine.plain_reads" in modules
        assert not {"gdcluster.engine.models", "gdcluster.engine.case_rows",
                    "gdcluster.engine.applications", "gdcluster.engine.audit"} & modules
    else:
        assert "gdcluster.engine.models" in modules
    assert not tables, sorted(tables)
    assert not {name for name in modules if name.startswith("gdcluster.notifications")}


@pytest.mark.slow
def test_case_show_parses_no_shipped_file_once_cached(database: tuple[str, int],
                                                     tmp_path: Path) -> None:
    """The policy, the workflow and the message catalog are parsed by the first `case show`
    and kept (``gdcluster.states.parsed_cache``): the next one imports no TOML parser."""
    url, case_id = database
    argv = ["case", "show", str(case_id)]
    first = modules_after(argv, tmp_path, db=url, pycache=tmp_path / "pycache")
    assert "tomllib" in first
    assert list((tmp_path / "pycache").rglob("*.marshal"))
    again = modules_after(argv, tmp_path, db=url, pycache=tmp_path / "pycache")
    assert "gdcluster.states.parsed_cache" in again
    assert "tomllib" not in again, sorted(name for name in again if "toml" in name)


def test_the_plain_reads_convert_each_column_as_its_table_does() -> None:
    """Each column `case show` reads in plain SQL names a column of its table, typed as the
    table types it when its values are converted (dates, instants, JSON), and untyped only
    where the table's type converts nothing (integers, texts)."""
    from sqlalchemy import Integer, String
    from sqlmodel.sql import sqltypes

    from gdcluster.engine import models, ormless
    from gdcluster.engine.plain_reads import TABLES

    # the plain reads take sqlmodel's column types from ormless (copies: tests/test_ormless.py)
    copies = {ormless.UTCDateTime: sqltypes.UTCDateTime, ormless.AutoString: sqltypes.AutoString}
    models.load_all()
    tables = models.Case.metadata.tables
    for name, (table, columns, types) in TABLES.items():
        assert set(types) <= set(columns), name
        for column in columns:
            declared = tables[table].c[column].type
            if column in types:
                expected = copies.get(types[column], types[column])
                assert type(declared) is expected, (name, column, declared)
            else:
                assert isinstance(declared, Integer | String) or isinstance(
                    getattr(declared, "impl_instance", None), String), (name, column, declared)


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["case", "show", "{id}"], ["case", "list", "--json"]],
                         ids=["case-show", "case-list-json"])
def test_reads_load_no_act_machinery(argv: list[str], database: tuple[str, int],
                                     tmp_path: Path) -> None:
    """A read opens the engine without binding the workflow (``Engine.open(acts=False)``):
    the act kernel, the lifecycle, the guards, effects and deadline rules stay unloaded. `case
    show` prints the 第十三条 summary, judged under the case's policy, so it loads the policy."""
    url, case_id = database
    modules = modules_after([part.format(id=case_id) for part in argv], tmp_path, db=url)
    acting = {"gdcluster.engine.kernel", "gdcluster.engine.lifecycle", "gdcluster.engine.acts",
              "gdcluster.engine.guards", "gdcluster.engine.effects",
              "gdcluster.engine.deadlines"}
    if argv[1] != "show":
        acting.add("gdcluster.engine.policies")
    assert "gdcluster.engine.views" in modules
    assert not modules & acting, sorted(modules & acting)


def test_an_engine_opened_to_read_binds_the_workflow_at_its_first_act(
        database: tuple[str, int]) -> None:
    url, case_id = database
    engine = Engine.open(url, clock=FakeClock("2030-01-01T09:00:00"), acts=False)
    try:
        assert engine.get(case_id).state == "recognized"
        assert engine._kernel is None  # what this test is about
        assert engine.kernel.lifecycle.triggers  # built when first needed
    finally:
        engine.close()


@pytest.mark.slow
def test_an_act_loads_only_what_it_uses(database: tuple[str, int], tmp_path: Path) -> None:
    """``case submit`` (an act with no notice) loads the act kernel and the state machine, but
    no difflib (region suggestions, when a name is not found), none of the heavy libraries (no
    PyYAML: the application's validation loads it for YAML files only) and not the tables it
    does not touch (expert scores, attachments, the housekeeping tables, the notices,
    renderings and deliveries it does not issue, the refusals it does not record: the seal's
    check for records to vouch for names their tables by name, ``coverage.TABLES``) — nor the
    audit chain's table classes nor the case tables' (``case_models``): it reads and writes
    its case, round and deadlines and the chain on Core tables (``case_tables``,
    ``audit_tables``)."""
    url, case_id = database
    modules = modules_after(["--now", "2025-06-01T09:00", "--as", "county:佛山市顺德区",
                             "case", "submit", str(case_id + 1)], tmp_path, db=url)
    assert "gdcluster.engine.kernel" in modules and "transitions" in modules
    unused = {"difflib", *HEAVY} - {"transitions"}
    loaded = {name.split(".")[0] for name in modules}
    assert not loaded & unused, sorted(loaded & unused)
    untouched = {"gdcluster.engine.records_scores", "gdcluster.engine.records_attachment",
                 "gdcluster.engine.records_blob", "gdcluster.engine.records_admin",
                 "gdcluster.engine.records_delivery", "gdcluster.engine.records_notice",
                 "gdcluster.engine.records_rendering", "gdcluster.engine.records_refusal",
                 "gdcluster.engine.records_audit", "gdcluster.engine.records_audit_head",
                 "gdcluster.engine.case_models"}
    assert not modules & untouched, sorted(modules & untouched)
    assert "gdcluster.engine.case_tables" in modules
    # attached to the notices, but an act that issues none loads none of their machinery (and
    # a simulation database takes no grants from the settings file)
    assert "gdcluster.notifications.notifier" in modules
    notices = {"gdcluster.notifications.service", "gdcluster.notifications.context",
               "gdcluster.notifications.settings", "gdcluster.engine.calendar"}
    assert not modules & notices, sorted(modules & notices)


#: The ORM: ``import sqlmodel`` loads it all (its Session, the mappers, the unit of work).
ORM = ("sqlmodel", "sqlalchemy.orm")


def orm_modules(modules: set[str]) -> list[str]:
    return sorted(name for name in modules
                  if any(name == top or name.startswith(top + ".") for top in ORM))


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["case", "show", "{id}"], ["--json", "case", "show", "{id}"],
                                  ["--now", "2025-06-02T10:00", "--as", "county:佛山市顺德区",
                                   "case", "submit", "{draft}"]],
                         ids=["case-show", "case-show-json", "case-submit"])
def test_the_hot_commands_load_no_orm(argv: list[str], database: tuple[str, int],
                                      tmp_path: Path) -> None:
    """``case show`` (text or JSON) and an act with no notice (``case submit``) read and write
    on Core tables and plain connections: neither sqlmodel nor ``sqlalchemy.orm`` (issue 16)
    — on a copy of the database, the submit changing it."""
    import shutil

    from gdcluster.engine.application import load_application_file

    url, case_id = database
    copy = tmp_path / "copy.db"
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    path = Path(__file__).parent / "data" / "application-complete.json"
    engine = Engine.open(f"sqlite:///{copy}", clock=FakeClock("2025-06-02T09:00:00"))
    try:  # a draft of its own: the fixture's is submitted by another test
        draft = engine.create_case(
            round_year=2024, name="佛山市顺德区小家电产业集群", county="佛山市顺德区",
            industry="小家电", data=load_application_file(path.read_bytes(), path.name),
            actor="county:佛山市顺德区")
    finally:
        engine.close()
    modules = modules_after([part.format(id=case_id, draft=draft) for part in argv],
                            tmp_path, db=f"sqlite:///{copy}")
    assert "gdcluster.engine.views" in modules  # it did read the case
    assert not orm_modules(modules), orm_modules(modules)


@pytest.mark.slow
def test_a_listing_may_load_the_orm(database: tuple[str, int], tmp_path: Path) -> None:
    """The other commands may use the ORM: ``case list`` does (what the test above rules out
    is not ruled out everywhere by accident)."""
    url, _ = database
    modules = modules_after(["case", "list"], tmp_path, db=url)
    assert "gdcluster.engine.views" in modules
    assert "sqlmodel" in modules and "sqlalchemy.orm.session" in modules
