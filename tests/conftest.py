"""Shared fixtures: a fake clock, and engines on a SQLite file and on PostgreSQL.

The PostgreSQL variant runs when ``GDCLUSTER_TEST_PG`` names a server (``.ci/run`` sets it).
Without it the variant is skipped on a developer machine, but under CI (``CI`` set) a missing
PostgreSQL is a failure: the suite must not go green by skipping it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_support import pg_url_or_skip, schema_url
from support import Walker
from template_support import initialized

from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock

DATA = Path(__file__).parent / "data"


#: The test files that take longest (seconds on one xdist worker of a 2-core machine, summed over
#: their tests), slowest first. pytest-xdist (``--dist loadfile``) hands files to the workers in
#: collection order as they become free (``--no-loadscope-reorder``: not by test count, which put
#: these few-but-long files last and left one worker idle at the end); running the longest first
#: lets the many short ones fill in around them. A file not named runs after these, in its usual
#: order; a wrong or stale entry only costs time, never a test.
SLOWEST_FILES = ("test_races.py", "test_readme.py", "test_progress.py", "test_crashes.py",
                 "test_permissions.py", "test_scheduler.py", "test_engine.py",
                 "test_database_faults.py", "test_print.py", "test_stateful.py",
                 "test_imports.py", "test_excel_cli.py", "test_delivery.py",
                 "test_hostile_input.py", "test_review_rounds.py", "test_lint.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first (``SLOWEST_FILES``), each file's tests in their own order."""
    rank = {name: index for index, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    with schema_url(pg_url_or_skip()) as url:
        yield url


@pytest.fixture(autouse=True, scope="session")
def _notices_outside_the_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Acts run through the CLI issue notices into ./outbox (DESIGN §10); during the tests they
    go to a temporary folder instead, with the contact details a configured office has (a test
    may still choose its own settings)."""
    folder = tmp_path_factory.mktemp("notice-settings")
    path = folder / "gdcluster.toml"
    path.write_text(f'[notices]\noutbox = "{(folder / "outbox").as_posix()}"\n'
                    '[notices.contact]\ndepartment = "中小企业服务处"\n'
                    'address = "广州市越秀区东风中路305号"\npostcode = "510031"\n'
                    'person = "张三"\nphone = "020-83133333"\nemail = "zxqyc@gdei.gov.cn"\n',
                    encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GDCLUSTER_SETTINGS", str(path))
        yield


@pytest.fixture(autouse=True, scope="session")
def _english_unless_a_test_asks_for_chinese() -> Iterator[None]:
    """The tests that read the CLI's, the log's and the demo's texts were written in English:
    they run with GDCLUSTER_LANG=en (subprocesses inherit it). Tests of the Chinese output
    (tests/test_i18n.py) set GDCLUSTER_LANG=zh_CN themselves."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GDCLUSTER_LANG", "en")
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of each back-end: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gdcluster.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2024-03-01T09:00:00")


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    """An initialized simulation engine (migrations run) on each back-end: what
    ``Engine.init(db_url, simulation=True)`` makes, copied from the first one
    (``template_support``)."""
    engine = initialized(db_url, clock)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def application() -> dict:
    """A complete application that passes every automatic criterion for round 2024."""
    from gdcluster.engine.application import load_application_file

    path = DATA / "application-complete.json"
    return load_application_file(path.read_bytes(), path.name)


@pytest.fixture
def walker(engine: Engine, clock: FakeClock, application: dict) -> Walker:
    return Walker(engine, clock, application)
