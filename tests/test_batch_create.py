"""``Engine.create_cases`` (issue 16 point 5): the batch path files exactly the rows the
``create_case`` loop files — the cases and one audit row per case, compared column by column
apart from times and hashes — with the same checks, chunk by chunk; and ``case import`` of
many files goes through it."""

from __future__ import annotations

import json
from collections import UserDict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pg_support import pg_url_or_skip, schema_url
from sqlalchemy import create_engine, text

from gdcluster.cli import cli
from gdcluster.engine import Engine, InvalidInput, PermissionDenied, TransitionRefused
from gdcluster.engine.clock import FakeClock

PROVINCE = "province@王处长"
UNITS = ("佛山市南海区", "广州市天河区", "深圳市南山区")


@pytest.fixture(params=["sqlite", "postgresql"])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one back-end."""
    if request.param == "sqlite":
        yield (f"sqlite:///{tmp_path / 'loop.db'}", f"sqlite:///{tmp_path / 'batch.db'}")
        return
    base = pg_url_or_skip()
    with schema_url(base) as first, schema_url(base) as second:
        yield first, second


def opened(url: str) -> Engine:
    engine = Engine.init(url, simulation=True, clock=FakeClock("2024-03-01T09:00:00"))
    engine.open_round(2024, PROVINCE)
    return engine


def rows(application: dict, count: int) -> list[dict[str, Any]]:
    made = []
    for index in range(count):
        unit = UNITS[index % len(UNITS)]
        data = dict(application) if index % 4 else {}  # drafts may be incomplete
        made.append({"round_year": 2024, "name": f"批量测试产业集群{index}", "county": unit,
                     "industry": "铝型材" if index % 2 else "电子信息", "data": data,
                     "actor": f"county:{unit}"})
    return made


def content(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """The cases and audit rows, all columns but times and hashes; the head's length."""
    database = create_engine(url)
    try:
        with database.connect() as connection:
            cases = [tuple(row) for row in connection.execute(text(
                "SELECT id, round_year, name, city, county, industry, state, version, policy, "
                "policy_version, policy_digest, (SELECT data FROM gd_application WHERE "
                "case_id = gd_case.id), score, recommended_at, "
                "publicity_start, publicity_end, valid_from, valid_until, previous_state, "
                "correction_due FROM gd_case ORDER BY id"))]
            audit = [tuple(row) for row in connection.execute(text(
                "SELECT seq, case_id, round_year, actor, trigger, from_state, to_state, reason, "
                "payload, article FROM gd_audit ORDER BY seq"))]
            head = connection.execute(text("SELECT seq FROM gd_audit_head")).scalar_one()
    finally:
        database.dispose()
    return cases, audit, head


def test_the_batch_files_the_rows_the_loop_files(two_urls: tuple[str, str],
                                                 application: dict) -> None:
    given = rows(application, 23)
    loop, batch = (opened(url) for url in two_urls)
    try:
        loop_ids = [loop.create_case(**row) for row in given]
        batch_ids = batch.create_cases(given, chunk=10)  # chunks of 10, 10 and 3
        assert batch_ids == loop_ids
        assert batch.verify_audit().ok and loop.verify_audit().ok
    finally:
        loop.close()
        batch.close()
    loop_cases, loop_audit, loop_head = content(two_urls[0])
    batch_cases, batch_audit, batch_head = content(two_urls[1])
    assert len(batch_cases) == 23 and len(batch_audit) == 1 + 23  # the round's act first
    assert batch_cases == loop_cases
    assert batch_audit == loop_audit
    assert batch_head == loop_head == 24


def test_a_refused_row_stops_the_batch_at_its_chunk(engine: Engine, application: dict) -> None:
    engine.open_round(2024, PROVINCE)
    given = rows(application, 7)
    given[5] = {**given[5], "county": "不存在的县"}
    with pytest.raises(InvalidInput, match="county"):
        engine.create_cases(given, chunk=3)
    assert [view.name for view in engine.list_cases()] == [row["name"] for row in given[:3]]
    assert engine.verify_audit().ok


def test_on_refusal_hears_each_refused_row_and_the_others_are_filed(
        engine: Engine, application: dict) -> None:
    engine.open_round(2024, PROVINCE)
    given = rows(application, 6)
    given[1] = {**given[1], "actor": "county:深圳市南山区"}  # not the unit of the row
    given[4] = {**given[4], "data": {"area_km2": "not a number"}}
    refused: list[tuple[int, type]] = []
    ids = engine.create_cases(given, chunk=4,
                              on_refusal=lambda index, error: refused.append(
                                  (index, type(error))))
    assert refused == [(1, PermissionDenied), (4, InvalidInput)]
    assert ids[1] is None and ids[4] is None
    assert [view.id for view in engine.list_cases()] == [i for i in ids if i is not None]
    assert [row["trigger"] for row in engine.refusals()] == ["create"]  # as create_case records
    assert engine.verify_audit().ok


def test_a_closed_round_refuses_the_batch_and_records_it(engine: Engine, clock: FakeClock,
                                                        application: dict) -> None:
    engine.open_round(2024, PROVINCE)
    engine.close_round(2024, PROVINCE)
    with pytest.raises(TransitionRefused, match="closed"):
        engine.create_cases(rows(application, 3))
    assert list(engine.list_cases()) == []
    assert [row["trigger"] for row in engine.refusals()] == ["create"]


def test_case_import_of_many_files_files_them_in_chunks(tmp_path: Path, application: dict,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'import.db'}"
    opened(url).close()
    folder = tmp_path / "files"
    folder.mkdir()
    from gdcluster.engine.application import to_json

    given = rows(to_json(application), 5)
    for index, row in enumerate(given):
        document = {"case": {"round": 2024, "name": row["name"], "county": row["county"],
                             "industry": row["industry"]}, **row["data"]}
        (folder / f"{index:02}.json").write_text(json.dumps(document, ensure_ascii=False),
                                                  encoding="utf-8")
    (folder / "05.json").write_text('{"case": {"round": 2024, "name": "坏文件", '
                                    '"county": "不存在的县", "industry": "x"}}',
                                    encoding="utf-8")
    monkeypatch.setenv("GDCLUSTER_DB", url)
    monkeypatch.setenv("GDCLUSTER_NOW", "2024-03-02T09:00")
    seen: list[int] = []
    original = Engine.create_cases

    def spy(self: Engine, batch: Any, **options: Any) -> list[int | None]:
        batch = list(batch)
        seen.append(len(batch))
        return original(self, batch, **options)

    monkeypatch.setattr(Engine, "create_cases", spy)
    outcome = CliRunner().invoke(cli, ["--as", "county:佛山市南海区", "case", "import",
                                        str(folder), "--json"])
    report = json.loads(outcome.output)
    assert outcome.exit_code == 4, outcome.output  # the first failed file: not its unit
    assert report["counts"] == {"created": 2, "exists": 0, "failed": 4, "skipped": 0}
    statuses = [item["status"] for item in report["files"]]
    # the unit's own files are filed; the other units' files and the bad one are refused
    assert statuses == ["created", "failed", "failed", "created", "failed", "failed"]
    assert seen == [6]  # one batch: every file read, refused by its checks or filed


#: Application data that equal one another in Python (``Decimal("12.5") == Decimal("12.50")``,
#: ``True == 1``, ``{2023: …}`` and ``{"2023": …}`` read alike) but are not the same input; each
#: given twice, so that the batch's per-chunk memo of validated inputs is asked again.
VARIANTS: list[dict[str, Any]] = [
    {"area_km2": Decimal("12.5")}, {"area_km2": Decimal("12.50")}, {"area_km2": "12.5"},
    {"area_km2": 12}, {"area_km2": 12.5}, {"area_km2": 1}, {"area_km2": True},
    {"energy_intensive": True}, {"energy_intensive": 1},
    {"output": {2023: "1.5"}}, {"output": {"2023": "1.5"}}, {"output": {2023: Decimal("1.50")}},
    {"champion_enterprises": [{"name": "甲", "kind": "little_giant"}]},
    {"champion_enterprises": ({"name": "甲", "kind": "little_giant"},)},
    {"champion_enterprises": [{"kind": "little_giant", "name": "甲"}]},
    {"champion_enterprises": [{"name": "甲", "kind": "little_giant", "x": 1}]},
    {"champion_enterprises": [{"name": "甲", "kind": "little_giant", "x": 1, "y": 1}]},
    {"champion_enterprises": [{"name": "甲", "kind": "little_giant", "y": 1, "x": 1}]},
    {"narrative": UserDict({"产业": "文本"})}, {"narrative": {"产业": "文本\u202e"}},
]


def outcomes(engine: Engine, given: list[dict[str, Any]], *, batch: bool) -> list[Any]:
    """Per row: its id, or its refusal's type, field and message."""
    def refused(error: Exception) -> tuple[str, Any, str]:
        return type(error).__name__, getattr(error, "facts", {}).get("field"), str(error)

    if batch:
        refusals: dict[int, Any] = {}
        ids = engine.create_cases(given, chunk=len(given), on_refusal=(
            lambda index, error: refusals.__setitem__(index, refused(error))))
        return [refusals.get(index, case_id) for index, case_id in enumerate(ids)]
    made: list[Any] = []
    for row in given:
        try:
            made.append(engine.create_case(**row))
        except (InvalidInput, PermissionDenied) as error:
            made.append(refused(error))
    return made


def test_inputs_that_compare_equal_are_validated_each_as_itself(
        two_urls: tuple[str, str]) -> None:
    given = [{"round_year": 2024, "name": f"变体{index}", "county": UNITS[0],
              "industry": "铝型材", "data": data, "actor": f"county:{UNITS[0]}"}
             for index, data in enumerate(VARIANTS + VARIANTS)]
    loop, batch = (opened(url) for url in two_urls)
    try:
        loop_outcomes = outcomes(loop, given, batch=False)
        batch_outcomes = outcomes(batch, given, batch=True)
        assert batch.verify_audit().ok
    finally:
        loop.close()
        batch.close()
    assert batch_outcomes == loop_outcomes
    assert any(isinstance(outcome, tuple) for outcome in loop_outcomes)  # refusals among them
    assert content(two_urls[1]) == content(two_urls[0])  # the same text stored for each
    texts = [row[11] for row in content(two_urls[1])[0]]
    assert '{"area_km2":"12.5"}' in texts and '{"area_km2":"12.50"}' in texts


def test_the_batch_validates_each_distinct_application_once_per_chunk(
        engine: Engine, application: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from gdcluster.engine import filing

    engine.open_round(2024, PROVINCE)
    calls: list[int] = []
    original = filing.stored_application  # validates (in one pass or by the schema)

    def counted(raw: Any) -> tuple[str, str]:
        calls.append(1)
        return original(raw)

    monkeypatch.setattr(filing, "stored_application", counted)
    given = rows(application, 25)  # two inputs: the application and {} (drafts)
    engine.create_cases(given, chunk=10)
    assert len(calls) == 2 * 3  # each of the two in each of the three chunks
    calls.clear()
    engine.create_case(**given[1])
    assert len(calls) == 1
