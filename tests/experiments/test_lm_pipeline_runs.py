"""compression_pipeline and meta_learning run for real at `smoke`, every variant of their default
plans, as a user runs them: `python -m experiments NAME -p profile=smoke` in a subprocess."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from experiments.catalog import get
from tests.experiments.test_lm_runs import check_deliverables, local_try, results


def test_compression_pipeline_runs_every_stage_at_smoke(lm_cache: Path, tmp_path: Path) -> None:
    proc = local_try("compression_pipeline", tmp_path, lm_cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    res = results(tmp_path)
    exp = get("compression_pipeline")
    assert exp is not None
    assert set(res) == {v.name for v in exp.plan(exp.validate({"profile": "smoke"}))} and len(res) == 34
    check_deliverables("compression_pipeline", res)
    base = res["base"]
    assert base["perplexity_vs_uncompressed"] == 1.0 and base["compression_ratio"] == 1.0
    # the FP16/BF16 base as well (issue 22): half the FP32 bytes but for the folder's config
    assert exp.quality_margin == 0.03 and "GPTQ" in exp.quality_margin_basis
    assert 0.5 <= base["model_size_fp16_bytes"] / base["model_size_bytes"] < 0.52
    assert 32 <= base["bits_per_weight"] < 33 and base["compression_ratio_vs_fp16"] < 0.52
    for name, r in res.items():
        if name == "base":
            continue
        assert math.isfinite(r["test_perplexity"]) and r["test_perplexity"] > 1, name
        assert r["perplexity_vs_uncompressed"] == pytest.approx(r["test_perplexity"] / base["test_perplexity"])
        assert r["within_target"] == (r["perplexity_vs_uncompressed"] <= 1 + exp.quality_margin)
        assert r["ref_test_perplexity"] == pytest.approx(base["test_perplexity"], rel=1e-6), name  # same teacher
        assert r["ref_latency_b8_ms"] > 0 and r["ref_energy_inference_kwh"] > 0 and r["speedup_b8"] > 0
        assert r["compression_ratio"] == pytest.approx(base["model_size_bytes"] / r["model_size_bytes"])
        assert r["compression_ratio_vs_fp16"] == pytest.approx(base["model_size_fp16_bytes"] / r["model_size_bytes"])
        assert r["bits_per_weight"] == pytest.approx(8 * r["model_size_bytes"] / base["params_total"])
        assert r["diverged"] is False
    # pruning: the declared sparsity of the block weights; 2:4 is 50 %
    for name in ("magnitude-50", "wanda-60", "wanda-2of4", "magnitude-2of4+int4+kd"):
        assert res[name]["block_sparsity"] == pytest.approx({"5": 0.5, "6": 0.6, "2": 0.5}[name.split("-")[1][0]],
                                                            abs=0.02), name
    # quantization: bits per block weight and bytes on disk
    assert res["int8"]["bits_per_block_weight"] == pytest.approx(8, abs=0.1)
    assert 4 < res["int4"]["bits_per_block_weight"] < 4.6 and res["int4"]["compression_ratio"] > 3.3
    int4 = res["int4"]  # every tensor it does not compress is stored in FP16: half the ratio against FP16
    assert int4["compression_ratio_vs_fp16"] == pytest.approx(int4["compression_ratio"] / 2, rel=0.04)
    assert res["wanda-60+int4"]["model_size_bytes"] < res["int4"]["model_size_bytes"] < res["int8"]["model_size_bytes"]
    # distillation: its steps are the chain's budget, its teacher is the base model
    kd = res["wanda-60+int4+kd"]
    assert kd["train_steps"] == kd["distill_steps"] == 6 and kd["distilled_from"] == "base"
    assert kd["budget_steps"] == base["budget_steps"] + 6
    assert res["wanda-60+kd+int4"]["budget_steps"] == kd["budget_steps"]  # the other order, the same budget
    assert len(kd["chain"]) == 3 and "wanda" in kd["chain"][0] and "int4" in kd["chain"][1]


def test_meta_learning_runs_every_variant_at_smoke(lm_cache: Path, tmp_path: Path) -> None:
    proc = local_try("meta_learning", tmp_path, lm_cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    res = results(tmp_path)
    assert set(res) == {"base", "base-adapt", "multitask", "anil"}
    check_deliverables("meta_learning", res)
    names = res["base"]["task_names"]
    assert len(names) == res["base"]["meta_test_tasks"] == 10 and "ROMEO" in names
    for r in res.values():
        assert r["task_names"] == names and len(r["task_query_perplexity"]) == len(names)
        assert all(math.isfinite(x) and x > 1 for x in r["task_query_perplexity"])
    assert res["base"]["adapt_steps"] == 0 and res["base-adapt"]["adapt_steps"] == 5
    # equal budgets for the meta-trained model and its multi-task control; none for the adaptation alone
    assert res["anil"]["budget_steps"] == res["multitask"]["budget_steps"] == res["base"]["budget_steps"] + 3
    assert res["base-adapt"]["budget_steps"] == res["base"]["budget_steps"]
    assert res["anil"]["outer_steps"] == res["multitask"]["outer_steps"] == 3
    assert res["anil"]["params_trainable"] == res["multitask"]["params_trainable"] > 0
    # the same k support steps on the base model lower each task's query loss
    assert res["base-adapt"]["test_loss"] < res["base"]["test_loss"]


def test_a_stack_compresses_the_merged_adapter_beside_compression_alone(lm_cache: Path, tmp_path: Path) -> None:
    # the merged adapter trained at one learning rate (lr_factors=1; an arm's choice of its rate is test_lm_runs.py's)
    proc = local_try("compression_pipeline", tmp_path, lm_cache, "start=lora", "rank=4", "criteria=wanda",
                     "sparsities=0.6", "patterns=unstructured", "quantizations=int4", "orders=pqd", "lr_factors=1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = results(tmp_path)
    assert set(res) == {"base", "merged", "int4", "wanda-60", "wanda-60+int4", "wanda-60+int4+kd", "base-int4",
                        "base-wanda-60", "base-wanda-60+int4", "base-wanda-60+int4+kd"}
    merged, base = res["merged"], res["base"]
    assert merged["rank"] == 4 and merged["budget_steps"] == base["budget_steps"] + 6
    assert Path(merged["merged_model_dir"]).is_dir()
    stack, alone = res["wanda-60+int4+kd"], res["base-wanda-60+int4+kd"]
    # the stack's teacher and reference is the merged model; compression alone's is the base model
    assert stack["origin"] == "merged" and stack["distilled_from"] == "merged"
    assert stack["ref_test_perplexity"] == pytest.approx(merged["test_perplexity"], rel=1e-6)
    assert alone["origin"] == "base" and alone["ref_test_perplexity"] == pytest.approx(base["test_perplexity"], rel=1e-6)
    assert stack["perplexity_vs_uncompressed"] == pytest.approx(stack["test_perplexity"] / merged["test_perplexity"])
    assert stack["budget_steps"] == merged["budget_steps"] + 6 and alone["budget_steps"] == base["budget_steps"] + 6
    assert stack["model_size_bytes"] == pytest.approx(alone["model_size_bytes"], rel=0.01)
