"""Fixtures of the control room's tests: a fixture lab (copied per test), the app on it with a
stand-in engine and a fixed clock, and a request responder that plays the engine's part."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(HERE))

os.environ["TZ"] = "UTC"
time.tzset()

import tui_fixture_lab as fixture_lab  # noqa: E402

from contract.layout import LabDir  # noqa: E402
from tests.timing import scaled  # noqa: E402


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


def make_app(lab: LabDir, **kwargs: Any):  # type: ignore[no-untyped-def]
    from tui.app import ControlRoomApp
    from tui.clock import fixed_clock

    kwargs.setdefault("clock", fixed_clock(fixture_lab.T0))
    kwargs.setdefault("engine", fixture_lab.FakeEngine())
    kwargs.setdefault("start_engine", False)
    kwargs.setdefault("refresh_s", 0.25)
    return ControlRoomApp(lab, **kwargs)


@pytest.fixture
def app_factory() -> Callable[..., Any]:
    return make_app


async def until(pilot: Any, condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Let the app run until `condition()` holds (`timeout` scaled, tests/timing.py)."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


async def ready(pilot: Any) -> None:
    await asyncio.wait_for(pilot.app.ready.wait(), scaled(10))
    await pilot.pause()


async def settle(pilot: Any, timeout: float = 10.0) -> None:
    """Until no worker runs and the screen has had a few quiet refreshes (for screenshots)."""
    from textual.worker import WorkerState

    deadline = time.monotonic() + scaled(timeout)
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
        quiet = 0 if busy else quiet + 1
        await pilot.pause(0.1)
    await pilot.wait_for_scheduled_animations()


class Responder:
    """Plays the engine's part for requests: the real request handler, on a stand-in engine."""

    def __init__(self, store: Any) -> None:
        from engine.config import LabConfig
        from engine.requests import RequestHandler

        async def no_process(run_id: int, reason: str) -> int:
            return 0

        self.engine = SimpleNamespace(store=store, config=LabConfig(), module="fakeexp",
                                      cancel_run_process=no_process, paused=False,
                                      warm_up=lambda: "the warm worker is starting")
        self.handler = RequestHandler(self.engine)  # type: ignore[arg-type]
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            await self.handler.handle_pending()
            await asyncio.sleep(0.05)

    def start(self) -> Responder:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


async def requests_of(app: Any) -> list[dict[str, Any]]:
    store = app.store
    async with store.reading() as tx:
        return await tx.all("SELECT * FROM requests ORDER BY id")


AsyncFn = Callable[..., Awaitable[Any]]
