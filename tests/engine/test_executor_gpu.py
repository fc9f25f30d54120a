"""GPU paths. On a machine without a GPU the check script says so and exits 0; the tests marked
`gpu` run only where a GPU is (tests/conftest.py skips them elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.gpu_check import gpu_presence
from tests.conftest import ROOT, LabHarness

HAS_GPU, FOUND = gpu_presence()


def _gpu_check(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.skipif(HAS_GPU, reason=f"a GPU is here ({FOUND})")
def test_the_gpu_check_ends_cleanly_without_a_gpu() -> None:
    done = _gpu_check(timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no GPU here (") and done.stdout.strip().endswith("nothing to check")
    assert "Traceback" not in done.stderr


@pytest.mark.gpu
@pytest.mark.timeout(400)
def test_every_cuda_path_works() -> None:
    done = _gpu_check(timeout=360)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout


@pytest.mark.gpu
def test_a_run_on_a_gpu_slot_sees_exactly_its_gpu(lab: LabHarness) -> None:
    lab.write_config("[slots]\ncpu = 1\ngpus = [0]\nper_gpu = 1\n")
    exp_id = lab.submit("fake", "device=cuda", seeds=2)
    assert lab.wait_experiment(exp_id)["status"] == "done"
    for run in lab.run_rows(exp_id):
        assert run["device"] == "cuda:0"
        assert json.loads(run["result"])["cuda_visible_devices"] == "0"
