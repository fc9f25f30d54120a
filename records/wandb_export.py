"""`lab export --wandb`: past runs sent to Weights & Biases with wandb's own client (the optional
extra `joulelab[wandb]`).

A run that logged its own W&B run (the fine-tune entry) is synced as it is; any other finished
run becomes a W&B run: its parameters as the config, its metric curves at their steps as the
history, its final results as the summary, its model files (checkpoint and model artifacts) as an
artifact of type `model`. Offline (no key, or `WANDB_MODE=offline`) the runs are written as
offline W&B runs under `--out` (default `<lab>/wandb`) for `wandb sync` later, and nothing is
sent; a run already exported is skipped (`exported.json` in that folder).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agents.validator import artifacts as run_artifacts
from contract.jsonvalue import JsonObject
from db import Experiment, Run, RunState, Store
from records.export import ExportError, result_numbers
from science import wandb_runs

QUIET = {"WANDB_SILENT": "true", "WANDB_CONSOLE": "off", "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true",
         "WANDB_ERROR_REPORTING": "false"}
LEDGER = "exported.json"
MODEL_KINDS = ("checkpoint", "model")


@dataclass
class Exported:
    online: bool
    why_offline: str = ""
    created: list[str] = field(default_factory=list)    # W&B run ids made from the record
    synced: list[str] = field(default_factory=list)     # runs' own W&B runs sent
    kept_offline: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    folder: Path | None = None


def _model_files(reported: Mapping[int, list[JsonObject]]) -> dict[int, list[str]]:
    """Per run, the paths of the model files it reported (its `run.artifact` events' data), relative
    to its run folder."""
    out: dict[int, list[str]] = {}
    for run_id, items in reported.items():
        for a in items:
            path = a.get("path")
            if a.get("kind") in MODEL_KINDS and isinstance(path, str):
                out.setdefault(run_id, []).append(path)
    return out


async def _create(store: Store, exp: Experiment, run: Run, project: str, folder: Path,
                  online: bool, models: dict[int, list[str]]) -> str:
    """One W&B run made from a lab run's record; its id."""
    import wandb

    run_id = f"jl-e{exp.id}-r{run.id}"
    params = {**exp.params, **run.variant_params, "seed": run.seed, "variant": run.variant,
              "joulelab_experiment": exp.id, "catalog": exp.catalog}
    handle = wandb.init(project=project, id=run_id, dir=str(folder), mode="online" if online else "offline",
                        name=f"{exp.catalog}/{run.variant} seed {run.seed}", group=f"experiment-{exp.id}",
                        job_type=run.variant, config=params, reinit="finish_previous")
    curves = await store.metric_curve(run.id)
    by_step: dict[int, dict[str, float]] = {}
    for key, points in curves.items():
        for step, value in points:
            if value is not None:
                by_step.setdefault(int(step), {})[key] = float(value)
    for step in sorted(by_step):
        handle.log(by_step[step], step=step)
    for key, value in result_numbers(run).items():
        handle.summary[key] = value
    files = [Path(run.run_dir or "") / path for path in models.get(run.id, [])]
    files = [f for f in files if run.run_dir and f.exists()]
    if files:
        artifact = wandb.Artifact(f"model-{run_id}", type="model")
        for f in files:
            artifact.add_dir(str(f)) if f.is_dir() else artifact.add_file(str(f))
        handle.log_artifact(artifact)
    handle.finish(exit_code=0 if run.status == RunState.SUCCEEDED else 1)
    return run_id


async def export_wandb(store: Store, lab_root: Path, project: str, out: Path | None = None,
                       ids: list[int] | None = None) -> Exported:
    if not wandb_runs.installed():
        raise ExportError("the wandb package is not installed: pip install 'joulelab[wandb]'")
    online, why = wandb_runs.online()
    folder = (out or lab_root / "wandb").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(QUIET)
    ledger_path = folder / LEDGER
    ledger: dict[str, str] = json.loads(ledger_path.read_text()) if ledger_path.exists() else {}
    done = Exported(online, why, folder=folder)
    for exp in sorted(await store.list_experiments(), key=lambda e: e.id):
        if ids and exp.id not in ids:
            continue
        models = _model_files(await run_artifacts(store, exp.id))
        for run in [r for r in await store.list_runs(exp.id) if r.finished_at]:
            key = str(run.id)
            result = run.result if isinstance(run.result, dict) else {}
            own = result.get("wandb_dir")
            if ledger.get(key) == "synced" or (ledger.get(key) == "offline" and not online):
                done.skipped += 1
                continue
            if isinstance(own, str) and Path(own).is_dir():
                if not online:
                    done.kept_offline.append(str(result.get("wandb_run_id")))
                    ledger[key] = "offline"
                elif (failed := wandb_runs.sync(Path(own))) is None:
                    done.synced.append(str(result.get("wandb_run_id")))
                    ledger[key] = "synced"
                else:
                    done.failed.append(f"run {key}: {failed}")
                continue
            done.created.append(await _create(store, exp, run, project, folder, online, models))
            ledger[key] = "synced" if online else "offline"
    ledger_path.write_text(json.dumps(ledger, indent=2, sort_keys=True) + "\n")
    return done
