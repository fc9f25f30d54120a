"""Warm workers on the local executor: runs forked from a pre-started worker, each in its own
session, re-attachable by pid, with the run's environment; the worker restarted when it dies;
runs started cold while it is absent; a real experiment through a worker that holds torch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from engine.executors.warm import WarmWorker
from tests.conftest import ROOT, LabHarness, make_env, open_lab
from tests.procs import running, wait_ended
from tests.timing import scaled


def _worker_of(lab: LabHarness) -> psutil.Process:
    engine = psutil.Process(lab.engine_pid())
    workers = [c for c in engine.children() if "experiments.worker" in " ".join(c.cmdline())]
    assert len(workers) == 1, "the engine should have exactly one warm worker"
    return workers[0]


def _log(lab: LabHarness) -> str:
    return (lab.root / "engine.log").read_text()


def _warm(lab: LabHarness, timeout: float = 60) -> None:
    """Start the worker ahead of a run, as the control room's new-experiment form does (it runs
    on demand), and wait until it is ready."""
    ready = _log(lab).count("warm worker ready") if lab.dir.log.exists() else 0
    lab.lab("engine", "warm", check=True)
    lab.wait_for(lambda: _log(lab).count("warm worker ready") > ready, timeout, "the worker to be ready")


def _workers(lab: LabHarness) -> list[psutil.Process]:
    pid = lab.engine_pid()
    if not pid:
        return []
    return [c for c in psutil.Process(pid).children()
            if "experiments.worker" in " ".join(c.cmdline()) and c.status() != psutil.STATUS_ZOMBIE]


def test_runs_are_forked_from_the_warm_worker_into_their_own_session(lab: LabHarness, tmp_path: Path) -> None:
    lab.env["JOULELAB_LLM_API_KEY"] = "sk-warm-secret"
    lab.write_config("[slots]\ncpu = 2\nthreads_per_run = 1\n")
    lab.start_engine()
    _warm(lab)
    worker = _worker_of(lab)
    gates = tmp_path / "gates"  # the runs wait before step 20 until the test has looked at their processes
    gates.mkdir()
    exp_id = lab.submit("fake", "steps=40", "hold_at=20", f"hold_dir={gates}", seeds=2)
    runs = lab.wait_for(lambda: (rs := lab.run_rows(exp_id)) and all(r["pid"] for r in rs) and rs, 30, "pids")
    for run in runs:
        proc = psutil.Process(run["pid"])
        assert proc.ppid() == worker.pid  # forked, not spawned
        assert os.getsid(run["pid"]) == run["pid"] == os.getpgid(run["pid"])  # its own session and group
        assert abs(proc.create_time() - run["pid_start_time"]) < 0.05  # re-attachable by pid + start time
        env = proc.environ()
        assert "JOULELAB_LLM_API_KEY" not in env and env["OMP_NUM_THREADS"] == "1"
        assert env["CUDA_VISIBLE_DEVICES"] == ""
        run_dir = lab.root / "runs" / str(run["id"])
        assert proc.cwd() == str(run_dir)
        assert (run_dir / "pid").read_text().strip() == str(run["pid"])
    (gates / "go-20").touch()
    assert lab.wait_experiment(exp_id)["status"] == "done"
    for run in lab.run_rows(exp_id):
        assert json.loads(run["result"])["secret_seen"] is False
        assert (lab.root / "runs" / str(run["id"]) / "exit_code").read_text().strip() == "0"
        assert lab.query("SELECT COUNT(*) AS n FROM metrics WHERE run_id = ?", (run["id"],))[0]["n"] == 80
    assert _log(lab).count("(warm, pid") == 2


def test_failures_timeouts_and_cancels_of_forked_runs(lab: LabHarness) -> None:
    lab.write_config("[slots]\ncpu = 2\n\n[runs]\nretries = 0\n")
    lab.start_engine()
    _warm(lab)
    failing = lab.submit("dag", "fail_variant=base")
    slow = lab.submit("fake", "steps=2000", "step_sleep_s=0.05")
    assert lab.wait_experiment(failing)["status"] == "failed"
    base = next(r for r in lab.run_rows(failing) if r["variant"] == "base")
    assert base["status"] == "failed" and base["exit_code"] == 3
    assert base["error"] == "exit code 3: RuntimeError: variant base fails on purpose"
    (run,) = lab.wait_for(lambda: (rs := lab.run_rows(slow)) and rs[0]["pid"] and rs, 30, "the slow run")
    lab.lab("cancel", str(slow), check=True)
    lab.wait_for(lambda: lab.run_rows(slow)[0]["status"] == "cancelled", 30, "the cancel")
    assert not running(run["pid"])


def _approve_now(lab: LabHarness, plan: Any) -> int:
    """A `fake` experiment (its plan made beforehand) recorded approved straight into the store:
    its run is queued within milliseconds (`lab run` takes seconds on a loaded machine: the
    worker's restart back-off could end first)."""
    from db import ExperimentState, NewExperiment, Store

    async def record() -> int:
        store = await Store.open(lab.dir.db)
        try:
            return await store.create_experiment(NewExperiment(name="cold", catalog="fake", params=plan.params,
                                                               plan=plan.variants), status=ExperimentState.APPROVED)
        finally:
            await store.close()

    return asyncio.run(record())


def test_a_dead_worker_is_restarted_and_runs_start_cold_meanwhile(lab: LabHarness) -> None:
    from science.catalog import Catalog

    plan = Catalog("fakeexp").plan("fake", {})
    lab.start_engine()
    _warm(lab)
    _worker_of(lab).kill()
    lab.wait_for(lambda: "warm worker gone" in _log(lab), 30, "the engine to notice")
    cold = _approve_now(lab, plan)  # queued during the restart's back-off (5 s)
    assert lab.wait_experiment(cold)["status"] == "done"
    assert "(cold, pid" in _log(lab)
    lab.wait_for(lambda: _log(lab).count("warm worker ready") == 2, 60, "the worker to come back")
    warm = lab.submit("fake")
    assert lab.wait_experiment(warm)["status"] == "done"
    assert "(warm, pid" in _log(lab)


def test_the_worker_runs_on_demand_and_exits_after_its_idle_time(lab: LabHarness) -> None:
    """An idle engine holds no worker; a queued run starts one (and says in its events that it
    waited for it); the worker stays while the run goes on, exits after `warm_idle_s` without
    work, and a run queued afterwards starts it again and succeeds; `lab status` shows both
    processes' memory."""
    lab.write_config("[executor]\nwarm_idle_s = 1\n")
    lab.start_engine()
    lab.wait_for(lambda: lab.query("SELECT pid FROM engine"), 30, "the engine's row")
    assert _workers(lab) == [] and "starting the warm worker" not in _log(lab)
    status = lab.lab("status", check=True).stdout
    assert "iB resident); warm worker: not running (it starts when a run is queued)" in status, status

    first = lab.submit("fake", "steps=100000", "step_sleep_s=0.05")  # runs until cancelled below
    (run,) = lab.wait_for(lambda: (rs := lab.run_rows(first)) and rs[0]["pid"] and rs, 60, "the first run")
    worker = _worker_of(lab)
    assert psutil.Process(run["pid"]).ppid() == worker.pid  # forked: the run waited for the worker
    shown = json.loads(lab.lab("status", "--json", check=True).stdout)["engine"]  # the worker stays while it runs
    assert shown["worker_pid"] == worker.pid and shown["worker_rss_bytes"] > 0 and shown["rss_bytes"] > 0
    lab.lab("cancel", str(first), check=True)
    assert lab.wait_experiment(first)["status"] == "cancelled"
    (waited,) = lab.query("SELECT message FROM events WHERE kind = 'run.start_cost' AND run_id = ?", (run["id"],))
    assert waited["message"].startswith(f"run {run['id']}: waited ") and "for the warm worker to start" in waited["message"]

    lab.wait_for(lambda: "warm worker stopped: no run queued or running" in _log(lab), 30, "the idle stop")
    worker.wait(scaled(10))
    assert _workers(lab) == []

    second = lab.submit("fake")
    assert lab.wait_experiment(second)["status"] == "done"
    (again,) = lab.run_rows(second)
    assert again["status"] == "succeeded"
    assert _log(lab).count("warm worker ready") == 2 and _log(lab).count("(warm, pid") == 2
    assert len(lab.query("SELECT id FROM events WHERE kind = 'run.start_cost' AND run_id = ?", (again["id"],))) == 1


def test_warm_runs_outlive_an_engine_killed_with_9(lab: LabHarness, tmp_path: Path) -> None:
    """The worker leaves with the engine (its stdin closes); the runs it forked go on and the
    next engine re-attaches to them, ingesting what they wrote meanwhile exactly once."""
    lab.start_engine()
    _warm(lab)
    worker = _worker_of(lab)
    steps, gates = 60, tmp_path / "gates"
    gates.mkdir()
    # the runs wait before step 20 until the engine was killed, and before step 40 until the next
    # engine re-attached them: they outlive the kill and the restart however slow the machine is
    exp_id = lab.submit("fake", f"steps={steps}", "values_per_step=4", "hold_at=20,40", f"hold_dir={gates}", seeds=2)
    runs = lab.wait_for(lambda: (rs := lab.run_rows(exp_id)) and all(r["pid"] for r in rs) and rs, 30, "runs")
    lab.wait_for(lambda: lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] > 8, 30, "some metrics")
    os.kill(lab.engine_pid(), signal.SIGKILL)
    assert wait_ended([worker], scaled(10)) == []  # gone with its engine
    for run in runs:
        assert running(run["pid"])
    (gates / "go-20").touch()  # steps 20-39 are written while no engine watches
    lab.wait_for(lambda: all(lab.metric_lines(run["id"]) == 40 for run in runs), 30, "steps 20-39 of both runs")
    lab.start_engine()
    lab.wait_for(lambda: [e["kind"] for e in lab.query("SELECT kind FROM events")].count("run.reattached") == 2,
                 30, "the next engine to re-attach both runs")
    (gates / "go-40").touch()
    lab.wait_for(lambda: all(r["status"] == "succeeded" for r in lab.run_rows(exp_id)), 60, "the runs to end")
    for run in lab.run_rows(exp_id):
        assert run["attempt"] == 1
        rows = [(m["step"], m["key"]) for m in lab.query("SELECT step, key FROM metrics WHERE run_id = ?", (run["id"],))]
        assert len(rows) == len(set(rows)) == steps * 4
    assert [e["kind"] for e in lab.query("SELECT kind FROM events")].count("run.reattached") == 2


LEAKY = '''
import json, os, sys
import leakstate
leakstate.calls.append(os.getpid())
spec = json.load(open(sys.argv[-1]))
with open(spec["out"], "w") as fh:
    json.dump({"calls": len(leakstate.calls), "env": dict(os.environ), "argv": sys.argv,
               "cwd": os.getcwd(), "main": __name__}, fh)
sys.exit(spec.get("code", 0))
'''


def test_each_run_is_a_fresh_fork_with_only_its_own_environment(tmp_path: Path) -> None:
    """State a run leaves in a module does not reach the next; the worker's environment does
    not reach the runs; exit codes, pid and exit-code files are written as by a cold run."""
    package = tmp_path / "pkgs"
    (package / "leakexp").mkdir(parents=True)
    (package / "leakexp" / "__init__.py").write_text("")
    (package / "leakexp" / "__main__.py").write_text(textwrap.dedent(LEAKY))
    (package / "leakstate.py").write_text("calls = []\n")
    env = make_env(tmp_path)
    env["PYTHONPATH"] = f"{package}{os.pathsep}{env['PYTHONPATH']}"
    env["WORKER_ONLY"] = "1"

    async def scenario() -> list[dict[str, object]]:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            worker = WarmWorker("leakexp", ("leakstate",), cwd=tmp_path)
            worker.start()
            try:
                while worker.state != "ready":
                    await asyncio.sleep(0.02)
                answers = []
                for i, code in enumerate([0, 5, 0]):
                    run_dir = tmp_path / f"run{i}"
                    run_dir.mkdir()
                    (run_dir / "spec.json").write_text(json.dumps({"out": str(run_dir / "out.json"), "code": code}))
                    pid, _ = await worker.fork(run_dir, ["leakexp", "x", "--spec", "spec.json"],
                                               {"PATH": os.environ["PATH"], "RUN_VAR": str(i),
                                                "OMP_NUM_THREADS": "2"})
                    deadline = time.monotonic() + 30
                    while not (run_dir / "exit_code").exists() and time.monotonic() < deadline:
                        await asyncio.sleep(0.02)
                    answers.append({"pid": pid, "out": json.loads((run_dir / "out.json").read_text()),
                                    "code": (run_dir / "exit_code").read_text().strip(),
                                    "pidfile": (run_dir / "pid").read_text().strip()})
                return answers
            finally:
                await worker.close()

    answers = asyncio.run(scenario())
    for i, answer in enumerate(answers):
        out = answer["out"]
        assert out["calls"] == 1, "a run saw the state of an earlier run"
        assert out["env"] == {"PATH": os.environ["PATH"], "RUN_VAR": str(i), "OMP_NUM_THREADS": "2"}
        assert out["argv"][1:] == ["x", "--spec", "spec.json"] and out["main"] == "__main__"
        assert out["cwd"] == str(tmp_path / f"run{i}")
        assert answer["pidfile"] == str(answer["pid"])
    assert [a["code"] for a in answers] == ["0", "5", "0"]


@pytest.mark.timeout(600)
def test_a_real_experiment_runs_warm(tmp_path: Path) -> None:
    """The real catalog through a worker that imported torch, the harness and codecarbon: the
    runs succeed with energy from a tracker created in the run itself."""
    with open_lab(tmp_path) as lab:
        lab.env.pop("JOULELAB_EXPERIMENTS_MODULE", None)
        lab.env["PYTHONPATH"] = str(ROOT)
        lab.write_config("[slots]\ncpu = 2\n")
        lab.start_engine()
        _warm(lab, 300)  # it imports torch
        assert "codecarbon hardware probe pre-paid" in _log(lab)
        exp_id = lab.submit("logreg", "profile=smoke", seeds=2)
        runs = lab.wait_for(lambda: (rs := lab.run_rows(exp_id)) and all(
            r["status"] not in ("queued", "running", "pending") for r in rs) and rs, 300, "the runs")
        assert [r["status"] for r in runs] == ["succeeded", "succeeded"], [r["error"] for r in runs]
        assert _log(lab).count("(warm, pid") == 2
        for run in runs:
            result = json.loads(run["result"])
            assert result["energy_source"].startswith("codecarbon:") and result["energy_kwh"] > 0
            assert result["threads"] == 1 and result["device"] == "cpu"


def test_the_worker_preloads_the_language_model_stack_offline_and_single_threaded(tmp_path: Path) -> None:
    """The worker's preload, imported in its order in a fresh interpreter that was not told to be
    offline: huggingface_hub ends up offline (experiments.lm declares it before anything imports
    transformers), the LM programs are loaded, and no thread was started (a fork stays safe). Its
    core part, which image-only labs preload alone (`[executor] warm_preload`), comes first and
    imports neither transformers nor peft."""
    code = textwrap.dedent("""
        import os, sys
        os.environ.pop("HF_HUB_OFFLINE", None)
        from experiments import worker
        for name, value in worker.QUIET_THREADS.items():
            os.environ.setdefault(name, value)
        names = worker.default_preload("experiments")
        core = len(worker.CORE_PRELOAD)
        assert names[:core] == list(worker.CORE_PRELOAD), names
        for name in names[:core]:
            worker._import(name)
        stack_in_core = [m for m in ("transformers", "peft") if m in sys.modules]
        for name in names[core:]:
            worker._import(name)
        import huggingface_hub.constants as c
        print(c.HF_HUB_OFFLINE, "experiments.techniques.compression_pipeline" in sys.modules,
              "peft" in sys.modules, worker.thread_count(), stack_in_core)
    """)
    env = {k: v for k, v in make_env(tmp_path).items() if k != "HF_HUB_OFFLINE"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "True", "1", "[]"], done.stdout + done.stderr[-2000:]
