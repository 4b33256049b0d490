"""P1 — durable transitions: the Engine against the same row writes in SQLAlchemy Core.

N cases (default 2,000) go ``submit → review → recommend`` through ``Engine.fire``, one
transaction per transition, on a SQLite file (and on PostgreSQL when ``GDCLUSTER_TEST_PG`` is
set). In the same run a baseline does, per transaction and on a database opened the same way
(WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``), only the row work an act must do: read the
case's state and version, update it with its version check, lock the chain head, insert the
hash-chained audit row, move the head — once with statements built where they run, as Core is
usually written, and once with statements prepared in advance, the fastest plain Core. Engine
and baselines take turns in blocks of cases, so load from other processes falls on all alike.
Target: engine ≥ 0.5 × baseline.

    python tests/bench/p1_transitions.py [--cases N]
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    OPEN_AT,
    YEAR,
    Figure,
    Seeder,
    backends,
    database,
    emit,
    fake_clock,
    init_engine,
    note,
    open_round,
    scratch,
    timed,
    utc,
)

STEPS = (("submit", "drafted", "submitted"), ("review", "submitted", "city_reviewed"),
         ("recommend", "city_reviewed", "recommended"))


def prepare(url: str, cases: int) -> tuple[object, list[tuple[int, str, str]]]:
    engine = init_engine(url, fake_clock(OPEN_AT))
    open_round(engine)
    with Seeder(engine) as seeder:
        ids = seeder.cases(cases, state="drafted", at=utc(OPEN_AT))
    from sqlalchemy import select

    from gdcluster.engine.models import Case

    with engine.store.read() as session:
        where = {row.id: (row.city, row.county) for row in session.execute(
            select(Case.id, Case.city, Case.county).where(Case.id.in_(ids)))}
    return engine, [(case_id, *where[case_id]) for case_id in ids]


def run_engine(engine: object, cases: list[tuple[int, str, str]]) -> int:
    fired = 0
    for case_id, city, county in cases:
        engine.fire(case_id, "submit", f"county:{county}")  # type: ignore[attr-defined]
        engine.fire(case_id, "review", f"city:{city}")  # type: ignore[attr-defined]
        engine.fire(case_id, "recommend", f"city:{city}")  # type: ignore[attr-defined]
        fired += 3
    return fired


class Baseline:
    """The same row work per transaction, straight through SQLAlchemy Core.

    ``prepared``: statements built once with bind parameters (the fastest plain Core there
    is); otherwise built per call, ``update(table).where(…).values(…)``, as Core is usually
    written.
    """

    def __init__(self, engine: object, *, prepared: bool) -> None:
        self.prepared = prepared
        from sqlalchemy import bindparam, insert, select, update

        from gdcluster.engine.models import AuditEntry, AuditHead, Case

        store = engine.store  # type: ignore[attr-defined]
        self.writer = store._writer  # the Store's own BEGIN IMMEDIATE engine
        locking = store.dialect != "sqlite"
        self.now = fake_clock(OPEN_AT).now()
        case, audit, head = Case.__table__, AuditEntry.__table__, AuditHead.__table__
        self.read_case = select(case.c.state, case.c.version).where(
            case.c.id == bindparam("case_id"))
        self.read_head = select(head.c.seq, head.c.hash).where(head.c.id == 1)
        if locking:
            self.read_case = self.read_case.with_for_update()
            self.read_head = self.read_head.with_for_update()
        self.update_case = (
            update(case)
            .where(case.c.id == bindparam("case_id"), case.c.version == bindparam("old"))
            .values(state=bindparam("dest"), version=bindparam("new"),
                    updated_at=bindparam("now"))
        )
        self.insert_audit = insert(audit)
        self.move_head = update(head).where(head.c.id == 1).values(
            seq=bindparam("new_seq"), hash=bindparam("new_hash"))

    def act(self, case_id: int, actor: str, trigger: str, source: str, dest: str) -> None:
        """One transaction: read the case, update it with its version check, append the
        hash-chained audit row under the locked chain head."""
        from types import SimpleNamespace

        from gdcluster.engine.audit import canonical_json, row_hash

        if not self.prepared:
            return self.act_inline(case_id, actor, trigger, source, dest)
        with self.writer.begin() as connection:
            current = connection.execute(self.read_case, {"case_id": case_id}).one()
            if current.state != source:
                raise RuntimeError(f"case {case_id} is {current.state}, not {source}")
            changed = connection.execute(self.update_case, {
                "case_id": case_id, "old": current.version, "new": current.version + 1,
                "dest": dest, "now": self.now}).rowcount
            if changed != 1:
                raise RuntimeError(f"lost the version race on case {case_id}")
            head = connection.execute(self.read_head).one()
            row = {"seq": head.seq + 1, "case_id": case_id, "round_year": YEAR, "actor": actor,
                   "trigger": trigger, "from_state": source, "to_state": dest, "reason": None,
                   "payload": canonical_json({}), "article": "bench", "at": self.now,
                   "prev_hash": head.hash}
            row["hash"] = row_hash(SimpleNamespace(**row))
            connection.execute(self.insert_audit, row)
            connection.execute(self.move_head, {"new_seq": row["seq"], "new_hash": row["hash"]})
        return None

    def act_inline(self, case_id: int, actor: str, trigger: str, source: str, dest: str) -> None:
        """The same transaction with statements built where they are executed."""
        from types import SimpleNamespace

        from sqlalchemy import insert, select, update

        from gdcluster.engine.audit import canonical_json, row_hash
        from gdcluster.engine.models import AuditEntry, AuditHead, Case

        case, audit, head_table = Case.__table__, AuditEntry.__table__, AuditHead.__table__
        lock = self.writer.dialect.name != "sqlite"
        with self.writer.begin() as connection:
            query = select(case.c.state, case.c.version).where(case.c.id == case_id)
            current = connection.execute(query.with_for_update() if lock else query).one()
            if current.state != source:
                raise RuntimeError(f"case {case_id} is {current.state}, not {source}")
            changed = connection.execute(
                update(case).where(case.c.id == case_id, case.c.version == current.version)
                .values(state=dest, version=current.version + 1, updated_at=self.now)
            ).rowcount
            if changed != 1:
                raise RuntimeError(f"lost the version race on case {case_id}")
            query = select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == 1)
            head = connection.execute(query.with_for_update() if lock else query).one()
            row = {"seq": head.seq + 1, "case_id": case_id, "round_year": YEAR, "actor": actor,
                   "trigger": trigger, "from_state": source, "to_state": dest, "reason": None,
                   "payload": canonical_json({}), "article": "bench", "at": self.now,
                   "prev_hash": head.hash}
            row["hash"] = row_hash(SimpleNamespace(**row))
            connection.execute(insert(audit).values(**row))
            connection.execute(update(head_table).where(head_table.c.id == 1)
                               .values(seq=row["seq"], hash=row["hash"]))

    def steps(self, cases: list[tuple[int, str, str]]) -> Iterator[Callable[[], None]]:
        """One callable per transaction: each case ``submit``, ``review``, ``recommend``."""
        for case_id, city, county in cases:
            for trigger, source, dest in STEPS:
                actor = f"county:{county}" if trigger == "submit" else f"city:{city}"
                yield functools.partial(self.act, case_id, actor, trigger, source, dest)


def run_baseline(baseline: Baseline, cases: list[tuple[int, str, str]]) -> int:
    fired = 0
    for step in baseline.steps(cases):
        step()
        fired += 1
    return fired


def measure(backend: str, cases: int, block: int) -> list[Figure]:
    """Engine and both baselines take turns block by block, each on its own database, so load
    from other processes falls on all three alike."""
    with scratch("p1") as folder, database(backend, folder, "engine") as engine_url, \
            database(backend, folder, "inline") as inline_url, \
            database(backend, folder, "prepared") as prepared_url:
        seconds, (engine, engine_cases) = timed(lambda: prepare(engine_url, cases))
        runners: dict[str, tuple[Callable[[list[tuple[int, str, str]]], int], list[Any]]] = {
            "engine": (functools.partial(run_engine, engine), engine_cases)}
        opened = [engine]
        for name, url in (("inline", inline_url), ("prepared", prepared_url)):
            base_engine, base_cases = prepare(url, cases)
            opened.append(base_engine)
            baseline = Baseline(base_engine, prepared=name == "prepared")
            runners[name] = (functools.partial(run_baseline, baseline), base_cases)
        note(f"{backend}: seeded {cases} drafted cases three times ({seconds:.1f} s each)")
        spent = dict.fromkeys(runners, 0.0)
        fired = dict.fromkeys(runners, 0)
        try:
            for first in range(0, cases, block):
                for name, (run, todo) in runners.items():
                    chunk = todo[first:first + block]
                    took, count = timed(functools.partial(run, chunk))
                    spent[name] += took
                    fired[name] += count
            states = {view.state for view in engine.list_cases(round_year=YEAR)}  # type: ignore[attr-defined]
            assert states == {"recommended"}, states
            report = engine.verify_audit()  # type: ignore[attr-defined]
            assert report.ok, report.message()
        finally:
            for opened_engine in opened:
                opened_engine.close()  # type: ignore[attr-defined]
    rate = {name: fired[name] / spent[name] for name in runners}
    engine_text = (f"engine {rate['engine']:,.0f} transitions/s "
                   f"({fired['engine']} in {spent['engine']:.1f} s)")
    return [
        Figure("P1", "durable transitions vs Core", backend,
               f"{engine_text}, Core baseline {rate['inline']:,.0f}/s",
               rate["engine"] / rate["inline"], 0.5, "at_least"),
        Figure("P1", "durable transitions vs prepared Core (stricter reference)", backend,
               f"{engine_text}, Core baseline with prepared statements "
               f"{rate['prepared']:,.0f}/s", rate["engine"] / rate["prepared"], 0.5, "at_least"),
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--block", type=int, default=50,
                        help="cases per block; engine and baseline alternate blocks")
    args = parser.parse_args(argv)
    figures = []
    for backend in backends():
        for figure in measure(backend, args.cases, args.block):
            emit(figure)
            figures.append(figure)
    return figures


if __name__ == "__main__":
    main()
