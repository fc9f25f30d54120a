"""Enqueue-to-spawn latency while the engine is idle (target: median under 50 ms).

From the commit of a new approved experiment (one run, no dependencies) by a client to the
first line the run's program writes (its `t`, taken right after the stand-in program's
interpreter started). That includes the Python start-up of the run process itself (about 15 ms
here), so it is an upper bound on the spawn latency. The engine's own share, commit to the
persisted start decision (`runs.started_at`, written just before the fork), is reported too.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

from benchmarks.common import machine, temp_lab, wait
from db import ExperimentState, NewExperiment, Store
from science.catalog import Catalog

SAMPLES = 20
SETTLE_S = 0.5


async def measure(lab: Path) -> tuple[list[float], list[float]]:
    plan = Catalog("fakeexp").plan("fake", {"steps": 1})
    store = await Store.open(lab / "lab.db")
    latencies: list[float] = []
    decisions: list[float] = []
    try:
        for _ in range(SAMPLES):
            await asyncio.sleep(SETTLE_S)  # the engine idle: nothing running, validating or committing
            committed = time.time()
            exp_id = await store.create_experiment(
                NewExperiment(name="bench", catalog="fake", params=plan.params, plan=plan.variants),
                status=ExperimentState.APPROVED)
            committed_end = time.time()

            def first_event(exp_id: int = exp_id) -> float | None:
                path = lab / "runs" / str(exp_id) / "events.jsonl"
                try:
                    line = path.read_text().split("\n", 1)[0]
                    return json.loads(line)["t"] if line else None
                except (OSError, ValueError):
                    return None

            deadline = time.monotonic() + 10
            while (first := first_event()) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            assert first is not None, "the run never started"
            run = (await store.list_runs(exp_id))[0]
            latencies.append((first - committed) * 1000)
            assert run.started_at is not None, "a run that started has its start time"
            decisions.append((run.started_at - committed) * 1000)
            # every finished experiment is validated, reported and committed in the background:
            # wait for all of that before the next sample, so each one meets an idle engine
            while not getattr(await store.get_experiment(exp_id), "git_sha", None):
                if time.monotonic() > deadline + 60:
                    raise TimeoutError(f"experiment {exp_id} was never committed")
                await asyncio.sleep(0.05)
            del committed_end
    finally:
        await store.close()
    return latencies, decisions


def main() -> dict[str, object]:
    with temp_lab("[slots]\ncpu = 2\n") as (lab, _env):
        wait(lambda: (lab / "lab.db").exists())
        latencies, decisions = asyncio.run(measure(lab))
    median_ms = round(statistics.median(latencies), 1)
    result: dict[str, object] = {
        "benchmark": "enqueue_to_spawn_ms", "samples": len(latencies), "median_ms": median_ms,
        "engine_decision_median_ms": round(statistics.median(decisions), 1),
        "p90_ms": round(sorted(latencies)[int(0.9 * len(latencies)) - 1], 1),
        "max_ms": round(max(latencies), 1), "target": "median < 50 ms", "machine": machine()}
    result["ok"] = median_ms < 50
    return result


if __name__ == "__main__":
    print(main())
