"""Opening a database, through the CLI: each cause that keeps it from opening is reported as
what it is (exit 2 with the cause), not as "no gdcluster schema … run `gdcluster init`" — which
is said only of a database that is there, reachable and without the schema. Reading commands
never create a database, and read-only access (a read-only file, a read-only folder) can read
and never writes. On SQLite and on PostgreSQL (a refused port, a host that never answers, an
unroutable address, a database the real server does not have).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pg_support import pg_url_or_skip
from support import Walker

from gdcluster.cli import cli
from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})
COUNTY = "county:佛山市南海区@李四"
#: the reading commands an auditor with read access runs
READS = [("audit", "verify"), ("case", "show", "1"), ("case", "list"), ("case", "history", "1"),
         ("case", "attachments", "1")]


def gd(db: Any, *args: str, json_output: bool = False) -> Result:
    argv = ([] if db is None else ["--db", str(db)]) + (["--json"] if json_output else [])
    return RUNNER.invoke(cli, [*argv, *args], catch_exceptions=False)


def refused(result: Result, *words: str) -> str:
    """The command exited 2 and its message holds each of ``words``; returns the message."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    assert "gdcluster schema" not in result.stderr
    return result.stderr


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# ---------------------------------------------------------------------------- SQLite
@pytest.mark.parametrize("args", [
    ("case", "show", "1"), ("case", "list"), ("case", "history", "1"), ("audit", "verify"),
    ("scheduler", "pending"), ("notice", "list"), ("round", "show", "2024"),
    ("--as", COUNTY, "case", "submit", "1"), ("--as", "province", "todo"),
    ("case", "attachments", "1"), ("case", "attachment", "1", "4c79ca82", "-o", "x.pdf"),
], ids=lambda args: "-".join(arg for arg in args if not arg.startswith(("--", "county"))))
def test_a_missing_file_is_named_and_never_created(tmp_path: Path, args: tuple[str, ...]) -> None:
    """No command but `init` creates a database: a missing file is named (exit 2), stays
    missing, and so does ./gdcluster.db when no --db is given."""
    missing = tmp_path / "nowhere.db"
    refused(gd(missing, *args), f"no database file at {missing}", "gdcluster init")
    assert not missing.exists()
    refused(gd(None, *args), f"no database file at {tmp_path / 'gdcluster.db'}")
    assert sorted(os.listdir(tmp_path)) == []
    error = json.loads(gd(missing, *args, json_output=True).stderr)["error"]
    assert error["code"] == "database_unavailable"


def test_init_creates_the_file_but_names_a_missing_folder(tmp_path: Path) -> None:
    """`init` is the command that creates a SQLite file; into a folder that does not exist it
    says so (exit 2), not "unexpected OperationalError"."""
    inside = tmp_path / "no-such-folder" / "gdcluster.db"
    refused(gd(inside, "init"), f"cannot create {inside}", "does not exist")
    assert not inside.parent.exists()
    created = tmp_path / "gdcluster.db"
    assert gd(created, "init").exit_code == 0
    assert created.is_file()


def test_a_folder_or_a_file_that_is_not_sqlite_is_named(tmp_path: Path) -> None:
    """--db naming a folder, or a file that is not a SQLite database: exit 2 saying so, and
    the file is left as it was."""
    refused(gd(tmp_path, "case", "list"), f"{tmp_path} is a folder")
    other = tmp_path / "notes.txt"
    other.write_bytes(b"not a database, just some notes\n" * 100)
    before = other.read_bytes()
    refused(gd(other, "case", "list"), f"cannot open the SQLite database {other}",
            "not a database")
    refused(gd(other, "init"), f"cannot open the SQLite database {other}")
    assert other.read_bytes() == before


@pytest.mark.parametrize("url", ["mysql://u@db.example.gov.cn/gd", "foo://x", "oracle://u@h/d",
                                 "postgresql+asyncpg://u@h/d"])
def test_an_unknown_url_scheme_is_refused(url: str) -> None:
    """Only SQLite and PostgreSQL are databases of gdcluster: any other scheme or driver is
    refused by name (exit 2), for reading commands and `init` alike."""
    for args in (("case", "list"), ("init",)):
        refused(gd(url, *args), "unsupported database URL scheme", "sqlite:///", "postgresql://")


# ---------------------------------------------------------------------------- read-only access
def reader_prefix() -> list[str]:
    """How to run a command as a user without write access to the test's files: as root,
    without the capabilities that let root write anything (``setpriv``); else as is."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to test read-only access as root"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def as_reader(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("GDCLUSTER_")}
    return subprocess.run(
        [*reader_prefix(), sys.executable, "-c", "from gdcluster.cli import main; main()",
         "--db", str(db), *args], capture_output=True, text=True, env=environment,
        cwd=db.parent.parent, timeout=120, check=False)


def fingerprint(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.iterdir())}


@pytest.fixture
def populated(tmp_path: Path, application: dict) -> Iterator[Path]:
    """A SQLite simulation database (alone in its folder) holding one submitted case."""
    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "gdcluster.db"
    clock = FakeClock("2024-03-01T09:00")
    engine = Engine.init(f"sqlite:///{db}", simulation=True, clock=clock)
    try:
        Walker(engine, clock, application).to("submitted")
    finally:
        engine.close()
    assert sorted(os.listdir(folder)) == ["gdcluster.db"]  # closed: no -wal, no -shm
    try:
        yield db
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)


def check_reads_work_and_acts_are_refused(db: Path) -> None:
    for args in READS:
        result = as_reader(db, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "佛山市南海区铝型材产业集群" in as_reader(db, "case", "show", "1").stdout
    assert "submitted" in as_reader(db, "case", "history", "1").stdout
    todo = as_reader(db, "--as", "city:佛山市@张三", "--json", "todo")
    assert todo.returncode == 0, todo.stderr
    assert [line["case_id"] for line in json.loads(todo.stdout)["acts"]] == [1]
    act = as_reader(db, "--as", "city:佛山市@张三", "--now", "2024-03-02T09:00", "case", "review",
                    "1", "--pass")
    assert act.returncode == 2, (act.stdout, act.stderr)
    assert "read-only" in act.stderr and str(db) in act.stderr


def test_a_file_the_user_may_not_read_is_named(populated: Path) -> None:
    """A file without read permission for this user: exit 2, "cannot read PATH"."""
    populated.chmod(0o000)
    result = as_reader(populated, "case", "list")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"cannot read {populated}: permission denied" in result.stderr


@pytest.mark.parametrize("where", ["file", "folder"])
def test_read_only_access_reads_and_never_writes(populated: Path, where: str) -> None:
    """An auditor who may read the file but not write it (or not its folder, so SQLite's
    -wal and -shm cannot be created) runs `audit verify`, `case show`, `case list` and
    `case history`; an act is refused as read-only (exit 2); not a byte changes and no file
    appears in the folder."""
    folder = populated.parent
    before = fingerprint(folder)
    populated.chmod(0o444)
    if where == "folder":
        folder.chmod(0o555)
    check_reads_work_and_acts_are_refused(populated)
    assert fingerprint(folder) == before


def test_read_only_access_reads_a_live_databases_latest_acts(
    populated: Path, application: dict
) -> None:
    """While a writer has the file open (its -wal holds acts not yet copied into the file),
    a reader without write access reads through the -wal: it sees the latest act, and the
    database file itself is not changed by reading."""
    clock = FakeClock("2024-03-02T09:00")
    writer = Engine.open(f"sqlite:///{populated}", clock=clock)
    try:
        writer.fire(1, "review", "city:佛山市@张三")
        assert (populated.parent / "gdcluster.db-wal").exists()
        main_file = hashlib.sha256(populated.read_bytes()).hexdigest()
        populated.chmod(0o444)
        shown = as_reader(populated, "--json", "case", "show", "1")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["state"] == "city_reviewed"
        assert as_reader(populated, "audit", "verify").returncode == 0
        assert hashlib.sha256(populated.read_bytes()).hexdigest() == main_file
    finally:
        writer.close()


# ---------------------------------------------------------------------------- PostgreSQL
@pytest.fixture
def pg_base() -> str:
    return pg_url_or_skip()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers (what a client sees
    of a host that drops its packets: nothing, until its connect timeout)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def server_url(base: str, **changes: Any) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(base)
    query = changes.pop("query", None)
    url = url.set(**changes)
    if query:
        url = url.update_query_dict(query)
    return url.render_as_string(hide_password=False)


CAUSES = ["refused-port", "silent-host", "unroutable-address", "unknown-host",
          "unknown-database"]


def cause_url(cause: str, base: str, port: int) -> tuple[str, list[str]]:
    """The URL for ``cause`` and the words its message must hold."""
    if cause == "refused-port":
        return server_url(base, host="127.0.0.1", port=1), ["127.0.0.1", "Connection refused"]
    if cause == "silent-host":
        return (server_url(base, host="127.0.0.1", port=port, query={"connect_timeout": "2"}),
                [f"127.0.0.1:{port}", "timeout"])
    if cause == "unroutable-address":  # a sandbox's proxy may answer instead: still named
        return (server_url(base, host="10.255.255.1", port=5432,
                           query={"connect_timeout": "2"}), ["10.255.255.1"])
    if cause == "unknown-host":  # .invalid never resolves (RFC 2606)
        return server_url(base, host="db.gdcluster.invalid"), ["db.gdcluster.invalid"]
    name = f"gdcluster_missing_{uuid.uuid4().hex[:8]}"
    return server_url(base, database=name), [f'database "{name}" does not exist']


@pytest.mark.parametrize("cause", CAUSES)
@pytest.mark.parametrize("args", [("case", "list"), ("init",), ("case", "show", "1")],
                         ids=lambda args: "-".join(args))
def test_a_server_that_cannot_be_used_is_named_with_its_cause(
    pg_base: str, silent_port: int, cause: str, args: tuple[str, ...]
) -> None:
    """A refused port, a host that never answers, an unroutable address and a database the
    server does not have: reading commands and `init` exit 2 with "cannot connect to the
    database", the URL (without password) and the driver's cause — never "no schema" or
    "unexpected OperationalError" (exit 1)."""
    url, words = cause_url(cause, pg_base, silent_port)
    message = refused(gd(url, *args), "cannot connect to the database", *words)
    assert "unexpected" not in message


def test_a_silent_server_times_out_by_default(
    pg_base: str, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without connect_timeout in the URL a server that never answers is given up after
    CONNECT_TIMEOUT_S seconds (shortened here) instead of waiting forever."""
    from gdcluster.engine import store

    monkeypatch.setattr(store, "CONNECT_TIMEOUT_S", 2)
    refused(gd(server_url(pg_base, host="127.0.0.1", port=silent_port), "case", "list"),
            "cannot connect to the database", "timeout")


def test_postgres_scheme_means_psycopg(pg_schema_url: str) -> None:
    """`postgres://` and `postgresql://` (the spellings of libpq, Heroku and most hosts) open
    the server through psycopg 3, as `postgresql+psycopg://` does."""
    rest = pg_schema_url.split("://", 1)[1]
    assert gd(f"postgres://{rest}", "init").exit_code == 0
    for scheme in ("postgres", "postgresql", "postgresql+psycopg2"):
        result = gd(f"{scheme}://{rest}", "case", "list", json_output=True)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == []


def test_a_reachable_database_without_the_schema_says_run_init(pg_schema_url: str) -> None:
    """The one case for "run `gdcluster init`": the server answers and the schema is empty."""
    result = gd(pg_schema_url, "case", "list")
    assert result.exit_code == 2
    assert "no gdcluster schema" in result.stderr and "gdcluster init" in result.stderr

