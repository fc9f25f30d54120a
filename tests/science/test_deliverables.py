"""Every deliverable kind is checked against real files and results, or refused at submission:
checkpoints (torch.save, legacy pickles, safetensors) and tokenizers judged loadable from their
format without the lab importing torch, expected values and contents, report sections."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from contract.jsonvalue import JsonObject
from db import Run
from science import deliverables as dl
from science import stats
from tests import rows as store_rows
from tests.timing import scaled

RESULT = {"test_accuracy": 0.91, "energy_kwh": 2e-6, "device": "cpu", "compression_ratio": 3.98}


def run(run_id: int, root: Path, variant: str = "baseline", status: str = "succeeded", **result: Any) -> Run:
    folder = root / str(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    return store_rows.run(id=run_id, variant=variant, status=status, run_dir=str(folder),
                          result={**RESULT, **result} if status == "succeeded" else None)


def check(d: dict[str, Any], runs: list[Run], **ctx: Any) -> JsonObject:
    assert dl.problems(d) == [], dl.problems(d)
    (out,) = dl.check_all([dl.Deliverable.of(d)], dl.Context(runs, "baseline", {"quality": "test_accuracy"}, **ctx))
    return out.to_json()  # the record the rating keeps


def test_exists_by_path_glob_and_artifact(tmp_path: Path) -> None:
    runs = [run(1, tmp_path), run(2, tmp_path)]
    for r in runs:
        (Path(r.run_dir) / "spec.json").write_text("{}")
    (Path(runs[0].run_dir) / "out").mkdir()
    (Path(runs[0].run_dir) / "out" / "model-7.pt").write_bytes(b"x")
    assert check({"kind": "exists", "path": "spec.json"}, runs)["status"] == "passed"
    glob = check({"kind": "exists", "path": "out/*.pt"}, runs)
    assert glob["ok"] is False and "run 2: nothing matches out/*.pt" in glob["detail"]
    artifacts = {1: [{"path": "spec.json", "kind": "config"}]}
    art = check({"kind": "exists", "artifact_kind": "config"}, runs, artifacts=artifacts)
    assert art["ok"] is False and "run 2: no config artifact" in art["detail"]
    assert check({"kind": "exists", "artifact_kind": "config"}, runs[:1], artifacts=artifacts)["ok"] is True


def _write_checkpoints(folder: Path) -> None:
    """Real files of the formats, written by the libraries that own them (in a subprocess: torch
    stays out of the test process too)."""
    script = f"""
import json, torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers
f = {str(folder)!r}
state = {{"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}}
torch.save({{"arch": {{"kind": "mlp"}}, "state_dict": state}}, f + "/model.pt")
torch.save(state, f + "/legacy.pt", _use_new_zipfile_serialization=False)
save_file(state, f + "/model.safetensors")
tok = Tokenizer(models.WordLevel({{"[UNK]": 0, "energy": 1, "lab": 2}}, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
import os; os.makedirs(f + "/tok", exist_ok=True)
tok.save(f + "/tok/tokenizer.json")
json.dump({{"model_max_length": 64}}, open(f + "/tok/tokenizer_config.json", "w"))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=scaled(120))


def test_checkpoints_and_tokenizers_load_judged_from_their_format(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    _write_checkpoints(good)
    for name in ("model.pt", "legacy.pt", "model.safetensors", "tok/tokenizer.json", "tok"):
        assert dl.loadable(good / name) is None, name
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("model.pt", "legacy.pt", "model.safetensors"):
        data = (good / name).read_bytes()
        (bad / name).write_bytes(data[: len(data) // 2])  # a checkpoint cut off mid-write
    (bad / "random.pt").write_bytes(b"\x00\x01not a checkpoint" * 10)
    (bad / "tokenizer.json").write_text('{"version": "1.0"}')
    (bad / "empty.bin").write_bytes(b"")
    (bad / "emptydir").mkdir()
    for name in ("model.pt", "legacy.pt", "model.safetensors", "random.pt", "tokenizer.json", "empty.bin", "emptydir"):
        assert dl.loadable(bad / name) is not None, name
    judged = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                             "from science.deliverables import loadable; "
                             f"print(loadable(Path({str(good / 'model.pt')!r})), 'torch' in sys.modules)"],
                            capture_output=True, text=True, timeout=scaled(60), cwd=Path(dl.__file__).parents[1])
    assert judged.stdout.split() == ["None", "False"], judged  # judged from the format, without torch

    runs = [run(1, tmp_path / "runs"), run(2, tmp_path / "runs")]
    for r, source in zip(runs, (good, bad)):
        for name in ("model.pt", "model.safetensors"):
            (Path(r.run_dir) / name).write_bytes((source / name).read_bytes())
    artifacts = {r.id: [{"path": "model.pt", "kind": "checkpoint"}] for r in runs}
    out = check({"kind": "exists_and_loadable", "artifact_kind": "checkpoint"}, runs, artifacts=artifacts)
    assert out["ok"] is False and out["detail"].startswith("run 2: model.pt not loadable")
    assert check({"kind": "exists_and_loadable", "path": "model.safetensors"}, runs[:1])["status"] == "passed"
    (Path(runs[0].run_dir) / "tok").mkdir()
    (Path(runs[0].run_dir) / "tok" / "tokenizer.json").write_bytes((good / "tok" / "tokenizer.json").read_bytes())
    assert check({"kind": "exists_and_loadable", "path": "tok"}, runs[:1])["ok"] is True


def test_matches_expected_values_and_contents(tmp_path: Path) -> None:
    runs = [run(1, tmp_path), run(2, tmp_path, compression_ratio=4.2)]
    within = check({"kind": "matches_expected", "key": "compression_ratio", "expected": 4.0, "tolerance": 0.05}, runs)
    assert within["ok"] is False and "1 of 2 run(s)" in within["detail"] and "runs 2 differ" in within["detail"]
    mean = check({"kind": "matches_expected", "key": "compression_ratio", "expected": 4.0, "rel_tolerance": 0.03,
                  "aggregate": "mean"}, runs)
    assert mean["ok"] is True and "mean compression_ratio 4.09" in mean["detail"]
    assert check({"kind": "matches_expected", "key": "device", "expected": "cpu"}, runs)["ok"] is True
    for r in runs:
        (Path(r.run_dir) / "labels.json").write_text(json.dumps({"classes": 10}))
    digest = hashlib.sha256(b'{"classes": 10}').hexdigest()
    assert check({"kind": "matches_expected", "path": "labels.json", "sha256": digest}, runs)["ok"] is True
    assert check({"kind": "matches_expected", "path": "labels.json", "expected": {"classes": 10}}, runs)["ok"] is True
    assert check({"kind": "matches_expected", "path": "labels.json", "expected": {"classes": 9}}, runs)["ok"] is False


def test_contains_sections_in_run_files_and_in_the_labs_report(tmp_path: Path) -> None:
    runs = [run(1, tmp_path)]
    (Path(runs[0].run_dir) / "notes.md").write_text("# Notes\n\n## Method\ntext\n\nResults\n=======\n\nLimits:\n")
    ok = check({"kind": "contains_sections", "path": "notes.md", "sections": ["method", "Results", "Limits"]}, runs)
    assert ok["ok"] is True
    missing = check({"kind": "contains_sections", "path": "notes.md", "sections": ["Method", "Discussion"]}, runs)
    assert missing["ok"] is False and "lacks Discussion" in missing["detail"]
    d = {"kind": "contains_sections", "target": "report", "sections": ["Results"]}
    assert check(d, runs)["status"] == "not_checked"  # at rating time the report is not written yet
    report = tmp_path / "report.md"
    report.write_text("# Experiment 1\n\n## Results\n")
    assert check(d, runs, report=report)["status"] == "passed"


def test_contains_keys_threshold_and_statistical_test(tmp_path: Path) -> None:
    runs = [run(1, tmp_path, seed_value=1), run(2, tmp_path, variant="int8", test_accuracy=0.5),
            run(3, tmp_path, status="failed")]
    assert check({"kind": "contains_keys", "keys": ["test_accuracy", "energy_kwh"]}, runs)["ok"] is True
    lack = check({"kind": "contains_keys", "keys": ["latency_ms"]}, runs)
    assert lack["ok"] is False and "lack latency_ms" in lack["detail"]
    (Path(runs[0].run_dir) / "metrics.json").write_text('{"a": 1}')
    assert check({"kind": "contains_keys", "keys": ["a"], "path": "metrics.json", "variant": "baseline"}, runs)["ok"]
    th = check({"kind": "threshold", "key": "test_accuracy", "op": ">=", "value": 0.9}, runs)
    assert th["ok"] is False and "int8 test_accuracy mean 0.5 >= 0.9 fails" in th["detail"]
    na = check({"kind": "threshold", "key": "test_accuracy", "value": 0.9, "variant": "fp16"}, runs)
    assert na["status"] == "not_applicable"
    st = check({"kind": "statistical_test", "expect": "less"}, runs)
    assert st["ok"] is False and "Welch (unpaired) p = n/a" in st["detail"]  # one seed each: no test


@pytest.mark.parametrize(("d", "expected"), [
    ({"kind": "magic"}, "unknown kind \"magic\": the lab checks exists, exists_and_loadable, matches_expected, "
                        "contains_sections, contains_keys, threshold, statistical_test"),
    ({"keys": ["a"]}, "unknown kind null"),
    ("exists", "expected an object with a 'kind'"),
    ({"kind": "exists"}, "needs `path` or `artifact_kind`"),
    ({"kind": "exists", "path": "../../etc/passwd"}, "must stay inside the run's folder"),
    ({"kind": "exists_and_loadable", "path": "/abs/model.pt"}, "must stay inside the run's folder"),
    ({"kind": "threshold", "key": "acc", "op": "~", "value": 1}, "op: expected one of"),
    ({"kind": "threshold", "key": "acc", "value": float("nan")}, "value: expected a finite number"),
    ({"kind": "contains_keys", "keys": []}, "keys: expected a non-empty list"),
    ({"kind": "contains_sections", "sections": ["A"]}, "needs `path`, `artifact_kind` or `target: \"report\"`"),
    ({"kind": "contains_sections", "sections": ["A"], "target": "paper"}, "target: only 'report'"),
    ({"kind": "matches_expected", "key": "x"}, "expected: the value the result should have is missing"),
    ({"kind": "matches_expected", "path": "a.json", "sha256": "xyz"}, "sha256: expected 64 hexadecimal digits"),
    ({"kind": "matches_expected", "path": "a.json"}, "needs `key` and `expected`"),
    ({"kind": "statistical_test", "alpha": 2}, "alpha: expected a number between 0 and 1"),
    ({"kind": "statistical_test", "expect": "bigger"}, "expect: expected one of"),
])
def test_a_deliverable_that_cannot_be_checked_is_refused(d: Any, expected: str) -> None:
    found = dl.problems(d)
    assert any(expected in p for p in found), found


def test_an_unknown_kind_already_recorded_says_not_checked(tmp_path: Path) -> None:
    (out,) = dl.check_all([dl.Deliverable.of({"kind": "vibes"})], dl.Context([run(1, tmp_path)], "baseline", {}))
    assert out.status == "not_checked" and out.ok is None and "the lab checks exists" in out.detail


def test_statistical_test_pairs_runs_by_seed(tmp_path: Path) -> None:
    """Seeds fix the split and the initialisation of every variant, so the deliverable pairs them
    as the validator does: a shift of 0.01 on every seed is significant paired, not unpaired."""
    base = [0.90, 0.95, 0.80, 0.85, 0.70]
    runs = []
    for seed, b in enumerate(base):
        runs.append(replace(run(2 * seed + 1, tmp_path, test_accuracy=b), seed=seed))
        runs.append(replace(run(2 * seed + 2, tmp_path, variant="int8", test_accuracy=b - 0.01 - 0.001 * seed), seed=seed))
    st = check({"kind": "statistical_test", "expect": "less"}, runs)
    assert st["ok"] is True and "paired t over seeds" in st["detail"], st
    values = [r.result["test_accuracy"] for r in runs]
    assert stats.welch(values[1::2], values[0::2]).p_value > 0.05  # the unpaired test misses it


# -- the published document's deliverables (issue 25) --------------------------------------------

def _safetensors(path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 8)


def test_the_documents_field_names_are_the_labs() -> None:
    d = {"type": "training_metrics", "kind": "contains_keys", "required_keys": ["train_loss"]}
    assert dl.problems(d) == [] and dl.normalize(d)[0]["keys"] == ["train_loss"]
    t = {"kind": "threshold", "metric": "accuracy", "operator": ">=", "value": 0.85, "path": "output/eval.json"}
    assert dl.problems(t) == [] and {k: dl.normalize(t)[0][k] for k in ("key", "op")} == {"key": "accuracy", "op": ">="}
    both = {"kind": "threshold", "metric": "accuracy", "key": "loss", "value": 1}
    assert dl.problems(both) == ['metric and key say different things ("accuracy" and "loss"): give one']
    assert dl.problems({**t, "path": "../up.json"})[0].startswith("path: '../up.json' must stay inside")
    wandb = {"kind": "synced_and_downloadable", "project": "research experiments", "run_id": "a/b"}
    assert [p.split(":")[0] for p in dl.problems(wandb)] == ["project", "run_id"]
    assert dl.problems({"kind": "synced_and_downloadable", "project": "research-experiments",
                        "run_id": "auto-generated"}) == []


def test_a_threshold_on_a_file_in_each_run(tmp_path: Path) -> None:
    runs = [run(1, tmp_path, variant="finetuned"), run(2, tmp_path, variant="finetuned")]
    for r, accuracy in zip(runs, (0.9, 0.84)):
        (Path(r.run_dir) / "output").mkdir()
        (Path(r.run_dir) / "output" / "eval_results.json").write_text(json.dumps({"accuracy": accuracy}))
    d = {"kind": "threshold", "metric": "accuracy", "operator": ">=", "value": 0.85,
         "path": "output/eval_results.json"}
    out = check(d, runs)
    assert out["ok"] is True and "output/eval_results.json's accuracy mean 0.87 >= 0.85 (over 2 run(s))" in out["detail"]
    assert check({**d, "value": 0.88}, runs)["ok"] is False
    (Path(runs[1].run_dir) / "output" / "eval_results.json").write_text("{}")
    lacking = check(d, runs)
    assert lacking["ok"] is False and "run 2: output/eval_results.json has no number accuracy" in lacking["detail"]


def test_a_model_folder_loads_with_its_weights_config_and_tokenizer(tmp_path: Path) -> None:
    model = tmp_path / "final_model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    _safetensors(model / "model.safetensors")
    (model / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE"}}))
    assert dl.loadable(model) is None
    (model / "tokenizer.json").write_text("{}")
    assert dl.loadable(model) == "tokenizer.json: not a tokenizers file (no 'model' object)"
    (model / "tokenizer.json").unlink()
    (model / "model.safetensors").unlink()
    assert dl.loadable(model).startswith("a model folder without weights")
    (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "model-1.safetensors",
                                                                                   "b": "model-2.safetensors"}}))
    _safetensors(model / "model-1.safetensors")
    assert dl.loadable(model) == "model.safetensors.index.json names model-2.safetensors, which is missing"
    _safetensors(model / "model-2.safetensors")
    assert dl.loadable(model) is None
    (model / "model-2.safetensors").write_bytes(b"\x01" * 12)
    assert dl.loadable(model).startswith("model-2.safetensors: a header of")


def _offline_wandb_run(root: Path) -> dict[str, Any]:
    """A real W&B run logged offline by wandb itself (a child process), as the fine-tune logs one."""
    script = f"""
import json, os, pathlib
os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_CONSOLE="off", WANDB_DISABLE_GIT="true",
                  WANDB_ERROR_REPORTING="false")
import wandb
root = pathlib.Path({str(root)!r})
(root / "model").mkdir(parents=True)
(root / "model" / "config.json").write_text("{{}}")
run = wandb.init(project="research-experiments", id="jl-test-1", dir=str(root), mode="offline", config={{"lr": 1e-3}})
for step in range(3):
    run.log({{"train_loss": 2.0 - step / 10}}, step=step)
run.log({{"eval_loss": 1.5, "accuracy": 0.2}}, step=3)
art = wandb.Artifact("model-jl-test-1", type="model")
art.add_dir(str(root / "model"))
run.log_artifact(art)
folder = str(pathlib.Path(run.settings.sync_dir).resolve())
run.finish()
print(json.dumps({{"wandb_dir": folder, "wandb_run_id": "jl-test-1", "wandb_project": "research-experiments"}}))
"""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("WANDB_")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=scaled(120),
                          env={**env, "WANDB_MODE": "offline"}, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_offline_wandb_run_is_read_back_and_unmet_not_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from science import wandb_runs

    logged = _offline_wandb_run(tmp_path / "wandb-run")
    local = wandb_runs.read_offline(Path(logged["wandb_dir"]))
    assert (local.run_id, local.project, local.finished, local.synced) == ("jl-test-1", "research-experiments", True,
                                                                           False)
    assert local.metrics == {"train_loss", "eval_loss", "accuracy"} and local.history_rows == 4
    assert local.artifacts == (("model", "model-jl-test-1"),) and "lr" in local.config_keys
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    runs = [run(1, tmp_path, variant="finetuned", **logged)]
    d = {"kind": "synced_and_downloadable", "type": "wandb_run", "project": "research-experiments",
         "run_id": "auto-generated"}
    out = check(d, runs)
    assert out["ok"] is False and out["status"] == "failed"
    assert "run 1: not synced: offline (WANDB_MODE=offline)" in out["detail"]
    assert "history of 4 step(s) with train_loss, eval_loss, accuracy; model artifact model-jl-test-1" in out["detail"]
    other = check({**d, "project": "elsewhere"}, runs)
    assert "logged to project research-experiments, not elsewhere" in other["detail"]
    strict = check({**d, "required_metrics": ["train_loss", "perplexity"]}, runs)
    assert "history lacking perplexity" in strict["detail"]
    failed = check(d, [run(2, tmp_path, variant="finetuned", wandb_error="the wandb package is not installed")])
    assert failed["ok"] is False and "no W&B run (the wandb package is not installed)" in failed["detail"]
    (Path(logged["wandb_dir"]) / "run-jl-test-1.wandb").write_bytes(b"not a log")
    with pytest.raises(ValueError, match="not a W&B transaction log"):
        wandb_runs.read_offline(Path(logged["wandb_dir"]))
