"""Where generated code can run on this machine: a working bubblewrap (it needs user namespaces,
or root), or why there is none, in words; and how an experiment records it
(`metadata.generated.sandbox`). Stdlib only (agents/sandbox.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL = ("install Debian's bubblewrap (apt-get install bubblewrap; `make run` and `make test` do it) "
           "or set [llm.sandbox] allow_unsandboxed = true in config.toml to run it without one")
UNSANDBOXED = "UNSANDBOXED"   # how a record of code run without a sandbox begins


def unsandboxed(record: Any) -> bool:
    """Whether an experiment's `metadata.generated.sandbox` says its code ran without a sandbox."""
    return isinstance(record, str) and record.startswith(UNSANDBOXED)


@dataclass(frozen=True)
class Isolation:
    """What runs generated code here: a working bubblewrap, or why there is none (in words)."""

    bwrap: str | None
    why: str

    @property
    def works(self) -> bool:
        return self.bwrap is not None

    @property
    def record(self) -> str:
        """What an experiment records about where its generated code runs (`metadata.generated.sandbox`)."""
        if self.works:
            return "bubblewrap"
        return f"{UNSANDBOXED}: {self.why}; allowed by [llm.sandbox] allow_unsandboxed"

    @property
    def refusal(self) -> str:
        """The one line that refuses generated code here."""
        return f"generated code refused: {self.why}; {INSTALL}"


def as_root() -> bool:
    """Root of the machine (not root of a user namespace, where other user ids are not mapped):
    only then can the program get a user id of its own."""
    if os.geteuid() != 0:
        return False
    try:
        return Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


def probe(path: str | None = None) -> Isolation:
    """Whether bubblewrap can make the sandbox on this machine (it needs user namespaces, or root)."""
    bwrap = shutil.which("bwrap", path=os.environ.get("PATH", os.defpath) if path is None else path)
    if bwrap is None:
        return Isolation(None, "bubblewrap (bwrap) is not installed")
    argv = [bwrap, *namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Isolation(None, f"bwrap cannot start ({exc})")
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return Isolation(None, f"bwrap cannot make a sandbox here ({said[-1] if said else f'exit {done.returncode}'}; "
                               "unprivileged user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1, "
                               "on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0)")
    return Isolation(bwrap, "bubblewrap")


def namespaces() -> list[str]:
    """bwrap's namespace options. As root no user namespace is needed (the program's own user id
    stands in for it); otherwise bwrap makes one, mapping the user to itself."""
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session"]
    return common if as_root() else ["--unshare-user", *common]


def network_isolation() -> tuple[list[str], str]:
    """Unsandboxed runs only: the command prefix that cuts the network, and what it achieves."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return [], "network NOT isolated: unshare is not installed"
    try:
        probe_run = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"network NOT isolated: unshare failed ({exc})"
    if probe_run.returncode != 0:
        why = probe_run.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["not permitted"]
        return [], f"network NOT isolated: unshare -rn is not permitted here ({why[0]})"
    return [unshare, "-rn"], "network isolated (unshare -rn: a new network namespace with no interfaces up)"
