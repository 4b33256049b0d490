"""A year that holds a recognition round and a 复核 round (issue 12): 工信厅企业函〔2025〕77号
opened the 2022 batch's 复核 alongside the 2025 recommendations. Here the 2023 batch's 复核 runs
in 2026 beside the 2026 recognition round: each round keeps its own cases, deadlines, notices
and acts, every record naming the year tells which round it belongs to, and a command that
names the year asks which round when both exist."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from deadline_support import PROVINCE, rows
from review_support import (
    CITY,
    COUNTY,
    apply_and_check,
    batch_2023,
    cli_at,
    load,
    open_review_2026,
)
from support import full_scores

from gdcluster.engine import Engine, InvalidInput, NotFound, TransitionRefused
from gdcluster.engine.models import round_kind_of
from gdcluster.engine.testing import FakeClock

DOC_NO_2026 = "粤工信服务函〔2026〕12号"


def application_2026() -> dict:
    """The complete application of round 2024, its years moved two on (window 2023–2025,
    plan 2026–2028), for round 2026."""
    from deadline_support import DATA

    from gdcluster.engine.application import load_application_file

    text = (DATA / "application-complete.json").read_text(encoding="utf-8")
    moved = re.sub(r"20(19|2[0-9])", lambda found: str(int(found.group(0)) + 2), text)
    return load_application_file(moved.encode("utf-8"), "application-2026.json")


def recognition_2026(engine: Engine, clock: FakeClock, application: dict) -> list[int]:
    """Round 2026 (recognition; the policy extended to the end of 2026): two applications
    filed 2026-03-02, submitted, reviewed and recommended by the city, scored by three experts
    and publicized from 2026-06-15 — the day the 复核 round opens."""
    clock.set("2026-03-02T10:00")
    engine.extend_policy("guangdong-2023", PROVINCE, until="2026-12-31",
                         source="粤工信服务函〔2025〕200号")
    engine.open_round(2026, PROVINCE, apply_by="2026-04-30", recommend_by="2026-05-29")
    data = application_2026()
    ids = [engine.create_case(round_year=2026, name=f"佛山市南海区新集群{index}",
                              county="佛山市南海区", industry="铝型材", data=data,
                              actor=COUNTY) for index in (1, 2)]
    clock.set("2026-03-10T10:00")
    for case_id in ids:
        engine.fire(case_id, "submit", COUNTY)
        engine.fire(case_id, "review", CITY)
        engine.fire(case_id, "recommend", CITY)
    clock.set("2026-06-01T10:00")
    for case_id in ids:
        for index in range(3):
            engine.fire(case_id, "score", PROVINCE, expert=f"专家{index + 1}",
                        scores=full_scores(minus=index))
        engine.fire(case_id, "expert_review", PROVINCE)
    return ids


def test_the_2026_recognition_round_and_the_2023_batchs_review_share_the_year(
        engine: Engine, clock: FakeClock, application: dict) -> None:
    """2026 holds both rounds. The recognition round files, recommends and publicizes its new
    clusters; the 复核 round covers the 2023 batch only: A applies and is renewed 2026-07-10 to
    2029-07-09, B never applies and reaches revocation_proposed (18.1) at the application
    deadline, C fails the 考核; then the 2026 batch is recognized. Each round's summary,
    deadlines and records are its own, a read naming only the year asks which round, and the
    chain verifies."""
    a, b, c = batch_2023(engine, clock, count=3)
    new = recognition_2026(engine, clock, application)
    opened = open_review_2026(engine, clock)
    assert [row["id"] for row in opened.covered] == [a, b, c]
    published = engine.publicize_round(2026, PROVINCE, top=2, start="2026-06-15")
    assert published.publicized == new

    assert [(line.year, line.kind, line.cases) for line in engine.rounds()
            if line.year == 2026] == [(2026, "recognition", 2), (2026, "review", 3)]
    with pytest.raises(InvalidInput) as caught:
        engine.round_summary(2026)
    assert caught.value.field == "kind" and "--kind" in str(caught.value)
    recognition = engine.round_summary(2026, kind="recognition")
    assert (recognition.kind, recognition.counts.by_state) == ("recognition", {"publicized": 2})
    with pytest.raises(TransitionRefused, match="复核 round 2026 is already open"):
        engine.open_round(2026, PROVINCE, kind="review")
    with pytest.raises(TransitionRefused, match="round 2026 is already open"):
        engine.open_round(2026, PROVINCE)

    apply_and_check(engine, clock, a, c)
    clock.set("2026-07-10T00:05")
    engine.run_due()
    clock.set("2026-07-20T10:00")
    renewed = engine.fire(a, "renew", PROVINCE)
    assert (renewed.state, renewed.valid_from, renewed.valid_until) == (
        "renewed", date(2026, 7, 10), date(2029, 7, 9))
    clock.set("2026-07-21T10:00")
    failed = engine.fire(c, "fail_review", PROVINCE, reason="4项发展规划目标均未完成")
    assert (failed.state, failed.previous_state) == ("revocation_proposed", "under_review")
    clock.set("2026-08-01T00:05")
    proposed = [(item.case_id, item.outcome) for item in engine.run_due()
                if item.kind == "review_apply_due"]
    assert proposed == [(b, "revocation_proposed")]
    view = engine.get(b)
    assert (view.state, view.previous_state, view.review_round) == (
        "revocation_proposed", "expired", 2026)

    review = engine.round_summary(2026, kind="review")
    assert review.counts.by_state == {"renewed": 1, "revocation_proposed": 2}
    assert [row["applied"] for row in review.covered] == [True, False, True]
    clock.set("2026-08-03T10:00")  # the 2026 batch's 名单通告: the 复核 round is not touched
    assert engine.recognize_round(2026, PROVINCE, doc_no=DOC_NO_2026).recognized == new
    recognition = engine.round_summary(2026, kind="recognition")
    assert recognition.counts.by_state == {"recognized": 2}
    assert engine.round_summary(2026, kind="review").counts == review.counts
    for case_id in new:
        assert engine.get(case_id).review_round is None
    # the year's round deadlines: each tells its round by its kind
    kinds = {row.kind: round_kind_of(row.kind) for row in rows(engine) if row.round_year == 2026}
    assert kinds == {"round_apply_close": "recognition", "round_recommend_close": "recognition",
                     "round_review_check_close": "review"}
    report = engine.verify_audit()
    assert report.ok, report.message()


def test_a_recognition_round_of_a_review_year_files_applications(
        engine: Engine, clock: FakeClock, application: dict) -> None:
    """Before the recognition round of 2026 is opened, its 复核 round refuses applications
    (a 复核 round takes none) and its batches; once it is opened, applications are filed in
    it, and `round close` acts on it."""
    batch_2023(engine, clock, count=1)
    open_review_2026(engine, clock)
    data = application_2026()
    with pytest.raises(TransitionRefused, match="复核 round"):
        engine.create_case(round_year=2026, name="新集群", county="佛山市南海区",
                           industry="铝型材", data=data, actor=COUNTY)
    with pytest.raises(NotFound):
        engine.round_summary(2026, kind="recognition")
    assert engine.round_summary(2026).kind == "review"
    clock.set("2026-06-16T09:00")
    engine.extend_policy("guangdong-2023", PROVINCE, until="2026-12-31",
                         source="粤工信服务函〔2025〕200号")
    engine.open_round(2026, PROVINCE)
    case_id = engine.create_case(round_year=2026, name="新集群", county="佛山市南海区",
                                 industry="铝型材", data=data, actor=COUNTY)
    assert engine.get(case_id).round == 2026
    closed = engine.close_round(2026, PROVINCE)
    assert closed.year == 2026 and engine.get(case_id).state == "not_selected"
    assert engine.verify_audit().ok


def test_the_cli_names_the_round_when_a_year_holds_both(tmp_path: Any, clock: FakeClock,
                                                       application: dict,
                                                       monkeypatch: Any) -> None:
    """`round show 2026` asks for --kind (exit 2) when 2026 holds both rounds; `round show
    2026 --kind review` shows the 复核 round, `--kind recognition` the other; `round list`
    lists both; `todo` names the 复核 round's 初审 deadline as the 复核 round's."""
    db = f"sqlite:///{tmp_path / 'gd.db'}"
    engine = Engine.init(db, simulation=True, clock=clock)
    try:
        batch_2023(engine, clock, count=1)
        recognition_2026(engine, clock, application)
        open_review_2026(engine, clock)
    finally:
        engine.close()
    gd = cli_at(db, "2026-06-16T09:00", tmp_path, monkeypatch)

    ambiguous = gd("round", "show", "2026")
    assert ambiguous.exit_code == 2 and "--kind" in ambiguous.output, ambiguous.output
    review = gd("round", "show", "2026", "--kind", "review")
    assert review.exit_code == 0 and "复核 round (kind review)" in review.output, review.output
    recognition = gd("--json", "round", "show", "2026", "--kind", "recognition")
    assert json.loads(recognition.output)["kind"] == "recognition"
    listed = json.loads(gd("--json", "round", "list").output)
    assert [(row["year"], row["kind"]) for row in listed] == [
        (2023, "recognition"), (2026, "recognition"), (2026, "review")]
    text = gd("round", "list").output
    assert "复核" in text and "认定" in text
    todo = json.loads(gd("--json", "todo", "--within", "90", actor=CITY).output)
    lines = [(line["kind"], line["round"], line["round_kind"]) for line in todo["deadlines"]
             if line["case_id"] is None]
    assert ("round_review_check_close", 2026, "review") in lines
    assert "复核 round 2026" in gd("todo", "--within", "90", actor=CITY).output


# ------------------------------------------------------------------------------ upgrade
def _database_at_0011_with_a_review_round(db_url: str) -> None:
    """A database made by the previous version (schema 0011, one round a year): the 2023
    batch's two clusters, covered by the 复核 round 2026 (a ``gd_round`` row of kind
    review) with their pending application deadlines, the round's 初审 deadline already
    fired, a 复核通知 issued and a refused second opening — all vouched for by the chain."""
    import hashlib
    from types import SimpleNamespace

    from sqlalchemy import text
    from sqlalchemy.orm import Session
    from support import database_made_at

    from gdcluster.engine import audit, coverage
    from gdcluster.engine.clock import parse_instant
    from gdcluster.engine.store import connection_of
    from gdcluster.states.policy import load_policy

    store = database_made_at(db_url, "0011_chain_coverage")
    try:
        policy = load_policy("guangdong-2023")
        facts = {"name": policy.name, "version": policy.version, "digest": policy.digest,
                 "at": parse_instant("2026-06-15T09:00")}
        with Session(store.engine) as session, session.begin():
            connection = connection_of(session)
            for year, kind in ((2023, "recognition"), (2026, "review")):
                connection.execute(text(
                    "INSERT INTO gd_round (year, kind, policy, policy_version, policy_digest, "
                    "apply_by, check_by, opened_at, version) VALUES (:year, :kind, :name, "
                    ":version, :digest, :apply_by, :check_by, :at, 1)"),
                    {**facts, "year": year, "kind": kind,
                     "apply_by": date(2026, 7, 31) if kind == "review" else None,
                     "check_by": date(2026, 8, 14) if kind == "review" else None})
            for case_id in (1, 2):
                connection.execute(text(
                    "INSERT INTO gd_case (id, round_year, name, city, county, industry, state, "
                    "version, policy, policy_version, policy_digest, application, valid_from, "
                    "valid_until, review_round, created_at, updated_at) VALUES (:id, 2023, "
                    ":case_name, '佛山市', '佛山市南海区', '铝型材', 'recognized', 5, :name, "
                    ":version, :digest, :application, '2023-07-10', '2026-07-09', 2026, :at, "
                    ":at)"),
                    {**facts, "id": case_id, "case_name": f"升级前的集群{case_id}",
                     "application": json.dumps(load("application-complete.json"),
                                               ensure_ascii=False)})
                connection.execute(text(
                    "INSERT INTO gd_deadline (case_id, kind, key, due_at, status, created_at) "
                    "VALUES (:id, 'review_apply_due', :key, :due, 'pending', :at)"),
                    {**facts, "id": case_id, "key": f"case:{case_id}:review:2026",
                     "due": parse_instant("2026-08-01T00:00")})
            connection.execute(text(
                "INSERT INTO gd_deadline (round_year, kind, key, due_at, status, created_at, "
                "fired_at, result) VALUES (2026, 'round_review_check_close', "
                "'round:2026:round_review_check_close', :at, 'fired', :at, :at, 'closed')"),
                facts)
            for case_id in (1, 2):
                last = audit.append(
                    session, actor="province@王处长", trigger="review_notice",
                    article="第十六条（复核）", at=facts["at"], case_id=case_id, round_year=2026,
                    from_state="recognized", to_state="recognized",
                    payload={"year": 2026, "apply_by": "2026-07-31"},
                    attest={"case": coverage.case_snapshot(SimpleNamespace(
                        state="recognized", version=5, valid_from=date(2023, 7, 10),
                        valid_until=date(2026, 7, 9), previous_state=None))})
            body = "关于升级前的集群2开展2026年复核工作的通知".encode()
            connection.execute(text(
                "INSERT INTO gd_notice (kind, format, case_id, round_year, audit_seq, title, "
                "template, template_version, sha256, size, body, path, created_at) VALUES "
                "('review_notice', 'md', 2, 2026, :seq, '复核通知', 'review_notice', '1', "
                ":sha, :size, :body, 'outbox/review_notice.md', :at)"),
                {**facts, "seq": last.seq, "sha": hashlib.sha256(body).hexdigest(),
                 "size": len(body), "body": body})
            connection.execute(text(
                "INSERT INTO gd_refusal (at, actor, trigger, round_year, code, message) VALUES "
                "(:at, 'province', 'open_review_round', 2026, 'refused', "
                "'round 2026 is already open (a review round): a year holds one round')"), facts)
            coverage.seal(connection, last)
    finally:
        store.dispose()


def test_a_database_made_at_0011_keeps_its_review_round(db_url: str) -> None:
    """`gdcluster init` upgrades a database made at 0011: its 复核 round moves to its own
    table with its deadlines and covered cases, every record vouched for before still verifies
    (none is rewritten), the year then takes a recognition round too, and the 复核 goes on."""
    from sqlalchemy import inspect

    _database_at_0011_with_a_review_round(db_url)
    clock = FakeClock("2026-06-16T09:00")
    engine = Engine.init(db_url, simulation=True, clock=clock)
    try:
        report = engine.verify_audit()
        assert report.ok, report.message()
        assert (report.checked["cases"], report.checked["notices"],
                report.checked["refusals"], report.checked["deadlines"]) == (2, 1, 1, 1)
        assert [(line.year, line.kind, line.cases) for line in engine.rounds()] == [
            (2023, "recognition", 2), (2026, "review", 2)]
        summary = engine.round_summary(2026)
        assert (summary.kind, summary.apply_by, summary.check_by,
                [row["id"] for row in summary.covered]) == (
            "review", "2026-07-31", "2026-08-14", [1, 2])
        with engine.store.engine.connect() as connection:
            for table in ("gd_deadline", "gd_notice", "gd_rendering"):
                referred = {key["referred_table"]
                            for key in inspect(connection).get_foreign_keys(table)}
                assert "gd_round" not in referred, table
            if connection.dialect.name == "sqlite":  # the table definitions were edited
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        engine.extend_policy("guangdong-2023", PROVINCE, until="2026-12-31",
                             source="粤工信服务函〔2025〕200号")
        assert engine.open_round(2026, PROVINCE).kind == "recognition"
        clock.set("2026-07-01T10:00")
        assert engine.fire(1, "apply_review", COUNTY,
                           data=load("review-2026.json")).state == "under_review"
        assert [row.status for row in rows(engine, 1, kind="review_apply_due")] == ["done"]
        report = engine.verify_audit()
        assert report.ok, report.message()
    finally:
        engine.close()
