"""Idle CPU of the control room while four runs stream metrics (target: under 3 % of one core).

A throwaway lab with four CPU slots runs four stand-in experiments that each write a metric
point with 4 values and a progress event every 0.1 s (the engine ingests them every 0.2 s).
The real `lab` command runs in tmux at each terminal size, the queue's first row selected
(so the curves of its running run follow live); after a warm-up, its process's CPU time is
measured with psutil. The bytes it writes to the terminal are counted too (tmux pipe-pane): a
full redraw of an 80x24 screen is ~10 KB, so a low figure shows only changed cells are sent.
The time from process start to the first full frame is reported by the app itself.

    python -m benchmarks tui_idle_cpu          (or: python -m benchmarks.tui_idle_cpu [seconds] [WxH ...])

Naming one size measures only that one (comparing two commits side by side is done one size
per call, alternating the commits, since the machine's load drifts between calls).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import ROOT, machine, temp_lab, wait

RUNS = 4
MEASURE_S = 30.0
WARMUP_S = 6.0
SIZES = [(80, 24), (160, 50)]
CONFIG = "[slots]\ncpu = 4\nthreads_per_run = 1\n[tui]\nrefresh_s = 1.0\n"


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10).stdout


async def submit(lab: Path) -> None:
    from agents.catalog import Catalog
    from db import ExperimentState, NewExperiment, Store

    plan = Catalog("fakeexp").plan("fake", {"steps": 1_000_000, "step_sleep_s": 0.1, "values_per_step": 4})
    store = await Store.open(lab / "lab.db")
    try:
        for i in range(RUNS):
            await store.create_experiment(NewExperiment(name=f"stream-{i}", catalog="fake", params=plan.params,
                                                        plan=plan.variants), status=ExperimentState.APPROVED)
    finally:
        await store.close()


async def running(lab: Path) -> int:
    from db import Store

    store = await Store.open(lab / "lab.db")
    try:
        return len(await store.list_runs(statuses=["running"]))
    finally:
        await store.close()


def measure(lab: Path, env: dict[str, str], size: tuple[int, int], seconds: float) -> dict[str, object]:
    socket = f"joulelab-bench-{os.getpid()}-{size[0]}"
    with tempfile.TemporaryDirectory(prefix="joulelab-tui-") as tmp:
        startup = Path(tmp) / "startup"
        output = Path(tmp) / "tty-output"
        cmd_env = {"PYTHONPATH": env["PYTHONPATH"], "JOULELAB_EXPERIMENTS_MODULE": "fakeexp",
                   "JOULELAB_TUI_STARTUP_FILE": str(startup), "TERM": "xterm-256color",
                   "JOULELAB_KEYMAP": str(Path(tmp) / "none.toml")}
        shell = "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in cmd_env.items()) + " " + \
            shlex.join([sys.executable, "-m", "tui.cli", "--dir", str(lab)])
        spawned = time.time()
        tmux(socket, "new-session", "-d", "-s", "bench", "-x", str(size[0]), "-y", str(size[1]), "-c", str(ROOT), shell)
        try:
            pid = int(tmux(socket, "display", "-p", "-t", "bench", "#{pane_pid}").strip())
            wait(lambda: startup.exists() and startup.read_text().strip(), timeout=30)
            first_frame = float(startup.read_text().split()[0]) - spawned
            time.sleep(WARMUP_S)
            tmux(socket, "pipe-pane", "-t", "bench", "-o", f"cat >> {shlex.quote(str(output))}")
            proc = psutil.Process(pid)
            engine = psutil.Process(int((lab / "engine.lock").read_text().strip()))
            c0, e0, t0 = proc.cpu_times(), engine.cpu_times(), time.monotonic()
            time.sleep(seconds)
            c1, e1, t1 = proc.cpu_times(), engine.cpu_times(), time.monotonic()
            tmux(socket, "pipe-pane", "-t", "bench")
            elapsed = t1 - t0
            screen = tmux(socket, "capture-pane", "-p", "-t", "bench")
            written = output.stat().st_size if output.exists() else 0
            return {
                "size": f"{size[0]}x{size[1]}",
                "tui_cpu_pct_of_one_core": round(100 * ((c1.user + c1.system) - (c0.user + c0.system)) / elapsed, 2),
                "engine_cpu_pct": round(100 * ((e1.user + e1.system) - (e0.user + e0.system)) / elapsed, 2),
                "terminal_bytes_per_s": round(written / elapsed),
                "first_frame_s": round(first_frame, 3),
                "rss_mb": round(proc.memory_info().rss / 2**20),
                "streaming_shown": "▶ running" in screen,
            }
        finally:
            tmux(socket, "send-keys", "-t", "bench", "q")
            time.sleep(0.5)
            tmux(socket, "kill-server")


def main(seconds: float = MEASURE_S, sizes: list[tuple[int, int]] | None = None) -> dict[str, object]:
    load_before = os.getloadavg()
    with temp_lab(CONFIG) as (lab, env):
        asyncio.run(submit(lab))
        wait(lambda: asyncio.run(running(lab)) == RUNS, timeout=60, step=0.2)
        results = [measure(lab, env, size, seconds) for size in sizes or SIZES]
    worst = max(r["tui_cpu_pct_of_one_core"] for r in results)  # type: ignore[type-var]
    return {"benchmark": "tui_idle_cpu", "ok": worst < 3.0 and all(r["streaming_shown"] for r in results),
            "target": "under 3 % of one core with 4 runs streaming", "runs_streaming": RUNS,
            "measured_s": seconds, "results": results, "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()], "machine": machine()}


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"tui_idle_cpu: a terminal size is WIDTHxHEIGHT, e.g. 160x50; got {text!r}") from None
    return width, height


if __name__ == "__main__":
    args = sys.argv[1:]
    seconds = float(args.pop(0)) if args and "x" not in args[0].lower() else MEASURE_S
    print(json.dumps(main(seconds, [_size(a) for a in args] or None), indent=2))
