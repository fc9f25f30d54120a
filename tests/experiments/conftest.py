"""Fixtures of the experiment programs' tests (the `lab` fixture of tests/conftest.py gives a lab
of its own with the stand-in experiments; `lm_cache` the session's language-model cache)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabHarness, make_env


@pytest.fixture(scope="session")
def real_lab(tmp_path_factory: pytest.TempPathFactory, lm_cache: Path) -> Iterator[LabHarness]:
    """One lab on the real catalog, offline, with the session's language-model cache, shared by
    the tests that submit real entries through the engine and check only their own experiment
    (its runs, results and rating): its engine and the warm worker that engine starts (it
    imports torch, transformers and the harness: ~6 CPU s) start once per test process, on the
    first submission, instead of once per test. A test that needs a lab or a cache of its own
    (a cache miss, a setting of the engine) keeps the `lab` fixture. The engine, what it
    started and the runs are killed at the end of the session."""
    root = tmp_path_factory.mktemp("real-lab")
    env = make_env(root)
    env.update({"JOULELAB_EXPERIMENTS_MODULE": "experiments", "JOULELAB_CACHE": str(lm_cache),
                "JOULELAB_OFFLINE": "1"})
    harness = LabHarness(root / "lab", env)
    # its warm worker stays for the session (it stops after 300 s without a run by default): the
    # tests that share the lab are files apart, other files run between them
    harness.write_config("[executor]\nwarm_idle_s = 3600\n")
    with contextlib.ExitStack() as teardown:  # last in, first out: the engine, then the runs
        teardown.callback(harness.kill_runs)
        teardown.callback(harness.kill_engine)
        yield harness
