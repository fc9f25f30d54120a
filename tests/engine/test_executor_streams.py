"""A Ray job's streamed path without Ray: the real wrapper (`python -m experiments.remote`) runs
the stand-in program, and its output, cut into arbitrary pieces, is turned back into the run's
files by `JobLog`, exactly once even when read again from the start (an engine restart)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from contract import runfiles
from contract.runspec import RunSpec
from engine import detached_run
from engine.executors.joblog import JobLog
from engine.runenv import secret_pattern
from tests.conftest import make_env


def _job_output(tmp_path: Path, params: dict[str, object], *, deps: dict[str, Path] | None = None) -> tuple[str, int]:
    """Run the wrapper as a Ray job would (in a working directory holding spec.json and deps/);
    returns what it printed (the job's log) and its exit code."""
    work = tmp_path / "job"
    work.mkdir(parents=True)
    spec = {"run_id": 1, "attempt": 1, "name": "fake", "variant": "baseline", "seed": 3, "device": "cpu",
            "params": {"steps": 4, "values_per_step": 2, "step_sleep_s": 0.0, "exit_code": 0, "fail_variant": "",
                       "fail_attempts": 0, "mem_mb": 0, "skip": False, "half_line_s": 0.0, "artifact_kb": 0,
                       **params},
            "variant_params": {}, "output_dir": ".", "events_path": "events.jsonl", "dependencies": {}}
    for name, path in (deps or {}).items():
        (work / "deps" / name).mkdir(parents=True)
        (work / "deps" / name / "artifact.bin").write_bytes(path.read_bytes())
        spec["dependencies"][name] = {"output_dir": f"deps/{name}"}
    (work / "spec.json").write_text(json.dumps(spec))
    env = make_env(tmp_path)
    env.update(JOULELAB_RUN_ENV=json.dumps({"OMP_NUM_THREADS": "3"}), JOULELAB_SECRET_PATTERN=secret_pattern(),
               NODE_API_KEY="a-secret-of-the-node")
    done = subprocess.run([sys.executable, "-m", "experiments.remote", "--", sys.executable, "-m", "fakeexp",
                           "fake", "--spec", "spec.json"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stderr == ""
    return "Runtime env is setting up.\n" + done.stdout, done.returncode


def _feed_in_pieces(joblog: JobLog, text: str, rng: random.Random) -> None:
    i = 0
    while i < len(text):
        n = rng.randint(1, 300)
        joblog.feed(text[i:i + n])
        i += n


def test_the_job_log_becomes_the_run_files_exactly_once(tmp_path: Path) -> None:
    dep = tmp_path / "dep.bin"
    dep.write_bytes(b"d" * 5000)
    log, code = _job_output(tmp_path, {"artifact_kb": 300, "half_line_s": 0.01}, deps={"base": dep})
    assert code == 0
    run_dir = tmp_path / "run"
    detached_run.write_spec(run_dir, RunSpec(run_id=1, name="fake", variant="a", seed=0, params={}, variant_params={},
                                       profile="smoke", device="cpu", threads=1, output_dir=str(run_dir),
                                       events_path=str(run_dir / runfiles.EVENTS), cache_dir=None))
    first = JobLog(run_dir)
    _feed_in_pieces(first, log[: len(log) // 2], random.Random(1))  # an engine dies half-way
    second = JobLog(run_dir)  # the next engine reads the log from its start
    _feed_in_pieces(second, log, random.Random(2))
    assert second.exit_code == 0 and second.outputs_received and not second.notes
    events = [json.loads(line) for line in (run_dir / runfiles.EVENTS).read_text().splitlines()]
    assert [e["type"] for e in events] == ["log"] + ["metric", "progress"] * 4 + ["metric", "artifact", "result"]
    result = events[-1]["values"]
    assert result["omp_num_threads"] == "3" and result["secret_seen"] is False
    assert result["dep_artifacts"] == {"base": 5000}
    assert (run_dir / "artifact.bin").read_bytes() == bytes([3]) * 300 * 1024
    # a third reading (another restart, after the end) changes nothing
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    JobLog(run_dir).feed_log(log)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_a_failing_program_s_stderr_and_exit_code_come_back(tmp_path: Path) -> None:
    log, code = _job_output(tmp_path, {"exit_code": 7})
    assert code == 7
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    joblog = JobLog(run_dir)
    joblog.feed_log(log)
    assert joblog.exit_code == 7
    log, code = _job_output(tmp_path / "b", {"fail_attempts": 1})
    run_dir = tmp_path / "run-b"
    run_dir.mkdir()
    joblog = JobLog(run_dir)
    joblog.feed_log(log)
    assert joblog.exit_code == 4
    assert detached_run.last_error_line(run_dir) == "failing attempt 1 on purpose"


@pytest.mark.parametrize("damage", ["checksum", "missing"])
def test_damaged_outputs_are_reported_not_unpacked(tmp_path: Path, damage: str) -> None:
    log, _ = _job_output(tmp_path, {"artifact_kb": 4})
    lines = log.splitlines(keepends=True)
    if damage == "checksum":
        lines = [ln.replace("@joulelab:A ", "@joulelab:A 00") for ln in lines]
    else:
        lines = [ln for ln in lines if not ln.startswith("@joulelab:a ")]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    joblog = JobLog(run_dir)
    joblog.feed_log("".join(lines))
    assert joblog.exit_code == 0 and not joblog.outputs_received and joblog.notes
    assert not (run_dir / "artifact.bin").exists()


def test_long_lines_travel_in_pieces(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    joblog = JobLog(run_dir)
    long_line = json.dumps({"type": "log", "message": "x" * 40000})
    joblog.feed(f"@joulelab:e+ {long_line[:16000]}\n@joulelab:e+ {long_line[16000:32000]}\n"
                f"@joulelab:e {long_line[32000:]}\n@joulelab:x 0\n")
    assert (run_dir / runfiles.EVENTS).read_text() == long_line + "\n"
