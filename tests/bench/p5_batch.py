"""P5 — batch work: ``round publicize`` over 1,000 expert-reviewed cases, notice included.

1,000 expert-reviewed cases (bulk-seeded, distinct scores) are publicized with
``Engine.publicize_round(top=800)``: 800 publicized, 200 rejected (未入选), one transaction each,
then the round's act and its publicity notice (拟认定名单公示: txt, HTML and .docx with the
800-row list, written to an outbox), as ``gdcluster round publicize`` does it. The yardstick is
P1's per-transition Core baseline × 1,000, measured in the same run: the batch's progress
callback runs one baseline transaction of each kind after every case (timed apart and taken
out of the batch's time), so both see the same load. Target: ≤ 1.5 × the yardstick.

    python tests/bench/p5_batch.py [--cases 1000] [--top 800]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PROVINCE,
    YEAR,
    Figure,
    Seeder,
    backends,
    database,
    emit,
    fake_clock,
    init_engine,
    note,
    open_round,
    scratch,
    utc,
)
from p1_transitions import Baseline, prepare

PUBLICIZE_AT = "2024-09-27T10:00"


def seed(url: str, cases: int) -> Any:
    engine = init_engine(url, fake_clock(PUBLICIZE_AT))
    open_round(engine)
    with Seeder(engine) as seeder:
        seeder.cases(cases, state="expert_reviewed", at=utc("2024-07-15T09:00"),
                     extra=lambda case_id: {"score": f"{60 + case_id / 100:.4f}",
                                            "recommended_at": utc("2024-06-15T09:00")})
    return engine


def measure(backend: str, cases: int, top: int) -> list[Figure]:
    from gdcluster.notifications.service import attach
    from gdcluster.notifications.settings import Settings

    with scratch("p5") as folder, database(backend, folder, "batch") as url, \
            database(backend, folder, "inline") as inline_url, \
            database(backend, folder, "prepared") as prepared_url:
        engine = seed(url, cases)
        attach(engine, Settings(outbox=folder / "outbox"))
        opened = [engine]
        steps: dict[str, Iterator[Any]] = {}
        for name, base_url in (("inline", inline_url), ("prepared", prepared_url)):
            base_engine, base_cases = prepare(base_url, -(-cases // 3))
            opened.append(base_engine)
            steps[name] = Baseline(base_engine, prepared=name == "prepared").steps(base_cases)
        baseline_seconds = dict.fromkeys(steps, 0.0)
        baseline_count = dict.fromkeys(steps, 0)

        def tick(_done: int) -> None:
            for name, queue in steps.items():
                start = time.perf_counter()
                next(queue)()
                baseline_seconds[name] += time.perf_counter() - start
                baseline_count[name] += 1

        try:
            start = time.perf_counter()
            result = engine.publicize_round(YEAR, PROVINCE, top=top, start="2024-09-27",
                                            doc_no="粤工信服务函〔2024〕88号", progress=tick)
            batch = time.perf_counter() - start - sum(baseline_seconds.values())
            assert len(result.publicized) == top
            assert len(result.rejected) == cases - top
            notices = notice_formats(engine)
            assert notices >= {"txt"}, notices
        finally:
            for opened_engine in opened:
                opened_engine.close()
    per = {name: baseline_seconds[name] / baseline_count[name] for name in steps}
    note(f"{backend}: publicize_round over {cases} cases in {batch:.2f} s "
         f"(notice formats {sorted(notices)}); Core baseline {per['inline'] * 1000:.2f} ms, "
         f"prepared {per['prepared'] * 1000:.2f} ms per transition")
    return [
        Figure("P5", "round publicize vs Core × N", backend,
               f"{cases:,} cases in {batch:.1f} s incl. the publicity notice; Core baseline "
               f"{per['inline'] * 1000:.2f} ms/transition × {cases:,} = "
               f"{per['inline'] * cases:.1f} s", batch / (per["inline"] * cases), 1.5),
        Figure("P5", "round publicize vs prepared Core × N (stricter reference)", backend,
               f"{cases:,} cases in {batch:.1f} s; prepared Core baseline "
               f"{per['prepared'] * 1000:.2f} ms/transition × {cases:,} = "
               f"{per['prepared'] * cases:.1f} s", batch / (per["prepared"] * cases), 1.5),
    ]


def notice_formats(engine: Any) -> set[str]:
    from sqlalchemy import select

    from gdcluster.engine.models import Notice

    with engine.store.read() as session:
        return set(session.scalars(select(Notice.format).where(Notice.kind == "publicity")))


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--top", type=int, default=None, help="default: 80%% of --cases")
    args = parser.parse_args(argv)
    top = args.top if args.top is not None else args.cases * 4 // 5
    figures = []
    for backend in backends():
        for figure in measure(backend, args.cases, top):
            emit(figure)
            figures.append(figure)
    return figures


if __name__ == "__main__":
    main()
