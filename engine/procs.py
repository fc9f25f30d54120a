"""Facts about run processes: identity (pid + start time), resident memory, ending them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import psutil

START_TIME_TOLERANCE_S = 0.05


def start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_same_process(pid: int | None, started: float | None) -> bool:
    """True when `pid` is alive and is the very process that started at `started` (not a reuse)."""
    if not pid or started is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return bool(abs(proc.create_time() - started) < START_TIME_TOLERANCE_S)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants ([] when it is gone)."""
    try:
        root = psutil.Process(pid)
        pids = _descendants(pid)
        if pids is None:  # a kernel without /proc/<pid>/task/<tid>/children
            return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    tree = [root]
    for child in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            tree.append(psutil.Process(child))
    return tree


def _descendants(pid: int) -> list[int] | None:
    """The pids under `pid`, read from each of its threads' `children` file: the run's own few
    files, where psutil's `children()` reads the status of every process on the machine (the
    engine asks this of each run twice a second: ~40 % of an engine's CPU with two runs, py-spy).
    None when the kernel does not keep those files."""
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tids = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue  # ended meanwhile: its children, if any, went to another parent
        for tid in tids:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as fh:
                    found = [int(word) for word in fh.read().split()]
            except (FileNotFoundError, ProcessLookupError):
                if os.path.exists(f"/proc/{parent}/task/{tid}"):
                    return None  # the thread is there, its file is not: the kernel keeps none
                continue  # the thread ended meanwhile
            out.extend(found)
            todo.extend(found)
    return out


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and everything under it: the live ones' own time
    plus what each has reaped, so a child that already ended is counted once, by its parent."""
    total = 0.0
    for proc in _tree(pid):
        try:
            t = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def rss(pid: int) -> int | None:
    """Resident memory of one process, in bytes; None when it is gone or not ours to read."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        pass
    try:  # a run forked a moment ago may not lead its own group yet
        os.kill(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


async def kill_group(pgid: int, grace_s: float = 2.0) -> None:
    """SIGTERM the run's process group, then SIGKILL whatever is left after the grace time."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = asyncio.get_running_loop().time() + grace_s
    while asyncio.get_running_loop().time() < deadline:
        if not _group_alive(pgid):
            return
        await asyncio.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return False
