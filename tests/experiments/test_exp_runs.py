"""Every experiment for real at profile smoke, through `python -m experiments NAME --spec`,
with each plan's dependencies resolved; plus skipped and diverged runs."""

from __future__ import annotations

import json

import pytest

from experiments.catalog import EXPERIMENTS
from tests.experiments.helpers import make_spec, plan, read_events, run_plan, run_spec

#: trimmed lists keep the suite inside the CI budget while covering every kind of variant
SMOKE = {
    "logreg": {},
    "quantization": {},
    "pruning": {"sparsities": [0.5]},
    # lion is ours; the rest are torch's
    "optimizers": {"optimizers": ["adam", "lion"], "lr_grid_adam": [1e-3], "lr_grid_lion": [1e-4, 3e-4]},
    "micro_architecture": {},
    "mixed_precision": {},
    "distillation": {"modes": ["hard", "both"]},
    "checkpointing": {"depths": [4], "every_k": [1]},  # plus sqrt(4) = 2
    "batch_size": {"batch_sizes": [32, 64]},
    "gradient_clipping": {"max_norms": [1.0]},
    "edge_onnx": {"models": ["mlp"]},
    # issue 26: each entry's own tests (test_lr_schedules.py, test_low_rank.py) run it trimmed as well
    "lr_schedules": {"schedules": ["constant", "warmup_cosine"], "lr_grid": [0.1]},
    "low_rank": {"ranks": [16], "energy": 0.9, "prunings": ["structured"]},
}
EVENT_TYPES = {"metric", "progress", "log", "artifact", "result"}
#: run whole plans in one process in test_lm_runs.py (importing transformers costs ~8 s a process)
LANGUAGE_MODELS = {"lora_rank", "lora_merge", "compression_pipeline", "meta_learning", "finetune",
                   "one_shot_compression", "speculative_decoding", "lm_deployment", "sophia"}


def test_smoke_table_covers_the_catalog() -> None:
    assert set(SMOKE) | LANGUAGE_MODELS == set(EXPERIMENTS)


def _check_events(events: list[dict]) -> None:
    assert events and all(e["type"] in EVENT_TYPES and isinstance(e["t"], float) for e in events)
    assert [e["type"] for e in events].count("result") == 1 and events[-1]["type"] == "result"
    for e in events:
        if e["type"] == "metric":
            assert isinstance(e["step"], int) and isinstance(e["values"], dict)
        if e["type"] == "progress":
            assert e["done"] <= e["total"]


@pytest.mark.parametrize("name", list(SMOKE))
def test_experiment_runs_at_smoke_with_every_deliverable(name: str, tmp_path) -> None:
    params = {"profile": "smoke", **SMOKE[name]}
    runs = run_plan(name, params, tmp_path, seed=0)
    exp = EXPERIMENTS[name]
    for variant, run in runs.items():
        required = {k for d in exp.deliverables if d["kind"] == "contains_keys"
                    and d.get("variant") in (None, variant) for k in d["keys"]}
        assert run["rc"] == 0, f"{variant}: {run['stderr'][-2000:]}"
        assert "Traceback" not in run["stderr"], run["stderr"]
        _check_events(run["events"])
        result = run["result"]
        assert result["seed"] == 0 and result["variant"] == variant and result["device"] == "cpu"
        if result.get("skipped"):
            assert result["skip_reason"]
            continue
        missing = required - set(result)
        assert not missing, f"{variant} lacks {sorted(missing)}"
        assert 0.0 <= result["test_accuracy"] <= 1.0
        assert result["energy_mode"] in ("measured", "modelled") and result["energy_source"]
        assert isinstance(result["diverged"], bool) and isinstance(result["budget_steps"], int)
        assert isinstance(result["cpu_flags"], list)
        assert result["energy_kwh"] > 0 and result["co2_kg"] >= 0
        assert "torch" in result["versions"] and result["profile"] == "smoke"
        assert any(e["type"] == "progress" for e in run["events"]) or "energy_train_kwh" not in result
        json.dumps(result, allow_nan=False)
    baseline = next(v["name"] for v in plan(name, params)["variants"] if v["baseline"])
    assert runs[baseline]["result"] and not runs[baseline]["result"].get("skipped")


def test_fp16_on_cpu_is_skipped_not_failed(tmp_path) -> None:
    p = plan("mixed_precision", {"profile": "smoke"})
    fp16 = next(v for v in p["variants"] if v["name"] == "fp16")
    # cold, a fresh `python -m experiments` (every other run here is forked from a warm worker)
    proc = run_spec(make_spec("mixed_precision", p, fp16, 0, tmp_path, {}), tmp_path / "fp16", cold=True)
    assert proc.returncode == 0, proc.stderr
    result = read_events(tmp_path / "fp16" / "events.jsonl")[-1]["values"]
    assert result["skipped"] is True and "CUDA" in result["skip_reason"]
    assert "test_accuracy" not in result


def test_diverging_run_is_reported_not_crashed(tmp_path) -> None:
    p = plan("gradient_clipping", {"profile": "smoke", "lr_grid": [50.0], "max_norms": [1.0]})
    none = next(v for v in p["variants"] if v["name"] == "none")
    proc = run_spec(make_spec("gradient_clipping", p, none, 0, tmp_path, {}), tmp_path / "none")
    assert proc.returncode == 0, proc.stderr
    events = read_events(tmp_path / "none" / "events.jsonl")
    result = events[-1]["values"]
    assert result["diverged"] is True and isinstance(result["diverged_step"], int)
    assert result["divergence_rate"] == 1.0 and result["selected_lr"] is None
    assert result["diverged_step"] >= 1 and "test_accuracy" in result
    assert any(e["type"] == "log" and "diverged" in e["message"] for e in events)


def test_missing_dependency_is_a_clear_error(tmp_path) -> None:
    p = plan("quantization", {"profile": "smoke", "models": ["mlp"], "precisions": ["int8"]})
    int8 = next(v for v in p["variants"] if v["name"] == "int8-mlp")
    deps = {"fp32-mlp": {"run_id": 1, "output_dir": str(tmp_path / "nowhere"), "result": {}}}
    proc = run_spec(make_spec("quantization", p, int8, 0, tmp_path, deps), tmp_path / "int8")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "model.pt" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_local_try_prints_a_table(tmp_path) -> None:
    from tests.experiments.helpers import cli
    # forked from the warm worker, as `python -m experiments logreg ...` is started (a cold start is
    # test_fp16_on_cpu_is_skipped_not_failed's)
    proc = cli("logreg", "-p", "profile=smoke", "--seed", "2", "--out", str(tmp_path), warm=True)
    assert proc.returncode == 0, proc.stderr
    assert "test_accuracy" in proc.stdout and "baseline" in proc.stdout
    assert (tmp_path / "baseline" / "events.jsonl").exists() and (tmp_path / "baseline" / "model.pt").exists()
