"""GGUF export of a Llama-architecture causal LM with the ``gguf`` package (llama.cpp's format), and
its read-back by the same package.

The file follows llama.cpp's converter (``convert_hf_to_gguf.py``): tensor names ``token_embd``,
``blk.N.attn_q`` ... ``output_norm`` (``output`` only when the head is not tied), q and k rows
permuted to llama.cpp's rotary layout, norms in F32, every matrix in the file's type; the
hyper-parameters under ``llama.*`` and the byte-level BPE tokenizer as ``tokenizer.ggml.*``
(model ``gpt2``: tokens, types, merges, special ids). A matrix whose rows do not fill whole
blocks of its type (e.g. a row of 344 for Q8_0's 32) is written in the fallback type llama.cpp
uses (F16 for the legacy types, Q8_0 for K-quants), and counted.

Which types the package can write is asked of it (``writable``): gguf 0.19 writes F16, BF16,
Q8_0, Q5_0/Q5_1, Q4_0/Q4_1 and reads, but does not write, the K-quants (Q4_K, Q5_K, Q6_K).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from contract.events import ResultValues

from ..harness.errors import ExperimentError
from ..harness.extras import require
from ..lm.models import config_of, transformers_model

#: the types offered (lower-case names of gguf's GGMLQuantizationType), with llama.cpp's file type
TYPES = {"f16": "MOSTLY_F16", "bf16": "MOSTLY_BF16", "q8_0": "MOSTLY_Q8_0", "q5_1": "MOSTLY_Q5_1",
         "q5_0": "MOSTLY_Q5_0", "q4_1": "MOSTLY_Q4_1", "q4_0": "MOSTLY_Q4_0", "q6_k": "MOSTLY_Q6_K",
         "q5_k": "MOSTLY_Q5_K_M", "q4_k": "MOSTLY_Q4_K_M"}
#: the type llama.cpp falls back to for a matrix whose rows do not fill whole blocks
FALLBACK = {"q6_k": "q8_0", "q5_k": "q5_0", "q4_k": "q5_0"}
_PARTS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
LLAMA_TYPES = ("llama", "mistral")


def qtype(name: str) -> Any:
    return getattr(require("gguf").GGMLQuantizationType, name.upper())


def writable(name: str) -> bool:
    """Whether the installed gguf package can write this type (it may only read it)."""
    gguf = require("gguf")
    t = qtype(name)
    if name in ("f16", "f32"):
        return True
    block = gguf.GGML_QUANT_SIZES[t][0]
    try:
        gguf.quants.quantize(np.zeros((1, block), dtype=np.float32), t)
    except NotImplementedError:
        return False
    return True


def fits(name: str, row: int) -> bool:
    gguf = require("gguf")
    return name in ("f16", "f32") or row % gguf.GGML_QUANT_SIZES[qtype(name)][0] == 0


def permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's rotary layout of q/k rows (convert_hf_to_gguf LlamaModel.permute)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_name(hf: str) -> str | None:
    """The GGUF tensor of a Hugging Face Llama parameter (None: not stored, e.g. a tied head)."""
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    if len(parts) >= 5 and parts[:2] == ["model", "layers"]:
        inner = ".".join(parts[3:-1])
        if inner in _PARTS:
            return f"blk.{parts[2]}.{_PARTS[inner]}.{parts[-1]}"
    return None


@dataclass
class Export:
    """What was written: the type of every tensor and the matrices that fell back."""
    path: Path
    types: dict[str, str] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def check_model(model: nn.Module) -> None:
    kind = getattr(model.config, "model_type", "")
    if kind not in LLAMA_TYPES:
        raise ExperimentError(f"GGUF export writes Llama-architecture models ({', '.join(LLAMA_TYPES)}); this model "
                              f"is {kind or type(model).__name__}")


def _hparams(writer: Any, cfg: Any, ftype: str) -> None:
    gguf = require("gguf")
    heads = cfg.num_attention_heads
    writer.add_name("joulelab model")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(cfg.num_key_value_heads or heads)
    writer.add_rope_dimension_count(cfg.hidden_size // heads)
    writer.add_rope_freq_base(float(getattr(cfg, "rope_theta", None) or
                                    (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_file_type(int(getattr(gguf.LlamaFileType, TYPES[ftype])))


def _tokenizer(writer: Any, tokenizer: Any, vocab_size: int) -> None:
    """The byte-level BPE as llama.cpp's ``gpt2`` tokenizer model."""
    gguf = require("gguf")
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    by_id = {i: t for t, i in vocab.items()}
    special = {t["id"]: t["content"] for t in spec.get("added_tokens", [])}
    tokens, types = [], []
    for i in range(vocab_size):
        tok = special.get(i, by_id.get(i, f"[PAD{i}]"))
        tokens.append(tok)
        types.append(gguf.TokenType.CONTROL if i in special else
                     gguf.TokenType.NORMAL if i in by_id else gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"].get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for setter, tid in (("add_bos_token_id", tokenizer.bos_token_id), ("add_eos_token_id", tokenizer.eos_token_id),
                        ("add_pad_token_id", tokenizer.pad_token_id)):
        if tid is not None:
            getattr(writer, setter)(int(tid))


@torch.no_grad()
def write(model: nn.Module, tokenizer: Any, path: Path, ftype: str) -> Export:
    """Write ``model`` as a GGUF file of type ``ftype``."""
    gguf = require("gguf")
    check_model(model)
    if not writable(ftype):
        raise ExperimentError(f"the gguf package {gguf_version()} reads {ftype.upper()} but cannot write it; "
                              f"choose one of {', '.join(t for t in TYPES if writable(t))}")
    cfg = config_of(model)
    heads, kv = cfg.num_attention_heads, cfg.num_key_value_heads or cfg.num_attention_heads
    writer = gguf.GGUFWriter(str(path), arch="llama")
    _hparams(writer, cfg, ftype)
    _tokenizer(writer, tokenizer, cfg.vocab_size)
    out = Export(path)
    for hf, tensor in model.state_dict().items():
        name = gguf_name(hf)
        if name is None or (name == "output.weight" and cfg.tie_word_embeddings):
            continue
        arr = tensor.detach().float().cpu().numpy()
        if name.endswith("attn_q.weight"):
            arr = permute(arr, heads)
        elif name.endswith("attn_k.weight"):
            arr = permute(arr, kv)
        kind = ftype if arr.ndim == 2 else "f32"
        if kind != "f32" and not fits(kind, arr.shape[1]):
            kind = FALLBACK.get(ftype, "f16")
            if not fits(kind, arr.shape[1]):
                kind = "f16"
            out.fallbacks.append(name)
        data = gguf.quants.quantize(arr, qtype(kind))
        writer.add_tensor(name, data, raw_dtype=None if kind in ("f16", "f32") else qtype(kind))
        out.types[name] = kind
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


@dataclass
class ReadBack:
    tensors: dict[str, np.ndarray]     # gguf name -> float32 values, Hugging Face row order
    types: dict[str, str]              # gguf name -> type name as stored
    fields: dict[str, Any]


def read(path: Path, heads: int | None = None, kv_heads: int | None = None) -> ReadBack:
    """Every tensor of a GGUF file dequantized by the package (q/k rows back in the HF order),
    and its metadata."""
    gguf = require("gguf")
    reader = gguf.GGUFReader(str(path))
    fields = {}
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key == "tokenizer.ggml.merges":
            continue
        try:
            value = f.contents()
        except Exception:  # a field kind this version cannot decode is not what is checked
            continue
        fields[key] = value
    heads = heads or int(fields["llama.attention.head_count"])
    kv_heads = kv_heads or int(fields.get("llama.attention.head_count_kv") or heads)
    tensors, types = {}, {}
    for t in reader.tensors:
        arr = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
        if t.name.endswith("attn_q.weight"):
            arr = unpermute(arr, heads)
        elif t.name.endswith("attn_k.weight"):
            arr = unpermute(arr, kv_heads)
        tensors[t.name] = arr
        types[t.name] = t.tensor_type.name.lower()
    return ReadBack(tensors, types, fields)


def expected(arr: np.ndarray, kind: str) -> np.ndarray:
    """What the package's own quantize-dequantize makes of a source tensor."""
    gguf = require("gguf")
    out: np.ndarray = gguf.quants.dequantize(gguf.quants.quantize(arr, qtype(kind)), qtype(kind)).astype(np.float32)
    return out


@torch.no_grad()
def compare(model: nn.Module, back: ReadBack) -> ResultValues:
    """The read-back tensors against the source: the same names and shapes; each equal to the
    package's quantize-dequantize of the source (bit for bit), and its error against the source."""
    cfg = config_of(model)
    source = {}
    for hf, tensor in model.state_dict().items():
        name = gguf_name(hf)
        if name is not None and not (name == "output.weight" and cfg.tie_word_embeddings):
            source[name] = tensor.detach().float().cpu().numpy()
    missing = sorted(set(source) - set(back.tensors))
    extra = sorted(set(back.tensors) - set(source))
    mismatched, max_err, rel = [], 0.0, 0.0
    for name, src in source.items():
        got = back.tensors.get(name)
        if got is None or got.shape != src.shape:
            mismatched.append(name)
            continue
        if not np.array_equal(got, expected(src, back.types[name])):
            mismatched.append(name)
        err = float(np.abs(got - src).max())
        max_err = max(max_err, err)
        norm = np.linalg.norm(src)
        rel = max(rel, float(np.linalg.norm(got - src) / (norm if norm > 1e-12 else 1e-12)))  # as max(norm, 1e-12)
    return {"gguf_tensors": len(back.tensors), "gguf_missing_tensors": missing, "gguf_extra_tensors": extra,
            "gguf_mismatched_tensors": mismatched, "gguf_roundtrip_ok": not (missing or extra or mismatched),
            "gguf_max_abs_error": max_err, "gguf_max_rel_error": rel}


@torch.no_grad()
def load_into(model: nn.Module, back: ReadBack) -> nn.Module:
    """The model with every stored tensor replaced by its read-back values (what a GGUF runtime
    computes with, in FP32)."""
    state = model.state_dict()
    for hf in list(state):
        name = gguf_name(hf)
        if name in back.tensors:
            state[hf] = torch.from_numpy(back.tensors[name]).to(state[hf].dtype)
    model.load_state_dict(state)
    transformers_model(model).tie_weights()
    return model


def gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")
