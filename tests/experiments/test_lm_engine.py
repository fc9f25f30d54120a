"""A language-model plan through the real engine: the pre-training run is a dependency of every
fine-tuning run, and the base model it caches is built once and reused."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import LabHarness


def test_pretraining_is_a_dependency_and_its_cache_is_reused(lab: LabHarness) -> None:
    lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "experiments"  # the real catalog, not the stand-in
    exp_id = lab.submit("lora_rank", "profile=smoke", "methods=fixed", "ranks=8", seeds=2)
    exp = lab.wait_experiment(exp_id, timeout=600)
    assert exp["status"] == "done", exp["error"]
    runs = lab.run_rows(exp_id)
    assert sorted(r["variant"] for r in runs) == ["base", "base", "lora-r8", "lora-r8"]
    base_of = {r["seed"]: r for r in runs if r["variant"] == "base"}
    bases = [json.loads(r["result"]) for r in base_of.values()]
    # both seeds share one base model: exactly one run pre-trained it, the other found it cached
    assert sorted(b["cache_hit"] for b in bases) == [False, True]
    assert bases[0]["base_model_dir"] == bases[1]["base_model_dir"]
    cache = Path(lab.env["JOULELAB_CACHE"]) / "lm"
    assert Path(bases[0]["base_model_dir"]).parent == cache
    assert len([p for p in cache.glob("base-*") if p.is_dir()]) == 1
    for run in (r for r in runs if r["variant"] == "lora-r8"):
        base = base_of[run["seed"]]
        assert json.loads(run["depends_on"]) == [base["id"]]
        assert run["started_at"] >= base["finished_at"]
        spec = json.loads((lab.root / "runs" / str(run["id"]) / "spec.json").read_text())
        assert spec["dependencies"]["base"]["run_id"] == base["id"]
        result = json.loads(run["result"])
        assert result["budget_steps"] == json.loads(base["result"])["budget_steps"] + result["train_steps"]
        assert 1 < result["test_perplexity"] and result["params_trainable"] < result["params_total"]
    rated = lab.wait_for(lambda: lab.experiment(exp_id)["rating"], 60, "the rating")
    assert 1 <= rated <= 10
