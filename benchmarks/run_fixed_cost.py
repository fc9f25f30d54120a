"""Per-run fixed cost, cold against warm, measured side by side.

A run's fixed cost is what it pays besides its work: from the moment the engine starts it to
its first training step, plus from its result to its exit. The first training step is taken as
the run's first metric event (written after a few steps and one evaluation, so the figure is an
upper bound). Both paths are the engine's own: `engine.detached_run.spawn` (cold: `python -m
experiments ...` in a fresh interpreter) and `engine.executors.warm.WarmWorker.fork` (warm: a
fork of a worker that imported torch, the harness and codecarbon). Runs alternate cold, warm,
cold, ... so load on the machine hits both alike; medians are reported. `run_cpu_s` is the run
process's whole CPU time (start, work and exit; its own subprocesses included), which a loaded
machine does not inflate the way it does wall times.

    python -m benchmarks.run_fixed_cost [--runs 10] [--experiment pruning] [--variant dense]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import machine
from contract import runfiles
from contract.jsonvalue import JsonObject
from contract.params import ParamValues
from contract.protocol import PROTOCOL
from contract.runspec import RunSpec
from engine import detached_run, procs
from engine.executors.warm import WarmWorker, WorkerState
from engine.runenv import run_environment

TARGET_S = 0.3


def _variant_params(experiment: str, variant: str) -> ParamValues:
    """The variant's own parameters, from the catalog's smoke plan (as the lab's spec carries them)."""
    from experiments.catalog import get

    exp = get(experiment)
    assert exp is not None, f"no experiment {experiment}"
    plan = {v.name: v.params for v in exp.plan(exp.validate({"profile": "smoke"}))}
    return dict(plan[variant])


def _spec(run_dir: Path, experiment: str, variant: str, seed: int) -> RunSpec:
    return RunSpec.from_json({"protocol": PROTOCOL, "run_id": seed, "experiment_id": 1, "attempt": 1,
                              "name": experiment, "variant": variant, "seed": seed, "params": {"profile": "smoke"},
                              "variant_params": _variant_params(experiment, variant),
                              "profile": "smoke", "device": "cpu", "threads": 1,
                              "output_dir": str(run_dir), "events_path": str(run_dir / runfiles.EVENTS),
                              "dependencies": {}, "cache_dir": None})


def _timings(run_dir: Path, spawned_at: float, exited_at: float, cpu_s: float) -> dict[str, float]:
    events = [json.loads(line) for line in (run_dir / runfiles.EVENTS).read_text().splitlines()]
    first_metric = next(e["t"] for e in events if e["type"] in ("metric", "progress"))
    result = next(e for e in events if e["type"] == "result")
    start = first_metric - spawned_at
    teardown = exited_at - result["t"]
    return {"fixed_s": start + teardown, "start_s": start, "teardown_s": teardown,
            "first_event_s": events[0]["t"] - spawned_at, "wall_s": exited_at - spawned_at,
            "train_time_s": float(result["values"].get("train_time_s") or 0.0), "run_cpu_s": cpu_s}


async def _cold(run_dir: Path, experiment: str, env: dict[str, str]) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    spawned = detached_run.spawn(run_dir, "experiments", experiment, env)
    while spawned.process.poll() is None:
        await asyncio.sleep(0.002)
    t1 = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run, reaped: its whole CPU time
    assert spawned.process.returncode == 0, detached_run.last_error_line(run_dir)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return _timings(run_dir, t0, t1, cpu_s)


async def _warm(worker: WarmWorker, run_dir: Path, experiment: str, env: dict[str, str]) -> dict[str, float]:
    t0 = time.time()
    pid, started = await worker.fork(run_dir, ["experiments", experiment, "--spec", runfiles.SPEC], env)
    cpu_s = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        run = psutil.Process(pid)
        while procs.is_same_process(pid, started):
            t = run.cpu_times()  # the worker reaps the fork, so its last reading is its CPU time
            cpu_s = t.user + t.system + t.children_user + t.children_system
            await asyncio.sleep(0.002)
    while procs.is_same_process(pid, started):
        await asyncio.sleep(0.002)
    t1 = time.time()
    assert detached_run.recorded_exit_code(run_dir) == 0, detached_run.last_error_line(run_dir)
    return _timings(run_dir, t0, t1, cpu_s)


def _median(rows: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 3)


async def measure(runs: int, experiment: str, variant: str) -> JsonObject:
    tmp = Path(tempfile.mkdtemp(prefix="joulelab-fixed-"))
    env = run_environment(threads=1, cuda_device=None, cache_dir=str(tmp / "cache"))
    load_before = os.getloadavg()
    worker = WarmWorker("experiments", (), cwd=tmp)
    t0 = time.monotonic()
    worker.start()
    try:
        while worker.state != WorkerState.READY:
            await asyncio.sleep(0.05)
            if time.monotonic() - t0 > 600:
                raise RuntimeError("the warm worker did not get ready")
        worker_ready_s = time.monotonic() - t0
        cold: list[dict[str, float]] = []
        warm: list[dict[str, float]] = []
        for i in range(runs * 2):
            run_dir = tmp / f"run{i}"
            detached_run.write_spec(run_dir, _spec(run_dir, experiment, variant, i // 2))
            if i % 2 == 0:
                cold.append(await _cold(run_dir, experiment, env))
            else:
                warm.append(await _warm(worker, run_dir, experiment, env))
    finally:
        await worker.close()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {kind: {key: _median(rows, key) for key in rows[0]} for kind, rows in (("cold", cold), ("warm", warm))}
    return {"benchmark": "run_fixed_cost", "experiment": f"{experiment}/{variant} profile smoke, 1 thread",
            "runs_each": runs, "median": summary,
            "warm_fixed_s_all": [round(r["fixed_s"], 3) for r in warm],
            "cold_fixed_s_all": [round(r["fixed_s"], 3) for r in cold],
            "speedup": round(summary["cold"]["fixed_s"] / summary["warm"]["fixed_s"], 1),
            "worker_ready_s": round(worker_ready_s, 1),
            "worker": None if worker.info is None else dataclasses.asdict(worker.info),
            "target": f"warm fixed cost <= {TARGET_S} s", "ok": summary["warm"]["fixed_s"] <= TARGET_S,
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()], "machine": machine()}


def main(argv: list[str] | None = None) -> JsonObject:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_fixed_cost")
    parser.add_argument("--runs", type=int, default=10, help="runs of each kind")
    parser.add_argument("--experiment", default="pruning")
    parser.add_argument("--variant", default="dense")
    args = parser.parse_args(argv if argv is not None else [])
    return asyncio.run(measure(args.runs, args.experiment, args.variant))


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=1))
