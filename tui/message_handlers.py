"""What the control room does with the typed messages of its workers, actions and screens
(tui/messages.py): one `on_*` method each, so that none of them calls back into the app."""

from __future__ import annotations

from tui.messages import (
    ExperimentSubmitted,
    RefreshWanted,
    RequestAnswered,
    RequestSent,
    ScreenShown,
    SprintAsked,
    WorkerFailed,
)
from tui.sprint import SprintDesk
from tui.workers import db_work


class MessageHandlers(SprintDesk):
    def on_worker_failed(self, message: WorkerFailed) -> None:
        self.report_error(message.error, message.where)

    def on_request_sent(self, message: RequestSent) -> None:
        if not self.session.status.engine.running:
            self.notify(f"{message.what}: asked; the engine is down, so it waits until the engine runs "
                        "(press S to start it)", severity="warning", timeout=8)
        elif message.follow:
            self._follow(message.request_id, message.what)

    def on_request_answered(self, message: RequestAnswered) -> None:
        answer, what = message.answer, message.what
        if answer.ok:
            self.notify(answer.message, title=what)
        else:
            self.notify(answer.message, title=f"could not {what}", severity="warning" if answer.pending else "error",
                        timeout=10)
        self.poll_soon()

    def on_experiment_submitted(self, message: ExperimentSubmitted) -> None:
        if not self.session.status.engine.running:
            self.start_engine(quiet=True)

    def on_refresh_wanted(self, message: RefreshWanted) -> None:
        self.poll_soon()

    def on_screen_shown(self, message: ScreenShown) -> None:
        if not self.screen_stack:  # the app is closing: its screens are gone before this message is read
            return
        self.show_status_now(self.screen)
        self.poll_soon()

    def on_sprint_asked(self, message: SprintAsked) -> None:
        self.ask_sprint()

    @db_work(group="answers", where="request")
    async def _follow(self, req_id: int, what: str) -> None:
        self.post_message(RequestAnswered(req_id, what, await self.session.actions.answer(req_id)))
