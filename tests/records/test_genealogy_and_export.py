"""`lab tree`, `lab diff`, `lab export` (CSV, JSON, Parquet, codecarbon emissions.csv, MLflow)."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabHarness, open_lab


async def _export_again(lab: LabHarness, uri: str) -> tuple[int, int]:
    from db import Store
    from records.mlflow_export import export_mlflow

    store = await Store.open(lab.dir.db)
    try:
        return await export_mlflow(store, uri)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def lineage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHarness]:
    """A parent experiment and a child that changed one parameter, both finished (shared)."""
    root = tmp_path_factory.mktemp("lineage")
    with open_lab(root) as lab:
        lab.lab("run", "dag", "-p", "steps=3", "--seeds", "2", "--wait", check=True)
        job = root / "child.json"
        job.write_text(json.dumps({"experiment": "dag", "params": {"steps": 6}, "parent": 1, "seeds": 2,
                                   "name": "dag-longer"}))
        lab.lab("queue", "add", str(job), "--wait", check=True)
        lab.wait_for(lambda: lab.experiment(2)["git_sha"], 120, "the child's git commit")
        lab.stop_engine()
        yield lab


def test_tree_and_diff(lineage: LabHarness) -> None:
    tree = lineage.lab("tree", check=True).stdout.splitlines()
    assert tree[0].startswith("1 dag (dag, done") and tree[1].startswith("└── 2 dag-longer (dag, done")
    focus = lineage.lab("tree", "2", check=True).stdout
    assert "<- this one" in focus
    diff = lineage.lab("diff", "1", "2", check=True).stdout
    assert "2 is a child of the other" in diff and "steps: 3 -> 6" in diff and "code: identical" in diff
    data = json.loads(lineage.lab("diff", "1", "2", "--json", check=True).stdout)
    assert data["params"] == [{"param": "steps", "a": 3, "b": 6}]
    assert set(data["results"][0]) == {"base", "child", "grandchild", "other"}
    assert lineage.lab("tree", "9").returncode == 2 and lineage.lab("diff", "1", "9").returncode == 2


def test_export_csv_json_and_emissions(lineage: LabHarness, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    lineage.lab("export", "--out", str(out), check=True)
    runs = list(csv.DictReader((out / "runs.csv").read_text().splitlines()))
    assert len(runs) == 16 and {r["status"] for r in runs} == {"succeeded"}
    assert len(list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))) == 8 * 2 * 3 + 8 * 2 * 6
    assert len(list(csv.DictReader((out / "experiments.csv").read_text().splitlines()))) == 2
    emissions = list(csv.DictReader((out / "emissions.csv").read_text().splitlines()))
    assert len(emissions) == 16 and float(emissions[0]["energy_consumed"]) == 1e-6
    lineage.lab("export", "--format", "json", "--out", str(tmp_path / "j"), check=True)
    data = json.loads((tmp_path / "j" / "joulelab-export.json").read_text())
    assert set(data) == {"experiments", "runs", "metrics", "ratings"}


def test_emissions_csv_reads_with_codecarbons_own_columns(lineage: LabHarness, tmp_path: Path) -> None:
    import dataclasses

    from codecarbon.output_methods.emissions_data import EmissionsData

    lineage.lab("export", "--out", str(tmp_path), check=True)
    header = next(csv.reader((tmp_path / "emissions.csv").read_text().splitlines()))
    assert header == [f.name for f in dataclasses.fields(EmissionsData)]
    row = next(csv.DictReader((tmp_path / "emissions.csv").read_text().splitlines()))
    EmissionsData(**{k: (float(v) if k in ("duration", "emissions", "energy_consumed") else v)
                     for k, v in row.items()})


def test_export_parquet(lineage: LabHarness, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    lineage.lab("export", "--format", "parquet", "--out", str(tmp_path), check=True)
    assert pq.read_table(tmp_path / "runs.parquet").num_rows == 16


@pytest.fixture
def memory_path(tmp_path: Path) -> Iterator[Path]:
    """A test folder in memory (tmpfs) where the machine has one, else `tmp_path`. MLflow makes a
    new store by running its ~60 schema migrations, each a few synced SQLite commits: on a disk
    those syncs are most of the export's time, in memory nothing. The same files, the same reads."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and shutil.disk_usage(shm).free > 256 * 1024 * 1024):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="jl-mlflow-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_export_to_mlflow_and_read_back(lineage: LabHarness, memory_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{memory_path / 'mlflow.db'}"
    done = lineage.lab("export", "--mlflow", uri, timeout=180, check=True)
    assert "logged 16 run(s)" in done.stdout
    assert asyncio.run(_export_again(lineage, uri)) == (0, 16)  # only what is new is added
    mlflow.set_tracking_uri(uri)
    child = mlflow.get_experiment_by_name("joulelab/2-dag-longer")
    runs = mlflow.search_runs([child.experiment_id], output_format="list")
    assert len(runs) == 8
    run = next(r for r in runs if r.data.tags["joulelab.variant"] == "base")
    assert run.data.tags["joulelab.parent_id"] == "1" and run.data.tags["joulelab.git_sha"]
    assert run.data.params["steps"] == "6" and run.info.status == "FINISHED"
    history = mlflow.tracking.MlflowClient(uri).get_metric_history(run.info.run_id, "k0")
    assert [m.step for m in history] == [0, 1, 2, 3, 4, 5]
    assert run.data.metrics["result.test_accuracy"] in (0.5, 0.51)
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    assert artifacts.is_relative_to(memory_path) and (artifacts / "spec.json").exists()
