"""P8 — reads on 100k rows against a stdlib loop over the same rows, and what they touch.

One SQLite database (bulk-seeded, valid audit chain): 100,000 recognized clusters, each with
one pending deadline of the kinds a recognition schedules (validity end, expiry reminder,
annual report, report reminders, in turn) and one audit row. Each read runs in a fresh process
of its own, engine and reference taking turns (``--runs`` each, median):

* ``scheduler pending --until 2030`` — ``Engine.pending``, against one streamed stdlib query
  over the same deadline and case rows that decides each row's action in a plain loop (with
  the report-deadline look-ups the decision needs); the actions found must agree;
* ``audit verify`` — ``Engine.verify_audit``, against a stdlib loop recomputing the same
  SHA-256 chain over the same rows;
* ``case list --json`` — the ``gdcluster`` command, against a stdlib script that reads the
  listed columns and writes the same JSON (the outputs must be identical).

Wall time (whole process for the command; the call itself for the API reads), CPU and peak RSS
(``VmHWM``). Target (issue 16): each ≤ 1.5 × its reference.

And ``case list`` must never read the application column: counted in one more process, over
``Engine.list``/``list_cases``, by SQLite's authorizer (a callback naming table and column of
every column a statement reads), and by the bytes the process read from the database files
(``/proc/self/io``), against a scan of the columns stored before the application (id, state):
walking the application's overflow pages to reach the columns after it shows there.

    python tests/bench/p8_reads.py [--cases 100000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CLI_DRIVER,
    PEAK_SOURCE,
    BulkSeeder,
    Figure,
    analyze,
    bench_environment,
    emit,
    init_engine,
    list_cases,
    measured,
    median,
    note,
    open_engine,
    open_round,
    peak_kib,
    quick_args,
    sa_engine_of,
    scratch,
    seeded_sqlite,
    sqlite_path,
)

UNTIL = "2030-12-31"
#: ``OPEN_AT`` (09:00 Shanghai), the clock ``open_engine`` gives the engine's reads.
OPEN_AT_UTC = "2024-03-01T01:00:00+00:00"
VALID_FROM = date(2024, 10, 12)
LISTED = ("id", "round_year", "name", "city", "county", "industry", "state", "version",
          "policy", "policy_version", "score", "publicity_start", "publicity_end", "valid_from",
          "valid_until", "created_at", "updated_at")


def seed(url: str, cases: int) -> None:
    engine = init_engine(url)
    try:
        open_round(engine, windows=False)
    finally:
        engine.close()
    with BulkSeeder(url) as seeder:
        seeder.recognized(cases, valid_from=VALID_FROM,
                          kinds=lambda index, rows: [rows[index % len(rows)]])
    analyze(url)


# ---------------------------------------------------------------------------- workers
def rchar() -> int:
    """Bytes this process has read through read()/pread() (the page cache included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def work_pending_engine(url: str) -> dict[str, Any]:
    engine = open_engine(url)
    before = rss_kib()
    spent, rows = measured(lambda: engine.pending(UNTIL))
    actions = Counter(action_class(row.action) for row in rows)
    engine.close()
    return {"seconds": spent.wall, "cpu": spent.cpu, "rows": len(rows),
            "actions": dict(actions), "rss_before": before}


def action_class(action: str) -> str:
    """``revoke 18.1``, ``remind``, ``flag``…; every "not applicable: …" as one class."""
    return "not applicable" if action.startswith(("not applicable", "too late")) else action


def work_pending_stdlib(url: str) -> dict[str, Any]:
    """The minimal equivalent of ``scheduler pending``: one streamed query over the due rows
    with their cases; each row's action decided in Python, looking up the annual reports filed,
    for a report reminder its report's deadline, and for a report deadline whether its day is
    a working day (the engine's built-in calendar: a year it lacks is refused, as the engine
    refuses it)."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from gdcluster.engine.calendar import WorkCalendar
    from gdcluster.engine.errors import EngineError
    from gdcluster.states.policy import load_policy

    periods = {"guangdong-2023": load_policy("guangdong-2023").periods}
    calendar = WorkCalendar()  # the built-in years (the seeded database imports none)
    shanghai = timedelta(hours=8)
    db = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
    before = rss_kib()
    start, cpu = time.perf_counter(), time.process_time()
    cutoff = datetime(2031, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # 24:00 Shanghai
    now = datetime.fromisoformat(OPEN_AT_UTC)  # the engine's (simulation) clock
    filed = {(case_id, year) for case_id, year in db.execute(
        "SELECT case_id, year FROM gd_annual_report")}
    report_due = db.cursor()
    rows = 0
    actions: Counter[str] = Counter()
    for (kind, key, case_id, due_text, state, valid_until, policy) in db.execute(
            "SELECT d.kind, d.key, d.case_id, d.due_at, c.state, c.valid_until, c.policy "
            "FROM gd_deadline d LEFT JOIN gd_case c ON c.id = d.case_id "
            "WHERE d.status = 'pending' AND d.due_at <= ? ORDER BY d.due_at, d.id",
            (cutoff.strftime("%Y-%m-%d %H:%M:%S.%f"),)):
        rows += 1
        due = datetime.fromisoformat(due_text).replace(tzinfo=UTC)
        at = max(now, due)
        if state is None:
            action = "not applicable"
        elif kind in ("report_due", "report_reminder"):
            year = int(key.split(":")[3])
            if state not in ("recognized", "renewed", "under_review") or (case_id, year) in filed:
                action = "not applicable"
            elif kind == "report_reminder":
                found = report_due.execute("SELECT due_at FROM gd_deadline WHERE key = ?",
                                           (f"case:{case_id}:report:{year}",)).fetchone()
                late = found is not None and datetime.fromisoformat(found[0]).replace(
                    tzinfo=UTC) <= at
                action = "not applicable" if late else "remind"
            else:
                action = ("flag" if periods[policy].missed_report_action == "flag"
                          else "report_overdue")
                if periods[policy].report_roll_to_workday:  # 民法典 第203条
                    day = (due + shanghai - timedelta(microseconds=1)).date()
                    try:
                        if not calendar.is_workday(day):
                            action = (f"roll to 24:00 of "
                                      f"{calendar.next_workday(day, inclusive=False)}")
                    except EngineError as error:
                        action = f"refused: {error.message}"
        elif kind in ("validity_end", "expiry_reminder"):
            if kind == "validity_end" and state == "under_review":
                action = "held"
            elif state not in ("recognized", "renewed") or \
                    key != f"case:{case_id}:{kind}:{valid_until}":
                action = "not applicable"
            elif kind == "expiry_reminder":
                ends = datetime.fromisoformat(valid_until).replace(tzinfo=UTC) + timedelta(
                    hours=16)  # 24:00 Shanghai
                action = "not applicable" if ends <= at else "remind"
            else:
                action = "expire"
        else:
            action = "not applicable"
        actions[action] += 1
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    db.close()
    return {"seconds": took, "cpu": cpu, "rows": rows, "actions": dict(actions),
            "rss_before": before}


def work_verify_engine(url: str) -> dict[str, Any]:
    engine = open_engine(url)
    before = rss_kib()
    spent, report = measured(engine.verify_audit)
    engine.close()
    if not report.ok:
        raise SystemExit(report.message())
    return {"seconds": spent.wall, "cpu": spent.cpu, "rows": report.rows, "rss_before": before}


def work_verify_stdlib(url: str) -> dict[str, Any]:
    """The same chain recomputed in a plain loop: each row's canonical JSON (sorted keys,
    compact, UTF-8), its SHA-256, the link to the row before, the head at the end."""
    import sqlite3

    db = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
    before = rss_kib()
    start, cpu = time.perf_counter(), time.process_time()
    previous, expected = "0" * 64, 1
    dumps, sha256 = json.dumps, hashlib.sha256
    for (seq, case_id, round_year, actor, trigger, from_state, to_state, reason, payload,
         article, at, prev_hash, digest) in db.execute(
            "SELECT seq, case_id, round_year, actor, trigger, from_state, to_state, reason, "
            "payload, article, at, prev_hash, hash FROM gd_audit ORDER BY seq"):
        if seq != expected or prev_hash != previous:
            raise SystemExit(f"chain broken at {seq}")
        body = dumps({"seq": seq, "case_id": case_id, "round_year": round_year,
                      "actor": actor, "trigger": trigger, "from_state": from_state,
                      "to_state": to_state, "reason": reason, "payload": payload,
                      "article": article, "at": at.replace(" ", "T") + "Z",
                      "prev_hash": prev_hash},
                     ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        if sha256(body.encode("utf-8")).hexdigest() != digest:
            raise SystemExit(f"row {seq} altered")
        previous, expected = digest, expected + 1
    head = db.execute("SELECT seq, hash FROM gd_audit_head WHERE id = 1").fetchone()
    if tuple(head) != (expected - 1, previous):
        raise SystemExit("the head does not match the chain")
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    db.close()
    return {"seconds": took, "cpu": cpu, "rows": expected - 1, "rss_before": before}


#: The reference of ``case list --json``: the listed columns of every case, written as the
#: command writes them (objects of two-space-indented JSON in an array).
LIST_STDLIB = r"""
import json, sqlite3, sys
from datetime import datetime, timedelta, timezone
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
out = sys.stdout.buffer
SHANGHAI = timezone(timedelta(hours=8))
def instant(text):  # stored UTC, shown in Asia/Shanghai
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).astimezone(
        SHANGHAI).isoformat()
first = True
out.write(b"[\n")
for row in db.execute("SELECT id, round_year, name, city, county, industry, state, version, "
                      "policy, policy_version, score, publicity_start, publicity_end, "
                      "valid_from, valid_until, previous_state, correction_due, review_round, "
                      "created_at, updated_at FROM gd_case ORDER BY id"):
    # the seeded clusters are recognized: no 拟撤销 procedure runs on any of them, so the
    # command shows no hearing deadline and no procedure (it reads them only for such a case)
    item = {"id": row[0], "round": row[1], "name": row[2], "city": row[3], "county": row[4],
            "industry": row[5], "state": row[6], "version": row[7], "policy": row[8],
            "policy_version": row[9], "score": row[10], "publicity_start": row[11],
            "publicity_end": row[12], "valid_from": row[13], "valid_until": row[14],
            "previous_state": row[15], "correction_due": row[16], "review_round": row[17],
            "hearing_due": None, "procedure": None,
            "created_at": instant(row[18]), "updated_at": instant(row[19]),
            "deadlines": [], "objections": [], "reports": []}
    text = json.dumps(item, ensure_ascii=False, indent=2)
    if not first:
        out.write(b",\n")
    first = False
    out.write("\n".join("  " + line for line in text.splitlines()).encode("utf-8"))
out.write(b"\n]\n")
out.flush()
with open(sys.argv[2], "w", encoding="utf-8") as stream:
    json.dump({"peak_kib": PEAK()}, stream)
"""

def work_list_count(url: str) -> dict[str, Any]:
    """``case list`` through the API: reads of the application column (SQLite's authorizer
    on every connection the engine checks out) and bytes read from the database files, beside
    a stdlib scan of (id, state)."""
    import sqlite3

    from sqlalchemy import event

    engine = open_engine(url)
    next(iter(list_cases(engine, limit=1)))  # imports and first statements: not counted
    reads: Counter[str] = Counter()

    def authorize(action: int, table: str | None, column: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_READ and table == "gd_case":
            reads[column or ""] += 1
        elif action == sqlite3.SQLITE_READ and table == "gd_application":  # its own table
            reads["application"] += 1
        return sqlite3.SQLITE_OK

    sa = sa_engine_of(engine)
    listening = sa is not None

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_authorizer(authorize)

    def checkin(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_authorizer(None)

    if listening:
        event.listen(sa, "checkout", checkout)
        event.listen(sa, "checkin", checkin)
    start = rchar()
    rows = sum(1 for _ in list_cases(engine))
    listed_bytes = rchar() - start
    if listening:
        event.remove(sa, "checkout", checkout)
        event.remove(sa, "checkin", checkin)
    engine.close()
    db = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
    start = rchar()
    scanned = sum(1 for _ in db.execute("SELECT id, state FROM gd_case ORDER BY id"))
    scan_bytes = rchar() - start
    side = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'gd_application'")
    stored = db.execute("SELECT sum(length(data)) FROM gd_application" if side.fetchone()[0]
                        else "SELECT sum(length(application)) FROM gd_case").fetchone()[0]
    db.close()
    assert scanned == rows, (scanned, rows)
    return {"rows": rows, "application_reads": reads.get("application", 0) if listening
            else None, "columns_read": sorted(reads), "listed_bytes": listed_bytes,
            "scan_bytes": scan_bytes, "application_bytes": stored}


WORKERS = {
    "pending-engine": work_pending_engine, "pending-stdlib": work_pending_stdlib,
    "verify-engine": work_verify_engine, "verify-stdlib": work_verify_stdlib,
    "list-count": work_list_count,
}


def worker_main(name: str, url: str, report: str) -> None:
    result = WORKERS[name](url)
    result["peak_kib"] = peak_kib()
    Path(report).write_text(json.dumps(result), encoding="utf-8")


# ---------------------------------------------------------------------------- the driver
def in_process(folder: Path, name: str, url: str) -> dict[str, Any]:
    report = folder / f"{name}.json"
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", name, url,
                    str(report)], check=True, env=bench_environment(
                        PYTHONPYCACHEPREFIX=str(folder / "pycache")), cwd=folder)
    return json.loads(report.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def whole_process(folder: Path, name: str, command: list[str], output: Path) -> dict[str, Any]:
    """Wall and CPU of a whole process writing to ``output``; its peak RSS where it reports
    one in ``<folder>/<name>.json``."""
    report = folder / f"{name}.json"
    report.unlink(missing_ok=True)
    with output.open("wb") as stream:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=stream, cwd=folder, env=bench_environment(
            PYTHONPYCACHEPREFIX=str(folder / "pycache")))
        _, status, usage = os.wait4(process.pid, 0)
        took = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command[:6])}… exited {process.returncode}")
    result = {"seconds": took, "cpu": usage.ru_utime + usage.ru_stime}
    if report.exists():
        result["peak_kib"] = json.loads(report.read_text(encoding="utf-8"))["peak_kib"]
    return result


def list_commands(folder: Path, url: str) -> dict[str, list[str]]:
    return {
        "list-engine": [sys.executable, "-c", CLI_DRIVER,
                        str(folder / "list-engine.json"), "--db", url, "case", "list",
                        "--json"],
        "list-stdlib": [sys.executable, "-c", PEAK_SOURCE + LIST_STDLIB, sqlite_path(url),
                        str(folder / "list-stdlib.json")],
    }


def digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def summary(results: list[dict[str, Any]]) -> dict[str, float]:
    return {"seconds": median([r["seconds"] for r in results]),
            "cpu": median([r["cpu"] for r in results]),
            "peak_mib": max(r.get("peak_kib", 0) for r in results) / 1024}


def text(item: dict[str, float]) -> str:
    return (f"{item['seconds']:.2f} s wall, {item['cpu']:.2f} s CPU, peak RSS "
            f"{item['peak_mib']:.0f} MiB")


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    quick_args(parser)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(*args.worker)
        return []
    if args.quick:
        args.cases, args.runs = 2000, 1
    figures = []
    with scratch("p8") as folder:
        url, seconds, size = seeded_sqlite(folder, "reads", lambda url: seed(url, args.cases))
        note(f"seeded {args.cases:,} recognized cases, one pending deadline and one audit row "
             f"each ({size:,.0f} MiB) in {seconds:.0f} s")
        commands = list_commands(folder, url)
        runs: dict[str, list[dict[str, Any]]] = {}
        for run in range(args.runs):
            for pair in (("pending-engine", "pending-stdlib"), ("verify-engine", "verify-stdlib"),
                         ("list-engine", "list-stdlib")):
                for name in pair if run % 2 == 0 else reversed(pair):
                    if name.startswith("list"):
                        output = folder / f"{name}.out"
                        result = whole_process(folder, name, commands[name], output)
                        result["digest"] = digest(output)
                        output.unlink()
                    else:
                        result = in_process(folder, name, url)
                    runs.setdefault(name, []).append(result)
        for name, results in runs.items():
            note(f"{name}: " + "; ".join(f"{r['seconds']:.2f} s" for r in results))
        pending = {name: runs[name][0] for name in ("pending-engine", "pending-stdlib")}
        if pending["pending-engine"]["actions"] != pending["pending-stdlib"]["actions"]:
            raise SystemExit(f"the pending reference decided otherwise than the engine: "
                             f"{pending['pending-engine']['actions']} vs "
                             f"{pending['pending-stdlib']['actions']}")
        note(f"pending: {pending['pending-engine']['rows']:,} rows; actions "
             f"{pending['pending-engine']['actions']} (the same in both)")
        if {r["digest"] for r in runs["list-engine"] + runs["list-stdlib"]} != {
                runs["list-engine"][0]["digest"]}:
            raise SystemExit("case list --json and its reference wrote different output")
        counted = in_process(folder, "list-count", url)
    for label, name, what in (
            ("scheduler pending --until 2030 (Engine.pending)", "pending",
             "stdlib loop: one query, actions decided in Python"),
            ("audit verify (Engine.verify_audit)", "verify",
             "stdlib loop recomputing the SHA-256 chain"),
            ("case list --json (the command, whole process)", "list",
             "stdlib script writing the same JSON (identical output)")):
        engine_side, reference = summary(runs[f"{name}-engine"]), summary(runs[f"{name}-stdlib"])
        figures.append(emit(Figure(
            "P8", f"{label}, {args.cases:,} rows", "sqlite", text(engine_side),
            f"{what}: {text(reference)}", engine_side["seconds"] / reference["seconds"], 1.5,
            "at_most")))
    reads = counted["application_reads"]
    figures.append(emit(Figure(
        "P8", "case list never reads the application column (SQLite authorizer)", "sqlite",
        f"{'not countable' if reads is None else reads} reads of gd_case.application while "
        f"listing {counted['rows']:,} cases (columns read: {', '.join(counted['columns_read'])})",
        "none", None if reads is None else float(reads), 0.0, "at_most")))
    mib = 2**20
    figures.append(emit(Figure(
        "P8", "case list reads only the rows it shows (bytes read from the database files)",
        "sqlite",
        f"{counted['listed_bytes'] / mib:,.0f} MiB read listing {counted['rows']:,} cases "
        f"(the application column holds {counted['application_bytes'] / mib:,.0f} MiB)",
        f"stdlib scan of (id, state), stored before the application: "
        f"{counted['scan_bytes'] / mib:,.0f} MiB",
        counted["listed_bytes"] / max(counted["scan_bytes"], 1), 1.5, "at_most")))
    return figures


if __name__ == "__main__":
    main()
