"""Issue 15 §12 and §13, on SQLite and PostgreSQL: the audit chain covers the cases, the
notices, renderings, refusals and deadline outcomes, and is anchored outside.

`audit verify` replays every case from its audit rows and compares the result with `gd_case`;
it recomputes what each row vouches for (notices and their bodies, refusals, closed deadlines);
`audit anchor` records the head in a file or at a webhook, and `audit verify --anchors` proves
that nothing up to an anchored row was changed or cut off — which nothing else can, once the
whole chain is rewritten. Every tamper is SQL behind the engine's back, on a fresh world.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from hardening_support import load_application
from sqlalchemy import delete, func, select, text, update
from support import PROVINCE, Walker, database_made_at
from template_support import initialized

from gdcluster.cli import cli
from gdcluster.engine import Engine, TransitionRefused
from gdcluster.engine.audit import row_hash
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.models import AuditEntry, AuditHead, Case, Deadline, Notice, Refusal
from gdcluster.notifications import Contact, Settings, attach

AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
HEAD = AuditHead.__table__  # type: ignore[attr-defined]
CONTACT = Contact(person="张三", phone="020-83133333", email="zxqyc@gdei.gov.cn",
                  department="中小企业服务处", address="广州市越秀区东风中路305号",
                  postcode="510031")
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_SETTINGS": None})


@dataclass
class World:
    engine: Engine
    url: str
    revoked: int
    returned: int
    folder: Path

    def verify(self, anchors: Path | None = None) -> Any:
        return self.engine.verify_audit(anchors=anchors)

    def sql(self, statement: Any, params: dict[str, Any] | None = None) -> None:
        with self.engine.store.engine.begin() as connection:
            connection.execute(statement, params or {})

    def cli(self, *argv: str) -> Any:
        return RUNNER.invoke(cli, ["--db", self.url, *argv], catch_exceptions=False)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    """Case 1 walked to revoked (its validity deadlines cancelled, its notices issued), a
    refused act on it, then case 2 submitted and returned for correction (退回补正, with its
    notice) — so the refusal is followed by an act that vouches for it."""
    clock = FakeClock("2024-03-01T09:00")
    engine = initialized(db_url, clock)
    attach(engine, Settings(outbox=tmp_path / "out", contact=CONTACT,
                            formats=("txt", "html", "docx")))
    walker = Walker(engine, clock, load_application())
    revoked = walker.to("revoked")
    with pytest.raises(TransitionRefused):
        engine.fire(revoked, "renew", PROVINCE)
    returned = walker.create(name="佛山市顺德区家电产业集群", county="佛山市顺德区")
    walker.step(returned, "submit")
    engine.fire(returned, "return", "city:佛山市@张三", reason="2023年产值缺少统计部门证明材料",
                fields=["output.2023"], due="2024-12-16")
    try:
        yield World(engine, db_url, revoked, returned, tmp_path)
    finally:
        engine.close()


def _broken(report: Any, *words: str) -> None:
    assert not report.ok, "the tamper was not found"
    for word in words:
        assert word in report.problem, report.problem


# ------------------------------------------------------------------------------ intact
def test_an_intact_world_verifies_and_says_what_it_checked(world: World) -> None:
    report = world.verify()
    assert report.ok, report.message()
    checked = report.checked
    assert checked["cases"] == 2
    with world.engine.store.read() as session:
        notices = session.scalar(select(func.count()).select_from(Notice))
        closed = session.scalar(select(func.count()).select_from(Deadline)
                                .where(Deadline.status != "pending"))
        refusals = session.scalar(select(func.count()).select_from(Refusal))
    assert notices and closed and refusals
    assert (checked["notices"], checked["deadlines"], checked["refusals"]) == (
        notices, closed, refusals)
    result = world.cli("--json", "audit", "verify")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checked"]["cases"] == 2


def test_every_act_row_records_the_case_it_left(world: World) -> None:
    with world.engine.store.read() as session:
        last = session.execute(select(AuditEntry).where(AuditEntry.case_id == world.revoked)
                               .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
        case = session.get(Case, world.revoked)
    assert case is not None
    assert json.loads(last.attest)["case"] == [
        "revoked", case.version, case.valid_from.isoformat(), case.valid_until.isoformat(),
        case.previous_state]


# ------------------------------------------------------------------------------ replay
@pytest.mark.parametrize(("column", "value", "field"), [
    ("state", "'recognized'", "state"),
    ("version", "version + 1", "version"),
    ("valid_until", "'2099-12-31'", "valid_until"),
    # a revoked case keeps the state the revocation procedure began in (recognized): another
    ("previous_state", "'renewed'", "previous_state"),
])
def test_a_case_changed_behind_the_engine_fails_verify(world: World, column: str, value: str,
                                                       field: str) -> None:
    def stored() -> Any:
        with world.engine.store.engine.connect() as connection:
            return connection.execute(text(f"SELECT {column} FROM gd_case WHERE id = :id"),
                                      {"id": world.revoked}).scalar_one()

    before = stored()
    world.sql(text(f"UPDATE gd_case SET {column} = {value} WHERE id = :id"),
              {"id": world.revoked})
    assert stored() != before, "the tamper must change the stored value"
    _broken(world.verify(), f"case {world.revoked}", field)
    result = world.cli("audit", "verify")
    assert result.exit_code == 3
    assert f"case {world.revoked}: {field}" in result.stderr


def test_a_revoked_case_set_back_to_recognized_fails_verify_on_the_cli(world: World) -> None:
    """The issue's own reproduction, through `gdcluster audit verify --json`."""
    world.sql(text("UPDATE gd_case SET state='recognized' WHERE id = :id"),
              {"id": world.revoked})
    result = world.cli("--json", "audit", "verify")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert "'recognized' in gd_case" in report["problem"]
    assert "'revoked'" in report["problem"]


def test_a_case_inserted_behind_the_engine_fails_verify(world: World) -> None:
    world.sql(text(
        "INSERT INTO gd_case (round_year, name, city, county, industry, state, version, policy, "
        "policy_version, policy_digest, created_at, updated_at) "
        "SELECT round_year, '假集群', city, county, industry, 'recognized', 1, policy, "
        "policy_version, policy_digest, created_at, updated_at FROM gd_case "
        "WHERE id = :id"), {"id": world.revoked})
    _broken(world.verify(), "no audit row records it")


# ------------------------------------------------------------------------------ coverage
def test_a_rewritten_return_notice_body_fails_verify(world: World) -> None:
    world.sql(update(Notice).where(Notice.kind == "return", Notice.format == "txt")
              .values(body="请于2025年1月1日前补正。".encode()))
    _broken(world.verify(), "body does not match its hash")


def test_a_rewritten_return_notice_with_its_hash_fails_verify(world: World) -> None:
    body = "已撤回，无需补正。".encode()
    world.sql(update(Notice).where(Notice.kind == "return", Notice.format == "txt")
              .values(body=body, sha256=hashlib.sha256(body).hexdigest(), size=len(body)))
    _broken(world.verify(), "notices it vouches for do not match")


def test_a_deleted_notice_fails_verify(world: World) -> None:
    world.sql(text("DELETE FROM gd_delivery WHERE notice_id IN "
                   "(SELECT id FROM gd_notice WHERE kind = 'return')"))
    world.sql(delete(Notice).where(Notice.kind == "return"))
    _broken(world.verify(), "notices vouched for by the chain are missing")


def test_a_deleted_refusal_fails_verify(world: World) -> None:
    world.sql(delete(Refusal))
    _broken(world.verify(), "refusals")


def test_a_rewritten_deadline_outcome_fails_verify(world: World) -> None:
    world.sql(update(Deadline).where(Deadline.status == "cancelled")
              .values(result="done by the province"))
    _broken(world.verify(), "deadline outcomes")


def test_a_refusal_after_the_last_act_is_vouched_for_by_the_next_act(world: World) -> None:
    with pytest.raises(TransitionRefused):
        world.engine.fire(world.revoked, "renew", PROVINCE)
    report = world.verify()
    assert report.ok and report.checked["refusals_not_yet_vouched_for"] == 1
    world.engine.fire(world.returned, "submit", "county:佛山市顺德区")
    report = world.verify()
    assert report.ok and report.checked["refusals_not_yet_vouched_for"] == 0
    world.sql(delete(Refusal).where(Refusal.id == select(func.max(Refusal.id))
                                    .scalar_subquery()))
    _broken(world.verify(), "refusals")


# ------------------------------------------------------------------------------ anchors
def _cut_tail(world: World, rows: int) -> None:
    """Delete the last ``rows`` rows and set the head back to the row before: the chain alone
    cannot tell."""
    with world.engine.store.engine.begin() as connection:
        head = connection.execute(select(HEAD)).one()
        keep = head.seq - rows
        kept = connection.execute(select(AUDIT.c.hash).where(AUDIT.c.seq == keep)).scalar()
        connection.execute(delete(AUDIT).where(AUDIT.c.seq > keep))
        connection.execute(update(HEAD).values(seq=keep, hash=kept))


def test_a_cut_tail_is_found_with_an_anchor_only(world: World) -> None:
    anchors = world.folder / "anchors.jsonl"
    result = world.cli("--json", "audit", "anchor", "--to", str(anchors))
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["at"].endswith("+08:00")
    assert json.loads(anchors.read_text(encoding="utf-8")) == record
    assert world.verify(anchors).ok
    # deleting the last act and its notices, refusal records aside: the plain check passes
    # when the case's own table is put back too, which the attacker with the database can do
    with world.engine.store.read() as session:
        last = session.execute(select(AUDIT).order_by(AUDIT.c.seq.desc()).limit(1)).one()
    _cut_tail(world, 1)
    world.sql(text("DELETE FROM gd_delivery WHERE notice_id IN "
                   "(SELECT id FROM gd_notice WHERE attest_seq = :seq)"), {"seq": last.seq})
    world.sql(delete(Notice).where(Notice.attest_seq == last.seq))
    world.sql(update(Deadline).where(Deadline.attest_seq == last.seq).values(attest_seq=None))
    world.sql(update(Refusal).where(Refusal.attest_seq == last.seq).values(attest_seq=None))
    after = json.loads(last.attest)["case"]
    world.sql(text("UPDATE gd_case SET state=:state, version=:version, previous_state=NULL "
                   "WHERE id=:id"), {"state": last.from_state, "version": after[1] - 1,
                                     "id": last.case_id})
    assert world.verify().ok  # what cannot be proven without an anchor
    report = world.verify(anchors)
    _broken(report, "rows were cut off the end", f"line 1: row {record['seq']}")
    result = world.cli("audit", "verify", "--anchors", str(anchors))
    assert result.exit_code == 3 and "cut off the end" in result.stderr


def _rewrite_whole_chain(world: World, seq: int, reason: str) -> None:
    """Change row ``seq``'s reason and recompute every hash after it, and the head."""
    with world.engine.store.engine.begin() as connection:
        rows = [dict(row._mapping) for row in connection.execute(
            select(AUDIT).order_by(AUDIT.c.seq))]
        previous = None
        for row in rows:
            if row["seq"] == seq:
                row["reason"] = reason
            if previous is not None:
                row["prev_hash"] = previous
            row["hash"] = row_hash(SimpleNamespace(**row))
            connection.execute(update(AUDIT).where(AUDIT.c.seq == row["seq"])
                               .values(reason=row["reason"], prev_hash=row["prev_hash"],
                                       hash=row["hash"]))
            previous = row["hash"]
        connection.execute(update(HEAD).values(hash=previous))


def test_rewriting_the_whole_chain_fails_verify_with_anchors(world: World) -> None:
    anchors = world.folder / "anchors.jsonl"
    assert world.cli("audit", "anchor", "--to", str(anchors)).exit_code == 0
    with world.engine.store.read() as session:
        revoke = session.scalar(select(AuditEntry.seq).where(AuditEntry.trigger == "revoke"))
    _rewrite_whole_chain(world, revoke, "（改写的理由）")
    assert world.verify().ok  # the chain alone: an attacker with the database rewrote it all
    _broken(world.verify(anchors), "differs from the anchor of", "line 1")


def test_every_issued_notice_carries_its_anchor(world: World) -> None:
    with world.engine.store.read() as session:
        notices = list(session.scalars(select(Notice).order_by(Notice.id)))
        hashes = dict(session.execute(select(AUDIT.c.seq, AUDIT.c.hash)).all())
    assert notices
    for notice in notices:
        assert notice.anchor_seq == notice.audit_seq - 1
        assert notice.anchor_hash == hashes[notice.anchor_seq]


def test_the_printed_copies_carry_the_anchor_in_their_footer(world: World) -> None:
    """HTML (and so the PDF made from it) prints it in a page-margin box of every page; the
    .docx in the footers of odd and even pages, and in its properties (comments)."""
    import io
    import zipfile

    with world.engine.store.read() as session:
        notices = list(session.scalars(select(Notice).where(Notice.kind == "return")))
    short = {f"存证 {notice.anchor_seq}·{notice.anchor_hash[:16]}" for notice in notices}
    assert len(short) == 1
    [anchor] = short
    html = next(notice for notice in notices if notice.format == "html").body.decode("utf-8")
    assert f'@bottom-center {{ content: "{anchor}";' in html
    docx = next(notice for notice in notices if notice.format == "docx").body
    with zipfile.ZipFile(io.BytesIO(docx)) as archive:
        footers = [archive.read(name).decode("utf-8") for name in archive.namelist()
                   if name.startswith("word/footer")]
        properties = archive.read("docProps/core.xml").decode("utf-8")
    assert sum(anchor in footer for footer in footers) == 2
    assert anchor in properties
    txt = next(notice for notice in notices if notice.format == "txt").body.decode("utf-8")
    assert anchor not in txt  # the plain text is not a printed copy: its record carries it


def test_a_bad_anchors_file_is_refused_naming_the_line(world: World) -> None:
    anchors = world.folder / "anchors.jsonl"
    anchors.write_text('{"at": "x", "seq": 1, "hash": "abc"}\n', encoding="utf-8")
    result = world.cli("audit", "verify", "--anchors", str(anchors))
    assert result.exit_code == 2 and "line 1" in result.stderr


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]]  # each test's receiver class has its own (the fixture)
    status = 204
    location: str | None = None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(body)
        self.send_response(type(self).status)
        if type(self).location:
            self.send_header("Location", type(self).location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 204, "location": None})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_an_anchor_posted_to_a_webhook(world: World,
                                       receiver: tuple[str, type[_Receiver]]) -> None:
    base, handler = receiver
    result = world.cli("--json", "audit", "anchor", "--to", f"{base}/anchors")
    assert result.exit_code == 0, result.output
    assert [json.loads(body) for body in handler.received] == [json.loads(result.stdout)]
    with world.engine.store.read() as session:
        head = session.execute(select(HEAD)).one()
    assert json.loads(result.stdout)["seq"] == head.seq
    assert json.loads(result.stdout)["hash"] == head.hash


def test_an_anchor_webhook_redirect_is_a_failure_not_followed(
        world: World, receiver: tuple[str, type[_Receiver]]) -> None:
    base, handler = receiver
    handler.status, handler.location = 302, f"{base}/elsewhere"
    result = world.cli("audit", "anchor", "--to", f"{base}/anchors")
    assert result.exit_code == 5
    assert "redirect" in result.stderr and "not followed" in result.stderr
    assert len(handler.received) == 1  # the POST only, no GET to the redirect's target


# ------------------------------------------------------------------------------ upgrade
def _database_at_0006(db_url: str) -> None:
    """A database made by the previous version (schema 0006): a round, a recognized and a
    revoked case with their audit rows, a refusal, a cancelled and a pending deadline."""
    from sqlalchemy.orm import Session

    from gdcluster.engine import audit
    from gdcluster.engine.clock import parse_instant
    from gdcluster.states.policy import load_policy

    store = database_made_at(db_url, "0006_lifecycle_recognition")
    try:
        policy = load_policy("guangdong-2023")
        at = parse_instant("2024-10-11T09:00")
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO gd_round (year, policy, policy_version, policy_digest, opened_at, "
                "version) VALUES (2024, :name, :version, :digest, :at, 1)"),
                {"name": policy.name, "version": policy.version, "digest": policy.digest,
                 "at": at})
            for case_id, state in ((1, "recognized"), (2, "revoked")):
                connection.execute(text(
                    "INSERT INTO gd_case (id, round_year, name, city, county, industry, state, "
                    "version, policy, policy_version, policy_digest, application, valid_from, "
                    "valid_until, created_at, updated_at) VALUES (:id, 2024, :name, '佛山市', "
                    "'佛山市南海区', '铝型材', :state, 4, :policy, :version, :digest, '{}', "
                    "'2024-09-27', '2027-09-26', :at, :at)"),
                    {"id": case_id, "name": f"升级前的集群{case_id}", "state": state,
                     "policy": policy.name, "version": policy.version,
                     "digest": policy.digest, "at": at})
            for key, status in (("case:2:expiry", "cancelled"), ("case:1:expiry", "pending")):
                connection.execute(text(
                    "INSERT INTO gd_deadline (case_id, kind, key, due_at, status, created_at, "
                    "fired_at, result) VALUES (:case, 'expiry', :key, :at, :status, :at, "
                    ":fired, :result)"),
                    {"case": int(key.split(":")[1]), "key": key, "at": at, "status": status,
                     "fired": at if status != "pending" else None,
                     "result": "case revoked" if status != "pending" else None})
            connection.execute(text(
                "INSERT INTO gd_refusal (at, actor, trigger, case_id, code, message) VALUES "
                "(:at, 'city:佛山市', 'renew', 2, 'refused', '已撤销')"), {"at": at})
        with Session(store.engine) as session, session.begin():
            for case_id, state in ((1, "recognized"), (2, "recognized"), (2, "revoked")):
                audit.append(session, actor="province", trigger="seed", article="升级前的记录",
                             at=at, case_id=case_id, round_year=2024,
                             from_state="publicity_closed" if state == "recognized"
                             else "recognized", to_state=state)
    finally:
        store.dispose()


def test_a_database_made_at_0006_verifies_after_the_upgrade_and_is_covered(
        db_url: str) -> None:
    """`gdcluster init` upgrades it: one row (`chain_coverage`, dated as the last row) vouches
    for the cases as they are and the records made before; the chain verifies, and a legacy
    case or refusal changed afterwards is found."""
    _database_at_0006(db_url)
    engine = Engine.init(db_url, simulation=True, clock=FakeClock("2024-10-12T09:00"))
    try:
        report = engine.verify_audit()
        assert report.ok, report.message()
        assert report.rows == 4
        assert (report.checked["cases"], report.checked["refusals"],
                report.checked["deadlines"]) == (2, 1, 1)
        with engine.store.read() as session:
            row = session.get(AuditEntry, 4)
            assert row is not None and row.trigger == "chain_coverage"
            assert json.loads(row.attest)["cases"][1][:3] == [2, "revoked", 4]
        with engine.store.engine.begin() as connection:
            connection.execute(text("UPDATE gd_case SET state='recognized' WHERE id=2"))
        _broken(engine.verify_audit(), "case 2: state is 'recognized'")
        with engine.store.engine.begin() as connection:
            connection.execute(text("UPDATE gd_case SET state='revoked' WHERE id=2"))
            connection.execute(delete(Refusal))
        _broken(engine.verify_audit(), "refusals")
    finally:
        engine.close()


def test_the_seal_checks_name_each_kind_by_its_table() -> None:
    """The seal asks for records not vouched for by table name (so that asking defines no
    table class): each name is the table of its kind, with the columns asked."""
    from gdcluster.engine.coverage import COVERED, TABLES

    assert set(TABLES) == {covered.name for covered in COVERED}
    for covered in COVERED:
        table = covered.table
        assert table.name == TABLES[covered.name]
        assert "attest_seq" in table.c and ("status" in table.c or not covered.closed_only)


def _same_tables(pairs: list[tuple[Any, Any]]) -> None:
    """Each Core table has the columns of its class's table — name, type, nullability, key,
    default, index — and the same DDL on both dialects."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateTable

    def shape(column: Any) -> tuple[Any, ...]:
        default = column.default.arg if column.default is not None else None
        return (column.name, repr(column.type), column.nullable, column.primary_key,
                column.autoincrement, default, column.server_default, bool(column.index))

    for mine, model in pairs:
        table = model.__table__
        assert mine.name == table.name
        assert [shape(column) for column in mine.columns] == [
            shape(column) for column in table.columns]
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            assert (str(CreateTable(mine).compile(dialect=dialect))
                    == str(CreateTable(table).compile(dialect=dialect)))


def test_the_audit_tables_of_an_act_are_the_audit_classes_tables() -> None:
    """The Core tables an act writes the chain with (``audit_tables``) are the SQLModel
    classes' tables."""
    from gdcluster.engine.audit_tables import AUDIT_HEAD, AUDIT_ROWS

    _same_tables([(AUDIT_ROWS, AuditEntry), (AUDIT_HEAD, AuditHead)])


def test_the_case_tables_of_an_act_are_the_case_classes_tables() -> None:
    """The Core tables an act reads and writes its case, round, deadlines, objections and
    reports with (``case_tables``) are the SQLModel classes' tables."""
    from gdcluster.engine import case_tables, models

    _same_tables([(case_tables.ROUND, models.Round), (case_tables.CASE, Case),
                  (case_tables.APPLICATION, models.Application),
                  (case_tables.OBJECTION, models.Objection),
                  (case_tables.ANNUAL_REPORT, models.AnnualReport),
                  (case_tables.DEADLINE, Deadline)])
