"""A full disk loses nothing: a lab on a small filesystem (a size-limited tmpfs in a namespace of
its own, tests/smalldisk.py) is filled during a run, during an ingest and during a commit. While it
is full the lab says what waits and about how much it needs (`lab status`, disk.notice), the engine
keeps its state, and nothing recorded is lost or half-written; once space is freed the work goes on
by itself."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.diskspace import read_notice
from contract.layout import LabDir
from tests.conftest import LabHarness, open_lab
from tests.smalldisk import SmallDisk, SmallDiskUnavailableError
from tests.timing import scaled

CONFIG = "[engine]\nmin_free_mb = 1\n[slots]\ncpu = 1\n[runs]\nretries = 1\n"

# a query run where the small filesystem is mounted: SQLite resolves the links of a path, so the
# test cannot open the database through /proc/<holder>/root
QUERY = """
import json, sqlite3, sys
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode={sys.argv[2]}", uri=True, timeout=10)
conn.row_factory = sqlite3.Row
print(json.dumps([dict(r) for r in conn.execute(sys.argv[3], json.loads(sys.argv[4])).fetchall()]))
"""


class NamespacedLab(LabHarness):
    """A lab whose processes (and this harness's database reads) run where `wrap` puts them."""

    def _read(self, sql: str, args: tuple[Any, ...], mode: str) -> list[dict[str, Any]]:
        try:
            done = subprocess.run(self.wrap([sys.executable, "-c", QUERY, str(self.root / "lab.db"), mode, sql,
                                             json.dumps(list(args))]), capture_output=True, text=True,
                                  timeout=scaled(60))
        except subprocess.TimeoutExpired:  # an error of the database to the harness, whose teardown reads on
            raise sqlite3.OperationalError(f"no answer within {scaled(60):g} s") from None
        if done.returncode != 0:
            raise sqlite3.OperationalError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
        return list(json.loads(done.stdout))


class SmallLab:
    def __init__(self, disk: SmallDisk, lab: LabHarness) -> None:
        self.disk, self.lab = disk, lab

    def notice_line(self) -> str | None:
        notice = read_notice(self.lab.dir.disk_notice)
        return notice.line() if notice else None

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.disk.command(["git", "-C", str(self.lab.root), *args]), capture_output=True,
                              text=True, timeout=scaled(60))

    def metrics(self, run_id: int) -> int:
        return int(self.lab.query("SELECT COUNT(*) AS n FROM metrics WHERE run_id = ?", (run_id,))[0]["n"])

    def intact(self) -> None:
        """The database and the git record are whole."""
        assert self.lab.query("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
        fsck = self.git("fsck", "--no-progress")
        assert fsck.returncode == 0, fsck.stderr

    def waiting_for_space(self, what: str = "needs about", timeout: float = 60) -> str:
        """The line the lab shows while `what` waits for space (notice and `lab status` agree)."""
        line = self.lab.wait_for(lambda: (n := self.notice_line()) and what in n and n, timeout,
                                 f"the disk notice to say {what!r}")
        status = self.lab.lab("status", check=True).stdout
        assert "disk full: the disk holding" in status and what in status, status
        return str(line)

    def resumed(self) -> None:
        self.lab.wait_for(lambda: self.notice_line() is None, 60, "the disk notice to clear")
        log = self.lab.dir.log.read_text()
        assert "disk space is back" in log and "nothing was lost" in log


@pytest.fixture
def small(tmp_path: Path) -> Iterator[SmallLab]:
    try:
        disk = SmallDisk(tmp_path / "disk", 48 * 2**20)
    except SmallDiskUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        with open_lab(tmp_path / "disk", wrap=disk.command, harness_type=NamespacedLab) as lab:
            lab.dir = LabDir(disk.view(lab.root))  # the test's own reads go through the namespace
            lab.write_config(CONFIG)
            yield SmallLab(disk, lab)
    finally:
        disk.close()


def _running(lab: LabHarness, exp_id: int) -> dict:
    return lab.wait_for(lambda: next((r for r in lab.run_rows(exp_id) if r["status"] == "running"), None), 60,
                        f"a run of experiment {exp_id} to run")


def test_a_disk_filled_during_a_run(small: SmallLab, tmp_path: Path) -> None:
    """The run's first steps are recorded; it waits before its third step while the disk fills
    (a gate outside the small disk), then writes its 398 other steps onto the full disk. Its retry,
    once space is back, passes the open gate."""
    lab, disk = small.lab, small.disk
    gates = tmp_path / "gates"
    gates.mkdir()
    engine = lab.start_engine()
    exp_id = lab.submit("fake", "steps=400", "values_per_step=20", "hold_at=2", f"hold_dir={gates}")
    run = _running(lab, exp_id)
    lab.wait_for(lambda: small.metrics(run["id"]) >= 40, 60, "metrics of the first steps")
    disk.fill()
    (gates / "go-2").touch()
    line = small.waiting_for_space()  # its events, its end, its retry: whichever met the full disk first
    assert "is full (" in line and "needs about" in line and "nothing recorded is lost" in line
    before = small.metrics(run["id"])
    assert os.kill(engine, 0) is None and lab.engine_pid() == engine  # the engine keeps going, unmoved
    time.sleep(scaled(1))
    assert lab.experiment(exp_id)["status"] == "running"  # nothing concluded on a half-recorded run
    disk.free()
    exp = lab.wait_experiment(exp_id, timeout=120)
    assert exp["status"] == "done", exp
    runs = lab.run_rows(exp_id)
    assert runs[0]["status"] == "succeeded" and runs[0]["attempt"] == 2, runs  # the retry, once space was back
    assert small.metrics(run["id"]) >= before  # what was recorded before the disk filled is still there
    lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 90, "the commit")
    small.resumed()
    small.intact()


def test_a_disk_filled_during_an_ingest(small: SmallLab, tmp_path: Path) -> None:
    """The run writes all its events and ends while the engine is stopped; the disk fills before
    the engine goes on: the ingest waits for space (said in the notice), then goes ahead whole.
    The engine is stopped the moment the run's process starts, inside its launch (the process
    forked, its pid not yet recorded): the pid cannot be recorded on the full disk either, yet the
    run is watched, and its pid is recorded once space is back."""
    lab, disk = small.lab, small.disk
    gates = tmp_path / "gates"  # outside the small disk
    gates.mkdir()
    engine = lab.start_engine()
    # (its metrics wait at a gate the test opens once the engine is stopped)
    exp_id = lab.submit("fake", "steps=1500", "values_per_step=10", "hold_at=0", f"hold_dir={gates}")
    pid_file = disk.view(lab.dir.run_dir(1) / "pid")
    deadline = time.monotonic() + scaled(60)
    while not pid_file.exists():  # written by the run's process as it starts
        assert time.monotonic() < deadline, "the run's process did not start"
        time.sleep(0.001)
    os.kill(engine, signal.SIGSTOP)  # the run writes all its events while the engine does not ingest them
    (gates / "go-0").touch()
    try:
        (run,) = lab.run_rows(exp_id)
        assert run["status"] == "running" and small.metrics(run["id"]) == 0
        run_dir = disk.view(Path(run["run_dir"]))
        lab.wait_for(lambda: (run_dir / "exit_code").exists(), 60, "the run to end")
        disk.fill()
    finally:
        os.kill(engine, signal.SIGCONT)
    line = small.waiting_for_space(f"the ingest of run {run['id']}")
    assert "needs about" in line
    partial = small.metrics(run["id"])
    assert partial < 15000
    assert lab.run_rows(exp_id)[0]["status"] == "running"  # not settled on half its events
    disk.free()
    exp = lab.wait_experiment(exp_id, timeout=120)
    assert exp["status"] == "done", exp
    assert small.metrics(run["id"]) == 15000  # every event once: none lost, none twice
    (done,) = lab.run_rows(exp_id)
    assert done["status"] == "succeeded" and done["attempt"] == 1 and json.loads(done["result"])["test_accuracy"]
    assert done["pid"] == int(pid_file.read_text())  # its process recorded after all
    lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 90, "the commit")
    small.resumed()
    small.intact()


def _validators() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"agents\0validate" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


COMMIT_ROOM = 256 * 1024  # room for the engine's small writes (the experiment's end), not for its record


def test_a_disk_filled_during_a_commit(small: SmallLab) -> None:
    lab, disk = small.lab, small.disk
    engine = lab.start_engine()
    exp_id = lab.submit("fake", "steps=300", "values_per_step=20")
    lab.wait_for(lambda: lab.experiment(exp_id)["status"] == "analyzing", 120, "the analysis")
    os.kill(engine, signal.SIGSTOP)  # rated (the validator is a process of its own), not yet committed
    try:
        lab.wait_for(lambda: lab.experiment(exp_id)["rating"] is not None and not _validators(), 120,
                     "the validator to finish")
        disk.fill(leave=COMMIT_ROOM)
    finally:
        os.kill(engine, signal.SIGCONT)
    line = small.waiting_for_space(f"the commit of experiment {exp_id}")
    assert "needs about" in line
    assert not lab.experiment(exp_id)["git_sha"]
    assert "exp/" + str(exp_id) not in small.git("tag").stdout  # nothing committed half
    disk.free()
    sha = lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 90, "the commit")
    folder = next(disk.view(lab.root / "exp").glob(f"{exp_id}-*"))
    rows = (folder / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 300 * 20  # the whole table, not a half-written one
    assert small.git("rev-parse", f"exp/{exp_id}^{{commit}}").stdout.strip() == sha
    small.resumed()
    small.intact()
