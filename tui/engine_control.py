"""The control room's hand on the engine process: start it (`S`, or by itself when the lab
opens or an experiment is submitted without one). Whether one runs is probed by the refresh
loop (tui/refresh.py) through the engine link (tui/engine_link.py)."""

from __future__ import annotations

import asyncio

from tui.refresh import RefreshLoop
from tui.session import allowed
from tui.workers import db_work


class EngineControls(RefreshLoop):
    def allowed(self, what: str) -> bool:
        """False (and says why) in read-only mode."""
        return allowed(self.session, self.notify, what)

    def engine_startable(self) -> bool:
        """Whether `S` is offered: the engine is known to be down and this is no read-only view."""
        engine = self.session.status.engine
        return not engine.running and engine.known and self.session.reader is not None and not self.session.readonly

    def action_start_engine(self) -> None:
        if not self.allowed("start the engine"):
            return
        engine = self.session.status.engine
        if engine.running:
            self.notify(f"the engine is already running (pid {engine.pid})")
            return
        self.start_engine()

    def start_engine(self, quiet: bool = False) -> None:
        self._start_engine(quiet)

    @db_work(group="engine", exclusive=True, where="starting the engine")
    async def _start_engine(self, quiet: bool) -> None:
        if not quiet:
            self.notify("starting the engine…", title="engine")
        pid = await asyncio.to_thread(self.engine.start)
        self.engine_watch.started(pid)
        if not quiet:
            self.notify(f"the engine is running (pid {pid})", title="engine")
        self.poll_soon()
