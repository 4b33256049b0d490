"""Run every benchmark of issue 5 (P1–P5) and print the table of figures, in Markdown.

Each script runs in its own process (P3 and P4 time and measure whole processes; a fresh
interpreter keeps the others from sharing caches). P6 is not timed: it is the test suite's
``tests/test_scaling.py``.

    python tests/bench/run_all.py [--only p1,p3] [--markdown FILE]

With ``GDCLUSTER_TEST_PG`` set, P1 and P5 also run against that PostgreSQL server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import JSON_ENV, machine  # noqa: E402 - beside this file, found via sys.path

SCRIPTS = ("p1_transitions", "p2_sweep", "p3_startup", "p4_memory", "p5_batch")


def table(figures: list[dict[str, object]]) -> str:
    lines = ["| | figure | back-end | measured | target | ratio | |",
             "|---|---|---|---|---|---:|---|"]
    for item in figures:
        lines.append(
            f"| {item['id']} | {item['name']} | {item['backend'] or '—'} | {item['measured']} "
            f"| {item['target']} | {float(item['ratio']):.2f} "  # type: ignore[arg-type]
            f"| {'met' if item['met'] else '**missed**'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated script prefixes, e.g. p1,p3")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    chosen = [name for name in SCRIPTS
              if not args.only or name.split("_")[0] in args.only.split(",")]
    failed = []
    with tempfile.TemporaryDirectory(prefix="gdcluster-bench-") as folder:
        results = Path(folder) / "figures.jsonl"
        env = {**os.environ, JSON_ENV: str(results)}
        started = time.perf_counter()
        for name in chosen:
            print(f"== {name}", flush=True)
            began = time.perf_counter()
            outcome = subprocess.run([sys.executable, str(HERE / f"{name}.py")], env=env)
            print(f"   ({time.perf_counter() - began:.0f} s)", flush=True)
            if outcome.returncode:
                failed.append(name)
        figures = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()
                   ] if results.exists() else []
    total = time.perf_counter() - started
    text = (f"{table(figures)}\n\nMachine: {machine()}. Total {total:.0f} s.\n\n"
            f"Reproduce: `python tests/bench/run_all.py`\n")
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
