"""The compression chain through the real engine: every stage is a run that depends on the run of
the stage before it (and on the base run), starts after it finished, and finds its packed model."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import LabHarness


def test_the_chain_s_runs_depend_on_each_other_in_the_database(real_lab: LabHarness) -> None:
    lab = real_lab  # the real catalog and the session's pre-trained base model, if built already
    exp_id = lab.submit("compression_pipeline", "profile=smoke", "criteria=wanda", "sparsities=0.5",
                        "patterns=unstructured", "quantizations=int4", seeds=1)
    exp = lab.wait_experiment(exp_id, timeout=600)
    assert exp["status"] == "done", exp["error"]
    runs = {r["variant"]: r for r in lab.run_rows(exp_id)}
    assert set(runs) == {"base", "int4", "wanda-50", "wanda-50+int4", "wanda-50+int4+kd", "wanda-50+kd",
                         "wanda-50+kd+int4"}
    chains = {"wanda-50": ["base"], "wanda-50+int4": ["base", "wanda-50"],
              "wanda-50+int4+kd": ["base", "wanda-50+int4"], "wanda-50+kd": ["base", "wanda-50"],
              "wanda-50+kd+int4": ["base", "wanda-50+kd"], "int4": ["base"]}
    for variant, parents in chains.items():
        run = runs[variant]
        assert json.loads(run["depends_on"]) == [runs[p]["id"] for p in parents], variant
        for p in parents:
            assert run["started_at"] >= runs[p]["finished_at"]
        spec = json.loads((lab.root / "runs" / str(run["id"]) / "spec.json").read_text())
        assert {d: v["run_id"] for d, v in spec["dependencies"].items()} == {p: runs[p]["id"] for p in parents}
        result = json.loads(run["result"])
        parent = json.loads(runs[parents[-1]]["result"])
        # each stage starts from its parent's packed model: the chain grows one stage at a time
        assert len(result["chain"]) == len(parent.get("chain") or []) + 1
        assert result["chain"][:-1] == (parent.get("chain") or [])
        assert (Path(run["run_dir"]) / "compressed" / "compressed.safetensors").is_file()
        assert result["budget_steps"] == parent["budget_steps"] + result["train_steps"]
        assert result["test_perplexity"] > 1 and result["model_size_bytes"] > 0
    full = json.loads(runs["wanda-50+int4+kd"]["result"])
    assert full["distilled_from"] == "base" and full["train_steps"] > 0 and full["block_sparsity"] == 0.5
    assert json.loads(runs["wanda-50+kd+int4"]["result"])["distilled_from"] == "base"
    assert full["model_size_bytes"] < json.loads(runs["wanda-50"]["result"])["model_size_bytes"]
    rated = lab.wait_for(lambda: lab.experiment(exp_id)["rating"], 60, "the rating")
    assert 1 <= rated <= 10
