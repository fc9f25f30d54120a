"""What every main screen of the control room shares: the status line, a poll hook called at
each refresh, help and palette entries, and the actions on the selected experiment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult, SystemCommand
from textual.screen import Screen

from tui import keys
from tui.reader import Status
from tui.widgets.status_line import StatusLine
from tui.workers import db_work

if TYPE_CHECKING:
    from textual.binding import BindingType

    from tui.app import ControlRoomApp


class LabScreen(Screen[None]):
    """Start engine (shown only while it is down), help, quit and back are repeated here so
    that the footer shows them first (same ids: one remapping moves both)."""

    BINDINGS: ClassVar[list[BindingType]] = [keys.Key("app.engine", "S", "app.start_engine", "Start engine").binding(),
                keys.Key("app.help", "question_mark", "app.help", "Help", key_display="?").binding(),
                keys.Key("app.quit", "q", "app.quit", "Quit").binding(),
                keys.Key("app.back", "escape", "app.back", "Back").binding()]
    KEY_SCOPES: tuple[list[keys.Key], ...] = ()

    @property
    def lab_app(self) -> ControlRoomApp:
        return self.app  # type: ignore[return-value]

    _status_lines: tuple[StatusLine, ...] = ()

    def status_line(self) -> ComposeResult:
        line = StatusLine(str(self.lab_app.lab.root), self.lab_app.readonly, id="status-line")
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
        self.lab_app.show_status_now(self)
        self.lab_app.poll_soon()

    def extra_commands(self) -> list[SystemCommand]:
        return []


class ExperimentActions:
    """cancel / cancel now / retry / priority on `self.current()`: (experiment id, run id)."""

    app: Any

    def current(self) -> tuple[int | None, int | None]:
        raise NotImplementedError

    def current_row(self) -> dict[str, Any] | None:
        return None

    def action_cancel(self) -> None:
        self._cancel(confirm=True)

    def action_cancel_now(self) -> None:
        self._cancel(confirm=False)

    def _cancel(self, confirm: bool) -> None:
        app = self.app
        exp_id, run_id = self.current()
        if exp_id is None:
            app.notify("select an experiment or a run first", severity="warning")
            return
        what = f"cancel run {run_id}" if run_id is not None else f"cancel experiment #{exp_id}"
        if not app.allowed(what):
            return
        if not confirm:
            self._send_cancel(exp_id, run_id, what)
            return
        from tui.screens.confirm import ConfirmScreen

        detail = ("Its process is stopped; the runs that depend on it are cancelled too." if run_id is not None
                  else "Its queued runs are dropped and its running runs are stopped.")

        def done(yes: bool | None) -> None:
            if yes:
                self._send_cancel(exp_id, run_id, what)

        app.push_screen(ConfirmScreen(f"{what[0].upper()}{what[1:]}?", detail), done)

    @db_work(group="action", where="cancel")
    async def _send_cancel(self, exp_id: int, run_id: int | None, what: str) -> None:
        payload = {"reason": "cancelled from the control room"}
        if run_id is not None:
            await self.app.actions.request("cancel_run", run_id, target_kind="run", payload=payload, what=what)
        else:
            await self.app.actions.request("cancel", exp_id, payload=payload, what=what)

    def action_retry(self) -> None:
        exp_id, _ = self.current()
        if exp_id is None:
            self.app.notify("select an experiment first", severity="warning")
            return
        if self.app.allowed(f"retry experiment #{exp_id}"):
            self._send(("retry", exp_id, None, f"retry experiment #{exp_id}"))

    def action_priority(self, delta: int) -> None:
        exp_id, _ = self.current()
        row = self.current_row()
        if exp_id is None or row is None:
            self.app.notify("select an experiment first", severity="warning")
            return
        value = int(row.get("priority", 0)) + int(delta)
        what = f"set the priority of #{exp_id} to {value}"
        if self.app.allowed(what):
            self._send(("priority", exp_id, {"priority": value}, what))

    def set_priority(self) -> None:
        exp_id, _ = self.current()
        row = self.current_row()
        if exp_id is None:
            self.app.notify("select an experiment first", severity="warning")
            return
        if not self.app.allowed(f"change the priority of #{exp_id}"):
            return
        from tui.screens.prompt import PromptScreen

        def done(text: str | None) -> None:
            if text is not None:
                self._send(("priority", exp_id, {"priority": int(text)}, f"set the priority of #{exp_id} to {text}"))

        def check(text: str) -> str | None:
            try:
                value = int(text)
            except ValueError:
                return "a whole number, e.g. 5 (higher runs first)"
            return None if -1000 <= value <= 1000 else "between -1000 and 1000"

        current = (row or {}).get("priority", 0)
        self.app.push_screen(PromptScreen(f"Priority of experiment #{exp_id}", "higher runs first",
                                          str(current), check), done)

    @db_work(group="action", where="request")
    async def _send(self, request: tuple[str, int, dict[str, Any] | None, str]) -> None:
        kind, target, payload, what = request
        await self.app.actions.request(kind, target, payload=payload, what=what)
