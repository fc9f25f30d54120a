"""The real `lab` command in a real terminal (tmux): open it on a lab with a waiting proposal,
approve it with keys, see the run start, quit, and check that the engine and the run go on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import psutil
import pytest

from tests.timing import scaled
from tests.tui.support import FIXTURES, ROOT

if TYPE_CHECKING:
    from db import Run

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, name: str) -> None:
        self.socket = name

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=scaled(10))
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "lab")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + scaled(timeout)
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")


def experiment_runs(lab, exp_id: int) -> list[Run]:  # type: ignore[no-untyped-def]
    from db import Store

    async def read() -> list[Run]:
        store = await Store.open(lab.db)
        try:
            return await store.list_runs(exp_id)
        finally:
            await store.close()

    return asyncio.run(read())


def test_lab_in_tmux_approve_run_quit(tmp_path):
    from contract.layout import LabDir
    from db import ExperimentState as E
    from db import NewExperiment, Store
    from engine import control
    from science.catalog import Catalog

    lab = LabDir(tmp_path / "lab").ensure()
    plan = Catalog("fakeexp").plan("fake", {"steps": 600, "step_sleep_s": 0.05})

    async def propose() -> int:
        store = await Store.open(lab.db)
        try:
            return await store.create_experiment(NewExperiment(
                name="long-fake", catalog="fake", params=plan.params, plan=plan.variants, seeds=1,
                source="researcher", hypothesis="it runs"), status=E.AWAITING_APPROVAL)
        finally:
            await store.close()

    exp_id = asyncio.run(propose())
    env = {"JOULELAB_EXPERIMENTS_MODULE": "fakeexp", "JOULELAB_KEYMAP": str(tmp_path / "none.toml"),
           "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(ROOT)]), "TERM": "xterm-256color"}
    lab_cmd = [sys.executable, "-m", "cli", "--dir", str(lab.root)]
    shell = f"env {' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items())} {shlex.join(lab_cmd)}; " \
            "echo LAB-EXITED-$?; sleep 120"
    tmux = Tmux(f"joulelab-test-{os.getpid()}")
    runs: list[dict] = []
    try:
        tmux("new-session", "-d", "-s", "lab", "-x", "120", "-y", "40", "-c", str(ROOT), shell)
        tmux.wait_for("1 proposal waiting")
        tmux.wait_for("engine up", timeout=30)          # `lab` started a detached engine
        tmux("send-keys", "-t", "lab", "p")
        tmux.wait_for("Proposal 1 of 1")
        tmux("send-keys", "-t", "lab", "a")
        deadline = time.monotonic() + scaled(30)
        while time.monotonic() < deadline:
            runs = experiment_runs(lab, exp_id)
            if runs and runs[0].status == "running" and runs[0].pid:
                break
            time.sleep(0.2)
        assert runs and runs[0].status == "running", runs
        tmux("send-keys", "-t", "lab", "Escape")
        tmux.wait_for("▶ running")
        tmux("send-keys", "-t", "lab", "q")
        tmux.wait_for("LAB-EXITED-0")
        time.sleep(1.0)
        assert control.engine_pid(lab), "the engine keeps going after the control room quits"
        runs = experiment_runs(lab, exp_id)
        assert runs[0].status == "running", runs
        assert psutil.pid_exists(runs[0].pid), "the run's process keeps going"
    finally:
        tmux("kill-server")
        try:
            control.stop(lab)
        finally:
            for run in experiment_runs(lab, exp_id) if lab.db.exists() else []:
                if run.pid:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(run.pid, signal.SIGTERM)  # the run leads its own process group


GREYS = {0, 7, 8, 15, 16, 59, 102, 145, 188, 231, *range(232, 256)}


def test_256_colours_and_no_color(lab):
    """In a 256-colour terminal the control room uses 256-colour codes (never truecolor); with
    NO_COLOR every colour is a grey (Textual's monochrome filter), so meaning never rests on hue
    alone: states carry a word and a mark too."""
    import re

    codes: dict[str, set[int]] = {}
    for i, (mode, extra) in enumerate((("colour", {}), ("no colour", {"NO_COLOR": "1"}))):
        env = {"TERM": "xterm-256color", "JOULELAB_KEYMAP": "/nonexistent", **extra}
        shell = f"env -u COLORTERM {' '.join(f'{k}={v}' for k, v in env.items())} " \
                f"{shlex.join([sys.executable, '-m', 'cli', '--dir', str(lab.root), 'open', '--readonly'])}; sleep 30"
        tmux = Tmux(f"joulelab-colours-{os.getpid()}-{i}")  # a server of its own each time
        try:
            tmux("new-session", "-d", "-s", "lab", "-x", "100", "-y", "30", "-c", str(ROOT), shell)
            tmux.wait_for("awaiting")
            time.sleep(0.5)
            screen = tmux("capture-pane", "-e", "-p", "-t", "lab")
            assert "38;2;" not in screen, f"{mode}: truecolor codes in a 256-colour terminal"
            codes[mode] = {int(c) for c in re.findall(r"38;5;(\d+)", screen)}
            plain = tmux.screen()
            assert "? awaiting" in plain and "▶ running" in plain and "✗ failed" in plain, plain
            tmux("send-keys", "-t", "lab", "q")
        finally:
            tmux("kill-server")
    assert codes["colour"] - GREYS, "colours are used"
    assert codes["no colour"] and codes["no colour"] <= GREYS, codes["no colour"] - GREYS
