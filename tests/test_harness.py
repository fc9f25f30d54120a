"""The tests' own lab harness (tests/conftest.py): its teardown kills the engine with everything
it started, cleans up whatever state a killed engine left, and never fails on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.conftest import open_lab
from tests.procs import wait_ended
from tests.timing import scaled


def _sleeper(cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], cwd=cwd,
                            start_new_session=True)


def test_teardown_kills_runs_in_the_lab_even_when_the_database_is_unreadable(tmp_path: Path) -> None:
    stranger = _sleeper(tmp_path)  # outside the lab's folder: not the harness's to kill
    orphan = None
    try:
        with open_lab(tmp_path) as lab:
            lab.dir.ensure()
            lab.dir.db.write_bytes(b"not a database, as a crash mid-write might leave one" * 100)
            lab.dir.lock.write_text("424242\n")  # a dead engine's lock file
            run_dir = lab.root / "runs" / "1"
            run_dir.mkdir(parents=True)
            orphan = _sleeper(run_dir)
        assert orphan.wait(scaled(10)) < 0, "the run working in the lab's folder was killed"
        assert psutil.Process(stranger.pid).is_running()
    finally:
        for proc in (stranger, orphan):
            if proc is not None:
                proc.kill()
                proc.wait()


def test_teardown_reads_a_database_without_tables_as_no_runs(tmp_path: Path) -> None:
    with open_lab(tmp_path) as lab:
        lab.dir.ensure()
        lab.dir.db.touch()  # an engine killed as it created the database
        assert lab.run_rows() == []


def test_teardown_kills_an_engine_a_test_left_stopped_with_all_it_started(tmp_path: Path) -> None:
    with open_lab(tmp_path) as lab:
        lab.write_config("[executor]\nwarm = true\n")
        engine = lab.start_engine()
        lab.submit("fake", "steps=5", "hold_at=1", f"hold_dir={tmp_path}")  # a run that waits for good
        lab.wait_for(lambda: (rs := lab.run_rows()) and rs[0]["status"] == "running" and rs[0]["pid"], 60,
                     "the run to start")
        family = [psutil.Process(engine), *psutil.Process(engine).children(recursive=True)]
        assert any("experiments.worker" in " ".join(p.cmdline()) for p in family), "the engine's warm worker"
        run = psutil.Process(lab.run_rows()[0]["pid"])
        os.kill(engine, signal.SIGSTOP)  # a test that ended between its SIGSTOP and its SIGCONT
    assert lab.engine_pid() is None
    assert wait_ended([*family, run], scaled(10)) == []
