"""Racing processes for tests/test_races.py (importable by the worker processes).

Workers run in processes forked from a forkserver that has gdcluster imported already, so
eight of them start in milliseconds, not seconds. Each opens its own engine (or runs the CLI's
``main``, exactly as the console script does), waits at a barrier until all are ready, then
races the others; it writes one JSON file of outcomes ``[case id or "-", exit code, message]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PRELOAD = ["gdcluster.cli", "gdcluster.engine.api", "gdcluster.engine.sweep",
           "gdcluster.notifications.service", "gdcluster.notifications.render",
           "sqlalchemy", "psycopg", "race_support"]


def context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def fire_cases(url: str, now: str, trigger: str, actor: str, payload: dict[str, Any],
               ids: Sequence[int], barrier: Any, out: str) -> None:
    """Fire ``trigger`` on each case through the ``Engine`` API; record each exit code."""
    from gdcluster.engine import Engine, EngineError
    from gdcluster.engine.clock import FixedClock, parse_instant

    engine = Engine.open(url, clock=FixedClock(parse_instant(now)))
    results: list[list[Any]] = []
    barrier.wait(120)
    for case_id in ids:
        try:
            engine.fire(case_id, trigger, actor, **payload)
            results.append([case_id, 0, ""])
        except EngineError as error:
            results.append([case_id, error.exit_code, error.message])
        except Exception as error:
            results.append([case_id, 1, f"{type(error).__name__}: {error}"])
    engine.close()
    Path(out).write_text(json.dumps(results, ensure_ascii=False), "utf-8")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``gdcluster ARGV`` in this process, as the console script runs it: exit code, output."""
    from gdcluster.cli import main

    # text streams over bytes, like a terminal's: the CLI writes JSON as UTF-8 bytes
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(argv)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None
                                                                   else 1)
    stdout.flush()
    stderr.flush()
    return (code, stdout.buffer.getvalue().decode("utf-8"),  # type: ignore[attr-defined]
            stderr.buffer.getvalue().decode("utf-8"))  # type: ignore[attr-defined]


def cli_cases(prefix: list[str], suffix: list[str], ids: Sequence[int], env: dict[str, str],
              barrier: Any, out: str) -> None:
    """``gdcluster PREFIX ID SUFFIX`` for each case id, one CLI run each."""
    os.environ.update(env)
    results: list[list[Any]] = []
    barrier.wait(120)
    for case_id in ids:
        code, _stdout, stderr = run_cli([*prefix, str(case_id), *suffix])
        results.append([case_id, code, stderr.strip()[:500]])
    Path(out).write_text(json.dumps(results, ensure_ascii=False), "utf-8")


def cli_once(argv: list[str], env: dict[str, str], barrier: Any, out: str) -> None:
    """One CLI run (a batch command); records its exit code and its JSON output."""
    os.environ.update(env)
    barrier.wait(120)
    code, stdout, stderr = run_cli(argv)
    Path(out).write_text(json.dumps([["-", code, stderr.strip()[:2000], stdout]],
                                    ensure_ascii=False), "utf-8")


def race(jobs: list[tuple[Callable[..., None], tuple[Any, ...]]], folder: Path,
         timeout: float = 240) -> list[list[list[Any]]]:
    """Start every job in its own process, release them together, return their outcomes."""
    ctx = context()
    barrier = ctx.Barrier(len(jobs))
    outs = [str(folder / f"worker-{index}.json") for index in range(len(jobs))]
    processes = [ctx.Process(target=function, args=(*args, barrier, out))
                 for (function, args), out in zip(jobs, outs, strict=True)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout)
        assert process.exitcode == 0, f"worker died: exit {process.exitcode}"
    return [json.loads(Path(out).read_text("utf-8")) for out in outs]
