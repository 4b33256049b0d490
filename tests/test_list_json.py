"""``case list --json`` writes, case by case, exactly what ``json.dumps(view.to_dict(),
ensure_ascii=False, indent=2)`` writes, every line indented by two more, in one array: names
with quotes, backslashes, control characters, characters outside the BMP, text that looks like
an instant, and line separators stored by earlier versions (which the line-by-line indent
breaks at, as it always did) included; and more cases than one block of output."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from gdcluster.cli import cli
from gdcluster.engine import Engine

PROVINCE = "province@王处长"
UNIT = "佛山市南海区"
#: Names written straight into the table, as earlier versions or other tools may have stored
#: them (today's text rule refuses some of them at the door).
STORED_NAMES = {
    1: 'say "hi" \\ back',
    2: "tab\tand\x01control",
    3: "emoji 🏭 and 𠀀",
    4: "2024-03-01T09:00:00+00:00",
    5: "line\u2028separator",
    6: "next\x85line and\u2029paragraph",
    7: "</script>&amp;",
}

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_LANG": None})


def expected(views: list[Any]) -> bytes:
    items = []
    for view in views:
        dumped = json.dumps(view.to_dict(), ensure_ascii=False, indent=2, default=str)
        items.append("\n".join("  " + line for line in dumped.splitlines()))
    return ("[\n" + ",\n".join(items) + "\n]\n").encode("utf-8")


def test_case_list_json_is_the_indented_dump_of_each_view(engine: Engine) -> None:
    engine.open_round(2024, PROVINCE)
    engine.create_cases([{"round_year": 2024, "name": f"列表测试产业集群{index}", "county": UNIT,
                          "industry": "铝型材", "data": {}, "actor": f"county:{UNIT}"}
                         for index in range(520)], chunk=200)
    database = create_engine(engine.url)
    try:
        with database.begin() as connection:
            for case_id, name in STORED_NAMES.items():
                connection.execute(text("UPDATE gd_case SET name = :name WHERE id = :id"),
                                   {"name": name, "id": case_id})
    finally:
        database.dispose()
    views = list(engine.list_cases())
    assert [view.name for view in views[:len(STORED_NAMES)]] == list(STORED_NAMES.values())
    result = RUNNER.invoke(cli, ["--db", engine.url, "case", "list", "--json"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == expected(views)
    listed = json.loads(expected(views[7:]))  # the names without line separators parse back
    assert len(listed) == 513 and listed[-1]["name"] == "列表测试产业集群519"
