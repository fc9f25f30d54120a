"""Job files: every problem reported at once, one line each, exit 2, nothing recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import LabHarness

GOOD = {"name": "try-fake", "experiment": "fake", "params": {"steps": 3}, "hypothesis": "h",
        "research_question": "q", "seeds": 2, "priority": 1, "deliverables": [], "metadata": {"by": "test"}}


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "job.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def assert_refused(lab: LabHarness, path: Path, *expected: str) -> list[str]:
    done = lab.lab("queue", "add", str(path))
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    for text in expected:
        assert any(text in line for line in lines), f"{text!r} not in {lines}"
    assert lab.query("SELECT * FROM experiments") == []  # nothing half-made
    return lines


def test_a_good_job_is_queued_and_runs(lab: LabHarness, tmp_path: Path) -> None:
    done = lab.lab("queue", "add", str(write(tmp_path, GOOD)), "--wait", check=True)
    assert "experiment 1 (fake) queued: 2 run(s)" in done.stdout and "experiment 1 done" in done.stdout
    exp = lab.experiment(1)
    assert exp["name"] == "try-fake" and exp["priority"] == 1 and exp["source"] == "job"
    assert json.loads(exp["params"])["steps"] == 3 and json.loads(exp["metadata"]) == {"by": "test"}
    assert json.loads(exp["deliverables"]) == [{"kind": "contains_keys", "keys": ["test_accuracy"]}]


def test_unknown_experiment(lab: LabHarness, tmp_path: Path) -> None:
    assert_refused(lab, write(tmp_path, {**GOOD, "experiment": "teleport"}), "unknown experiment 'teleport'")


def test_wrong_types_are_each_named(lab: LabHarness, tmp_path: Path) -> None:
    lines = assert_refused(lab, write(tmp_path, {**GOOD, "seeds": "three", "priority": 1.5, "params": [1],
                                                 "metadata": "x"}),
                           "seeds: expected an integer", "priority: expected an integer",
                           "params: expected an object", "metadata: expected an object")
    assert len(lines) == 4


def test_out_of_range_and_unknown_parameters(lab: LabHarness, tmp_path: Path) -> None:
    assert_refused(lab, write(tmp_path, {**GOOD, "params": {"steps": -4, "warp": 9}}),
                   "params.steps:", "params.warp: unknown parameter")


@pytest.mark.parametrize("name", ["../escape", "a/b", "back\\slash", ""])
def test_a_name_with_path_separators_is_refused(lab: LabHarness, tmp_path: Path, name: str) -> None:
    assert_refused(lab, write(tmp_path, {**GOOD, "name": name}), "name:")


def test_bad_json_names_the_place(lab: LabHarness, tmp_path: Path) -> None:
    assert_refused(lab, write(tmp_path, '{"experiment": "fake",'), "not valid JSON", "line 1")


def test_unreadable_and_missing_files(lab: LabHarness, tmp_path: Path) -> None:
    assert_refused(lab, tmp_path / "nope.json", "no such file")
    assert_refused(lab, tmp_path, "cannot read it")


def test_unknown_fields_and_a_missing_parent(lab: LabHarness, tmp_path: Path) -> None:
    assert_refused(lab, write(tmp_path, {**GOOD, "colour": "red"}), "colour: unknown field")
    assert_refused(lab, write(tmp_path, {**GOOD, "parent": 77}), "parent: no experiment with id 77")


def test_not_an_object(lab: LabHarness, tmp_path: Path) -> None:
    assert_refused(lab, write(tmp_path, [1, 2]), "expected a JSON object")
