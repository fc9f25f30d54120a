"""`python -m agents.sandbox generated --spec spec.json`: run generated experiment code in a sandbox.

The engine starts this, like any run, as a detached subprocess in the run's directory with secrets
already stripped. The program (whose sha256 must match the one recorded when it was written) runs
inside bubblewrap (`bwrap`, Debian's `bubblewrap`):

- a root filesystem of its own, read-only: the system's programs and libraries (/usr), the Python
  installation and its virtual environment, a few files of /etc (the loader's cache, time zone,
  users); nothing else of the machine: not the lab directory, not the home, not the lab's code;
- writable: only the run's own directory (its protocol files spec.json, pid, stdout, stderr and
  events.jsonl stay where they are: they cannot be replaced), and a private /tmp (HOME is
  /tmp/home) that vanishes with the run;
- no network (a network namespace of its own, loopback only), its own PID namespace (it sees only
  its own processes; whatever it started is killed when the program ends), IPC and host name;
- an environment of a path, the thread settings and nothing else;
- limits: CPU time and address space per process, processes and threads at once, wall time, what
  it writes (stdout, stderr and its directory together), files in its directory, the size of /tmp;
- as root, the program runs under a user id of its own (not root), chosen for the run.

Where no working bubblewrap exists, the program is refused with one line saying why and how to
install it, unless the experiment was generated with `[llm.sandbox] allow_unsandboxed = true`: then
it runs as before the sandbox existed (a minimal environment, the same limits, `unshare -rn` for
the network where permitted), as the user, and the run's log says so in a warning.

Whatever happens, when it ends the sandbox removes the links and special files the program left in
its directory (the engine and the recorder must never follow them out of it), and a reason is the
last line of stderr when it was stopped. Stdlib only: it runs in every run's process and must
start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.research_settings import SandboxSettings
from contract.runfiles import EVENTS, EXIT_FILE, PID_FILE, SPEC, STDERR, STDOUT

KEEP_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
            "LANG", "LC_ALL")
INSTALL = ("install Debian's bubblewrap (apt-get install bubblewrap; `make run` and `make test` do it) "
           "or set [llm.sandbox] allow_unsandboxed = true in config.toml to run it without one")
REFUSED = 3                   # exit code: not run (no sandbox, a changed program, an unreadable spec)
PROGRAM_DIR = "/joulelab"     # where the program is, inside the sandbox (read-only)
SANDBOX_HOME = "/tmp/home"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
UID_BASE = 0x40000000         # as root: the program's user id is this plus the sandbox's pid (unique while it runs)
POLL_S = 0.1                  # how often the run's directory is measured
LEFT_BEHIND = (EXIT_FILE, f"{EXIT_FILE}.tmp", f"{PID_FILE}.tmp")  # the wrapper's files, never the program's


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


def sandbox_env(home: str, source: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: a path, the thread and device settings, nothing else."""
    source = dict(os.environ) if source is None else source
    env = {k: source[k] for k in KEEP_ENV if k in source}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=home, TMPDIR="/tmp",
               PYTHONUNBUFFERED="1", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    return env


# Runs first inside the sandbox (python -I -c): takes the run's user id (as root), sets the limits
# there (RLIMIT_NPROC counts in the sandbox's user namespace only once it exists), then becomes the
# program. argv: uid (-1: keep), cpu_s, mem_bytes (0: none), fsize_bytes, nproc, program argv...
LIMITER = r"""
import os, resource, sys
uid, cpu, mem, fsize, nproc = (int(a) for a in sys.argv[1:6])
if uid >= 0:
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
os.makedirs(os.environ["HOME"], exist_ok=True)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
if mem:
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
os.execv(sys.executable, [sys.executable, "-I", *sys.argv[6:]])
"""


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
    argv = [bwrap, *namespaces(), "--hostname", "joulelab-sandbox"]
    made: set[str] = {"/"}                 # directories made in the sandbox's root
    bound: set[str] = set(SYSTEM_DIRS)     # trees mounted whole (nothing to make inside them)

    skeletons: list[str] = []             # read-only trees below the private /tmp holding mounts

    def parents(dest: str) -> None:
        """Make the directories above a mount: world-traversable (as root the program is not root),
        and never writable: below /tmp (a lab in /tmp) they sit in a tmpfs made read-only at the end."""
        for parent in reversed(Path(dest).parents):
            p = str(parent)
            if p in made or any(p == b or p.startswith(b + "/") for b in bound):
                continue
            if Path(p).parent == Path("/tmp"):
                argv.extend(["--perms", "0755", "--tmpfs", p])
                skeletons.append(p)
            else:
                argv.extend(["--perms", "0755", "--dir", p])
            made.add(p)

    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            argv.extend(["--symlink", os.readlink(d), d])
        elif os.path.isdir(d):
            argv.extend(["--ro-bind", d, d])
    for f in ETC_FILES:
        argv.extend(["--ro-bind-try", f, f])
    argv.extend(["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(limits.tmp_mb * 2**20), "--tmpfs", "/tmp"])
    made.add("/tmp")
    for root in python_roots():
        parents(root)
        argv.extend(["--ro-bind", root, root])
    run = str(layout.run_dir)
    parents(run)
    argv.extend(["--bind", run, run])
    for name in (SPEC, PID_FILE, STDOUT, STDERR):  # cannot be replaced nor rewritten by the program
        if (layout.run_dir / name).is_file():
            argv.extend(["--ro-bind", f"{run}/{name}", f"{run}/{name}"])
    if (layout.run_dir / EVENTS).is_file():        # appended by the program, never replaced
        argv.extend(["--bind", f"{run}/{EVENTS}", f"{run}/{EVENTS}"])
    for dep in layout.deps:
        if dep.is_dir() and dep != layout.run_dir:
            parents(str(dep))
            argv.extend(["--ro-bind", str(dep), str(dep)])
    argv.extend(["--perms", "0444", "--ro-bind-data", str(program_fd), f"{PROGRAM_DIR}/program.py"])
    for skeleton in skeletons:
        argv.extend(["--remount-ro", skeleton])
    argv.extend(["--remount-ro", "/", "--chdir", run, "--clearenv"])
    for key, value in sandbox_env(SANDBOX_HOME).items():
        argv.extend(["--setenv", key, value])
    return argv


@dataclass
class Meter:
    """What the program has written so far, against its limit."""

    limit: int
    files_limit: int
    relayed: int = 0
    baseline: int = 0
    files_at_start: int = 0

    def over(self, run_dir: Path) -> str | None:
        used, files = measure(run_dir)
        if files - self.files_at_start > self.files_limit:
            return f"it created more than {self.files_limit} files in its run directory"
        if self.relayed + used - self.baseline > self.limit:
            return f"it wrote more than {self.limit // 2**20} MB (stdout, stderr and its run directory together)"
        return None


def _entries(root: Path) -> Iterator[os.DirEntry[str]]:
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
    for entry in _entries(run_dir):
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
    for entry in list(_entries(run_dir)):
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
            if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IRWXU == stat.S_IRWXU:
                os.chmod(path, st.st_mode | stat.S_IRWXU)
        except OSError:
            continue
    if owner is not None:
        os.lchown(run_dir, *owner)
    return sorted(removed)


class Stop(Exception):
    """The program was stopped by the sandbox; the message says why."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.code = code


def supervise(process: subprocess.Popen[bytes], limits: SandboxSettings, run_dir: Path,
              kill: Callable[[], None]) -> int:
    """Relay the program's output, measure what it writes, end it at its limits; its exit code."""
    meter = Meter(limit=limits.output_mb * 2**20, files_limit=limits.files)
    meter.baseline, meter.files_at_start = measure(run_dir)
    sel = selectors.DefaultSelector()
    assert process.stdout is not None and process.stderr is not None
    for pipe, fd in ((process.stdout, 1), (process.stderr, 2)):
        os.set_blocking(pipe.fileno(), False)
        sel.register(pipe, selectors.EVENT_READ, fd)
    deadline = time.monotonic() + limits.timeout_s
    next_measure = 0.0
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                raise Stop(f"the program ran past its wall timeout of {limits.timeout_s:g} s", 124)
            for key, _ in sel.select(timeout=min(POLL_S, max(0.0, deadline - now))):
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                meter.relayed += len(chunk)
                if meter.relayed > meter.limit:
                    raise Stop(f"it wrote more than {limits.output_mb} MB (stdout, stderr and its run directory "
                               "together)", 125)
                _write_all(key.data, chunk)
            if time.monotonic() >= next_measure:
                next_measure = time.monotonic() + POLL_S
                why = meter.over(run_dir)
                if why:
                    raise Stop(why, 125)
        remaining = deadline - time.monotonic()
        try:
            return process.wait(timeout=max(0.0, remaining))
        except subprocess.TimeoutExpired:
            raise Stop(f"the program ran past its wall timeout of {limits.timeout_s:g} s", 124) from None
    except Stop:
        kill()
        process.wait()
        raise
    finally:
        sel.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:  # our own output is gone (a full disk): the program's output is dropped
            return


def signal_reason(code: int, limits: SandboxSettings) -> str | None:
    """Why a program that died of a signal died, in words (None: it exited). bwrap reports a
    program killed by signal n as exit code 128 + n; a process of our own, as -n."""
    number = -code if code < 0 else code - 128 if 128 < code < 128 + signal.NSIG else 0
    if not number:
        return None
    try:
        sig = signal.Signals(number)
    except ValueError:
        return f"the program was killed by signal {number}"
    why = {signal.SIGXCPU: f": its CPU-time limit of {limits.cpu_s} s",
           signal.SIGXFSZ: f": a file grew past its output limit of {limits.output_mb} MB",
           signal.SIGKILL: ": the CPU-time hard limit, or out of memory"}.get(sig, "")
    return f"the program was killed by {sig.name}{why}"


def run(spec_path: Path) -> int:
    try:
        spec = json.loads(spec_path.read_text())
        params = spec.get("params", {})
        limits = SandboxSettings.from_params(params.get("sandbox"))
    except (OSError, ValueError) as exc:
        print(f"sandbox: cannot read the run's spec {spec_path}: {exc}", file=sys.stderr)
        return REFUSED
    generated = params.get("generated") or {}
    source_path = Path(str(generated.get("path", "")))
    try:
        source = source_path.read_bytes()
    except OSError as exc:
        print(f"sandbox: cannot read the generated program {source_path}: {exc.strerror}", file=sys.stderr)
        return REFUSED
    if hashlib.sha256(source).hexdigest() != generated.get("sha256"):
        print(f"sandbox: {source_path} does not match the sha256 recorded with the experiment; not run",
              file=sys.stderr)
        return REFUSED
    run_dir = Path(str(spec.get("output_dir") or spec_path.resolve().parent)).resolve()
    events = str(run_dir / EVENTS)  # the engine's spec says the same; the only file the program appends to
    isolation = probe()
    if not isolation.works and not limits.allow_unsandboxed:
        log_event(events, "error", f"sandbox: {isolation.refusal}")
        print(f"sandbox: {isolation.refusal}", file=sys.stderr)
        return REFUSED
    cpu_only = spec.get("device", "cpu") == "cpu"  # an address-space limit breaks CUDA
    mem = limits.mem_mb * 2**20 if cpu_only else 0
    deps = tuple(Path(str(d.get("output_dir"))) for d in (spec.get("dependencies") or {}).values()
                 if isinstance(d, dict) and d.get("output_dir"))
    described = (f"CPU time {limits.cpu_s} s, "
                 f"{'memory ' + str(limits.mem_mb) + ' MB' if mem else 'memory watched by the engine'}, "
                 f"wall {limits.timeout_s:g} s, {limits.processes} processes, output {limits.output_mb} MB, "
                 f"{limits.files} files, /tmp {limits.tmp_mb} MB")
    if isolation.works:
        assert isolation.bwrap is not None
        return _run_bwrap(isolation.bwrap, Layout(run_dir, source, deps, UID_BASE + os.getpid() if as_root() else -1),
                          limits, mem, events, described)
    return _run_unsandboxed(run_dir, source, limits, mem, events, described, isolation)


def _limiter_args(uid: int, limits: SandboxSettings, mem: int) -> list[str]:
    return ["-I", "-c", LIMITER, str(uid), str(limits.cpu_s), str(mem), str(limits.output_mb * 2**20),
            str(limits.processes)]


def _run_bwrap(bwrap: str, layout: Layout, limits: SandboxSettings, mem: int, events: str, described: str) -> int:
    st = os.stat(layout.run_dir)
    owner = (st.st_uid, st.st_gid) if layout.uid >= 0 else None
    read_end, write_end = os.pipe()
    try:
        log_event(events, "info", f"sandbox: bubblewrap (read-only system, only the run directory writable, "
                                  f"private /tmp and home, no network, own PID namespace); {described}; "
                                  "no secrets in the environment")
        if owner is not None:  # the run's directory and its events become the program's
            os.chown(layout.run_dir, layout.uid, layout.uid)
            os.chown(events, layout.uid, layout.uid)
        argv = [*bwrap_argv(bwrap, layout, limits, read_end), sys.executable, *_limiter_args(layout.uid, limits, mem),
                f"{PROGRAM_DIR}/program.py", "--spec", SPEC]
        # in the run's process group: the engine's cancel reaches bwrap, and bwrap's namespace goes with it
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   pass_fds=(read_end,))
        os.close(read_end)
        read_end = -1
        _write_all(write_end, layout.program)
        os.close(write_end)
        write_end = -1
        return _finish(process, limits, layout.run_dir, group=False)
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
        _swept(layout.run_dir, owner, events)


def _run_unsandboxed(run_dir: Path, source: bytes, limits: SandboxSettings, mem: int, events: str,
                     described: str, isolation: Isolation) -> int:
    prefix, network = network_isolation()
    program = run_dir / ".generated-program.py"
    program.write_bytes(source)
    log_event(events, "warning", f"sandbox: NONE ({isolation.why}); running UNSANDBOXED as allowed by "
                                 f"[llm.sandbox] allow_unsandboxed: the program runs as you and sees your files; "
                                 f"{network}; {described}; no secrets in the environment")
    try:
        process = subprocess.Popen([*prefix, sys.executable, *_limiter_args(-1, limits, mem), str(program),
                                    "--spec", SPEC], cwd=run_dir, env=sandbox_env(str(run_dir)),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        return _finish(process, limits, run_dir, group=True)
    finally:
        program.unlink(missing_ok=True)
        _swept(run_dir, None, events)


def _finish(process: subprocess.Popen[bytes], limits: SandboxSettings, run_dir: Path, *, group: bool) -> int:
    """Supervise the program to its end; `group`: it leads a process group of its own, killed whole."""
    try:
        code = supervise(process, limits, run_dir, lambda: _kill(process, group=group))
    except Stop as stop:
        print(f"sandbox: {stop}", file=sys.stderr)
        return stop.code
    finally:  # nothing it started outlives it (with bwrap, its PID namespace goes with it anyway)
        _kill(process, group=group)
    why = signal_reason(code, limits)
    if why:
        print(f"sandbox: {why}", file=sys.stderr)
        return 128 + (-code if code < 0 else code - 128)
    return code


def _die_with_parent() -> None:
    """In the unsandboxed program's process: SIGKILL when the sandbox's process dies."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _stopped(signum: int, _frame: Any) -> None:
    raise Stop(f"the run was stopped from outside ({signal.Signals(signum).name})", 128 + signum)


def _kill(process: subprocess.Popen[bytes], *, group: bool) -> None:
    try:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        elif process.poll() is None:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _swept(run_dir: Path, owner: tuple[int, int] | None, events: str) -> None:
    removed = sweep(run_dir, owner)
    if removed:
        shown = ", ".join(removed[:10]) + (f" and {len(removed) - 10} more" if len(removed) > 10 else "")
        try:
            log_event(events, "warning", f"sandbox: removed what the program left in its directory that is no "
                                         f"plain file or is the wrapper's: {shown}")
        except OSError:
            pass


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "--spec":
        print("usage: python -m agents.sandbox generated --spec spec.json", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    return run(Path(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
