"""The whole catalog at the `default` profile, 3 seeds, through the engine on this machine.

Targets: drains in under 15 minutes wall time (issue 3), under 5 minutes with warm workers
(issue 14), with over 90 % of the cores busy while it drains. Every catalog entry is queued at
once (2 CPU slots, one thread per run), the engine runs, validates and records everything, and
the benchmark samples the machine's CPU use every second until the last experiment is done.
`--keep DIR` keeps the lab (for RESULTS.md); `--cold` starts every run in a fresh interpreter
(`[executor] warm = false`); `--compare` drains twice, warm then cold, and reports both.

    python -m benchmarks.catalog_drain [--keep DIR] [--seeds 3] [--profile default] [--cold | --compare]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import machine

FINISHED = ("done", "failed", "cancelled")


def lab(lab_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", "--dir", str(lab_dir), *args],
                          capture_output=True, text=True, check=True)


def drain(lab_dir: Path, seeds: int, profile: str, warm: bool = True) -> dict[str, object]:
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / "config.toml").write_text("[slots]\ncpu = 2\n\n[runs]\ntimeout_s = 900\n\n"
                                         f"[executor]\nwarm = {'true' if warm else 'false'}\n")
    load_before = [round(x, 2) for x in os.getloadavg()]
    names = [e["name"] for e in json.loads(lab(lab_dir, "list", "--json").stdout)]
    lab(lab_dir, "engine", "start")
    psutil.cpu_percent(None)
    start = time.monotonic()
    ids = [json.loads(lab(lab_dir, "run", name, "-p", f"profile={profile}", "--seeds", str(seeds),
                          "--json").stdout)["experiment_id"] for name in names]
    busy: list[float] = []
    while True:
        time.sleep(1.0)
        busy.append(psutil.cpu_percent(None))
        status = json.loads(lab(lab_dir, "status", "--json").stdout)
        waiting = status["running_runs"] or status["queued_runs"]
        states = status["experiments"]
        if not waiting and sum(states.get(s, 0) for s in FINISHED) == len(ids):
            break
    wall = time.monotonic() - start
    lab(lab_dir, "engine", "stop")
    runs = [r for i in ids for r in json.loads(lab(lab_dir, "show", str(i), "--json").stdout)["runs"]]
    target_s = 300 if warm else 900
    return {"benchmark": "catalog_default_3_seeds", "runs_start": "warm" if warm else "cold",
            "experiments": len(ids), "runs": len(runs),
            "run_states": {s: sum(r["status"] == s for r in runs) for s in sorted({r["status"] for r in runs})},
            "wall_s": round(wall, 1), "wall_min": round(wall / 60, 2),
            "cpu_busy_pct_mean": round(sum(busy) / len(busy), 1),
            "cpu_busy_pct_median": round(sorted(busy)[len(busy) // 2], 1),
            "target": f"wall < {target_s // 60} min, CPU busy > 90 %",
            "ok": wall < target_s and sum(busy) / len(busy) > 90, "load_avg_before": load_before,
            "machine": machine(), "lab": str(lab_dir)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalog_drain")
    parser.add_argument("--keep", default=None, help="lab directory to create and keep")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--cold", action="store_true", help="no warm worker: every run starts cold")
    parser.add_argument("--compare", action="store_true", help="drain warm, then cold; report both")
    args = parser.parse_args(argv if argv is not None else [])
    if args.compare:
        results = [_drain_once(args.keep and f"{args.keep}-{kind}", args.seeds, args.profile, kind == "warm")
                   for kind in ("warm", "cold")]
        return {"benchmark": "catalog_default_3_seeds_warm_vs_cold", "warm": results[0], "cold": results[1],
                "speedup": round(float(results[1]["wall_s"]) / float(results[0]["wall_s"]), 2),  # type: ignore[arg-type]
                "ok": bool(results[0]["ok"])}
    return _drain_once(args.keep, args.seeds, args.profile, not args.cold)


def _drain_once(keep: str | None, seeds: int, profile: str, warm: bool) -> dict[str, object]:
    if keep:
        return drain(Path(keep).resolve(), seeds, profile, warm)
    tmp = Path(tempfile.mkdtemp(prefix="joulelab-catalog-"))
    try:
        return drain(tmp / "lab", seeds, profile, warm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
