"""The permanent record: each finished experiment committed to the lab's git repository.

`exp/<id>-<slug>/` holds the experiment, its plan and runs, the code that ran, the environment,
the results, the metrics as CSV, the rating and the report. One commit per experiment, tagged
`exp/<id>`; its sha is stored on the experiment. A failed commit (locked index, ...) is reported
and retried later; the experiment itself is never touched by a failure here.

The report (`report.md` and `figures/*.png`) is written into the folder before the commit by
`python -m records report` in a subprocess: matplotlib and scipy never load in the engine. A
failed report is reported (event `experiment.report_failed`) and the commit waits for one more
attempt (`REPORT_ATTEMPTS`, at the next retry); when that fails too, the experiment is committed
without its report, with `REPORT-MISSING.txt` saying why: a record is never held back for good
by its report. `lab report <id>` writes the report again under the lab's `reports/`.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import git

from agents.subprocesses import run_python
from contract import codesnap, units
from contract.diskspace import DiskWatch, is_full, says_full
from contract.event_data import Recorded
from contract.layout import LabDir, identity_env
from contract.plan import plan_json
from db import Experiment, FamilyMember, GpuReading, MetricPoint, Run, Store
from records import analysis_reports, results_payload, snapshot
from records.environment import environment

log = logging.getLogger("records.git")

FINISHED = ("done", "failed")
REPORT_TIMEOUT_S = 600.0  # a report with a language model's discussion may take a while
REPORT_ATTEMPTS = 2       # then the experiment is committed without its report
MISSING_REPORT = "REPORT-MISSING.txt"
COMMIT_BYTES = 512 * 1024  # a commit's git objects and index beyond its files (an estimate, for the disk notice)
REPORT_OUTPUTS = ("report.md", "figures", MISSING_REPORT, "reports")
CONFIG = "config.toml"
PAYLOAD = "results_payload.json"  # the results in the published job format (records/results_payload.py)
DATA_VERSIONS = "data_versions.json"  # each run's datasets: sha256, source, path (experiments/data_versions.py)


class RecordError(RuntimeError):
    """The experiment could not be committed; it will be retried."""


class ReportFailedError(RecordError):
    """The report could not be written; the commit waits for another attempt."""


async def run_report(lab_root: Path, exp_id: int, folder: Path, timeout: float = REPORT_TIMEOUT_S) -> None:
    """`python -m records report` into `folder`; RuntimeError with the reason when it fails."""
    try:
        done = await run_python(["-m", "records", "report", str(exp_id), "--dir", str(lab_root), "--out", str(folder)],
                                timeout=timeout)  # cancelled: the child is killed, the next engine records it
    except OSError as exc:
        raise RuntimeError(f"cannot start the report writer: {exc}") from None
    if done.code is None:
        raise RuntimeError(f"the report writer ran longer than {units.duration(timeout)}")
    if not done.ok:
        log.warning("report of experiment %d failed (exit %s):\n%s", exp_id, done.code, done.err.strip()[-3000:])
        raise RuntimeError(done.why)
    if not (folder / "report.md").exists():
        raise RuntimeError("the report writer wrote no report.md")


def _digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def _write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """The record folder holds exactly `files` (left-overs of an earlier attempt are removed)."""
    if folder.exists():
        shutil.rmtree(folder)
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _clear_report(folder: Path) -> None:
    for name in REPORT_OUTPUTS:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "experiment"


def exp_dirname(exp: Experiment | FamilyMember) -> str:
    return f"{exp.id}-{slug(exp.name)}"


def open_repo(lab: LabDir) -> git.Repo:
    """The lab directory as a git repository, created on first use."""
    lab.ensure()
    try:
        return git.Repo(lab.root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        repo = git.Repo.init(lab.root)
        log.info("created the git repository of the lab in %s", lab.root)
        return repo


def _metrics_csv(rows: list[MetricPoint], runs: dict[int, Run]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "variant", "seed", "attempt", "step", "key", "value", "t"])
    for m in rows:
        run = runs.get(m.run_id)
        writer.writerow([m.run_id, run.variant if run else None, run.seed if run else None, m.attempt,
                         m.step, m.key, "" if m.value is None else repr(m.value), f"{m.t:.3f}"])
    return out.getvalue()


class Recorder:
    def __init__(self, lab: LabDir, store: Store, module: str, disk: DiskWatch | None = None) -> None:
        self.lab = lab
        self.disk = disk       # a full disk: the commit waits, and says how much it needs
        self._needs: dict[int, int] = {}  # bytes a commit needs (its files and their git objects), an estimate
        self.store = store
        self.module = module
        self.failed: set[int] = set()  # experiments whose commit failed and waits for a retry
        self.report_failures: dict[int, int] = {}  # failed report attempts per experiment
        self._reported: dict[int, str] = {}  # digest of the files the folder's report was written for
        self._busy: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def record_pending(self) -> None:
        """Commit every finished experiment without a commit (e.g. after a crash)."""
        for exp in await self.store.list_experiments(statuses=list(FINISHED)):
            if not exp.git_sha:
                await self.record_safe(exp.id)

    async def record_safe(self, exp_id: int) -> str | None:
        """Commit, reporting a failure. A retry (an experiment in `failed`) works in the background:
        the engine's loop asks for it and must not wait on a report subprocess."""
        if exp_id in self._busy:
            return None
        self._busy.add(exp_id)  # released when the attempt ends
        if exp_id in self.failed:
            task = asyncio.ensure_future(self._attempt(exp_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return None
        return await self._attempt(exp_id)

    async def _attempt(self, exp_id: int) -> str | None:
        what = f"the commit of experiment {exp_id}"
        try:
            sha = await self.record(exp_id)
            self.failed.discard(exp_id)
            if self.disk:
                self.disk.done(what)
            return sha
        except Exception as exc:
            if not is_full(exc):
                await self._failed(exp_id, exc)
                return None
            self.failed.add(exp_id)  # retried once space is back; nothing was committed half
            if self.disk:
                self.disk.full(what, self._needs.get(exp_id, COMMIT_BYTES))
            return None
        finally:
            self._busy.discard(exp_id)

    async def _failed(self, exp_id: int, exc: Exception) -> None:
        """A commit that failed for another reason than a full disk: said in the log and the
        lab's events; retried (a report has REPORT_ATTEMPTS, then the commit goes without it)."""
        self.failed.add(exp_id)
        if isinstance(exc, ReportFailedError):
            log.warning("experiment %d: %s", exp_id, exc)
            await self.store.add_event("experiment.report_failed", f"experiment {exp_id}: {exc}",
                                       experiment_id=exp_id)
            return
        log.error("could not commit experiment %d: %s (will retry)", exp_id, exc)
        await self.store.add_event("experiment.record_failed", f"experiment {exp_id}: commit failed: "
                                   f"{exc}; it will be retried", experiment_id=exp_id)

    async def record(self, exp_id: int) -> str | None:
        exp = await self.store.get_experiment(exp_id)
        if exp is None or exp.status not in FINISHED or exp.git_sha:
            return exp.git_sha if exp else None
        sha = await asyncio.to_thread(self._tagged, exp)
        if sha is None:
            runs = await self.store.list_runs(exp_id)
            metrics = await self.store.experiment_metrics(exp_id)
            samples = await self.store.system_samples(1)
            gpus = samples[-1].gpus if samples else []
            files = await asyncio.to_thread(self._files, exp, runs, metrics, gpus)
            folder = self.lab.exp / exp_dirname(exp)
            self._needs[exp_id] = 2 * sum(len(b) for b in files.values()) + COMMIT_BYTES
            digest = _digest(files)
            if self._reported.get(exp_id) != digest:  # else: the folder is as the last attempt left it
                await asyncio.to_thread(_write_folder, folder, files)
                await self._report(exp_id, folder)
                self._reported[exp_id] = digest
            # the analysis pipeline's reports, then the results in the published job format (its
            # report's sections checked now it exists)
            await asyncio.to_thread(analysis_reports.write, folder, exp, runs, results_payload.steps_of(exp))
            data = results_payload.payload(exp, runs, folder, self.lab.root)
            (folder / PAYLOAD).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
            sha = await asyncio.to_thread(self._commit, exp, folder)
        await self.store.update_experiment(exp_id, git_sha=sha)
        await self.store.add_event("experiment.recorded", f"experiment {exp_id} committed as {sha[:10]} "
                                   f"(tag exp/{exp_id})", experiment_id=exp_id, data=Recorded(sha))
        return sha

    def _files(self, exp: Experiment, runs: list[Run], metrics: list[MetricPoint],
               gpus: list[GpuReading]) -> dict[str, bytes]:
        def js(value: Any) -> bytes:
            return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()

        record = {k: v for k, v in exp.to_dict().items() if k not in ("plan", "rating_breakdown", "git_sha", "updated_at")}
        files: dict[str, bytes] = {
            "experiment.json": js(record),
            "plan.json": js({"variants": plan_json(exp.plan), "seeds": exp.seeds,
                             "runs": [{"id": r.id, "variant": r.variant, "seed": r.seed, "depends_on": r.depends_on,
                                       "status": r.status}
                                      for r in runs]}),
            "runs.json": js([{k: v for k, v in r.to_dict().items() if k not in ("pid", "pid_start_time", "ingest_offset")}
                             for r in runs]),
            "results.json": js({str(r.id): r.result for r in runs if r.result is not None}),
            "metrics.csv": _metrics_csv(metrics, {r.id: r for r in runs}).encode(),
            "environment.json": js(environment(runs, self.module, gpus).to_json()),
        }
        if exp.rating is not None:
            breakdown = exp.rating_breakdown.to_json() if exp.rating_breakdown else None
            files["rating.json"] = js({"rating": exp.rating, "breakdown": breakdown})
        try:
            code = codesnap.source_files(self.module)
            files.update({f"code/{name}": data for name, data in code.items()})
            files["code/SHA256"] = (codesnap.tree_hash(code) + "\n").encode()
        except codesnap.CodeNotFoundError as exc:
            files["code/MISSING"] = f"{exc}\n".encode()
        generated = exp.metadata.generated
        if generated is not None and generated.source is not None:
            # code a language model wrote: it ran in the sandbox, and is kept with its hash
            files["code/generated/program.py"] = generated.source.encode()
            files["code/generated/SHA256"] = ((generated.sha256 or "") + "\n").encode()
        for r in runs:
            spec = Path(r.run_dir or "") / "spec.json"
            if r.run_dir and spec.exists():
                files[f"specs/{r.id}.json"] = spec.read_bytes()
        # the environment as a container recipe and the data each run read, by sha256
        files.update(snapshot.files(runs, exp))
        files[DATA_VERSIONS] = js({str(r.id): r.result.get("data_versions") for r in runs
                                   if isinstance(r.result, dict)})
        return files

    async def _report(self, exp_id: int, folder: Path) -> None:
        """report.md and figures/ into the folder; ReportFailedError while attempts remain, then a
        note in the folder instead of the report (the commit goes ahead)."""
        try:
            await run_report(self.lab.root, exp_id, folder)
            self.report_failures.pop(exp_id, None)
            return
        except RuntimeError as exc:
            if says_full(str(exc)):
                raise  # not the report's fault: written once space is back, no attempt counted
            why = str(exc)
        await asyncio.to_thread(_clear_report, folder)
        attempts = self.report_failures[exp_id] = self.report_failures.get(exp_id, 0) + 1
        if attempts < REPORT_ATTEMPTS:
            raise ReportFailedError(f"its report could not be written ({why}); the commit waits for attempt "
                               f"{attempts + 1} of {REPORT_ATTEMPTS}")
        (folder / MISSING_REPORT).write_text(
            f"The report of experiment {exp_id} could not be written ({attempts} attempts): {why}\n"
            f"Write it again with `lab report {exp_id}` (into the lab's reports/exp-{exp_id}/).\n")
        await self.store.add_event("experiment.report_failed", f"experiment {exp_id}: its report could not be "
                                   f"written ({why}) after {attempts} attempts; committed without it "
                                   f"({MISSING_REPORT}; `lab report {exp_id}` writes it again)", experiment_id=exp_id)

    def _tagged(self, exp: Experiment) -> str | None:
        """The commit of this very finish of the experiment, committed before a crash kept us
        from storing its sha. A tag of an earlier finish (before a retry) does not count."""
        repo = open_repo(self.lab)
        tag = f"exp/{exp.id}"
        if tag not in repo.tags:
            return None
        commit = repo.tags[tag].commit
        try:
            blob = commit.tree / "exp" / exp_dirname(exp) / "experiment.json"
            recorded = json.loads(blob.data_stream.read())
        except (KeyError, ValueError):
            return None
        return commit.hexsha if recorded.get("finished_at") == exp.finished_at else None

    def _commit(self, exp: Experiment, folder: Path) -> str:
        repo = open_repo(self.lab)
        tag = f"exp/{exp.id}"
        rating = f"rating {exp.rating:g}/10" if exp.rating is not None else "not rated"
        message = (f"exp {exp.id}: {exp.name} ({exp.catalog}) {exp.status}, {rating}\n\n"
                   f"Hypothesis: {exp.hypothesis or units.MISSING}\n"
                   f"Research question: {exp.research_question or units.MISSING}\n")
        try:
            with repo.git.custom_environment(**identity_env(self.lab.root)):
                # the settings it ran under go with it whenever they changed since the last commit
                repo.git.add("--", str(folder.relative_to(self.lab.root)), ".gitignore", "config.toml",
                             *(["ROADMAP.md"] if self.lab.roadmap.exists() else []))
                if CONFIG in repo.git.diff("--cached", "--name-only", "--", CONFIG).split():
                    message += f"\n{CONFIG} changed: the settings this experiment ran under are in this commit\n"
                repo.git.commit("-m", message, "--allow-empty", "--no-verify")
                sha = repo.head.commit.hexsha
                # a retried experiment finishes again: its tag moves to the new record
                repo.create_tag(tag, ref=sha, message=f"experiment {exp.id}", force=True)
        except git.GitCommandError as exc:
            lines = [ln.strip(" '") for ln in (exc.stderr or str(exc)).splitlines() if ln.strip(" '")]
            fatal = [ln for ln in lines if says_full(ln)] or \
                [ln for ln in lines if ln.startswith(("stderr: 'fatal", "fatal", "error"))]
            raise RecordError((fatal or lines or [str(exc)])[0].removeprefix("stderr: ").strip("'")) from None
        return sha
