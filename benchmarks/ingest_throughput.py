"""Metric ingest throughput from events files into SQLite (target: >= 100,000 points/s sustained).

Four events files of 250,000 metric points each (10 values per line) are ingested through the
engine's own path, `engine.ingest.read_batch` + `Store.ingest`, into a real lab.db in WAL mode.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine
from contract.plan import PlanStep
from db import ExperimentState, NewExperiment, Store
from engine.ingest import read_batch

RUNS = 4
LINES_PER_RUN = 25_000
VALUES_PER_LINE = 10


def write_events(path: Path) -> int:
    keys = [f"metric_{i}" for i in range(VALUES_PER_LINE)]
    with open(path, "w") as fh:
        for step in range(LINES_PER_RUN):
            fh.write(json.dumps({"type": "metric", "step": step, "t": 1.7e9 + step,
                                 "values": {k: step * 0.001 + i for i, k in enumerate(keys)}}) + "\n")
    return LINES_PER_RUN * VALUES_PER_LINE


async def ingest_all(tmp: Path, files: list[Path]) -> tuple[float, int]:
    store = await Store.open(tmp / "lab.db")
    plan = (PlanStep("baseline", baseline=True),)
    exp_id = await store.create_experiment(NewExperiment(name="bench", catalog="fake", params={}, plan=plan,
                                                         seeds=RUNS), status=ExperimentState.APPROVED)
    runs = await store.list_runs(exp_id)
    for run in runs:
        await store.start_run(run.id, device="cpu", run_dir=str(tmp))
    start = time.perf_counter()
    for run, path in zip(runs, files):
        offset = 0
        while (batch := read_batch(path, run.id, 1, offset)) is not None:
            await store.ingest(batch)
            offset = batch.offset_to
    elapsed = time.perf_counter() - start
    count = await store.metric_count()
    await store.close()
    return elapsed, count


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="joulelab-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        files = [tmp / f"events-{i}.jsonl" for i in range(RUNS)]
        total = sum(write_events(f) for f in files)
        elapsed, count = asyncio.run(ingest_all(tmp, files))
    assert count == total, f"ingested {count} of {total} points"
    rate = total / elapsed
    return {"benchmark": "metric_ingest_points_per_s", "points": total, "seconds": round(elapsed, 2),
            "points_per_s": round(rate), "target": ">= 100000 points/s", "ok": rate >= 100_000,
            "machine": machine()}


if __name__ == "__main__":
    print(main())
