"""P2 — a sweep costs what is due, not what is stored.

For each size (default 1,000 / 10,000 / 100,000 pending deadlines, seeded by bulk insert as the
rows recognitions schedule: validity end, expiry reminder, annual reports and their reminders),
exactly 10 deadlines are due: the validity of 10 clusters ended without a 复核 application, so
each sweep revokes 10 cases (18.1). Seven such groups fall due on seven successive days; the
sizes take turns sweeping each day, so load from other processes falls on all alike. The
figure is the median of the seven sweeps ``Engine.run_due(now)`` at each size, and the SQL
statements each sweep sent are counted beside it. Notices are not attached here: rendering 10
revocation notices (txt, HTML, .docx) costs the same at every size and only adds noise (P5
times a notice). Target: the 100,000 sweep ≤ 1.5 × the 1,000 sweep.

    python tests/bench/p2_sweep.py [--sizes 1000,10000,100000] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BulkSeeder,
    Figure,
    analyze,
    counting,
    emit,
    fake_clock,
    init_engine,
    median,
    note,
    open_round,
    quick_args,
    scratch,
    timed,
    utc,
)

GROUPS = 7
DUE = 10
#: clusters recognized in round 2024: their first deadline (a report reminder) is 2025-03-01
REGULAR_FROM = date(2024, 10, 12)


def sweep_at(group: int) -> str:
    """09:00 on 2025-01-15 + group: the validity of group ``group`` ended the day before."""
    return f"{date(2025, 1, 15) + timedelta(days=group)}T09:00"


def build(url: str, size: int) -> object:
    engine = init_engine(url, fake_clock("2024-03-01T09:00"))
    open_round(engine, windows=False)
    pending = 0
    with BulkSeeder(url) as seeder:
        for group in range(GROUPS):
            # valid 2022-01-15+g … 2025-01-14+g: validity ends at 24:00 before the sweep
            _, written = seeder.recognized(
                DUE, valid_from=date(2022, 1, 15) + timedelta(days=group),
                done_before=utc(sweep_at(group)),
            )
            pending += written
        rest = size - pending
        per_case = 14
        _, written = seeder.recognized(-(-rest // per_case), valid_from=REGULAR_FROM,
                                       limit_deadlines=rest)
        pending += written
    assert pending == size, (pending, size)
    analyze(url)
    return engine


def sweep(engine: object, group: int) -> tuple[float, int]:
    """Group ``group``'s sweep: seconds, and the SQL statements it sent."""
    with counting(engine) as counter:
        took, handled = timed(functools.partial(
            engine.run_due, sweep_at(group)))  # type: ignore[attr-defined]
    outcomes = [item.outcome for item in handled]
    assert outcomes == ["revoked"] * DUE, outcomes
    return took, (-1 if counter is None else counter.statements)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    quick_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = "500,2000"
    sizes = [int(item) for item in args.sizes.split(",")]
    times: dict[int, list[float]] = {size: [] for size in sizes}
    statements: dict[int, set[int]] = {size: set() for size in sizes}
    with scratch("p2") as folder:
        engines = {}
        try:
            for size in sizes:
                seeded, engines[size] = timed(functools.partial(
                    build, f"sqlite:///{folder / f'p2-{size}.db'}", size))
                note(f"{size:>7,} pending deadlines seeded in {seeded:.1f} s")
            warm = build(f"sqlite:///{folder / 'warm.db'}", 500)
            sweep(warm, 0)  # imports and caches: paid once, outside the figures
            warm.close()  # type: ignore[attr-defined]
            for group in range(GROUPS):  # sizes take turns: load falls on all alike
                for size, engine in engines.items():
                    took, sent = sweep(engine, group)
                    times[size].append(took)
                    statements[size].add(sent)
        finally:
            for engine in engines.values():
                engine.close()  # type: ignore[attr-defined]
    results = {size: (median(times[size]), max(statements[size])) for size in sizes}
    for size in sizes:
        note(f"{size:>7,} pending, {DUE} due: sweeps "
             + ", ".join(f"{t * 1000:.0f}" for t in times[size])
             + f" ms; SQL statements per sweep {sorted(statements[size])}")
    print(f"| pending deadlines | due | sweep (median of {GROUPS}) | SQL statements |")
    print("|---:|---:|---:|---:|")
    for size, (seconds, sent) in results.items():
        print(f"| {size:,} | {DUE} | {seconds * 1000:.0f} ms | {sent} |")
    smallest, largest = min(results), max(results)
    figure = Figure(
        "P2", "sweep cost follows what is due", "sqlite",
        f"{largest:,} pending → {results[largest][0] * 1000:.0f} ms ({DUE} due)",
        f"{smallest:,} pending → {results[smallest][0] * 1000:.0f} ms ({DUE} due)",
        results[largest][0] / results[smallest][0], 1.5, "at_most",
    )
    emit(figure)
    return [figure]


if __name__ == "__main__":
    main()
