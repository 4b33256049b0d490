"""Run every benchmark and print one Markdown table of the figures (issues 5 and 16).

Each script runs in its own process (several time or measure whole processes; a fresh
interpreter keeps the others from sharing caches) and appends its figures to a JSON-lines file
this script reads back. P6 is not timed: it is the test suite's ``tests/test_scaling.py``;
``tests/test_list_reads.py`` counts the application column's reads.

    python tests/bench/run_all.py [--only p1,p7] [--quick] [--markdown FILE]
        [--baseline-src PATH]   (P7: a checkout of the code to compare the sweep with)

With ``GDCLUSTER_TEST_PG`` set, P1 and P5 also run against that PostgreSQL server. ``--quick``
runs every script at small sizes: a check that they all run (a few minutes), not figures.
A script's verdicts are ``met``, ``MISSED``, ``not built yet`` (the engine path a figure needs
does not exist yet; what exists is measured and shown) or ``info``.
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

from _common import JSON_ENV, machine_text  # noqa: E402 - beside this file, found via sys.path

SCRIPTS = ("p1_acts", "p2_sweep", "p3_cli", "p4_memory", "p5_batch", "p7_timer_acts",
           "p8_reads", "p9_create")


def table(figures: list[dict[str, object]]) -> str:
    lines = ["| | figure | back-end | measured | reference | target | ratio | |",
             "|---|---|---|---|---|---|---:|---|"]
    for item in figures:
        ratio = "—" if item["ratio"] is None else f"{float(item['ratio']):.2f}"  # type: ignore[arg-type]
        status = str(item["status"])
        verdict = f"**{status.lower()}**" if status == "MISSED" else status
        lines.append(
            f"| {item['id']} | {item['name']} | {item['backend'] or '—'} | {item['measured']} "
            f"| {item['reference']} | {item['target']} | {ratio} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated script prefixes, e.g. p1,p7")
    parser.add_argument("--quick", action="store_true",
                        help="every script at small sizes: checks they run; not figures")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--baseline-src", type=Path,
                        help="P7: a checkout of the code to compare the sweep with")
    args = parser.parse_args(argv)
    chosen = [name for name in SCRIPTS
              if not args.only or name.split("_")[0] in args.only.split(",")]
    failed = []
    load_before = machine_text()
    with tempfile.TemporaryDirectory(prefix="gdcluster-bench-") as folder:
        results = Path(folder) / "figures.jsonl"
        env = {**os.environ, JSON_ENV: str(results)}
        started = time.perf_counter()
        for name in chosen:
            print(f"== {name}", flush=True)
            command = [sys.executable, str(HERE / f"{name}.py")]
            if args.quick:
                command.append("--quick")
            if name == "p7_timer_acts" and args.baseline_src:
                command += ["--baseline-src", str(args.baseline_src)]
            began = time.perf_counter()
            outcome = subprocess.run(command, env=env)
            print(f"   ({time.perf_counter() - began:.0f} s)", flush=True)
            if outcome.returncode:
                failed.append(name)
        figures = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()
                   ] if results.exists() else []
    total = time.perf_counter() - started
    mode = " (--quick: small sizes, the figures mean little)" if args.quick else ""
    text = (f"{table(figures)}\n\nMachine at the start: {load_before}; at the end: "
            f"{machine_text()}. Total {total:.0f} s{mode}.\n\n"
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
