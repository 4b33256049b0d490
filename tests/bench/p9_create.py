"""P9 — creating many cases: the ``Engine.create_case`` loop against the batch path.

N applications (default 100,000, the issue's size: the loop takes about 4 minutes here) are
filed into round 2024 twice, each into a database of its own: one ``Engine.create_case`` per
case, and through the batch path ``Engine.create_cases`` (chunked transactions, the same
validation, one audit row per case), the two taking turns block by block so that load falls
on both alike. Each database must then list N cases and pass ``audit verify``.

Every case files the same application unless ``--distinct`` makes each one's differ (its area):
the batch path validates each distinct application once per chunk, so the figure with
``--distinct`` is the one for files that are all different.

Until ``Engine.create_cases`` exists the loop is measured alone and the figure says so. With a
smaller ``--cases`` the 100,000 figure is extrapolated from N, and labelled so.
:func:`batch_path` is the one place that knows the batch call's form.

Target (issue 16): the batch path ≥ 5 × faster than the loop.

    python tests/bench/p9_create.py [--cases 100000] [--block 1000] [--distinct] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    NOT_BUILT,
    YEAR,
    Figure,
    Spent,
    application_data,
    emit,
    init_engine,
    list_cases,
    measured,
    note,
    open_round,
    quick_args,
    scratch,
    units,
)

TARGET_SIZE = 100_000


def items(start: int, count: int, *, distinct: bool = False) -> list[dict[str, Any]]:
    """``create_case``'s keyword arguments for cases ``start`` … ``start + count - 1``; with
    ``distinct`` each application has an area of its own."""
    spread = units()
    data = application_data()
    made = []
    for index in range(start, start + count):
        _city, unit = spread[index % len(spread)]
        given = {**data, "area_km2": f"{index + 1}.5"} if distinct else data
        made.append({"round_year": YEAR, "name": f"基准测试产业集群{index}", "county": unit,
                     "industry": "基准", "data": given, "actor": f"county:{unit}"})
    return made


def loop_path(engine: Any) -> Callable[[list[dict[str, Any]]], int]:
    def run(batch: list[dict[str, Any]]) -> int:
        for item in batch:
            engine.create_case(**item)
        return len(batch)

    return run


def batch_path(engine: Any) -> Callable[[list[dict[str, Any]]], int] | None:
    """``Engine.create_cases`` over a list of ``create_case`` keyword arguments, once it
    exists; None until then."""
    create_cases = getattr(engine, "create_cases", None)
    if create_cases is None:
        return None

    def run(batch: list[dict[str, Any]]) -> int:
        created = create_cases(batch)
        return len(list(created))

    return run


def check(engine: Any, expected: int, name: str) -> None:
    count = sum(1 for _ in list_cases(engine, round_year=YEAR))
    if count != expected:
        raise SystemExit(f"{name}: {count} cases listed, not {expected}")
    report = engine.verify_audit()
    if not report.ok:
        raise SystemExit(f"{name}: audit verify fails: {report.message()}")


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=TARGET_SIZE)
    parser.add_argument("--block", type=int, default=1000)
    parser.add_argument("--distinct", action="store_true",
                        help="a different application for each case")
    quick_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.block = 300, 100
    with scratch("p9") as folder:
        engines = {}
        runners: dict[str, Callable[[list[dict[str, Any]]], int]] = {}
        try:
            for name in ("loop", "batch"):
                engine = init_engine(f"sqlite:///{folder / (name + '.db')}")
                open_round(engine, quota_max=100)
                engines[name] = engine
            runners["loop"] = loop_path(engines["loop"])
            batch = batch_path(engines["batch"])
            if batch is not None:
                runners["batch"] = batch
            runners["loop"](items(0, 3, distinct=args.distinct))  # first-use imports, caches
            if batch is not None:
                batch(items(0, 3, distinct=args.distinct))
            spent = {name: Spent() for name in runners}
            done = dict.fromkeys(runners, 0)
            for index, start in enumerate(range(3, args.cases + 3, args.block)):
                chunk = items(start, min(args.block, args.cases + 3 - start),
                              distinct=args.distinct)
                order = list(runners) if index % 2 == 0 else list(reversed(runners))
                for name in order:
                    took, count = measured(functools.partial(runners[name], chunk))
                    spent[name].add(took)
                    done[name] += count
            for name in runners:
                check(engines[name], args.cases + 3, name)
        finally:
            for engine in engines.values():
                engine.close()
    loop = spent["loop"]
    per_case = loop.wall / done["loop"]
    scaled = ("" if args.cases >= TARGET_SIZE else
              f"; {TARGET_SIZE:,} extrapolated from {args.cases:,} measured: "
              f"≈ {per_case * TARGET_SIZE:,.0f} s")
    loop_text = (f"create_case loop: {done['loop']:,} cases in {loop.wall:,.1f} s "
                 f"({per_case * 1000:.1f} ms wall, {loop.cpu / done['loop'] * 1000:.1f} ms CPU "
                 f"per case){scaled}")
    note(loop_text)
    if "batch" not in runners:
        figure = Figure("P9", f"batch create of {TARGET_SIZE:,} cases vs the create_case loop",
                        "sqlite", "Engine.create_cases: not built yet", loop_text, None, 5.0,
                        status=NOT_BUILT)
    else:
        batch_spent = spent["batch"]
        sameness = (", each application different" if args.distinct else
                    ", every case the same application")
        figure = Figure(
            "P9", f"batch create of {TARGET_SIZE:,} cases vs the create_case loop", "sqlite",
            f"Engine.create_cases: {done['batch']:,} cases in {batch_spent.wall:,.1f} s "
            f"({batch_spent.wall / done['batch'] * 1000:.2f} ms wall, "
            f"{batch_spent.cpu / done['batch'] * 1000:.2f} ms CPU per case; CPU ratio "
            f"{loop.cpu / batch_spent.cpu:.2f}){sameness}", loop_text,
            loop.wall / batch_spent.wall, 5.0)
    return [emit(figure)]


if __name__ == "__main__":
    main()
