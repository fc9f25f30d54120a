"""The limits of a sandboxed program: those the kernel keeps (set by the limiter, which runs first
inside the sandbox: CPU time, address space, file size, processes) and those the sandbox keeps
while relaying its output (wall time, what it writes, files in its directory); why it was
stopped, in words. Stdlib only (agents/sandbox.py)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents.research_settings import SandboxSettings
from agents.sandbox_rundir import measure
from contract import units

POLL_S = 0.1                  # how often the run's directory is measured

# Runs first inside the sandbox (python -I -c): takes the run's user id (as root), sets the limits
# there (RLIMIT_NPROC counts in the sandbox's user namespace only once it exists), then becomes the
# program. argv: uid (-1: keep), cpu_s, mem_bytes (0: none), fsize_bytes, nproc, program argv...
LIMITER = r"""
import os, resource, sys
uid, cpu, mem, fsize, nproc = (int(a) for a in sys.argv[1:6])
if uid >= 0:
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
os.makedirs(os.environ["HOME"], exist_ok=True)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
if mem:
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
os.execv(sys.executable, [sys.executable, "-I", *sys.argv[6:]])
"""


@dataclass
class Meter:
    """What the program has written so far, against its limit."""

    limit: int
    files_limit: int
    relayed: int = 0
    baseline: int = 0
    files_at_start: int = 0

    def over(self, run_dir: Path) -> str | None:
        used, files = measure(run_dir)
        if files - self.files_at_start > self.files_limit:
            return f"it created more than {self.files_limit} files in its run directory"
        if self.relayed + used - self.baseline > self.limit:
            return f"it wrote more than {units.size(self.limit)} (stdout, stderr and its run directory together)"
        return None


class StoppedError(Exception):
    """The program was stopped by the sandbox; the message says why."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.code = code


def supervise(process: subprocess.Popen[bytes], limits: SandboxSettings, run_dir: Path,
              kill: Callable[[], None]) -> int:
    """Relay the program's output, measure what it writes, end it at its limits; its exit code."""
    meter = Meter(limit=limits.output_mb * 2**20, files_limit=limits.files)
    meter.baseline, meter.files_at_start = measure(run_dir)
    sel = selectors.DefaultSelector()
    assert process.stdout is not None and process.stderr is not None
    for pipe, fd in ((process.stdout, 1), (process.stderr, 2)):
        os.set_blocking(pipe.fileno(), False)
        sel.register(pipe, selectors.EVENT_READ, fd)
    deadline = time.monotonic() + limits.timeout_s
    next_measure = 0.0
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                raise StoppedError(f"the program ran past its wall timeout of {limits.timeout_s:g} s", 124)
            for key, _ in sel.select(timeout=min(POLL_S, max(0.0, deadline - now))):
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                meter.relayed += len(chunk)
                if meter.relayed > meter.limit:
                    raise StoppedError(f"it wrote more than {units.size(meter.limit)} (stdout, stderr and its run directory "
                               "together)", 125)
                write_all(key.data, chunk)
            if time.monotonic() >= next_measure:
                next_measure = time.monotonic() + POLL_S
                why = meter.over(run_dir)
                if why:
                    raise StoppedError(why, 125)
        remaining = deadline - time.monotonic()
        try:
            return process.wait(timeout=max(0.0, remaining))
        except subprocess.TimeoutExpired:
            raise StoppedError(f"the program ran past its wall timeout of {limits.timeout_s:g} s", 124) from None
    except StoppedError:
        kill()
        process.wait()
        raise
    finally:
        sel.close()


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:  # our own output is gone (a full disk): the program's output is dropped
            return


def signal_reason(code: int, limits: SandboxSettings) -> str | None:
    """Why a program that died of a signal died, in words (None: it exited). bwrap reports a
    program killed by signal n as exit code 128 + n; a process of our own, as -n."""
    number = -code if code < 0 else code - 128 if 128 < code < 128 + signal.NSIG else 0
    if not number:
        return None
    try:
        sig = signal.Signals(number)
    except ValueError:
        return f"the program was killed by signal {number}"
    why = {signal.SIGXCPU: f": its CPU-time limit of {limits.cpu_s} s",
           signal.SIGXFSZ: f": a file grew past its output limit of {units.size(limits.output_mb * 2**20)}",
           signal.SIGKILL: ": the CPU-time hard limit, or out of memory"}.get(sig, "")
    return f"the program was killed by {sig.name}{why}"
