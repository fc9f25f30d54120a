"""Timeouts, memory limits, cancels, GPU slots and the system monitor, with real processes."""

from __future__ import annotations

import json
import os

from tests.conftest import FIXTURES, LabHarness
from tests.procs import running


def test_a_run_past_its_timeout_is_killed_with_its_process_group(lab: LabHarness) -> None:
    lab.write_config("[runs]\ntimeout_s = 1\nretries = 3\n")
    exp_id = lab.submit("fake", "steps=100", "step_sleep_s=0.1")
    run = lab.wait_for(lambda: (r := lab.run_rows(exp_id)[0])["pid"] and r, 10, "the run to start")
    exp = lab.wait_experiment(exp_id)
    (run,) = lab.run_rows(exp_id)
    assert run["status"] == "timed_out" and run["attempt"] == 1  # a timeout is not retried
    assert "timeout of 1 s" in run["error"] and exp["status"] == "failed"
    assert not running(run["pid"])


def test_a_runs_process_tree_is_found_from_its_own_proc_files_as_psutil_finds_it() -> None:
    """The memory check walks a run's tree through /proc/<pid>/task/<tid>/children (the run's own
    files, not every process's): the same processes psutil finds, grandchildren and a thread's
    children included, and none once the run has ended."""
    import subprocess
    import sys
    import time

    import psutil

    from engine import procs
    from tests.timing import scaled

    program = ("import subprocess, threading, time\n"
               "kids = [subprocess.Popen(['sleep', '60'])]\n"
               "t = threading.Thread(target=lambda: kids.append(subprocess.Popen(['bash', '-c', 'sleep 60 & wait'])))\n"
               "t.start(); t.join(); print('up', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        deadline = time.monotonic() + scaled(30)
        while len(expected := psutil.Process(proc.pid).children(recursive=True)) < 3:  # bash's sleep starts
            assert time.monotonic() < deadline, expected
            time.sleep(0.02)
        assert procs._descendants(proc.pid) is not None, "this kernel keeps /proc/<pid>/task/<tid>/children"
        found = {p.pid for p in procs._tree(proc.pid)}
        assert found == {proc.pid, *(p.pid for p in expected)} and len(found) == 4, found
        assert procs.tree_rss(proc.pid) >= sum(p.memory_info().rss for p in expected)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    assert procs._tree(proc.pid) == [] and procs.tree_rss(proc.pid) == 0


def test_a_run_over_its_memory_limit_is_killed_as_out_of_memory(lab: LabHarness) -> None:
    lab.write_config("[runs]\nmem_limit_mb = 100\n")
    exp_id = lab.submit("fake", "mem_mb=300", "steps=100", "step_sleep_s=0.1")
    lab.wait_experiment(exp_id)
    (run,) = lab.run_rows(exp_id)
    assert run["status"] == "failed" and run["error"].startswith("out of memory")
    assert "limit of 100 MiB" in run["error"] and run["peak_rss_bytes"] > 100 * 2**20


def test_cancel_a_running_experiment_kills_its_runs_and_cancels_the_queue(lab: LabHarness) -> None:
    lab.write_config("[slots]\ncpu = 1\n")
    exp_id = lab.submit("dag", "steps=100", "step_sleep_s=0.1")
    run = lab.wait_for(lambda: (r := lab.run_rows(exp_id)[0])["pid"] and r, 10, "the run to start")
    done = lab.lab("cancel", str(exp_id), "--reason", "enough", check=True)
    assert f"experiment {exp_id} cancelled" in done.stdout
    lab.wait_for(lambda: lab.run_rows(exp_id)[0]["status"] == "cancelled", 10, "the running run to end")
    assert {r["status"] for r in lab.run_rows(exp_id)} == {"cancelled"}
    assert lab.experiment(exp_id)["status"] == "cancelled"
    assert not running(run["pid"])


def test_cancel_a_single_queued_run(lab: LabHarness) -> None:
    lab.write_config("[slots]\ncpu = 1\n")
    # long enough to still be running when both cancels arrive on a loaded machine; they end it
    exp_id = lab.submit("fake", "steps=3000", "step_sleep_s=0.1", seeds=2)
    first, second = lab.run_rows(exp_id)
    lab.wait_for(lambda: lab.run_rows(exp_id)[0]["status"] == "running", 10, "the first run")
    out = lab.lab("cancel", "--run", str(second["id"]), check=True)
    assert "cancelled" in out.stdout
    assert lab.run_rows(exp_id)[1]["status"] == "cancelled"
    lab.lab("cancel", "--run", str(first["id"]), check=True)
    assert lab.wait_experiment(exp_id)["status"] == "failed"


def test_gpu_slots_give_each_run_its_own_device(lab: LabHarness) -> None:
    lab.write_config("[slots]\ncpu = 1\ngpus = [0, 1]\nper_gpu = 1\n")
    exp_id = lab.submit("fake", "device=cuda", "steps=10", "step_sleep_s=0.1", seeds=3)
    lab.wait_experiment(exp_id)
    runs = lab.run_rows(exp_id)
    devices = {json.loads(r["result"])["cuda_visible_devices"] for r in runs}
    assert devices == {"0", "1"} and {r["device"] for r in runs} == {"cuda:0", "cuda:1"}
    # never two runs on one GPU at once
    spans = sorted((r["started_at"], r["finished_at"], r["device"]) for r in runs)
    for i, (start, end, dev) in enumerate(spans):
        for start2, end2, dev2 in spans[i + 1:]:
            assert dev != dev2 or start2 >= end or end2 <= start
    assert all(json.loads(r["result"])["device"] == "cuda" for r in runs)


def test_a_gpu_run_without_gpus_fails_with_a_clear_reason(lab: LabHarness) -> None:
    lab.write_config("[slots]\ngpus = []\n")
    exp_id = lab.submit("fake", "device=cuda")
    lab.wait_experiment(exp_id)
    assert "needs a GPU but this lab has none" in lab.run_rows(exp_id)[0]["error"]


def test_the_monitor_samples_cpu_memory_and_fake_gpus(lab: LabHarness) -> None:
    lab.env["PYTHONPATH"] = f"{FIXTURES / 'fakenvml'}{os.pathsep}{lab.env['PYTHONPATH']}"
    lab.start_engine()
    samples = lab.wait_for(lambda: len(s := lab.query("SELECT * FROM system_samples")) >= 2 and s, 5, "samples")
    sample = samples[-1]
    assert 0 <= sample["cpu_pct"] <= 100 and 0 < sample["mem_used"] < sample["mem_total"]
    gpus = json.loads(sample["gpus"])
    assert [g["name"] for g in gpus] == ["Fake GPU 0", "Fake GPU 1"]
    assert gpus[0]["util_pct"] == 37 and gpus[0]["power_w"] == 123.0 and gpus[0]["temp_c"] == 51
    assert gpus[1]["temp_c"] is None and gpus[1]["power_w"] == 61.5
    heartbeat = lab.query("SELECT heartbeat_at FROM engine")[0]["heartbeat_at"]
    lab.wait_for(lambda: lab.query("SELECT heartbeat_at FROM engine")[0]["heartbeat_at"] > heartbeat, 3, "heartbeat")


def test_the_monitor_has_no_gpu_rows_without_nvml(lab: LabHarness) -> None:
    lab.start_engine()
    sample = lab.wait_for(lambda: lab.query("SELECT * FROM system_samples"), 5, "a sample")[0]
    assert json.loads(sample["gpus"]) == []


def test_requests_on_the_wrong_state_are_answered_with_the_reason(lab: LabHarness) -> None:
    exp_id = lab.submit("fake", "steps=1")
    lab.wait_experiment(exp_id)
    done = lab.lab("approve", str(exp_id))
    assert done.returncode == 1 and "is done: cannot make it approved" in done.stderr
    done = lab.lab("approve", "4242")
    assert done.returncode == 1 and "no experiment with id 4242" in done.stderr
    assert "Traceback" not in done.stderr
