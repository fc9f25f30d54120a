"""Every changing action of the control room: a request row the engine carries out (or, for a
new experiment, an approved experiment created like `lab run` does), through the lab client the
command line uses too (tui/client.py). Refused in --readonly.

What follows an action (the engine's answer, starting an engine) is the app's: the actions post
typed messages (tui/messages.py) and never call back into it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from contract import requests as rq
from tui.client import Answer, LabClient
from tui.errors import ReadOnlyError
from tui.messages import ExperimentSubmitted, RequestSent

if TYPE_CHECKING:
    from textual.message import Message

    from science.catalog import Catalog
    from science.jobs import Job

ANSWER_TIMEOUT_S = 30.0


class Actions:
    def __init__(self, *, readonly: bool, client: Callable[[], LabClient], catalog: Callable[[], Awaitable[Catalog]],
                 post: Callable[[Message], object]) -> None:
        self.readonly = readonly
        self._client = client    # the open lab's client (RuntimeError before the lab is open)
        self._catalog = catalog
        self._post = post        # to the app

    def refusal(self, what: str) -> str | None:
        """Why `what` is refused (read-only mode), or None when it may be done."""
        return f"read-only mode: cannot {what} (started with --readonly)" if self.readonly else None

    def check(self, what: str) -> None:
        if (refused := self.refusal(what)) is not None:
            raise ReadOnlyError(refused)

    async def request(self, request: rq.Request, *, what: str, notify: bool = True) -> int:
        """Write the request (typed and checked: contract.requests); with `notify`, the app follows
        the answer in the background and shows it. InvalidRequestError says what is wrong before
        anything is written."""
        self.check(what)
        req_id = await self._client().send(request)
        self._post(RequestSent(req_id, what, follow=notify))
        return req_id

    async def answer(self, req_id: int, timeout: float = ANSWER_TIMEOUT_S) -> Answer:
        return await self._client().answer(req_id, timeout)

    async def create_experiment(self, job: Job) -> tuple[int, int]:
        """Validate with the catalog and record the experiment approved; the app makes sure an
        engine runs it."""
        self.check("create an experiment")
        done = await self._client().submit(job, await self._catalog(), "tui")
        self._post(ExperimentSubmitted(done.experiment_id, len(done.run_ids)))
        return done.experiment_id, len(done.run_ids)
