"""A network namespace where only loopback exists, for servers that bind every interface.

Ray binds its ports on every interface whatever `--node-ip-address` says. Started inside a user
and network namespace of their own (`unshare -rn`, no privileges needed) with only `lo` up, its
servers cannot be reached from, nor reach, anything beyond 127.0.0.1. A sleeping holder process
keeps the namespace alive; commands join it with `nsenter`. The holder exits when the test
process that made it goes away (its stdin closes), so a killed test leaves no holder behind.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Sequence

from tests.timing import scaled

# runs as the holder, inside the new namespaces: bring lo up (SIOCSIFFLAGS), say so, wait for EOF
_HOLDER = r"""
import fcntl, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
print("up", flush=True)
sys.stdin.read()
"""


class NamespaceUnavailableError(RuntimeError):
    """This machine cannot make an unprivileged user and network namespace."""


class LoopbackNamespace:
    """A user + network namespace with only `lo`, up; `command(argv)` runs argv inside it."""

    def __init__(self) -> None:
        missing = [tool for tool in ("unshare", "nsenter") if shutil.which(tool) is None]
        if missing:
            raise NamespaceUnavailableError(f"{' and '.join(missing)} not found (Debian's util-linux)")
        self._holder = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--net", sys.executable, "-c", _HOLDER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        assert self._holder.stdout is not None
        try:
            ready = self._holder.stdout.readline().strip()
        except OSError:
            ready = ""
        if ready != "up":
            self.close()
            assert self._holder.stderr is not None
            why = self._holder.stderr.read().strip().splitlines()
            raise NamespaceUnavailableError(f"`unshare -rn` failed: {why[-1] if why else 'no reason given'}")
        self.pid = self._holder.pid
        self.inode = _net_inode(self.pid)

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv, run inside the namespace (as the same user, with the same working directory)."""
        return ["nsenter", f"--target={self.pid}", "--user", "--net", "--preserve-credentials", "--", *argv]

    def holds(self, pid: int) -> bool:
        """Whether process `pid` lives in this namespace."""
        try:
            return _net_inode(pid) == self.inode
        except OSError:
            return False

    def close(self) -> None:
        release(self._holder)


def release(holder: subprocess.Popen[str]) -> None:
    """End a namespace's holder: its stdin closes, it exits (killed if it does not)."""
    with contextlib.suppress(OSError, ValueError):
        if holder.stdin is not None:
            holder.stdin.close()
    try:
        holder.wait(scaled(10))
    except subprocess.TimeoutExpired:
        holder.kill()
        holder.wait()


def _net_inode(pid: int) -> str:
    from pathlib import Path

    return str(Path(f"/proc/{pid}/ns/net").readlink())
