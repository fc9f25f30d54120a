"""The whole catalog at the `default` profile through the engine on this machine.

Targets: at 5 seeds it drains in under 20 minutes wall time (issue 10, with the learning-rate
grids and matched controls); at 3 seeds in under 5 minutes with warm workers (issue 14) and 15
cold (issue 3); over 90 % of the cores busy while it drains. Every catalog entry is queued at once
(2 CPU slots, one thread per run), the engine runs, validates and records everything, and the
benchmark samples the machine's CPU use every second until the last experiment is done, and
reads the CPU seconds of the engine and everything it started (`lab_cpu_s`: runs, worker,
validators, reports), which other jobs on a shared machine do not inflate. `--keep
DIR` keeps the lab (for RESULTS.md); `--cold` starts every run in a fresh interpreter
(`[executor] warm = false`); `--compare` drains twice, warm then cold, and reports both.

    python -m benchmarks.catalog_drain [--keep DIR] [--seeds 5] [--profile default] [--cold | --compare]
                                       [--entries a,b] [--lm]

The image-classification catalog is the default (the entries whose dataset is not text); the
language-model entries have their own time targets (issues 11 and 12): `--lm` adds them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import machine
from engine.procs import tree_cpu_s

FINISHED = ("done", "failed", "cancelled")


def lab(lab_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab_dir), *args],
                          capture_output=True, text=True, check=True)


def entries(lab_dir: Path, only: list[str] | None, with_lm: bool) -> list[str]:
    """The entries to queue: `only` as given, else the catalog (language models only if asked)."""
    listed = json.loads(lab(lab_dir, "list", "--json").stdout)
    if only:
        unknown = sorted(set(only) - {e["name"] for e in listed})
        if unknown:
            raise SystemExit(f"no catalog entry {', '.join(unknown)} (see `lab list`)")
        return only
    return [e["name"] for e in listed if with_lm or not is_language_model(e)]


def is_language_model(entry: dict[str, object]) -> bool:
    """An entry of the language-model harness: its dataset is text (Tiny Shakespeare)."""
    params = entry.get("params") or []
    return isinstance(params, list) and any(
        p["name"] == "dataset" and "tinyshakespeare" in (p.get("choices") or [])
        for p in params if isinstance(p, dict))


def drained(db: Path, ids: list[int]) -> bool:
    """No run waits or runs and every experiment is finished: read straight from the database
    (a `lab status` every second would cost the drain a tenth of a core)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        waiting: int = conn.execute("SELECT COUNT(*) FROM runs WHERE status IN ('pending', 'queued', 'running')").fetchone()[0]
        marks = ",".join("?" * len(ids))
        finished: int = conn.execute(f"SELECT COUNT(*) FROM experiments WHERE id IN ({marks}) AND status IN "
                                f"({','.join('?' * len(FINISHED))})", (*ids, *FINISHED)).fetchone()[0]
    finally:
        conn.close()
    return waiting == 0 and finished == len(ids)


def starts(lab_dir: Path) -> dict[str, int]:
    """How the runs started, from the engine's log: forked from the warm worker or cold (before
    the worker is ready, runs wait for it up to 20 s and then start cold)."""
    found = re.findall(r"\) started on \S+ \((\w[\w-]*), ", (lab_dir / "engine.log").read_text(errors="replace"))
    return {how: found.count(how) for how in sorted(set(found))}


def target_s(seeds: int, warm: bool) -> int | None:
    """The wall-time target of a drain of `seeds` seeds, if an issue set one."""
    return {3: 300 if warm else 900, 5: 1200}.get(seeds)


def drain(lab_dir: Path, seeds: int, profile: str, warm: bool = True, only: list[str] | None = None,
          with_lm: bool = False) -> dict[str, object]:
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / "config.toml").write_text("[slots]\ncpu = 2\n\n[runs]\ntimeout_s = 900\n\n"
                                         f"[executor]\nwarm = {'true' if warm else 'false'}\n")
    load_before = [round(x, 2) for x in os.getloadavg()]
    names = entries(lab_dir, only, with_lm)
    lab(lab_dir, "engine", "start")
    psutil.cpu_percent(None)
    start = time.monotonic()
    ids = [json.loads(lab(lab_dir, "run", name, "-p", f"profile={profile}", "--seeds", str(seeds),
                          "--json").stdout)["experiment_id"] for name in names]
    busy: list[float] = []
    while True:
        time.sleep(1.0)
        busy.append(psutil.cpu_percent(None))
        if drained(lab_dir / "lab.db", ids):
            break
    wall = time.monotonic() - start
    engine_pid = json.loads(lab(lab_dir, "status", "--json").stdout)["engine"]["pid"]
    cpu_s = tree_cpu_s(int(engine_pid)) if engine_pid else None
    lab(lab_dir, "engine", "stop")
    runs = [r for i in ids for r in json.loads(lab(lab_dir, "show", str(i), "--json").stdout)["runs"]]
    target = target_s(seeds, warm)
    mean_busy = sum(busy) / len(busy)
    return {"benchmark": f"catalog_{profile}_{seeds}_seeds", "runs_start": "warm" if warm else "cold",
            "experiments": len(ids), "runs": len(runs),
            "run_states": {s: sum(r["status"] == s for r in runs) for s in sorted({r["status"] for r in runs})},
            "wall_s": round(wall, 1), "wall_min": round(wall / 60, 2),
            "cpu_busy_pct_mean": round(mean_busy, 1),
            "lab_cpu_s": round(cpu_s, 1) if cpu_s is not None else None, "started": starts(lab_dir),
            "cpu_busy_pct_median": round(sorted(busy)[len(busy) // 2], 1),
            "target": f"wall < {target // 60} min, CPU busy > 90 %" if target else "CPU busy > 90 %",
            "ok": (target is None or wall < target) and mean_busy > 90, "load_avg_before": load_before,
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "machine": machine(), "lab": str(lab_dir)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catalog_drain")
    parser.add_argument("--keep", default=None, help="lab directory to create and keep")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--cold", action="store_true", help="no warm worker: every run starts cold")
    parser.add_argument("--compare", action="store_true", help="drain warm, then cold; report both")
    parser.add_argument("--entries", default="", help="comma-separated entries (default: the catalog)")
    parser.add_argument("--lm", action="store_true", help="include the language-model entries")
    args = parser.parse_args(argv if argv is not None else [])
    only = [n.strip() for n in args.entries.split(",") if n.strip()] or None
    if args.compare:
        results = [_drain_once(args.keep and f"{args.keep}-{kind}", args.seeds, args.profile, kind == "warm",
                               only, args.lm) for kind in ("warm", "cold")]
        return {"benchmark": f"catalog_{args.profile}_{args.seeds}_seeds_warm_vs_cold", "warm": results[0],
                "cold": results[1],
                "speedup": round(float(results[1]["wall_s"]) / float(results[0]["wall_s"]), 2),  # type: ignore[arg-type]
                "ok": bool(results[0]["ok"])}
    return _drain_once(args.keep, args.seeds, args.profile, not args.cold, only, args.lm)


def _drain_once(keep: str | None, seeds: int, profile: str, warm: bool, only: list[str] | None,
                with_lm: bool) -> dict[str, object]:
    if keep:
        return drain(Path(keep).resolve(), seeds, profile, warm, only, with_lm)
    tmp = Path(tempfile.mkdtemp(prefix="joulelab-catalog-"))
    try:
        return drain(tmp / "lab", seeds, profile, warm, only, with_lm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
