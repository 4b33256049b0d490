"""Issue 15.10, DESIGN §8a: who may act.

* ``system`` is the scheduler's: refused from ``Engine.fire`` and from the act kernel unless
  the act is for a due deadline the sweep holds (a capability, not a name), and from every CLI
  act.
* On a real database, OS users act only as the actors granted to them — by the settings'
  ``[actors]`` table or by the province's audited ``actors grant`` — and ``init`` grants the
  OS user who ran it ``province``. Simulation databases skip the mapping.
"""

from __future__ import annotations

import json
import os
import pwd
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from deadline_support import audit_rows, count_audit, publicized
from sqlalchemy import select, text
from support import PROVINCE, Walker, store_at_revision

from gdcluster.cli import cli
from gdcluster.engine import Engine, InvalidInput, NotFound, PermissionDenied
from gdcluster.engine.actors import Actor
from gdcluster.engine.grants import Pattern
from gdcluster.engine.models import Case, Deadline

DATA = Path(__file__).parent / "data"
#: The OS user running the tests, by effective uid, as the CLI finds it.
ME = pwd.getpwuid(os.geteuid()).pw_name

# ---------------------------------------------------------------------------- system
def test_system_is_refused_through_fire_and_the_kernel(engine: Engine, walker: Walker) -> None:
    """`Engine.fire(…, "system")` and `engine.kernel.act(…, Actor.system())` are refused
    (exit 4, recorded, nothing written) even for a trigger the table gives the system — here
    closing a publicity whose window has ended; the sweep, holding the due deadline, closes
    it."""
    [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
    engine.clock.set("2024-10-12T09:00")  # type: ignore[attr-defined]
    audit_before = count_audit(engine)
    for attempt in (lambda: engine.fire(case_id, "close_publicity", "system"),
                    lambda: engine.kernel.act(case_id, "close_publicity", Actor.system(), {})):
        with pytest.raises(PermissionDenied) as caught:
            attempt()
        assert caught.value.exit_code == 4 and "system" in caught.value.message
    assert engine.get(case_id).state == "publicized"
    assert count_audit(engine) == audit_before
    assert [row["actor"] for row in engine.refusals(case_id=case_id)][-2:] == ["system"] * 2
    [outcome] = engine.run_due()
    assert (outcome.case_id, outcome.outcome) == (case_id, "publicity_closed")
    assert engine.history(case_id)[-1]["actor"] == "system"


def test_a_deadline_not_yet_due_gives_no_system_authority(engine: Engine) -> None:
    """Holding a claim is the capability, and only a due deadline can be claimed: a
    transaction that claims a deadline before its time holds nothing, and the system's act on
    that case is refused."""
    [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
    [deadline] = [row for row in engine.get(case_id).deadlines if row["status"] == "pending"]
    with engine.store.read() as session:
        deadline_id = session.scalar(select(Deadline.id).where(Deadline.case_id == case_id))
    with pytest.raises(PermissionDenied), engine.kernel.transaction() as transaction:
        assert not transaction.claim_deadline(deadline_id, engine.clock.now())
        case = transaction.session.get(Case, case_id, with_for_update=True)
        engine.kernel.transition(transaction, case, "close_publicity", Actor.system(), {},
                                 engine.clock.now())
    assert engine.get(case_id).state == "publicized" and deadline["kind"] == "publicity_end"


# ---------------------------------------------------------------------------- the CLI
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})


def gd(db: str, *args: str, actor: str | None = None, settings: Path | None = None,
       env: dict[str, str | None] | None = None) -> Result:
    argv = ["--db", db]
    if settings is not None:
        argv += ["--settings", str(settings)]
    if actor is not None:
        argv += ["--as", actor]
    return RUNNER.invoke(cli, [*argv, *args], env=env)


def actors_file(folder: Path, table: str) -> Path:
    path = folder / "gdcluster.toml"
    path.write_text(f'[notices]\noutbox = "outbox"\nformats = ["txt"]\n\n[actors]\n{table}\n',
                    "utf-8")
    return path


def refusal_rows(db: str) -> list[tuple[str, str, str]]:
    engine = Engine.open(db)
    try:
        return [(row["actor"], row["trigger"], row["code"]) for row in engine.refusals()]
    finally:
        engine.close()


def test_init_grants_its_runner_province_once(db_url: str) -> None:
    """`init` of a real database grants the OS user who ran it `province` — an audited act —
    and only the first time: a later `init` (an upgrade) grants nobody anything."""
    first = gd(db_url, "--json", "init")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["granted"] == {"os_user": ME, "actor": "province"}
    again = gd(db_url, "--json", "init")
    assert again.exit_code == 0 and "granted" not in json.loads(again.stdout)
    listed = gd(db_url, "--json", "actors", "list", actor="province@王处长")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["os_user"], row["actor"], row["audit_seq"]) == (ME, "province", 1)
    engine = Engine.open(db_url)
    try:
        [entry] = audit_rows(engine)
        assert (entry.trigger, entry.actor) == ("actor_grant", "province")
        assert json.loads(entry.payload) == {"os_user": ME, "actor": "province"}
    finally:
        engine.close()


def test_a_bound_os_user_acts_only_as_granted(db_url: str) -> None:
    """Once granted `province`, this OS user's `--as city:佛山市@张三` is refused (exit 4,
    naming the OS user and what it may act as, recorded) before anything is written; after
    the province grants `city:佛山市`, the same --as passes the binding (and meets the act's
    own rule: a city does not open rounds)."""
    assert gd(db_url, "init").exit_code == 0
    refused = gd(db_url, "round", "open", "2030", actor="city:佛山市@张三")
    assert refused.exit_code == 4, refused.output
    assert f"OS user {ME} may not act as city:佛山市@张三 (open); it may act as province" \
        in refused.stderr
    assert refusal_rows(db_url)[-1] == ("city:佛山市@张三", "open", "permission_denied")
    granted = gd(db_url, "actors", "grant", ME, "city:佛山市", actor="province")
    assert granted.exit_code == 0, granted.output
    passed = gd(db_url, "round", "open", "2030", actor="city:佛山市@张三")
    assert passed.exit_code == 4 and "only the province" in passed.stderr, passed.output
    assert gd(db_url, "actors", "revoke", ME, "city:佛山市", actor="province").exit_code == 0
    assert gd(db_url, "round", "open", "2030", actor="city:佛山市@张三").exit_code == 4
    engine = Engine.open(db_url)
    try:
        assert [row.trigger for row in audit_rows(engine)] == [
            "actor_grant", "actor_grant", "actor_revoke"]
        assert engine.verify_audit().ok
    finally:
        engine.close()


def test_the_settings_actors_table_binds_os_users(tmp_path: Path) -> None:
    """The settings' [actors] table grants too (the union with the database's grants):
    naming this OS user `city:佛山市@张三` refuses its `--as province`; naming only another OS
    user leaves this one with nothing (refused, "no actor granted"); a database grant adds to
    what the settings give."""
    db = f"sqlite:///{tmp_path / 'real.db'}"
    Engine.init(db).close()  # the library's init grants nobody: only the settings bind
    mine = actors_file(tmp_path, f'"{ME}" = ["city:佛山市@张三"]')
    refused = gd(db, "round", "open", "2030", actor="province", settings=mine)
    assert refused.exit_code == 4
    assert f"OS user {ME} may not act as province (open); it may act as city:佛山市@张三" \
        in refused.stderr
    city = gd(db, "round", "open", "2030", actor="city:佛山市@张三", settings=mine)
    assert city.exit_code == 4 and "only the province" in city.stderr
    others = tmp_path / "others"
    others.mkdir()
    theirs = actors_file(others, '"zhangsan" = ["province"]')
    nothing = gd(db, "round", "open", "2030", actor="province", settings=theirs)
    assert nothing.exit_code == 4 and f"OS user {ME} has no actor granted" in nothing.stderr
    engine = Engine.open(db)
    try:
        engine.grant_actor(ME, "province", "province")
    finally:
        engine.close()
    both = gd(db, "policy", "extend", "guangdong-2023", "--until", "2100-12-31", "--source",
              "粤工信服务函〔2025〕88号", actor="province@王处长", settings=mine)
    assert both.exit_code == 0, both.output


@pytest.mark.parametrize("argv", [
    ["case", "close-publicity", "1"], ["case", "revoke", "1", "--reason", "未申请复核"],
    ["case", "propose-revocation", "1", "--reason-code", "18.1", "--facts", "未申请复核"],
    ["round", "open", "2030"], ["calendar", "import", str(DATA / "calendar-2027.yaml")],
    ["actors", "list"]], ids=lambda argv: " ".join(argv[:2]))
def test_system_is_refused_from_every_cli_act(tmp_path: Path, argv: list[str]) -> None:
    """`--as system` (or GDCLUSTER_ACTOR=system) is refused from every act of the CLI (exit
    4, "reserved for the scheduler"), on a simulation database too, and writes nothing."""
    db = f"sqlite:///{tmp_path / 'sim.db'}"
    Engine.init(db, simulation=True).close()
    for result in (gd(db, *argv, actor="system"),
                   gd(db, *argv, env={"GDCLUSTER_ACTOR": "system"})):
        assert result.exit_code == 4, result.output
        assert "reserved for the scheduler" in result.stderr
    engine = Engine.open(db)
    try:
        assert audit_rows(engine) == []
    finally:
        engine.close()


def test_a_simulation_database_skips_the_binding(tmp_path: Path) -> None:
    """On a simulation database the [actors] table binds nobody: an actor it does not name
    acts."""
    db = f"sqlite:///{tmp_path / 'sim.db'}"
    Engine.init(db, simulation=True).close()
    settings = actors_file(tmp_path, f'"{ME}" = ["city:佛山市@张三"]')
    result = gd(db, "--now", "2024-03-01T09:00", "round", "open", "2024", actor="province",
                settings=settings)
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------------- the engine
def test_grants_are_audited_province_acts(db_url: str) -> None:
    """grant and revoke are the province's (anyone else exit 4), each one audit row; a
    pattern naming `system`, a bad pattern or OS user is bad input naming its field; revoking
    what was never granted is not found; list is the province's too."""
    engine = Engine.init(db_url)
    try:
        with pytest.raises(PermissionDenied):
            engine.grant_actor("zhangsan", "city:佛山市@张三", "city:佛山市")
        assert engine.grant_actor("zhangsan", "city:佛山市@张三", PROVINCE) == {
            "os_user": "zhangsan", "actor": "city:佛山市@张三"}
        engine.grant_actor("lisi", "county:*", PROVINCE)
        for os_user, actor, field in (("zhangsan", "system", "actor"),
                                      ("zhangsan", "city:火星市", "actor"),
                                      ("zhangsan", "province:*", "actor"),
                                      ("zhang san", "province", "os_user")):
            with pytest.raises(InvalidInput) as caught:
                engine.grant_actor(os_user, actor, PROVINCE)
            assert caught.value.field == field, caught.value.message
        with pytest.raises(NotFound):
            engine.revoke_actor("zhangsan", "province", PROVINCE)
        engine.revoke_actor("lisi", "county:*", PROVINCE)
        with pytest.raises(PermissionDenied):
            engine.actor_grants("county:佛山市南海区")
        assert [(row["os_user"], row["actor"]) for row in engine.actor_grants(PROVINCE)] == [
            ("zhangsan", "city:佛山市@张三")]
        assert [(row.trigger, json.loads(row.payload)["os_user"]) for row in
                audit_rows(engine)] == [("actor_grant", "zhangsan"), ("actor_grant", "lisi"),
                                        ("actor_revoke", "lisi")]
        with pytest.raises(PermissionDenied) as refused:
            engine.authorize("zhangsan", "city:佛山市@李四")
        assert "zhangsan" in refused.value.message and "city:佛山市@张三" in refused.value.message
        assert str(engine.authorize("zhangsan", "city:佛山市@张三")) == "city:佛山市@张三"
        with pytest.raises(PermissionDenied):
            engine.authorize("wangwu", "province")  # grants exist: an OS user with none
        assert engine.verify_audit().ok
    finally:
        engine.close()


def test_patterns_match_regions_and_persons() -> None:
    """`county:*` is any county actor, `city:佛山市` any person of 佛山市, `city:佛山市@张三`
    only him, `public` any objector; nothing matches a system actor."""
    cases = [("county:*", "county:佛山市南海区@李四", True), ("county:*", "city:佛山市", False),
             ("city:佛山市", "city:佛山市@王五", True), ("city:佛山市", "city:广州市", False),
             ("city:佛山市@张三", "city:佛山市@张三", True),
             ("city:佛山市@张三", "city:佛山市", False),
             ("public", "public@王五", True), ("province", "province@王处长", True)]
    for pattern, actor, expected in cases:
        assert Pattern.parse(pattern).matches(Actor.parse(actor)) is expected, (pattern, actor)
    with pytest.raises(InvalidInput):
        Pattern.parse("system")


def test_a_database_at_0006_upgrades_with_nobody_bound(db_url: str) -> None:
    """A database made at 0006 upgrades to 0007 (`init`): the grants table is there and
    empty, its acts and chain untouched, and nobody is bound until the first grant — which
    the upgrading `init` makes for its runner."""
    store = store_at_revision(db_url, "0006_lifecycle_recognition")
    try:
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO gd_meta (key, value) VALUES ('simulation', 'false'), "
                "('schema_revision', '0006_lifecycle_recognition')"))
    finally:
        store.dispose()
    engine = Engine.init(db_url)  # the library's upgrade: grants nobody
    try:
        assert engine.actor_grants(PROVINCE) == []
        assert str(engine.authorize("anyone", "city:佛山市@张三")) == "city:佛山市@张三"
        assert engine.verify_audit().ok
    finally:
        engine.close()
    upgraded = gd(db_url, "--json", "init")
    assert upgraded.exit_code == 0, upgraded.output
    assert json.loads(upgraded.stdout)["granted"] == {"os_user": ME, "actor": "province"}
