"""Starting a run as a detached process that outlives the engine, and reading what it left behind.

A tiny `sh` wrapper leads the run's own session and process group. It records its pid before
starting the program and the program's exit code after, in files of the run directory, so an
engine that was down while the run ended still learns how it ended.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contract.runfiles import EVENTS, EXIT_FILE, PID_FILE, SPEC, STDERR, STDOUT
from contract.runspec import RunSpec
from engine import procs

WRAPPER = 'echo $$ > pid.tmp && mv pid.tmp pid; "$@"; code=$?; echo $code > exit_code.tmp; mv exit_code.tmp exit_code; exit $code'


@dataclass
class Spawned:
    pid: int
    start_time: float
    process: subprocess.Popen[bytes]


def archive_previous_attempt(run_dir: Path, attempt: int) -> None:
    """Move the files of the attempt before `attempt` aside, into attempt-<n>/."""
    leftovers = [p for p in run_dir.iterdir() if not p.name.startswith("attempt-")] if run_dir.exists() else []
    if not leftovers:
        return
    archive = run_dir / f"attempt-{attempt - 1}"
    archive.mkdir(exist_ok=True)
    for path in leftovers:
        shutil.move(str(path), archive / path.name)


def write_spec(run_dir: Path, spec: RunSpec) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / SPEC
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(spec.to_json(), indent=2, sort_keys=True))
    tmp.replace(path)
    (run_dir / EVENTS).touch()
    return path


def spawn(run_dir: Path, module: str, name: str, env: dict[str, str],
          python: str = sys.executable) -> Spawned:
    """Start `python -m <module> <name> --spec spec.json` in its own session."""
    with open(run_dir / STDOUT, "ab") as out, open(run_dir / STDERR, "ab") as err:
        process = subprocess.Popen(
            ["sh", "-c", WRAPPER, "joulelab-run", python, "-m", module, name, "--spec", SPEC],
            cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, close_fds=True,
        )
    started = procs.start_time(process.pid)
    return Spawned(process.pid, started if started is not None else 0.0, process)


def recorded_pid(run_dir: Path) -> int | None:
    try:
        return int((run_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def recorded_exit_code(run_dir: Path) -> int | None:
    try:
        return int((run_dir / EXIT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def stderr_tail(run_dir: Path, lines: int = 20, max_bytes: int = 64 * 1024) -> str:
    return tail(run_dir / STDERR, lines, max_bytes)


def tail(path: Path, lines: int = 20, max_bytes: int = 64 * 1024) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def last_error_line(run_dir: Path) -> str:
    """The most telling line of stderr: the last non-empty one (a Python error's message)."""
    for line in reversed(stderr_tail(run_dir, 50).splitlines()):
        if line.strip():
            return line.strip()[:500]
    return ""
