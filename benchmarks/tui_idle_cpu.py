"""Idle CPU of the control room while four runs stream metrics (targets: at most 1 % of one core
and 2 KB/s to the terminal at 160x50, within 5x of `top -d 1` at the same size).

A throwaway lab with four CPU slots runs four stand-in experiments that each write a metric
point with 4 values and a progress event every 0.1 s (the engine ingests them every 0.2 s).
The real `lab` command runs in tmux at each terminal size, the queue's first row selected
(so the curves of its running run follow live); after a warm-up, its process's CPU time is
measured with psutil. The bytes it writes to the terminal are counted too (tmux pipe-pane): a
full redraw of an 80x24 screen is ~10 KB, so a low figure shows only changed cells are sent.
The time from process start to the first full frame is reported by the app itself.

The yardstick: `top -d 1` runs in a second tmux server at the same size over the same seconds,
measured the same way (CPU time and bytes written); `cpu_ratio_to_top` is the control room's
CPU over top's (goal: at most 5).

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
    from db import ExperimentState, NewExperiment, Store
    from science.catalog import Catalog

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


TARGET_CPU_PCT = 1.0        # of one core, at 160x50 with four runs streaming
TARGET_BYTES_PER_S = 2048
TARGET_RATIO_TO_TOP = 5.0


class Yardstick:
    """`top -d 1` in its own tmux server at the control room's size: its CPU time and the bytes
    it writes, read at the same moments as the control room's."""

    def __init__(self, size: tuple[int, int], tmp: Path) -> None:
        self.socket = f"joulelab-bench-top-{os.getpid()}-{size[0]}"
        self.output = tmp / "top-output"
        tmux(self.socket, "new-session", "-d", "-s", "top", "-x", str(size[0]), "-y", str(size[1]),
             "exec env TERM=xterm-256color top -d 1")
        self.proc = psutil.Process(int(tmux(self.socket, "display", "-p", "-t", "top", "#{pane_pid}").strip()))

    def start(self) -> float:
        tmux(self.socket, "pipe-pane", "-t", "top", "-o", f"cat >> {shlex.quote(str(self.output))}")
        t = self.proc.cpu_times()
        return float(t.user + t.system)

    def stop(self) -> tuple[float, int]:
        t = self.proc.cpu_times()
        tmux(self.socket, "pipe-pane", "-t", "top")
        return t.user + t.system, self.output.stat().st_size if self.output.exists() else 0

    def close(self) -> None:
        tmux(self.socket, "kill-server")


def measure(lab: Path, env: dict[str, str], size: tuple[int, int], seconds: float) -> dict[str, object]:
    socket = f"joulelab-bench-{os.getpid()}-{size[0]}"
    with tempfile.TemporaryDirectory(prefix="joulelab-tui-") as tmp:
        top = Yardstick(size, Path(tmp))
        startup = Path(tmp) / "startup"
        output = Path(tmp) / "tty-output"
        cmd_env = {"PYTHONPATH": env["PYTHONPATH"], "JOULELAB_EXPERIMENTS_MODULE": "fakeexp",
                   "JOULELAB_TUI_STARTUP_FILE": str(startup), "TERM": "xterm-256color",
                   "JOULELAB_KEYMAP": str(Path(tmp) / "none.toml")}
        shell = "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in cmd_env.items()) + " " + \
            shlex.join([sys.executable, "-m", "cli", "--dir", str(lab)])
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
            top0 = top.start()
            c0, e0, t0 = proc.cpu_times(), engine.cpu_times(), time.monotonic()
            time.sleep(seconds)
            c1, e1, t1 = proc.cpu_times(), engine.cpu_times(), time.monotonic()
            top1, top_written = top.stop()
            tmux(socket, "pipe-pane", "-t", "bench")
            elapsed = t1 - t0
            screen = tmux(socket, "capture-pane", "-p", "-t", "bench")
            written = output.stat().st_size if output.exists() else 0
            tui_pct = 100 * ((c1.user + c1.system) - (c0.user + c0.system)) / elapsed
            top_pct = 100 * (top1 - top0) / elapsed
            return {
                "size": f"{size[0]}x{size[1]}",
                "tui_cpu_pct_of_one_core": round(tui_pct, 2),
                "top_cpu_pct_of_one_core": round(top_pct, 2),
                # psutil counts CPU time in clock ticks (10 ms): over 30 s top's share is a few ticks
                "cpu_ratio_to_top": round(tui_pct / top_pct, 1) if top_pct > 0 else None,
                "engine_cpu_pct": round(100 * ((e1.user + e1.system) - (e0.user + e0.system)) / elapsed, 2),
                "terminal_bytes_per_s": round(written / elapsed),
                "top_terminal_bytes_per_s": round(top_written / elapsed),
                "first_frame_s": round(first_frame, 3),
                "rss_mb": round(proc.memory_info().rss / 2**20),
                "streaming_shown": "▶ running" in screen,
            }
        finally:
            tmux(socket, "send-keys", "-t", "bench", "q")
            time.sleep(0.5)
            tmux(socket, "kill-server")
            top.close()


def _ok(result: dict[str, object]) -> bool:
    if not result["streaming_shown"]:
        return False
    if result["size"] != "160x50":
        return True
    ratio = result["cpu_ratio_to_top"]
    return (float(result["tui_cpu_pct_of_one_core"]) <= TARGET_CPU_PCT  # type: ignore[arg-type]
            and float(result["terminal_bytes_per_s"]) <= TARGET_BYTES_PER_S  # type: ignore[arg-type]
            and ratio is not None and float(ratio) <= TARGET_RATIO_TO_TOP)  # type: ignore[arg-type]


def main(seconds: float = MEASURE_S, sizes: list[tuple[int, int]] | None = None) -> dict[str, object]:
    load_before = os.getloadavg()
    with temp_lab(CONFIG) as (lab, env):
        asyncio.run(submit(lab))
        wait(lambda: asyncio.run(running(lab)) == RUNS, timeout=60, step=0.2)
        results = [measure(lab, env, size, seconds) for size in sizes or SIZES]
    return {"benchmark": "tui_idle_cpu", "ok": all(_ok(r) for r in results),
            "target": f"at 160x50 with {RUNS} runs streaming: <= {TARGET_CPU_PCT:g} % of one core, "
                      f"<= {TARGET_BYTES_PER_S // 1024} KB/s to the terminal, <= {TARGET_RATIO_TO_TOP:g}x top -d 1",
            "runs_streaming": RUNS,
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
