"""Drive the experiment programs as the lab does: subprocesses, spec files, events.jsonl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from contract.protocol import PROTOCOL
from tests import warmruns
from tests.timing import scaled

REPO = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update({"JOULELAB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "PYTHONPATH": str(REPO) + os.pathsep + e.get("PYTHONPATH", "")})
    return e


def cli(*args: str, cwd: Path | None = None, timeout: float = 120, warm: bool = False
        ) -> subprocess.CompletedProcess[str]:
    """`python -m experiments ARGS`, cold; `warm`: forked from the test process's warm worker
    (tests/warmruns.py), as the engine starts its runs, in `cwd` or a folder of its own."""
    if warm:
        with tempfile.TemporaryDirectory(prefix="jl-cli-") as own:
            return warmruns.worker(env(), REPO).run(["experiments", *args], cwd or Path(own), env(), scaled(timeout))
    return subprocess.run([sys.executable, "-m", "experiments", *args], cwd=cwd or REPO, env=env(),
                          capture_output=True, text=True, timeout=scaled(timeout))


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plan(name: str, params: dict[str, Any]) -> dict[str, Any]:
    proc = cli("plan", name, "--params", json.dumps(params), warm=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def run_spec(spec: dict[str, Any], run_dir: Path, timeout: float = 180, cold: bool = False
             ) -> subprocess.CompletedProcess[str]:
    """Write spec.json into ``run_dir`` and run it there, as the engine does: forked from a warm
    worker (tests/warmruns.py), or `cold`, a fresh `python -m experiments NAME --spec spec.json`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(json.dumps(spec))
    if not cold:
        return warmruns.worker(env(), REPO).run(["experiments", spec["name"], "--spec", "spec.json"], run_dir,
                                                env(), scaled(timeout))
    return subprocess.run([sys.executable, "-m", "experiments", spec["name"], "--spec", "spec.json"],
                          cwd=run_dir, env=env(), capture_output=True, text=True, timeout=scaled(timeout),
                          start_new_session=True)


def make_spec(name: str, plan_json: dict[str, Any], variant: dict[str, Any], seed: int, root: Path,
              deps: dict[str, dict[str, Any]], run_id: int = 1) -> dict[str, Any]:
    run_dir = root / variant["name"]
    return {"protocol": PROTOCOL, "run_id": run_id, "experiment_id": 1, "attempt": 1, "name": name,
            "variant": variant["name"], "seed": seed, "params": plan_json["params"],
            "variant_params": variant["params"], "profile": plan_json["params"]["profile"],
            "device": "cpu", "threads": 1, "output_dir": str(run_dir),
            "events_path": str(run_dir / "events.jsonl"), "cache_dir": str(root / "cache"),
            "dependencies": {d: deps[d] for d in variant["depends_on"]}}


def run_plan(name: str, params: dict[str, Any], root: Path, seed: int = 0,
             workers: int = 2) -> dict[str, dict[str, Any]]:
    """Run every variant of the plan in dependency order (independent ones two at a time), each
    as `python -m experiments NAME --spec spec.json`; returns per variant: rc, stderr, events, result."""
    p = plan(name, params)
    variants = {v["name"]: v for v in p["variants"]}
    done: dict[str, dict[str, Any]] = {}
    remaining = list(variants)
    with ThreadPoolExecutor(workers) as pool:
        while remaining:
            ready = [n for n in remaining if all(d in done for d in variants[n]["depends_on"])]
            assert ready, f"dependency cycle in {remaining}"
            deps = {n: {"run_id": i, "output_dir": str(root / n), "result": done[n].get("result")}
                    for i, n in enumerate(done)}
            specs = {n: make_spec(name, p, variants[n], seed, root, deps) for n in ready}
            futures = {n: pool.submit(run_spec, specs[n], root / n) for n in ready}
            for n, fut in futures.items():
                proc = fut.result()
                events = read_events(root / n / "events.jsonl") if (root / n / "events.jsonl").exists() else []
                results = [e for e in events if e["type"] == "result"]
                done[n] = {"rc": proc.returncode, "stderr": proc.stderr, "events": events,
                           "result": results[-1]["values"] if results else None}
                remaining.remove(n)
    return done


def run_and_rate(lab: Any, submissions: dict[str, tuple[str, ...]], variants: dict[str, set[str]]) -> dict[str, int]:
    """Submit each entry at `smoke` with its parameters (one seed) through the real engine, check it
    is done with exactly the expected variants, each run's result its own, and rated; returns the
    experiment ids."""
    lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "experiments"  # the real catalog, not the stand-in
    ids = {name: lab.submit(name, "profile=smoke", *params, seeds=1) for name, params in submissions.items()}
    for name, exp_id in ids.items():
        exp = lab.wait_experiment(exp_id, timeout=900)
        assert exp["status"] == "done", (name, exp["error"])
        runs = {r["variant"]: r for r in lab.run_rows(exp_id)}
        assert set(runs) == variants[name], name
        for variant, run in runs.items():
            result = json.loads(run["result"])
            assert result["variant"] == variant and result["profile"] == "smoke", (name, variant)
        rated = lab.wait_for(lambda i=exp_id: lab.experiment(i)["rating"], 120, f"the rating of {name}")
        assert 1 <= rated <= 6, name  # smoke runs and one seed never rate above 6
    return ids
