"""Issue 6 §5, tampering, on SQLite and PostgreSQL: one changed byte in any audit field, a
deleted, inserted or reordered row, or an altered chain head is found by `audit verify` (exit
non-zero), which names the first bad row; `--now` is refused on a real database, and no
command turns a real database into a simulation one.

Each tamper is made with SQL behind the engine's back, checked through the engine and the CLI,
then undone by putting the saved rows back (and the untouched chain verifies again).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from hardening_support import (
    APPLICATION_FILE,
    DATA,
    PROVINCE,
    backend,
    fresh_url,
    load_application,
    module_db_url,
    snapshot,
)
from sqlalchemy import delete, insert, select, update
from support import TIMES, Walker

from gdcluster.cli import cli
from gdcluster.engine import Engine, SimulationOnly
from gdcluster.engine.audit import row_hash
from gdcluster.engine.clock import FakeClock, FixedClock, SystemClock
from gdcluster.engine.errors import PermissionDenied
from gdcluster.engine.models import AuditEntry, AuditHead, Meta
from gdcluster.engine.store import Store

__all__ = ["module_db_url"]

AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
HEAD = AuditHead.__table__  # type: ignore[attr-defined]
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None})


@dataclass
class Chain:
    engine: Engine
    rows: list[dict[str, Any]]
    head: dict[str, Any]
    target: int  # a middle row with every field set (the revocation)
    sparse: int  # a row with null fields (the round's opening: no case, no states, no reason)

    @property
    def last(self) -> int:
        return self.rows[-1]["seq"]


@pytest.fixture(scope="module")
def chain(module_db_url: str) -> Iterator[Chain]:
    """A chain with every kind of row: a round opened, a case walked to revoked (reasons,
    states, payloads), and another case filed after it, so the revocation is in the middle."""
    clock = FakeClock(TIMES["open"])
    engine = Engine.init(module_db_url, simulation=True, clock=clock)
    try:
        walker = Walker(engine, clock, load_application())
        walker.to("revoked")
        walker.to("submitted", name="佛山市顺德区家电产业集群", county="佛山市顺德区")
        with engine.store.read() as session:
            rows = [dict(row._mapping) for row in session.execute(
                select(AUDIT).order_by(AUDIT.c.seq))]
            head = dict(session.execute(select(HEAD)).one()._mapping)
        target = next(row["seq"] for row in rows if row["trigger"] == "revoke")
        sparse = next(row["seq"] for row in rows if row["trigger"] == "open_round")
        assert all(value is not None for value in rows[target - 1].values())
        yield Chain(engine, rows, head, target, sparse)
    finally:
        engine.close()


@pytest.fixture
def restored(chain: Chain) -> Iterator[Chain]:
    """The chain as built; afterwards the saved rows and head are put back and verify."""
    assert chain.engine.verify_audit().ok
    yield chain
    with chain.engine.store.engine.begin() as connection:
        connection.execute(delete(AUDIT))
        connection.execute(insert(AUDIT), chain.rows)
        connection.execute(update(HEAD).values(seq=chain.head["seq"], hash=chain.head["hash"]))
    report = chain.engine.verify_audit()
    assert report.ok, report.message()


def one_byte(value: Any) -> Any:
    """``value`` with one byte changed: the last character of text (a hex digit stays hex),
    one more for a number, one microsecond later for an instant, text for a null."""
    if value is None:
        return "x"
    if isinstance(value, bool):  # pragma: no cover - no boolean audit field
        raise AssertionError(value)
    if isinstance(value, int):
        return value + 1
    if hasattr(value, "microsecond"):
        return value + timedelta(microseconds=1)
    text = str(value)
    last = text[-1]
    replacement = "0" if last != "0" else "1"
    if last == "}":  # JSON payload: change inside it, keep it JSON
        return text[:-2] + ("0" if text[-2] != "0" else "1") + text[-1]
    return text[:-1] + replacement


def apply(chain: Chain, statements: Callable[[Any], None]) -> None:
    with chain.engine.store.engine.begin() as connection:
        statements(connection)


#: The tampers also checked through `gdcluster audit verify` (text and JSON): every field,
#: and one of each other kind; the engine check (the very function the command calls)
#: covers every one.
THROUGH_THE_CLI = {*(column.name for column in AUDIT.columns), "deleted-middle",
                   "inserted-middle", "appended", "reordered-1", "head-hash"}


def check_detected(chain: Chain, first_bad: int, tamper: str) -> None:
    """`audit verify` fails and names ``first_bad``: the engine's report, and for a sample of
    tampers the CLI's text (exit 3) and JSON as well."""
    report = chain.engine.verify_audit()
    assert not report.ok
    assert report.first_bad_seq == first_bad, report.message()
    assert f"row {first_bad}" in report.message()
    if tamper not in THROUGH_THE_CLI:
        return
    text = RUNNER.invoke(cli, ["--db", chain.engine.url, "audit", "verify"])
    assert text.exit_code == 3
    assert f"row {first_bad}" in text.stderr
    as_json = RUNNER.invoke(cli, ["--db", chain.engine.url, "--json", "audit", "verify"])
    assert as_json.exit_code == 3
    assert json.loads(as_json.stdout)["first_bad_seq"] == first_bad


FIELDS = [column.name for column in AUDIT.columns if column.name != "seq"]


@pytest.mark.parametrize("field", FIELDS)
def test_one_changed_byte_in_any_field_is_found(restored: Chain, field: str) -> None:
    """Changing one byte of any field of a middle row (text, number, instant, JSON payload,
    either hash) breaks the chain exactly at that row."""
    seq = restored.target
    old = restored.rows[seq - 1][field]
    apply(restored, lambda c: c.execute(
        update(AUDIT).where(AUDIT.c.seq == seq).values({field: one_byte(old)})))
    check_detected(restored, seq, field)


SPARSE_FIELDS = ["case_id", "from_state", "to_state", "reason"]


@pytest.mark.parametrize("field", SPARSE_FIELDS)
def test_filling_in_an_empty_field_is_found(restored: Chain, field: str) -> None:
    """A field that was empty (null) given a value is a change like any other."""
    seq = restored.sparse
    assert restored.rows[seq - 1][field] is None
    apply(restored, lambda c: c.execute(
        update(AUDIT).where(AUDIT.c.seq == seq).values({field: one_byte(None) if field != "case_id"
                                                        else 1})))
    check_detected(restored, seq, f"null-{field}")


def test_renumbering_a_row_is_found(restored: Chain) -> None:
    """A row given another number leaves a gap where it was: that row is named missing."""
    seq = restored.target
    apply(restored, lambda c: c.execute(
        update(AUDIT).where(AUDIT.c.seq == seq).values(seq=seq + 1000)))
    check_detected(restored, seq, "renumbered")


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_deleted_row_is_found(restored: Chain, where: str) -> None:
    """Deleting the first, a middle or the last row is found at that row (the last one by the
    chain head, which still counts it)."""
    seq = {"first": 1, "middle": restored.target, "last": restored.last}[where]
    apply(restored, lambda c: c.execute(delete(AUDIT).where(AUDIT.c.seq == seq)))
    check_detected(restored, seq, f"deleted-{where}")


def forged(chain: Chain, seq: int, prev_hash: str) -> dict[str, Any]:
    """A row as an attacker who knows the scheme would write it: its own hash is right."""
    row = dict(chain.rows[chain.target - 1], seq=seq, prev_hash=prev_hash,
               actor="province@冒名", reason="伪造")
    row["hash"] = row_hash(SimpleNamespace(**row))
    return row


def test_a_row_inserted_in_the_middle_is_found(restored: Chain) -> None:
    """A well-formed row slipped in (later rows renumbered to make room) breaks the link of
    the row after it, which is named."""
    seq = restored.target
    later = [dict(row, seq=row["seq"] + 1) for row in restored.rows[seq - 1:]]

    def statements(connection: Any) -> None:
        connection.execute(delete(AUDIT).where(AUDIT.c.seq >= seq))
        connection.execute(insert(AUDIT), later)
        connection.execute(insert(AUDIT), [forged(restored, seq,
                                                  restored.rows[seq - 2]["hash"])])
    apply(restored, statements)
    check_detected(restored, seq + 1, "inserted-middle")


def test_a_row_appended_behind_the_heads_back_is_found(restored: Chain) -> None:
    """A well-formed row added at the end, without moving the chain head, is named."""
    new = restored.last + 1
    apply(restored, lambda c: c.execute(
        insert(AUDIT), [forged(restored, new, restored.rows[-1]["hash"])]))
    check_detected(restored, new, "appended")


@pytest.mark.parametrize("distance", [1, 3])
def test_reordered_rows_are_found(restored: Chain, distance: int) -> None:
    """Two rows swapped (their numbers exchanged), neighbours or not: the first is named."""
    first, second = restored.target - distance, restored.target

    def statements(connection: Any) -> None:
        connection.execute(update(AUDIT).where(AUDIT.c.seq == first).values(seq=-1))
        connection.execute(update(AUDIT).where(AUDIT.c.seq == second).values(seq=first))
        connection.execute(update(AUDIT).where(AUDIT.c.seq == -1).values(seq=second))
    apply(restored, statements)
    check_detected(restored, first, f"reordered-{distance}")


@pytest.mark.parametrize("field", ["seq", "hash"])
def test_an_altered_chain_head_is_found(restored: Chain, field: str) -> None:
    """The head records the last row's number and hash; changing either is found and the
    row it no longer agrees with is named."""
    value = one_byte(restored.head[field])
    apply(restored, lambda c: c.execute(update(HEAD).values({field: value})))
    check_detected(restored, restored.last if field == "hash" else restored.last + 1,
                   f"head-{field}")


# ---------------------------------------------------------------------------- the clock
@contextmanager
def a_real_database(kind: str, folder: Path) -> Iterator[str]:
    """A real (not simulation) database with a round and a case in it. Its clock is the
    system's, and guangdong-2023 (in force to 2025-12-31 by its file) is extended first, as
    the province would do on a real server today (README, Policies in force)."""
    with fresh_url(kind, folder) as url:
        engine = Engine.init(url)
        try:
            engine.extend_policy("guangdong-2023", PROVINCE, until="2100-12-31",
                                 source="粤工信服务函〔2025〕88号")
            engine.open_round(2024, PROVINCE)
            engine.create_case(round_year=2024, name="佛山市南海区铝型材产业集群",
                               county="佛山市南海区", industry="铝型材", data=load_application(),
                               actor="county:佛山市南海区")
        finally:
            engine.close()
        yield url


@pytest.fixture(scope="module")
def real_db(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real database per back-end for the refusals (which write nothing, as checked)."""
    with a_real_database(backend(module_db_url), tmp_path_factory.mktemp("real")) as url:
        yield url


@pytest.fixture
def own_real_db(module_db_url: str, tmp_path: Path) -> Iterator[str]:
    """A real database of its own, for a test whose commands do change it."""
    with a_real_database(backend(module_db_url), tmp_path) as url:
        yield url


NOW = "2024-03-01T09:00"
COMMANDS = [
    ["init"], ["round", "open", "2025"], ["round", "show", "2024"],
    ["round", "publicize", "2024", "--top", "1"],
    ["round", "recognize", "2024", "--doc-no", "粤工信服务函〔2024〕95号"],
    ["round", "close", "2024"], ["round", "site-visit", "2024", "--date", "2024-03-01",
                                 "--note", "考察"],
    ["policy", "list"], ["policy", "extend", "guangdong-2023", "--until", "2099-12-31",
                         "--source", "粤工信服务函〔2025〕89号"],
    ["case", "create", "--round", "2024", "--name", "南海五金产业集群", "--county", "佛山市南海区",
     "--industry", "五金", "--data", str(APPLICATION_FILE)],
    ["case", "update", "1", "--data", str(APPLICATION_FILE)], ["case", "submit", "1"],
    ["case", "withdraw", "1"], ["case", "review", "1", "--pass"], ["case", "recommend", "1"],
    ["case", "score", "1", "--expert", "专家1", "--scores", str(DATA / "scores-expert1.json")],
    ["case", "expert-review", "1"], ["case", "close-publicity", "1"],
    ["case", "recognize", "1"], ["case", "reopen", "1", "--reason", "纠错"],
    ["case", "apply-review", "1", "--data", str(DATA / "review-2027.json")],
    ["case", "review-check", "1", "--pass", "--opinion", "符合"],
    ["case", "check", "1", "--review"],
    ["round", "open", "2027", "--kind", "review"],
    ["case", "renew", "1"], ["case", "object", "1", "--name", "王五", "--contact", "138",
                             "--evidence", "存疑"],
    ["case", "resolve", "1", "1", "--dismiss", "--reason", "不成立"],
    ["case", "report", "1", "--year", "2024", "--data", str(DATA / "report-2024.json")],
    ["case", "change", "1", "--kind", "management_body", "--detail", "更名"],
    ["case", "propose-revocation", "1", "--reason-code", "18.5", "--facts", "事故"],
    ["case", "state", "1", "--text", "陈述"], ["case", "maintain", "1", "--reason", "维持"],
    ["case", "revoke", "1", "--reason", "事故"],
    ["case", "reinstate", "1", "--reason", "纠错", "--reference", "自我纠错"],
    ["case", "reject", "1", "--reason", "不符"], ["case", "show", "1"], ["case", "history", "1"],
    ["case", "check", "1"], ["case", "list"], ["notice", "list"],
    ["notice", "render", "revocation", "--case", "1"], ["notice", "deliver"],
    ["scheduler", "run", "--once"], ["scheduler", "pending"],
    ["calendar", "workdays", "2024-09-27", "7"],
    ["calendar", "import", str(DATA / "calendar-2027.yaml")], ["audit", "verify"],
]


def command_id(argv: list[str]) -> str:
    return " ".join(argv[:2]) if argv[0] != "init" else "init"


@pytest.mark.parametrize("argv", COMMANDS, ids=[command_id(argv) for argv in COMMANDS])
def test_now_is_refused_on_a_real_database(real_db: str, argv: list[str]) -> None:
    """Every command that opens the database refuses --now on a real one (exit 4), by option
    or by GDCLUSTER_NOW, and writes nothing: nobody can backdate an act."""
    engine = Engine.open(real_db)
    try:
        before = snapshot(engine)
        for option, env in ((["--now", NOW], None), ([], {"GDCLUSTER_NOW": NOW})):
            result = RUNNER.invoke(cli, ["--db", real_db, "--as", PROVINCE, *option, *argv],
                                   env=env)
            assert result.exit_code == 4, result.output
            assert "simulation" in result.stderr
        assert snapshot(engine) == before
    finally:
        engine.close()


def test_a_running_scheduler_refuses_now(real_db: str) -> None:
    """`scheduler run` (not --once) follows the system clock: --now is refused outright."""
    result = RUNNER.invoke(cli, ["--db", real_db, "--now", NOW, "scheduler", "run"])
    assert result.exit_code in (2, 4) and "clock" in result.stderr


def test_the_engine_refuses_a_clock_on_a_real_database(real_db: str) -> None:
    """Embedded use has the same rule: a non-system clock, or a sweep at a given instant, is
    refused on a real database (SimulationOnly, exit 4)."""
    with pytest.raises(SimulationOnly):
        Engine.open(real_db, clock=FakeClock(NOW))
    engine = Engine.open(real_db)
    try:
        with pytest.raises(SimulationOnly):
            engine.run_due(NOW)
    finally:
        engine.close()


def test_no_command_turns_a_real_database_into_a_simulation(own_real_db: str) -> None:
    """`init --simulation` on a real database is refused (exit 4); and after every command
    of the CLI has run against it (whatever each answers — never an unexpected error), the
    database is still a real one and still refuses --now."""
    real_db = own_real_db
    refused = RUNNER.invoke(cli, ["--db", real_db, "init", "--simulation"])
    assert refused.exit_code == 4, refused.output
    with pytest.raises(PermissionDenied):
        Engine.init(real_db, simulation=True)
    for argv in [*COMMANDS, ["init", "--simulation"]]:
        result = RUNNER.invoke(cli, ["--db", real_db, "--as", PROVINCE, *argv])
        assert result.exit_code in (0, 2, 3, 4), (argv, result.output)
    engine = Engine.open(real_db)
    try:
        assert engine.simulation is False
        with engine.store.read() as session:
            assert session.get(Meta, "simulation").value == "false"
    finally:
        engine.close()
    assert RUNNER.invoke(cli, ["--db", real_db, "--now", NOW, "case", "list"]).exit_code == 4


# ---------------------------------------------------------------------------- issue 15.11
class LateClock(SystemClock):
    """A subclass of the system clock that answers an hour early: a backdating device."""

    def now(self) -> datetime:
        return super().now() - timedelta(hours=1)


@pytest.mark.parametrize("make", [LateClock, lambda: FixedClock(datetime(2024, 3, 1, tzinfo=UTC)),
                                  lambda: FakeClock(NOW)],
                         ids=["subclass-of-system-clock", "fixed", "fake"])
def test_only_exactly_the_system_clock_opens_a_real_database(real_db: str, make: Any) -> None:
    """Engine.open on a real database refuses any clock but exactly the system clock — a
    subclass of SystemClock too — and so does building the engine by hand around its store;
    the system clock is accepted."""
    with pytest.raises(SimulationOnly):
        Engine.open(real_db, clock=make())
    store = Store(real_db)
    try:
        with pytest.raises(SimulationOnly):
            Engine(store, make(), simulation=True)  # a real database claimed as a simulation
    finally:
        store.dispose()
    Engine.open(real_db, clock=SystemClock()).close()


def test_the_clock_cannot_be_swapped_after_opening(real_db: str) -> None:
    """An engine's clock (and its kernel's, and whether it is a simulation) is fixed when it
    opens: assigning another is an error, and the engine keeps the system clock."""
    engine = Engine.open(real_db)
    try:
        for target in (engine, engine.kernel):
            with pytest.raises(AttributeError):
                target.clock = FakeClock(NOW)  # type: ignore[misc]
            with pytest.raises(AttributeError):
                target.simulation = True  # type: ignore[misc]
        with pytest.raises(AttributeError):
            engine.kernel = None  # type: ignore[misc]
        assert type(engine.clock) is SystemClock and not engine.simulation
    finally:
        engine.close()


def test_a_row_dated_before_the_row_it_follows_is_found(restored: Chain) -> None:
    """A row whose time is earlier than the previous row's fails `audit verify`, which names
    it — even when the attacker recomputed its hash, every later link and the head."""
    seq = restored.target
    earlier = restored.rows[seq - 2]["at"] - timedelta(days=1)
    rewritten = [dict(row) for row in restored.rows]
    rewritten[seq - 1]["at"] = earlier
    for index in range(seq - 1, len(rewritten)):
        row = rewritten[index]
        row["prev_hash"] = rewritten[index - 1]["hash"]
        row["hash"] = row_hash(SimpleNamespace(**row))

    def statements(connection: Any) -> None:
        connection.execute(delete(AUDIT).where(AUDIT.c.seq >= seq))
        connection.execute(insert(AUDIT), rewritten[seq - 1:])
        connection.execute(update(HEAD).values(hash=rewritten[-1]["hash"]))
    apply(restored, statements)
    check_detected(restored, seq, "backwards")
    assert "time went backwards" in restored.engine.verify_audit().message()
    text = RUNNER.invoke(cli, ["--db", restored.engine.url, "audit", "verify"])
    assert text.exit_code == 3 and f"row {seq}" in text.stderr, text.output


@pytest.mark.parametrize("values", [
    {},  # as the engine writes them
    {"payload": '{"说明":"引号\\"与\\n换行"}', "to_state": "\u2028\x7f", "attest": ""},
    {"case_id": -(10**30), "round_year": None, "attest": '{"case":["recognized"]}'},
    # each of a type the engine never writes, alone
    {"case_id": 1.5}, {"round_year": "2024"}, {"seq": True}, {"reason": b"\x00\xff"},
    {"from_state": 7}, {"actor": None}, {"attest": 0},
])
def test_verify_writes_each_rows_body_as_row_hash_does(values: dict[str, Any]) -> None:
    """`audit verify` writes a row's canonical JSON from its stored values itself: the very
    text `row_hash` hashes, whatever the values' types (a row changed behind the engine's
    back may hold any), so a row is found altered exactly when `row_hash` says so."""
    from gdcluster.engine import audit

    row = {"seq": 12, "case_id": 3, "round_year": 2024, "actor": "county:佛山市南海区@李四",
           "trigger": "submit", "from_state": "drafted", "to_state": "submitted",
           "reason": None, "payload": "{}", "article": "第六条", "attest": None,
           "at": datetime(2024, 7, 9, 2, tzinfo=UTC), "prev_hash": "a" * 64, **values}
    body = audit._body(row["actor"], row["article"], audit.instant_text(row["at"]),
                       row["attest"], row["case_id"], row["from_state"], row["payload"],
                       row["prev_hash"], row["reason"], row["round_year"], row["seq"],
                       row["to_state"], row["trigger"])
    assert hashlib.sha256(body.encode("utf-8")).hexdigest() == row_hash(SimpleNamespace(**row))


@pytest.mark.parametrize("stored", ["2024-07-09 02:00:00.000000", "2024-07-09 02:00:00",
                                    "2024-07-09T10:00:00+08:00", "2024-07-09",
                                    "0999-01-02 03:04:05.000006"])
def test_verify_reads_a_stored_time_as_the_engine_reads_it(stored: str) -> None:
    """A time stored as SQLite text, in whatever form: `audit verify` hashes the text
    `instant_text` writes of the instant SQLAlchemy reads (and orders rows by that instant)."""
    from sqlalchemy import create_engine

    from gdcluster.engine import audit

    engine = create_engine("sqlite://")
    try:
        with engine.connect() as connection:
            read = AUDIT.c.at.type.dialect_impl(connection.dialect).result_processor(
                connection.dialect, None)
            instant, text = audit._instant_reader(connection)(stored)
    finally:
        engine.dispose()
    expected = read(stored)
    assert text == audit.instant_text(expected)
    assert instant == expected.astimezone(UTC).replace(tzinfo=None)
