"""A small filesystem that fills up, for the full-disk tests, made without privileges.

A size-limited tmpfs is mounted on a directory inside a user and mount namespace of its own
(`unshare -rm`, like tests/netns.py for the network): processes started through `command(argv)`
(the `lab` command, hence the engine and its runs) see the small filesystem at that path; the test
itself, outside, reaches the same files through the namespace holder's root
(`/proc/<holder>/root/<path>`, `view`). A sleeping holder keeps the namespace alive and exits when
the test process goes away (its stdin closes), so a killed test leaves no mount behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.netns import release

_HOLDER = 'mount -t tmpfs -o "size=$1" joulelab-small "$2" && echo up && exec cat'


class SmallDiskUnavailableError(RuntimeError):
    """This machine cannot make an unprivileged user and mount namespace with a tmpfs."""


class SmallDisk:
    """A tmpfs of `size_bytes` at `path`, for processes started through `command`."""

    def __init__(self, path: Path, size_bytes: int) -> None:
        missing = [tool for tool in ("unshare", "nsenter") if shutil.which(tool) is None]
        if missing:
            raise SmallDiskUnavailableError(f"{' and '.join(missing)} not found (Debian's util-linux)")
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._holder = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", _HOLDER, "holder", str(size_bytes),
             str(self.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        assert self._holder.stdout is not None and self._holder.stderr is not None
        ready = self._holder.stdout.readline().strip()
        if ready != "up":
            self.close()
            why = self._holder.stderr.read().strip().splitlines()
            raise SmallDiskUnavailableError(f"`unshare -rm` + tmpfs failed: {why[-1] if why else 'no reason given'}")
        self.pid = self._holder.pid
        self.filler = self.view(self.path / "filler.bin")

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv, run where the small filesystem is mounted (same user, same working directory)."""
        return ["nsenter", f"--target={self.pid}", "--user", "--mount", "--preserve-credentials", "--", *argv]

    def view(self, path: Path) -> Path:
        """Where the test process reaches `path` as the namespace sees it."""
        return Path(f"/proc/{self.pid}/root") / Path(path).relative_to("/")

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.view(self.path)).free

    def fill(self, leave: int = 0) -> int:
        """Fill the filesystem with one file until at most `leave` bytes are free; returns its size."""
        chunk = b"\0" * 65536
        written = 0
        with open(self.filler, "ab") as fh:
            while self.free_bytes() > leave:
                try:
                    fh.write(chunk[:max(4096, min(len(chunk), self.free_bytes() - leave))])
                    fh.flush()
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += len(chunk)
        return self.filler.stat().st_size

    def free(self) -> None:
        """Give the filler's space back."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.filler)

    def close(self) -> None:
        release(self._holder)
