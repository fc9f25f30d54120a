"""Fixtures of the control room's tests: a fixture lab (copied per test) and the app factory; the
helpers they share live in tests/tui/support.py."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contract.layout import LabDir
from tests.tui import tui_fixture_lab as fixture_lab
from tests.tui.support import FIXTURES, ROOT, make_app

os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user keymap, the fast stand-in experiment programs, no real terminal settings."""
    monkeypatch.setenv("JOULELAB_KEYMAP", str(tmp_path / "no-keymap.toml"))
    monkeypatch.setenv("JOULELAB_EXPERIMENTS_MODULE", "fakeexp")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(FIXTURES), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))


@pytest.fixture(scope="session")
def lab_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "lab"
    fixture_lab.build_sync(root)
    return root


@pytest.fixture(scope="session")
def gpu_lab_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template-gpu") / "lab"
    fixture_lab.build_sync(root, gpus=True)
    return root


@pytest.fixture
def lab(lab_template: Path, tmp_path: Path) -> LabDir:
    root = tmp_path / "lab"
    shutil.copytree(lab_template, root)
    return LabDir(root)


@pytest.fixture
def gpu_lab(gpu_lab_template: Path, tmp_path: Path) -> LabDir:
    root = tmp_path / "gpu-lab"
    shutil.copytree(gpu_lab_template, root)
    return LabDir(root)


@pytest.fixture
def app_factory() -> Callable[..., Any]:
    return make_app


