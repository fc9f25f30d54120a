"""Helpers of the control room's tests (imported as `tests.tui.support`, never through the name
`conftest`, which names whichever conftest.py pytest loaded last): the app on a fixture lab with a
stand-in engine and a fixed clock, waits on a pilot, and a request responder that plays the
engine's part."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from contract.layout import LabDir
from tests.timing import scaled
from tests.tui import tui_fixture_lab as fixture_lab

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def make_app(lab: LabDir, **kwargs: Any):  # type: ignore[no-untyped-def]
    from tui.app import ControlRoomApp
    from tui.clock import fixed_clock

    kwargs.setdefault("clock", fixed_clock(fixture_lab.T0))
    kwargs.setdefault("engine", fixture_lab.FakeEngine())
    kwargs.setdefault("start_engine", False)
    kwargs.setdefault("refresh_s", 0.25)
    return ControlRoomApp(lab, **kwargs)


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
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers) \
            or getattr(pilot.app, "refreshing", False)
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
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def requests_of(app: Any) -> list[dict[str, Any]]:
    store = app.store
    async with store.reading() as tx:
        return await tx.all("SELECT * FROM requests ORDER BY id")


AsyncFn = Callable[..., Awaitable[Any]]
