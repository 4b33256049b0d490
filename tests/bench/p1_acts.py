"""P1 — per act: the engine against a competent peer and against the limit, in one run.

N drafted cases (default 1,000, filed through ``Engine.create_case``) go ``submit → review →
recommend``, one transaction per act, done three ways on copies of the same database:

* **engine** — ``Engine.fire``;
* **peer** — what a competent engineer would write: one reused python-statemachine machine
  (2.6, pinned in the test extras: 3.x runs each event through a statechart engine, about 5 ×
  slower, which would flatter the engine) decides the transition, and SQLAlchemy Core
  statements prepared once (bind parameters) do the six statements of an act's minimum:
  ``BEGIN IMMEDIATE`` (SQLite; ``FOR UPDATE`` on PostgreSQL), read the case's state and
  version, update it with the version check (``recommend`` also dates the recommendation, as
  the engine does), read the locked audit chain head, insert the SHA-256 chained audit row,
  move the head;
* **limit** — the same rows with the stdlib ``sqlite3`` module and constant SQL (SQLite only).

All three write exactly the engine's rows: the audit rows carry the engine's actor, article and
payload, so the three chains end on the same head hash, and ``Engine.verify_audit`` passes on
every database (the run fails otherwise). The contenders take turns block by block (their order
rotating), so load from other processes falls on all alike. Reported: acts/s (wall), CPU µs per
act (``time.process_time``), statements and write transactions per act (counted on a few
cases before the timed blocks), and engine ÷ reference.

SQLite runs with ``synchronous=FULL`` (the engine's setting) and ``synchronous=NORMAL`` (WAL);
the engine joins the NORMAL comparison once it can be opened that way
(:func:`engine_at_normal`); PostgreSQL (``GDCLUSTER_TEST_PG``) has engine and peer only.
Targets (issue 16): engine ≥ 1.0 × peer on FULL, NORMAL and PostgreSQL; ≥ 0.4 × limit on FULL.

    python tests/bench/p1_acts.py [--cases 1000] [--block 50] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import json
import shutil
import sqlite3
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    NOT_BUILT,
    OPEN_AT,
    YEAR,
    Figure,
    Spent,
    SQLCounter,
    backends,
    counting,
    create_cases_api,
    database,
    emit,
    fake_clock,
    init_engine,
    list_cases,
    measured,
    note,
    open_engine,
    open_round,
    quick_args,
    scratch,
    sqlite_path,
)

#: (trigger, from, to) of the three acts, in order.
STEPS = (("submit", "drafted", "submitted"), ("review", "submitted", "city_reviewed"),
         ("recommend", "city_reviewed", "recommended"))
#: The audit payload the engine writes for each act (its guards' and effects' notes).
PAYLOADS: dict[str, dict[str, Any]] = {
    "submit": {}, "review": {"criteria": "all automatic items pass"}, "recommend": {}}

Case = tuple[int, str, str]  # id, city, county-level unit


def actor(trigger: str, city: str, unit: str) -> str:
    return f"county:{unit}" if trigger == "submit" else f"city:{city}"


def articles() -> dict[str, str]:
    """The article each act is taken under, from the workflow table the engine reads."""
    from gdcluster.states.workflow import load_workflow

    rows = load_workflow().rules
    return {trigger: next(row.article for row in rows
                          if row.trigger == trigger and source in row.sources)
            for trigger, source, _ in STEPS}


def clock_now() -> datetime:
    """The instant every act is dated (the engine's fake clock does not move)."""
    return fake_clock(OPEN_AT).now()  # type: ignore[no-any-return]


def payload_texts() -> dict[str, str]:
    """The audit payloads as stored: canonical JSON (sorted keys, compact)."""
    return {name: json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            for name, value in PAYLOADS.items()}


# ---------------------------------------------------------------------------- the contenders
class Contender:
    """Does one act (``act``) in its own transaction; ``run`` does the three acts of each
    case of a block, in order."""

    def act(self, case_id: int, trigger: str, who: str) -> Any:
        raise NotImplementedError

    def run(self, cases: list[Case]) -> int:
        act = self.act
        for case_id, city, unit in cases:
            for trigger, _source, _dest in STEPS:
                act(case_id, trigger, actor(trigger, city, unit))
        return 3 * len(cases)


class EngineActs(Contender):
    label = "engine"

    def __init__(self, url: str, engine: Any = None) -> None:
        self.url = url
        self.engine = engine or open_engine(url, fake_clock(OPEN_AT))

    def act(self, case_id: int, trigger: str, who: str) -> Any:
        return self.engine.fire(case_id, trigger, who)

    def counter(self) -> Any:
        return counting(self.engine)

    def close(self) -> None:
        self.engine.close()


def case_machine() -> Any:
    """The python-statemachine class of these acts (the part of the lifecycle they cross)."""
    from statemachine import State, StateMachine

    class CaseMachine(StateMachine):  # type: ignore[misc]
        drafted = State(initial=True)
        submitted = State()
        city_reviewed = State()
        recommended = State(final=True)

        submit = drafted.to(submitted)
        give_back = submitted.to(drafted)  # 退回补正
        review = submitted.to(city_reviewed)
        recommend = city_reviewed.to(recommended)

    return CaseMachine


class _Holder:
    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = "drafted"


def sqlite_sa_engine(url: str, synchronous: str) -> Any:
    """A SQLAlchemy engine on a SQLite file opened as the engine opens it (WAL, foreign keys,
    busy timeout, ``BEGIN IMMEDIATE`` for writers), at the given ``synchronous``."""
    from sqlalchemy import create_engine, event

    sa = create_engine(url)

    @event.listens_for(sa, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sa, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return sa


class PeerActs(Contender):
    """python-statemachine (one machine, reused) + prepared SQLAlchemy Core statements."""

    label = "python-statemachine + prepared Core"

    def __init__(self, url: str, synchronous: str = "FULL") -> None:
        from sqlalchemy import bindparam, create_engine, insert, select, update

        from gdcluster.engine.models import AuditEntry, AuditHead
        from gdcluster.engine.models import Case as CaseModel

        self.url = url
        self.sa = (sqlite_sa_engine(url, synchronous) if url.startswith("sqlite")
                   else create_engine(url))
        lock = self.sa.dialect.name != "sqlite"  # SQLite: BEGIN IMMEDIATE locks the file
        case, audit, head = (CaseModel.__table__, AuditEntry.__table__,  # type: ignore[attr-defined]
                             AuditHead.__table__)  # type: ignore[attr-defined]
        read_case = select(case.c.state, case.c.version).where(case.c.id == bindparam("case_id"))
        read_head = select(head.c.seq, head.c.hash).where(head.c.id == 1)
        self.read_case = read_case.with_for_update() if lock else read_case
        self.read_head = read_head.with_for_update() if lock else read_head
        moved = update(case).where(case.c.id == bindparam("case_id"),
                                   case.c.version == bindparam("old"))
        self.update_case = moved.values(state=bindparam("dest"), version=bindparam("new"),
                                        updated_at=bindparam("now"))
        self.update_recommended = moved.values(
            state=bindparam("dest"), version=bindparam("new"), updated_at=bindparam("now"),
            recommended_at=bindparam("now"))
        self.insert_audit = insert(audit)
        self.move_head = update(head).where(head.c.id == 1).values(
            seq=bindparam("new_seq"), hash=bindparam("new_hash"))
        self.articles = articles()
        self.payloads = payload_texts()
        self.holder = _Holder()
        self.machine = case_machine()(model=self.holder, state_field="state")

    def act(self, case_id: int, trigger: str, who: str) -> None:
        now = clock_now()
        with self.sa.begin() as connection:
            current = connection.execute(self.read_case, {"case_id": case_id}).one()
            source = self.holder.state = current.state
            self.machine.send(trigger)  # TransitionNotAllowed when the state does not allow it
            dest = self.holder.state
            statement = self.update_recommended if trigger == "recommend" else self.update_case
            if connection.execute(statement, {"case_id": case_id, "old": current.version,
                                              "new": current.version + 1, "dest": dest,
                                              "now": now}).rowcount != 1:
                raise RuntimeError(f"case {case_id} changed under the act")
            head = connection.execute(self.read_head).one()
            row = {"seq": head.seq + 1, "case_id": case_id, "round_year": YEAR, "actor": who,
                   "trigger": trigger, "from_state": source, "to_state": dest,
                   "reason": None, "payload": self.payloads[trigger],
                   "article": self.articles[trigger], "at": now, "prev_hash": head.hash,
                   "attest": case_attest(dest, current.version + 1)}
            row["hash"] = chain_hash(row, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            connection.execute(self.insert_audit, row)
            connection.execute(self.move_head, {"new_seq": row["seq"], "new_hash": row["hash"]})

    def counter(self) -> Any:
        return SQLCounter(self.sa)

    def close(self) -> None:
        self.sa.dispose()


def case_attest(state: str, version: int) -> str:
    """What the engine's row records of the case it left (``attest``, hashed with the row):
    its state and version; no validity or previous state in these steps."""
    return json.dumps({"case": [state, version, None, None, None]}, ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))


def chain_hash(row: dict[str, Any], at_text: str) -> str:
    """SHA-256 over the canonical JSON of the row (sorted keys, compact, UTF-8), the engine's
    audit format."""
    body = json.dumps({**row, "at": at_text}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class _TraceCounter:
    """Statements and write transactions of a stdlib connection, from its trace callback."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.statements = self.write_transactions = 0
        self._dirty = False

    def _trace(self, statement: str) -> None:
        word = statement.lstrip()[:7].upper()
        if word.startswith("COMMIT"):
            self.write_transactions += self._dirty
            self._dirty = False
        else:  # BEGIN IMMEDIATE counts, as SQLAlchemy counts it; COMMIT does not
            self.statements += 1
            self._dirty = self._dirty or word.startswith(("INSERT", "UPDATE", "DELETE"))

    def __enter__(self) -> _TraceCounter:
        self.connection.set_trace_callback(self._trace)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.connection.set_trace_callback(None)


class StdlibActs(Contender):
    """stdlib ``sqlite3``, constant SQL, a dict for the transition table."""

    label = "stdlib sqlite3"
    MOVES: ClassVar[dict[tuple[str, str], str]] = {
        (trigger, source): dest for trigger, source, dest in STEPS}

    def __init__(self, url: str, synchronous: str = "FULL") -> None:
        self.url = url
        self.db = sqlite3.connect(sqlite_path(url), isolation_level=None,
                                  check_same_thread=False)
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}",
                       "busy_timeout=30000", "foreign_keys=ON"):
            self.db.execute(f"PRAGMA {pragma}")
        self.articles = articles()
        self.payloads = payload_texts()

    def act(self, case_id: int, trigger: str, who: str) -> None:
        db = self.db
        now = clock_now()
        stored = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        db.execute("BEGIN IMMEDIATE")
        try:
            source, version = db.execute(
                "SELECT state, version FROM gd_case WHERE id = ?", (case_id,)).fetchone()
            dest = self.MOVES.get((trigger, source))
            if dest is None:
                raise RuntimeError(f"{trigger} is not allowed in state {source}")
            if trigger == "recommend":
                changed = db.execute(
                    "UPDATE gd_case SET state = ?, version = ?, updated_at = ?, "
                    "recommended_at = ? WHERE id = ? AND version = ?",
                    (dest, version + 1, stored, stored, case_id, version)).rowcount
            else:
                changed = db.execute(
                    "UPDATE gd_case SET state = ?, version = ?, updated_at = ? "
                    "WHERE id = ? AND version = ?",
                    (dest, version + 1, stored, case_id, version)).rowcount
            if changed != 1:
                raise RuntimeError(f"case {case_id} changed under the act")
            seq, previous = db.execute(
                "SELECT seq, hash FROM gd_audit_head WHERE id = 1").fetchone()
            row = {"seq": seq + 1, "case_id": case_id, "round_year": YEAR, "actor": who,
                   "trigger": trigger, "from_state": source, "to_state": dest, "reason": None,
                   "payload": self.payloads[trigger], "article": self.articles[trigger],
                   "prev_hash": previous, "attest": case_attest(dest, version + 1)}
            digest = chain_hash(row, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            db.execute(
                "INSERT INTO gd_audit (seq, case_id, round_year, actor, trigger, from_state, "
                "to_state, reason, payload, article, at, prev_hash, hash, attest) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq + 1, case_id, YEAR, who, trigger, source, dest, None, row["payload"],
                 row["article"], stored, previous, digest, row["attest"]))
            db.execute("UPDATE gd_audit_head SET seq = ?, hash = ? WHERE id = 1",
                       (seq + 1, digest))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def counter(self) -> Any:
        return _TraceCounter(self.db)

    def close(self) -> None:
        self.db.close()


def engine_at_normal(url: str) -> EngineActs | None:
    """The engine opened with ``synchronous=NORMAL``, once ``Engine.open`` offers it (a
    ``synchronous`` argument); None until then."""
    from gdcluster.engine import Engine

    if "synchronous" not in inspect.signature(Engine.open).parameters:
        return None
    return EngineActs(url, Engine.open(url, clock=fake_clock(OPEN_AT), synchronous="NORMAL"))


# ---------------------------------------------------------------------------- the run
def seed(url: str, cases: int) -> list[Case]:
    engine = init_engine(url, fake_clock(OPEN_AT))
    try:
        open_round(engine)
        return create_cases_api(engine, cases)
    finally:
        engine.close()


def copy_sqlite(source: str, target: str) -> None:
    """A copy of a closed SQLite database (its WAL was checkpointed when it closed)."""
    shutil.copyfile(sqlite_path(source), sqlite_path(target))


class Result:
    def __init__(self, name: str) -> None:
        self.name = name
        self.spent = Spent()
        self.acts = 0
        self.statements: float | None = None
        self.write_transactions: float | None = None

    @property
    def rate(self) -> float:
        return self.acts / self.spent.wall

    @property
    def cpu_us(self) -> float:
        return self.spent.cpu / self.acts * 1e6

    def text(self) -> str:
        counts = ("" if self.statements is None else
                  f", {self.statements:.1f} statements and {self.write_transactions:.1f} "
                  f"write transactions per act")
        return f"{self.rate:,.0f} acts/s, {self.cpu_us:,.0f} µs CPU/act{counts}"


def race(contenders: dict[str, Any], cases: list[Case], block: int, warm: int) -> dict[str,
                                                                                      Result]:
    """Warm-up cases counted (statements, write transactions), then the timed blocks, each
    contender in turn, the order rotating from block to block."""
    results = {name: Result(name) for name in contenders}
    for name, contender in contenders.items():
        with contender.counter() as counter:
            acts = contender.run(cases[:warm])
        if counter is not None:
            results[name].statements = counter.statements / acts
            results[name].write_transactions = counter.write_transactions / acts
    names = list(contenders)
    for index, first in enumerate(range(warm, len(cases), block)):
        chunk = cases[first:first + block]
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            spent, acts = measured(functools.partial(contenders[name].run, chunk))
            results[name].spent.add(spent)
            results[name].acts += acts
    return results


def check(urls: dict[str, str]) -> None:
    """Every database passes the engine's own ``audit verify``, every case is recommended, and
    all chains end on the same head: the references wrote exactly the engine's rows."""
    heads = {}
    for name, url in urls.items():
        engine = open_engine(url)
        try:
            report = engine.verify_audit()
            if not report.ok:
                raise SystemExit(f"{name}: the engine's audit verify fails: {report.message()}")
            states = {view.state for view in list_cases(engine, round_year=YEAR)}
            if states != {"recommended"}:
                raise SystemExit(f"{name}: cases left in {sorted(states)}")
            heads[name] = (report.head_seq, report.head_hash)
        finally:
            engine.close()
    if len(set(heads.values())) != 1:
        raise SystemExit("the audit chains differ, so the references did not write the "
                         "engine's rows (update PAYLOADS/articles in p1_acts.py): "
                         + "; ".join(f"{name} {seq} {digest[:12]}"
                                     for name, (seq, digest) in heads.items()))
    note(f"audit verify passes on all {len(urls)} databases; every chain ends at row "
         f"{next(iter(heads.values()))[0]} with the same hash")


def measure_sqlite(cases: int, block: int, warm: int) -> list[Figure]:
    with scratch("p1") as folder:
        seed_url = f"sqlite:///{folder / 'seed.db'}"
        seconds = measured(lambda: seed(seed_url, cases + warm))[0].wall
        note(f"sqlite: {cases + warm} drafted cases filed through Engine.create_case "
             f"({seconds:.1f} s), copied for each contender")
        makers: dict[str, Callable[[str], Any]] = {
            "engine FULL": EngineActs,
            "peer FULL": lambda url: PeerActs(url, "FULL"),
            "stdlib FULL": lambda url: StdlibActs(url, "FULL"),
            "peer NORMAL": lambda url: PeerActs(url, "NORMAL"),
            "stdlib NORMAL": lambda url: StdlibActs(url, "NORMAL"),
        }
        urls = {}
        contenders: dict[str, Any] = {}
        normal_url = f"sqlite:///{folder / 'engine-normal.db'}"
        copy_sqlite(seed_url, normal_url)
        engine_normal = engine_at_normal(normal_url)
        if engine_normal is not None:
            contenders["engine NORMAL"] = engine_normal
            urls["engine NORMAL"] = normal_url
        made = seed_cases(seed_url)
        try:
            for name, make in makers.items():
                url = f"sqlite:///{folder / (name.replace(' ', '-') + '.db')}"
                copy_sqlite(seed_url, url)
                urls[name] = url
                contenders[name] = make(url)
            results = race(contenders, made, block, warm)
        finally:
            for contender in contenders.values():
                contender.close()
        check(urls)
    table(results, "sqlite")
    engine, peer, stdlib = (results[n] for n in ("engine FULL", "peer FULL", "stdlib FULL"))
    figures = [
        Figure("P1", "per act vs python-statemachine + prepared Core, synchronous=FULL",
               "sqlite", f"engine {engine.text()}", f"{peer.text()}",
               engine.rate / peer.rate, 1.0),
        Figure("P1", "per act vs stdlib sqlite3 (the limit), synchronous=FULL", "sqlite",
               f"engine {engine.text()}", f"{stdlib.text()}", engine.rate / stdlib.rate, 0.4),
    ]
    peer_normal = results["peer NORMAL"]
    if "engine NORMAL" in results:
        engine_normal_result = results["engine NORMAL"]
        figures.append(Figure(
            "P1", "per act vs python-statemachine + prepared Core, synchronous=NORMAL",
            "sqlite", f"engine {engine_normal_result.text()}", peer_normal.text(),
            engine_normal_result.rate / peer_normal.rate, 1.0))
    else:
        figures.append(Figure(
            "P1", "per act vs python-statemachine + prepared Core, synchronous=NORMAL",
            "sqlite", "engine: no way to open it with synchronous=NORMAL yet (measured at "
            f"FULL only: {engine.rate:,.0f} acts/s)", peer_normal.text(), None, 1.0,
            status=NOT_BUILT))
    return figures


def seed_cases(url: str) -> list[Case]:
    """(id, city, unit) of the seeded cases, read back through the public API."""
    engine = open_engine(url)
    try:
        return [(view.id, view.city, view.county) for view in list_cases(engine)]
    finally:
        engine.close()


def measure_postgresql(cases: int, block: int, warm: int) -> list[Figure]:
    with scratch("p1pg") as folder, database("postgresql", folder, "engine") as engine_url, \
            database("postgresql", folder, "peer") as peer_url:
        seconds = 0.0
        for url in (engine_url, peer_url):
            seconds += measured(lambda url=url: seed(url, cases + warm))[0].wall
        note(f"postgresql: {cases + warm} drafted cases filed through Engine.create_case, "
             f"twice ({seconds:.1f} s)")
        made = seed_cases(engine_url)
        contenders: dict[str, Any] = {}
        try:
            contenders["engine"] = EngineActs(engine_url)
            contenders["peer"] = PeerActs(peer_url)
            results = race(contenders, made, block, warm)
        finally:
            for contender in contenders.values():
                contender.close()
        check({"engine": engine_url, "peer": peer_url})
    table(results, "postgresql")
    engine, peer = results["engine"], results["peer"]
    return [Figure("P1", "per act vs python-statemachine + prepared Core", "postgresql",
                   f"engine {engine.text()}", peer.text(), engine.rate / peer.rate, 1.0)]


def table(results: dict[str, Result], backend: str) -> None:
    """The issue's table: acts/s, CPU µs/act, statements and write transactions per act."""
    print(f"\n| per act ({backend}; submit → review → recommend) | acts/s | CPU µs/act "
          f"| statements/act | write tx/act | engine ÷ it |")
    print("|---|---:|---:|---:|---:|---:|")
    engine = results.get("engine FULL") or results["engine"]
    for name, result in results.items():
        counts = (("—", "—") if result.statements is None
                  else (f"{result.statements:.1f}", f"{result.write_transactions:.1f}"))
        print(f"| {name} | {result.rate:,.0f} | {result.cpu_us:,.0f} | {counts[0]} "
              f"| {counts[1]} | {engine.rate / result.rate:.2f} |")
    print(flush=True)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--block", type=int, default=50,
                        help="cases per block; the contenders take turns by blocks")
    parser.add_argument("--warm", type=int, default=10,
                        help="cases first done by each contender, counted and not timed")
    quick_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.block, args.warm = 60, 20, 3
    figures = []
    for backend in backends():
        measure = measure_sqlite if backend == "sqlite" else measure_postgresql
        for figure in measure(args.cases, args.block, args.warm):
            figures.append(emit(figure))
    return figures


if __name__ == "__main__":
    main()
