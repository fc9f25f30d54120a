"""Whether a process a test killed is over. A killed process whose parent is gone becomes init's
zombie, and init here reaps its zombies only every ~2 s: waiting for its pid to vanish (psutil's
`wait_procs` on a process that is not ours) costs up to 2 s of nothing per engine a test kills. A
zombie holds nothing any more once every thread of it has exited (its files, locks, memory and
ports are released then), so it counts as ended. Its main thread turns zombie first: the others
may still be exiting, holding the process's files (an engine's lock) a moment longer."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import psutil


def ended(proc: psutil.Process) -> bool:
    """Gone, or a zombie, every thread of it, that its parent has not reaped yet."""
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    return all(_thread_state(proc.pid, tid) in ("Z", "X", None) for tid in _threads(proc.pid))


def _threads(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:  # reaped meanwhile
        return []


def _thread_state(pid: int, tid: str) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:  # the thread is gone
        return None
    return stat[stat.rfind(")") + 2:].split(" ", 1)[0]


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
