"""The bubblewrap command line of a sandbox: a read-only root of the system's programs and
libraries, the Python installation and a few files of /etc; the run's directory writable (its
protocol files not replaceable), the directories of the runs it depends on read-only, a private
/tmp, and a minimal environment. Stdlib only (agents/sandbox.py)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from agents.research_settings import SandboxSettings
from agents.sandbox_isolation import namespaces
from contract.runfiles import EVENTS, PID_FILE, SPEC, STDERR, STDOUT

KEEP_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
            "LANG", "LC_ALL")
PROGRAM_DIR = "/joulelab"     # where the program is, inside the sandbox (read-only)
SANDBOX_HOME = "/tmp/home"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")


def sandbox_env(home: str, source: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: a path, the thread and device settings, nothing else."""
    source = dict(os.environ) if source is None else source
    env = {k: source[k] for k in KEEP_ENV if k in source}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=home, TMPDIR="/tmp",
               PYTHONUNBUFFERED="1", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    return env


@dataclass(frozen=True)
class Layout:
    """The paths a run's sandbox is made of."""

    run_dir: Path
    program: bytes
    deps: tuple[Path, ...]    # the output directories of the runs it depends on (read-only)
    uid: int                  # the program's user id (-1: the caller's)


def python_roots() -> list[str]:
    """The Python installation and its virtual environment (read-only in the sandbox)."""
    roots = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}
    return sorted(r for r in roots if not any(r == s or r.startswith(s + "/") for s in SYSTEM_DIRS))


def bwrap_argv(bwrap: str, layout: Layout, limits: SandboxSettings, program_fd: int) -> list[str]:
    argv = [bwrap, *namespaces(), "--hostname", "joulelab-sandbox", *_system_mounts(limits)]
    tree = _Parents(argv)
    for root in python_roots():
        tree.make(root)
        argv.extend(["--ro-bind", root, root])
    _run_mounts(argv, tree, layout)
    argv.extend(["--perms", "0444", "--ro-bind-data", str(program_fd), f"{PROGRAM_DIR}/program.py"])
    for skeleton in tree.skeletons:
        argv.extend(["--remount-ro", skeleton])
    argv.extend(["--remount-ro", "/", "--chdir", str(layout.run_dir), "--clearenv"])
    for key, value in sandbox_env(SANDBOX_HOME).items():
        argv.extend(["--setenv", key, value])
    return argv


def _system_mounts(limits: SandboxSettings) -> list[str]:
    """The system's programs and libraries and a few files of /etc, read-only; /proc, /dev, /tmp."""
    argv: list[str] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            argv.extend(["--symlink", os.readlink(d), d])
        elif os.path.isdir(d):
            argv.extend(["--ro-bind", d, d])
    for f in ETC_FILES:
        argv.extend(["--ro-bind-try", f, f])
    argv.extend(["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(limits.tmp_mb * 2**20), "--tmpfs", "/tmp"])
    return argv


def _run_mounts(argv: list[str], tree: _Parents, layout: Layout) -> None:
    """The run's directory (its protocol files fixed) and those of the runs it depends on."""
    run = str(layout.run_dir)
    tree.make(run)
    argv.extend(["--bind", run, run])
    for name in (SPEC, PID_FILE, STDOUT, STDERR):  # cannot be replaced nor rewritten by the program
        if (layout.run_dir / name).is_file():
            argv.extend(["--ro-bind", f"{run}/{name}", f"{run}/{name}"])
    if (layout.run_dir / EVENTS).is_file():        # appended by the program, never replaced
        argv.extend(["--bind", f"{run}/{EVENTS}", f"{run}/{EVENTS}"])
    for dep in layout.deps:
        if dep.is_dir() and dep != layout.run_dir:
            tree.make(str(dep))
            argv.extend(["--ro-bind", str(dep), str(dep)])


class _Parents:
    """Makes the directories above a mount: world-traversable (as root the program is not root),
    and never writable: below /tmp (a lab in /tmp) they sit in a tmpfs made read-only at the end."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.made: set[str] = {"/", "/tmp"}        # directories made in the sandbox's root
        self.bound: set[str] = set(SYSTEM_DIRS)    # trees mounted whole (nothing to make inside them)
        self.skeletons: list[str] = []             # read-only trees below the private /tmp holding mounts

    def make(self, dest: str) -> None:
        for parent in reversed(Path(dest).parents):
            p = str(parent)
            if p in self.made or any(p == b or p.startswith(b + "/") for b in self.bound):
                continue
            if Path(p).parent == Path("/tmp"):
                self.argv.extend(["--perms", "0755", "--tmpfs", p])
                self.skeletons.append(p)
            else:
                self.argv.extend(["--perms", "0755", "--dir", p])
            self.made.add(p)
