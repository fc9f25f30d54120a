"""Every finished experiment becomes exactly one tagged git commit with its whole record."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

from tests.conftest import LabHarness


def git(lab: LabHarness, *args: str) -> str:
    return subprocess.run(["git", "-C", str(lab.root), *args], capture_output=True, text=True, check=True).stdout


def test_a_finished_experiment_is_one_commit_with_its_whole_record(lab: LabHarness, tmp_path: Path) -> None:
    lab.env["HOME"] = str(tmp_path)  # no git identity configured: the lab commits as "Joule Lab"
    lab.env.pop("GIT_AUTHOR_NAME", None)
    exp_id = lab.submit("dag", "steps=4", seeds=2)
    lab.wait_experiment(exp_id)
    sha = lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 15, "the commit")
    assert git(lab, "rev-list", "--count", "HEAD", "--", "exp").strip() == "1"
    assert git(lab, "rev-parse", f"exp/{exp_id}^{{commit}}").strip() == sha
    message = git(lab, "log", "-1", "--format=%an|%s%n%b")
    assert re.match(rf"Joule Lab\|exp {exp_id}: dag \(dag\) done, (rating \d+/10|not rated)", message)
    files = set(git(lab, "ls-tree", "-r", "--name-only", "HEAD").split())
    folder = f"exp/{exp_id}-dag"
    for name in ("experiment.json", "plan.json", "runs.json", "results.json", "metrics.csv",
                 "environment.json", "code/SHA256", "code/fakeexp/__main__.py", "specs/1.json"):
        assert f"{folder}/{name}" in files, name
    assert not any(f.startswith(("runs/", "lab.db")) for f in files)  # scratch and database stay out
    root = lab.root / folder
    rows = list(csv.DictReader((root / "metrics.csv").read_text().splitlines()))
    assert len(rows) == 8 * 4 * 2 and {r["variant"] for r in rows} == {"base", "child", "grandchild", "other"}
    env = json.loads((root / "environment.json").read_text())
    assert env["joulelab_version"] and env["commands"]["1"].endswith("-m fakeexp dag --spec spec.json")
    spec = json.loads((root / "specs" / "1.json").read_text())
    assert spec["code_sha256"] == (root / "code" / "SHA256").read_text().strip()
    assert len(json.loads((root / "results.json").read_text())) == 8


def test_a_failed_commit_is_reported_and_repaired_at_the_next_start(lab: LabHarness) -> None:
    lab.dir.ensure()
    subprocess.run(["git", "init", "-q", str(lab.root)], check=True)
    lock = lab.root / ".git" / "index.lock"
    lock.write_text("held by someone else")
    exp_id = lab.submit("fake", "steps=2")
    lab.wait_experiment(exp_id)
    event = lab.wait_for(lambda: lab.query("SELECT * FROM events WHERE kind = 'experiment.record_failed'"),
                         15, "the failure to be reported")
    assert "index.lock" in event[0]["message"] and "will be retried" in event[0]["message"]
    assert lab.experiment(exp_id)["status"] == "done" and lab.experiment(exp_id)["git_sha"] is None
    lab.stop_engine()
    lock.unlink()
    lab.start_engine()
    sha = lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 15, "the repaired commit")
    assert git(lab, "rev-list", "--count", "HEAD", "--", "exp").strip() == "1"
    assert git(lab, "rev-parse", "HEAD").strip() == sha
    # a later restart does not commit it again
    lab.stop_engine()
    lab.start_engine()
    second = lab.submit("fake", "steps=1")
    lab.wait_for(lambda: lab.experiment(second)["git_sha"], 20, "the second commit")
    assert git(lab, "rev-list", "--count", "HEAD", "--", "exp").strip() == "2"
    assert git(lab, "tag", "--list").split() == [f"exp/{exp_id}", f"exp/{second}"]


def test_a_retried_experiment_is_committed_again_and_its_tag_moves(lab: LabHarness) -> None:
    exp_id = lab.submit("fake", "steps=2", "exit_code=5")
    lab.wait_experiment(exp_id)
    first = lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 30, "the first commit")
    lab.lab("retry", str(exp_id), check=True)
    lab.wait_for(lambda: lab.experiment(exp_id)["status"] == "failed" and lab.experiment(exp_id)["git_sha"],
                 60, "the second finish and its commit")
    second = lab.experiment(exp_id)["git_sha"]
    assert second != first
    assert git(lab, "rev-parse", f"exp/{exp_id}^{{commit}}").strip() == second
    assert git(lab, "rev-list", "--count", "HEAD", "--", "exp").strip() == "2"
    runs = json.loads(git(lab, "show", f"exp/{exp_id}:exp/{exp_id}-fake/runs.json"))
    assert runs[0]["attempt"] == 3  # the record shows the retried run
