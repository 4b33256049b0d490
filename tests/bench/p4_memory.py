"""P4 — memory: nothing loads all the cases.

A database of 100,000 recognized clusters and their deadlines (14 rows each: validity end,
expiry reminder, annual reports and their reminders — 1.4 million rows, bulk-inserted), on the
system clock as a real one runs. Ten more clusters' validity ended yesterday without a 复核
application, so the first sweep has work: 10 revocations with their notices.

* ``gdcluster scheduler run`` is started, left to finish its catch-up sweep (the 10 revocations
  are logged), given a moment to arm APScheduler, and stopped with SIGTERM.
* ``gdcluster case list --json`` streams all 100,001 cases to /dev/null.

Each runs in a driver that reports, when the command returns, the process's peak RSS (``VmHWM``
in /proc: ``ru_maxrss`` would carry the parent's peak across ``exec``) and the modules it
loaded. The yardstick is an idle process that imports
exactly those modules and nothing else. Target: peak ≤ 1.3 × idle, for each command.

    python tests/bench/p4_memory.py [--cases 100000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CLI_DRIVER,
    PEAK_SOURCE,
    PROVINCE,
    BulkSeeder,
    Figure,
    emit,
    note,
    quick_args,
    scratch,
    seeded_sqlite,
    settings_file,
    timed,
)

#: Imports the given modules, then reports its own peak RSS the same way.
IDLE = """
import importlib, json, sys
report, names = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        pass
with open(report, "w", encoding="utf-8") as stream:
    json.dump({"code": 0, "peak_kib": PEAK(), "modules": sorted(sys.modules)}, stream)
"""

IDLE = PEAK_SOURCE + IDLE

DUE = 10


def seed(url: str, cases: int) -> None:
    """A real (not simulation) database: recognized clusters whose deadlines lie ahead of
    today, and ``DUE`` whose validity ended yesterday."""
    from gdcluster.engine.api import Engine

    today = datetime.now(UTC).date()
    engine = Engine.init(url)
    try:
        year = today.year
        engine.open_round(year, PROVINCE)
        engine.open_round(year - 3, PROVINCE)
        expired_from = _years_before(today, 3)  # valid until yesterday
    finally:
        engine.close()
    with BulkSeeder(url) as seeder:
        seeder.recognized(DUE, valid_from=expired_from, round_year=year - 3,
                          done_before=datetime.now(UTC))
        seeder.recognized(cases, valid_from=today - timedelta(days=1), round_year=year)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 3, 1)


def environment(url: str, folder: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GDCLUSTER_")}
    env["GDCLUSTER_DB"] = url
    env["GDCLUSTER_SETTINGS"] = str(settings_file(folder))
    return env


def run_scheduler(folder: Path, url: str) -> dict[str, object]:
    """``scheduler run`` until its first sweep has revoked ``DUE`` cases, then SIGTERM."""
    report = folder / "scheduler.json"
    process = subprocess.Popen(
        [sys.executable, "-c", CLI_DRIVER, str(report), "scheduler", "run"],
        env=environment(url, folder), cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )
    revoked = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        count = 0
        for line in process.stderr:
            lines.append(line)
            if "validity_end" in line and "revoked" in line:
                count += 1
                if count >= DUE:
                    revoked.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not revoked.wait(timeout=300):
            raise RuntimeError("the first sweep did not revoke the expired clusters:\n"
                               + "".join(lines[-20:]))
        time.sleep(2)  # the wake-up is re-armed and APScheduler started
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["code"] in (0, None), "".join(lines[-20:])
    return result


def run_command(folder: Path, url: str, name: str, argv: list[str]) -> dict[str, object]:
    report = folder / f"{name}.json"
    subprocess.run([sys.executable, "-c", CLI_DRIVER, str(report), *argv],
                   env=environment(url, folder), cwd=folder, check=True,
                   stdout=subprocess.DEVNULL, timeout=600)
    return json.loads(report.read_text(encoding="utf-8"))


def idle_with(folder: Path, name: str, modules: list[str]) -> int:
    """Peak RSS (KiB) of a process that imports ``modules`` and does nothing else."""
    names = folder / f"{name}-modules.json"
    names.write_text(json.dumps([m for m in modules if m not in ("__main__", "__mp_main__")]),
                     encoding="utf-8")
    report = folder / f"{name}-idle.json"
    subprocess.run([sys.executable, "-c", IDLE, str(report), str(names)], cwd=folder,
                   check=True, timeout=120)
    return int(json.loads(report.read_text(encoding="utf-8"))["peak_kib"])


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    quick_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.cases = 2000
    figures = []
    with scratch("p4") as folder:
        url, seconds, size = seeded_sqlite(folder, "p4", lambda url: seed(url, args.cases))
        note(f"seeded {args.cases:,} recognized cases, {args.cases * 14:,} deadlines "
             f"({size:,.0f} MiB) in {seconds:.0f} s")
        runs = {
            "scheduler run": lambda: run_scheduler(folder, url),
            "case list --json": lambda: run_command(folder, url, "list", ["case", "list",
                                                                          "--json"]),
        }
        for label, run in runs.items():
            took, result = timed(run)
            peak = int(result["peak_kib"])  # type: ignore[call-overload]
            idle = idle_with(folder, label.split()[1], list(result["modules"]))  # type: ignore[call-overload]
            note(f"{label}: peak {peak / 1024:.0f} MiB, idle with the same "
                 f"{len(result['modules'])} modules {idle / 1024:.0f} MiB ({took:.0f} s)")  # type: ignore[arg-type]
            figure = Figure(
                "P4", f"memory: {label}", "sqlite",
                f"peak RSS {peak / 1024:.0f} MiB on {args.cases:,} cases",
                f"idle process with the same imports {idle / 1024:.0f} MiB", peak / idle, 1.3,
                "at_most")
            emit(figure)
            figures.append(figure)
    return figures


if __name__ == "__main__":
    main()
