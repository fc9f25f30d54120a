"""`python -m agents.sandbox generated --spec spec.json`: run generated experiment code in a sandbox.

The engine starts this, like any run, as a detached subprocess with secrets already stripped.
The sandbox then runs the program (whose sha256 must match the one recorded when it was
written) in its own temporary working directory, with a minimal environment, CPU-time and
(on CPU) address-space limits, a wall timeout, and no network where the OS allows it
(`unshare -rn`, a new user and network namespace); when it does not, the run's log says so.
Stdlib only: it runs in every run's process and must start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEEP_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
            "JOULELAB_CACHE", "LANG", "LC_ALL")
DEFAULT_LIMITS = {"cpu_s": 600, "mem_mb": 2048, "timeout_s": 900.0}


def network_isolation() -> tuple[list[str], str]:
    """The command prefix that cuts the network, and what it achieves, in words."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return [], "network NOT isolated: unshare is not installed"
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"network NOT isolated: unshare failed ({exc})"
    if probe.returncode != 0:
        why = probe.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["not permitted"]
        return [], f"network NOT isolated: unshare -rn is not permitted here ({why[0]})"
    return [unshare, "-rn"], "network isolated (unshare -rn: a new network namespace with no interfaces up)"


def sandbox_env(workdir: Path, source: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: a path, the thread and device settings, nothing else."""
    source = dict(os.environ) if source is None else source
    env = {k: source[k] for k in KEEP_ENV if k in source}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=str(workdir), TMPDIR=str(workdir),
               PYTHONUNBUFFERED="1", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def _limiter(cpu_s: int, mem_bytes: int | None) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if mem_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
    return apply


def log_event(events_path: str, level: str, message: str) -> None:
    with open(events_path, "a") as fh:
        fh.write(json.dumps({"type": "log", "level": level, "message": message, "t": time.time()}) + "\n")


def run(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    params = spec.get("params", {})
    generated = params.get("generated") or {}
    limits = {**DEFAULT_LIMITS, **(params.get("sandbox") or {})}
    source_path = Path(str(generated.get("path", "")))
    try:
        source = source_path.read_bytes()
    except OSError as exc:
        print(f"sandbox: cannot read the generated program {source_path}: {exc.strerror}", file=sys.stderr)
        return 3
    if hashlib.sha256(source).hexdigest() != generated.get("sha256"):
        print(f"sandbox: {source_path} does not match the sha256 recorded with the experiment; not run",
              file=sys.stderr)
        return 3
    prefix, network = network_isolation()
    workdir = Path(tempfile.mkdtemp(prefix="joulelab-sandbox-"))
    try:
        (workdir / "program.py").write_bytes(source)
        (workdir / "spec.json").write_text(json.dumps(spec))
        cpu_only = spec.get("device", "cpu") == "cpu"  # an address-space limit breaks CUDA
        mem = int(limits["mem_mb"]) * 2**20 if cpu_only else None
        log_event(spec["events_path"], "info" if prefix else "warning",
                  f"sandbox: {network}; CPU time {limits['cpu_s']} s, "
                  f"{'memory ' + str(limits['mem_mb']) + ' MB' if mem else 'memory watched by the engine'}, "
                  f"wall {float(limits['timeout_s']):g} s, working dir {workdir}, no secrets in the environment")
        process = subprocess.Popen([*prefix, sys.executable, "-I", "program.py", "--spec", "spec.json"],
                                   cwd=workdir, env=sandbox_env(workdir), stdin=subprocess.DEVNULL,
                                   preexec_fn=_limiter(int(limits["cpu_s"]), mem))
        try:
            code = process.wait(timeout=float(limits["timeout_s"]))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            print(f"sandbox: the program ran past its wall timeout of {float(limits['timeout_s']):g} s",
                  file=sys.stderr)
            return 124
        if code < 0:
            name = signal.Signals(-code).name
            why = {signal.SIGXCPU: f": its CPU-time limit of {limits['cpu_s']} s",
                   signal.SIGKILL: ": the CPU-time hard limit, or out of memory"}.get(signal.Signals(-code), "")
            print(f"sandbox: the program was killed by {name}{why}", file=sys.stderr)
            return 128 - code
        return code
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "--spec":
        print("usage: python -m agents.sandbox generated --spec spec.json", file=sys.stderr)
        return 2
    return run(Path(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
