"""The fine-tune's Weights & Biases run (the optional extra ``joulelab[wandb]``): the run's config,
its metric history (training loss per logged step; validation loss, accuracy and epoch after each
epoch) and the final model as an artifact of type ``model``.

A run never holds the W&B key (the engine gives runs no secret), so it always logs offline, into
``output/wandb/``; the lab syncs it when it is online (the ``synced_and_downloadable`` deliverable,
`lab export --wandb`). Without the package the run trains all the same and says why it has no W&B
run (`wandb_error`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contract.events import ResultValues
from contract.jsonvalue import JsonValue

from ..events import EventWriter
from ..harness.context import RunContext
from .settings import FTSettings

QUIET = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off", "WANDB_DISABLE_GIT": "true",
         "WANDB_DISABLE_CODE": "true", "WANDB_ERROR_REPORTING": "false"}
SUMMARY_KEYS = ("final_accuracy", "eval_loss", "eval_accuracy", "train_loss", "test_loss", "test_perplexity",
                "train_time_s", "epochs", "train_steps", "model_size_bytes", "peak_mem_bytes")


class Run:
    """A started W&B run, or why there is none (`error`)."""

    def __init__(self, handle: Any = None, project: str = "", entity: str = "", error: str | None = None) -> None:
        self.handle, self.project, self.entity, self.error = handle, project, entity, error


class Events:
    """The run's event writer, each metric also logged to W&B at its step."""

    def __init__(self, events: EventWriter, run: Run | None) -> None:
        self.events, self.run = events, run

    def metric(self, step: int, **values: float) -> None:
        self.events.metric(step, **values)
        if self.run is not None and self.run.handle is not None:
            self.run.handle.log(values, step=int(step))

    def log(self, message: str, level: str = "info") -> None:
        self.events.log(message, level)

    def progress(self, done: float, total: float) -> None:
        self.events.progress(done, total, unit="epochs")


def start(ctx: RunContext, s: FTSettings, config: Mapping[str, JsonValue]) -> Run | None:
    if not s.wandb_project:
        return None
    try:
        import wandb
    except ImportError:
        why = "the wandb package is not installed where the run ran (pip install 'joulelab[wandb]')"
        ctx.events.log(f"no W&B run: {why}", "warning")
        return Run(project=s.wandb_project, error=why)
    os.environ.update(QUIET)
    spec = ctx.spec
    run_id = f"jl-e{spec.experiment_id}-r{spec.run_id}-a{spec.attempt}-" \
             f"{secrets.token_hex(3)}"
    root = ctx.out_dir / "output"
    root.mkdir(parents=True, exist_ok=True)
    handle = wandb.init(project=s.wandb_project, entity=s.wandb_entity or None, id=run_id, dir=str(root),
                        mode="offline", name=f"{ctx.name}/{ctx.variant} seed {ctx.seed}", job_type=ctx.variant,
                        group=f"experiment-{spec.experiment_id}", config=dict(config))
    ctx.events.log(f"W&B run {run_id} in project {s.wandb_project}, logged offline (the lab syncs it when online)")
    return Run(handle, s.wandb_project, s.wandb_entity)


def finish(run: Run | None, model_dir: Path, values: ResultValues) -> ResultValues:
    """The model as an artifact, the summary, the run finished; the result keys that find it."""
    if run is None:
        return {}
    if run.handle is None:
        return {"wandb_project": run.project, "wandb_error": run.error}
    import wandb

    handle = run.handle
    for key in SUMMARY_KEYS:
        if isinstance(values.get(key), (int, float)):
            handle.summary[key] = values[key]
    artifact = wandb.Artifact(f"model-{handle.id}", type="model",
                              metadata={"source": values.get("model_source"), "format": "save_pretrained"})
    artifact.add_dir(str(model_dir))
    handle.log_artifact(artifact)
    folder = Path(handle.settings.sync_dir)
    handle.finish()
    return {"wandb_project": run.project, "wandb_entity": run.entity or None, "wandb_run_id": handle.id,
            "wandb_mode": "offline", "wandb_dir": str(folder), "wandb_artifact": f"model-{handle.id}"}
