"""A language-model plan through the real engine: the pre-training run is a dependency of every
fine-tuning run, and each base model it caches is built once and reused; with two bases (the
default) the seeds cycle through them and the validator's intervals are over the bases."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import LabHarness


def test_pretraining_is_a_dependency_and_its_cache_is_reused(lab: LabHarness) -> None:
    lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "experiments"  # the real catalog, not the stand-in
    # one learning rate per arm (lr_factors=1): the rate each arm chooses on validation loss is
    # test_lm_runs.py's; this test is about the base runs and their cache
    exp_id = lab.submit("lora_rank", "profile=smoke", "methods=fixed", "ranks=8", "lr_factors=1", seeds=3)
    exp = lab.wait_experiment(exp_id, timeout=900)
    assert exp["status"] == "done", exp["error"]
    runs = lab.run_rows(exp_id)
    assert sorted(r["variant"] for r in runs) == ["base"] * 3 + ["lora-r8"] * 3
    base_of = {r["seed"]: r for r in runs if r["variant"] == "base"}
    bases = {seed: json.loads(r["result"]) for seed, r in base_of.items()}
    assert [bases[s]["base_replicate"] for s in (0, 1, 2)] == [0, 1, 0]
    # seeds 0 and 2 share base 0: exactly one of them pre-trained it, the other found it cached
    assert sorted(bases[s]["cache_hit"] for s in (0, 2)) == [False, True] and bases[1]["cache_hit"] is False
    assert bases[0]["base_model_dir"] == bases[2]["base_model_dir"] != bases[1]["base_model_dir"]
    cache = Path(lab.env["JOULELAB_CACHE"]) / "lm"
    assert Path(bases[0]["base_model_dir"]).parent == cache
    assert len([p for p in cache.glob("base-*") if p.is_dir()]) == 2
    for run in (r for r in runs if r["variant"] == "lora-r8"):
        base = base_of[run["seed"]]
        assert json.loads(run["depends_on"]) == [base["id"]]
        assert run["started_at"] >= base["finished_at"]
        spec = json.loads((lab.root / "runs" / str(run["id"]) / "spec.json").read_text())
        assert spec["dependencies"]["base"]["run_id"] == base["id"]
        result = json.loads(run["result"])
        assert result["budget_steps"] == json.loads(base["result"])["budget_steps"] + result["train_steps"]
        assert result["test_perplexity"] > 1 and result["params_trainable"] < result["params_total"]
    rated = lab.wait_for(lambda: lab.experiment(exp_id)["rating"], 60, "the rating")
    assert 1 <= rated <= 10
    lora = json.loads(lab.experiment(exp_id)["rating_breakdown"])["variants"]["lora-r8"]
    # the adapter's quality is summarized over the two bases' means, their variance reported
    assert lora["between_bases"]["bases"] == 2 and lora["between_bases"]["seeds_per_base"] == {"0": 2, "1": 1}
