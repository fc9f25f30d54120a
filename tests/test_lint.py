"""The code's habits, checked with the suite: ruff (pycodestyle, pyflakes, import order, bugbear,
pyupgrade, complexity, simplifications, ruff's own rules, naming) over the whole tree, and mypy,
strict on the shared contract, the rooms that keep the lab's state and run its work (db/, engine/),
the science, the research team, the record, the control room and the command line (the files listed
in [tool.mypy]; no global ignore: only the libraries that ship no types are overridden, one by one).
Both read their settings from pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import earlymypy
from tests.timing import scaled

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_ruff_finds_nothing() -> None:
    done = subprocess.run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=scaled(300))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_mypy_is_strict_on_the_checked_rooms(early_mypy: Path) -> None:
    # started with the session beside the tests, in a cache of its own (tests/earlymypy.py)
    done = earlymypy.result(early_mypy, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:]
    assert "Success" in done.stdout


def test_no_file_holds_a_merge_conflict_marker() -> None:
    # a merge resolved in a hurry once left its markers in docs/ARCHITECTURE.md
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=scaled(60), check=True)
    marked = []
    for name in tracked.stdout.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.suffix not in {".py", ".md", ".toml", ".txt", ".tcss", ".cfg", ".sh"}:
            continue
        lines = path.read_text(errors="replace").splitlines()
        if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "=======" for line in lines):
            marked.append(name)
    assert not marked, f"merge conflict markers in {marked}"
