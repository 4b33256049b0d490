"""Progress of long batches on a terminal only: `round publicize`, `round recognize` and
`audit verify` draw a bar on stderr when it is a real terminal (a pty), and nothing under
--json or on a pipe; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import Walker
from terminal_support import run_gdcluster

PROVINCE = "province@王处长"


@pytest.fixture
def reviewed(walker: Walker, db_url: str) -> list[str]:
    """Two expert-reviewed cases of round 2024; the global options for the commands."""
    for name, county in (("南海铝型材产业集群", "佛山市南海区"),
                         ("顺德家电产业集群", "佛山市顺德区")):
        walker.to("expert_reviewed", name=name, county=county)
    walker.engine.close()
    return ["--db", db_url, "--as", PROVINCE]


PUBLICIZE = ["--now", "2024-09-27T10:00", "round", "publicize", "2024", "--select", "1,2",
             "--start", "2024-09-27"]
LABELS = (b"publicizing", b"recognizing", b"verifying the audit chain")
RECOGNIZE = ["--now", "2024-10-12T09:00", "round", "recognize", "2024", "--doc-no",
             "粤工信服务函〔2024〕99号"]


def test_batches_and_audit_verify_show_progress_on_a_terminal(reviewed: list[str],
                                                               tmp_path: Path) -> None:
    """On a terminal each batch and the audit check draw their bar to 100% on stderr, and
    stdout keeps the report."""
    code, stdout, terminal = run_gdcluster([*reviewed, *PUBLICIZE], tmp_path, terminal=True)
    assert code == 0, stdout + terminal
    assert b"publicizing" in terminal and b"100%" in terminal
    assert b"publicized: 1, 2" in stdout
    code, stdout, terminal = run_gdcluster([*reviewed, *RECOGNIZE], tmp_path, terminal=True)
    assert code == 0, stdout + terminal
    assert b"recognizing" in terminal and b"100%" in terminal
    assert b"recognized: 1, 2" in stdout
    code, stdout, terminal = run_gdcluster([*reviewed, "audit", "verify"], tmp_path,
                                           terminal=True)
    assert code == 0, stdout + terminal
    assert b"verifying the audit chain" in terminal and b"100%" in terminal
    assert b"audit chain intact" in stdout


@pytest.mark.parametrize("where", ["json-on-a-terminal", "pipe"])
def test_no_progress_under_json_or_on_a_pipe(reviewed: list[str], tmp_path: Path,
                                             where: str) -> None:
    """--json on a terminal: stderr stays empty and stdout is the JSON; on a pipe the human
    report comes without any progress line."""
    flags = ["--json"] if where.startswith("json") else []
    terminal = where != "pipe"
    outputs = [run_gdcluster([*reviewed, *flags, *command], tmp_path, terminal=terminal)
               for command in (PUBLICIZE, RECOGNIZE, ["audit", "verify"])]
    for code, stdout, stderr in outputs:
        assert code == 0, stdout + stderr
        assert b"%" not in stderr
        assert not any(label in stderr for label in LABELS)
    if flags:
        assert [stderr for _, _, stderr in outputs] == [b"", b"", b""]
        assert json.loads(outputs[1][1])["recognized"] == [1, 2]
        assert json.loads(outputs[2][1])["ok"] is True
    else:
        assert b"recognized: 1, 2" in outputs[1][1]
        assert b"audit chain intact" in outputs[2][1]


def test_verify_reports_progress_in_batches(walker: Walker) -> None:
    """verify tells its progress callback of every row checked, in batches, and
    audit_length sizes the bar to the same count."""
    walker.to("recommended")
    told: list[int] = []
    report = walker.engine.verify_audit(progress=told.append)
    assert report.ok
    assert sum(told) == report.rows == walker.engine.audit_length()
    from gdcluster.engine import audit

    told.clear()
    with walker.engine.store.read() as session:
        assert audit.verify(session, batch=2, progress=told.append).ok
    assert sum(told) == report.rows and set(told[:-1]) == {2}
