"""Programs run as the engine runs its experiments by default: forked from a warm worker
(experiments/worker.py) that imported their libraries once, instead of a cold `python -m ...`
that imports them again for every call.

- the experiment programs (`worker`): torch, transformers and the harness, seconds a run;
- the `lab` command (`lab_worker`, tests/conftest.py's `LabHarness.lab`): the command modules
  and what they load (the catalog, the records, the analysis), ~0.3 CPU s of each of the
  suite's ~400 calls.

One worker of each per test process, started on first use and stopped at the end of the session
(tests/conftest.py). A forked program is exactly what a cold `python -m MODULE ARGS` would be
(its own session, its own environment, the same `runpy` entry, its exit handlers run); what it
prints goes to files that are read back, so callers get a `subprocess.CompletedProcess` as from
`subprocess.run`. The engine's tests still start their runs through the engine, cold and warm;
`cold=True` in tests/experiments/helpers.py keeps a cold start where a test is about one, and
the tests of what a command imports start a fresh interpreter of their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from contract.runfiles import EXIT_FILE, PID_FILE
from contract.warmworker import ForkRequest, Refused, encode, parse_answer, parse_ready
from tests.timing import scaled

READY_S = 240  # the worker imports torch, transformers and the whole harness


class WarmWorker:
    def __init__(self, env: Mapping[str, str], cwd: Path, module: str = "experiments",
                 preload: Sequence[str] | None = None) -> None:
        preloads = [] if preload is None else [f"--preload={name}" for name in preload]
        self.proc = subprocess.Popen([sys.executable, "-m", "experiments.worker", "--module", module, *preloads],
                                     cwd=cwd, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, start_new_session=True)
        self._lock = threading.Lock()
        self._next = 0
        #: what the runs print, outside their folders (nothing is added to a run's outputs)
        self.outputs = Path(tempfile.mkdtemp(prefix="jl-warm-"))
        assert self.proc.stdout is not None
        timer = threading.Timer(scaled(READY_S), self.proc.kill)
        timer.start()
        try:
            ready = parse_ready(self.proc.stdout.readline())
        finally:
            timer.cancel()
        if ready is None:
            raise RuntimeError(f"the warm worker exited before it was ready (code {self.proc.wait()})")
        if ready.failed:
            raise RuntimeError(f"the warm worker could not import {ready.failed}")

    def run(self, argv: Sequence[str], cwd: Path | None, env: Mapping[str, str], timeout: float
            ) -> subprocess.CompletedProcess[str]:
        """`python -m ARGV` forked in `cwd` (None: an empty folder of its own, kept until the worker
        closes, as a process the program started may still work in it) with `env`; waits for it
        like `subprocess.run`."""
        out_dir = Path(tempfile.mkdtemp(dir=self.outputs))
        cwd = cwd or Path(tempfile.mkdtemp(dir=self.outputs, prefix="cwd-"))
        stdout, stderr = out_dir / "stdout", out_dir / "stderr"
        exit_file, pid_file = Path(cwd) / EXIT_FILE, Path(cwd) / PID_FILE
        for path in (exit_file, pid_file):  # a previous run's in the same folder
            path.unlink(missing_ok=True)
        with self._lock:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self._next += 1
            self.proc.stdin.write(encode(ForkRequest(id=self._next, argv=list(argv), cwd=str(cwd), env=dict(env),
                                                     stdout=str(stdout), stderr=str(stderr))))
            self.proc.stdin.flush()
            answer = parse_answer(self.proc.stdout.readline())
        if isinstance(answer, Refused):
            raise RuntimeError(f"the warm worker refused to fork: {answer.error}")
        deadline = time.monotonic() + timeout
        code = None
        while code is None:
            if exit_file.exists() and exit_file.read_text().strip():
                code = int(exit_file.read_text())
            elif not _alive(answer.pid, answer.start_time):
                # ended without its exit code: killed by a signal (the worker reaped it)
                code = int(exit_file.read_text()) if exit_file.exists() and exit_file.read_text().strip() \
                    else -signal.SIGKILL
            elif time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(answer.pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(list(argv), timeout, _read(stdout), _read(stderr))
            else:
                time.sleep(0.02)
        done = subprocess.CompletedProcess(list(argv), code, _read(stdout), _read(stderr))
        # a cold `python -m` leaves neither: the worker's bookkeeping, not the program's
        for path in (exit_file, pid_file, stdout, stderr):
            path.unlink(missing_ok=True)
        out_dir.rmdir()
        return done

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # the worker leaves when its stdin closes
        try:
            self.proc.wait(scaled(10))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.outputs, ignore_errors=True)


def _alive(pid: int, start_time: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and (start_time is None or proc.create_time() == start_time)
    except psutil.NoSuchProcess:
        return False


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


#: what the `lab` worker imports before it forks: every command's module and the modules the
#: commands import inside their functions (tests/cli/test_commands.py keeps a cold command
#: importing only its own)
LAB_PRELOAD = ("cli.main", "cli.commands.*", "science.*", "records.provenance", "records.genealogy",
               "records.reproduce", "records.results_payload", "records.roadmap_report", "records.reports.*",
               "records.publish.*", "agents.sprint", "agents.research_settings", "agents.llm.client",
               "engine.config", "engine.control")

#: by program and start-up settings: a fork keeps its worker's (`sys.path` from its PYTHONPATH,
#: and the other PYTHON* variables Python reads only as it starts)
_workers: dict[tuple[str, ...], WarmWorker] = {}
_starting = threading.Lock()


def worker(env: Mapping[str, str], cwd: Path) -> WarmWorker:
    """This test process's worker for the experiment programs (started with `env` on first use)."""
    return _get(("experiments",), env, cwd, None)


def lab_worker(env: Mapping[str, str]) -> WarmWorker | None:
    """This test process's worker for the `lab` command started as `env` says (one per distinct
    PYTHON* settings: a test that puts a stand-in library first on the path gets its own); None
    when JOULELAB_TEST_COLD_LAB asks for every command cold (a comparison)."""
    if os.environ.get("JOULELAB_TEST_COLD_LAB"):
        return None
    startup = sorted(f"{k}={v}" for k, v in env.items() if k.startswith("PYTHON"))
    return _get(("cli", *startup), env, Path(__file__).resolve().parent.parent, LAB_PRELOAD)


def _get(key: tuple[str, ...], env: Mapping[str, str], cwd: Path, preload: Sequence[str] | None) -> WarmWorker:
    with _starting:
        found = _workers.get(key)
        if found is None or found.proc.poll() is not None:
            found = _workers[key] = WarmWorker(env, cwd, key[0], preload)
        return found


def close() -> None:
    with _starting:
        while _workers:
            _workers.popitem()[1].close()
