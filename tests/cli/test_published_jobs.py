"""The published pipeline job format through `lab queue add` (next to the lab's own): its external
id kept and shown, config mapped onto the catalog entry and its parameters, deliverables with a
type and a validation, the analysis pipeline and the priority level; the results written back in
the same format (record folder and `lab show --results-json`); every deliverable kind the lab
cannot check refused with exit 2 and the list of kinds, nothing recorded."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import LabHarness

PUBLISHED: dict[str, Any] = {
    "experiment_id": "pipeline-2024-017",
    "description": "Does the DAG stand-in keep its accuracy across variants?",
    "config": {"experiment": "dag", "steps": 3},
    "deliverables": [
        {"name": "final metrics", "type": "metrics", "validation": "contains_keys", "keys": ["test_accuracy"]},
        {"name": "accuracy floor", "type": "metric",
         "validation": {"kind": "threshold", "key": "test_accuracy", "op": ">=", "value": 0.5}},
        {"name": "run spec", "type": "file", "validation": "exists", "path": "spec.json"},
        {"name": "device", "type": "metric", "validation": "matches_expected", "key": "device", "expected": "cpu"},
        {"name": "report", "type": "report", "validation": "contains_sections",
         "sections": ["Summary", "Method", "Results"]},
    ],
    "analysis_pipeline": ["performance_analysis", {"step": "ablation_study"}, "baseline_comparison"],
    "metadata": {"priority": "high", "owner": "pipeline"},
    "seeds": 2,
}


def write(tmp_path: Path, content: Any, name: str = "job.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return path


def refused(lab: LabHarness, path: Path, *expected: str) -> list[str]:
    done = lab.lab("queue", "add", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done
    for text in expected:
        assert text in done.stderr, f"{text!r} not in {done.stderr}"
    assert lab.query("SELECT id FROM experiments") == []
    return done.stderr.strip().splitlines()


def test_a_published_job_runs_and_its_results_come_back_in_the_same_format(lab: LabHarness, tmp_path: Path) -> None:
    done = lab.lab("queue", "add", str(write(tmp_path, PUBLISHED)), check=True)
    assert "experiment 1 (dag) queued: 8 run(s)" in done.stdout and "external id pipeline-2024-017" in done.stdout
    exp = lab.experiment(1)
    assert (exp["name"], exp["priority"], exp["seeds"]) == ("pipeline-2024-017", 10, 2)
    assert json.loads(exp["params"])["steps"] == 3
    metadata = json.loads(exp["metadata"])
    assert metadata["owner"] == "pipeline" and metadata["job"]["experiment_id"] == "pipeline-2024-017"
    kinds = [(d["kind"], d["type"]) for d in json.loads(exp["deliverables"])]
    assert kinds == [("contains_keys", "metrics"), ("threshold", "metric"), ("exists", "file"),
                     ("matches_expected", "metric"), ("contains_sections", "report")]
    shown = lab.lab("show", "1", check=True).stdout
    assert "external id: pipeline-2024-017" in shown and "description: Does the DAG" in shown
    assert "analysis pipeline: performance_analysis, ablation_study, baseline_comparison" in shown

    lab.wait_experiment(1, timeout=120)
    sha = lab.wait_for(lambda: lab.experiment(1)["git_sha"], 60, "the record")
    folder = lab.root / "exp" / "1-pipeline-2024-017"
    payload = json.loads((folder / "results_payload.json").read_text())
    assert payload["experiment_id"] == "pipeline-2024-017" and payload["lab_experiment_id"] == 1
    assert payload["status"] == "completed", payload["deliverables_status"]
    assert [d["status"] for d in payload["deliverables_status"]] == ["passed"] * 5
    assert payload["deliverables_status"][4]["detail"] == "the report has Summary, Method, Results"
    assert payload["config"]["experiment"] == "dag" and payload["config"]["steps"] == 3
    metrics = payload["summary_metrics"]
    assert metrics["rating"] == lab.experiment(1)["rating"] and metrics["runs"]["succeeded"] == 8
    assert metrics["variants"]["base"]["test_accuracy"]["mean"] == 0.505  # seeds 0 and 1: 0.50, 0.51
    assert set(payload["analysis"]) == {"performance_analysis", "ablation_study", "baseline_comparison"}
    assert payload["analysis"]["ablation_study"]["variants"]["child"]["changed"] == {"k": {"from": None, "to": 1}}
    assert "child" in payload["analysis"]["baseline_comparison"]["variants"]
    committed = subprocess.run(["git", "-C", str(lab.root), "show", f"{sha}:exp/1-pipeline-2024-017/results_payload.json"],
                               capture_output=True, text=True, check=True).stdout
    assert json.loads(committed)["status"] == "completed"
    again = json.loads(lab.lab("show", "1", "--results-json", check=True).stdout)
    assert again["status"] == "completed" and again["git_sha"] == sha


def test_a_failed_run_or_deliverable_is_partial_success(lab: LabHarness, tmp_path: Path) -> None:
    job = {**PUBLISHED, "experiment_id": "p-2", "config": {"experiment": "dag", "steps": 2, "fail_variant": "other"},
           "seeds": 1, "analysis_pipeline": [], "metadata": {"priority": "low"},
           "deliverables": [{"type": "metric", "validation": {"kind": "threshold", "key": "test_accuracy",
                                                              "op": ">", "value": 0.9}}]}
    lab.lab("queue", "add", str(write(tmp_path, job)), check=True)
    assert lab.experiment(1)["priority"] == -10
    lab.wait_experiment(1, timeout=120)
    lab.wait_for(lambda: lab.experiment(1)["rating"] is not None, 60, "the rating")
    payload = json.loads(lab.lab("show", "1", "--results-json", check=True).stdout)
    assert payload["status"] == "partial_success" and payload["analysis"] == {}
    assert payload["summary_metrics"]["runs"]["failed"] == 1
    (d,) = payload["deliverables_status"]
    assert d["status"] == "failed" and "fails" in d["detail"]


def test_published_jobs_that_cannot_be_checked_are_refused(lab: LabHarness, tmp_path: Path) -> None:
    kinds = "exists, exists_and_loadable, matches_expected, contains_sections, contains_keys, threshold, statistical_test"
    refused(lab, write(tmp_path, {**PUBLISHED, "deliverables": [{"type": "model", "validation": "vibe_check"}]}),
            'deliverables[0]: unknown kind "vibe_check": the lab checks ' + kinds)
    refused(lab, write(tmp_path, {**PUBLISHED, "analysis_pipeline": ["performance_analysis", "tea_leaves"]}),
            'analysis_pipeline[1]: unknown step "tea_leaves"')
    refused(lab, write(tmp_path, {**PUBLISHED, "metadata": {"priority": "urgent"}}),
            'metadata.priority: expected high, normal, low')
    refused(lab, write(tmp_path, {**PUBLISHED, "config": {"experiment": "fake"}}),
            "ablation_study and baseline_comparison compare variants with a baseline: fake with these "
            "parameters plans only baseline")
    refused(lab, write(tmp_path, {**PUBLISHED, "config": {"steps": 3}}), "config.experiment: expected the name")
    refused(lab, write(tmp_path, {**PUBLISHED, "config": {"experiment": "dag", "warp": 9}}),
            "params.warp: unknown parameter")
    lines = refused(lab, write(tmp_path, {**PUBLISHED, "experiment": "dag", "deliverables": [{"type": "report"}],
                                          "colour": 1}),
                    "colour: unknown field of the published format", "use one format or the other",
                    "deliverables[0]: sections: expected a non-empty list of section titles")
    assert len(lines) == 3, lines


def test_the_labs_own_format_refuses_unknown_kinds_too(lab: LabHarness, tmp_path: Path) -> None:
    job = {"experiment": "fake", "deliverables": [{"kind": "contains_keys", "keys": ["x"]}, {"kind": "looks_good"}]}
    lines = refused(lab, write(tmp_path, job), 'deliverables[1]: unknown kind "looks_good": the lab checks exists,')
    assert len(lines) == 1
    refused(lab, write(tmp_path, {"experiment": "fake", "deliverables": [{"kind": "exists", "path": "../x"}]}),
            "must stay inside the run's folder")
