"""The language-model entries run for real at `smoke` (pre-training included), as a user runs them:
`python -m experiments NAME -p ...` in a subprocess, every variant of the plan."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from experiments.catalog import get
from tests.experiments.helpers import REPO, cli, env, make_spec, plan, read_events, run_spec
from tui.widgets.curve_series import pick_keys

RANK_VARIANTS = {"base", "full", "lora-r8", "lora-r16", "lora-linear-decay", "lora-attention-heavy",
                 "lora-empirical"}
SMOKE_STEPS = 6


@pytest.fixture(scope="module")
def lm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: the base model pre-trained by the first run is reused."""
    return tmp_path_factory.mktemp("lmcache")


def local_try(name: str, out: Path, cache: Path, *params: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    args = [name, "-p", "profile=smoke", "--out", str(out), "--cache", str(cache)]
    for p in params:
        args += ["-p", p]
    return cli(*args, timeout=timeout, warm=True)


def check_deliverables(name: str, res: dict[str, dict[str, Any]]) -> None:
    """Every run has the entry's declared keys, and its events are valid JSON with units."""
    exp = get(name)
    assert exp is not None
    for variant, result in res.items():
        required = {k for d in exp.deliverables if d["kind"] == "contains_keys" and d.get("variant") in (None, variant)
                    for k in d["keys"]}
        missing = required - set(result)
        assert not missing, f"{variant} lacks {sorted(missing)}"
        assert result["energy_mode"] in ("measured", "estimated", "modelled") and result["energy_source"]
        assert result["profile"] == "smoke" and "transformers" in result["versions"]
        json.dumps(result, allow_nan=False)


def results(out: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for events in sorted(out.glob("*/events.jsonl")):
        done = [e["values"] for e in read_events(events) if e["type"] == "result"]
        if done:
            found[events.parent.name] = done[-1]
    return found


def test_lora_rank_runs_every_variant_at_smoke(lm_cache: Path, tmp_path: Path) -> None:
    proc = local_try("lora_rank", tmp_path, lm_cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    res = results(tmp_path)
    assert set(res) == RANK_VARIANTS
    check_deliverables("lora_rank", res)
    base = res["base"]
    assert base["cache_hit"] is False and base["pretrained_here"] is True
    assert Path(base["base_model_dir"]).parent == lm_cache / "lm"
    assert base["budget_steps"] == base["pretrain_steps"] > 0
    assert 1 < base["test_perplexity"] < base["vocab_size"] * 2 and base["energy_mode"]
    r8 = res["lora-r8"]["params_trainable"]
    for name in RANK_VARIANTS - {"base"}:
        r = res[name]
        assert r["budget_steps"] == base["budget_steps"] + SMOKE_STEPS, name
        assert r["diverged"] is False and r["train_steps"] == SMOKE_STEPS
        assert math.isfinite(r["test_perplexity"]) and r["test_perplexity"] > 1
        assert r["test_perplexity"] == pytest.approx(math.exp(r["test_loss"]))
        assert 0 <= r["test_token_accuracy"] <= 1 and r["test_tokens"] > 0
        assert r["train_tokens_per_s"] > 0 and r["gen_tokens_per_s"] > 0 and r["peak_mem_bytes"] > 0
        assert r["energy_train_kwh"] > 0 and r["energy_inference_kwh"] > 0 and r["train_state_bytes"] > 0
        assert r["latency_b1_ms"] > 0 and r["latency_b8_ms"] > 0
        assert r["test_tokens"] == base["test_tokens"]  # every variant scored on the same tokens
    assert res["full"]["params_trainable"] == res["full"]["params_total"] and res["full"]["trainable_share"] == 1
    assert res["lora-r16"]["params_trainable"] == 2 * r8
    for name in ("lora-linear-decay", "lora-attention-heavy", "lora-empirical"):
        r = res[name]
        assert abs(r["params_trainable"] / r8 - 1) <= 0.02, name
        assert r["rank_min"] < r["rank_max"], name  # adaptive: the ranks differ between modules
    assert res["lora-empirical"]["probe_steps"] > 0
    assert res["lora-r8"]["train_state_bytes"] < res["full"]["train_state_bytes"] / 2
    assert res["lora-r8"]["model_size_bytes"] < res["full"]["model_size_bytes"] / 2
    metrics = [e for e in read_events(tmp_path / "lora-r8" / "events.jsonl") if e["type"] == "metric"]
    curves: dict[str, list[tuple[int, float]]] = {}
    for e in metrics:
        for key, value in e["values"].items():
            curves.setdefault(key, []).append((e["step"], value))
    # the control room's curves: the losses on the left axis, perplexity on the right
    assert pick_keys(curves) == ["train_loss", "val_loss", "val_perplexity"]
    # one curve per learning rate tried (issue 22: each arm chooses its own on validation loss)
    r8 = res["lora-r8"]
    assert len(curves["val_perplexity"]) == 5 * r8["fine_tune_points"] and curves["train_loss"][-1][0] == SMOKE_STEPS
    for name, lr in (("lora-r8", 2e-3), ("full", 3e-4)):
        r = res[name]
        assert r["lr_grid_tried"][:3] == pytest.approx([lr / 2, lr, lr * 2]) and r["fine_tune_points"] >= 3
        losses = r["val_loss_by_lr"]
        assert losses[f"{r['lr']:g}"] == min(losses.values())  # the lowest validation loss is the arm's rate
        assert r["grid_edge"] is None or (r["fine_tune_points"] == 5 and "is the" in r["grid_edge"])


def test_lora_merge_is_exact_in_fp32_and_reuses_the_cached_base(lm_cache: Path, tmp_path: Path) -> None:
    proc = local_try("lora_merge", tmp_path, lm_cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = results(tmp_path)
    assert set(res) == {"base", "adapter", "merged-fp32", "adapter-reloaded-fp32", "merged-reloaded-fp32",
                        "adapter-bf16", "merged-bf16", "adapter-reloaded-bf16", "merged-reloaded-bf16"}
    check_deliverables("lora_merge", res)
    assert isinstance(res["base"]["cache_hit"], bool)
    assert res["adapter"]["lora_targets"] == ["q_proj", "v_proj"]
    for name in ("merged-fp32", "merged-reloaded-fp32"):
        assert res[name]["max_abs_logit_diff_vs_adapter"] < 1e-4, name
        assert abs(res[name]["perplexity_change_vs_adapter_pct"]) < 0.01, name
    assert res["adapter-reloaded-fp32"]["max_abs_logit_diff_vs_adapter"] == 0
    assert res["adapter-reloaded-fp32"]["test_perplexity"] == res["adapter"]["test_perplexity"]
    assert res["merged-bf16"]["max_abs_logit_diff_vs_adapter"] > 1e-4  # BF16 rounding is visible
    # a BF16 form built in memory is the same model as the one reloaded from disk (issue 22: RoPE's
    # inv_freq stays FP32 in both), and every form reports the update's scale against the weights
    assert res["merged-reloaded-bf16"]["test_perplexity"] == res["merged-bf16"]["test_perplexity"]
    assert res["merged-reloaded-bf16"]["max_abs_logit_diff_vs_adapter"] == res["merged-bf16"]["max_abs_logit_diff_vs_adapter"]
    assert all(r["update_scale"] > 0 for n, r in res.items() if n not in ("base", "adapter"))
    assert res["merged-bf16"]["reference_form"] == "adapter-bf16 (built in this process)"
    assert res["merged-fp32"]["reference_form"] == "adapter-fp32 (loaded from disk)"
    assert "perplexity_change_vs_same_precision_adapter_pct" in res["merged-bf16"]
    assert res["merged-bf16"]["model_size_bytes"] < 0.6 * res["merged-fp32"]["model_size_bytes"]
    assert res["adapter"]["model_size_bytes"] < 0.2 * res["merged-fp32"]["model_size_bytes"]
    assert res["adapter"]["deploy_size_bytes"] > res["merged-fp32"]["model_size_bytes"]
    # the merged model is a complete folder: the next experiment can start from it (-p model=)
    merged = tmp_path / "merged-fp32" / "merged"
    assert all((merged / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json"))
    for name, r in res.items():
        if name not in ("base", "adapter"):
            assert r["ref_latency_b1_ms"] > 0 and r["speedup_b1"] > 0, name
            assert r["budget_steps"] == res["adapter"]["budget_steps"], name


def _tiny_gpt2(folder: Path) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    from experiments.lm.corpus import shakespeare_text
    from experiments.lm.models import train_tokenizer

    tok = train_tokenizer(shakespeare_text()[:50_000], 300)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                                       eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id))
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return tok


def _records(n: int) -> list[dict[str, str]]:
    return [{"instruction": f"Continue the line of speaker {i}.", "input": "" if i % 3 else "Be brief.",
             "output": f"Good morrow, friend {i}; what news?"} for i in range(n)]


def test_a_users_gpt2_model_and_instruction_data_run_through_model_and_data(tmp_path: Path) -> None:
    tok = _tiny_gpt2(tmp_path / "gpt2")
    data = tmp_path / "alpaca.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _records(30)) + "\n")
    proc = local_try("lora_merge", tmp_path / "out", tmp_path / "cache", f"model={tmp_path / 'gpt2'}",
                     f"data={data}", "forms=merged", "precisions=fp32")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = results(tmp_path / "out")
    assert set(res) == {"base", "adapter", "merged-fp32"}
    base = res["base"]
    assert base["model_type"] == "gpt2" and base["pretrained_here"] is False and base["budget_steps"] == 0
    assert not (tmp_path / "cache" / "lm").exists()  # nothing pre-trained, no tokenizer trained
    assert res["adapter"]["lora_targets"] == ["c_attn"]
    # the loss and the perplexity count the response tokens (and end of sequence) only
    test_records = _records(30)[-3:]
    expected = sum(len(tok(r["output"], add_special_tokens=False)["input_ids"]) + 1 for r in test_records)
    assert res["adapter"]["test_tokens"] == expected
    assert res["merged-fp32"]["max_abs_logit_diff_vs_adapter"] < 1e-4


def test_a_broken_jsonl_line_fails_before_training_with_its_number(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in _records(12)]
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(lines) + "\n")
    p = plan("lora_merge", {"profile": "smoke", "data": str(data), "forms": ["merged"], "precisions": ["fp32"]})
    lines[3] = '{"instruction": "say hi", "output": "hi"'  # line 4: the closing brace is missing
    data.write_text("\n".join(lines) + "\n")
    message = (f"error: data: {data} line 4: not valid JSON (Expecting ',' delimiter at column 41); "
               "each line must be one JSON object")
    # a user trying it: refused with the parameters, nothing runs
    proc = local_try("lora_merge", tmp_path / "out", tmp_path / "cache", f"data={data}")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [message]
    assert not (tmp_path / "out").exists()
    # the lab running a plan made before the file broke: the run refuses it before anything trains
    base = next(v for v in p["variants"] if v["name"] == "base")
    done = run_spec(make_spec("lora_merge", p, base, 0, tmp_path / "runs", {}), tmp_path / "runs" / "base")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [message]
    assert not (tmp_path / "runs" / "cache").exists()  # not even the tokenizer was trained
    # and the harness's own check, for programs that call it directly
    from experiments.lm.corpus import DataError, fine_tuning_data
    with pytest.raises(DataError, match="line 4: not valid JSON"):
        fine_tuning_data(str(data), ())


def test_a_missing_or_unreadable_model_fails_in_one_line(tmp_path: Path) -> None:
    proc = cli("lora_rank", "-p", "profile=smoke", "-p", f"model={tmp_path / 'nowhere'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: model: {tmp_path / 'nowhere'} does not exist; give the folder of a local Hugging Face "
        "causal LM (written by save_pretrained)"]
    # a folder that is no model, as the lab would run it (a spec, its own process)
    (tmp_path / "empty").mkdir()
    p = plan("lora_rank", {"profile": "smoke", "model": str(tmp_path / "empty"), "methods": ["fixed"], "ranks": [8]})
    base = next(v for v in p["variants"] if v["name"] == "base")
    done = run_spec(make_spec("lora_rank", p, base, 0, tmp_path / "runs", {}), tmp_path / "runs" / "base")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: model {tmp_path / 'empty'} has no config.json: not a Hugging Face model folder "
        "(save it with model.save_pretrained(PATH))"]


def test_programs_never_reach_a_model_hub() -> None:
    code = ("import os; os.environ.pop('HF_HUB_OFFLINE', None); "
            "import experiments.techniques.lora_merge, experiments.techniques.lora_rank; "
            "import huggingface_hub.constants as c; print(c.HF_HUB_OFFLINE, os.environ['HF_HUB_OFFLINE'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env(), capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["True", "1"], done.stderr
