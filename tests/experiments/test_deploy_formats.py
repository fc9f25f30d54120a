"""Deployment formats checked against their sources: a GGUF file read back by the gguf package
holds the same tensors (bit for bit what the package's quantizer makes of each source tensor, the
q/k rows back in Hugging Face order), ONNX Runtime's outputs match PyTorch's within tolerance on an
edge session (one thread), zstd gives the bytes back, and a missing optional dependency is one
line naming its extra."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments.deploy import edge, gguf_export
from experiments.harness.errors import ExperimentError
from experiments.harness.extras import require
from experiments.harness.models import Arch, build
from experiments.lm.models import train_tokenizer
from experiments.techniques.quantization import convert
from tests.experiments.helpers import REPO
from tests.experiments.test_lm_compression import tiny_llama

pytest.importorskip("gguf")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return train_tokenizer("to be or not to be, that is the question\n" * 40, 96)


def test_permute_is_llama_cpp_s_rotary_layout_and_unpermute_undoes_it() -> None:
    w = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)  # 2 heads of 4 rows: (a0 a1 b0 b1) per head
    p = gguf_export.permute(w, 2)
    assert p[:, 0].tolist() == [0, 6, 3, 9, 12, 18, 15, 21]  # halves interleaved within each head
    assert np.array_equal(gguf_export.unpermute(p, 2), w)


@pytest.mark.parametrize("kind", ["f16", "q8_0", "q4_0"])
def test_a_gguf_file_reads_back_with_the_same_tensors(tmp_path: Path, tokenizer, kind: str) -> None:  # type: ignore[no-untyped-def]
    model = tiny_llama(dim=64)  # rows of 64 fill blocks of 32; the MLP's 136 do not
    written = gguf_export.write(model, tokenizer, tmp_path / f"m-{kind}.gguf", kind)
    back = gguf_export.read(written.path)
    report = gguf_export.compare(model, back)
    assert report["gguf_roundtrip_ok"], report
    assert report["gguf_tensors"] == 2 * 9 + 2  # 9 per block, the embeddings and the final norm (head tied)
    assert back.fields["general.architecture"] == "llama" and back.fields["llama.block_count"] == 2
    assert back.fields["llama.embedding_length"] == 64 and back.fields["tokenizer.ggml.model"] == "gpt2"
    assert len(back.fields["tokenizer.ggml.tokens"]) == model.config.vocab_size
    state = model.state_dict()
    q = back.tensors["blk.0.attn_q.weight"]
    src = state["model.layers.0.self_attn.q_proj.weight"].numpy()
    norm = back.tensors["blk.1.ffn_norm.weight"]
    assert back.types["blk.1.ffn_norm.weight"] == "f32"
    assert np.array_equal(norm, state["model.layers.1.post_attention_layernorm.weight"].numpy())
    if kind == "f16":
        assert np.array_equal(q, src.astype(np.float16).astype(np.float32))  # exactly the source in F16
        assert written.fallbacks == []
    else:
        assert back.types["blk.0.attn_q.weight"] == kind
        blocks = np.abs(src).reshape(src.shape[0], -1, 32).max(-1, keepdims=True)
        step = blocks / (127 if kind == "q8_0" else 8)  # each block's scale
        err = np.abs(q - src).reshape(src.shape[0], -1, 32)
        assert bool((err <= step * 1.01 + 1e-7).all())
        # ffn_down's rows (136 inputs) do not fill blocks of 32: F16 there, as llama.cpp's converter does
        assert written.fallbacks == ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"]
        assert back.types["blk.0.ffn_down.weight"] == "f16"
    # the read-back model computes what the stored weights say
    again = gguf_export.load_into(tiny_llama(dim=64, seed=9), back)
    ids = torch.randint(0, 96, (2, 16))
    with torch.no_grad():
        diff = float((again(input_ids=ids).logits - model(input_ids=ids).logits).abs().max())
    assert diff < (1e-2 if kind == "f16" else 0.5) and (diff > 0 or kind == "f16")


def test_k_quants_the_package_cannot_write_are_refused_in_one_line(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    assert gguf_export.writable("q8_0") and gguf_export.writable("f16")
    if gguf_export.writable("q4_k"):
        pytest.skip("this gguf package writes K-quants")
    with pytest.raises(ExperimentError, match="reads Q4_K but cannot write it; choose one of f16"):
        gguf_export.write(tiny_llama(dim=64), tokenizer, tmp_path / "k.gguf", "q4_k")


def test_onnx_runtime_matches_pytorch_for_the_language_model_and_an_image_model(tmp_path: Path) -> None:
    model = tiny_llama().eval()
    ids = torch.randint(0, 96, (1, 24))
    path = edge.export(edge.LogitsOnly(model), ids, tmp_path / "lm.onnx", {0: "batch", 1: "tokens"})
    session = edge.edge_session(path)
    opts = session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    with torch.no_grad():
        for x in (ids, torch.randint(0, 96, (3, 40))):  # batch and length stay dynamic
            assert edge.max_abs_diff(edge.ort_run(session, x), model(input_ids=x).logits) < 1e-4
    mlp = build(Arch("mlp", (1, 8, 8), 10, hidden=(32,))).eval()
    x = torch.randn(5, 1, 8, 8)
    img = edge.edge_session(edge.export(mlp, x[:1], tmp_path / "mlp.onnx", {0: "batch"}))
    with torch.no_grad():
        ref = mlp(x)
    assert edge.max_abs_diff(edge.ort_run(img, x), ref) < 1e-5
    # ONNX Runtime's INT8 errs about as much as the lab's (both dynamic INT8), and is smaller on disk
    q = edge.edge_session(edge.ort_int8(tmp_path / "mlp.onnx", tmp_path / "mlp8.onnx"))
    diff = edge.max_abs_diff(edge.ort_run(q, x), ref)
    with torch.no_grad():
        lab = edge.max_abs_diff(convert(copy.deepcopy(mlp), "int8")(x), ref)
    assert 0 < diff < 3 * lab + 1e-3, (diff, lab)
    assert (tmp_path / "mlp8.onnx").stat().st_size < 0.6 * (tmp_path / "mlp.onnx").stat().st_size


def test_zstd_gives_the_bytes_back_and_shrinks_float_weights(tmp_path: Path) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(torch.randn(20000).half().float().numpy().tobytes())  # FP32 holding FP16 values
    got = edge.zstd_file(src, 19, out_dir=tmp_path / "")
    assert got["zstd_ratio"] > 1.3 and got["zstd_decompress_ms"] > 0
    zstd = require("zstandard")
    assert zstd.ZstdDecompressor().decompress((tmp_path / "w.bin.zst").read_bytes()) == src.read_bytes()


def test_a_program_without_its_extra_says_which_to_install(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "gguf.py").write_text("raise ImportError('not installed')\n")
    code = ("import sys\nfrom experiments.harness.extras import require\n"
            "from experiments.harness.errors import MissingExtraError\n"
            "try:\n    require('gguf')\nexcept MissingExtraError as e:\n    print(e); sys.exit(e.exit_code)\n")
    env = {**os.environ, "PYTHONPATH": f"{shadow}{os.pathsep}{REPO}"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stdout.strip() == "gguf is not installed; install the 'deploy' extra: pip install -e '.[deploy]' " \
                                  "(make install does)"
