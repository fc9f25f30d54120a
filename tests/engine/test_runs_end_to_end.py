"""Real engine subprocess, real run subprocesses (the fast stand-in programs), real SQLite."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.conftest import LabHarness
from tests.timing import machine_quiet


def test_a_plan_runs_as_a_dag_and_its_metrics_are_ingested(lab: LabHarness) -> None:
    exp_id = lab.submit("dag", "steps=7", "values_per_step=3", seeds=2)
    exp = lab.wait_experiment(exp_id)
    assert exp["status"] == "done"
    runs = lab.run_rows(exp_id)
    assert [r["status"] for r in runs] == ["succeeded"] * 8
    by_id = {r["id"]: r for r in runs}
    for run in runs:
        for dep in json.loads(run["depends_on"]):
            assert by_id[dep]["finished_at"] <= run["started_at"], "a dependent started before its dependency ended"
        result = json.loads(run["result"])
        expected = {"base": [], "child": ["base"], "grandchild": ["child"], "other": ["base"]}[run["variant"]]
        assert result["deps"] == expected  # the spec named the dependencies' output dirs
    counts = lab.query("SELECT run_id, COUNT(*) AS n FROM metrics GROUP BY run_id")
    assert {c["run_id"]: c["n"] for c in counts} == {r["id"]: 21 for r in runs}
    assert runs[0]["progress_done"] == 7 and runs[0]["progress_total"] == 7


def test_runs_get_no_secrets_and_their_threads(lab: LabHarness) -> None:
    lab.env["JOULELAB_LLM_API_KEY"] = "sk-test-secret"
    lab.env["OPENAI_API_KEY"] = "sk-test-secret-2"
    exp_id = lab.submit("fake")
    lab.wait_experiment(exp_id)
    (run,) = lab.run_rows(exp_id)
    result = json.loads(run["result"])
    assert result["secret_seen"] is False
    assert result["omp_num_threads"] == str(max(1, (os.cpu_count() or 1) // 2))
    assert result["cuda_visible_devices"] == ""  # a CPU run sees no GPU
    spec = (lab.root / "runs" / str(run["id"]) / "spec.json").read_text()
    assert "sk-test-secret" not in spec


def test_a_failing_run_is_retried_then_succeeds(lab: LabHarness) -> None:
    exp_id = lab.submit("fake", "fail_attempts=1")
    assert lab.wait_experiment(exp_id)["status"] == "done"
    (run,) = lab.run_rows(exp_id)
    assert run["attempt"] == 2 and run["status"] == "succeeded"
    run_dir = lab.root / "runs" / str(run["id"])
    assert "failing attempt 1" in (run_dir / "attempt-1" / "stderr").read_text()
    kinds = [e["kind"] for e in lab.query("SELECT kind FROM events WHERE run_id = ? ORDER BY id", (run["id"],))]
    assert kinds.count("run.started") == 2 and "run.retry" in kinds


def test_a_run_that_keeps_failing_fails_the_experiment_with_its_error(lab: LabHarness) -> None:
    exp_id = lab.submit("dag", "fail_variant=base")
    exp = lab.wait_experiment(exp_id)
    assert exp["status"] == "failed"
    assert "RuntimeError: variant base fails on purpose" in exp["error"]
    statuses = {r["variant"]: r["status"] for r in lab.run_rows(exp_id)}
    assert statuses == {"base": "failed", "child": "failed", "grandchild": "failed", "other": "failed"}


def test_a_skipped_run_is_recorded_as_skipped(lab: LabHarness) -> None:
    exp_id = lab.submit("fake", "skip=true")
    lab.wait_experiment(exp_id)
    (run,) = lab.run_rows(exp_id)
    assert run["status"] == "skipped" and run["error"] == "fake skip"


def test_a_half_written_last_line_waits_for_its_end(lab: LabHarness, tmp_path: Path) -> None:
    gate = tmp_path / "finish-the-line"  # the run finishes its half line once the test looked
    exp_id = lab.submit("fake", "steps=2", "half_line_s=60", f"half_line_gate={gate}")
    lab.start_engine()
    # while the line is half written, the engine ingests what is complete and nothing more
    lab.wait_for(lambda: lab.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] >= 4, 10, "the first metrics")
    time.sleep(0.5)
    assert not lab.query("SELECT * FROM metrics WHERE key = 'half'")
    gate.touch()
    lab.wait_experiment(exp_id)
    half = lab.query("SELECT * FROM metrics WHERE key = 'half'")
    assert len(half) == 1 and half[0]["step"] == 999_999


def test_the_engine_reacts_to_a_request_within_a_second(lab: LabHarness) -> None:
    lab.start_engine()
    started = time.monotonic()
    exp_id = lab.submit("fake", "steps=1")
    lab.wait_for(lambda: lab.run_rows(exp_id)[0]["started_at"], 3.0, "the run to start")
    took = time.monotonic() - started  # the `lab` process itself included
    if machine_quiet():  # a wall time says something about the engine only on a quiet machine
        assert took < 3, took
    lab.wait_experiment(exp_id)


def test_priority_then_age_decides_what_starts(lab: LabHarness) -> None:
    lab.write_config("[slots]\ncpu = 1\n")
    lab.lab("pause", check=True)
    low = lab.submit("fake", "steps=1")
    high = lab.submit("fake", "steps=1", extra=("--priority", "5"))
    older_same = lab.submit("fake", "steps=1", extra=("--priority", "5"))
    lab.lab("resume", check=True)
    for exp_id in (low, high, older_same):
        lab.wait_experiment(exp_id)
    starts = {e: lab.run_rows(e)[0]["started_at"] for e in (low, high, older_same)}
    assert starts[high] < starts[older_same] < starts[low]
