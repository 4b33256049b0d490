"""No quadratic paths (issue 5, P6): twice the cases, twice the work — counted, never timed.

Work is SQL statements sent to the database (SQLAlchemy's ``before_cursor_execute``), which
does not depend on the machine or its load. The one ``transitions`` Machine never binds a case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event
from support import PROVINCE, TIMES, Walker

from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock

#: One unit in each of several cities, so that recommendations stay inside city quotas.
COUNTIES = ("佛山市南海区", "广州市天河区", "深圳市南山区", "东莞市万江街道", "中山市小榄镇",
            "惠州市惠城区", "江门市蓬江区", "肇庆市端州区")

#: Doubling the cases may at most multiply the work by this (quadratic work would be ~4).
LINEAR = 2.2


@contextmanager
def each_statement(engine: Engine, listener: Callable[..., None]) -> Iterator[None]:
    """Call ``listener(connection, …)`` before each SQL statement the engine sends."""
    sa_engine = engine.store.engine
    event.listen(sa_engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(sa_engine, "before_cursor_execute", listener)


@contextmanager
def statements(engine: Engine) -> Iterator[Callable[[], int]]:
    """Count the SQL statements the engine sends while the block runs."""
    count = [0]

    def seen(*_args: object) -> None:
        count[0] += 1

    with each_statement(engine, seen):
        yield lambda: count[0]


def walker_with_room(engine: Engine, clock: FakeClock, application: dict) -> Walker:
    """A Walker whose round lets every city recommend up to 100 cases (and, as the walker's
    own, has no deadline: time only moves forward, and later batches are filed later)."""
    clock.set(TIMES["open"])
    engine.open_round(2024, PROVINCE, quotas={"*": (0, 100)})
    walker = Walker(engine, clock, application)
    walker._round_open = True
    return walker


def create_cases(walker: Walker, count: int, start: int) -> list[int]:
    return [walker.create(name=f"测试产业集群{start + index}",
                          county=COUNTIES[(start + index) % len(COUNTIES)])
            for index in range(count)]


def test_creating_twice_the_cases_costs_twice_the_statements(
    engine: Engine, clock: FakeClock, application: dict,
) -> None:
    """Filing 2N applications sends at most ~2× the statements of filing N."""
    walker = walker_with_room(engine, clock, application)
    create_cases(walker, 3, 0)  # warm: first-use queries are not per-case work
    with statements(engine) as small:
        create_cases(walker, 10, 100)
    with statements(engine) as large:
        create_cases(walker, 20, 200)
    print(f"filing 10 / 20 applications: {small()} / {large()} statements")
    assert small() > 0
    assert large() <= LINEAR * small(), (small(), large())


@pytest.mark.parametrize("size", [6])
def test_publicizing_twice_the_cases_costs_twice_the_statements(
    engine: Engine, clock: FakeClock, application: dict, size: int,
) -> None:
    """``round publicize`` over 2N expert-reviewed cases sends at most ~2× the statements of N.

    Half are picked, half 未入选 (not publicized), so both acts are in the count. The second
    batch is reviewed after the first is publicized, so each call sees only its own batch.
    """
    walker = walker_with_room(engine, clock, application)

    def expert_reviewed(count: int, start: int) -> list[int]:
        ids = create_cases(walker, count, start)
        for case_id in ids:
            for step in ("submit", "review", "recommend", "scores", "expert_review"):
                walker.step(case_id, step)
        return ids

    def publicize(ids: list[int]) -> int:
        clock.set(TIMES["publicize"])
        with statements(engine) as count:
            result = engine.publicize_round(2024, PROVINCE, select_ids=ids[::2],
                                            start="2024-09-27")
        assert sorted(result.publicized + result.not_selected) == sorted(ids)
        return count()

    small = publicize(expert_reviewed(size, 0))
    large = publicize(expert_reviewed(2 * size, 100))
    print(f"round publicize over {size} / {2 * size} cases: {small} / {large} statements")
    assert large <= LINEAR * small, (small, large)


def test_the_machine_never_binds_a_case(engine: Engine, walker: Walker) -> None:
    """After many acts on many cases the one Machine still has no model (DESIGN §13)."""
    from gdcluster.engine.lifecycle import Lifecycle
    from gdcluster.states.workflow import load_workflow

    for county in COUNTIES[:4]:
        walker.to("recognized", county=county, name=f"{county}测试产业集群")
    walker.to("rejected")
    walker.to("withdrawn")
    machine = Lifecycle.of(load_workflow()).machine
    assert machine.models == []
    assert engine.kernel.lifecycle.machine is machine  # one per process


@contextmanager
def sqlite_steps(engine: Engine) -> Iterator[Callable[[], int]]:
    """Count SQLite virtual-machine instructions run while the block runs: the rows a query
    reads, not its statements — a count that does not depend on the machine either."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0  # go on

    def arm(connection: object, *_args: object) -> None:
        connection.connection.driver_connection.set_progress_handler(  # type: ignore[attr-defined]
            step, 1)

    with each_statement(engine, arm):
        yield lambda: steps[0]


def test_a_recommendation_reads_only_its_citys_recommended_cases(
    tmp_path: Path, clock: FakeClock, application: dict,
) -> None:
    """The city quota count of `recommend` reads the recommended cases of that city and
    round through ``ix_gd_case_round_city``: ten times as many other cases of the same city
    in the round (drafts) leave its work the same. Before that index it read every case of
    the round, so a round's recommendations cost quadratic time in its size. SQLite only:
    the measure is SQLite's instruction count (PostgreSQL's planner picks by statistics)."""
    engine = Engine.init(f"sqlite:///{tmp_path}/quota.db", simulation=True, clock=clock)
    try:
        walker = walker_with_room(engine, clock, application)
        city = "city:佛山市"
        work = []
        for fillers in (20, 200):
            for index in range(fillers):
                walker.create(name=f"草稿产业集群{fillers}-{index}")  # same city, not recommended
            case_id = walker.to("city_reviewed")
            with sqlite_steps(engine) as steps:
                engine.fire(case_id, "recommend", city)
            work.append(steps())
        print(f"recommend with 20 / 200 drafts of its city: {work[0]} / {work[1]} SQLite steps")
        assert work[1] <= work[0] * 1.1, work
    finally:
        engine.close()
