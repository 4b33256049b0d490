"""Running the installed ``gdcluster`` with its stderr on a real pseudo-terminal, or on a pipe,
as a user's shell or a script would (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def run_gdcluster(args: Sequence[str], cwd: Path, *, terminal: bool
                  ) -> tuple[int, bytes, bytes]:
    """Run ``gdcluster ARGS`` in ``cwd`` with stderr on a pseudo-terminal (``terminal``) or a
    pipe, stdout always a pipe; returns exit code, stdout and what reached stderr. The
    ``GDCLUSTER_*`` environment is cleared but for the notice settings and the language."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GDCLUSTER_")
           or key in ("GDCLUSTER_SETTINGS", "GDCLUSTER_LANG")}
    env["TERM"] = "xterm"
    program = str(Path(sys.executable).parent / "gdcluster")
    if not terminal:
        done = subprocess.run([program, *args], cwd=cwd, env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=120, check=False)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    process = subprocess.Popen([program, *args], cwd=cwd, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the program closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert process.stdout is not None
    stdout = process.stdout.read()
    process.stdout.close()
    return process.wait(timeout=120), stdout, seen
