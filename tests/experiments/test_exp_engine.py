"""A real catalog plan with a dependency, end to end through the real engine."""

from __future__ import annotations

import json
from pathlib import Path

from contract.events import Error, parse
from tests.conftest import LabHarness


def test_distillation_plan_runs_through_the_engine(real_lab: LabHarness) -> None:
    lab = real_lab  # the real catalog
    exp_id = lab.submit("distillation", "profile=smoke")
    exp = lab.wait_experiment(exp_id, timeout=240)
    assert exp["status"] == "done", exp["error"]
    runs = {r["variant"]: r for r in lab.run_rows(exp_id)}
    assert set(runs) == {"teacher", "student-scratch", "student-hard", "student-soft", "student-both"}
    teacher = runs["teacher"]
    for name in ("student-hard", "student-soft", "student-both"):
        student = runs[name]
        assert json.loads(student["depends_on"]) == [teacher["id"]]
        assert student["started_at"] >= teacher["finished_at"]
        result = json.loads(student["result"])
        assert result["compression_ratio_vs_teacher"] > 1
        assert 0 <= result["test_accuracy"] <= 1 and result["energy_mode"] in ("measured", "modelled")
    spec = json.loads((lab.root / "runs" / str(runs["student-soft"]["id"]) / "spec.json").read_text())
    assert spec["dependencies"]["teacher"]["run_id"] == teacher["id"]
    rated = lab.wait_for(lambda: lab.experiment(exp_id)["rating"], 30, "the rating")
    assert 1 <= rated <= 10


def test_a_failing_program_s_error_event_is_the_run_s_error(real_lab: LabHarness) -> None:
    """A real program that fails (its dataset is not in the cache, offline) writes an `error`
    event; the run's error in the store is that message, not the last line of its stderr."""
    lab = real_lab
    assert lab.env["JOULELAB_OFFLINE"] == "1"
    cache = Path(lab.env["JOULELAB_CACHE"])
    assert not (cache / "fashion_mnist.npz").exists() and not (cache / "fashion_mnist").exists()
    exp_id = lab.submit("logreg", "profile=smoke", "dataset=fashion_mnist")
    assert lab.wait_experiment(exp_id, timeout=240)["status"] == "failed"
    (run,) = lab.run_rows(exp_id)
    error = parse((lab.root / "runs" / str(run["id"]) / "events.jsonl").read_bytes().splitlines()[-1])
    assert isinstance(error, Error) and error.error == "DatasetMissingError" and "fashion_mnist" in error.message
    assert run["error"] == f"exit code {run['exit_code']}: {error.summary()}"  # stderr's line is "error: ..."
    logged = lab.query("SELECT message, data FROM events WHERE run_id = ? AND kind = 'run.log.error'", (run["id"],))
    assert logged and logged[-1]["message"] == error.summary()
    assert json.loads(logged[-1]["data"])["where"] == error.where
