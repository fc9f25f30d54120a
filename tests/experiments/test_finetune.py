"""The fine-tune entry for real at smoke, as a user runs it (`python -m experiments finetune`): a
tiny local model, the user's Alpaca JSONL, gradient checkpointing and BF16 autocast; every file
the published document's deliverables name, and what a run records of its data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from science.loadable import loadable
from tests.experiments.helpers import cli, read_events

RECORDS = [{"instruction": f"Say the number {i} in words.", "input": "", "output": f"The number is {i}, said plainly."}
           for i in range(40)]


def test_a_fine_tune_writes_every_deliverable(tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "alpaca.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    out = tmp_path / "out"
    done = cli("finetune", "-p", "profile=smoke", "-p", f"model_name={tiny_model}", "-p", f"data={data}",
               "-p", "gradient_checkpointing=true", "-p", "mixed_precision=bf16", "-p", "epochs=2",
               "-p", "learning_rate=0.003", "--out", str(out), timeout=600, warm=True)
    assert done.returncode == 0, done.stderr[-3000:]
    output = out / "finetuned" / "output"
    assert loadable(output / "final_model") is None
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (output / "final_model").iterdir()}
    metrics = json.loads((output / "metrics.json").read_text())
    assert {"train_loss", "eval_loss", "final_accuracy"} <= set(metrics)
    assert len(metrics["train_loss_history"]) == len(metrics["eval_loss_history"]) == len(metrics["accuracy_history"]) == 2
    assert metrics["train_loss_history"][-1] < metrics["train_loss_history"][0]  # it learns the records
    results = json.loads((output / "eval_results.json").read_text())
    assert results["split"] == "test" and 0 <= results["accuracy"] <= 1 and results["tokens"] > 0
    assert (output / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    events = read_events(out / "finetuned" / "events.jsonl")
    result = next(e for e in events if e["type"] == "result")["values"]
    assert result["gradient_checkpointing"] is True and result["precision"] == "bf16" and result["epochs"] == 2
    assert result["final_accuracy"] == metrics["final_accuracy"] and result["model_source"] == "local"
    assert result["data_versions"] == [{"name": "alpaca.jsonl", "source": "user", "path": str(data.resolve()),
                                        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
                                        "bytes": data.stat().st_size}]
    assert {"eval_loss", "accuracy", "epoch"} <= {k for e in events if e["type"] == "metric" for k in e["values"]}
    base = next(e for e in read_events(out / "base" / "events.jsonl") if e["type"] == "result")["values"]
    # the budget the validator compares: the base had no fine-tuning step, the variant all of them
    assert base["budget_steps"] == 0 and result["budget_steps"] == result["train_steps"] > 0
    assert base["epochs"] == 0 and not (out / "base" / "output" / "final_model").exists()
    assert (out / "base" / "output" / "eval_results.json").is_file()


def test_settings_that_cannot_run_are_refused_in_one_line(tmp_path: Path) -> None:
    done = cli("plan", "finetune", "--params", json.dumps({"model_name": str(tmp_path / "nowhere")}))
    assert done.returncode != 0 and "is not a folder" in done.stdout + done.stderr
    done = cli("plan", "finetune", "--params", json.dumps({"model_name": "not a model id!"}))
    assert "is neither a folder, an alias in config.toml [models], nor a hub id" in done.stdout + done.stderr
    from experiments.finetune.loop import precision_of
    from experiments.harness.errors import ExperimentError

    torch = pytest.importorskip("torch")
    with pytest.raises(ExperimentError, match="fp16 needs a CUDA device"):
        precision_of("fp16", torch.device("cpu"))
    assert precision_of("auto", torch.device("cpu")) == "no"
