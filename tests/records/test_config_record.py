"""The lab's settings are part of its record: config.toml is committed when the lab is created
and with the next experiment whenever it changed, and the lab's worktree is clean after every
commit (a real git repository, the real engine)."""

from __future__ import annotations

import subprocess

from tests.conftest import LabHarness


def git(lab: LabHarness, *args: str) -> str:
    return subprocess.run(["git", "-C", str(lab.root), *args], capture_output=True, text=True, check=True).stdout


def clean(lab: LabHarness) -> bool:
    return git(lab, "status", "--porcelain", "--untracked-files=all") == ""


def test_config_is_committed_at_creation_and_whenever_it_changed(lab: LabHarness) -> None:
    lab.lab("status", check=True)  # the first command creates the lab
    assert git(lab, "log", "--format=%s").splitlines() == ["lab created: config.toml and .gitignore"]
    assert set(git(lab, "ls-files").split()) == {"config.toml", ".gitignore"}
    assert clean(lab)

    first = lab.submit("fake", "steps=2")
    lab.wait_for(lambda: lab.experiment(first)["git_sha"], 30, "the first experiment's commit")
    assert clean(lab), git(lab, "status", "--porcelain")
    changed = git(lab, "show", "--name-only", "--format=", "HEAD").split()
    assert "config.toml" not in changed  # unchanged settings are not committed again

    lab.dir.config.write_text(lab.dir.config.read_text().replace("kwh_per_day = 1.0", "kwh_per_day = 2.5"))
    second = lab.submit("fake", "steps=2")
    sha = lab.wait_for(lambda: lab.experiment(second)["git_sha"], 30, "the second experiment's commit")
    assert clean(lab), git(lab, "status", "--porcelain")
    assert "config.toml" in git(lab, "show", "--name-only", "--format=", sha).split()
    assert "config.toml changed" in git(lab, "log", "-1", "--format=%B", sha)
    assert "kwh_per_day = 2.5" in git(lab, "show", f"{sha}:config.toml")
    assert git(lab, "show", "exp/1:config.toml") == git(lab, "show", "HEAD~2:config.toml")  # what exp 1 ran under
    assert git(lab, "rev-list", "--count", "HEAD").strip() == "3"


def test_an_older_lab_without_a_repository_commits_its_config_with_the_first_experiment(lab: LabHarness) -> None:
    lab.dir.ensure()
    subprocess.run(["rm", "-rf", str(lab.root / ".git")], check=True)  # as a lab made before this change
    exp_id = lab.submit("fake", "steps=1")
    sha = lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 30, "the commit")
    assert {"config.toml", ".gitignore"} <= set(git(lab, "show", "--name-only", "--format=", sha).split())
    assert clean(lab), git(lab, "status", "--porcelain")
