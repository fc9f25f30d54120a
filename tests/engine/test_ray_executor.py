"""The Ray executor against a real Ray head on this machine (2 CPUs), started once for the session
in a loopback-only network namespace with the labs that talk to it (tests/rayhead.py): nothing
it starts listens beyond loopback; a plan with dependencies drains, the engine killed with -9
re-attaches to its jobs, a cancel stops a job, a lost job is retried, and the shared-directory
mode."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import ROOT, LabHarness, make_env, open_lab
from tests.netns import NamespaceUnavailableError
from tests.procs import running
from tests.rayhead import RayHead, closed_port, ray_head_running
from tests.timing import scaled

pytest.importorskip("ray.job_submission", reason="the Ray extra (joulelab[ray]) is not installed")

RUN_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    """A Ray head of this module's own in its loopback-only namespace, stopped with everything it
    started once the module's tests are done (its idle processes take CPU from the rest of the
    suite; no other module uses one)."""
    try:
        with ray_head_running() as head:
            yield head
    except NamespaceUnavailableError as exc:
        pytest.skip(f"no loopback-only network namespace for the Ray head: {exc}")


def _config(url: str, *, shared: bool = False) -> str:
    return (f"[slots]\ncpu = 2\n\n[runs]\ntimeout_s = 600\n\n[executor]\nkind = \"ray\"\n"
            f"address = \"{url}\"\npython = \"{sys.executable}\"\n"
            f"forward_env = [\"PYTHONPATH\", \"JOULELAB_LLM_API_KEY\"]\n"
            f"shared_dir = {'true' if shared else 'false'}\n")


@contextlib.contextmanager
def _lab_beside(head: RayHead, tmp_path: Path, *, shared: bool = False,
                config: str | None = None) -> Iterator[LabHarness]:
    """A lab whose every process (the `lab` commands, the engine, its runs' submissions) lives in
    the head's namespace; its jobs are stopped at the end."""
    with open_lab(tmp_path, wrap=head.command) as lab:
        lab.write_config(config or _config(head.url, shared=shared))
        lab.env["JOULELAB_LLM_API_KEY"] = "sk-engine-secret"  # a secret of the engine's machine
        try:
            yield lab
        finally:
            _stop_jobs(head)


@pytest.fixture
def ray_lab(tmp_path: Path, ray_head: RayHead) -> Iterator[LabHarness]:
    with _lab_beside(ray_head, tmp_path) as lab:
        yield lab


@pytest.fixture(scope="module")
def drained(tmp_path_factory: pytest.TempPathFactory, ray_head: RayHead) -> Iterator[tuple[LabHarness, int]]:
    """A lab whose plan with dependencies (four jobs on three levels) drained on the head, and
    the experiment's id: what the plan's test checks of its runs and the listeners' test of what
    it started, drained once for both (each such plan is ~10 s of Ray jobs)."""
    with _lab_beside(ray_head, tmp_path_factory.mktemp("drained")) as lab:
        exp_id = lab.submit("dag", "steps=6", "values_per_step=3", "artifact_kb=64")
        lab.wait_experiment(exp_id, timeout=RUN_TIMEOUT_S)
        yield lab, exp_id


def _stop_jobs(head: RayHead) -> None:
    for job in head.jobs.list_jobs():
        if job.status in ("PENDING", "RUNNING"):
            with contextlib.suppress(AssertionError):
                head.jobs.stop_job(job.submission_id)


def _runs_end(lab: LabHarness, exp_id: int) -> list[dict[str, Any]]:
    """The experiment's runs once none is waiting or running (its analysis is not waited for)."""
    return lab.wait_for(lambda: (rs := lab.run_rows(exp_id)) and all(
        r["status"] not in ("pending", "queued", "running") for r in rs) and rs, RUN_TIMEOUT_S, "the runs to end")


def _metric_rows(lab: LabHarness, run_id: int, attempt: int = 1) -> list[tuple[int, str]]:
    return [(m["step"], m["key"]) for m in lab.query(
        "SELECT step, key FROM metrics WHERE run_id = ? AND attempt = ? ORDER BY step, key", (run_id, attempt))]


def test_a_plan_with_dependencies_drains_on_ray(drained: tuple[LabHarness, int], ray_head: RayHead) -> None:
    lab, exp_id = drained
    exp = lab.experiment(exp_id)
    runs = lab.run_rows(exp_id)
    assert exp["status"] == "done", [(r["variant"], r["status"], r["error"]) for r in runs]
    assert [r["status"] for r in runs] == ["succeeded"] * 4
    by_id = {r["id"]: r for r in runs}
    client = ray_head.jobs
    for run in runs:
        assert run["executor"] == "ray" and run["job_id"].startswith(f"joulelab-run{run['id']}-a1-")
        for dep in json.loads(run["depends_on"]):
            assert by_id[dep]["finished_at"] <= run["started_at"], "a dependent started before its dependency"
        result = json.loads(run["result"])
        expected = {"base": [], "child": ["base"], "grandchild": ["child"], "other": ["base"]}[run["variant"]]
        assert result["deps"] == expected
        # the dependencies' outputs travelled to the job; the job's came back here
        assert result["dep_artifacts"] == {name: 64 * 1024 for name in expected}
        run_dir = lab.root / "runs" / str(run["id"])
        assert (run_dir / "artifact.bin").stat().st_size == 64 * 1024
        assert _metric_rows(lab, run["id"]) == sorted({(s, f"k{j}") for s in range(6) for j in range(3)})
        events = (run_dir / "events.jsonl").read_text().splitlines()
        assert json.loads(events[-1])["type"] == "result" and run["ingest_offset"] == (run_dir / "events.jsonl").stat().st_size
        # the same environment rules as a local run: its threads, no GPU, no secret of the
        # engine's machine (not even a forwarded one) nor of the node
        assert result["omp_num_threads"] == "1" and result["cuda_visible_devices"] == ""
        assert result["secret_seen"] is False
        info = client.get_job_info(run["job_id"])
        assert str(info.status).endswith("SUCCEEDED")
        env_vars = info.runtime_env["env_vars"]
        assert "sk-engine-secret" not in json.dumps(info.runtime_env) and "JOULELAB_LLM_API_KEY" not in env_vars
        assert env_vars["PYTHONPATH"] == lab.env["PYTHONPATH"]  # forwarded as configured
        assert info.entrypoint.endswith("-m fakeexp dag --spec spec.json")


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def test_nothing_the_head_starts_listens_beyond_loopback(drained: tuple[LabHarness, int], ray_head: RayHead) -> None:
    """After a plan drained (jobs, their supervisors and the engine all started), every socket
    the namespace's processes listen on is a loopback address, `lo` is the namespace's only
    interface, and the head, the engine and the jobs live in that namespace, not the test's."""
    lab, exp_id = drained
    assert lab.experiment(exp_id)["status"] == "done"
    # Ray looks for its address by reaching 8.8.8.8 first: in the namespace that fails at once
    assert "Local node IP: 127.0.0.1" in re.sub(r"\x1b\[[0-9;]*m", "", ray_head.log())
    assert ray_head.probe.ask("interfaces") == ["lo"]
    listening = ray_head.probe.ask("listeners")
    names = {entry["process"] for entry in listening}
    assert {"gcs_server", "raylet"} <= names, f"the head's servers were not seen: {sorted(names)}"
    beyond = [entry for entry in listening if not _loopback(entry["ip"])]
    assert not beyond, f"listening beyond loopback: {beyond}"
    own = Path("/proc/self/ns/net").readlink()
    for proc in [*ray_head.processes(), psutil.Process(lab.engine_pid() or 0)]:
        assert ray_head.ns.holds(proc.pid) and Path(f"/proc/{proc.pid}/ns/net").readlink() != own, proc


def test_an_engine_killed_with_9_reattaches_to_its_jobs(ray_lab: LabHarness, ray_head: RayHead,
                                                        tmp_path: Path) -> None:
    """Two jobs stream metrics; the engine is killed; they go on; a new engine re-attaches by job
    id and the database holds every metric exactly once. The jobs wait at gates the test opens
    (tests/fixtures/fakeexp: `hold_at`): after step 3 until the engine is dead, after step 40
    until the new engine has re-attached to both, still running."""
    lab = ray_lab
    steps = 60
    gates = tmp_path / "gates"
    gates.mkdir()
    exp_id = lab.submit("fake", f"steps={steps}", "values_per_step=4", "hold_at=3,40", f"hold_dir={gates}", seeds=2)
    engine = lab.engine_pid()
    lab.wait_for(lambda: all(lab.query("SELECT COUNT(*) AS n FROM metrics WHERE run_id = ?", (r["id"],))[0]["n"] > 8
                             for r in lab.run_rows(exp_id)), RUN_TIMEOUT_S, "both jobs to stream metrics")
    os.kill(engine, signal.SIGKILL)
    committed = lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"]
    (gates / "go-3").touch()  # they go on without an engine
    time.sleep(1.0)
    client = ray_head.jobs
    runs = lab.run_rows(exp_id)
    assert all(str(client.get_job_status(r["job_id"])).endswith("RUNNING") for r in runs)
    assert lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] == committed
    lab.wait_for(lambda: not running(engine), 5, "the engine to die")  # dying, it still held its lock
    lab.start_engine()
    lab.wait_for(lambda: [e["kind"] for e in lab.query("SELECT kind FROM events")].count("run.reattached") == 2,
                 RUN_TIMEOUT_S, "the new engine to re-attach to both jobs")
    (gates / "go-40").touch()
    for run in _runs_end(lab, exp_id):
        assert run["attempt"] == 1 and run["status"] == "succeeded", "a live job was restarted"
        rows = _metric_rows(lab, run["id"])
        assert len(rows) == len(set(rows)) == steps * 4
    events = [e["kind"] for e in lab.query("SELECT kind FROM events")]
    assert events.count("run.reattached") == 2


def test_cancel_stops_the_job(ray_lab: LabHarness, ray_head: RayHead) -> None:
    lab = ray_lab
    exp_id = lab.submit("fake", "steps=3000", "step_sleep_s=0.1")
    lab.wait_for(lambda: lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] > 4, RUN_TIMEOUT_S, "metrics")
    (run,) = lab.run_rows(exp_id)
    lab.lab("cancel", str(exp_id), check=True)
    assert lab.wait_experiment(exp_id, timeout=60)["status"] == "cancelled"
    lab.wait_for(lambda: lab.run_rows(exp_id)[0]["status"] == "cancelled", 60, "the run to be cancelled")
    client = ray_head.jobs
    lab.wait_for(lambda: str(client.get_job_status(run["job_id"])).endswith("STOPPED"), 60, "the job to stop")
    after = lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"]
    time.sleep(1.0)
    assert lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] == after


def test_a_job_past_its_timeout_is_stopped(tmp_path: Path, ray_head: RayHead) -> None:
    config = _config(ray_head.url).replace("timeout_s = 600", "timeout_s = 2\nretries = 3")
    with _lab_beside(ray_head, tmp_path, config=config) as lab:
        exp_id = lab.submit("fake", "steps=3000", "step_sleep_s=0.1")
        (run,) = _runs_end(lab, exp_id)
        assert run["status"] == "timed_out" and run["attempt"] == 1  # a timeout is not retried
        assert "timeout of 2 s" in run["error"]
        client = ray_head.jobs
        lab.wait_for(lambda: str(client.get_job_status(run["job_id"])).endswith("STOPPED"), 60, "the job to stop")


def test_a_lost_job_is_interrupted_and_retried_with_a_shared_directory(tmp_path: Path, ray_head: RayHead) -> None:
    """With a shared directory the job writes its files in place. Its processes are killed with
    -9 on the node (as when a node is lost): the run is interrupted, retried as a new job, and
    the second attempt's metrics are all there once."""
    gates = tmp_path / "gates"  # the first attempt waits before step 3 until it is killed
    gates.mkdir()
    with _lab_beside(ray_head, tmp_path, shared=True) as lab:
        exp_id = lab.submit("fake", "steps=60", "values_per_step=2", "artifact_kb=8", "hold_at=3", f"hold_dir={gates}")
        lab.wait_for(lambda: lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] > 4, RUN_TIMEOUT_S, "metrics")
        (run,) = lab.run_rows(exp_id)
        victims = [p for p in psutil.process_iter(["cmdline"])
                   if "experiments.remote" in " ".join(p.info["cmdline"] or []) and _job_of(p) == run["job_id"]]
        assert victims, "the job's wrapper process was not found"
        family = list(victims)
        for proc in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                family += proc.children(recursive=True)
        for proc in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        (gates / "go-3").touch()  # the retry passes it
        lab.wait_for(lambda: lab.run_rows(exp_id)[0]["attempt"] == 2, RUN_TIMEOUT_S, "the second attempt")
        (run2,) = _runs_end(lab, exp_id)
        assert run2["status"] == "succeeded" and run2["job_id"] != run["job_id"], run2["error"]
        kinds = [e["kind"] for e in lab.query("SELECT kind FROM events WHERE run_id = ?", (run["id"],))]
        assert "run.interrupted" in kinds and "run.retry" in kinds
        rows = _metric_rows(lab, run["id"], attempt=2)
        assert len(rows) == len(set(rows)) == 60 * 2
        run_dir = lab.root / "runs" / str(run["id"])
        assert (run_dir / "artifact.bin").stat().st_size == 8 * 1024
        assert (run_dir / "exit_code").read_text().strip() == "0"
        assert (run_dir / "attempt-1" / "events.jsonl").exists()  # the lost attempt's files are kept
        assert json.loads(run2["result"])["secret_seen"] is False


def _job_of(proc: psutil.Process) -> str | None:
    try:
        config = json.loads(proc.environ().get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}"))
    except (psutil.Error, ValueError):
        return None
    return (config.get("metadata") or {}).get("job_submission_id")


@pytest.mark.parametrize("kind", ["dashboard", "ray client"])
def test_the_executor_connects_by_either_address(tmp_path: Path, ray_head: RayHead, kind: str) -> None:
    address = ray_head.url if kind == "dashboard" else ray_head.client_address
    # through the executor's own connect loop, which tries again every CONNECT_RETRY_S as the engine
    # does: on a loaded machine Ray's client server for a new connection sometimes fails to start
    code = ("import asyncio, sys; from pathlib import Path; from engine.config import ExecutorConfig; "
            "from engine.executors.rayjobs import RayExecutor; "
            f"ex = RayExecutor(ExecutorConfig(kind='ray', address={address!r}), 'fakeexp', Path('.')); "
            f"asyncio.run(asyncio.wait_for(ex._connect_loop(), {scaled(100)})); "
            "print(ex.client.get_version())")
    done = subprocess.run(ray_head.command([sys.executable, "-c", code]), env=make_env(tmp_path), capture_output=True, text=True,
                          timeout=scaled(120), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].isdigit()


def test_an_unreachable_cluster_leaves_runs_queued(lab: LabHarness) -> None:
    lab.write_config(_config(f"http://127.0.0.1:{closed_port()}"))
    exp_id = lab.submit("fake")
    lab.wait_for(lambda: "cannot reach the Ray cluster" in (lab.root / "engine.log").read_text(), 60,
                 "the engine to say it cannot reach the cluster")
    (run,) = lab.run_rows(exp_id)
    assert run["status"] == "queued" and run["attempt"] == 0
    # and every reader says why the runs wait, not only engine.log
    lab.wait_for(lambda: "cannot reach the Ray cluster" in lab.lab("status", check=True).stdout, 60,
                 "`lab status` to say why the run waits")
    status = lab.lab("status", check=True).stdout
    assert "runs: 0 running, 1 waiting: cannot reach the Ray cluster at http://127.0.0.1:" in status, status


def test_the_engine_loads_ray_only_when_configured(lab: LabHarness) -> None:
    lab.write_config("[slots]\ncpu = 1\n")
    pid = lab.start_engine()
    lab.wait_for(lambda: "engine 0.1.0 started" in (lab.root / "engine.log").read_text(), 30, "the engine to start")
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "_raylet" not in maps and "/ray/" not in maps
    probe = subprocess.run([sys.executable, "-c", "import sys, engine.daemon, engine.executors, engine.control; "
                            "print('ray' in sys.modules)"], env=lab.env, capture_output=True, text=True,
                           cwd=ROOT, check=True)
    assert probe.stdout.strip() == "False"


def test_a_bad_executor_kind_is_one_clear_line(lab: LabHarness) -> None:
    lab.write_config("[executor]\nkind = \"slurm\"\n")
    done = subprocess.run([sys.executable, "-m", "engine", "run", "--dir", str(lab.root)], env=lab.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("executor.kind must be one of 'local', 'ray', got 'slurm'")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
