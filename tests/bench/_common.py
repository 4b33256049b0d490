"""Shared by the benchmark scripts: figures, timing, databases, seeding, counting.

The scripts reach gdcluster only through its public surface, so that they keep measuring
while the engine's inside changes:

* ``gdcluster.engine.Engine`` (``init``/``open``, ``create_case``, ``fire``, ``run_due``,
  ``pending``, ``verify_audit``, ``list``/``list_cases``) and ``gdcluster.notifications.attach``;
* the ``gdcluster`` command, as a subprocess;
* the database itself, through connections of their own (bulk seeding, the references, the
  counts). The table definitions come from ``gdcluster.engine.models``; the audit hash from
  ``gdcluster.engine.audit.row_hash``, so that ``audit verify`` passes on a seeded database.

Where the scripts must look inside (to count the statements and commits an engine sends) they
go through :func:`sa_engine_of`, one place to adapt.

Each script prints one line per figure and, when ``GDCLUSTER_BENCH_JSON`` names a file (as
``run_all.py`` does), appends the figure there as a JSON line.
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
sys.path.insert(0, str(TESTS))
from pg_support import PG_ENV, schema_url  # noqa: E402

#: The contact a configured office has: on a real database a notice without it is refused.
CONTACT = {"department": "中小企业服务处", "address": "广州市越秀区东风中路305号",
           "postcode": "510031", "person": "张三", "phone": "020-83133333",
           "email": "zxqyc@gdei.gov.cn"}


def notice_settings(outbox: Path) -> Any:
    """Notice settings writing to ``outbox`` in the default formats, with ``CONTACT``."""
    from gdcluster.notifications import Contact, Settings

    return Settings(outbox=outbox, contact=Contact(**CONTACT))


def settings_file(folder: Path) -> Path:
    """The same settings as a file, for the ``gdcluster`` processes a benchmark starts."""
    path = folder / "gdcluster.toml"
    lines = [f'[notices]\noutbox = "{(folder / "outbox").as_posix()}"\n[notices.contact]']
    lines += [f'{key} = "{value}"' for key, value in CONTACT.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

JSON_ENV = "GDCLUSTER_BENCH_JSON"

PROVINCE = "province@王处长"
YEAR = 2024
#: Round 2024 as tests/support.py walks it (Asia/Shanghai wall time).
OPEN_AT = "2024-03-01T09:00"
APPLY_BY = "2024-05-31"
RECOMMEND_BY = "2024-06-30"

MET, MISSED, NOT_BUILT, INFO = "met", "MISSED", "not built yet", "info"


# ---------------------------------------------------------------------------- output
@dataclass
class Figure:
    """One figure of the table: what was measured, against what, and the verdict.

    ``ratio`` is compared with ``limit`` (``at_most`` or ``at_least``); a figure whose engine
    path does not exist yet has ``status`` ``not built yet`` and no ratio; ``info`` rows carry
    context without a target.
    """

    id: str
    name: str
    backend: str
    measured: str
    reference: str
    ratio: float | None
    limit: float | None
    direction: str = "at_least"
    status: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            if self.ratio is None or self.limit is None:
                self.status = INFO
            elif self.direction == "at_most":
                self.status = MET if self.ratio <= self.limit else MISSED
            else:
                self.status = MET if self.ratio >= self.limit else MISSED

    @property
    def met(self) -> bool:
        return self.status == MET

    @property
    def target(self) -> str:
        if self.limit is None:
            return "—"
        return f"{'≤' if self.direction == 'at_most' else '≥'} {self.limit:g}"

    def line(self) -> str:
        backend = f" [{self.backend}]" if self.backend else ""
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}"
        return (f"{self.id} {self.name}{backend}: {self.measured}; reference {self.reference}; "
                f"target {self.target}; ratio {ratio}: {self.status}")


def emit(figure: Figure) -> Figure:
    print(figure.line(), flush=True)
    target = os.environ.get(JSON_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as stream:
            stream.write(json.dumps({**asdict(figure), "target": figure.target},
                                    ensure_ascii=False) + "\n")
    return figure


def note(text: str) -> None:
    """Context on stderr (sizes, seeding time, counts): not a figure."""
    print(f"  · {text}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    import sqlite3

    return {
        "cores": os.cpu_count(), "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "sqlite": sqlite3.sqlite_version, "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def machine_text() -> str:
    info = machine()
    load = ", ".join(f"{x:.1f}" for x in info["load_average"])
    return (f"{info['cores']} cores, Python {info['python']}, {info['system']}, SQLite "
            f"{info['sqlite']}, load average {load}")


def quick_args(parser: Any) -> None:
    """``--quick``: small sizes, for a check that the script runs (its figures mean little)."""
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: checks the script runs; figures are not meaningful")


# ---------------------------------------------------------------------------- timing
@dataclass
class Spent:
    """Wall and CPU seconds (``time.process_time``: this process, all its threads)."""

    wall: float = 0.0
    cpu: float = 0.0

    def add(self, other: Spent) -> None:
        self.wall += other.wall
        self.cpu += other.cpu


def measured(function: Callable[[], Any]) -> tuple[Spent, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = function()
    return Spent(time.perf_counter() - wall, time.process_time() - cpu), result


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
def database(backend: str, folder: Path, name: str) -> Iterator[str]:
    """A URL of an empty database: a SQLite file in ``folder``, or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / (name + '.db')}"
    else:
        base = pg_base()
        assert base is not None, f"{PG_ENV} is not set"
        with schema_url(base, prefix="bench") as url:
            yield url


def backends() -> list[str]:
    """SQLite always; PostgreSQL too when ``GDCLUSTER_TEST_PG`` is set."""
    return ["sqlite", "postgresql"] if pg_base() else ["sqlite"]


def sqlite_path(url: str) -> str:
    assert url.startswith("sqlite:///"), url
    return url.removeprefix("sqlite:///")


def seeded_sqlite(folder: Path, name: str, seed: Callable[[str], Any]) -> tuple[str, float,
                                                                             float]:
    """A SQLite file ``name`` in ``folder`` filled by ``seed(url)``: (url, seconds, MiB)."""
    url = f"sqlite:///{folder / (name + '.db')}"
    seconds, _ = timed(lambda: seed(url))
    size = sum(path.stat().st_size for path in folder.glob(f"{name}.db*")) / 2**20
    return url, seconds, size


def fake_clock(at: str = OPEN_AT) -> Any:
    from gdcluster.engine.clock import FakeClock

    return FakeClock(at)


def init_engine(url: str, clock: Any = None) -> Any:
    """An initialized simulation engine (migrations run, as ``gdcluster init --simulation``)."""
    from gdcluster.engine import Engine

    return Engine.init(url, simulation=True, clock=clock or fake_clock())


def open_engine(url: str, clock: Any = None) -> Any:
    from gdcluster.engine import Engine

    return Engine.open(url, clock=clock or fake_clock())


def open_round(engine: Any, *, year: int = YEAR, quota_max: int = 100,
               windows: bool = True) -> None:
    """Round ``year`` with every city's quota 0..``quota_max``; without ``windows``, no
    application and recommendation deadlines."""
    engine.open_round(year, PROVINCE, apply_by=APPLY_BY if windows else None,
                      recommend_by=RECOMMEND_BY if windows else None,
                      quotas={"*": (0, quota_max)})


def list_cases(engine: Any, **filters: Any) -> Iterator[Any]:
    """``Engine.list_cases`` where it exists, else ``Engine.list``."""
    listing = getattr(engine, "list_cases", None) or engine.list
    return listing(**filters)  # type: ignore[no-any-return]


def sa_engine_of(engine: Any) -> Any:
    """The SQLAlchemy engine an Engine sends its statements through (for counting only), or
    None when it is no longer found there."""
    store = getattr(engine, "store", None)
    return getattr(store, "engine", None)


class SQLCounter:
    """Counts what a SQLAlchemy engine sends: statements, and write transactions (commits of
    transactions that executed at least one INSERT, UPDATE or DELETE)."""

    _WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, sa_engine: Any) -> None:
        self.sa_engine = sa_engine
        self.statements = 0
        self.write_transactions = 0
        self.commits = 0
        self._dirty: set[int] = set()

    def _execute(self, connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements += 1
        if statement.lstrip()[:7].upper().startswith(self._WRITES):
            self._dirty.add(id(connection.connection))

    def _commit(self, connection: Any) -> None:
        self.commits += 1
        key = id(connection.connection)
        if key in self._dirty:
            self._dirty.discard(key)
            self.write_transactions += 1

    def _rollback(self, connection: Any) -> None:
        self._dirty.discard(id(connection.connection))

    def __enter__(self) -> SQLCounter:
        from sqlalchemy import event

        event.listen(self.sa_engine, "before_cursor_execute", self._execute)
        event.listen(self.sa_engine, "commit", self._commit)
        event.listen(self.sa_engine, "rollback", self._rollback)
        return self

    def __exit__(self, *_exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.sa_engine, "before_cursor_execute", self._execute)
        event.remove(self.sa_engine, "commit", self._commit)
        event.remove(self.sa_engine, "rollback", self._rollback)


@contextlib.contextmanager
def counting(engine: Any) -> Iterator[SQLCounter | None]:
    """A :class:`SQLCounter` on the engine's statements, or None where it cannot be reached."""
    sa_engine = sa_engine_of(engine)
    if sa_engine is None:
        yield None
        return
    with SQLCounter(sa_engine) as counter:
        yield counter


# ---------------------------------------------------------------------------- seeding: API
def units() -> list[tuple[str, str]]:
    """One county-level unit per city, (city, unit), 21 in all: spreads cases over quotas."""
    from gdcluster.states.regions import load_regions

    table = load_regions()
    return [(city.name, city.units[0].name) for city in table.cities.values()]


def application_data() -> dict[str, Any]:
    """The complete, passing application of the test suite, as ``create_case`` takes it."""
    from gdcluster.engine.application import load_application_file

    path = DATA / "application-complete.json"
    return load_application_file(path.read_bytes(), path.name)


def stored_application() -> dict[str, Any]:
    """The same application in its stored (JSON) form, for bulk seeding."""
    from gdcluster.engine.application import to_json, validate_application

    return to_json(validate_application(application_data()))


def create_cases_api(engine: Any, count: int, *, start: int = 0,
                     year: int = YEAR) -> list[tuple[int, str, str]]:
    """``count`` drafted cases through ``Engine.create_case``, spread over the 21 cities;
    returns (id, city, unit) of each."""
    spread = units()
    data = application_data()
    made = []
    for index in range(start, start + count):
        city, unit = spread[index % len(spread)]
        case_id = engine.create_case(round_year=year, name=f"基准测试产业集群{index}",
                                     county=unit, industry="基准", data=data,
                                     actor=f"county:{unit}")
        made.append((case_id, city, unit))
    return made


# ---------------------------------------------------------------------------- seeding: bulk
def utc(text: str) -> datetime:
    from gdcluster.engine.clock import parse_instant

    return parse_instant(text)


class BulkSeeder:
    """Bulk inserts on a connection of its own, keeping the audit chain valid.

    Use as a context manager: one transaction; the chain head is read on entry and written
    back on exit. Rows are what the engine's own acts would leave (one audit row per case,
    hashed with ``gdcluster.engine.audit.row_hash``); only the table definitions of
    ``gdcluster.engine.models`` are relied on.
    """

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.url = url
        self.sa = create_engine(url)
        self.dialect = self.sa.dialect.name
        self.connection: Any = None
        self.seq = 0
        self.hash = ""
        self._audit: list[dict[str, Any]] = []

    def __enter__(self) -> BulkSeeder:
        from sqlalchemy import select

        from gdcluster.engine.models import AuditHead

        self._context = self.sa.begin()
        self.connection = self._context.__enter__()
        head = self.connection.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
        self.seq, self.hash = head.seq, head.hash
        return self

    def __exit__(self, *exc: Any) -> None:
        from sqlalchemy import update

        from gdcluster.engine.models import AuditHead

        try:
            if exc[0] is None:
                self.flush()
                self.connection.execute(update(AuditHead).where(AuditHead.id == 1)
                                        .values(seq=self.seq, hash=self.hash))
        finally:
            self._context.__exit__(*exc)
            self.sa.dispose()

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
        row["hash"] = row_hash(SimpleNamespace(**row))
        self.seq, self.hash = row["seq"], row["hash"]
        self._audit.append(row)
        if len(self._audit) >= 5000:
            self.flush()

    def flush(self) -> None:
        from gdcluster.engine.models import AuditEntry

        if self._audit:
            self.connection.execute(AuditEntry.__table__.insert(), self._audit)
            self._audit = []

    def _case_table(self) -> Any:
        """``gd_case`` to insert into. On SQLite the application goes in as text encoded once
        (as SQLAlchemy's JSON type would encode it), not once per row."""
        from gdcluster.engine.models import Case

        table = Case.__table__
        if self.dialect != "sqlite" or "application" not in table.c:
            return table, False
        from sqlalchemy import Column, MetaData, Table, Text

        plain = Table(table.name, MetaData(), *(
            Column(column.name, Text if column.name == "application" else column.type,
                   primary_key=column.primary_key) for column in table.columns))
        return plain, True

    def cases(
        self, count: int, *, state: str, at: datetime, round_year: int = YEAR,
        score: str | None = None, extra: Callable[[int], dict[str, Any]] | None = None,
        chunk: int = 5000,
    ) -> list[int]:
        """``count`` cases in ``state``, spread over the 21 cities; one audit row each."""
        from sqlalchemy import func, select

        from gdcluster.engine import models
        from gdcluster.engine.models import Case, Round

        round_row = self.connection.execute(
            Round.__table__.select().where(Round.__table__.c.year == round_year)).one()
        spread = units()
        table, as_text = self._case_table()
        stored: Any = stored_application()
        # the application in a table of its own (issue 16), or in the case row before it
        side = getattr(models, "Application", None)
        if side is not None:
            from gdcluster.engine.audit import canonical_json

            side_text, side_rows = canonical_json(stored), []
        elif as_text:
            stored = json.dumps(stored)
        first = int(self.connection.execute(select(func.coalesce(func.max(Case.id), 0)))
                    .scalar()) + 1
        ids = list(range(first, first + count))
        rows: list[dict[str, Any]] = []
        at = at.astimezone(UTC)
        for index, case_id in enumerate(ids):
            city, unit = spread[index % len(spread)]
            row = {
                "id": case_id, "round_year": round_year, "name": f"基准测试产业集群{case_id}",
                "city": city, "county": unit, "industry": "基准", "state": state, "version": 1,
                "policy": round_row.policy, "policy_version": round_row.policy_version,
                "policy_digest": round_row.policy_digest,
                **({} if side is not None else {"application": stored}), "score": score,
                "recommended_at": None, "publicity_start": None,
                "publicity_end": None, "valid_from": None, "valid_until": None,
                "created_at": at, "updated_at": at,
            }
            if extra is not None:
                row.update(extra(case_id))
            rows.append(row)
            if side is not None:
                side_rows.append({"case_id": case_id, "data": side_text})
            self.audit(case_id=case_id, trigger="bench_seed", from_state=None, to_state=state,
                       actor=f"county:{unit}", at=at, round_year=round_year)
            if len(rows) >= chunk:
                self._insert(table, rows, side, side_rows if side is not None else [])
                rows = []
        if rows:
            self._insert(table, rows, side, side_rows if side is not None else [])
        self.flush()
        if self.dialect == "postgresql":  # ids were given: move the sequence past them
            from sqlalchemy import text

            self.connection.execute(text(
                "SELECT setval(pg_get_serial_sequence('gd_case', 'id'), "
                "(SELECT max(id) FROM gd_case))"))
        return ids

    def _insert(self, table: Any, rows: list[dict[str, Any]], side: Any,
                side_rows: list[dict[str, Any]]) -> None:
        self.connection.execute(table.insert(), rows)
        if side is not None:
            self.connection.execute(side.__table__.insert(), side_rows)
            side_rows.clear()

    def rows(self, table: Any, rows: list[dict[str, Any]], chunk: int = 10_000) -> None:
        for start in range(0, len(rows), chunk):
            self.connection.execute(table.insert(), rows[start:start + chunk])

    def recognized(
        self, count: int, *, valid_from: date, round_year: int = YEAR,
        done_before: datetime | None = None, limit_deadlines: int | None = None,
        kinds: Callable[[int, list[tuple[str, str, Any]]], list[tuple[str, str, Any]]]
        | None = None,
    ) -> tuple[list[int], int]:
        """``count`` recognized cases valid from ``valid_from``, each with the deadlines its
        recognition schedules (validity end, expiry reminder, annual reports and reminders).
        Deadlines due before ``done_before`` are stored as done, except the validity end; at
        most ``limit_deadlines`` deadline rows are written; ``kinds(index, rows)`` may pick
        which of a case's rows to write. Returns (ids, pending rows written)."""
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
        for index, case_id in enumerate(ids):
            scheduled = validity_deadlines(case_id, valid_from, until)
            if kinds is not None:
                scheduled = kinds(index, scheduled)
            for kind, key, due_at in scheduled:
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


def analyze(url: str) -> None:
    """What a DBA runs after a bulk load: fresh planner statistics."""
    from sqlalchemy import create_engine

    sa = create_engine(url)
    try:
        with sa.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    finally:
        sa.dispose()


def validity_until(valid_from: date) -> date:
    from gdcluster.engine.deadlines import validity_until as until
    from gdcluster.states.policy import load_policy

    return until(valid_from, int(load_policy("guangdong-2023").periods.validity_years))


def validity_deadlines(case_id: int, valid_from: date, until: date) -> list[tuple[str, str, Any]]:
    """(kind, key, due_at) of the rows a recognition schedules for a case."""
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


def day(text: str) -> date:
    return date.fromisoformat(text)


# ---------------------------------------------------------------------------- processes
#: Python source: ``PEAK()`` is this process's peak resident set in KiB (``VmHWM``, which
#: starts afresh at exec, unlike ``ru_maxrss``).
PEAK_SOURCE = """
def PEAK():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")
"""


#: Runs the gdcluster command given after the report file's name, then writes to that file
#: its exit code, its peak RSS (KiB) and the modules it loaded.
CLI_DRIVER = PEAK_SOURCE + """
import json, sys
report, argv = sys.argv[1], sys.argv[2:]
from gdcluster.cli import main
try:
    main(argv)
    code = 0
except SystemExit as exit:
    code = exit.code
sys.stdout.flush()
with open(report, "w", encoding="utf-8") as stream:
    json.dump({"code": code, "peak_kib": PEAK(), "modules": sorted(sys.modules)}, stream)
"""


def peak_kib() -> int:
    scope: dict[str, Any] = {}
    exec(PEAK_SOURCE, scope)
    return int(scope["PEAK"]())


def bench_environment(**extra: str) -> dict[str, str]:
    """The environment of a measured subprocess: no GDCLUSTER_* of the caller's, a warm
    bytecode cache kept beside the benchmarks' scratch folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GDCLUSTER_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env

