"""The issue-26 entries through the real engine at `smoke`: one_shot_compression, speculative_decoding,
lm_deployment (language models, trimmed plans) and edge_onnx, each experiment done, every run
recorded with its result and the experiment rated."""

from __future__ import annotations

import json

import pytest

from tests.conftest import LabHarness

pytest.importorskip("onnxruntime")

SUBMISSIONS = {
    "one_shot_compression": ("criteria=wanda,sparsegpt", "sparsities=0.5", "patterns=unstructured",
                             "quantizations=int4,awq4"),
    "speculative_decoding": ("drafts=shallow",),
    "lm_deployment": ("gguf_types=q8_0", "packed_int4=false", "runtimes=onnx-fp32"),
    "edge_onnx": ("models=mlp", "runtimes=onnx,onnx-int8", "dataset=synthetic"),
}
VARIANTS = {
    "one_shot_compression": {"base", "wanda-50", "sparsegpt-50", "int4", "awq4"},
    "speculative_decoding": {"base", "shallow-draft"},
    "lm_deployment": {"base", "gguf-q8_0", "onnx-fp32"},
    "edge_onnx": {"torch-mlp", "onnx-mlp", "onnx-int8-mlp"},
}


def test_the_new_entries_run_and_are_rated_through_the_engine(lab: LabHarness) -> None:
    lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "experiments"  # the real catalog, not the stand-in
    ids = {name: lab.submit(name, "profile=smoke", *params, seeds=1) for name, params in SUBMISSIONS.items()}
    for name, exp_id in ids.items():
        exp = lab.wait_experiment(exp_id, timeout=900)
        assert exp["status"] == "done", (name, exp["error"])
        runs = {r["variant"]: r for r in lab.run_rows(exp_id)}
        assert set(runs) == VARIANTS[name], name
        for variant, run in runs.items():
            result = json.loads(run["result"])
            assert result["variant"] == variant and result["profile"] == "smoke", (name, variant)
        rated = lab.wait_for(lambda i=exp_id: lab.experiment(i)["rating"], 120, f"the rating of {name}")
        assert 1 <= rated <= 6, name  # smoke runs and one seed never rate above 6
    spec = json.loads(next(r for r in lab.run_rows(ids["speculative_decoding"])
                           if r["variant"] == "shallow-draft")["result"])
    assert spec["greedy_identical"] is True
    gguf = json.loads(next(r for r in lab.run_rows(ids["lm_deployment"]) if r["variant"] == "gguf-q8_0")["result"])
    assert gguf["gguf_roundtrip_ok"] is True
