"""The one client of a lab for people's tools: the command line (`lab ...`) and the control room
send requests and submit experiments through it, so both check, write and wait the same way.

A request is typed and checked (contract.requests) before it is written; its answer is the
engine's (`done` with a message, `error` with the reason) or, after the wait, "pending": it
stays queued for the next engine. A new experiment is validated completely by the catalog and
recorded approved, with the run limits of config.toml.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contract import requests as rq
from contract.layout import LabDir
from db import ExperimentState as E
from db import NewExperiment, RequestStatus, Store

if TYPE_CHECKING:
    from science.catalog import Catalog
    from science.jobs import Job

POLL_S = 0.05


@dataclass(frozen=True)
class Answer:
    ok: bool
    message: str
    pending: bool = False  # no answer yet: the request stays queued


@dataclass(frozen=True)
class Submitted:
    experiment_id: int
    run_ids: list[int]
    new: NewExperiment


class LabClient:
    def __init__(self, lab: LabDir, store: Store, origin: str) -> None:
        self.lab = lab
        self.store = store
        self.origin = origin  # "cli" or "tui": who asked, in the requests table

    async def send(self, request: rq.Request) -> int:
        """Write the request; InvalidRequestError (one line) before anything is written when it is bad."""
        return int(await self.store.add_request(**rq.row(rq.make(request)), origin=self.origin))

    async def answer(self, req_id: int, timeout: float) -> Answer:
        """The engine's answer, waited for up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            req = await self.store.get_request(req_id)
            if req and req.status != RequestStatus.PENDING:
                response = req.response or {}
                if req.status == RequestStatus.ERROR:
                    return Answer(False, str(response.get("error", "the engine refused the request")))
                return Answer(True, str(response.get("message", "done")))
            if time.monotonic() >= deadline:
                return Answer(False, f"no answer from the engine yet (request {req_id} stays queued)", pending=True)
            await asyncio.sleep(POLL_S)

    async def submit(self, job: Job, catalog: Catalog, source: str, problems: Sequence[str] = ()) -> Submitted:
        """Validate the job (its parent, a genealogy child's changes, the catalog's check) and record
        it approved; JobError lists every problem, `problems` (of the file's shape) among them."""
        from contract.config import ConfigError
        from science.job_submission import model_aliases, prepare
        from science.jobs import JobError

        try:
            models = model_aliases(self.lab.config)
        except ConfigError as exc:
            raise JobError([*problems, str(exc)]) from None
        new = await prepare(job, list(problems), catalog, self.store, source, models)
        if job.lineage is None and job.parent is not None and await self.store.get_experiment(job.parent) is None:
            raise JobError([f"parent: no experiment with id {job.parent}"])
        return await self.record_approved(new)

    async def record_approved(self, new: NewExperiment) -> Submitted:
        """Record an experiment already built (a job, a reproduction) approved, with config.toml's
        run limits; the engine starts its runs."""
        from engine.config import load_config

        exp_id = await self.store.create_experiment(new, status=E.APPROVED,
                                                    run_defaults=load_config(self.lab).run_defaults())
        runs = await self.store.list_runs(exp_id)
        return Submitted(exp_id, [int(r.id) for r in runs], new)
