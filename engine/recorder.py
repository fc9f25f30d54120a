"""The permanent record: each finished experiment committed to the lab's git repository.

`exp/<id>-<slug>/` holds the experiment, its plan and runs, the code that ran, the environment,
the results, the metrics as CSV, the rating and the report. One commit per experiment, tagged
`exp/<id>`; its sha is stored on the experiment. A failed commit (locked index, ...) is reported
and retried later; the experiment itself is never touched by a failure here.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import git

from db import Store
from engine import codesnap
from engine.labdir import LabDir

log = logging.getLogger("engine.recorder")

FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "Joule Lab", "GIT_AUTHOR_EMAIL": "joulelab@localhost",
                     "GIT_COMMITTER_NAME": "Joule Lab", "GIT_COMMITTER_EMAIL": "joulelab@localhost"}
FINISHED = ("done", "failed")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RecordError(RuntimeError):
    """The experiment could not be committed; it will be retried."""


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "experiment"


def exp_dirname(exp: dict[str, Any]) -> str:
    return f"{exp['id']}-{slug(exp['name'])}"


def open_repo(lab: LabDir) -> git.Repo:
    """The lab directory as a git repository, created on first use."""
    lab.ensure()
    try:
        return git.Repo(lab.root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        repo = git.Repo.init(lab.root)
        log.info("created the git repository of the lab in %s", lab.root)
        return repo


def _identity_env(repo: git.Repo) -> dict[str, str]:
    """Git needs an author; a machine with none configured commits as 'Joule Lab'."""
    try:
        repo.git.config("user.email")
        return {}
    except git.GitCommandError:
        return FALLBACK_IDENTITY


def _metrics_csv(rows: list[dict[str, Any]], runs: dict[int, dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "variant", "seed", "attempt", "step", "key", "value", "t"])
    for m in rows:
        run = runs.get(m["run_id"], {})
        writer.writerow([m["run_id"], run.get("variant"), run.get("seed"), m["attempt"], m["step"], m["key"],
                         "" if m["value"] is None else repr(m["value"]), f"{m['t']:.3f}"])
    return out.getvalue()


def _lab_code_version() -> dict[str, Any]:
    from engine.daemon import VERSION

    sha = None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {"joulelab_version": VERSION, "joulelab_git_sha": sha}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(runs: list[dict[str, Any]], module: str, gpus: list[dict[str, Any]]) -> dict[str, Any]:
    """Where and with what the runs ran: from the runs' own reports and this machine."""
    results = [r["result"] for r in runs if isinstance(r.get("result"), dict)]
    versions: dict[str, Any] = {}
    for result in results:
        if isinstance(result.get("versions"), dict):
            versions = result["versions"]
            break
    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(), "gpus": [g.get("name") for g in gpus],
        "devices": sorted({r["device"] for r in runs if r.get("device")}),
        "libraries": versions, **_lab_code_version(),
        "commands": {str(r["id"]): f"cd {r['run_dir']} && {sys.executable} -m {module} {r['catalog']} --spec spec.json"
                     for r in runs if r.get("run_dir")},
    }


class Recorder:
    def __init__(self, lab: LabDir, store: Store, module: str) -> None:
        self.lab = lab
        self.store = store
        self.module = module
        self.failed: set[int] = set()  # experiments whose commit failed and waits for a retry

    async def record_pending(self) -> None:
        """Commit every finished experiment without a commit (e.g. after a crash)."""
        for exp in await self.store.list_experiments(statuses=list(FINISHED)):
            if not exp["git_sha"]:
                await self.record_safe(exp["id"])

    async def record_safe(self, exp_id: int) -> str | None:
        try:
            sha = await self.record(exp_id)
            self.failed.discard(exp_id)
            return sha
        except Exception as exc:  # reported and retried; never lost
            self.failed.add(exp_id)
            log.error("could not commit experiment %d: %s (will retry)", exp_id, exc)
            await self.store.add_event("experiment.record_failed", f"experiment {exp_id}: commit failed: "
                                       f"{exc}; it will be retried", experiment_id=exp_id)
            return None

    async def record(self, exp_id: int) -> str | None:
        exp = await self.store.get_experiment(exp_id)
        if exp is None or exp["status"] not in FINISHED or exp["git_sha"]:
            return exp["git_sha"] if exp else None
        runs = await self.store.list_runs(exp_id)
        metrics = await self.store.experiment_metrics(exp_id)
        samples = await self.store.system_samples(1)
        gpus = samples[-1]["gpus"] if samples else []
        files = self._files(exp, runs, metrics, gpus)
        sha = await asyncio.to_thread(self._commit, exp, files)
        await self.store.update_experiment(exp_id, git_sha=sha)
        await self.store.add_event("experiment.recorded", f"experiment {exp_id} committed as {sha[:10]} "
                                   f"(tag exp/{exp_id})", experiment_id=exp_id, data={"sha": sha})
        return sha

    def _files(self, exp: dict[str, Any], runs: list[dict[str, Any]], metrics: list[dict[str, Any]],
               gpus: list[dict[str, Any]]) -> dict[str, bytes]:
        def js(value: Any) -> bytes:
            return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()

        record = {k: v for k, v in exp.items() if k not in ("plan", "rating_breakdown", "git_sha", "updated_at")}
        files: dict[str, bytes] = {
            "experiment.json": js(record),
            "plan.json": js({"variants": exp["plan"], "seeds": exp["seeds"],
                             "runs": [{k: r[k] for k in ("id", "variant", "seed", "depends_on", "status")}
                                      for r in runs]}),
            "runs.json": js([{k: v for k, v in r.items() if k not in ("pid", "pid_start_time", "ingest_offset")}
                             for r in runs]),
            "results.json": js({str(r["id"]): r["result"] for r in runs if r["result"] is not None}),
            "metrics.csv": _metrics_csv(metrics, {r["id"]: r for r in runs}).encode(),
            "environment.json": js(environment(runs, self.module, gpus)),
        }
        if exp["rating"] is not None:
            files["rating.json"] = js({"rating": exp["rating"], "breakdown": exp["rating_breakdown"]})
        try:
            code = codesnap.source_files(self.module)
            files.update({f"code/{name}": data for name, data in code.items()})
            files["code/SHA256"] = (codesnap.tree_hash(code) + "\n").encode()
        except codesnap.CodeNotFound as exc:
            files["code/MISSING"] = f"{exc}\n".encode()
        for r in runs:
            spec = Path(r["run_dir"] or "") / "spec.json"
            if r["run_dir"] and spec.exists():
                files[f"specs/{r['id']}.json"] = spec.read_bytes()
        return files

    def _commit(self, exp: dict[str, Any], files: dict[str, bytes]) -> str:
        repo = open_repo(self.lab)
        tag = f"exp/{exp['id']}"
        if tag in repo.tags:  # committed before a crash kept us from storing the sha
            return repo.tags[tag].commit.hexsha
        folder = self.lab.exp / exp_dirname(exp)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        rating = f"rating {exp['rating']:g}/10" if exp["rating"] is not None else "not rated"
        message = (f"exp {exp['id']}: {exp['name']} ({exp['catalog']}) {exp['status']}, {rating}\n\n"
                   f"Hypothesis: {exp['hypothesis'] or '-'}\n"
                   f"Research question: {exp['research_question'] or '-'}\n")
        try:
            with repo.git.custom_environment(**_identity_env(repo)):
                repo.git.add("--", str(folder.relative_to(self.lab.root)), ".gitignore")
                repo.git.commit("-m", message, "--allow-empty", "--no-verify")
                sha = repo.head.commit.hexsha
                repo.create_tag(tag, ref=sha, message=f"experiment {exp['id']}")
        except git.GitCommandError as exc:
            lines = [ln.strip(" '") for ln in (exc.stderr or str(exc)).splitlines() if ln.strip(" '")]
            fatal = [ln for ln in lines if ln.startswith(("stderr: 'fatal", "fatal", "error"))]
            raise RecordError((fatal or lines or [str(exc)])[0].removeprefix("stderr: ").strip("'")) from None
        return sha
