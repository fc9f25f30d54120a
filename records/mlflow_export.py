"""`lab export --mlflow URI`: experiments and runs logged through MLflow's own client.

One MLflow experiment per lab experiment, one MLflow run per lab run: parameters, the metric
curves with their steps, the final results, tags for lineage (parent, git sha) and the run's
files as artifacts. Runs already exported (tag `joulelab.run_id`) are skipped, so exporting
again only adds what is new. MLflow is an optional extra: `pip install 'joulelab[mlflow]'`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from db import Store
from db.states import RUN_OK
from records.export import ExportError, Progress, result_numbers

BATCH = 900  # MLflow accepts at most 1000 metrics per batch


def _client(uri: str) -> Any:
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ExportError("MLflow is not installed: pip install 'joulelab[mlflow]'") from None
    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if uri.startswith("file:") or "://" not in uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def artifact_location(uri: str, exp_id: int) -> str | None:
    """Beside a local SQLite store (MLflow would otherwise write ./mlruns wherever `lab` runs);
    a tracking server decides for itself."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlflow-artifacts" / str(exp_id)).as_uri()
    return None


async def export_mlflow(store: Store, uri: str, progress: Progress | None = None) -> tuple[int, int]:
    """Log every finished run; returns (runs exported, runs already there). `progress(done, total)`
    hears of each run as it is done."""
    from mlflow.entities import Metric, Param

    client = _client(uri)
    exported = skipped = 0
    todo = []
    for exp in sorted(await store.list_experiments(), key=lambda e: e.id):
        runs = [r for r in await store.list_runs(exp.id) if r.finished_at]
        if runs:
            todo.append((exp, runs))
    total = sum(len(runs) for _, runs in todo)
    for exp, runs in todo:
        name = f"joulelab/{exp.id}-{exp.name}"
        found = client.get_experiment_by_name(name)
        mlflow_exp = found.experiment_id if found else client.create_experiment(
            name, artifact_location=artifact_location(uri, exp.id),
            tags={"joulelab.experiment_id": str(exp.id), "joulelab.catalog": exp.catalog})
        done = {r.data.tags.get("joulelab.run_id") for r in client.search_runs([mlflow_exp], max_results=10000)}
        for run in runs:
            if progress is not None:
                progress(exported + skipped, total)
            if str(run.id) in done:
                skipped += 1
                continue
            tags = {"mlflow.runName": f"{run.variant}/seed{run.seed}", "joulelab.run_id": str(run.id),
                    "joulelab.experiment_id": str(exp.id), "joulelab.variant": run.variant,
                    "joulelab.status": run.status.value, "joulelab.parent_id": str(exp.parent_id or ""),
                    "joulelab.git_sha": exp.git_sha or "", "joulelab.hypothesis": exp.hypothesis[:500]}
            mlflow_run = client.create_run(mlflow_exp, start_time=int((run.started_at or 0) * 1000), tags=tags)
            run_id = mlflow_run.info.run_id
            params = {**exp.params, **run.variant_params, "seed": run.seed, "variant": run.variant}
            client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in sorted(params.items())])
            curves = await store.metric_curve(run.id)
            points = [Metric(key, value, int((run.started_at or 0) * 1000), step)
                      for key, pts in curves.items() for step, value in pts if value is not None]
            final_step = max((m.step for m in points), default=0)
            points += [Metric(f"result.{k}", v, int((run.finished_at or 0) * 1000), final_step)
                       for k, v in result_numbers(run).items()]
            for i in range(0, len(points), BATCH):
                client.log_batch(run_id, metrics=points[i:i + BATCH])
            for name_ in ("spec.json", "events.jsonl", "stderr", "stdout"):
                path = Path(run.run_dir or "") / name_
                if run.run_dir and path.exists() and path.stat().st_size:
                    client.log_artifact(run_id, str(path))
            status = "FINISHED" if run.status in RUN_OK else "FAILED"
            client.set_terminated(run_id, status=status, end_time=int((run.finished_at or 0) * 1000))
            exported += 1
    if progress is not None:
        progress(exported + skipped, total)
    return exported, skipped
