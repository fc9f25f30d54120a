"""Resident memory of an idle lab (target: under 100 MB in all), with the real experiments.

The lab's processes are the engine and, while there is work, its warm worker (torch, the
harness and codecarbon imported). Three moments are measured, each as the resident memory of
the engine's whole process tree (engine + worker; no run is active at any of them):

1. `fresh_idle`: an engine started `--settle` seconds ago, nothing ever queued;
2. `worker_up`: right after a smoke run ended (the worker that forked it still up: the cost
   of keeping it warm);
3. `idle_after_work`: `warm_idle_s` (set to `--idle` in config.toml) plus `--settle` seconds
   after that run, when the worker should have exited.

On a commit before the worker ran on demand, 1 and 3 include the worker (it started with the
engine and never left), so running this on both commits gives the side-by-side figures.

    python -m benchmarks.idle_footprint [--idle 10] [--settle 15] [--experiment logreg]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from benchmarks.common import machine, temp_lab, wait
from contract.jsonvalue import JsonObject
from engine.executors.warm import WORKER_MODULE

TARGET_MB = 100.0


def _lab(lab: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab), *args], env=env, check=True,
                          capture_output=True, text=True, timeout=600).stdout


@dataclass(frozen=True)
class Footprint:
    """The engine's and its worker's resident memory (MB), and its process tree's total."""

    total_mb: float
    engine_mb: float
    worker_mb: float | None
    processes: int


def footprint(engine_pid: int) -> Footprint:
    engine = psutil.Process(engine_pid)
    tree = [engine, *engine.children(recursive=True)]
    total = sum(p.memory_info().rss for p in tree if p.status() != psutil.STATUS_ZOMBIE)
    workers = [p for p in engine.children() if WORKER_MODULE in p.cmdline()]
    return Footprint(round(total / 2**20, 1), round(engine.memory_info().rss / 2**20, 1),
                     round(workers[0].memory_info().rss / 2**20, 1) if workers else None, len(tree))


def main(idle_s: float = 10.0, settle_s: float = 15.0, experiment: str = "logreg") -> JsonObject:
    config = f"[slots]\ncpu = 1\n\n[executor]\nwarm_idle_s = {idle_s:g}\n"
    with temp_lab(config, fake=False) as (lab, env):
        pid = int((lab / "engine.lock").read_text().strip())
        time.sleep(settle_s)
        fresh = footprint(pid)
        exp_id = json.loads(_lab(lab, env, "run", experiment, "-p", "profile=smoke", "--json"))["experiment_id"]
        wait(lambda: json.loads(_lab(lab, env, "show", str(exp_id), "--json"))["status"] in
             ("done", "failed", "cancelled"), timeout=900, step=0.5)
        up = footprint(pid)
        time.sleep(idle_s + settle_s)
        after = footprint(pid)
        status = _lab(lab, env, "status").splitlines()[1]
    return {"benchmark": "idle_footprint", "target": f"an idle lab under {TARGET_MB:g} MB resident in all",
            "ok": fresh.total_mb < TARGET_MB and after.total_mb < TARGET_MB,
            "fresh_idle": asdict(fresh), "worker_up": asdict(up), "idle_after_work": asdict(after), "lab_status": status,
            "warm_idle_s": idle_s, "settle_s": settle_s, "run": f"{experiment} profile smoke",
            "machine": machine()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.idle_footprint")
    parser.add_argument("--idle", type=float, default=10.0, help="[executor] warm_idle_s of the lab (s)")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds waited before each idle reading")
    parser.add_argument("--experiment", default="logreg", help="the catalog entry run once at profile smoke")
    args = parser.parse_args()
    print(json.dumps(main(args.idle, args.settle, args.experiment), indent=1))
