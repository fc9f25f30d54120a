"""A fixture lab for the control room's tests and screenshots, built with the Store at fixed
times: rated, running, failed and waiting experiments, runs with curves, agent messages (one
still streaming), system samples, an engine row. No engine runs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from contract.experiment_metadata import ExperimentMetadata, ResearchNote
from contract.layout import LabDir
from db import ExperimentState as E
from db import IngestBatch, NewExperiment, RunDefaults, Store
from db import RunState as R

T0 = 1_750_000_000.0          # "now" in every fixture and snapshot: 2025-06-15 15:06:40 UTC
ENGINE_PID = 424242


class FrozenTime:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@contextlib.contextmanager
def frozen(t: float) -> Iterator[FrozenTime]:
    clock = FrozenTime(t)
    with mock.patch.object(time, "time", clock):
        yield clock


def plan(*names: str, deps: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    deps = deps or {}
    return [{"name": n, "baseline": i == 0, "depends_on": deps.get(n, []), "params": {}} for i, n in enumerate(names)]


BREAKDOWN = {
    # marked a finding (issue 22's mark), so the screenshots show findings; the preliminary mark of
    # the control room is tested in tests/tui/test_tui_units.py
    "rating": 7, "rubric_version": 1, "preliminary": False,
    "criteria": [
        {"id": "executed", "label": "executed fully", "points": 1, "max": 1, "evidence": "6 of 6 runs succeeded"},
        {"id": "significant", "label": "significant vs baseline", "points": 2, "max": 3,
         "evidence": "p = 0.04 on 3 seeds"},
        {"id": "efficient", "label": "more efficient", "points": 4, "max": 6, "evidence": "E = 2.4"},
    ],
    "baseline": "dense", "gain_phase": "inference",
    "keys": {"quality": "test_accuracy", "energy": "energy_inference_kwh", "time": "latency_b1_ms",
             "size": "model_size_bytes"},
    "variants": {"magnitude-50": {"n": 3, "quality": {"mean": 0.962, "std": 0.004, "ci95": [0.952, 0.972]},
                                  "quality_delta": {"mean": -0.002, "ci95": [-0.011, 0.007]},
                                  "p_value": 0.61, "effect_size": -0.45, "efficiency_score": 2.4,
                                  "speedup": 1.8, "compression": 3.9, "energy_estimated": True,
                                  "deliverables_met": True}},
    "headline": {"variant": "magnitude-50", "efficiency_score": 2.4, "speedup": 1.8, "compression": 3.9,
                 "quality_delta": -0.002, "quality_delta_ci95": [-0.011, 0.007], "energy_estimated": True},
    "deliverables": [{"kind": "contains_keys", "ok": True, "detail": "test_accuracy, model_size_bytes present"}],
    "findings": ["magnitude-50 keeps accuracy within 0.2 points (95 % CI -1.1..0.7) at 3.9x smaller size"],
}


def result(seed: int, acc: float, variant_scale: float = 1.0) -> dict[str, Any]:
    return {"test_accuracy": acc + 0.003 * seed, "train_time_s": 41.0 * variant_scale + seed,
            "latency_b1_ms": 0.42 * variant_scale, "model_size_bytes": int(1_200_000 * variant_scale),
            "energy_kwh": 0.0021 * variant_scale, "energy_mode": "estimated", "co2_kg": 0.0008 * variant_scale}


async def _finish_run(store: Store, clock: FrozenTime, run_id: int, lab: LabDir, *, values: dict[str, Any] | None,
                      steps: int = 30, status: R = R.SUCCEEDED, error: str | None = None, duration: float = 60) -> None:
    run_dir = lab.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    attempt = await store.start_run(run_id, device="cpu0", run_dir=str(run_dir))
    metrics = [(s, k, v, clock.t) for s in range(steps)
               for k, v in (("train_loss", 2.3 * 0.9 ** s + 0.05), ("val_accuracy", 0.96 - 0.8 * 0.85 ** s))]
    clock.t += duration
    batch = IngestBatch(run_id, attempt, 0, 100, metrics=metrics, progress=(steps, steps), result=values,
                        logs=[("info", f"run {run_id} finished its {steps} steps")])
    await store.ingest(batch)
    (run_dir / "stderr").write_text(f"epoch {steps}/{steps} loss 0.081\n" if not error else f"Traceback...\n{error}\n")
    (run_dir / "stdout").write_text("training done\n")
    await store.finish_run(run_id, status, exit_code=0 if status == R.SUCCEEDED else 3, error=error)


async def build(root: Path, *, gpus: bool = False) -> LabDir:
    """Create the fixture lab in `root` (which must not exist yet)."""
    lab = LabDir(root).ensure()
    with frozen(T0 - 6 * 3600) as clock:
        store = await Store.open(lab.db)
        try:
            await _build(store, lab, clock, gpus)
        finally:
            await store.close()
    return lab


async def _build(store: Store, lab: LabDir, clock: FrozenTime, gpus: bool) -> None:
    defaults = RunDefaults(timeout_s=3600, max_attempts=2)
    # 1: pruning, done and rated 7
    e1 = await store.create_experiment(NewExperiment(
        name="prune-mlp", catalog="pruning", params={"sparsities": [0.5], "epochs": 30, "profile": "default"},
        plan=plan("dense", "magnitude-50", deps={"magnitude-50": ["dense"]}), seeds=3,
        hypothesis="Half the weights of the MLP can go with under 1 point of accuracy lost.",
        research_question="How much of the digits MLP is redundant?"), status=E.APPROVED, run_defaults=defaults)
    for run in await store.list_runs(e1):
        scale = 1.0 if run.variant == "dense" else 0.55
        await _finish_run(store, clock, run.id, lab, values=result(run.seed, 0.962, scale))
    await store.set_experiment_status(e1, E.DONE)
    await store.update_experiment(e1, rating=7, rating_breakdown=BREAKDOWN, git_sha="3f2a9c1d7e")
    clock.t += 600
    # 2: quantization, done and rated 5
    e2 = await store.create_experiment(NewExperiment(
        name="int8-ptq", catalog="quantization", params={"bits": 8, "profile": "default"},
        plan=plan("fp32", "int8", deps={"int8": ["fp32"]}), seeds=1,
        hypothesis="int8 post-training quantization halves latency."), status=E.APPROVED, run_defaults=defaults)
    for run in await store.list_runs(e2):
        await _finish_run(store, clock, run.id, lab, values=result(0, 0.951, 0.5 if run.variant == "int8" else 1))
    await store.set_experiment_status(e2, E.DONE)
    bd = {**BREAKDOWN, "rating": 5, "headline": {"variant": "int8", "efficiency_score": 1.3, "speedup": 2.1,
                                                 "compression": 3.7, "quality_delta": -0.013,
                                                 "quality_delta_ci95": [-0.024, -0.002], "energy_estimated": False}}
    await store.update_experiment(e2, rating=5, rating_breakdown=bd)
    clock.t += 600
    # 3: batch size, failed
    e3 = await store.create_experiment(NewExperiment(
        name="bs-sweep", catalog="batch_size", params={"batch_sizes": [32, 512]}, plan=plan("bs32", "bs512"),
        seeds=1), status=E.APPROVED, run_defaults=defaults)
    for run in await store.list_runs(e3):
        await _finish_run(store, clock, run.id, lab, values=None, status=R.FAILED,
                          error="exit code 3: RuntimeError: CUDA out of memory", steps=3, duration=20)
    await store.set_experiment_status(e3, E.FAILED, error="no run succeeded")
    clock.t = T0 - 1800
    # 4: mixed precision, running: two succeeded, one running at 40 %, one queued
    e4 = await store.create_experiment(NewExperiment(
        name="amp-bf16", catalog="mixed_precision", params={"dtypes": ["fp32", "bf16"], "epochs": 20},
        plan=plan("fp32", "bf16"), seeds=2, hypothesis="bf16 autocast trains 1.6x faster on CPU.",
        research_question="Does bf16 autocast pay off without a GPU?"), status=E.APPROVED, run_defaults=defaults)
    runs = await store.list_runs(e4)
    for run in runs[:2]:
        await _finish_run(store, clock, run.id, lab, values=result(run.seed, 0.955))
    clock.t = T0 - 300
    running = runs[2].id
    run_dir = lab.run_dir(running)
    run_dir.mkdir(parents=True, exist_ok=True)
    attempt = await store.start_run(running, device="cpu1", run_dir=str(run_dir))
    metrics = [(s, k, v, clock.t) for s in range(40)
               for k, v in (("train_loss", 2.3 * 0.92 ** s + 0.1), ("val_accuracy", 0.95 - 0.8 * 0.9 ** s))]
    clock.t = T0 - 1
    await store.ingest(IngestBatch(running, attempt, 0, 100, metrics=metrics, progress=(40, 100)))
    (run_dir / "stderr").write_text("".join(f"epoch {i}/100 loss {2.3 * 0.92 ** i + 0.1:.3f}\n" for i in range(40)))
    # 5, 6: proposals waiting, 5 a follow-up of 1
    clock.t = T0 - 900
    await store.create_experiment(NewExperiment(
        name="prune-70", catalog="pruning", params={"sparsities": [0.5, 0.7], "epochs": 40, "profile": "default"},
        plan=plan("dense", "magnitude-50", "magnitude-70", deps={"magnitude-50": ["dense"], "magnitude-70": ["dense"]}),
        seeds=3, parent_id=e1, source="researcher",
        hypothesis="70 % sparsity still keeps accuracy within 1 point, doubling the compression.",
        research_question="Where does magnitude pruning of the MLP start to hurt?",
        metadata=ExperimentMetadata(research=ResearchNote(evidence=(
            "#1: magnitude-50 lost 0.2 points (CI -1.1..0.7) at 3.9x compression",
            "Han et al. 2015 report 9x on LeNet without loss")))),
        status=E.AWAITING_APPROVAL)
    clock.t = T0 - 600
    await store.create_experiment(NewExperiment(
        name="kd-small", catalog="distillation", params={"temperature": 4.0, "alpha": 0.5},
        plan=plan("teacher", "student", deps={"student": ["teacher"]}), seeds=2, source="researcher",
        hypothesis="A 4x smaller student keeps 98 % of the teacher's accuracy."), status=E.AWAITING_APPROVAL)
    # messages
    clock.t = T0 - 1000
    for agent, kind, text, exp in (
            ("researcher", "proposal", "Magnitude pruning at 50 % cost 0.2 points; try 70 % next.", 5),
            ("architect", "plan", "Plan: dense baseline, magnitude-50 and magnitude-70, 3 seeds each.", 5),
            ("coder", "spec", "Spec ready: pruning with sparsities [0.5, 0.7], 40 epochs.", 5),
            ("validator", "verdict", "#1 rated 7/10: E 2.4 at 3.9x compression, energy estimated.", 1),
            ("lab", "notice", "no LLM endpoint configured: using the offline backend.", None)):
        clock.t += 30
        await store.add_message(agent, text, experiment_id=exp, kind=kind)
    clock.t = T0 - 2
    msg = await store.add_message("researcher", "Distillation could cut inference energy by", experiment_id=6,
                                  streaming=True)
    await store.update_message(msg, append=" 4x if the student keeps")
    # system, energy, engine
    gpu_rows = [{"index": 0, "name": "NVIDIA A100-SXM4-40GB", "util_pct": 63.0, "mem_used_bytes": 9 * 2**30,
                 "mem_total_bytes": 40 * 2**30, "power_w": 212.0, "temp_c": 61.0}] if gpus else []
    clock.t = T0 - 1
    await store.add_system_sample(37.5, int(3.2 * 2**30), int(7.8 * 2**30), gpu_rows)
    clock.t = T0 - 6 * 3600
    await store.engine_started(ENGINE_PID, "fixture-host", "0.1.0")
    clock.t = T0 - 1
    await store.engine_heartbeat(ENGINE_PID)


def build_sync(root: Path, **kwargs: Any) -> LabDir:
    return asyncio.run(build(root, **kwargs))


class FakeEngine:
    """The engine as the control room sees it, without a process."""

    def __init__(self, running: bool = True, pid: int = ENGINE_PID) -> None:
        self.running = running
        self.pid = pid
        self.starts = 0

    def probe(self) -> int | None:
        return self.pid if self.running else None

    def start(self) -> int:
        self.starts += 1
        self.running = True
        return self.pid
