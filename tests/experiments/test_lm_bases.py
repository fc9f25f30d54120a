"""Issue 22 item 6: the base model's pre-training is a replication factor. Seed s fine-tunes base
s mod bases, pre-trained with its own seed; the same base id gives the same weights, bit for bit,
in another cache (torch's deterministic mode, a fixed thread count); two bases differ."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.experiments.helpers import make_spec, plan, read_events, run_spec


def base_run(root: Path, seed: int, cache: Path) -> dict[str, Any]:
    """The `base` variant of lora_merge at smoke for `seed`, its cache at `cache`."""
    p = plan("lora_merge", {"profile": "smoke", "bases": 2})
    variant = next(v for v in p["variants"] if v["name"] == "base")
    spec = make_spec("lora_merge", p, variant, seed, root / f"seed{seed}", {})
    spec["cache_dir"] = str(cache)
    run_dir = root / f"seed{seed}" / "base"
    proc = run_spec(spec, run_dir, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [e for e in read_events(run_dir / "events.jsonl") if e["type"] == "result"]
    return results[-1]["values"]


def weights(result: dict[str, Any]) -> str:
    return hashlib.sha256((Path(result["base_model_dir"]) / "model.safetensors").read_bytes()).hexdigest()


def test_two_bases_differ_and_a_base_id_is_the_same_model_everywhere(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, second, third = (base_run(tmp_path / "a", seed, cache) for seed in (0, 1, 2))
    assert (first["base_replicate"], second["base_replicate"], third["base_replicate"]) == (0, 1, 0)
    assert first["bases"] == 2 and first["pretrain_seed"] == 0 and second["pretrain_seed"] == 1
    assert first["base_key"] != second["base_key"] and weights(first) != weights(second)
    assert first["test_perplexity"] != second["test_perplexity"]
    # seed 2 fine-tunes base 0 again: found in the cache, not pre-trained a second time
    assert third["base_model_dir"] == first["base_model_dir"] and third["cache_hit"] is True
    # base 0 pre-trained afresh in another cache: the same weights, bit for bit
    again = base_run(tmp_path / "b", 0, tmp_path / "other-cache")
    assert again["cache_hit"] is False and again["base_key"] == first["base_key"]
    assert weights(again) == weights(first) and again["test_perplexity"] == first["test_perplexity"]
    assert again["determinism"]["deterministic_algorithms"] is True and again["determinism"]["threads"] == 1
