"""A sandboxed run's directory: what the program wrote there (measured while it runs), its log
lines, and what it left (swept after it: links, special files, the wrapper's own files). Stdlib
only (agents/sandbox.py)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from contract.runfiles import EXIT_FILE, PID_FILE, STDERR, STDOUT

LEFT_BEHIND = (EXIT_FILE, f"{EXIT_FILE}.tmp", f"{PID_FILE}.tmp")  # the wrapper's files, never the program's


def entries(root: Path) -> Iterator[os.DirEntry[str]]:
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    yield entry
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
        except OSError:
            continue


def measure(run_dir: Path) -> tuple[int, int]:
    """Bytes on disk (sparse files count what they occupy) and entries under run_dir, not counting
    its stdout and stderr (what reaches those is counted as it passes through)."""
    used = files = 0
    skip = {str(run_dir / STDOUT), str(run_dir / STDERR)}
    for entry in entries(run_dir):
        files += 1
        if entry.path in skip:
            continue
        try:
            used += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:
            continue
    return used, files


def log_event(events_path: str, level: str, message: str) -> None:
    """Append a log line to the run's events (never through a link the program left)."""
    fd = os.open(events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    try:
        os.write(fd, (json.dumps({"type": "log", "level": level, "message": message, "t": time.time()}) + "\n").encode())
    finally:
        os.close(fd)


def sweep(run_dir: Path, owner: tuple[int, int] | None) -> list[str]:
    """After the run: remove what the program left that points out of its directory or is no plain
    file (links, fifos, sockets) and the wrapper's files it may have forged; give everything back
    to the lab's owner (as root). Returns what was removed, relative to the run directory."""
    removed = []
    for entry in list(entries(run_dir)):
        path = Path(entry.path)
        rel = str(path.relative_to(run_dir))
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                path.unlink()
                removed.append(rel)
                continue
            if rel in LEFT_BEHIND:
                shutil.rmtree(path) if stat.S_ISDIR(st.st_mode) else path.unlink()
                removed.append(rel)
                continue
            if owner is not None and (st.st_uid, st.st_gid) != owner:
                os.lchown(path, *owner)
            if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_IRWXU != stat.S_IRWXU:
                os.chmod(path, st.st_mode | stat.S_IRWXU)
        except OSError:
            continue
    if owner is not None:
        os.lchown(run_dir, *owner)
    return sorted(removed)
