"""The control room's refresh loop: about once a second (`[tui] refresh_s`, never faster than
4 Hz) it asks whether the database changed (`PRAGMA data_version`, in a thread) and which engine
holds the lab's lock, reads the status, shows it and has the screen on top read what it shows;
the heavy reads are skipped when nothing changed. It also shows what went wrong (tui/errors.py's
outcomes): a database problem on the status line, anything else as a notification.

The refreshes run in one task that lives as long as the lab is open and waits to be woken (by
the interval, or by `poll_soon` when something asked for a refresh): a Textual worker started
each second cost a task, its bookkeeping and three state-change messages dispatched through the
app, a tenth of the control room's CPU while runs stream."""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import replace
from typing import Any

from textual.screen import Screen

from db.watch import ChangeWatcher
from tui.clock import start_of_day
from tui.engine_link import EngineLink
from tui.errors import DbProblem, ErrorHandler, Outcome
from tui.lab_status import EngineWatch, build_status
from tui.notifications import PlainNotifications
from tui.reader import Status
from tui.screens.base import LabScreen
from tui.session import Session
from tui.startup import first_frame
from tui.workers import db_work, guarded

ENGINE_PROBE_S = 1.0  # the engine's lock is checked at least this often
ENGINE_DOWN = "The engine has stopped: no new run starts and requests wait. Press S to restart it."


class RefreshLoop(PlainNotifications):
    session: Session
    engine: EngineLink
    errors: ErrorHandler
    ready: asyncio.Event
    data_version = 0  # grows whenever the database changed
    watcher: ChangeWatcher | None = None
    _busy = False
    _refreshing: asyncio.Task[None] | None = None
    _db_problem: str | None = None
    _bindings_key: tuple[Any, ...] | None = None
    _switch_interval = 0.005

    def __init__(self) -> None:
        super().__init__()
        self._watch_lock = threading.Lock()
        self.engine_watch = EngineWatch()
        self._wake = asyncio.Event()

    async def watch_changes(self) -> None:
        """Watch the open lab's database for changes (its data_version, in a thread)."""
        self.watcher = await asyncio.to_thread(ChangeWatcher, self.session.lab.db)

    async def start_refreshing(self) -> None:
        """Show the open lab once, then refresh it at the settings' rate."""
        await self.refresh_lab()
        self._refreshing = asyncio.create_task(self._refresh_forever(), name="refresh")
        refresh_s = self.session.settings.refresh_s
        self.set_interval(refresh_s, self.poll_soon, name="refresh")
        if refresh_s > ENGINE_PROBE_S:  # a dead engine is shown within 2 s whatever the rate
            self.set_interval(ENGINE_PROBE_S, self._probe_engine, name="engine probe")

    def stop_refreshing(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            self._refreshing = None

    @property
    def refreshing(self) -> bool:
        """A refresh runs or is asked for (tests wait for it before a screenshot)."""
        return self._busy or self._wake.is_set()

    def stop_watching(self) -> None:
        with self._watch_lock:
            if self.watcher is not None:
                self.watcher.close()
                self.watcher = None

    def poll_soon(self) -> None:
        """A refresh as soon as the one under way (if any) ended: asked twice meanwhile, one."""
        if self.session.reader is not None:
            self._wake.set()

    async def _refresh_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._refresh_once()

    @guarded(where="refresh")
    async def _refresh_once(self) -> None:
        await self.refresh_lab()

    @db_work(group="probe", exclusive=True, where="probing the engine")
    async def _probe_engine(self) -> None:
        pid = await asyncio.to_thread(self.engine.probe)
        if (pid is not None) != self.session.status.engine.running:
            self.poll_soon()

    def _probe(self) -> tuple[bool, int | None]:
        """On the store's thread: did the database change, and which engine holds the lock."""
        with self._watch_lock:  # never while the connection is being closed (that would crash)
            changed = self.watcher.changed() if self.watcher is not None else True
        return changed, self.engine.probe()

    async def refresh_lab(self) -> None:
        """One refresh: engine, status, then whatever the screen on top shows."""
        reader = self.session.reader
        if reader is None or self._busy:
            return
        self._busy = True
        try:
            starts = self.engine_watch.starts
            changed, pid = await reader.store.on_thread(self._probe)  # no thread of its own woken
            now = self.session.clock()
            if changed or not reader.stamps:
                before = reader.stamps
                if await reader.update_stamps() != before:
                    self.data_version += 1
            raw = await reader.status(now=now, today=start_of_day(now), budgets=self.session.settings.budgets)
            pid = self.engine_watch.probed(pid, starts)  # a start that ended meanwhile is newer news
            if self.engine_watch.just_stopped(pid):
                raw = replace(raw, engine_row=await reader.engine_row())  # its last heartbeat
            engine, went_down = self.engine_watch.seen(pid, raw.engine_row, now)
            if went_down and not self.session.readonly:
                self.notify(ENGINE_DOWN, title="engine down", severity="error", timeout=15)
            self.session.status = build_status(raw, engine, self.session.settings, self._db_problem)
            screen = self.screen
            self.show_status_now(screen)
            if isinstance(screen, LabScreen):
                await screen.poll(self.data_version, now)
            self.show_outcomes(self.errors.success())
            if not self.ready.is_set():
                self.ready.set()
                self.call_after_refresh(self._first_frame)
        finally:
            self._busy = False

    def hurry_first_frame(self) -> None:
        """The first reads hop to the database thread a few dozen times while this thread is busy
        laying out the screen: hand the GIL over faster until the first frame is shown."""
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)

    def _first_frame(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        first_frame()

    def show_status_now(self, screen: Screen[Any]) -> None:
        if isinstance(screen, LabScreen):
            screen.show_status(self.session.status, self.session.clock())
        # the footer is rebuilt on refresh_bindings: only when what it shows may change
        engine = self.session.status.engine
        key = (id(screen), engine.running, engine.known, self.session.reader is not None)
        if key != self._bindings_key:
            self._bindings_key = key
            self.refresh_bindings()

    def set_db_problem(self, problem: str | None) -> None:
        self._db_problem = problem
        self.session.status = Status(**{**self.session.status.__dict__, "db_problem": problem})
        self.show_status_now(self.screen)

    def report_error(self, exc: BaseException, where: str) -> None:
        self.show_outcomes(self.errors.classify(exc, where))

    def show_outcomes(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, DbProblem):
                self.set_db_problem(outcome.text)
            else:
                self.notify(outcome.text, title=outcome.title, severity=outcome.severity, timeout=outcome.timeout)
