"""The issue-26 entries through the real engine at `smoke`: one_shot_compression, speculative_decoding,
lm_deployment (language models, trimmed plans) and edge_onnx, each experiment done, every run
recorded with its result and the experiment rated."""

from __future__ import annotations

import json

import pytest

from tests.conftest import LabHarness
from tests.experiments.helpers import run_and_rate

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


def test_the_new_entries_run_and_are_rated_through_the_engine(real_lab: LabHarness) -> None:
    ids = run_and_rate(real_lab, SUBMISSIONS, VARIANTS)
    spec = json.loads(next(r for r in real_lab.run_rows(ids["speculative_decoding"])
                           if r["variant"] == "shallow-draft")["result"])
    assert spec["greedy_identical"] is True
    gguf = json.loads(next(r for r in real_lab.run_rows(ids["lm_deployment"]) if r["variant"] == "gguf-q8_0")["result"])
    assert gguf["gguf_roundtrip_ok"] is True
