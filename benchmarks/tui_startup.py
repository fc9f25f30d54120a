"""Start-up of the control room in a real terminal (tmux): from the `lab` process's start to
its first full frame (every panel filled from the database), on the fixture lab of the tests
(6 experiments, 14 runs, curves, messages). Target: under one second.

Reported: wall time from the spawn (tmux new-session) to the first frame, and the CPU time
the process had used by then, best and median of several starts.

    python -m benchmarks tui_startup
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import ROOT, machine, wait

STARTS = 7


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10).stdout


def start_once(lab: Path, tmp: Path, i: int) -> tuple[float, float]:
    socket = f"joulelab-start-{os.getpid()}-{i}"
    startup = tmp / f"startup-{i}"
    env = {"JOULELAB_TUI_STARTUP_FILE": str(startup), "TERM": "xterm-256color",
           "JOULELAB_KEYMAP": str(tmp / "none.toml"), "TZ": "UTC"}
    shell = "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + \
        shlex.join([str(Path(sys.executable).parent / "lab"), "--dir", str(lab), "open", "--readonly"])
    spawned = time.time()
    tmux(socket, "new-session", "-d", "-s", "s", "-x", "80", "-y", "24", "-c", str(ROOT), shell)
    try:
        wait(lambda: startup.exists() and startup.read_text().strip(), timeout=30)
        at, _age, cpu = (float(x) for x in startup.read_text().split())
        return at - spawned, cpu
    finally:
        tmux(socket, "send-keys", "-t", "s", "q")
        time.sleep(0.3)
        tmux(socket, "kill-server")


def main() -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "tests" / "tui"))
    # the control room's test fixture, by its path (tests/ is not a package)
    build_sync: Callable[[Path], object] = importlib.import_module("tui_fixture_lab").build_sync

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="joulelab-start-") as tmp_name:
        tmp = Path(tmp_name)
        lab = tmp / "lab"
        build_sync(lab)
        start_once(lab, tmp, -1)  # warm the file cache and the bytecode
        samples = [start_once(lab, tmp, i) for i in range(STARTS)]
    walls = sorted(w for w, _ in samples)
    cpus = sorted(c for _, c in samples)
    return {"benchmark": "tui_startup", "ok": walls[0] < 1.0, "target": "first full frame under 1 s",
            "starts": STARTS, "wall_best_s": walls[0], "wall_median_s": statistics.median(walls),
            "cpu_best_s": cpus[0], "cpu_median_s": statistics.median(cpus),
            "load_avg_before": [round(x, 2) for x in load], "machine": machine()}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
