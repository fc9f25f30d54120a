"""Runs as Ray jobs, through Ray's Jobs API (`ray.job_submission.JobSubmissionClient`).

Each attempt of a run is one job, `python -m experiments.remote -- python -m experiments NAME
--spec spec.json` (the wrapper is described in experiments/remote.py), asking Ray for the run's
slot: `entrypoint_num_cpus` = the run's threads, `entrypoint_num_gpus` = 1 on a GPU slot, and
its memory limit as `entrypoint_memory`. The job's id is chosen here and stored on the run
before the job is submitted, so an engine killed at any moment re-attaches to its jobs by id.

Two ways for the run's files to reach the engine's machine:

- **streamed** (default): the job's working directory is a copy of the run's inputs (its spec
  with relative paths, and the outputs of the runs it depends on under deps/), uploaded by Ray;
  the wrapper sends events, stdout and stderr over the job's log as they are written, and the
  run's other files at the end. `JobLog` writes them into runs/<id>/ here.
- **shared** (`[executor] shared_dir = true`): the lab directory is mounted at the same path on
  every node; the job starts in runs/<id>/ and writes its files in place.

A job that ends without its wrapper's exit code (a lost node, a killed supervisor, a cluster
restarted and the job forgotten) is an interrupted run, retried while attempts remain. Ray is
imported only here, and only when the engine is configured to use it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shlex
import shutil
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from contract import runfiles, units
from contract.runfiles import RUN_FILES
from contract.runspec import Dependency
from db import Run
from engine.config import ExecutorConfig
from engine.executors.base import Executor, Exit, Launch, LaunchError, RunHandle
from engine.executors.joblog import JobLog
from engine.runenv import forwarded, run_variables, secret_pattern
from engine.slots import cuda_index


class RuntimeEnv(TypedDict):
    """What a job's Ray runtime environment says (Ray's `runtime_env`): the run's variables, and the
    folder of its inputs uploaded with it unless the lab directory is shared."""

    env_vars: dict[str, str]
    working_dir: NotRequired[str]


log = logging.getLogger("engine.ray")

WRAPPER = "experiments.remote"
STATUS_INTERVAL_S = 1.0     # how often a running job's status is asked
CONNECT_RETRY_S = 10.0      # how often an unreachable cluster is tried again
LOST_AFTER_S = 600.0        # a job the cluster cannot be asked about this long is given up
TAIL_RETRY_S = 2.0
UPLOAD_MAX_BYTES = 100 * 2**20  # Ray's packages are bounded; larger inputs need shared_dir
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
COPY_IGNORE = shutil.ignore_patterns("attempt-*", *RUN_FILES, ".outputs*")


class JobState:
    """What the executor keeps per job: its log, the task following it, when status was asked."""

    def __init__(self, run_dir: Path) -> None:
        self.log = JobLog(run_dir)
        self.tail: asyncio.Task[None] | None = None
        self.tail_ended = False
        self.asked_at = 0.0
        self.unreachable_since: float | None = None


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, config: ExecutorConfig, module: str, lab_root: Path) -> None:
        super().__init__()
        self.config = config
        self.module = module
        self.lab_root = lab_root
        self.client: Any = None
        self.error = "not connected yet"
        self._connector: asyncio.Task[None] | None = None
        self._states: dict[int, JobState] = {}

    # -- connection ---------------------------------------------------------------------------

    async def open(self) -> None:
        self._connector = asyncio.ensure_future(self._connect_loop())
        self._connector.set_name("ray connect")

    async def close(self) -> None:
        tasks = [t for t in [self._connector, *(s.tail for s in self._states.values())] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connect_loop(self) -> None:
        while self.client is None:
            try:
                self.client = await asyncio.to_thread(self._connect)
                log.info("connected to the Ray cluster at %s", self.config.address)
                self.on_change()
                return
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}".strip()[:300]
                log.warning("cannot reach the Ray cluster at %s: %s; trying again in %.0f s",
                            self.config.address, self.error, CONNECT_RETRY_S)
            await asyncio.sleep(CONNECT_RETRY_S)

    def _connect(self) -> Any:
        from ray.job_submission import JobSubmissionClient  # ~1 s; only when Ray is configured

        address = self.config.address
        if address != "auto":
            # Ray lets these override the address it is given; config.toml names the cluster
            for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
                if os.environ.pop(name, None) is not None:
                    log.info("ignoring $%s: config.toml sets [executor] address", name)
        return JobSubmissionClient(None if address == "auto" else address)

    def unavailable(self) -> str | None:
        if self.client is None:
            return f"cannot reach the Ray cluster at {self.config.address} ({self.error})"
        return None

    # -- launching ------------------------------------------------------------------------------

    def prepare(self, launch: Launch) -> RunHandle:
        job_id = f"joulelab-run{launch.run_id}-a{launch.attempt}-{secrets.token_hex(4)}"
        return RunHandle(launch.run_id, launch.attempt, launch.run_dir, self.name, job_id=job_id,
                         how="ray job")

    def _entrypoint(self, launch: Launch) -> str:
        python = self.config.python
        program = [python, "-m", launch.module, launch.catalog, "--spec", runfiles.SPEC]
        if self.config.shared_dir:
            return (f"cd {shlex.quote(str(launch.run_dir))} && "
                    f"{shlex.join([python, '-m', WRAPPER, '--shared', '--', *program])}")
        return shlex.join([python, "-m", WRAPPER, "--", *program])

    def _runtime_env(self, launch: Launch, working_dir: Path | None) -> RuntimeEnv:
        cuda = cuda_index(launch.device)
        variables = run_variables(threads=launch.threads, cuda_device=None,
                                  cache_dir=launch.cache_dir if self.config.shared_dir else None,
                                  gpu_from_scheduler=cuda is not None)
        env_vars = {**forwarded(self.config.forward_env), "JOULELAB_RUN_ENV": json.dumps(variables),
                    "JOULELAB_SECRET_PATTERN": secret_pattern(),
                    "JOULELAB_RETURN_MAX_MB": str(self.config.return_max_mb)}
        runtime_env: RuntimeEnv = {"env_vars": env_vars}
        if working_dir is not None:
            runtime_env["working_dir"] = str(working_dir)
        return runtime_env

    def _stage(self, launch: Launch) -> Path:
        """The job's inputs for a node that does not see this machine's disk: the spec with
        relative paths, and the outputs of the runs it depends on under deps/<variant>/."""
        stage = Path(tempfile.mkdtemp(prefix=f"joulelab-job{launch.run_id}-"))
        deps: dict[str, Dependency] = {}
        for variant, dep in launch.spec.dependencies.items():
            source = Path(dep.output_dir or "")
            if dep.output_dir and source.is_dir():
                shutil.copytree(source, stage / "deps" / variant, ignore=COPY_IGNORE,
                                copy_function=_link_or_copy)
                dep = replace(dep, output_dir=f"deps/{variant}")
            deps[variant] = dep
        spec = launch.spec.relocated(output_dir=".", events_path=runfiles.EVENTS, cache_dir=None, dependencies=deps)
        (stage / runfiles.SPEC).write_text(json.dumps(spec.to_json(), indent=2, sort_keys=True))
        size = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file())
        if size > UPLOAD_MAX_BYTES:
            shutil.rmtree(stage, ignore_errors=True)
            raise LaunchError(f"the run's inputs ({units.size(size)} with its dependencies' outputs) "
                              f"are too large to send to a Ray job (at most {units.size(UPLOAD_MAX_BYTES)}); "
                              "mount the lab directory on every node and set [executor] shared_dir = true")
        return stage

    async def start(self, handle: RunHandle, launch: Launch) -> None:
        if self.client is None:
            raise LaunchError(self.unavailable() or "no Ray cluster", retryable=True)
        stage = None if self.config.shared_dir else await asyncio.to_thread(self._stage, launch)
        submit = partial(
            self.client.submit_job, entrypoint=self._entrypoint(launch), submission_id=handle.job_id,
            runtime_env=self._runtime_env(launch, stage),
            metadata={"joulelab_run": str(launch.run_id), "attempt": str(launch.attempt), "lab": str(self.lab_root)},
            entrypoint_num_cpus=launch.threads,
            entrypoint_num_gpus=1 if cuda_index(launch.device) is not None else None,  # None: Ray's default
            entrypoint_memory=int(launch.mem_limit_bytes) if launch.mem_limit_bytes else None)
        try:
            await asyncio.to_thread(submit)
        except Exception as exc:
            raise LaunchError(f"Ray did not accept the job: {type(exc).__name__}: {exc}"[:500],
                              retryable=True) from exc
        finally:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
        self._follow(handle)

    def adopt(self, run: Run, run_dir: Path) -> RunHandle:
        handle = RunHandle(run.id, run.attempt, run_dir, self.name, job_id=run.job_id,
                           how="re-attached")
        if handle.job_id:
            self._follow(handle)
        return handle

    def _follow(self, handle: RunHandle) -> None:
        state = JobState(handle.run_dir)
        handle.state = state
        self._states[handle.run_id] = state
        # in both modes: the wrapper's exit code travels in the log
        state.tail = asyncio.ensure_future(self._tail(handle, state))
        state.tail.set_name(f"follow job {handle.job_id}")

    async def _tail(self, handle: RunHandle, state: JobState) -> None:
        """Follow the job's log as it grows (a websocket); on a broken connection start again,
        skipping what was taken. `poll` reads the complete log once the job has ended."""
        while True:
            if self.client is None:
                await asyncio.sleep(TAIL_RETRY_S)
                continue
            seen = 0
            try:
                async for chunk in self.client.tail_job_logs(handle.job_id):
                    if seen + len(chunk) > state.log.consumed:
                        state.log.feed(chunk[max(0, state.log.consumed - seen):])
                    seen += len(chunk)
                state.tail_ended = True
                self.on_change()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("following job %s: %s; again in %.0f s", handle.job_id, exc, TAIL_RETRY_S)
            await asyncio.sleep(TAIL_RETRY_S)

    # -- watching -----------------------------------------------------------------------------

    async def poll(self, handle: RunHandle) -> Exit | None:
        state = handle.state
        if handle.job_id is None or not isinstance(state, JobState):
            return Exit(None, "the engine stopped before the run's Ray job was submitted")
        now = time.monotonic()
        if self.client is None or (not state.tail_ended and now - state.asked_at < STATUS_INTERVAL_S):
            return None
        state.asked_at = now
        try:
            status = str(await asyncio.to_thread(self.client.get_job_status, handle.job_id))
        except Exception as exc:
            if "does not exist" in str(exc) or "not found" in str(exc).lower():
                return self._ended(handle, state, None, f"the Ray cluster does not know job {handle.job_id} "
                                                        "(the cluster was restarted?)")
            state.unreachable_since = state.unreachable_since or now
            if now - state.unreachable_since > LOST_AFTER_S:
                return self._ended(handle, state, None, f"no answer from the Ray cluster about job "
                                                        f"{handle.job_id} for {units.duration(LOST_AFTER_S)}: {exc}")
            return None
        state.unreachable_since = None
        status = status.rsplit(".", 1)[-1]
        if status not in TERMINAL:
            return None
        # the job has ended: its log is complete; take what the tail did not
        try:
            state.log.feed_log(await asyncio.to_thread(self.client.get_job_logs, handle.job_id))
            info = await asyncio.to_thread(self.client.get_job_info, handle.job_id)
            message = str(getattr(info, "message", "") or "")
        except Exception as exc:
            log.warning("job %s ended but its log could not be read: %s", handle.job_id, exc)
            return None  # asked again at the next poll
        return self._ended(handle, state, state.log.exit_code,
                           f"the Ray job {handle.job_id} ended {status.lower()} without its exit code"
                           + (f": {message[-300:]}" if message else ""))

    def _ended(self, handle: RunHandle, state: JobState, code: int | None, detail: str) -> Exit:
        if state.tail is not None:
            state.tail.cancel()
        self._states.pop(handle.run_id, None)
        for note in state.log.notes:
            log.warning("run %d: %s", handle.run_id, note)
        return Exit(code, "" if code is not None else detail)

    async def kill(self, handle: RunHandle) -> None:
        if self.client is None or not handle.job_id:
            return
        try:
            await asyncio.to_thread(self.client.stop_job, handle.job_id)
        except Exception as exc:
            log.warning("could not stop job %s: %s", handle.job_id, exc)


def _link_or_copy(source: str, target: str) -> object:
    try:
        os.link(source, target)
        return target
    except OSError:
        return shutil.copy2(source, target)
