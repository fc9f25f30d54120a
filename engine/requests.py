"""Requests written as rows by the CLI, the control room and the agents, carried out by the engine.

Each row is read back as its typed request (contract.requests: one dataclass per kind, checked
again where the store reads the row) and carried out by that kind's handler; it ends `done` with a message or `error` with
the reason, which the asker shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from contract import requests as rq
from db import Experiment, IllegalTransitionError, NotFoundError
from db import ExperimentState as E
from db import RunState as R
from db.states import EXPERIMENT_FINISHED, RUN_ACTIVE
from science.catalog import Catalog, CatalogError, InvalidParamsError

if TYPE_CHECKING:
    from engine.ports import EngineControl

log = logging.getLogger("engine.requests")


class RequestError(Exception):
    """A request that cannot be carried out; the message goes back to the asker."""


class RequestHandler:
    def __init__(self, engine: EngineControl) -> None:
        self.engine = engine
        self.store = engine.store
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.engine.module)
        return self._catalog

    def handlers(self) -> dict[type[Any], Callable[[Any], Awaitable[str]]]:
        """One handler per request kind."""
        return {rq.Approve: self._approve, rq.Reject: self._reject, rq.Edit: self._edit, rq.Cancel: self._cancel,
                rq.CancelRun: self._cancel_run, rq.Retry: self._retry, rq.Priority: self._priority,
                rq.Pause: self._pause, rq.Resume: self._resume, rq.Warm: self._warm, rq.Setting: self._setting}

    async def handle_pending(self) -> None:
        handlers = self.handlers()
        for request in await self.store.pending_requests():
            typed = request.request
            if isinstance(typed, rq.Refused):  # its payload did not parse: the store kept the reason
                await self.store.complete_request(request.id, False, {"error": typed.error})
                continue
            try:
                message = await handlers[type(typed)](typed)
                await self.store.complete_request(request.id, True, {"message": message})
            except (rq.InvalidRequestError, RequestError, IllegalTransitionError, NotFoundError, InvalidParamsError,
                    CatalogError) as exc:
                await self.store.complete_request(request.id, False, {"error": str(exc)})
            except Exception as exc:  # a bug: report it to the asker and keep the engine alive
                log.exception("request %s failed", request.id)
                await self.store.complete_request(request.id, False, {"error": f"internal error: {exc!r}"})

    async def _experiment(self, exp_id: int | None) -> Experiment:
        exp = await self.store.get_experiment(exp_id) if exp_id is not None else None
        if exp is None:
            raise RequestError(f"no experiment with id {exp_id} (see `lab status`)")
        return exp

    async def _approve(self, r: rq.Approve) -> str:
        exp_id = r.exp_id
        await self._experiment(exp_id)
        n = await self.store.approve_experiment(exp_id, self.engine.config.run_defaults(), note=r.note)
        return f"experiment {exp_id} approved: {n} run(s) queued"

    async def _reject(self, r: rq.Reject) -> str:
        exp_id, reason = r.exp_id, r.reason
        await self._experiment(exp_id)
        await self.store.reject_experiment(exp_id, reason)
        return f"experiment {exp_id} rejected: {reason}"

    async def _edit(self, r: rq.Edit) -> str:
        exp_id = r.exp_id
        exp = await self._experiment(exp_id)
        if exp.status not in (E.PROPOSED, E.AWAITING_APPROVAL):
            raise RequestError(f"experiment {exp_id} is {exp.status}: only a waiting proposal can be edited")
        changes = dict(r.params)
        params = {**exp.params, **changes}
        plan = await asyncio.to_thread(self.catalog.plan, exp.catalog, params)
        seeds = r.seeds if r.seeds is not None else int(exp.seeds)
        modifications = replace(exp.modifications, edited={**(exp.modifications.edited or {}), **changes})
        await self.store.update_experiment(exp_id, params=plan.params, plan=plan.variants, seeds=seeds,
                                           modifications=modifications)
        await self.store.add_event("experiment.edited", f"experiment {exp_id} parameters edited: "
                                   + ", ".join(f"{k}={v}" for k, v in changes.items()), experiment_id=exp_id)
        return f"experiment {exp_id} updated"

    async def _cancel(self, r: rq.Cancel) -> str:
        exp_id, reason = r.exp_id, r.reason
        exp = await self._experiment(exp_id)
        if exp.status in EXPERIMENT_FINISHED:
            raise RequestError(f"experiment {exp_id} is already {exp.status}")
        runs = await self.store.list_runs(exp_id, statuses=[s.value for s in RUN_ACTIVE])
        killed = 0
        for run in runs:
            if run.status == R.RUNNING:
                killed += await self.engine.cancel_run_process(run.id, reason)
        # runs not running are cancelled now; running ones when their process has ended
        await self.store.cancel_runs([r.id for r in runs if r.status != R.RUNNING], reason)
        await self.store.set_experiment_status(exp_id, E.CANCELLED, error=reason,
                                               message=f"experiment {exp_id} cancelled: {reason}")
        return f"experiment {exp_id} cancelled ({len(runs)} run(s) stopped{f', {killed} killed' if killed else ''})"

    async def _cancel_run(self, r: rq.CancelRun) -> str:
        run_id, reason = r.run_id, r.reason
        run = await self.store.get_run(run_id)
        if run is None:
            raise RequestError(f"no run with id {run_id}")
        if run.status == R.RUNNING:
            if not await self.engine.cancel_run_process(run_id, reason):
                raise RequestError(f"run {run_id} is not running under this engine")
            return f"run {run_id} is being stopped"
        if run.status not in RUN_ACTIVE:
            raise RequestError(f"run {run_id} is already {run.status}")
        await self.store.cancel_runs([run_id], reason)
        return f"run {run_id} cancelled"

    async def _retry(self, r: rq.Retry) -> str:
        exp_id = r.exp_id
        await self._experiment(exp_id)
        n = await self.store.requeue_runs(exp_id)
        if not n:
            raise RequestError(f"experiment {exp_id} has no failed, cancelled or timed-out run to retry")
        return f"experiment {exp_id}: {n} run(s) queued again"

    async def _priority(self, r: rq.Priority) -> str:
        exp_id, priority = r.exp_id, r.priority
        await self._experiment(exp_id)
        await self.store.set_priority(exp_id, priority)
        return f"experiment {exp_id} priority {priority}"

    async def _pause(self, r: rq.Pause) -> str:
        await self.store.set_setting("paused", True)
        self.engine.paused = True
        return "queue paused: running runs go on, no new run starts"

    async def _resume(self, r: rq.Resume) -> str:
        await self.store.set_setting("paused", False)
        self.engine.paused = False
        return "queue resumed"

    async def _warm(self, r: rq.Warm) -> str:
        return self.engine.warm_up()

    async def _setting(self, r: rq.Setting) -> str:
        key, value = r.key, r.value
        await self.store.set_setting(key, value)
        return f"{key} = {value}"
