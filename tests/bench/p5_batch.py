"""P5 — batch work: ``round publicize`` over 1,000 expert-reviewed cases, notice included.

1,000 expert-reviewed cases (bulk-seeded, distinct scores) are publicized with
``Engine.publicize_round(top=800)``: 800 publicized, 200 rejected (未入选), one transaction each,
then the round's act and its publicity notice (拟认定名单公示: txt, HTML and .docx with the
800-row list, written to an outbox), as ``gdcluster round publicize`` does it. The yardstick is
P1's per-act peer (python-statemachine + prepared Core) × 1,000, measured in the same run: the
batch's progress callback runs one peer act after every case (timed apart and taken out of the
batch's time), so both see the same load. Target (issue 5): ≤ 1.5 × the yardstick.

    python tests/bench/p5_batch.py [--cases 1000] [--top 800] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    OPEN_AT,
    PROVINCE,
    YEAR,
    BulkSeeder,
    Figure,
    backends,
    database,
    emit,
    fake_clock,
    init_engine,
    list_cases,
    note,
    notice_settings,
    open_engine,
    open_round,
    quick_args,
    scratch,
    utc,
)
from p1_acts import STEPS, PeerActs, actor

PUBLICIZE_AT = "2024-09-27T10:00"


def seed(url: str, cases: int) -> Any:
    engine = init_engine(url, fake_clock(PUBLICIZE_AT))
    open_round(engine)
    with BulkSeeder(url) as seeder:
        seeder.cases(cases, state="expert_reviewed", at=utc("2024-07-15T09:00"),
                     extra=lambda case_id: {"score": f"{60 + case_id / 100:.4f}",
                                            "recommended_at": utc("2024-06-15T09:00")})
    return engine


def peer_steps(url: str, count: int) -> tuple[PeerActs, Iterator[Any]]:
    """The peer on ``count`` drafted cases: one callable per act, submit, review, recommend."""
    engine = init_engine(url, fake_clock(OPEN_AT))
    try:
        open_round(engine)
    finally:
        engine.close()
    with BulkSeeder(url) as seeder:
        seeder.cases(count, state="drafted", at=utc(OPEN_AT))
    engine = open_engine(url)
    try:
        cases = [(view.id, view.city, view.county) for view in list_cases(engine)]
    finally:
        engine.close()
    peer = PeerActs(url)

    def steps() -> Iterator[Any]:
        for case_id, city, unit in cases:
            for trigger, _source, _dest in STEPS:
                yield functools.partial(peer.act, case_id, trigger, actor(trigger, city, unit))

    return peer, steps()


def measure(backend: str, cases: int, top: int) -> list[Figure]:
    from gdcluster.notifications import attach

    with scratch("p5") as folder, database(backend, folder, "batch") as url, \
            database(backend, folder, "peer") as peer_url:
        engine = seed(url, cases)
        attach(engine, notice_settings(folder / "outbox"))
        peer, steps = peer_steps(peer_url, -(-cases // 3))
        spent = [0.0]

        def tick(_done: int) -> None:
            start = time.perf_counter()
            next(steps)()
            spent[0] += time.perf_counter() - start

        try:
            start = time.perf_counter()
            result = engine.publicize_round(YEAR, PROVINCE, top=top, start="2024-09-27",
                                            doc_no="粤工信服务函〔2024〕88号", progress=tick)
            batch = time.perf_counter() - start - spent[0]
            assert len(result.publicized) == top
            assert len(result.rejected) == cases - top
            notices = sorted(path.suffix for path in (folder / "outbox").rglob("*")
                             if path.is_file())
            assert ".txt" in notices, notices
        finally:
            engine.close()
            peer.close()
    per = spent[0] / cases
    note(f"{backend}: publicize_round over {cases} cases in {batch:.2f} s (notice files "
         f"{sorted(set(notices))}); peer {per * 1000:.2f} ms per act")
    return [Figure("P5", "round publicize vs the peer's act × N", backend,
                   f"{cases:,} cases in {batch:.1f} s incl. the publicity notice",
                   f"python-statemachine + prepared Core {per * 1000:.2f} ms/act × {cases:,} = "
                   f"{per * cases:.1f} s", batch / (per * cases), 1.5, "at_most")]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--top", type=int, default=None, help="default: 80%% of --cases")
    quick_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.cases = 100
    top = args.top if args.top is not None else args.cases * 4 // 5
    figures = []
    for backend in backends():
        for figure in measure(backend, args.cases, top):
            emit(figure)
            figures.append(figure)
    return figures


if __name__ == "__main__":
    main()
