"""The lock, SIGTERM, and a real `kill -9` of a real engine while runs are active."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import LabHarness
from tests.procs import running
from tests.timing import scaled


def test_a_second_engine_is_refused_naming_the_first_pid(lab: LabHarness) -> None:
    pid = lab.start_engine()
    second = subprocess.run([sys.executable, "-m", "engine", "run", "--dir", str(lab.root)],
                            env=lab.env, capture_output=True, text=True, timeout=scaled(30))
    assert second.returncode == 1
    assert f"already running for this lab (pid {pid}" in second.stderr
    assert "Traceback" not in second.stderr
    assert lab.engine_pid() == pid


def test_a_stale_lock_after_kill_9_does_not_block_a_restart(lab: LabHarness) -> None:
    first = lab.start_engine()
    os.kill(first, signal.SIGKILL)
    lab.wait_for(lambda: not running(first), 5, "the engine to die")
    assert (lab.root / "engine.lock").read_text().strip() == str(first)  # the stale file is still there
    second = lab.start_engine()
    assert second != first and lab.engine_pid() == second


def test_sigterm_stops_scheduling_and_leaves_runs_running(lab: LabHarness, tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    # the run waits before step 20 until the next engine runs, however slow the machine is
    exp_id = lab.submit("fake", "steps=40", "hold_at=20", f"hold_dir={gates}")
    run = lab.wait_for(lambda: (r := lab.run_rows(exp_id)[0])["pid"] and r, 10, "the run to start")
    lab.lab("engine", "stop", check=True)
    assert lab.engine_pid() is None
    assert running(run["pid"])
    assert lab.query("SELECT stopped_at FROM engine")[0]["stopped_at"] is not None
    lab.start_engine()  # the next engine finishes the job
    (gates / "go-20").touch()
    assert lab.wait_experiment(exp_id)["status"] == "done"


def _metric_rows(lab: LabHarness, run_id: int) -> list[tuple[int, str]]:
    return [(m["step"], m["key"]) for m in lab.query(
        "SELECT step, key FROM metrics WHERE run_id = ? ORDER BY step, key", (run_id,))]


def test_kill_9_while_runs_are_active_loses_and_duplicates_nothing(lab: LabHarness, tmp_path: Path) -> None:
    """Two runs stream metrics; the engine is killed; they keep writing; a new engine re-attaches
    and ingests what they wrote meanwhile exactly once."""
    gates = tmp_path / "gates"
    gates.mkdir()
    # the runs wait before step 10 until the engine was killed, and before step 20 until the next
    # engine re-attached them: they outlive the kill and the restart however slow the machine is
    exp_id = lab.submit("fake", "steps=30", "values_per_step=4", "hold_at=10,20", f"hold_dir={gates}", seeds=2)
    engine = lab.engine_pid()
    runs = lab.wait_for(lambda: (rs := lab.run_rows(exp_id)) and all(r["pid"] for r in rs) and rs, 10, "runs")
    lab.wait_for(lambda: lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] > 8, 10, "some metrics")
    os.kill(engine, signal.SIGKILL)
    lab.wait_for(lambda: not running(engine), 5, "the engine to die")
    committed_before = lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"]
    (gates / "go-10").touch()  # the runs keep going and writing while no engine watches
    lab.wait_for(lambda: all(lab.metric_lines(run["id"]) == 20 for run in runs), 10, "steps 10-19 of both runs")
    for run in runs:
        assert running(run["pid"])
    assert lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] == committed_before
    lab.start_engine()
    lab.wait_for(lambda: [e["kind"] for e in lab.query("SELECT kind FROM events")].count("run.reattached") == 2,
                 10, "the next engine to re-attach both runs")
    (gates / "go-20").touch()
    assert lab.wait_experiment(exp_id)["status"] == "done"
    for run in lab.run_rows(exp_id):
        assert run["attempt"] == 1, "a live run was restarted instead of re-attached"
        rows = _metric_rows(lab, run["id"])
        assert len(rows) == len(set(rows)) == 30 * 4
    events = [e["kind"] for e in lab.query("SELECT kind FROM events")]
    assert events.count("run.reattached") == 2


def test_runs_killed_with_the_engine_are_interrupted_and_requeued(lab: LabHarness, tmp_path: Path) -> None:
    # each attempt waits before step 10 (never let go on): both are still running when the test
    # kills the first and cancels the second, however slow the machine is
    exp_id = lab.submit("fake", "steps=50", "hold_at=10", f"hold_dir={tmp_path}")
    engine = lab.engine_pid()
    run = lab.wait_for(lambda: (r := lab.run_rows(exp_id)[0])["pid"] and r, 10, "the run to start")
    lab.wait_for(lambda: lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] > 2, 10, "some metrics")
    os.kill(engine, signal.SIGKILL)
    os.killpg(run["pid"], signal.SIGKILL)  # the machine lost the run too
    # dying, it still holds its lock a moment: a `lab engine start` then would find it running
    lab.wait_for(lambda: not running(engine), 5, "the engine to die")
    lab.start_engine()
    lab.wait_for(lambda: lab.run_rows(exp_id)[0]["attempt"] == 2, 10, "the second attempt")
    kinds = [e["kind"] for e in lab.query("SELECT kind FROM events WHERE run_id = ?", (run["id"],))]
    assert "run.interrupted" in kinds and "run.retry" in kinds
    # everything the lost attempt wrote is kept, under its attempt number, exactly once
    events = (lab.root / "runs" / str(run["id"]) / "attempt-1" / "events.jsonl").read_text().splitlines()
    written = sum(len(json.loads(e)["values"]) for e in events if '"metric"' in e)
    assert lab.query("SELECT COUNT(*) AS n FROM metrics WHERE run_id = ? AND attempt = 1",
                     (run["id"],))[0]["n"] == written > 0
    lab.lab("cancel", str(exp_id), check=True)
