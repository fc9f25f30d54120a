"""Generated experiment code: written by the coder (a model, allowed in config.toml), kept with the
experiment, and run only in the sandbox (bubblewrap): its run directory the only one writable, no
secrets, no network, CPU-time, memory and output limits, a wall timeout. The hostile programs are
in test_sandbox_hostile.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agents.sandbox_isolation import probe
from db import ExperimentState as E
from db import NewExperiment, RunDefaults, Store
from tests.agents.support import FakeLLM, research_config
from tests.conftest import LabHarness
from tests.timing import scaled

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = r'''
import json, os, socket, sys, time
spec = json.load(open(sys.argv[2]))
port = int(spec["params"].get("probe_port", 0) or 0)
blocked = None
if port:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        blocked = False
    except OSError:
        blocked = True
base = spec["variant"] == "baseline"
values = {"test_accuracy": 0.90 + 0.001 * spec["seed"], "energy_kwh": 2e-6 if base else 1e-6,
          "energy_train_kwh": 2e-6 if base else 1e-6, "energy_inference_kwh": 1e-7, "energy_mode": "estimated",
          "train_time_s": 0.2 if base else 0.1, "model_size_bytes": 4000 if base else 1000, "latency_b1_ms": 1.0,
          "seed": spec["seed"], "versions": {"python": sys.version.split()[0]},
          "cwd": os.getcwd(), "env_keys": sorted(os.environ), "network_blocked": blocked}
with open(spec["events_path"], "a") as fh:
    fh.write(json.dumps({"type": "result", "values": values, "t": time.time()}) + "\n")
'''


def write_run(tmp: Path, source: str, limits: dict[str, Any], sha: str | None = None,
              extra: dict[str, Any] | None = None) -> Path:
    program = tmp / "program-src.py"
    program.write_text(source)
    run_dir = tmp / "run"
    run_dir.mkdir()
    spec = {"run_id": 1, "variant": "baseline", "seed": 0, "device": "cpu", "events_path": str(run_dir / "events.jsonl"),
            "output_dir": str(run_dir),
            "params": {"generated": {"path": str(program), "sha256": sha or hashlib.sha256(source.encode()).hexdigest()},
                       "sandbox": limits, **(extra or {})}}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    return run_dir


def sandbox(run_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.sandbox", "generated", "--spec", "spec.json"], cwd=run_dir,
                          capture_output=True, text=True, timeout=scaled(60), env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


HERE = probe()
needs_sandbox = pytest.mark.skipif(not HERE.works, reason=f"no working sandbox here: {HERE.why}")


@needs_sandbox
def test_the_sandbox_runs_the_program_apart(tmp_path: Path) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    run_dir = write_run(tmp_path, PROGRAM, {"cpu_s": 20, "mem_mb": 1024, "timeout_s": 30}, extra={"probe_port": port})
    done = sandbox(run_dir, OPENAI_API_KEY="sk-leak", JOULELAB_LLM_API_KEY="sk-leak", AWS_SECRET_ACCESS_KEY="x")
    listener.close()
    assert done.returncode == 0, done.stderr
    log, result = events(run_dir)
    values = result["values"]
    assert values["cwd"] == str(run_dir.resolve())  # its own directory, the only one it may write
    assert not any("KEY" in k or "SECRET" in k or "TOKEN" in k for k in values["env_keys"])
    assert values["network_blocked"] is True
    assert "sandbox: bubblewrap" in log["message"] and "no network" in log["message"]
    assert "CPU time 20 s" in log["message"] and "memory 1024 MB" in log["message"]


@needs_sandbox
@pytest.mark.parametrize("source, limits, code, message", [
    ("while True:\n    pass\n", {"cpu_s": 1, "timeout_s": 30}, 128 + 24, "SIGXCPU: its CPU-time limit of 1 s"),
    ("import time\ntime.sleep(30)\n", {"cpu_s": 20, "timeout_s": 1}, 124, "wall timeout of 1 s"),
    ("x = bytearray(600 * 2**20)\n", {"cpu_s": 20, "mem_mb": 256, "timeout_s": 30}, 1, "MemoryError"),
])
def test_limits_end_a_runaway_program(tmp_path: Path, source: str, limits: dict[str, Any], code: int,
                                      message: str) -> None:
    started = time.monotonic()
    done = sandbox(write_run(tmp_path, source, limits))
    assert done.returncode == code and message in done.stderr, done.stderr
    assert time.monotonic() - started < scaled(20)  # the limits ended it, not the test's timeout


def test_a_program_that_changed_since_it_was_recorded_does_not_run(tmp_path: Path) -> None:
    done = sandbox(write_run(tmp_path, PROGRAM, {}, sha="0" * 64))
    assert done.returncode == 3 and "does not match the sha256" in done.stderr


async def _winners(lab: LabHarness) -> None:
    """Two rated lines whose best variants share no parameter: combining them needs new code."""
    store = await Store.open(lab.dir.db)
    try:
        for catalog, e in (("fake", 2.5), ("dag", 1.8)):
            plan = [{"name": "base", "baseline": True, "depends_on": [], "params": {}},
                    {"name": "fast", "baseline": False, "depends_on": [], "params": {"k": 1}}]
            exp_id = await store.create_experiment(NewExperiment(catalog, catalog, {"profile": "smoke"}, plan, seeds=5),
                                                   status=E.APPROVED, run_defaults=RunDefaults())
            await store.cancel_runs([r.id for r in await store.list_runs(exp_id)], "made by the test")
            await store.set_experiment_status(exp_id, E.ANALYZING)
            await store.set_experiment_status(exp_id, E.DONE)
            variant = {"n": 5, "params": {"k": 1}, "quality": {"mean": 0.9, "std": 0.001, "ci95": [0.898, 0.902]},
                       "quality_delta": {"mean": 0.0, "ci95": [-0.002, 0.002]}, "energy_p_value": 0.001,
                       "efficiency_score": e}
            await store.set_rating(exp_id, 8.0, {
                "rating": 8, "baseline": "base", "keys": {"quality": "test_accuracy"},
                "variants": {"base": {"n": 5, "params": {}, "quality": variant["quality"]}, "fast": variant},
                "headline": {"variant": "fast", "efficiency_score": e, "speedup": 1.5, "compression": None,
                             "quality_delta": 0.0, "quality_delta_ci95": [-0.002, 0.002], "quality_kept": True}})
    finally:
        await store.close()


def coder_answer(port_holder: dict[str, int]) -> Any:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if request["body"].get("response_format") and "coder" in request["body"]["messages"][0]["content"]:
            return {"content": json.dumps({
                "source": PROGRAM, "explanation": "prunes then quantizes the student",
                "variants": [{"name": "baseline", "baseline": True}, {"name": "both", "baseline": False,
                                                                     "depends_on": ["baseline"], "params": {"k": 2}}],
                "metrics": {"quality": "test_accuracy", "energy": "energy_train_kwh", "time": "train_time_s",
                            "size": "model_size_bytes"},
                "gain_phase": "training"})}
        return {"content": "Combining them is the natural next step."}
    return answer


@needs_sandbox
def test_generated_code_runs_through_the_engine_in_the_sandbox(lab: LabHarness, fake_llm: FakeLLM) -> None:
    lab.write_config(research_config(autonomy=3, catalog=["fake", "dag"], seeds=2,
                                     extra="[llm]\nallow_generated_code = true\nretries = 0\n"))
    asyncio.run(_winners(lab))
    fake_llm.default = coder_answer({})
    lab.env.update(JOULELAB_LLM_BASE_URL=fake_llm.url, JOULELAB_LLM_MODEL="local", JOULELAB_LLM_API_KEY="sk-gen")
    done = lab.lab("sprint", "--backend", "openai", check=True, timeout=120)
    assert "Proposal (combination in new code): generated" in done.stdout, done.stdout
    exp = lab.query("SELECT * FROM experiments WHERE catalog = 'generated'")[0]
    meta = json.loads(exp["metadata"])
    source_path = Path(meta["generated"]["path"])
    assert source_path.read_text() == PROGRAM == meta["generated"]["source"]
    assert source_path.parent == lab.root / "generated"
    assert meta["spec"]["command"] == "python -m agents.sandbox generated --spec spec.json"
    assert exp["status"] == "done" and exp["rating"] is not None
    b = json.loads(exp["rating_breakdown"])
    assert b["keys"]["energy"] == "energy_train_kwh" and b["headline"]["variant"] == "both"
    assert b["headline"]["efficiency_score"] == pytest.approx(2.0, rel=0.01)
    runs = lab.run_rows(exp["id"])
    assert len(runs) == 10 and all(r["status"] == "succeeded" for r in runs)  # 2 variants x 5 seeds (the parents')
    result = json.loads(runs[0]["result"])
    run_dir = lab.root / "runs" / str(runs[0]["id"])
    assert not any("KEY" in k for k in result["env_keys"]) and result["cwd"] == str(run_dir.resolve())
    assert "sandbox: bubblewrap" in (run_dir / "events.jsonl").read_text()
    assert meta["generated"]["sandbox"] == "bubblewrap"
    # the code that ran is committed with the experiment, with its hash
    sha = lab.wait_for(lambda: lab.experiment(exp["id"])["git_sha"], 60, "the commit")
    folder = next((lab.root / "exp").glob(f"{exp['id']}-*"))
    assert (folder / "code" / "generated" / "program.py").read_text() == PROGRAM
    assert (folder / "code" / "generated" / "SHA256").read_text().strip() == meta["generated"]["sha256"]
    assert sha


def path_without_bwrap(tmp_path: Path) -> str:
    """A PATH with the few tools a sprint uses, and no bwrap: a machine without bubblewrap."""
    tools = tmp_path / "bin-without-bwrap"
    tools.mkdir()
    for tool in ("sh", "git", "env"):
        found = shutil.which(tool)
        assert found, tool
        (tools / tool).symlink_to(found)
    return str(tools)


def test_the_coder_writes_no_program_without_a_sandbox(lab: LabHarness, fake_llm: FakeLLM, tmp_path: Path) -> None:
    """Where bubblewrap is missing (here: a PATH without bwrap), the sprint proposes no generated
    code and says why, in one line, with how to install it; the model is never asked for code."""
    lab.write_config(research_config(autonomy=3, catalog=["fake", "dag"], seeds=2,
                                     extra="[llm]\nallow_generated_code = true\nretries = 0\n"))
    asyncio.run(_winners(lab))
    fake_llm.default = coder_answer({})
    lab.env.update(JOULELAB_LLM_BASE_URL=fake_llm.url, JOULELAB_LLM_MODEL="local", JOULELAB_LLM_API_KEY="sk-gen",
                   PATH=path_without_bwrap(tmp_path))
    done = lab.lab("sprint", "--backend", "openai", timeout=120)
    assert "generated code refused: bubblewrap (bwrap) is not installed" in done.stdout, done.stdout + done.stderr
    assert "apt-get install bubblewrap" in done.stdout
    assert not lab.query("SELECT id FROM experiments WHERE catalog = 'generated'")
    assert not any("coder" in r["body"]["messages"][0]["content"] and r["body"].get("response_format")
                   for r in fake_llm.requests)


def test_unsandboxed_code_only_when_allowed_and_recorded_so(lab: LabHarness, fake_llm: FakeLLM,
                                                             tmp_path: Path) -> None:
    lab.write_config(research_config(autonomy=1, catalog=["fake", "dag"], seeds=2,
                                     extra="[llm]\nallow_generated_code = true\nretries = 0\n"
                                           "[llm.sandbox]\nallow_unsandboxed = true\n"))
    asyncio.run(_winners(lab))
    fake_llm.default = coder_answer({})
    lab.env.update(JOULELAB_LLM_BASE_URL=fake_llm.url, JOULELAB_LLM_MODEL="local", JOULELAB_LLM_API_KEY="sk-gen",
                   PATH=path_without_bwrap(tmp_path))
    done = lab.lab("sprint", "--backend", "openai", check=True, timeout=120)
    assert "generated code refused" not in done.stdout
    exp = lab.query("SELECT * FROM experiments WHERE catalog = 'generated'")[0]
    meta = json.loads(exp["metadata"])
    assert meta["generated"]["sandbox"].startswith("UNSANDBOXED: bubblewrap (bwrap) is not installed")
    assert json.loads(exp["params"])["sandbox"]["allow_unsandboxed"] is True
