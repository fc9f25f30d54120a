"""one_shot_compression: the calibrated one-shot compressors of a causal LM against the plain ones
at the same size. SparseGPT (OBS reconstruction) beside Wanda and magnitude pruning at 50 %, 60 %
and 2:4; AWQ (activation-aware scales) beside round-to-nearest and GPTQ at 4 bits. Each run is a
compression_pipeline stage (the same program, packed format and measurements), from the base
model, with no recovery training.

The program: every run is one compression_pipeline stage (base, prune or quantize)
from the base model: the same program, packed format and measurements, so SparseGPT and AWQ are
measured exactly as the methods they are compared with.
"""

from __future__ import annotations

from ..declare import Experiment, Param, ParamValues, Variant, keys_deliverable, threshold
from ..lm.compress import CALIBRATION
from ..lm.settings import SPEEDUP_BATCH, lm_params
from ..paramread import integer, number, numbers, text, texts
from .compression_pipeline import BASE, TARGET, run, track_name, tracks
from .compression_pipeline import EXPERIMENT as PIPELINE

CRITERIA = ("magnitude", "wanda", "sparsegpt")
QUANTIZATIONS = ("int4", "gptq4", "awq4")
#: the pipeline's declarations of the stage parameters both entries share (one place for each)
SHARED = {p.name: p for p in PIPELINE.params}
#: what each calibrated method is compared with at the same size: the methods it claims to beat
BEATS = {"sparsegpt": ("wanda", "magnitude"), "wanda": ("magnitude",), "gptq4": ("int4",), "awq4": ("int4", "gptq4")}


def _stage(name: str, params: ParamValues, refs: tuple[str, ...], role: str) -> Variant:
    # a plain method is compared with the base model on size; a calibrated one with the plain
    # methods at the same size, on quality (perplexity)
    objective = "quality" if refs != (BASE,) else "size"
    return Variant(name, {**params, "origin": BASE, "parent": BASE}, depends_on=(BASE,), references=refs,
                   objective=objective, role=role)


def plan(values: ParamValues) -> list[Variant]:
    out = [Variant(BASE, {"stage": "base"}, baseline=True,
                   role="the pre-trained model (pre-trained here and cached, or the user's): the uncompressed "
                        "reference")]
    criteria = list(dict.fromkeys(texts(values, "criteria")))
    for name, prune in tracks({**values, "criteria": criteria}):
        crit, pattern, sparsity = text(prune, "criterion"), text(prune, "pattern"), number(prune, "sparsity")
        refs = tuple(track_name(c, pattern, sparsity) for c in BEATS.get(crit, ()) if c in criteria)
        out.append(_stage(name, {"stage": "prune", **prune}, refs or (BASE,),
                          f"{crit} pruning, {pattern}, {sparsity:.0%} of the block weights, "
                          f"one shot" + (f" (against {', '.join(refs)} at the same sparsity)" if refs else "")))
    quants = list(dict.fromkeys(texts(values, "quantizations")))
    for q in quants:
        refs = tuple(r for r in BEATS.get(q, ()) if r in quants)
        out.append(_stage(q, {"stage": "quantize", "quantization": q}, refs or (BASE,),
                          f"{q}: 4-bit weights in groups of {integer(values, 'group_size')}"
                          + (f" (against {', '.join(refs)} at the same bits)" if refs else "")))
    return out


def headline(values: ParamValues) -> str | None:
    """SparseGPT at 50 % (the paper's main claim) when planned; else AWQ; else the last compared."""
    names = [v.name for v in plan(values) if v.references and v.objective == "quality"]
    s = min(numbers(values, "sparsities"), default=0.5)
    for name in (track_name("sparsegpt", "unstructured", s), "sparsegpt-2of4", "awq4"):
        if name in names:
            return name
    return names[-1] if names else None


EXPERIMENT = Experiment(
    name="one_shot_compression",
    title="One-shot LM compression: SparseGPT and AWQ against magnitude, Wanda, RTN and GPTQ",
    area="compression",
    gain_phase="inference",
    summary="Prune the decoder-block weights of a causal LM in one shot to 50 %, 60 % and 2:4 by magnitude, "
            "Wanda and SparseGPT, and quantize them to 4 bits in groups by round-to-nearest, GPTQ and AWQ, "
            "all from the same base model with the same calibration sequences and no recovery training. "
            "SparseGPT and AWQ are compared with the plain methods at the same size on perplexity; the "
            "plain methods with the base model on size.",
    literature="SparseGPT prunes OPT-175B and BLOOM-176B to 50 % unstructured sparsity in one shot with a "
               "negligible perplexity increase, where magnitude pruning collapses; at 2:4 and at 60 % the "
               "increase is larger, and smaller models lose more (OPT-2.7B: 13.0 -> 14.0 at 50 %, magnitude "
               "265; Frantar & Alistarh 2023). Wanda, which needs no weight update, matches SparseGPT at 50 % "
               "on LLaMA but falls behind it at higher sparsity and at 2:4 (Sun et al. 2023). AWQ's "
               "activation-aware per-channel scales lower the perplexity of group-wise 4-bit round-to-nearest "
               "(LLaMA-7B, g128: 5.68 FP16, 5.96 RTN, 5.78 AWQ) and match or beat GPTQ without its weight "
               "reconstruction (Lin et al. 2023). Tiny models are less over-parameterised than those of the "
               "papers, so every method should cost them more.",
    references=(
        "Frantar & Alistarh 2023, SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot (ICML)",
        "Sun et al. 2023, A Simple and Effective Pruning Approach for Large Language Models (Wanda, arXiv:2306.11695)",
        "Lin et al. 2023, AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration "
        "(arXiv:2306.00978; MLSys 2024)",
        "Frantar et al. 2022, GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers "
        "(arXiv:2210.17323; ICLR 2023)",
        "Hassibi & Stork 1993, Second order derivatives for network pruning: Optimal Brain Surgeon (NeurIPS)",
    ),
    metrics={"quality": "test_perplexity", "energy": "energy_inference_kwh",
             "time": f"latency_b{SPEEDUP_BATCH}_ms", "size": "model_size_bytes"},
    params=(*lm_params(),
        Param("criteria", "str_list", list(CRITERIA), "pruning criteria: magnitude (|W|, one threshold per "
              "layer), wanda (|W| x input norm, per output row), sparsegpt (OBS reconstruction through the "
              "calibration Hessian, the mask chosen per block of 128 columns)", choices=CRITERIA),
        *(SHARED[name] for name in ("sparsities", "patterns")),
        Param("quantizations", "str_list", list(QUANTIZATIONS), "4-bit quantizations: int4 (group-wise "
              "round-to-nearest), gptq4 (GPTQ), awq4 (AWQ's scales and clipping, then round-to-nearest)",
              choices=QUANTIZATIONS),
        *(SHARED[name] for name in ("group_size", "calibration_sequences")),
    ),
    deliverables=(keys_deliverable("test_perplexity", "perplexity_vs_uncompressed", "model_size_bytes",
                                   "compression_ratio", "compression_ratio_vs_fp16", "bits_per_weight",
                                   "block_sparsity", "bits_per_block_weight",
                                   f"latency_b{SPEEDUP_BATCH}_ms", "energy_inference_kwh", "energy_mode",
                                   "budget_steps", "diverged"),
                  threshold("block_sparsity", ">=", 0.49, "sparsegpt-50"),
                  threshold("compression_ratio", ">", 3.3, "awq4")),
    plan_fn=plan,
    table_keys=("perplexity_vs_uncompressed", "compression_ratio", "compression_ratio_vs_fp16", "bits_per_weight",
                "block_sparsity", "bits_per_block_weight", "stage_time_s"),
    headline=headline,
    speedup_batch=SPEEDUP_BATCH,
    quality_margin=TARGET,
    quality_margin_basis=PIPELINE.quality_margin_basis,
    extra={"calibration": CALIBRATION},
)


# The program: compression_pipeline's `run` (imported above), stage by stage.
__all__ = ["EXPERIMENT", "run"]
