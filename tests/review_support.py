"""The 2023 batch's 复核, seeded for the 复核 tests (importable: ``pythonpath = ["tests"]``).

Three clusters recognized with the 2023 batch's 名单通告 of 2023-07-10 (valid to 2026-07-09),
each with the complete application (its development plan 2024–2026) and its annual reports
for 2023–2025 filed, so that no report deadline stands between them and their 复核.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

from deadline_support import DATA, PROVINCE, recognized
from sqlalchemy import update

from gdcluster.engine import Engine
from gdcluster.engine.applications import encode
from gdcluster.engine.models import Application

COUNTY = "county:佛山市南海区@李四"
CITY = "city:佛山市@张三"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def batch_2023(engine: Engine, clock: Any, count: int = 3) -> list[int]:
    """``count`` clusters of the 2023 batch, reports 2023–2025 filed on 2026-03-02."""
    ids = recognized(engine, clock, date(2023, 7, 10), count=count)
    application = load("application-complete.json")
    with engine.store.write() as session:
        session.execute(update(Application).where(Application.case_id.in_(ids))
                        .values(data=encode(application)))
    clock.set("2026-03-02T09:00")
    report = load("report-2024.json")
    for case_id in ids:
        for year in (2023, 2024, 2025):
            engine.fire(case_id, "report", COUNTY, year=year, data={**copy.deepcopy(report),
                                                                     "year": year})
    return ids


def open_review_2026(engine: Engine, clock: Any, **dates: Any) -> Any:
    """`round open 2026 --kind review` on 2026-06-15, applications until 2026-07-31 and
    初审 until 2026-08-14 unless ``dates`` say otherwise."""
    clock.set("2026-06-15T09:00")
    return engine.open_round(2026, PROVINCE, kind="review",
                             apply_by=dates.get("apply_by", "2026-07-31"),
                             check_by=dates.get("check_by", "2026-08-14"))


def review_deadlines(engine: Engine, covered: int, expiring: int) -> tuple[list[int], list[int]]:
    """Cases valid to 2026-07-09 with their validity-end deadlines: ``covered`` of them
    covered by the 复核 round 2026 (opened 2026-06-15, applications until 2026-06-30), which
    none applies to, and ``expiring`` added after it opened (not covered). A sweep after
    2026-07-09 24:00 proposes 18.1 for the first and expires the others."""
    from deadline_support import insert_cases, open_round

    from gdcluster.engine import deadlines
    from gdcluster.engine.clock import end_of_day

    ending = (deadlines.VALIDITY_END, end_of_day(date(2026, 7, 9)))
    validity = (date(2023, 7, 10), date(2026, 7, 9))
    engine.clock.set("2023-03-01T09:00")  # the batch's round, opened while its policy is in force
    open_round(engine, 2023)
    engine.clock.set("2026-06-15T09:00")
    first = insert_cases(engine, covered, state="recognized", validity=validity,
                         deadline=ending, round_year=2023)
    engine.open_round(2026, PROVINCE, kind="review", apply_by="2026-06-30",
                      check_by="2026-07-15")
    second = insert_cases(engine, expiring, state="recognized", validity=validity,
                          deadline=ending, round_year=2023)
    return first, second


def apply_and_check(engine: Engine, clock: Any, passing: int, failing: int) -> None:
    """The 复核 round 2026's applications of ``passing`` (goals met) and ``failing`` (goals
    missed) on 2026-07-01, and the city's 初审 of each on 2026-07-03 (passed, not passed)."""
    clock.set("2026-07-01T10:00")
    engine.fire(passing, "apply_review", COUNTY, data=load("review-2026.json"))
    engine.fire(failing, "apply_review", COUNTY, data=load("review-2026-goals-missed.json"))
    clock.set("2026-07-03T10:00")
    engine.fire(passing, "review_check", CITY, passed=True, opinion="经初审，符合复核条件")
    engine.fire(failing, "review_check", CITY, passed=False, opinion="发展规划目标多项未完成")


def cli_at(db: str, now: str, tmp_path: Any, monkeypatch: Any) -> Any:
    """``gd(*argv, actor=None)``: the CLI on ``db`` at ``now``, run in ``tmp_path`` (its
    notices land there) with no GDCLUSTER_* settings from the environment."""
    from click.testing import CliRunner

    from gdcluster.cli import cli

    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"GDCLUSTER_NOW": None, "GDCLUSTER_DB": None,
                            "GDCLUSTER_ACTOR": None, "GDCLUSTER_SETTINGS": None})

    def gd(*argv: str, actor: str | None = None) -> Any:
        return runner.invoke(cli, ["--db", db, *(["--as", actor] if actor else []), "--now",
                                   now, *argv])

    return gd
