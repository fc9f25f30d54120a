"""The engine's duties one by one (engine/scheduler.py, launcher.py, watcher.py, finisher.py),
against a real store in a temporary lab; the engine end to end is tests/engine/test_runs_end_to_end.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from contract.diskspace import DiskWatch
from contract.layout import LabDir
from contract.protocol import PROTOCOL
from contract.runspec import Dependency
from db import ExperimentState as E
from db import NewExperiment, Run, RunDefaults, Store
from db import RunState as R
from engine.config import SlotConfig
from engine.executors import Exit
from engine.finisher import ExperimentFinisher
from engine.launcher import build_spec
from engine.scheduler import NO_GPU, Scheduler, place
from engine.slots import Slots
from engine.watcher import settle
from tests import rows as store_rows

PLAN = [{"name": "base", "baseline": True, "depends_on": [], "params": {}},
        {"name": "variant", "baseline": False, "depends_on": [], "params": {"lr": 0.1}}]


def _run(run_id: int, kind: str = "cpu") -> Run:
    return store_rows.run(id=run_id, device_kind=kind, experiment_id=1)


# -- scheduler ---------------------------------------------------------------------------------

def test_place_fills_free_slots_in_queue_order_and_leaves_the_rest_waiting() -> None:
    slots = Slots(SlotConfig(cpu=2), [])
    placed = place([_run(5), _run(3), _run(9)], slots)
    assert [(p.run.id, p.device) for p in placed] == [(5, "cpu"), (3, "cpu")]
    assert slots.acquire("cpu") is None  # both slots are now taken


def test_place_refuses_a_gpu_run_in_a_lab_without_gpus_but_still_places_the_others() -> None:
    slots = Slots(SlotConfig(cpu=1), [])
    placed = place([_run(1, "cuda"), _run(2)], slots)
    assert placed[0].refusal == NO_GPU and placed[0].device is None
    assert (placed[1].run.id, placed[1].device) == (2, "cpu")


def test_place_spreads_gpu_runs_over_the_least_used_gpu_up_to_its_slots() -> None:
    slots = Slots(SlotConfig(cpu=0, per_gpu=2), [0, 1])
    placed = place([_run(i, "cuda") for i in range(5)], slots)
    assert [p.device for p in placed] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]


async def _lab_with_queued(tmp_path: Path, *, device: str = "cpu", seeds: int = 2) -> tuple[LabDir, Store, int]:
    lab = LabDir(tmp_path)
    lab.root.mkdir(parents=True, exist_ok=True)
    store = await Store.open(lab.db)
    params = {"device": device} if device != "cpu" else {}
    exp_id = await store.create_experiment(NewExperiment(name="t", catalog="fake", params=params, plan=PLAN,
                                                         seeds=seeds))
    await store.approve_experiment(exp_id, RunDefaults())
    return lab, store, exp_id


async def test_the_scheduler_launches_what_fits_and_gives_back_slots_when_a_launch_breaks(tmp_path: Path) -> None:
    lab, store, _exp_id = await _lab_with_queued(tmp_path)
    try:
        slots = Slots(SlotConfig(cpu=2), [])
        launched: list[tuple[int, str]] = []

        async def launch(run: Run, device: str) -> None:
            if launched:
                raise RuntimeError("disk full")
            launched.append((run.id, device))

        ended: list[int] = []
        scheduler = Scheduler(store, lab, slots, launch=launch, unavailable=lambda: None,
                              on_experiment_ended=ended.append)
        with pytest.raises(RuntimeError):
            await scheduler.schedule()
        assert len(launched) == 1
        # the first run keeps its slot, the broken launch gave its own back: one is free
        assert slots.acquire("cpu") == "cpu" and slots.acquire("cpu") is None
        assert not ended
    finally:
        await store.close()


async def test_the_scheduler_waits_while_its_executor_cannot_start_runs(tmp_path: Path) -> None:
    lab, store, _ = await _lab_with_queued(tmp_path)
    try:
        launched: list[int] = []

        async def launch(run: Run, device: str) -> None:
            launched.append(run.id)

        scheduler = Scheduler(store, lab, Slots(SlotConfig(cpu=2), []), launch=launch,
                              unavailable=lambda: "the Ray head does not answer", on_experiment_ended=print)
        await scheduler.schedule()
        assert launched == [] and len(await store.queued_runs()) == 4
    finally:
        await store.close()


async def test_a_gpu_experiment_in_a_lab_without_gpus_fails_with_the_reason_and_is_concluded(tmp_path: Path) -> None:
    lab, store, exp_id = await _lab_with_queued(tmp_path, device="cuda", seeds=1)
    try:
        ended: list[int] = []

        async def launch(run: Run, device: str) -> None:
            raise AssertionError("nothing may launch")

        scheduler = Scheduler(store, lab, Slots(SlotConfig(cpu=2), []), launch=launch, unavailable=lambda: None,
                              on_experiment_ended=ended.append)
        await scheduler.schedule()
        runs = await store.list_runs(exp_id)
        assert {r.status for r in runs} == {R.FAILED}
        assert all(NO_GPU in (r.error or "") for r in runs)
        assert ended == [exp_id]  # its last run ended: the finisher is told once
    finally:
        await store.close()


# -- launcher ------------------------------------------------------------------------------------

def test_the_spec_follows_the_run_protocol() -> None:
    run = store_rows.run(id=7, experiment_id=2, catalog="pruning", variant="magnitude", seed=3,
                         params={"profile": "smoke", "sparsity": 0.5}, variant_params={"method": "magnitude"})
    spec = build_spec(run, attempt=2, device="cuda:1", threads=4, run_dir="/lab/runs/7", cache_dir="/c",
                      dependencies={"base": Dependency(run_id=6, output_dir="/lab/runs/6", result={"a": 1})},
                      code_sha256="abc")
    assert spec.protocol == PROTOCOL and spec.attempt == 2 and spec.device == "cuda"
    assert spec.profile == "smoke" and spec.events_path == "/lab/runs/7/events.jsonl"
    # spec.json as every lab has written it: the same keys, the dependencies as plain objects
    assert spec.to_json() == {
        "protocol": PROTOCOL, "run_id": 7, "experiment_id": 2, "attempt": 2, "name": "pruning", "variant": "magnitude",
        "seed": 3, "params": {"profile": "smoke", "sparsity": 0.5}, "variant_params": {"method": "magnitude"},
        "profile": "smoke", "device": "cuda", "threads": 4, "output_dir": "/lab/runs/7",
        "events_path": "/lab/runs/7/events.jsonl", "cache_dir": "/c", "code_sha256": "abc",
        "dependencies": {"base": {"run_id": 6, "output_dir": "/lab/runs/6", "result": {"a": 1}}}}
    assert build_spec(replace(run, params={}), attempt=1, device="cpu", threads=1, run_dir="/r", cache_dir="/c",
                      dependencies={}, code_sha256=None).profile == "default"


# -- watcher ---------------------------------------------------------------------------------------

def _no_stderr() -> str | None:
    return None


@pytest.mark.parametrize(("kill", "exit_", "result", "expected"), [
    ("timeout", Exit(-9), None, (R.TIMED_OUT, "killed: too long", False)),
    ("memory", Exit(-9), None, (R.FAILED, "killed: too long", False)),
    ("cancel", Exit(0), {"accuracy": 1}, (R.CANCELLED, "killed: too long", False)),
    (None, Exit(None, "the node died"), None, (R.INTERRUPTED, "the node died", True)),
    (None, Exit(None), None, (R.INTERRUPTED, "the run ended without an exit code", True)),
    (None, Exit(0), {"accuracy": 0.9}, (R.SUCCEEDED, None, False)),
    (None, Exit(0), {"skipped": True, "skip_reason": "needs a GPU"}, (R.SKIPPED, "needs a GPU", False)),
    (None, Exit(0), None, (R.FAILED, "the program exited 0 without writing a result", True)),
    (None, Exit(1), None, (R.FAILED, "exit code 1: no message on stderr", True)),
])
def test_an_ended_run_is_settled_by_why_it_ended(kill: str | None, exit_: Exit, result: Any,
                                                 expected: tuple[R, str | None, bool]) -> None:
    s = settle(kill, "killed: too long", exit_, result, _no_stderr)
    assert (s.status, s.error, s.retryable) == expected


def test_a_failed_program_is_settled_with_the_last_line_of_its_stderr() -> None:
    s = settle(None, "", Exit(2), None, lambda: "ValueError: lr must be positive")
    assert s.error == "exit code 2: ValueError: lr must be positive" and s.retryable


# -- finisher ------------------------------------------------------------------------------------

class _Recorder:
    def __init__(self) -> None:
        self.recorded: list[int] = []

    async def record_safe(self, exp_id: int) -> None:
        self.recorded.append(exp_id)


async def test_an_experiment_ending_again_while_it_is_concluded_is_concluded_once_more(tmp_path: Path) -> None:
    lab, store, exp_id = await _lab_with_queued(tmp_path, seeds=1)
    try:
        for run in await store.queued_runs():
            await store.start_run(run.id, device="cpu", run_dir=str(lab.run_dir(run.id)))
            await store.finish_run(run.id, R.SUCCEEDED, exit_code=0)
        gate = asyncio.Event()
        steps: list[int] = []

        async def rate(s: Store, exp: int) -> None:
            steps.append(exp)
            await gate.wait()

        tasks: list[asyncio.Task[Any]] = []
        recorder = _Recorder()
        finisher = ExperimentFinisher(store, [rate], recorder,  # type: ignore[arg-type]
                                      spawn=lambda coro, name: tasks.append(asyncio.ensure_future(coro)),
                                      stopping=lambda: False, disk=DiskWatch(lab.root, lab.disk_notice, 0))
        finisher.analyze(exp_id)
        await asyncio.sleep(0.05)
        finisher.analyze(exp_id)  # retried runs ended again while the first round waits
        finisher.analyze(exp_id)
        assert steps == [exp_id] and len(tasks) == 1
        gate.set()
        while len(tasks) < 2 or not all(t.done() for t in tasks):
            await asyncio.sleep(0.02)
        assert steps == [exp_id, exp_id] and recorder.recorded == [exp_id, exp_id]
        assert (await store.get_experiment(exp_id)).status in (E.DONE.value, E.FAILED.value)
    finally:
        await store.close()
