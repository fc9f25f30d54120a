"""Whether a process a test killed is over. A killed process whose parent is gone becomes init's
zombie, and init here reaps its zombies only every ~2 s: waiting for its pid to vanish (psutil's
`wait_procs` on a process that is not ours) costs up to 2 s of nothing per engine a test kills. A
zombie holds nothing any more (its files, locks, memory and ports are released), so it counts as
ended."""

from __future__ import annotations

import time
from collections.abc import Iterable

import psutil


def ended(proc: psutil.Process) -> bool:
    """Gone, or a zombie its parent has not reaped yet."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def running(pid: int) -> bool:
    """The process `pid` exists and is not a zombie."""
    try:
        return not ended(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def wait_ended(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process in `procs` has ended; those still running after `timeout` s."""
    left = list(procs)
    deadline = time.monotonic() + timeout
    while True:
        left = [proc for proc in left if not ended(proc)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)
