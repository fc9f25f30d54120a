"""mypy over the checked rooms (pyproject.toml's [tool.mypy]), started when the test session
starts, beside the tests, instead of inside its test.

mypy is one process of ~1 CPU-minute that nothing in the suite can split without reading torch's
and transformers' types again in each part. Inside its test it held a test process for its whole
run; started with the session it is a third process, niced a little, that takes a core whenever
one of the two test processes waits (an engine, a language-model timeout, a subprocess starting),
and its test, run last (tests/conftest.py), only reads what it printed. The check is the same command on the same
tree, its exit status and output read back from files.

The first test process of the run to start creates the run's folder (the parent of the
processes' own temporary folders under pytest-xdist) and starts mypy; the others find it there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.timing import scaled

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/test_lint.py::test_mypy_is_strict_on_the_checked_rooms"

#: a little below the tests' priority: it takes a core when a test process waits and yields it to
#: them when both compute (here and beside a CPU hog, its share still ends it well before the suite)
NICE = 5
# the exit status is written last, by renaming, so a reader never sees half of it
_SCRIPT = (f'nice -n {NICE} "$1" --cache-dir "$2/cache" > "$2/out" 2>&1; '
           'echo $? > "$2/status.part"; mv "$2/status.part" "$2/status"')


@dataclass(frozen=True)
class Checked:
    returncode: int
    stdout: str


def wanted(items: list[pytest.Item]) -> bool:
    return any(item.nodeid == TEST for item in items)


def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's mypy folder: one for all its test processes (pytest-xdist gives each a folder
    inside the run's), a fresh one for each run."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "mypy"


def start(where: Path) -> subprocess.Popen[bytes] | None:
    """Start mypy in `where` unless another test process of this run already did."""
    try:
        where.mkdir()
    except FileExistsError:
        return None
    mypy = str(Path(sys.executable).with_name("mypy"))
    return subprocess.Popen(["sh", "-c", _SCRIPT, "sh", mypy, str(where)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen[bytes] | None, interrupted: bool) -> None:
    """At the session's end: a mypy still running is stopped only when the session was
    interrupted (a test process still running the mypy test reads it otherwise)."""
    if proc is None or proc.poll() is not None:
        return
    if interrupted:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def result(where: Path, timeout: float) -> Checked:
    """What mypy printed and its exit status, once it ended (`timeout` scaled)."""
    if not where.is_dir():
        raise AssertionError(f"mypy was not started for this session ({where} is missing)")
    deadline = time.monotonic() + scaled(timeout)
    status = where / "status"
    while not status.exists():
        assert time.monotonic() < deadline, f"mypy did not end within {scaled(timeout):g} s"
        time.sleep(0.2)
    return Checked(int(status.read_text()), (where / "out").read_text())
