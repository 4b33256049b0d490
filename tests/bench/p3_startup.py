"""P3 — CLI start-up: ``case show ID --json`` on 10,000 cases, and ``--help``.

Wall time of whole processes, as a user waits for them, interleaved run by run with the floor
``python -c "import sqlmodel, click"`` so that load from other processes falls on both alike;
medians of ``--runs`` each. The processes run with a warmed bytecode cache
(``PYTHONPYCACHEPREFIX`` in a scratch folder, ``PYTHONDONTWRITEBYTECODE`` unset): an installed
wheel has its ``.pyc`` files, so recompiling our sources each run would time the compiler.
Targets: ``case show --json`` ≤ 1.3 × the floor; ``--help`` ≤ 100 ms.

    python tests/bench/p3_startup.py [--runs 21] [--cases 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Figure,
    Seeder,
    emit,
    init_engine,
    median,
    note,
    open_round,
    scratch,
    utc,
)

BIN = Path(sys.executable).parent
GDCLUSTER = str(BIN / "gdcluster")


def seed(url: str, cases: int) -> int:
    """``cases`` cases: nine in ten recognized with their deadlines, the rest drafts.
    Returns the id of a recognized case in the middle, the one shown."""
    engine = init_engine(url)
    open_round(engine)
    with Seeder(engine) as seeder:
        seeder.cases(cases // 10, state="drafted", at=utc("2024-03-01T09:00"))
        ids, _ = seeder.recognized(cases - cases // 10, valid_from=date(2024, 10, 12))
    engine.close()
    return ids[len(ids) // 2]


def environment(folder: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    env["GDCLUSTER_DB"] = url
    env.pop("GDCLUSTER_NOW", None)
    return env


def wall(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args(argv)
    with scratch("p3") as folder:
        url = f"sqlite:///{folder / 'p3.db'}"
        shown = seed(url, args.cases)
        env = environment(folder, url)
        commands = {
            "floor": [sys.executable, "-c", "import sqlmodel, click"],
            "show": [GDCLUSTER, "case", "show", str(shown), "--json"],
            "help": [GDCLUSTER, "--help"],
        }
        for command in commands.values():  # fill the bytecode cache
            wall(command, env, folder)
            wall(command, env, folder)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                took, used = wall(command, env, folder)
                times[name].append(took)
                cpu[name].append(used)
    floor, show, help_ = (median(times[name]) for name in ("floor", "show", "help"))
    note(f"wall medians of {args.runs}: floor {floor * 1000:.0f} ms, case show "
         f"{show * 1000:.0f} ms, --help {help_ * 1000:.0f} ms ({args.cases:,} cases)")
    note("CPU (user+system) medians: " + ", ".join(
        f"{name} {median(cpu[name]) * 1000:.0f} ms" for name in commands)
        + f"; case show / floor {median(cpu['show']) / median(cpu['floor']):.2f}")
    figures = [
        Figure("P3", "CLI start-up: case show ID --json", "sqlite",
               f"{show * 1000:.0f} ms on {args.cases:,} cases vs floor "
               f"`import sqlmodel, click` {floor * 1000:.0f} ms (medians of {args.runs})",
               show / floor, 1.3, "at_most"),
        Figure("P3", "CLI start-up: --help", "",
               f"{help_ * 1000:.0f} ms (median of {args.runs}) vs target 100 ms",
               help_ / 0.100, 1.0, "at_most"),
    ]
    for figure in figures:
        emit(figure)
    return figures


if __name__ == "__main__":
    main()
