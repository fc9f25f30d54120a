"""A full disk: how much the lab's filesystem has free, whether an error means it is full, and
the engine's notice of what waits for space.

The engine writes its notice into `disk.notice` in the lab directory, a file it fills to its full
size when it starts: rewriting it in place needs no new space, so the notice can be written when
the disk is full and nothing else can (not the database, not engine.log). `lab status` and the
control room read it; an empty notice means nothing waits.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from contract.units import duration, size

NOTICE_BYTES = 16384
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
FULL_WORDS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the filesystem holding `path` (None: unknown)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def says_full(text: str) -> bool:
    """Whether a message (a subprocess's stderr, git's) says the disk is full."""
    return any(w in text.lower() for w in FULL_WORDS)


def is_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or the user's quota) is full: an OSError's errno, SQLite's
    SQLITE_FULL, or a subprocess's message (git) that says so."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # the error and what it was raised from
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in FULL_ERRNOS:
            return True
        if isinstance(current, (OSError, sqlite3.Error, RuntimeError)) and says_full(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


def size_of(path: Path) -> int:
    """Bytes a file or a folder's files occupy (what copying it would need)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


@dataclass(frozen=True)
class Wait:
    """One piece of work waiting for space: what it is, and about how much it needs."""

    what: str            # "the ingest of run 3", "the commit of experiment 2", "new runs"
    needs: int           # bytes, an estimate


@dataclass(frozen=True)
class DiskNotice:
    """What the engine says while the disk is full."""

    lab: str
    free: int | None
    since: float
    waits: tuple[Wait, ...] = field(default_factory=tuple)

    def line(self) -> str:
        """One line: which disk, how much is free, what waits and about how much it needs."""
        waiting = "; ".join(f"{w.what} needs about {size(w.needs)}" for w in self.waits) or "nothing waits"
        free = size(self.free, missing="an unknown amount")
        return (f"the disk holding {self.lab} is full ({free} free): {waiting}; nothing recorded is lost, "
                "and the lab goes on by itself once space is freed")


class NoticeFile:
    """The pre-allocated file the engine's notice is written to (rewritten in place)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def prepare(self) -> bool:
        """Give the file its full size now, while there is space; False when it cannot be made."""
        try:
            if self.path.exists() and self.path.stat().st_size == NOTICE_BYTES:
                return True
            with open(self.path, "wb") as fh:
                fh.write(b" " * NOTICE_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
            return True
        except OSError:
            return False

    def write(self, notice: DiskNotice | None) -> bool:
        """Rewrite the notice in place (None: nothing waits); False when it could not be written."""
        body = b"" if notice is None else json.dumps(asdict(notice)).encode()
        if len(body) > NOTICE_BYTES:
            return False
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            os.pwrite(fd, body.ljust(NOTICE_BYTES), 0)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def read(self) -> DiskNotice | None:
        try:
            raw = self.path.read_bytes().strip()
            if not raw:
                return None
            data = json.loads(raw)
            return DiskNotice(str(data["lab"]), data.get("free"), float(data["since"]),
                              tuple(Wait(str(w["what"]), int(w["needs"])) for w in data.get("waits", [])))
        except (OSError, ValueError, KeyError, TypeError):
            return None


class DiskWatch:
    """What waits for space on the lab's disk, kept up to date in the notice file and the log.

    Work that writes wraps itself in `needs(what, bytes)`: a disk-full error there is recorded as a
    wait (and raised on: the work's own retry keeps everything it had); its next success ends the
    wait. `room_for_runs()` says whether the reserve (`[engine] min_free_mb`) is free for a new
    run to start. `poll()` says whether space came back while something waited."""

    MAX_SHOWN = 20

    def __init__(self, lab_root: Path, notice: Path, reserve_bytes: int,
                 say: Callable[[str], None] = lambda line: None, clock: Callable[[], float] = time.time) -> None:
        self.lab_root = Path(lab_root)
        self.file = NoticeFile(notice)
        self.reserve = reserve_bytes
        self.say = say           # where the notice's line goes besides the file (the engine's log)
        self.clock = clock
        self.waits: dict[str, Wait] = {}
        self.since: float | None = None
        self.ended: list[str] = []   # what waited during the last full spell (for a record once it is over)

    def start(self) -> None:
        if self.file.prepare():
            self.file.write(None)

    @contextlib.contextmanager
    def needs(self, what: str, nbytes: int) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            if is_full(exc):
                self.full(what, nbytes)
            raise
        self.done(what)

    def full(self, what: str, nbytes: int) -> None:
        known = self.waits.get(what)
        self.waits[what] = Wait(what, max(nbytes, known.needs if known else 0))
        if self.since is None:
            self.since = self.clock()
        if known is None:
            self._publish()

    def done(self, what: str) -> None:
        if self.waits.pop(what, None) is None:
            return
        self.ended.append(what)
        if self.waits:
            self._publish()
            return
        began, self.since = self.since, None
        self.file.write(None)
        self.say(f"disk space is back on the filesystem of {self.lab_root} ({size(free_bytes(self.lab_root))} free): "
                 f"{', '.join(dict.fromkeys(self.ended))} went ahead after waiting "
                 f"{duration(self.clock() - (began or self.clock()))}; nothing was lost")
        self.ended = []

    def room_for_runs(self) -> bool:
        """Whether a run may start: the reserve is free (else new runs wait, and the notice says so)."""
        free = free_bytes(self.lab_root)
        if free is None or free >= self.reserve:
            self.done(NEW_RUNS)
            return True
        self.full(NEW_RUNS, self.reserve)
        return False

    def why_runs_wait(self) -> str:
        return (f"the disk holding {self.lab_root} has {size(free_bytes(self.lab_root), missing='an unknown amount')} "
                f"free; runs start with {size(self.reserve)} free ([engine] min_free_mb)")

    def poll(self) -> bool:
        """While something waits: True when the reserve is free again (retry now); the notice's
        free space is kept current."""
        if not self.waits:
            return False
        free = free_bytes(self.lab_root)
        self._publish(quiet=True)
        return free is not None and free >= self.reserve

    def notice(self) -> DiskNotice | None:
        if not self.waits:
            return None
        waits = tuple(self.waits.values())[:self.MAX_SHOWN]
        return DiskNotice(str(self.lab_root), free_bytes(self.lab_root), self.since or self.clock(), waits)

    def _publish(self, quiet: bool = False) -> None:
        notice = self.notice()
        self.file.write(notice)
        if notice is not None and not quiet:
            self.say(notice.line())


NEW_RUNS = "starting new runs"


def read_notice(notice: Path) -> DiskNotice | None:
    """The engine's notice, for `lab status` and the control room (None: nothing waits)."""
    return NoticeFile(notice).read()
