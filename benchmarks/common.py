"""Helpers for the benchmarks: a throwaway lab with an engine running the stand-in programs."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fixtures"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def lab_env(fake: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    if fake:
        env["PYTHONPATH"] = os.pathsep.join([str(FAKE), str(ROOT)])
        env["JOULELAB_EXPERIMENTS_MODULE"] = "fakeexp"
    return env


@contextlib.contextmanager
def temp_lab(config: str = "", fake: bool = True) -> Iterator[tuple[Path, dict[str, str]]]:
    """A lab directory with the given config.toml and a running engine; everything stopped after."""
    with tempfile.TemporaryDirectory(prefix="joulelab-bench-") as tmp:
        lab = Path(tmp) / "lab"
        lab.mkdir()
        if config:
            (lab / "config.toml").write_text(config)
        env = lab_env(fake)
        os.environ.update({k: env[k] for k in ("PYTHONPATH", "JOULELAB_EXPERIMENTS_MODULE") if k in env})
        subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab), "engine", "start"], env=env,
                       check=True, capture_output=True)
        try:
            yield lab, env
        finally:
            subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab), "engine", "stop"], env=env,
                           capture_output=True)
            for proc in psutil.process_iter(["cwd"]):
                with contextlib.suppress(Exception):
                    if (proc.info["cwd"] or "").startswith(str(lab)):
                        os.killpg(proc.pid, signal.SIGKILL)


def wait(predicate, timeout: float = 60.0, step: float = 0.01):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError("benchmark condition not reached")
