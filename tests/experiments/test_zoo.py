"""The model zoo's export of a language model: a fine-tuned and merged LM (lora_merge at smoke,
one variant, a local try) exported by `python -m experiments.zoo export` loads with
transformers' AutoModelForCausalLM.from_pretrained and its tokenizer, generates, and measures its
test perplexity again as its run did (`remeasure`); so do compressed LMs saved in the lab's packed
format (one_shot_compression's SparseGPT-50 and INT4), decoded to FP32, and LoRA's headline
adapter (lora_rank), kept merged. Image models are exported, loaded and measured again in
tests/records/test_publish.py; a run that kept no weights is refused in one line."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests import warmruns
from tests.experiments import helpers
from tests.timing import scaled


def _run(*args: str, cache: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m ARGS`, forked from the test process's warm worker (tests/warmruns.py)."""
    env = {**helpers.env(), "JOULELAB_CACHE": str(cache), "JOULELAB_NO_CODECARBON": "1"}
    cwd = Path(tempfile.mkdtemp(prefix="cwd-", dir=cache.parent))
    return warmruns.worker(helpers.env(), helpers.REPO).run(list(args), cwd, env, scaled(timeout))


def test_an_exported_language_model_loads_with_auto_model_for_causal_lm(lm_cache: Path, tmp_path: Path) -> None:
    # the base model pre-trained once per test process (tests/conftest.py `lm_cache`)
    # one learning rate (lr_factors=1): the adapter's choice of its rate is test_lm_runs.py's
    done = _run("experiments", "lora_merge", "-p", "profile=smoke", "-p", "forms=merged", "-p", "precisions=fp32",
                "-p", "lr_factors=1", "--out", str(tmp_path / "runs"), cache=lm_cache, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "zoo" / "merged"
    done = _run("experiments.zoo", "export", "--run-dir", str(tmp_path / "runs" / "merged-fp32"), "--out",
                str(out), cache=lm_cache, timeout=300)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["kind"] == "causal-lm" and "model.safetensors" in info["files"] and "tokenizer.json" in info["files"]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(out))
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    ids = tokenizer("ROMEO:", return_tensors="pt").input_ids
    generated = model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert generated.shape[1] > ids.shape[1]
    # measured again on its test split (the run's data, context, stride and token cap): the run's own number
    done = _run("experiments.zoo", "remeasure", str(out), cache=lm_cache, timeout=300)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    recorded = [json.loads(line)["values"] for line in (tmp_path / "runs" / "merged-fp32" / "events.jsonl").open()
                if json.loads(line)["type"] == "result"][-1]
    assert measured["metric"] == "test_perplexity" and measured["tokens"] == recorded["test_tokens"]
    assert measured["value"] == pytest.approx(recorded["test_perplexity"], rel=1e-6)
    # the adapter-only run kept no full model: refused in one line, nothing written
    done = _run("experiments.zoo", "export", "--run-dir", str(tmp_path / "runs" / "base"), "--out",
                str(tmp_path / "zoo" / "base"), cache=lm_cache, timeout=300)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and "zoo:" in done.stderr
    # a whole zoo in one process (what `lab publish` runs): one answer per job, in order, the run
    # that kept no weights answered with its reason and the others exported all the same
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([
        {"run_dir": str(tmp_path / "runs" / "base"), "out": str(tmp_path / "many" / "base"), "extra": {}},
        {"run_dir": str(tmp_path / "runs" / "merged-fp32"), "out": str(tmp_path / "many" / "merged"),
         "extra": {"experiment": 7}}]))
    done = _run("experiments.zoo", "export-many", str(jobs), cache=lm_cache, timeout=300)
    assert done.returncode == 0, done.stderr
    refused, exported = json.loads(done.stdout)
    assert refused["ok"] is False and "kept" in refused["error"] and not (tmp_path / "many" / "base").exists()
    assert exported["ok"] is True and exported["kind"] == "causal-lm" and "model.safetensors" in exported["files"]
    assert json.loads((tmp_path / "many" / "merged" / "config.json").read_text())["joulelab"]["experiment"] == 7
    jobs.write_text('{"run_dir": "x"}')
    done = _run("experiments.zoo", "export-many", str(jobs), cache=lm_cache, timeout=300)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "list" in done.stderr


def _recorded(run: Path) -> dict[str, Any]:
    return [json.loads(line)["values"] for line in (run / "events.jsonl").open()
            if json.loads(line)["type"] == "result"][-1]


def test_a_compressed_language_model_exports_from_its_packed_format(lm_cache: Path, tmp_path: Path) -> None:
    done = _run("experiments", "one_shot_compression", "-p", "profile=smoke", "-p", "criteria=sparsegpt",
                "-p", "sparsities=0.5", "-p", "patterns=unstructured", "-p", "quantizations=int4",
                "--out", str(tmp_path / "runs"), cache=lm_cache, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    from transformers import AutoModelForCausalLM

    for variant, values, pattern in (("sparsegpt-50", "fp32", "unstructured"), ("int4", "int4", "dense")):
        run, out = tmp_path / "runs" / variant, tmp_path / "zoo" / variant
        recorded = _recorded(run)
        extra = json.dumps({"recorded": {"metric": "test_perplexity", "value": recorded["test_perplexity"]}})
        done = _run("experiments.zoo", "export", "--run-dir", str(run), "--out", str(out), "--extra", extra,
                    cache=lm_cache, timeout=300)
        assert done.returncode == 0, done.stderr
        info = json.loads(done.stdout)
        packed = info["packed"]
        # what the card says the weights are: the packed form's values and pattern, its bytes (the
        # run's model size) and bits per weight; stored decoded in FP32
        assert packed["values"] == [values] and packed["patterns"] == [pattern]
        assert packed["packed_bytes"] == recorded["model_size_bytes"]
        assert packed["bits_per_weight"] == pytest.approx(recorded["bits_per_weight"], rel=1e-9)
        assert {"model.safetensors", "tokenizer.json", "packed"} <= set(info["files"])
        assert {p.name for p in (out / "packed").iterdir()} == {"compressed.safetensors", "compression.json",
                                                               "config.json"}
        model = AutoModelForCausalLM.from_pretrained(str(out))
        assert all(p.dtype.is_floating_point and p.dtype.itemsize == 4 for p in model.parameters())
        if pattern == "unstructured":  # the pruned weights are zeros in the dense form
            blocks = [m.weight for n, m in model.named_modules() if ".layers." in n and hasattr(m, "weight")
                      and m.weight.dim() == 2]
            zeros = sum(int((w == 0).sum()) for w in blocks) / sum(w.numel() for w in blocks)
            assert zeros == pytest.approx(recorded["block_sparsity"], abs=1e-6)
        done = _run("experiments.zoo", "remeasure", str(out), cache=lm_cache, timeout=300)
        assert done.returncode == 0, done.stderr
        measured = json.loads(done.stdout)
        assert measured["metric"] == "test_perplexity" and measured["tokens"] == recorded["test_tokens"]
        # the run measured the model before its embeddings and norms were stored in FP16 (INT4)
        assert measured["value"] == pytest.approx(recorded["test_perplexity"], rel=1e-4)


def test_lora_s_headline_adapter_is_kept_merged_and_measures_again(lm_cache: Path, tmp_path: Path) -> None:
    done = _run("experiments", "lora_rank", "-p", "profile=smoke", "-p", "methods=fixed,adaptive", "-p", "ranks=4",
                "-p", "allocations=empirical", "-p", "lr_factors=1", "--out", str(tmp_path / "runs"), cache=lm_cache,
                timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = tmp_path / "runs"
    # only the declared headline variant keeps its model
    assert (runs / "lora-empirical" / "model" / "model.safetensors").is_file()
    assert not (runs / "lora-r4" / "model").exists() and not (runs / "base" / "model").exists()
    recorded = _recorded(runs / "lora-empirical")
    out = tmp_path / "zoo"
    extra = json.dumps({"recorded": {"metric": "test_token_accuracy", "value": recorded["test_token_accuracy"]}})
    done = _run("experiments.zoo", "export", "--run-dir", str(runs / "lora-empirical"), "--out", str(out),
                "--extra", extra, cache=lm_cache, timeout=300)
    assert done.returncode == 0, done.stderr
    done = _run("experiments.zoo", "remeasure", str(out), cache=lm_cache, timeout=300)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["metric"] == "test_token_accuracy"
    assert measured["value"] == pytest.approx(recorded["test_token_accuracy"], abs=1e-9)


def test_a_fine_tuned_model_exports_from_its_output_folder(tiny_model: Path, lm_cache: Path, tmp_path: Path) -> None:
    data = tmp_path / "alpaca.jsonl"
    data.write_text("\n".join(json.dumps({"instruction": f"Say the number {i} in words.", "input": "",
                                          "output": f"The number is {i}, said plainly."}) for i in range(40)) + "\n")
    done = _run("experiments", "finetune", "-p", "profile=smoke", "-p", f"model_name={tiny_model}", "-p", f"data={data}",
                "-p", "epochs=2", "-p", "learning_rate=0.003", "--out", str(tmp_path / "runs"), cache=lm_cache,
                timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    recorded = _recorded(tmp_path / "runs" / "finetuned")
    out = tmp_path / "zoo"
    extra = json.dumps({"recorded": {"metric": "final_accuracy", "value": recorded["final_accuracy"]}})
    done = _run("experiments.zoo", "export", "--run-dir", str(tmp_path / "runs" / "finetuned"), "--out", str(out),
                "--extra", extra, cache=lm_cache, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["source"].endswith("output/final_model")
    done = _run("experiments.zoo", "remeasure", str(out), cache=lm_cache, timeout=300)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["metric"] == "final_accuracy" and measured["tokens"] == recorded["test_tokens"]
    assert measured["value"] == pytest.approx(recorded["final_accuracy"], abs=1e-9)
