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


# -- JSON with comments, one pass over every problem, files that cannot be read (issues 22 and 25) --

def test_comments_are_allowed_and_a_bad_one_is_placed(lab: LabHarness, tmp_path: Path) -> None:
    text = ('{\n  // the lab\'s own format, commented\n  "experiment": "fake", /* inline */ "params": {"steps": 2},\n'
            '  "name": "commented", "hypothesis": "a // and a /* not a comment */ here"\n}\n')
    done = lab.lab("queue", "add", str(write(tmp_path, text)), check=True)
    assert "experiment 1 (fake) queued" in done.stdout
    exp = lab.experiment(1)
    assert exp["name"] == "commented" and exp["hypothesis"] == "a // and a /* not a comment */ here"
    lines = assert_refused_after(lab, write(tmp_path, '{"experiment": "fake" /* never closed\n}'), 1,
                                 "a /* comment opened at line 1 is never closed")
    assert len(lines) == 1
    lines = assert_refused_after(lab, write(tmp_path, '{\n // fine\n "experiment": "fake",,\n}'), 1,
                                 "not valid JSON", "line 3")
    assert len(lines) == 1


def assert_refused_after(lab: LabHarness, path: Path, existing: int, *expected: str) -> list[str]:
    """Refused with exit 2, naming `expected`, and still `existing` experiments."""
    done = lab.lab("queue", "add", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done
    lines = done.stderr.strip().splitlines()
    for text in expected:
        assert any(text in line for line in lines), f"{text!r} not in {lines}"
    assert len(lab.query("SELECT id FROM experiments")) == existing
    return lines


def test_five_mistakes_are_five_lines_in_one_answer(lab: LabHarness, tmp_path: Path) -> None:
    job = {"experiment": "fake", "seeds": "three", "priority": 1.5, "params": {"steps": -4},
           "deliverables": [{"kind": "looks_good"}], "parent": "exp_nowhere_007"}
    lines = assert_refused(lab, write(tmp_path, job), "seeds: expected an integer", "priority: expected an integer",
                           "params.steps:", 'deliverables[0]: unknown kind "looks_good"',
                           "parent: no experiment has the external id 'exp_nowhere_007'")
    assert len(lines) == 5, lines
    assert all(line.startswith(str(tmp_path / "job.json")) for line in lines)


def test_published_mistakes_and_catalog_refusals_come_together(lab: LabHarness, tmp_path: Path) -> None:
    job = {"experiment_id": "p-1", "config": {"experiment": "fake", "steps": "many", "warp": 1},
           "deliverables": [{"type": "training_metrics", "path": "m.json", "required_keys": []}],
           "analysis_pipeline": ["tea_leaves"], "metadata": {"priority": "urgent"}}
    lines = assert_refused(lab, write(tmp_path, job), "params.steps:", "params.warp: unknown parameter",
                           "deliverables[0]: keys: expected a non-empty list", "analysis_pipeline[0]: unknown step",
                           "metadata.priority: expected high, normal, low")
    assert len(lines) == 5, lines


@pytest.mark.parametrize("content, expected", [
    ('{"experiment": "fake", "metadata": ' + "{\"a\": " * 120 + "1" + "}" * 120 + "}", "nested more than 32 levels"),
    ('{"experiment": "fake", "seeds": ' + "9" * 5000 + "}", "a number of 5000 digits"),
    ('{"experiment": "fake", "params": {"step_sleep_s": 1e999}}', "beyond a float's range"),
    ('{"experiment": "fake", "seeds": NaN}', "NaN is not a JSON number"),
    ('{"experiment": "fake", "experiment": "dag"}', 'the key "experiment" is given twice'),
    ("[" * 30_000 + "]" * 30_000, "nested more than 32 levels"),
])
def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(lab: LabHarness, tmp_path: Path, content: str,
                                                             expected: str) -> None:
    lines = assert_refused(lab, write(tmp_path, content), expected)
    assert len(lines) == 1, lines


def test_odd_encodings(lab: LabHarness, tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_bytes('{"experiment": "fake", "name": "caf\u00e9"}'.encode("latin-1"))
    lines = assert_refused(lab, path, "not UTF-8 text (byte 0xe9 at offset", "save the job file as UTF-8")
    assert len(lines) == 1
    path.write_bytes(b"\xff\xfe" + '{"experiment": "fake", "name": "utf16"}'.encode("utf-16-le"))
    lab.lab("queue", "add", str(path), check=True)
    path.write_bytes(b"\xef\xbb\xbf" + b'{"experiment": "fake", "name": "bom"}')
    lab.lab("queue", "add", str(path), check=True)
    assert [e["name"] for e in lab.query("SELECT name FROM experiments ORDER BY id")] == ["utf16", "bom"]


def test_lab_submit_is_queue_add(lab: LabHarness, tmp_path: Path) -> None:
    done = lab.lab("submit", str(write(tmp_path, GOOD)), check=True)
    assert "experiment 1 (fake) queued" in done.stdout
    bad = lab.lab("submit", str(write(tmp_path, {**GOOD, "seeds": 0})))
    assert bad.returncode == 2 and "seeds: expected an integer from 1 to 20" in bad.stderr


def test_a_child_in_the_labs_format_records_what_it_changed(lab: LabHarness, tmp_path: Path) -> None:
    lab.lab("queue", "add", str(write(tmp_path, GOOD)), check=True)
    child = {"experiment": "fake", "params": {"steps": 7}, "parent": 1, "rationale": "more steps"}
    lab.lab("queue", "add", str(write(tmp_path, child)), check=True)
    mods = json.loads(lab.experiment(2)["modifications"])
    assert mods["changes"] == [{"parameter": "steps", "from": 3, "to": 7}] and mods["rationale"] == "more steps"
    assert lab.experiment(2)["parent_id"] == 1
    shown = lab.lab("show", "2", check=True).stdout
    assert "parent: 1" in shown and "changed: steps 3 -> 7" in shown and "rationale: more steps" in shown
    assert "[steps 3 -> 7]  - more steps" in lab.lab("tree", check=True).stdout
