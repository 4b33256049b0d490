"""P7 — timer acts with their notices: a 1,000-deadline sweep, against today's code.

N cases (default 1,000) are taken through today's lifecycle by the public API only —
``create_case``, ``fire`` (submit, review, recommend, three expert scores, expert review),
``publicize_round`` — and recognized by the scheduler's own ``run_due`` at the end of
publicity. Their recognitions schedule the deadlines that follow (annual-report reminders, the
report itself, expiry reminder, validity end). The sweeps then fire them group by group in due
order, with notices attached (settings: the default formats, txt, HTML and .docx, written to an
outbox in a scratch folder): every group of N deadlines due at one instant is one sweep of N
timer acts, each issuing its notice, up to and including the first group that revokes (18.3:
the annual report was not filed).

Per sweep: wall and CPU (``time.process_time``) per timer act, write transactions per act
(commits of transactions that wrote, counted by SQLAlchemy event listeners on the engine's
SQLAlchemy engine), statements per act, the outcomes and the notice files written.

"Faster than today" is measured against another checkout of the code in the same run
(``--baseline-src PATH``), or against the recorded figures of one (``baseline-*.json`` beside
this file, ``--record`` writes one). The measurement itself runs in a worker process in both
cases, the two workers taking turns sweep by sweep; the baseline worker imports gdcluster from
PATH (its own ``.venv/bin/python`` if it has one, else this interpreter with PATH first on
``PYTHONPATH``). A checkout of today's main, for example:

    git -C /work/main archive main | (mkdir -p /tmp/gd-base && tar -x -C /tmp/gd-base)
    python tests/bench/p7_timer_acts.py --baseline-src /tmp/gd-base
    # or with a venv of its own:
    python -m venv /tmp/gd-base/.venv && /tmp/gd-base/.venv/bin/pip install -e /tmp/gd-base

Targets (issue 16): each sweep ≥ 3 × faster than today's code; ≤ 3 write transactions per
timer act. If the lifecycle changes, :func:`seed_recognized` is the one place to adapt.

    python tests/bench/p7_timer_acts.py [--cases 1000] [--baseline-src PATH] [--record FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HERE,
    OPEN_AT,
    PROVINCE,
    ROOT,
    YEAR,
    Figure,
    counting,
    create_cases_api,
    emit,
    fake_clock,
    init_engine,
    machine,
    measured,
    note,
    notice_settings,
    open_round,
    quick_args,
    scratch,
)

PUBLICIZE_AT = "2024-09-27T10:00"
PUBLICITY_START = "2024-09-27"
#: After the publicity period (5 working days from 27 September, past the National Day week).
AFTER_PUBLICITY = "2024-10-12T09:00"
#: The 名单通告 that recognizes the seeded cases.
RECOGNITION_DOC_NO = "粤工信服务函〔2024〕95号"
#: Sweeps stop after the first group that revokes, or after this many groups.
MAX_GROUPS = 6
BASELINE_GLOB = "baseline-*.json"


# ---------------------------------------------------------------------------- the worker
def seed_recognized(engine: Any, clock: Any, cases: int) -> None:
    """``cases`` recognized clusters, through today's lifecycle: the public API, and the
    scheduler's ``run_due`` for the recognition. The one function to adapt when the
    lifecycle changes."""
    from gdcluster.states.policy import load_policy

    clock.set(OPEN_AT)
    open_round(engine)
    made = create_cases_api(engine, cases)
    rubric = load_policy("guangdong-2023").rubric
    for case_id, city, unit in made:
        engine.fire(case_id, "submit", f"county:{unit}")
        engine.fire(case_id, "review", f"city:{city}")
        engine.fire(case_id, "recommend", f"city:{city}")
        for expert in range(int(rubric.min_experts)):
            engine.fire(case_id, "score", PROVINCE, expert=f"专家{expert + 1}",
                        scores={item.id: max(item.weight - expert - case_id % 7, 0)
                                for item in rubric.indicators})
        engine.fire(case_id, "expert_review", PROVINCE)
    clock.set(PUBLICIZE_AT)
    engine.publicize_round(YEAR, PROVINCE, top=cases, start=PUBLICITY_START)
    clock.set(AFTER_PUBLICITY)
    outcomes = Counter(item.outcome for item in engine.run_due(AFTER_PUBLICITY))
    if outcomes.get("recognized") == cases:  # code from before the 名单通告 recognized
        return
    if outcomes.get("publicity_closed") != cases:
        raise SystemExit(f"the sweep after publicity closed {dict(outcomes)}, "
                         f"not {cases} publicities")
    # recognition comes with the 名单通告 (round recognize), signed the day after publicity
    result = engine.recognize_round(YEAR, PROVINCE, doc_no=RECOGNITION_DOC_NO)
    if len(result.recognized) != cases:
        raise SystemExit(f"round recognize recognized {len(result.recognized)}, not {cases}")


def deadline_groups(url: str) -> list[tuple[str, str, int]]:
    """Pending deadlines by due instant and kind, in due order, read from the database."""
    from sqlalchemy import create_engine, text

    sa = create_engine(url)
    try:
        with sa.connect() as connection:
            rows = connection.execute(text(
                "SELECT due_at, kind, count(*) FROM gd_deadline WHERE status = 'pending' "
                "GROUP BY due_at, kind ORDER BY due_at, kind")).all()
    finally:
        sa.dispose()
    from gdcluster.engine.clock import as_utc

    def instant(value: Any) -> str:
        if isinstance(value, str):  # SQLite hands back text: naive UTC
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return as_utc(value).isoformat()  # type: ignore[no-any-return]

    return [(instant(due), kind, int(count)) for due, kind, count in rows]


class Worker:
    """One database and one engine, driven by JSON commands on stdin."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.clock = fake_clock(OPEN_AT)
        self.url = ""
        self.outbox: Path | None = None

    def seed(self, db: str, cases: int) -> dict[str, Any]:
        self.url = db
        self.engine = init_engine(db, self.clock)
        spent, _ = measured(lambda: seed_recognized(self.engine, self.clock, cases))
        return {"seconds": spent.wall, "groups": deadline_groups(db)}

    def sweep(self, at: str, outbox: str) -> dict[str, Any]:
        from gdcluster.notifications import attach

        if self.outbox is None:
            self.outbox = Path(outbox)
            attach(self.engine, notice_settings(self.outbox))  # the default formats
        before = sum(1 for path in self.outbox.rglob("*") if path.is_file())
        self.clock.set(at)
        with counting(self.engine) as counter:
            spent, handled = measured(lambda: self.engine.run_due(at))
        files = sum(1 for path in self.outbox.rglob("*") if path.is_file()) - before
        return {
            "wall": spent.wall, "cpu": spent.cpu, "handled": len(handled),
            "outcomes": dict(Counter(item.outcome for item in handled)),
            "kinds": dict(Counter(item.kind for item in handled)),
            "statements": None if counter is None else counter.statements,
            "write_transactions": None if counter is None else counter.write_transactions,
            "notice_files": files,
        }

    def verify(self) -> dict[str, Any]:
        report = self.engine.verify_audit()
        return {"ok": report.ok, "message": report.message()}


def worker_main() -> None:
    """Answer one JSON line on stdout (kept for the answers alone) per command on stdin."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed goes to stderr
    import gdcluster

    worker = Worker()
    answers.write(json.dumps({"gdcluster": str(Path(gdcluster.__file__).resolve().parent)})
                  + "\n")
    answers.flush()
    for line in sys.stdin:
        command = json.loads(line)
        operation = command.pop("op")
        if operation == "quit":
            break
        answer = getattr(worker, operation)(**command)
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    if worker.engine is not None:
        worker.engine.close()


# ---------------------------------------------------------------------------- the driver
class Remote:
    """A worker process: this checkout's code, or a baseline checkout's."""

    def __init__(self, name: str, source: Path | None, folder: Path) -> None:
        self.name = name
        env = dict(os.environ)
        python = sys.executable
        if source is not None:
            own = source / ".venv" / "bin" / "python"
            if own.exists():
                python = str(own)
            else:  # the package is the checkout's top folder, named gdcluster
                shim = folder / f"{name}-path"
                shim.mkdir()
                (shim / "gdcluster").symlink_to(source.resolve())
                env["PYTHONPATH"] = os.pathsep.join(
                    [str(shim), *filter(None, [env.get("PYTHONPATH")])])
        self.process = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=env, cwd=folder)
        self.code = self._read()["gdcluster"]
        if source is not None and not Path(self.code).samefile(source):
            raise SystemExit(f"the baseline worker imported gdcluster from {self.code}, "
                             f"not {source}")

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.name} worker ended (exit {self.process.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def ask(self, op: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.ask_quit()
            finally:
                self.process.wait(timeout=60)

    def ask_quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
        self.process.stdin.close()


def sweeps_to_run(groups: list[tuple[str, str, int]], cases: int) -> list[tuple[str, str]]:
    """(instant, kind) of the groups to sweep, in due order: every instant with ``cases``
    deadlines due, up to the first report deadline (it revokes), at most MAX_GROUPS."""
    chosen = []
    for at, kind, count in groups:
        if count < cases:
            continue
        chosen.append((at, kind))
        if kind == "report_due" or len(chosen) >= MAX_GROUPS:
            break
    return chosen


def per_act(result: dict[str, Any]) -> dict[str, Any]:
    acts = max(result["handled"], 1)
    return {
        "wall_ms": result["wall"] / acts * 1000, "cpu_ms": result["cpu"] / acts * 1000,
        "write_transactions": (None if result["write_transactions"] is None
                               else result["write_transactions"] / acts),
        "statements": (None if result["statements"] is None
                       else result["statements"] / acts),
        "sweep_s": result["wall"], "acts": result["handled"], "outcomes": result["outcomes"],
        "notice_files": result["notice_files"],
    }


def describe(figures: dict[str, Any]) -> str:
    writes = figures["write_transactions"]
    counts = ("" if writes is None else
              f", {writes:.1f} write transactions and {figures['statements']:.0f} statements "
              f"per act")
    return (f"{figures['acts']:,} timer acts in {figures['sweep_s']:.1f} s: "
            f"{figures['wall_ms']:.1f} ms wall, {figures['cpu_ms']:.1f} ms CPU per act{counts}")


def run(cases: int, baseline_src: Path | None) -> tuple[dict[str, dict[str, Any]],
                                                         dict[str, dict[str, Any]] | None]:
    """Seed and sweep in this checkout's worker (and the baseline's, taking turns)."""
    with scratch("p7") as folder:
        remotes = {"current": Remote("current", None, folder)}
        try:
            if baseline_src is not None:
                remotes["baseline"] = Remote("baseline", baseline_src, folder)
                note(f"baseline code: {remotes['baseline'].code}")
            groups = None
            for name, remote in remotes.items():
                seeded = remote.ask("seed", db=f"sqlite:///{folder / (name + '.db')}",
                                    cases=cases)
                note(f"{name}: {cases:,} cases recognized through the API and run_due in "
                     f"{seeded['seconds']:.0f} s")
                found = [tuple(group) for group in seeded["groups"]]
                if groups is not None and found != groups:
                    raise SystemExit("the baseline's recognitions scheduled other deadlines; "
                                     "the sweeps would not compare like with like")
                groups = found
            assert groups is not None
            plan = sweeps_to_run(groups, cases)  # type: ignore[arg-type]
            if not plan:
                raise SystemExit(f"no instant has {cases} deadlines due: {groups[:10]}")
            results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in remotes}
            for index, (at, kind) in enumerate(plan):
                order = list(remotes) if index % 2 == 0 else list(reversed(remotes))
                for name in order:
                    swept = remotes[name].ask("sweep", at=at,
                                              outbox=str(folder / f"{name}-outbox"))
                    label = f"{index + 1}. {kind} due {at}"
                    results[name][label] = per_act(swept)
                    note(f"{name} sweep {label}: {describe(results[name][label])}; outcomes "
                         f"{swept['outcomes']}; {swept['notice_files']} notice files")
            for name, remote in remotes.items():
                verified = remote.ask("verify")
                if not verified["ok"]:
                    raise SystemExit(f"{name}: audit verify fails: {verified['message']}")
        finally:
            for remote in remotes.values():
                remote.close()
    return results["current"], results.get("baseline")


def latest_recorded() -> tuple[Path, dict[str, Any]] | None:
    found = sorted(HERE.glob(BASELINE_GLOB))
    if not found:
        return None
    return found[-1], json.loads(found[-1].read_text(encoding="utf-8"))


def git_commit(source: Path) -> str | None:
    """The last commit that changed the code measured (not the benchmarks or the docs)."""
    try:
        return subprocess.run(
            ["git", "-C", str(source), "log", "-1", "--format=%H", "--", "engine", "states",
             "notifications", "templates", "cli.py", "__init__.py"],
            check=True, capture_output=True, text=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def short(label: str) -> str:
    """``2. report_reminder due 2025-03-23T16:00:00+00:00`` → ``report_reminder 2025-03-24``
    (the local day it falls on)."""
    from gdcluster.engine.clock import SHANGHAI

    _, kind, _, at = label.split(" ")
    return f"{kind} {dt.datetime.fromisoformat(at).astimezone(SHANGHAI).date()}"


def figures_for(current: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]] | None,
                reference: str) -> list[Figure]:
    figures = []
    for label, now in current.items():
        before = (baseline or {}).get(label)
        name = f"{now['acts']:,}-deadline sweep with notices: {short(label)}"
        if before is None:
            figures.append(Figure("P7", name, "sqlite", describe(now),
                                  f"{reference}: no such sweep", None, 3.0))
            continue
        figures.append(Figure("P7", name, "sqlite", describe(now),
                              f"{reference}: {describe(before)}",
                              before["wall_ms"] / now["wall_ms"], 3.0))
    writes = [now["write_transactions"] for now in current.values()
              if now["write_transactions"] is not None]
    if writes:
        worst = max(writes)
        figures.append(Figure(
            "P7", "write transactions per timer act (with notices)", "sqlite",
            ", ".join(f"{short(label)} {now['write_transactions']:.1f}"
                      for label, now in current.items()),
            "at most 3", worst, 3.0, "at_most"))
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--baseline-src", type=Path,
                        help="a checkout of the code to compare with, measured in this run")
    parser.add_argument("--record", type=Path,
                        help="write this run's figures (this checkout) as a recorded baseline")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    quick_args(parser)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main()
        return []
    if args.quick:
        args.cases = 40
    current, baseline = run(args.cases, args.baseline_src)
    if args.record:
        args.record.write_text(json.dumps({
            "what": f"tests/bench/p7_timer_acts.py --cases {args.cases}: per timer act, "
                    f"this checkout's code",
            "date": dt.date.today().isoformat(), "commit": git_commit(ROOT),
            "machine": machine(), "cases": args.cases, "sweeps": current,
        }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        note(f"recorded in {args.record}")
    if baseline is not None:
        reference = f"baseline checkout {args.baseline_src}, same run"
    else:
        recorded = latest_recorded()
        if recorded is not None and recorded[1]["cases"] == args.cases:
            baseline = recorded[1]["sweeps"]
            reference = (f"recorded baseline {recorded[0].name} (commit "
                         f"{str(recorded[1]['commit'])[:10]}, another run: its load differs)")
        else:
            reference = "no baseline for this size"
    figures = [emit(figure) for figure in figures_for(current, baseline, reference)]
    return figures


if __name__ == "__main__":
    main()
