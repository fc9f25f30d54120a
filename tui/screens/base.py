"""What every main screen of the control room shares: the session it works with (tui/session.py),
the status line, a poll hook called at each refresh, help and palette entries, and the actions on
the selected experiment."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.screen import Screen

from contract import requests as rq
from tui import keys
from tui.messages import ScreenShown
from tui.reader import Status
from tui.session import Session, allowed
from tui.widgets.status_line import StatusLine
from tui.workers import db_work

CANCELLED_HERE = "cancelled from the control room"


class LabScreen(Screen[None]):
    """Start engine (shown only while it is down), help, quit and back are repeated here so
    that the footer shows them first (same ids: one remapping moves both)."""

    BINDINGS: ClassVar[list[BindingType]] = [keys.Key("app.engine", "S", "app.start_engine", "Start engine").binding(),
                keys.Key("app.help", "question_mark", "app.help", "Help", key_display="?").binding(),
                keys.Key("app.quit", "q", "app.quit", "Quit").binding(),
                keys.Key("app.back", "escape", "app.back", "Back").binding()]
    KEY_SCOPES: tuple[list[keys.Key], ...] = ()

    _status_lines: tuple[StatusLine, ...] = ()

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def status_line(self) -> ComposeResult:
        line = StatusLine(str(self.session.lab.root), self.session.readonly, id="status-line")
        self._status_lines = (*self._status_lines, line)
        yield line

    def show_status(self, status: Status, now: float) -> None:
        # kept from compose: a query walks the whole screen at every refresh (5 % of the app's CPU
        # with four runs streaming)
        for line in self._status_lines:
            line.show(status, now)

    async def poll(self, version: int, now: float) -> None:
        """Called by the app at every refresh; `version` grows whenever the database changed."""

    def on_screen_resume(self) -> None:
        self.app.post_message(ScreenShown())

    def allowed(self, what: str) -> bool:
        """False (and says why) in read-only mode."""
        return allowed(self.session, self.notify, what)

    def extra_commands(self) -> list[SystemCommand]:
        return []


class ExperimentActions(LabScreen):
    """cancel / cancel now / retry / priority on `self.current()`: (experiment id, run id)."""

    def current(self) -> tuple[int | None, int | None]:
        raise NotImplementedError

    def current_priority(self) -> int | None:
        """The selected experiment's priority (0 when it is not read yet); None: none is selected."""
        return None

    def action_cancel(self) -> None:
        self._cancel(confirm=True)

    def action_cancel_now(self) -> None:
        self._cancel(confirm=False)

    def _cancel(self, confirm: bool) -> None:
        exp_id, run_id = self.current()
        if exp_id is None:
            self.notify("select an experiment or a run first", severity="warning")
            return
        what = f"cancel run {run_id}" if run_id is not None else f"cancel experiment #{exp_id}"
        if not self.allowed(what):
            return
        request = rq.CancelRun(run_id, CANCELLED_HERE) if run_id is not None else rq.Cancel(exp_id, CANCELLED_HERE)
        if not confirm:
            self._send_cancel(request, what)
            return
        from tui.screens.confirm import ConfirmScreen

        detail = ("Its process is stopped; the runs that depend on it are cancelled too." if run_id is not None
                  else "Its queued runs are dropped and its running runs are stopped.")

        def done(yes: bool | None) -> None:
            if yes:
                self._send_cancel(request, what)

        self.app.push_screen(ConfirmScreen(f"{what[0].upper()}{what[1:]}?", detail,
                                           keymap=self.session.settings.keymap), done)

    def action_retry(self) -> None:
        exp_id, _ = self.current()
        if exp_id is None:
            self.notify("select an experiment first", severity="warning")
            return
        what = f"retry experiment #{exp_id}"
        if self.allowed(what):
            self._send(rq.Retry(exp_id), what)

    def action_priority(self, delta: int) -> None:
        exp_id, _ = self.current()
        priority = self.current_priority()
        if exp_id is None or priority is None:
            self.notify("select an experiment first", severity="warning")
            return
        value = priority + int(delta)
        what = f"set the priority of #{exp_id} to {value}"
        if self.allowed(what):
            self._send(rq.Priority(exp_id, value), what)

    def set_priority(self) -> None:
        exp_id, _ = self.current()
        current = self.current_priority() or 0
        if exp_id is None:
            self.notify("select an experiment first", severity="warning")
            return
        if not self.allowed(f"change the priority of #{exp_id}"):
            return
        from tui.screens.prompt import PromptScreen

        def done(text: str | None) -> None:
            if text is not None:
                self._send(rq.Priority(exp_id, int(text)), f"set the priority of #{exp_id} to {text}")

        def check(text: str) -> str | None:
            try:
                value = int(text)
            except ValueError:
                return "a whole number, e.g. 5 (higher runs first)"
            return None if -1000 <= value <= 1000 else "between -1000 and 1000"

        self.app.push_screen(PromptScreen(f"Priority of experiment #{exp_id}", "higher runs first",
                                          str(current), check), done)

    @db_work(group="action", where="cancel")
    async def _send_cancel(self, request: rq.Request, what: str) -> None:
        await self.session.actions.request(request, what=what)

    @db_work(group="action", where="request")
    async def _send(self, request: rq.Request, what: str) -> None:
        await self.session.actions.request(request, what=what)
