"""One engine per lab directory: an OS lock (flock) on engine.lock, holding the engine's pid.

The kernel drops an flock when its holder dies, however it dies, so a stale lock file after a
`kill -9` never blocks a restart. The file descriptor is not inherited by the runs (Python opens
files close-on-exec), so a run that outlives the engine does not keep the lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class EngineAlreadyRunning(RuntimeError):
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


class EngineLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, attempts: int = 10) -> None:
        """Take the lock or raise EngineAlreadyRunning naming the holder's pid.

        Clients probe the lock briefly (see `holder`), so a failed try is retried for a moment
        before we believe another engine holds it.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        for attempt in range(attempts):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = _read_pid(self.path)
                if pid and pid != os.getpid() and _alive(pid) or attempt == attempts - 1:
                    os.close(fd)
                    raise EngineAlreadyRunning(self.path, pid) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
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
    """The pid of the engine holding the lock, or None when no engine runs."""
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(path) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
