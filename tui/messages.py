"""What the control room's workers, actions and screens report or ask, as typed Textual messages
(Harlequin's `QueriesExecuted`): each is posted to the app and handled by one `on_*` method there
(tui/message_handlers.py), so no worker, action, error handler or screen calls back into the app."""

from __future__ import annotations

from textual.message import Message

from tui.client import Answer


class WorkerFailed(Message):
    """A worker raised: the app classifies it (tui/errors.py) and tells the user."""

    def __init__(self, where: str, error: BaseException) -> None:
        super().__init__()
        self.where = where
        self.error = error


class RequestSent(Message):
    """A request was written; `follow`: show the engine's answer when it comes."""

    def __init__(self, request_id: int, what: str, follow: bool) -> None:
        super().__init__()
        self.request_id = request_id
        self.what = what
        self.follow = follow


class RequestAnswered(Message):
    """The engine answered a request the app follows (or the wait ended: `answer.pending`)."""

    def __init__(self, request_id: int, what: str, answer: Answer) -> None:
        super().__init__()
        self.request_id = request_id
        self.what = what
        self.answer = answer


class ExperimentSubmitted(Message):
    """A new experiment was recorded approved: an engine must be there to run it."""

    def __init__(self, experiment_id: int, runs: int) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.runs = runs


class RefreshWanted(Message):
    """A screen changed something, or shows something new: the app reads the lab again soon."""


class ScreenShown(Message):
    """A screen of the lab came (back) on top: the app shows it the status now and refreshes."""


class SprintAsked(Message):
    """The user asked the research team for a sprint now (the app runs `lab sprint`)."""
