"""Shared by the benchmark scripts: databases, bulk seeding, timing, and the figure lines.

Each script prints one line per figure, ending in its ratio, and (when ``GDCLUSTER_BENCH_JSON``
names a file, as ``run_all.py`` does) appends the figure as a JSON line there. Seeds go in by
bulk insert with a valid audit chain, so ``gdcluster audit verify`` still passes on a seeded
database; only what a figure measures goes through the engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ROOT = TESTS.parent
DATA = TESTS / "data"
# the tests' PostgreSQL helpers (tests/pg_support.py), for scripts run from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pg_support import PG_ENV, schema_url  # noqa: E402

JSON_ENV = "GDCLUSTER_BENCH_JSON"

PROVINCE = "province@王处长"
YEAR = 2024
#: Round 2024 as tests/support.py walks it (Asia/Shanghai wall time).
OPEN_AT = "2024-03-01T09:00"
APPLY_BY = "2024-05-31"
RECOMMEND_BY = "2024-06-30"


# ---------------------------------------------------------------------------- output
@dataclass
class Figure:
    """One measured figure: ``ratio`` compared with ``limit`` (``at_most`` or ``at_least``)."""

    id: str
    name: str
    backend: str
    measured: str
    ratio: float
    limit: float
    direction: str = "at_most"
    note: str = ""

    @property
    def met(self) -> bool:
        return self.ratio <= self.limit if self.direction == "at_most" else self.ratio >= self.limit

    @property
    def target(self) -> str:
        return f"{'≤' if self.direction == 'at_most' else '≥'} {self.limit:g}"

    def line(self) -> str:
        verdict = "met" if self.met else "MISSED"
        backend = f" [{self.backend}]" if self.backend else ""
        return (f"{self.id} {self.name}{backend}: {self.measured}; target {self.target} "
                f"({verdict}); ratio {self.ratio:.2f}")


def emit(figure: Figure) -> None:
    print(figure.line(), flush=True)
    target = os.environ.get(JSON_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as stream:
            stream.write(json.dumps({**asdict(figure), "met": figure.met,
                                     "target": figure.target}, ensure_ascii=False) + "\n")


def note(text: str) -> None:
    """Context on stderr (sizes, seeding time): not a figure."""
    print(f"  · {text}", file=sys.stderr, flush=True)


def machine() -> str:
    import sqlite3

    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}, SQLite {sqlite3.sqlite_version}")


# ---------------------------------------------------------------------------- timing
def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------------------- databases
@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"gdcluster-bench-{prefix}-") as folder:
        yield Path(folder)


def pg_base() -> str | None:
    return os.environ.get(PG_ENV) or None


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema on ``GDCLUSTER_TEST_PG``, dropped afterwards."""
    base = pg_base()
    assert base is not None
    with schema_url(base, prefix="bench") as url:
        yield url


@contextlib.contextmanager
def database(backend: str, folder: Path, name: str) -> Iterator[str]:
    """A URL of an empty database: a SQLite file in ``folder``, or a PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / (name + '.db')}"
    else:
        with pg_schema() as url:
            yield url


def backends() -> list[str]:
    """SQLite always; PostgreSQL too when ``GDCLUSTER_TEST_PG`` is set."""
    return ["sqlite", "postgresql"] if pg_base() else ["sqlite"]


def fake_clock(at: str = OPEN_AT) -> Any:
    from gdcluster.engine.clock import FakeClock

    return FakeClock(at)


def init_engine(url: str, clock: Any = None) -> Any:
    """An initialized simulation engine (Alembic migrations, as ``gdcluster init --simulation``)."""
    from gdcluster.engine.api import Engine

    return Engine.init(url, simulation=True, clock=clock or fake_clock())


def open_round(engine: Any, *, year: int = YEAR, quota_max: int = 100,
               windows: bool = True) -> None:
    """Round ``year`` with every city's quota 0..``quota_max`` (the largest a round may set);
    without ``windows``, no application and recommendation deadlines (and their rows)."""
    engine.open_round(year, PROVINCE, apply_by=APPLY_BY if windows else None,
                      recommend_by=RECOMMEND_BY if windows else None,
                      quotas={"*": (0, quota_max)})


# ---------------------------------------------------------------------------- seeding
def units() -> list[tuple[str, str]]:
    """One county-level unit per city, (city, unit), 21 in all: spreads cases over quotas."""
    from gdcluster.states.regions import load_regions

    table = load_regions()
    return [(city.name, city.units[0].name) for city in table.cities.values()]


def application() -> dict[str, Any]:
    """The complete, passing application of the test suite, in its stored (JSON) form."""
    from gdcluster.engine.application import load_application_file, to_json, validate_application

    path = DATA / "application-complete.json"
    return to_json(validate_application(load_application_file(path.read_bytes(), path.name)))


class Seeder:
    """Bulk inserts with SQLAlchemy Core that keep the audit chain valid.

    Use as a context manager: it reads the chain head on entry and writes it back on exit, all
    in one transaction.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.connection: Any = None
        self.seq = 0
        self.hash = ""
        self._audit: list[dict[str, Any]] = []

    def __enter__(self) -> Seeder:
        from sqlalchemy import select

        from gdcluster.engine.models import AuditHead

        self._context = self.engine.store._writer.begin()
        self.connection = self._context.__enter__()
        head = self.connection.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
        ).one()
        self.seq, self.hash = head.seq, head.hash
        return self

    def __exit__(self, *exc: Any) -> None:
        from sqlalchemy import update

        from gdcluster.engine.models import AuditHead

        try:
            if exc[0] is None:
                self.flush()
                self.connection.execute(
                    update(AuditHead).where(AuditHead.id == 1).values(seq=self.seq,
                                                                      hash=self.hash))
        finally:
            self._context.__exit__(*exc)

    def audit(self, *, case_id: int | None, trigger: str, from_state: str | None,
              to_state: str | None, actor: str, at: datetime, round_year: int = YEAR,
              payload: dict[str, Any] | None = None, article: str = "bench seed") -> None:
        from types import SimpleNamespace

        from gdcluster.engine.audit import canonical_json, row_hash

        row = {
            "seq": self.seq + 1, "case_id": case_id, "round_year": round_year, "actor": actor,
            "trigger": trigger, "from_state": from_state, "to_state": to_state, "reason": None,
            "payload": canonical_json(payload or {}), "article": article,
            "at": at.astimezone(UTC), "prev_hash": self.hash,
        }
        row["hash"] = row_hash(SimpleNamespace(**row))  # type: ignore[arg-type]
        self.seq, self.hash = row["seq"], row["hash"]
        self._audit.append(row)
        if len(self._audit) >= 5000:
            self.flush()

    def flush(self) -> None:
        from gdcluster.engine.models import AuditEntry

        if self._audit:
            self.connection.execute(AuditEntry.__table__.insert(), self._audit)
            self._audit = []

    def next_case_id(self) -> int:
        from sqlalchemy import func, select

        from gdcluster.engine.models import Case

        last = self.connection.execute(select(func.coalesce(func.max(Case.id), 0))).scalar()
        return int(last) + 1

    def cases(
        self, count: int, *, state: str, at: datetime, round_year: int = YEAR,
        score: str | None = None, extra: Callable[[int], dict[str, Any]] | None = None,
        chunk: int = 5000,
    ) -> list[int]:
        """``count`` cases in ``state``, spread over the 21 cities; one audit row each."""
        from gdcluster.engine.models import Case, Round

        round_row = self.connection.execute(
            Round.__table__.select().where(Round.__table__.c.year == round_year)
        ).one()
        spread = units()
        stored = application()
        first = self.next_case_id()
        ids = list(range(first, first + count))
        rows: list[dict[str, Any]] = []
        for index, case_id in enumerate(ids):
            city, unit = spread[index % len(spread)]
            row = {
                "id": case_id, "round_year": round_year, "name": f"基准测试产业集群{case_id}",
                "city": city, "county": unit, "industry": "基准", "state": state, "version": 1,
                "policy": round_row.policy, "policy_version": round_row.policy_version,
                "policy_digest": round_row.policy_digest, "application": stored,
                "score": score, "recommended_at": None, "publicity_start": None,
                "publicity_end": None, "valid_from": None, "valid_until": None,
                "created_at": at, "updated_at": at,
            }
            if extra is not None:
                row.update(extra(case_id))
            rows.append(row)
            self.audit(case_id=case_id, trigger="bench_seed", from_state=None, to_state=state,
                       actor=f"county:{unit}", at=at, round_year=round_year)
            if len(rows) >= chunk:
                self.connection.execute(Case.__table__.insert(), rows)
                rows = []
        if rows:
            self.connection.execute(Case.__table__.insert(), rows)
        self.flush()
        return ids

    def rows(self, table: Any, rows: list[dict[str, Any]], chunk: int = 10_000) -> None:
        for start in range(0, len(rows), chunk):
            self.connection.execute(table.insert(), rows[start:start + chunk])

    def recognized(
        self, count: int, *, valid_from: date, round_year: int = YEAR,
        done_before: datetime | None = None, limit_deadlines: int | None = None,
    ) -> tuple[list[int], int]:
        """``count`` recognized cases valid from ``valid_from``, each with the deadlines its
        recognition schedules (validity end, expiry reminder, annual reports and reminders —
        the rows ``deadlines.schedule_validity`` writes). Deadlines due before ``done_before``
        are stored as done (already handled), except the validity end. At most
        ``limit_deadlines`` deadline rows are written. Returns (ids, pending rows written).
        """
        from gdcluster.engine.models import Deadline

        until = validity_until(valid_from)
        published = valid_from - timedelta(days=15)
        at = utc(f"{valid_from.isoformat()}T09:00")
        ids = self.cases(count, state="recognized", at=at, round_year=round_year,
                         score="90.0000", extra=lambda _id: {
                             "recommended_at": at, "publicity_start": published,
                             "publicity_end": valid_from - timedelta(days=1),
                             "valid_from": valid_from, "valid_until": until})
        rows: list[dict[str, Any]] = []
        pending = written = 0
        for case_id in ids:
            for kind, key, due_at in validity_deadlines(case_id, valid_from, until):
                if limit_deadlines is not None and written >= limit_deadlines:
                    break
                written += 1
                done = (done_before is not None and due_at <= done_before
                        and kind != "validity_end")
                rows.append({"case_id": case_id, "round_year": None, "kind": kind, "key": key,
                             "due_at": due_at, "status": "done" if done else "pending",
                             "created_at": at, "fired_at": at if done else None,
                             "result": "bench seed" if done else None})
                pending += not done
            if len(rows) >= 20_000:
                self.rows(Deadline.__table__, rows)
                rows = []
        self.rows(Deadline.__table__, rows)
        return ids, pending


def validity_until(valid_from: date) -> date:
    from gdcluster.engine.deadlines import validity_until as until
    from gdcluster.states.policy import load_policy

    return until(valid_from, int(load_policy("guangdong-2023").periods.validity_years))


def validity_deadlines(case_id: int, valid_from: date, until: date) -> list[tuple[str, str, Any]]:
    """(kind, key, due_at) of the rows ``deadlines.schedule_validity`` writes for a case."""
    from gdcluster.engine import deadlines as d
    from gdcluster.engine.clock import end_of_day, start_of_day
    from gdcluster.states.policy import load_policy

    periods = load_policy("guangdong-2023").periods
    rows = [
        (d.VALIDITY_END, d.case_key(case_id, d.VALIDITY_END, until.isoformat()),
         end_of_day(until)),
        (d.EXPIRY_REMINDER, d.case_key(case_id, d.EXPIRY_REMINDER, until.isoformat()),
         start_of_day(until - timedelta(days=int(periods.expiry_reminder_days)))),
    ]
    for year in d.report_years(valid_from, until):
        due = d.report_due_day(year, periods.report_due, False, None)
        rows.append((d.REPORT_DUE, d.case_key(case_id, "report", year), end_of_day(due)))
        for offset in periods.report_reminder_days:
            rows.append((d.REPORT_REMINDER,
                         d.case_key(case_id, "report", year, f"reminder-{int(offset)}d"),
                         start_of_day(due - timedelta(days=int(offset)))))
    return rows


def utc(text: str) -> datetime:
    from gdcluster.engine.clock import parse_instant

    return parse_instant(text)


def day(text: str) -> date:
    return date.fromisoformat(text)


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a live process in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


__all__ = [
    "APPLY_BY", "DATA", "HERE", "OPEN_AT", "PROVINCE", "RECOMMEND_BY", "ROOT", "YEAR", "Figure",
    "Seeder", "application", "backends", "database", "day", "emit", "fake_clock", "init_engine",
    "machine", "median", "note", "open_round", "pg_base", "rss_kib", "scratch", "timed",
    "timedelta", "units", "utc",
]
