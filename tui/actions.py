"""Every changing action of the control room: a request row the engine carries out (or, for a
new experiment, an approved experiment created like `lab run` does). Refused in --readonly.

The answer is awaited in a worker and shown as a notification, so nothing here blocks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contract import requests as rq
from db import ExperimentState as E
from tui.errors import ReadOnlyRefusal

if TYPE_CHECKING:
    from agents.jobs import Job
    from tui.app import ControlRoomApp

ANSWER_TIMEOUT_S = 30.0


@dataclass
class Answer:
    ok: bool
    message: str
    pending: bool = False


class Actions:
    def __init__(self, app: ControlRoomApp) -> None:
        self.app = app

    def check(self, what: str) -> None:
        if self.app.readonly:
            raise ReadOnlyRefusal(f"read-only mode: cannot {what} (started with --readonly)")

    async def request(self, kind: rq.Request | str, target_id: int | None = None, *, what: str,
                      target_kind: str = "experiment", payload: dict[str, Any] | None = None,
                      notify: bool = True) -> int:
        """Write the request (typed and checked: contract.requests); the answer is followed in the
        background and shown. RequestInvalid says what is wrong before anything is written."""
        self.check(what)
        typed = rq.make(kind, target_id, payload)
        store = self.app.require_store()
        req_id = await store.add_request(**rq.row(typed), origin="tui")
        if not self.app.status.engine.running:
            self.app.notify(f"{what}: asked; the engine is down, so it waits until the engine runs "
                            "(press S to start it)", severity="warning", timeout=8)
        elif notify:
            self.app.follow_request(req_id, what)
        return req_id

    async def answer(self, req_id: int, timeout: float = ANSWER_TIMEOUT_S) -> Answer:
        store = self.app.require_store()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            req = await store.get_request(req_id)
            if req and req["status"] != "pending":
                response = req["response"] or {}
                if req["status"] == "error":
                    return Answer(False, str(response.get("error", "the engine refused")))
                return Answer(True, str(response.get("message", "done")))
            await asyncio.sleep(0.15)
        return Answer(False, f"no answer from the engine yet (request {req_id} stays queued)", pending=True)

    async def create_experiment(self, job: Job) -> tuple[int, int]:
        """Validate with the catalog, record the experiment approved, make sure an engine runs."""
        from agents.jobs import JobError, build_experiment
        from engine.config import load_config

        self.check("create an experiment")
        store = self.app.require_store()
        catalog = await self.app.get_catalog()
        new = await asyncio.to_thread(build_experiment, job, catalog, "tui")
        if job.parent is not None and await store.get_experiment(job.parent) is None:
            raise JobError([f"parent: no experiment with id {job.parent}"])
        defaults = load_config(self.app.lab).run_defaults()
        exp_id = await store.create_experiment(new, status=E.APPROVED, run_defaults=defaults)
        runs = await store.list_runs(exp_id)
        if not self.app.status.engine.running:
            self.app.start_engine(quiet=True)
        return exp_id, len(runs)
