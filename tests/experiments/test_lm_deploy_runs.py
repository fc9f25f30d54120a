"""one_shot_compression, speculative_decoding and lm_deployment run for real at `smoke`, every variant
of their default plans, as a user runs them: `python -m experiments NAME -p profile=smoke`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from experiments.catalog import get
from tests.experiments.test_lm_runs import check_deliverables, local_try, results


def _plan(name: str) -> set[str]:
    exp = get(name)
    assert exp is not None
    return {v.name for v in exp.plan(exp.validate({"profile": "smoke"}))}


def test_one_shot_compression_runs_every_method_at_smoke(lm_cache: Path, tmp_path: Path) -> None:
    proc = local_try("one_shot_compression", tmp_path, lm_cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = results(tmp_path)
    assert set(res) == _plan("one_shot_compression") and len(res) == 13
    check_deliverables("one_shot_compression", res)
    base = res["base"]
    for name, r in res.items():
        assert math.isfinite(r["test_perplexity"]) and r["diverged"] is False, name
        if name != "base":
            assert r["ref_test_perplexity"] == pytest.approx(base["test_perplexity"], rel=1e-6)
            assert r["budget_steps"] == base["budget_steps"] and r["train_steps"] == 0  # one shot: nothing trained
    for crit in ("magnitude", "wanda", "sparsegpt"):
        assert res[f"{crit}-50"]["block_sparsity"] == pytest.approx(0.5, abs=0.01)
        assert res[f"{crit}-2of4"]["block_sparsity"] == pytest.approx(0.5, abs=0.01)
        assert res[f"{crit}-60"]["block_sparsity"] == pytest.approx(0.6, abs=0.02)
    for q in ("int4", "gptq4", "awq4"):
        assert 4 < res[q]["bits_per_block_weight"] < 4.6 and "int4" in res[q]["chain"][0].lower()
    assert "AWQ" in res["awq4"]["chain"][0] and "sparsegpt" in res["sparsegpt-60"]["chain"][0]


def test_speculative_decoding_runs_at_smoke_with_the_target_s_output(lm_cache: Path, tmp_path: Path) -> None:
    proc = local_try("speculative_decoding", tmp_path, lm_cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = results(tmp_path)
    assert set(res) == _plan("speculative_decoding") == {"base", "int8-draft", "shallow-draft"}
    check_deliverables("speculative_decoding", res)
    base = res["base"]
    assert base["decode_tokens"] == 2 * 8 and base["greedy_token_match"] == 1.0
    for name in ("int8-draft", "shallow-draft"):
        r = res[name]
        assert r["greedy_identical"] is True and r["greedy_token_match"] == 1.0, name
        assert r["decode_tokens"] == r["ref_decode_tokens"] == base["decode_tokens"]
        assert 0 <= r["acceptance_rate"] <= 1 and 0 <= r["draft_agreement"] <= 1
        assert r["accepted_tokens"] == r["decode_tokens"] - r["target_calls"]
        assert r["energy_per_token_kwh"] == pytest.approx(r["energy_inference_kwh"] / r["decode_tokens"])
        assert r["speedup"] == pytest.approx(r["ref_decode_ms_per_token"] / r["decode_ms_per_token"])
        assert r["model_size_bytes"] == base["model_size_bytes"] + r["draft_size_bytes"]
        assert r["test_perplexity"] == pytest.approx(base["test_perplexity"], rel=1e-6)  # the target's output
    shallow = res["shallow-draft"]
    assert shallow["draft_layers"] == 1 and shallow["distill_steps"] == 6 and shallow["distilled_from"] == "base"
    assert shallow["budget_steps"] == base["budget_steps"] + 6
    assert res["int8-draft"]["budget_steps"] == base["budget_steps"]


def test_lm_deployment_runs_every_format_at_smoke(lm_cache: Path, tmp_path: Path) -> None:
    proc = local_try("lm_deployment", tmp_path, lm_cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = results(tmp_path)
    assert set(res) == _plan("lm_deployment")
    check_deliverables("lm_deployment", res)
    base = res["base"]
    for kind in ("f16", "q8_0", "q5_0", "q4_0"):
        r = res[f"gguf-{kind}"]
        assert r["gguf_roundtrip_ok"] is True and r["gguf_type"] == kind, kind
        assert r["gguf_architecture"] == "llama" and r["gguf_token_count"] == base["vocab_size"]
        assert Path(tmp_path / f"gguf-{kind}" / f"model-{kind}.gguf").stat().st_size == r["model_size_bytes"]
        assert r["test_perplexity"] == pytest.approx(base["test_perplexity"], rel=0.05)
        assert "edge_latency_ms" not in r  # no GGUF runtime here: not timed
    assert res["gguf-f16"]["model_size_bytes"] < 0.6 * base["model_size_bytes"]
    assert res["gguf-f16"]["gguf_max_rel_error"] < 1e-3
    onnx = res["onnx-fp32"]
    assert onnx["max_abs_logit_diff"] < 1e-3 and onnx["edge_threads"] == 1 and onnx["edge_batch"] == 1
    assert onnx["test_perplexity"] == pytest.approx(base["test_perplexity"], rel=1e-4)
    assert res["onnx-int8"]["model_size_bytes"] < onnx["model_size_bytes"]
    assert res["onnx-int8"]["ort_int8_weights"] in ("QInt8", "QUInt8")
    for r in res.values():
        assert r["zstd_size_bytes"] > 0 and r["zstd_decompress_ms"] > 0
