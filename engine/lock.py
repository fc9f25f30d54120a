"""One engine per lab directory: an OS lock (flock) on engine.lock, holding the engine's pid.

The kernel drops an flock when its holder dies, however it dies, so a stale lock file after a
`kill -9` never blocks a restart. The file descriptor is not inherited by the runs (Python opens
files close-on-exec), so a run that outlives the engine does not keep the lock.

The pid is readable the moment the lock is held: an engine takes the lock and writes its pid
(and, stopping, empties the file and lets go) while it holds a second, short exclusive lock, the
*guard* (an flock on the lab directory itself, so no extra file appears in the lab). A reader
(`holder`) takes the guard shared while it probes, so it sees either no engine or an engine with
its pid written, never the moment in between.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

GUARD_WAIT_S = 5.0  # the guard is held for microseconds; this only bounds a frozen holder


class EngineAlreadyRunningError(RuntimeError):
    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"an engine is already running for this lab ({who}, lock {path}); "
                         "stop it with `lab engine stop` or use it as it is")
        self.pid = pid


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _guard(path: Path, exclusive: bool) -> Iterator[None]:
    """The lab directory's flock around a change of (or a look at) the lock and its pid."""
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield  # no directory to lock (it is being removed): the lock file's own state answers
        return
    try:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + GUARD_WAIT_S
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break  # a holder frozen inside its few instructions: go on unguarded
                time.sleep(0.001)
        yield
    finally:
        os.close(fd)  # closing drops the guard


class EngineLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, attempts: int = 10) -> None:
        """Take the lock and write our pid (both under the guard), or raise EngineAlreadyRunningError
        naming the holder's pid. A failed try is retried for a moment before we believe another
        engine holds it (a process that probed the lock without the guard, e.g. an older client)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        for attempt in range(attempts):
            with _guard(self.path, exclusive=True):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pid = _read_pid(self.path)
                else:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                    self._fd = fd
                    return
            if (pid and pid != os.getpid() and _alive(pid)) or attempt == attempts - 1:
                os.close(fd)
                raise EngineAlreadyRunningError(self.path, pid)
            time.sleep(0.05)

    def release(self) -> None:
        if self._fd is not None:
            with _guard(self.path, exclusive=True):
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(path: Path) -> int | None:
    """The pid of the engine holding the lock, or None when no engine runs (never a placeholder:
    the guard makes the lock and its pid change together)."""
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        with _guard(path, exclusive=False):
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(path)
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                return None
        if pid is None:  # only a holder without the guard (an engine of an older version) gets here
            pid = _wait_for_pid(path)
        return pid
    finally:
        os.close(fd)


def _wait_for_pid(path: Path, wait_s: float = 2.0) -> int | None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(0.01)
        if (pid := _read_pid(path)) is not None:
            return pid
    return None
