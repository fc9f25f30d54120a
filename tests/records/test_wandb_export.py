"""`lab export --wandb`: past runs sent to W&B with wandb's own client. Here only in W&B's offline
mode (no traffic leaves the machine): the runs are written as offline W&B runs, read back with
wandb's record schema, and a second export skips them."""

from __future__ import annotations

import json
from pathlib import Path

from science.wandb_runs import read_offline
from tests.conftest import LabHarness


def test_past_runs_become_offline_wandb_runs(lab: LabHarness, tmp_path: Path) -> None:
    lab.env.update({"WANDB_MODE": "offline"})
    lab.env.pop("WANDB_API_KEY", None)
    lab.lab("run", "fake", "-p", "steps=4", "--seeds", "2", "--wait", check=True)
    out = tmp_path / "wandb-out"
    done = lab.lab("export", "--wandb", "lab-history", "--out", str(out), timeout=300, check=True)
    assert "offline (WANDB_MODE=offline): 2 run(s) written as offline W&B runs" in done.stdout, done.stdout
    folders = sorted((out / "wandb").glob("offline-run-*"))
    assert len(folders) == 2
    runs = {r["id"]: r for r in lab.run_rows(1)}
    for folder in folders:
        local = read_offline(folder)
        run_id = int(local.run_id.split("-r")[-1])
        assert local.run_id == f"jl-e1-r{run_id}" and local.project == "lab-history" and local.finished
        assert {"steps", "seed", "variant"} <= local.config_keys
        curves = {m["key"] for m in lab.query("SELECT key FROM metrics WHERE run_id = ?", (run_id,))}
        assert curves and curves <= local.metrics and local.history_rows == 4
        assert runs[run_id]["status"] == "succeeded"
    assert json.loads((out / "exported.json").read_text()) == {str(i): "offline" for i in runs}
    again = lab.lab("export", "--wandb", "lab-history", "--out", str(out), timeout=300, check=True)
    assert "0 run(s) written" in again.stdout and "2 already exported" in again.stdout
    both = lab.lab("export", "--wandb", "x", "--mlflow", "sqlite:///m.db")
    assert both.returncode == 2 and "give one of --mlflow, --tensorboard and --wandb" in both.stderr
