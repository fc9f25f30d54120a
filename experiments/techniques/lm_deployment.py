"""lm_deployment: the language model in the formats it ships in. GGUF files written and read back by
the gguf package, the lab's packed INT4 weights, zstd on each file, and ONNX Runtime on an edge
profile (one thread, batch 1), FP32 and its own dynamic INT8 against the lab's INT8.

The program: the ``base`` run scores the model in PyTorch at the edge profile; every other run
writes one deployment format of it, reads it back, scores it through its runtime and times it
against PyTorch FP32 (one thread, batch 1) in the same process.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import (
    PERPLEXITY_MARGIN,
    PERPLEXITY_MARGIN_BASIS,
    Experiment,
    Param,
    ParamValues,
    Variant,
    keys_deliverable,
    threshold,
)
from ..lm.settings import lm_params
from ..paramread import flag, texts

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..harness.context import RunContext
    from ..lm.session import LMRun


BASE = "base"
GGUF_TYPES = ("f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "q6_k", "q5_k", "q4_k")
DEFAULT_GGUF = ("f16", "q8_0", "q5_0", "q4_0")
RUNTIMES = ("onnx-fp32", "torch-int8", "onnx-int8")
#: forward passes timed per latency figure (after 3 warm-up), per profile
LATENCY_REPS = {"smoke": 5, "default": 30, "full": 60}
#: one-shot bits per weight of each GGUF type (its block's bytes x 8 / its weights), for the roles
BITS = {"f16": 16, "bf16": 16, "q8_0": 8.5, "q5_1": 6, "q5_0": 5.5, "q4_1": 5, "q4_0": 4.5, "q6_k": 6.5625,
        "q5_k": 5.5, "q4_k": 4.5}


def plan(values: ParamValues) -> list[Variant]:
    out = [Variant(BASE, {"format": "torch-fp32"}, baseline=True,
                   role="the pre-trained model in PyTorch, FP32 safetensors (pre-trained here and cached, or the "
                        "user's), timed at one thread, batch 1")]
    for t in dict.fromkeys(texts(values, "gguf_types")):
        out.append(Variant(f"gguf-{t}", {"format": f"gguf-{t}"}, depends_on=(BASE,), references=(BASE,),
                           objective="size", role=f"GGUF {t.upper()} ({BITS[t]:g} bits per weight), written and read "
                                                  f"back by the gguf package; perplexity of the read-back weights in "
                                                  f"PyTorch (no GGUF runtime here: not timed)"))
    if flag(values, "packed_int4"):
        out.append(Variant("packed-int4", {"format": "packed-int4"}, depends_on=(BASE,), references=(BASE,),
                           objective="size", role="the lab's packed INT4 (round-to-nearest, groups of 128: "
                                                  "compression_pipeline's int4), then zstd; scored after loading "
                                                  "it back (not timed: its layers dequantize in plain torch)"))
    runtimes = list(dict.fromkeys(texts(values, "runtimes")))
    for r in runtimes:
        refs: tuple[str, ...] = (BASE,)
        if r == "onnx-int8":
            refs = (*(x for x in ("torch-int8", "onnx-fp32") if x in runtimes), BASE)
        out.append(Variant(r, {"format": r}, depends_on=(BASE,), references=refs, objective="latency",
                           role={"onnx-fp32": "ONNX Runtime, FP32, one thread, batch 1",
                                 "torch-int8": "the lab's INT8 (torch.ao dynamic, block layers), one thread, batch 1",
                                 "onnx-int8": "ONNX Runtime's dynamic INT8 (its quantize_dynamic), one thread, "
                                              "batch 1, against the lab's INT8"}[r]))
    return out


def headline(values: ParamValues) -> str | None:
    names = [v.name for v in plan(values) if v.references]
    for name in ("onnx-int8", "gguf-q8_0", "onnx-fp32"):
        if name in names:
            return name
    return names[0] if names else None


EXPERIMENT = Experiment(
    name="lm_deployment",
    title="Deploying the language model: GGUF, zstd, ONNX Runtime at the edge",
    area="inference",
    gain_phase="inference",
    summary="Write the base model as GGUF files (F16, Q8_0, Q5_0, Q4_0 with the gguf package; K-quants where "
            "it can write them), read them back with the same package and compare every tensor; pack its "
            "block weights in the lab's INT4 format; compress each file with zstd (size, decompression "
            "time); export it to ONNX and run it with ONNX Runtime on one thread at batch 1, in FP32 and "
            "with ONNX Runtime's dynamic INT8 against the lab's INT8. Perplexity, bytes on disk, latency "
            "and energy of each.",
    literature="llama.cpp's GGUF stores a model with its tokenizer and metadata in one file; Q8_0 (8.5 bits per "
               "weight) is close to lossless and 4-5-bit block formats cost a small perplexity increase on "
               "7B models (llama.cpp's published tables: Q4_0 +0.2-0.3 perplexity, Q5_0 about +0.05, Q8_0 "
               "about +0.001 on LLaMA-7B). Lossless compression of already quantized weights gains little: "
               "their codes are near-uniform (Han et al. 2016 got most of Deep Compression's Huffman gain on "
               "clustered weights), while zstd shrinks FP16/FP32 weights by their redundant exponent bits. "
               "ONNX Runtime's graph optimisations and fused kernels typically run small transformer models "
               "1.2-3x faster than eager PyTorch on one CPU thread, and its dynamic INT8 quantization speeds "
               "up large MatMuls on CPUs with VNNI (Microsoft's ONNX Runtime quantization documentation); "
               "on tiny layers the quantize/dequantize overhead can cancel the gain.",
    references=(
        "Gerganov et al. 2023-, llama.cpp and the GGUF format (github.com/ggml-org/llama.cpp, docs/gguf.md)",
        "Collet & Kucherawy 2021, Zstandard Compression and the application/zstd Media Type (RFC 8878)",
        "ONNX Runtime developers 2021-, ONNX Runtime: quantize ONNX models (onnxruntime.ai/docs/performance/"
        "model-optimizations/quantization.html)",
        "Jacob et al. 2018, Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only "
        "Inference (CVPR)",
        "Han et al. 2016, Deep Compression (ICLR)",
    ),
    metrics={"quality": "test_perplexity", "energy": "energy_inference_kwh", "time": "edge_latency_ms",
             "size": "model_size_bytes"},
    params=(*lm_params(),
        Param("gguf_types", "str_list", list(DEFAULT_GGUF), "GGUF types written (each a variant); K-quants "
              "(q4_k, q5_k, q6_k) only where the installed gguf package can write them", choices=GGUF_TYPES),
        Param("packed_int4", "bool", True, "also the lab's packed INT4 weights (compression_pipeline's int4)"),
        Param("runtimes", "str_list", list(RUNTIMES), "edge runtimes timed against PyTorch FP32 at one thread, "
              "batch 1: onnx-fp32, torch-int8 (the lab's INT8), onnx-int8 (ONNX Runtime's dynamic INT8)",
              choices=RUNTIMES),
        Param("zstd_level", "int", 19, "zstd compression level of every file", min=1, max=22),
    ),
    deliverables=(keys_deliverable("test_perplexity", "model_size_bytes", "zstd_size_bytes", "zstd_decompress_ms",
                                   "energy_inference_kwh", "energy_mode", "budget_steps", "diverged"),
                  {**keys_deliverable("edge_latency_ms"), "variant": "base"},
                  {**keys_deliverable("gguf_roundtrip_ok", "gguf_max_abs_error", "gguf_tensors"),
                   "variant": "gguf-q8_0"},
                  {**keys_deliverable("max_abs_logit_diff", "ref_edge_latency_ms", "speedup"),
                   "variant": "onnx-fp32"},
                  threshold("max_abs_logit_diff", "<", 1e-3, "onnx-fp32")),
    plan_fn=plan,
    table_keys=("model_size_bytes", "zstd_ratio", "zstd_decompress_ms", "edge_latency_ms", "speedup",
                "perplexity_vs_base"),
    headline=headline,
    speedup_batch=1,
    no_zoo_model=("its headline is the base model in a deployment format (ONNX Runtime, GGUF), not a Hugging Face "
                  "model; the weights are the base model's"),
    quality_margin=PERPLEXITY_MARGIN,
    quality_margin_basis=PERPLEXITY_MARGIN_BASIS + "; a lossless step (zstd) must keep it exactly",
    extra={"latency_reps": LATENCY_REPS},
)


GROUP = 128  # the lab's INT4 groups (compression_pipeline's default)


def window(lm: LMRun) -> torch.Tensor:
    """The batch-1 input every runtime is timed on: one context-length window of the test split."""
    row, _ = lm.latency_batches()
    return row.cpu()


def edge_measures(lm: LMRun, model: nn.Module, runtime: Any | None, ref: nn.Module | None,
                  latency: bool = True) -> ResultValues:
    """Perplexity and its energy through the runtime at one thread; with ``latency``, the batch-1
    latency, interleaved with PyTorch FP32 (``ref``) when given. A format without a runtime here
    (GGUF, the packed weights) is scored in PyTorch with its read-back weights, and not timed."""
    import torch

    from ..deploy import edge

    x = window(lm)
    reps = LATENCY_REPS[lm.ctx.profile]
    scored = edge.OrtLM(runtime) if runtime is not None else model
    values: ResultValues = {}
    with edge.OneThread():
        with lm.ctx.energy.phase("inference"):
            t0 = time.perf_counter()
            test = lm.score(scored, "test", "fp32")
            values["test_eval_time_s"] = time.perf_counter() - t0
        if latency:
            with torch.inference_mode():
                own = (lambda: edge.ort_run(runtime, x)) if runtime is not None else (lambda: model(input_ids=x))
                runs = {"own": own, **({"ref": lambda: ref(input_ids=x)} if ref is not None else {})}
                timed = edge.interleaved_ms(runs, 3, reps)
            values.update({"edge_latency_ms": timed["own"], "edge_threads": 1, "edge_batch": 1,
                           "edge_tokens": int(x.shape[1])})
            if "ref" in timed:
                values.update({"ref_edge_latency_ms": timed["ref"], "speedup": timed["ref"] / timed["own"]})
    values.update(test.values("test"))
    return values


def gguf_variant(lm: LMRun, kind: str, base: nn.Module) -> tuple[nn.Module, ResultValues]:
    from ..deploy import edge, gguf_export

    path = lm.ctx.out_dir / f"model-{kind}.gguf"
    written = gguf_export.write(base, lm.tokenizer(), path, kind)
    lm.ctx.events.artifact(path.name, "model")
    back = gguf_export.read(path)
    values = gguf_export.compare(base, back)
    values.update({"gguf_type": kind, "gguf_version": gguf_export.gguf_version(),
                   "gguf_fallback_tensors": written.fallbacks,
                   "gguf_types_written": sorted(set(written.types.values())),
                   "gguf_architecture": back.fields.get("general.architecture"),
                   "gguf_token_count": len(back.fields.get("tokenizer.ggml.tokens") or []),
                   "model_size_bytes": written.size_bytes})
    values.update(edge.zstd_file(path, lm.ctx.integer("zstd_level")))
    model = gguf_export.load_into(copy.deepcopy(base), back)
    return model, values


def packed_variant(lm: LMRun, base: nn.Module) -> tuple[nn.Module, ResultValues]:
    import torch

    from ..deploy import edge
    from ..lm import packed
    from ..lm.models import block_linears
    from ..lm.packed import LayerFormat, as_linear_blocks, set_module
    from ..lm.quantize import Int4Linear, rtn_int4

    model = as_linear_blocks(copy.deepcopy(base))
    formats = {}
    for name, module in block_linears(model):
        set_module(model, name, Int4Linear(rtn_int4(module.weight, GROUP), module.bias))
        formats[name] = LayerFormat("dense", "int4", GROUP)
    folder = lm.ctx.out_dir / "packed"
    size = packed.save(model, folder, formats, {}, {"chain": ["int4 round-to-nearest, groups of 128"]})
    lm.ctx.events.artifact("packed", "model")
    values: ResultValues = {"model_size_bytes": size}
    values.update(edge.zstd_file(folder / packed.WEIGHTS, lm.ctx.integer("zstd_level")))
    # config and manifest as they are
    values["zstd_size_bytes"] = required_number(values, "zstd_size_bytes") + size - edge.file_bytes(folder / packed.WEIGHTS)
    back, _, _, _ = packed.load(folder, torch.device("cpu"))
    return back, values


def onnx_variant(lm: LMRun, base: nn.Module, int8: bool) -> tuple[Any, ResultValues]:
    import torch

    from ..deploy import edge

    path = edge.export(edge.LogitsOnly(base), window(lm), lm.ctx.out_dir / "model.onnx", {0: "batch", 1: "tokens"})
    if int8:
        path = edge.ort_int8(path, lm.ctx.out_dir / "model-int8.onnx")
    lm.ctx.events.artifact(path.name, "model")
    session = edge.edge_session(path)
    x = window(lm)
    with torch.inference_mode():
        diff = edge.max_abs_diff(edge.ort_run(session, x), base(input_ids=x).logits)
    values: ResultValues = {"model_size_bytes": edge.file_bytes(path), "max_abs_logit_diff": diff,
              "onnxruntime_version": _version("onnxruntime"), "onnx_opset": edge.OPSET}
    if int8:
        values["ort_int8_weights"] = edge.ort_int8_weights()
    values.update(edge.zstd_file(path, lm.ctx.integer("zstd_level")))
    return session, values


def _version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def run(ctx: RunContext) -> ResultValues:
    import torch

    from ..deploy import edge
    from ..lm.models import block_linears
    from ..lm.quantize import int8_dynamic
    from ..lm.session import LMRun, run_base

    lm = LMRun(ctx)
    lm.device = torch.device("cpu")  # the edge profile: CPU, one thread
    fmt = ctx.text("format")
    if fmt == "torch-fp32":
        values = run_base(lm)
        model = lm.load_base()
        values.update(edge_measures(lm, model, None, None))  # the scoring workload again, at one thread
        weights = [f for f in Path(str(values["base_model_dir"])).iterdir() if f.name.endswith(".safetensors")]
        if weights:
            values.update(edge.zstd_file(weights[0], ctx.integer("zstd_level"), out_dir=ctx.out_dir))
        values["format"] = fmt
        return values
    lm.encoded()
    base_result = lm.base_result()
    base = lm.load_base().eval()
    runtime = None
    if fmt.startswith("gguf-"):
        model, values = gguf_variant(lm, fmt.removeprefix("gguf-"), base)
    elif fmt == "packed-int4":
        model, values = packed_variant(lm, base)
    elif fmt == "torch-int8":
        model = int8_dynamic(copy.deepcopy(base), [n for n, _ in block_linears(base)])
        state = ctx.out_dir / "model-int8.pt"
        torch.save(model.state_dict(), state)
        values = {"model_size_bytes": edge.file_bytes(state)}
        values.update(edge.zstd_file(state, ctx.integer("zstd_level")))
    else:
        runtime, values = onnx_variant(lm, base, int8=fmt == "onnx-int8")
        model = base
    values.update(edge_measures(lm, model, runtime, base, latency=not fmt.startswith(("gguf-", "packed-"))))
    base_ppl = number_at(base_result, "test_perplexity")
    values.update({"format": fmt, "base_model_size_bytes": base_result.get("model_size_bytes"),
                   "compression_ratio": (number_at(base_result, "model_size_bytes") or 0)
                   / required_number(values, "model_size_bytes"),
                   "perplexity_vs_base": required_number(values, "test_perplexity") / base_ppl if base_ppl else None,
                   "budget_steps": base_result.get("budget_steps"), "diverged": False, "train_steps": 0})
    values.update(lm.counts(base))
    values["params_trainable"], values["trainable_share"] = 0, 0.0
    return values
