"""The control room: a full-screen Textual client of the lab database.

It reads the lab in workers (aiosqlite: the event loop never waits on SQLite), about once a
second (`[tui] refresh_s`, never faster than 4 Hz), skips the heavy reads when the database did
not change (`PRAGMA data_version`), and hands comparable snapshots to widgets that redraw only
what changed. Every changing action is a request row the engine carries out.

This module composes the app: it builds the session its screens work with (tui/session.py) and
opens the lab. Each duty lives in its own module, one layer of the app each: the notifications
(tui/notifications.py), the refresh loop (tui/refresh.py), the engine (tui/engine_control.py), a
sprint asked from here (tui/sprint.py), what the typed messages do (tui/message_handlers.py) and
the app's own keys and palette (tui/key_actions.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from textual.command import Provider
from textual.driver import Driver
from textual.screen import Screen

from contract.layout import LabDir
from db import Store
from tui import keys
from tui.actions import Actions
from tui.catalog_once import CatalogOnce
from tui.client import LabClient
from tui.clock import Clock, system_clock
from tui.engine_link import EngineLink, RealEngine
from tui.errors import ErrorHandler
from tui.input_driver import quiet
from tui.key_actions import KeyActions
from tui.palette import LiteralCommandsProvider
from tui.reader import LabReader, Status
from tui.repaint import install as send_only_changed_spans
from tui.session import Session
from tui.startup import trace
from tui.ui_settings import UISettings, clamp_refresh, load_ui_settings
from tui.workers import db_work

if TYPE_CHECKING:
    from science.catalog import Catalog

send_only_changed_spans()  # each changed line from its change, not from its widget's left edge

HERE = Path(__file__).parent
# every style of the control room: one .tcss beside each widget and screen, all loaded here
STYLES: list[str | PurePath] = [*sorted(str(p) for p in (HERE / "widgets").glob("*.tcss")),
          *sorted(str(p) for p in (HERE / "screens").glob("*.tcss")), str(HERE / "app.tcss")]


class ControlRoomApp(KeyActions):
    TITLE = "Joule Lab"
    CSS_PATH = STYLES
    BINDINGS = keys.bindings(keys.APP)
    # titles and help texts with brackets are text, not markup
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {LiteralCommandsProvider}

    def __init__(self, lab: LabDir, *, readonly: bool = False, clock: Clock = system_clock,
                 engine: EngineLink | None = None, settings: UISettings | None = None,
                 start_engine: bool = True, catalog: Catalog | None = None,
                 refresh_s: float | None = None) -> None:
        super().__init__()
        settings = settings or load_ui_settings(lab)
        if refresh_s is not None:
            settings = UISettings(**{**settings.__dict__, "refresh_s": clamp_refresh(refresh_s)})
        self.engine = engine or RealEngine(lab)
        self.auto_start_engine = start_engine and not readonly
        self.errors = ErrorHandler(lab.root)
        self.ready = asyncio.Event()
        self.exit_note: str | None = None
        catalog_once = CatalogOnce(catalog)
        actions = Actions(readonly=readonly, client=self.client, catalog=catalog_once, post=self.post_message)
        self.session = Session(lab, settings, actions, catalog_once, clock, Status(budgets=settings.budgets))

    @property
    def store(self) -> Store | None:
        """The open lab's store (None until the lab is open)."""
        return self.session.store

    def client(self) -> LabClient:
        """The lab client (requests, new experiments) the command line uses too."""
        if self.session.store is None:
            raise RuntimeError("the lab is not open yet")
        return LabClient(self.session.lab, self.session.store, "tui")

    # -- start ----------------------------------------------------------------------------

    def get_driver_class(self) -> type[Driver]:
        return quiet(super().get_driver_class())  # an input thread that sleeps until input

    def get_default_screen(self) -> Screen[Any]:
        trace("composing")
        from tui.screens.dashboard import DashboardScreen

        return DashboardScreen(self.session)

    def on_mount(self) -> None:
        trace("mounted")
        settings = self.session.settings
        if settings.keymap:
            self.set_keymap(settings.keymap)
        for problem in settings.problems:
            self.notify(problem, title="settings", severity="warning", timeout=10)
        if self.session.lab.exists():
            self.open_lab()
        else:
            from tui.screens.lab_missing import LabMissingScreen

            self.push_screen(LabMissingScreen(self.session.lab, self.session.readonly), self._lab_missing_answered)

    def _lab_missing_answered(self, create: bool | None) -> None:
        lab = self.session.lab
        if not create:
            self.exit_note = f"lab: no lab at {lab.root} (nothing created)"
            self.exit(return_code=1)
            return
        lab.ensure()
        self.notify(f"created the lab at {lab.root}", title="lab")
        self.open_lab()

    @db_work(group="open", where="opening the lab")
    async def open_lab(self) -> None:
        self.hurry_first_frame()
        store = self.session.store = await Store.open(self.session.lab.db)
        trace("store open")
        self.session.reader = LabReader(store)
        await self.watch_changes()
        trace("watcher")
        if self.auto_start_engine and await asyncio.to_thread(self.engine.probe) is None:
            self.start_engine(quiet=True)
        await self.start_refreshing()
        trace("first refresh read and shown")

    async def on_unmount(self) -> None:
        self.stop_refreshing()
        self.stop_watching()
        if self.session.store is not None:
            await self.session.store.close()
