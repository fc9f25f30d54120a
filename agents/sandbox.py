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

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from agents.research_settings import SandboxSettings
from agents.sandbox_bwrap import PROGRAM_DIR, Layout, bwrap_argv, sandbox_env
from agents.sandbox_isolation import Isolation, as_root, network_isolation, probe
from agents.sandbox_limits import LIMITER, StoppedError, signal_reason, supervise, write_all
from agents.sandbox_rundir import log_event, sweep
from contract.runfiles import EVENTS, SPEC
from contract.runspec import DeviceKind

REFUSED = 3                   # exit code: not run (no sandbox, a changed program, an unreadable spec)
UID_BASE = 0x40000000         # as root: the program's user id is this plus the sandbox's pid (unique while it runs)


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
    cpu_only = spec.get("device", DeviceKind.CPU) == DeviceKind.CPU  # an address-space limit breaks CUDA
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
        write_all(write_end, layout.program)
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
    except StoppedError as stop:
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
    raise StoppedError(f"the run was stopped from outside ({signal.Signals(signum).name})", 128 + signum)


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
        with contextlib.suppress(OSError):
            log_event(events, "warning", f"sandbox: removed what the program left in its directory that is no "
                                         f"plain file or is the wrapper's: {shown}")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "--spec":
        print("usage: python -m agents.sandbox generated --spec spec.json", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    return run(Path(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
