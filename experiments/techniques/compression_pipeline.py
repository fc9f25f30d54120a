"""compression_pipeline: how far a causal LM compresses while its perplexity holds. Pruning
(magnitude vs Wanda; unstructured and 2:4), quantization (torch.ao INT8, group-wise INT4 by
round-to-nearest or GPTQ) and distillation recovery, each stage its own run depending on the one
before it, in two orders.

The program: one stage of a compression chain per run. The ``base`` run readies the
uncompressed model; every other run loads its parent stage's packed model from disk (or the base
model), applies its stage (prune, quantize or distil), writes the result in packed form and
measures it against the uncompressed model, both held in this process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..declare import PERPLEXITY_MARGIN, PERPLEXITY_MARGIN_BASIS, Experiment, Param, Variant, keys_deliverable, threshold
from ..harness.errors import ExperimentError
from ..lm.settings import PROBE_SEED_OFFSET, SPEEDUP_BATCH, lm_params
from .lora_rank import adapter_maker

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..harness.context import RunContext
    from ..lm.packed import LayerFormat
    from ..lm.session import LMRun


BASE = "base"
MERGED = "merged"
STARTS = ("base", "lora")
ALLOCATIONS = ("fixed", "linear_decay", "attention_heavy", "empirical")
CRITERIA = ("magnitude", "wanda", "sparsegpt")
PATTERNS = ("unstructured", "2:4")
QUANTIZATIONS = ("int8", "int4", "gptq4", "awq4")
#: the default plan's (SparseGPT and AWQ are choices here; one_shot_compression compares them at default)
DEFAULT_CRITERIA = ("magnitude", "wanda")
DEFAULT_QUANTIZATIONS = ("int8", "int4", "gptq4")
#: pruning criteria that read calibration data (Wanda's input norms, SparseGPT's Hessians)
CALIBRATED = ("wanda", "sparsegpt")
ORDERS = ("pqd", "pdq")
#: calibration sequences (of the context length) drawn from the training split, per profile
CALIBRATION = {"smoke": 4, "default": 64, "full": 128}
#: distillation steps per profile (batch: the harness's batch_size); 40 at default recovers about as much
#: as 60 did (within 1-2 % of the uncompressed perplexity) and keeps the entry inside 10 minutes on 2 cores
DISTILL_STEPS = {"smoke": 6, "default": 40, "full": 300}
#: the target of the research question: perplexity within this fraction of the uncompressed model
#: (the entry's non-inferiority margin; 10 % until issue 22: lenient next to the literature's 1-5 %)
TARGET = PERPLEXITY_MARGIN
ORDER_ROLE = {"pqd": "prune -> quantize -> distil", "pdq": "prune -> distil -> quantize"}


def track_name(criterion: str, pattern: str, sparsity: float) -> str:
    return f"{criterion}-{pattern.replace(':', 'of')}" if pattern != "unstructured" else f"{criterion}-{sparsity * 100:g}"


def tracks(values: dict) -> list[tuple[str, dict]]:
    """(name, pruning settings) of every pruning run: each criterion, each unstructured sparsity,
    and each N:M pattern (whose sparsity is fixed by the pattern: 2:4 is 50 %)."""
    out = []
    for criterion in dict.fromkeys(values["criteria"]):
        for pattern in dict.fromkeys(values["patterns"]):
            if pattern == "unstructured":
                for s in dict.fromkeys(values["sparsities"]):
                    out.append((track_name(criterion, pattern, s),
                                {"criterion": criterion, "pattern": pattern, "sparsity": float(s)}))
            else:
                keep, group = (int(x) for x in pattern.split(":"))
                out.append((track_name(criterion, pattern, 0.0),
                            {"criterion": criterion, "pattern": pattern, "sparsity": 1 - keep / group}))
    return out


def chains(values: dict, origin: str, prefix: str, alone: str | None) -> list[Variant]:
    """Every stage from ``origin`` (the uncompressed model: the base model, or the merged adapter),
    names prefixed with ``prefix``; with ``alone``, each is also compared with the same stage
    named with that prefix (the same chain from the base model: the technique alone)."""
    q = values["chain_quantization"]
    orders = list(dict.fromkeys(values["orders"]))
    deps = tuple(dict.fromkeys((BASE, origin)))
    out: list[Variant] = []

    def add(name: str, params: dict, parent: str, refs: tuple[str, ...], role: str) -> None:
        full = prefix + name
        refs = (origin,) + tuple(prefix + r for r in refs) + ((alone + name,) if alone is not None else ())
        out.append(Variant(full, {**params, "origin": origin, "parent": parent if parent == origin else prefix + parent},
                           depends_on=tuple(dict.fromkeys(deps + ((prefix + parent,) if parent != origin else ()))),
                           references=refs, objective="size",
                           role=role + (" (against the same chain from the base model: compression alone)"
                                        if alone is not None else "")))

    for quant in dict.fromkeys(values["quantizations"]):
        add(quant, {"stage": "quantize", "quantization": quant}, origin, (), f"{quant} alone, without pruning")
    # every stage is compared with the uncompressed model on size, perplexity kept within the
    # margin; criteria (wanda vs magnitude) and orders (pqd vs pdq) compare on perplexity at equal
    # size, which is not what a size objective tests: their paired differences are reported apart
    # (benchmarks.catalog_results), not declared as references
    for name, prune in tracks(values):
        add(name, {"stage": "prune", **prune}, origin, (),
            f"{prune['criterion']} pruning, {prune['pattern']}, {prune['sparsity']:.0%} of the block weights")
        if "pqd" in orders:
            add(f"{name}+{q}", {"stage": "quantize", "quantization": q}, name, (name,), f"{name} then {q} (no recovery)")
            add(f"{name}+{q}+kd", {"stage": "distill"}, f"{name}+{q}", (), f"{ORDER_ROLE['pqd']}: {name}, {q}")
        if "pdq" in orders:
            add(f"{name}+kd", {"stage": "distill"}, name, (), f"{name} then distillation")
            add(f"{name}+kd+{q}", {"stage": "quantize", "quantization": q}, f"{name}+kd", (),
                f"{ORDER_ROLE['pdq']}: {name}, {q}")
    return out


def plan(values: dict) -> list[Variant]:
    lora = values.get("start", "base") == "lora"
    out = [Variant(BASE, {"stage": "base"}, baseline=not lora, reference=BASE if lora else None,
                   role="the pre-trained model (pre-trained here and cached, or the user's)"
                        + (": the start of compression alone" if lora else
                           ": the uncompressed reference and the teacher of every distillation"))]
    if not lora:
        return out + chains(values, BASE, "", None)
    out.append(Variant(MERGED, {"stage": "merge"}, baseline=True, depends_on=(BASE,),
                       role="a LoRA adapter fine-tuned on the data and merged in FP32 (lora_merge's merged-fp32): "
                            "the uncompressed reference of the stack and the teacher of its distillations"))
    return out + chains(values, MERGED, "", "base-") + chains(values, BASE, "base-", None)


def headline(values: dict) -> str | None:
    """The smallest model of the published plan's order: Wanda (else magnitude) at the largest
    unstructured sparsity, quantized, then distilled; else the last chain planned."""
    names = [v.name for v in plan(values) if v.references and not v.name.startswith("base-")]
    q = values["chain_quantization"]
    crit = "wanda" if "wanda" in values["criteria"] else values["criteria"][0]
    candidates = []
    if "unstructured" in values["patterns"]:
        s = max(values["sparsities"])
        candidates += [f"{crit}-{s * 100:g}+{q}+kd", f"{crit}-{s * 100:g}+kd+{q}"]
    candidates += [n for n in names if n.startswith(crit)][-1:]
    for name in candidates:
        if name in names:
            return name
    return names[-1] if names else None


EXPERIMENT = Experiment(
    name="compression_pipeline",
    title="Compression pipeline: prune, quantize and distil a language model",
    area="compression",
    gain_phase="inference",
    summary="Compress a causal LM in stages, each its own run starting from the one before: prune 50 % "
            "and 60 % of the decoder-block weights (magnitude against Wanda's |W| x input norm, "
            "unstructured and 2:4), quantize (torch.ao dynamic INT8; 4-bit group-wise by "
            "round-to-nearest or GPTQ, stored in packed bytes) and recover by distillation from the "
            "uncompressed model, in the orders prune-quantize-distil and prune-distil-quantize. "
            "Perplexity, bytes on disk, latency and energy after every stage; the target: perplexity "
            "within 3 % of the uncompressed model at the smallest size.",
    literature="Large language models prune to 50 % unstructured sparsity in one shot with a small "
               "perplexity increase when the error is compensated (SparseGPT, Frantar & Alistarh 2023) or "
               "when weights are scored by |W| times the norm of their input activations (Wanda, Sun et "
               "al. 2023), while plain magnitude pruning collapses at that sparsity; 2:4 semi-structured "
               "sparsity costs more perplexity than unstructured at the same 50 %. Weight-only 4-bit "
               "quantization with groups of 128 keeps perplexity close to FP16 when rounding errors are "
               "compensated (GPTQ, Frantar et al. 2022) or salient channels are protected (AWQ, Lin et al. "
               "2023); round-to-nearest is worse, more so for small models. Deep Compression chained "
               "pruning, quantization and retraining (Han et al. 2016); distillation from the "
               "uncompressed model is the usual recovery (Hinton et al. 2015). Tiny models are less "
               "over-parameterised than the billion-parameter models of these papers, so the same "
               "sparsity should cost them more.",
    references=(
        "Frantar & Alistarh 2023, SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot (ICML)",
        "Sun et al. 2023, A Simple and Effective Pruning Approach for Large Language Models (Wanda, arXiv:2306.11695)",
        "Frantar et al. 2022, GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers "
        "(arXiv:2210.17323; ICLR 2023)",
        "Lin et al. 2023, AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration "
        "(arXiv:2306.00978; MLSys 2024)",
        "Han et al. 2016, Deep Compression: Compressing Deep Neural Networks with Pruning, Trained Quantization "
        "and Huffman Coding (ICLR)",
        "Hinton et al. 2015, Distilling the Knowledge in a Neural Network (arXiv:1503.02531)",
    ),
    metrics={"quality": "test_perplexity", "energy": "energy_inference_kwh",
             "time": f"latency_b{SPEEDUP_BATCH}_ms", "size": "model_size_bytes"},
    params=(*lm_params(),
        Param("criteria", "str_list", list(DEFAULT_CRITERIA), "pruning criteria: magnitude (|W|, one threshold per "
              "layer), wanda (|W| x the L2 norm of its input feature over the calibration tokens, "
              "compared within each output row) and sparsegpt (OBS reconstruction through the calibration "
              "Hessian, Frantar & Alistarh 2023)", choices=CRITERIA),
        Param("sparsities", "float_list", [0.5, 0.6], "unstructured sparsities: fractions of the "
              "decoder-block linear weights set to zero", min=0.0, max=0.95),
        Param("patterns", "str_list", list(PATTERNS), "unstructured (at each of sparsities) and 2:4 "
              "(2 of every 4 consecutive inputs kept: 50 %)", choices=PATTERNS),
        Param("quantizations", "str_list", list(DEFAULT_QUANTIZATIONS), "quantizations of the uncompressed "
              "model alone: int8 (torch.ao dynamic), int4 (group-wise round-to-nearest), gptq4 (GPTQ), awq4 "
              "(AWQ's activation-aware scales, then round-to-nearest)", choices=QUANTIZATIONS),
        Param("chain_quantization", "choice", "int4", "the quantization stage of every pruned chain",
              choices=QUANTIZATIONS),
        Param("orders", "str_list", list(ORDERS), "stage orders after pruning: pqd (quantize, then distil; "
              "the quantize-only stage is a run of its own) and pdq (distil, then quantize)", choices=ORDERS),
        Param("group_size", "int", 128, "inputs per INT4 group (one FP16 scale and zero point each)",
              min=8, max=8192),
        Param("calibration_sequences", "int", 0, "calibration sequences of the context length, from the "
              "training split (Wanda's norms, GPTQ's and SparseGPT's Hessians, AWQ's searches); 0 = the "
              "profile's", min=0, max=4096),
        Param("distill_steps", "int", 0, "optimizer steps of every distillation stage (batch: batch_size); "
              "0 = the profile's", min=0, max=10**6),
        Param("distill_lr", "float", 5e-4, "AdamW learning rate of distillation (cosine, 5 % warm-up)",
              min=1e-7, max=1.0),
        Param("temperature", "float", 1.0, "softmax temperature of the distillation KL (T^2-scaled)",
              min=0.1, max=20.0),
        Param("start", "choice", "base", "the uncompressed model: base (the pre-trained model), or lora (a "
              "stack: a LoRA adapter fine-tuned on the data and merged, as lora_merge's merged-fp32; the same "
              "chains then also run from the base model, to compare the stack with each technique alone)",
              choices=STARTS),
        Param("rank", "int", 8, "start=lora: the adapter's LoRA rank (alpha = 2r)", min=1, max=1024),
        Param("allocation", "choice", "fixed", "start=lora: the adapter's rank allocation (see lora_rank)",
              choices=ALLOCATIONS),
        Param("attention_weight", "float", 3.0, "start=lora, attention-heavy allocation: rank weight of "
              "attention projections against 1 for MLP projections", min=1.0, max=100.0),
    ),
    deliverables=(keys_deliverable("test_perplexity", "perplexity_vs_uncompressed", "model_size_bytes",
                                   "compression_ratio", "compression_ratio_vs_fp16", "bits_per_weight",
                                   "block_sparsity", "bits_per_block_weight",
                                   f"latency_b{SPEEDUP_BATCH}_ms", "energy_inference_kwh", "energy_mode",
                                   "budget_steps", "diverged"),
                  {**keys_deliverable(f"ref_latency_b{SPEEDUP_BATCH}_ms", "ref_energy_inference_kwh",
                                      "within_target"), "variant": "int4"},
                  threshold("compression_ratio", ">", 3.3, "int4"),
                  threshold("perplexity_vs_uncompressed", "<=", 1 + TARGET, "int8")),
    plan_fn=plan,
    table_keys=("perplexity_vs_uncompressed", "within_target", "compression_ratio", "compression_ratio_vs_fp16",
                "bits_per_weight", "block_sparsity", "bits_per_block_weight", "speedup_b8", "stage_time_s"),
    headline=headline,
    speedup_batch=SPEEDUP_BATCH,
    quality_margin=TARGET,  # the research question's target: perplexity within 3 % of the uncompressed model
    quality_margin_basis=PERPLEXITY_MARGIN_BASIS,
    extra={"target_perplexity_increase": TARGET, "calibration": CALIBRATION, "distill_steps": DISTILL_STEPS},
)


FOLDER = "compressed"
CALIBRATION_SEED_OFFSET = PROBE_SEED_OFFSET + 1  # calibration windows: not the distillation batches
#: a distillation diverged when its KL (nats per token) passes 10x its start and this floor: a
#: compressed model starts close to its teacher, a KL of 1e-4 rising to 1e-3 is noise, not divergence
KL_DIVERGED = 1.0
#: validation points on the distillation curve (the control room's): mid-way and at the end. They
#: decide nothing (no early stop; the stored model is scored after), and each scores the whole
#: validation split at `default` (~1.1 s of a ~23 s stage), so five of them cost a seventh of it.
DISTILL_EVALS = 2


def calibration(lm: LMRun) -> list[torch.Tensor]:
    """Calibration sequences from the training split, in batches of SPEEDUP_BATCH (seeded)."""
    import torch

    count = int(lm.ctx.params.get("calibration_sequences") or 0) or CALIBRATION[lm.ctx.profile]
    draw = lm.train_batches(CALIBRATION_SEED_OFFSET)
    draw.batch_size = 1
    seqs = [draw()["input_ids"][0] for _ in range(count)]
    width = min(len(s) for s in seqs)
    return [torch.stack([s[:width] for s in seqs[i:i + SPEEDUP_BATCH]]) for i in range(0, count, SPEEDUP_BATCH)]


def load_origin(lm: LMRun, origin: str) -> nn.Module:
    """The uncompressed model of a chain: the base model, or the merged adapter of the stack."""
    from ..lm.models import load_model

    if origin == BASE:
        return lm.load_base()
    path = (lm.ctx.dep(MERGED).get("result") or {}).get("merged_model_dir")
    if not path or not Path(path).is_dir():
        raise ExperimentError(f"the merged model of dependency {MERGED!r} is missing ({path}); run it first")
    return load_model(Path(path)).to(lm.device)


def run_merge(lm: LMRun) -> dict[str, Any]:
    """start=lora: a LoRA adapter fine-tuned on the data (as lora_merge's adapter) and merged in
    FP32, saved as a model folder (with its tokenizer) that every chain of the stack starts from."""
    from ..lm.cache import folder_bytes
    from ..lm.models import MODEL_FILES, bits_per_weight, half_precision_bytes

    p = lm.ctx.params
    lm.encoded()
    def adapters(model: nn.Module) -> Any:
        return adapter_maker(lm, model, int(p["rank"]), str(p["allocation"]), float(p["attention_weight"]),
                             default_targets="attention")
    adapted, values = lm.fine_tune(adapters(lm.load_base()), lm.s.lr_lora, remake=lambda: adapters(lm.load_base()))
    model = adapted.merge_and_unload()
    folder = lm.ctx.out_dir / MERGED
    model.save_pretrained(str(folder))
    lm.tokenizer().save_pretrained(str(folder))
    lm.ctx.events.artifact(MERGED, "model")
    values.update(lm.inference(model))
    values.pop("ranks", None)
    values.update(lm.counts(model))
    values.update({"stage": MERGED, "method": "lora", "merged_model_dir": str(folder), "chain": [],
                   "model_size_bytes": folder_bytes(folder, lambda f: bool(MODEL_FILES.match(f.name))),
                   "params_trainable": 0, "trainable_share": 0.0, "compression_ratio": 1.0,
                   "sparsity_declared": 0.0, "perplexity_vs_uncompressed": 1.0, "within_target": True,
                   "block_sparsity": 0.0, "bits_per_block_weight": 32.0, "stage_time_s": 0.0,
                   "base_test_perplexity": lm.base_result().get("test_perplexity")})
    values["model_size_fp16_bytes"] = half_precision_bytes(model, values["model_size_bytes"])
    values["compression_ratio_vs_fp16"] = values["model_size_fp16_bytes"] / values["model_size_bytes"]
    values["bits_per_weight"] = bits_per_weight(values["model_size_bytes"], values["params_total"])
    return values


def load_parent(lm: LMRun, parent: str, origin: str) -> tuple[nn.Module, dict[str, LayerFormat],
                                                              dict[str, torch.Tensor], dict[str, Any]]:
    """The model this stage starts from: the chain's uncompressed model (every block layer dense
    FP32), or the parent stage's packed folder."""
    from ..lm import packed
    from ..lm.models import block_linears
    from ..lm.packed import LayerFormat, as_linear_blocks

    if parent == origin:
        model = as_linear_blocks(load_origin(lm, origin))
        formats = {name: LayerFormat("dense", "fp32") for name, _ in block_linears(model)}
        return model, formats, {}, {"chain": []}
    folder = Path(lm.ctx.dep(parent).get("output_dir") or "") / FOLDER
    if not (folder / packed.MANIFEST).is_file():
        raise ExperimentError(f"the compressed model of stage {parent!r} is missing ({folder}); run it first")
    model, formats, masks, manifest = packed.load(folder, lm.device)
    return model, formats, masks, manifest


def quantize(lm: LMRun, model: nn.Module, formats: dict[str, LayerFormat], masks: dict[str, torch.Tensor],
             method: str) -> tuple[nn.Module, str]:
    import torch

    from ..lm.awq import awq_int4
    from ..lm.models import block_linears
    from ..lm.packed import LayerFormat, set_module
    from ..lm.quantize import HessianCollector, Int4Linear, gptq_int4, int8_dynamic, rtn_int4
    from ..lm.sparsity import decoder_blocks, run_calibration

    group = int(lm.ctx.params["group_size"])
    if any(f.values != "fp32" for f in formats.values()):
        raise ExperimentError("this model is quantized already; a chain quantizes once")
    if method == "int8":
        if lm.device.type != "cpu":
            model = model.cpu()
            lm.device = torch.device("cpu")  # torch.ao's dynamic INT8 kernels are CPU kernels
        int8_dynamic(model, list(formats))
        for name, f in formats.items():
            formats[name] = LayerFormat(f.pattern, "int8")
        return model, "int8 (torch.ao dynamic, per-tensor symmetric weights)"
    if method == "int4":
        for name, module in block_linears(model):
            q = rtn_int4(module.weight, group, masks.get(name))
            set_module(model, name, Int4Linear(q, module.bias).to(lm.device))
            formats[name] = LayerFormat(formats[name].pattern, "int4", group)
        return model, f"int4 round-to-nearest, groups of {group}"
    if method == "awq4":  # AWQ: scales searched block by block, folded in, then round-to-nearest
        batches = calibration(lm)
        weights, report = awq_int4(model, masks, batches, group, lm.device)
        for name, module in block_linears(model):
            set_module(model, name, Int4Linear(weights[name], module.bias).to(lm.device))
            formats[name] = LayerFormat(formats[name].pattern, "int4", group)
        lm.ctx.events.log("AWQ scale exponents (alpha) by group: " + ", ".join(
            f"{k}={v:.2f}" for k, v in report.ratios.items()))
        return model, f"int4 AWQ, groups of {group}, {sum(len(b) for b in batches)} calibration sequences"
    # GPTQ: block by block, each block's Hessians from inputs through the blocks before it, quantized
    batches = calibration(lm)
    for index, layers in decoder_blocks(model):
        collect = HessianCollector(layers)
        try:
            run_calibration(model, batches, lm.device, upto_block=index)
        finally:
            collect.close()
        for name, module in layers:
            q = gptq_int4(module.weight, collect.h[name], group, masks.get(name))
            set_module(model, name, Int4Linear(q, module.bias).to(lm.device))
            formats[name] = LayerFormat(formats[name].pattern, "int4", group)
    return model, f"int4 GPTQ, groups of {group}, {sum(len(b) for b in batches)} calibration sequences"


def distill(lm: LMRun, model: nn.Module, teacher: nn.Module, formats: dict[str, LayerFormat],
            masks: dict[str, torch.Tensor]) -> tuple[nn.Module, dict[str, Any]]:
    """KL to the uncompressed model for the declared distillation steps, in the compressed form."""
    import torch

    from ..lm.distill import Distiller, materialize, trainable
    from ..lm.train import config, train_lm, training_values

    p, s = lm.ctx.params, lm.s
    on_cpu = any(f.values == "int8" for f in formats.values())
    device = torch.device("cpu") if on_cpu else lm.device
    student = trainable(model.to(device) if not on_cpu else model, formats, masks, device)
    wrapper = Distiller(student, teacher.to(device), float(p["temperature"]))
    steps = int(p.get("distill_steps") or 0) or DISTILL_STEPS[lm.ctx.profile]
    cfg = config(steps, s.batch_size, float(p["distill_lr"]), precision=lm.precision)
    training = train_lm(wrapper, lm.train_batches(), cfg, lm.ctx.events, device,
                        validate=lambda: lm.score(student, "val"), diverge_floor=KL_DIVERGED, evals=DISTILL_EVALS)
    values = training_values(training)
    for key in ("val_perplexity", "val_token_accuracy", "best_val_perplexity", "val_loss", "val_accuracy",
                "best_val_accuracy"):
        values.pop(key, None)  # the KL run's validation is scored below, on the stored model
    values.update({"distill_steps": steps, "distill_lr": float(p["distill_lr"]),
                   "temperature": float(p["temperature"]), "distill_first_kl": training.first_loss,
                   "distill_final_kl": training.result.train_loss, "diverged": training.result.diverged})
    return materialize(student, formats, masks), values


def _layer_bytes(folder: Path, formats: dict[str, LayerFormat]) -> int:
    from safetensors import safe_open

    from ..lm import packed
    total = 0
    with safe_open(str(folder / packed.WEIGHTS), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118 (a safetensors file is not iterable)
            if key.rsplit(".", 1)[0] in formats:
                t = fh.get_slice(key)
                shape = t.get_shape()
                n = 1
                for d in shape:
                    n *= d
                total += n * {"F32": 4, "F16": 2, "U8": 1, "I8": 1}.get(t.get_dtype(), 4)
    return total


def block_sparsity(masks: dict[str, torch.Tensor], formats: dict[str, LayerFormat], model: nn.Module) -> float:
    """Fraction of the decoder-block linear weights pruned (by their masks; a weight that merely
    rounds to zero is not pruned)."""
    shapes = {name: t.numel() for name, t in _block_weights(model, formats)}
    total = sum(shapes.values())
    pruned = sum(int((~masks[name]).sum()) for name in formats if name in masks)
    return pruned / total if total else 0.0


def measure(lm: LMRun, model: nn.Module, teacher: nn.Module) -> dict[str, Any]:
    """Perplexity, generation, and latency timed interleaved with the uncompressed model; the
    same inference workload of the uncompressed model in its own energy phase."""
    values = lm.inference(model, latency=False)
    values.update({k: v for k, v in lm.score(model, "val").values("val").items()})
    ref = lm.inference(teacher, phase="ref_inference", latency=False)
    values["ref_test_perplexity"] = ref["test_perplexity"]
    timed = lm.latency({"model": model, "ref": teacher})
    values.update(timed)
    for key in ("latency_b1_ms", f"latency_b{SPEEDUP_BATCH}_ms"):
        if values.get(key):
            values[f"speedup_{key.split('_')[1]}"] = values[f"ref_{key}"] / values[key]
    return values


def run(ctx: RunContext) -> dict[str, Any]:
    import torch

    from ..lm import packed
    from ..lm.models import bits_per_weight
    from ..lm.packed import LayerFormat
    from ..lm.session import LMRun, run_base
    from ..lm.sparsegpt import sparsegpt_prune
    from ..lm.sparsity import prune

    lm = LMRun(ctx)
    p = ctx.params
    if p["stage"] == "merge":
        return run_merge(lm)
    if p["stage"] == BASE:
        values = run_base(lm)
        values.update({"stage": BASE, "chain": [], "compression_ratio": 1.0, "sparsity_declared": 0.0,
                       "compression_ratio_vs_fp16": values["model_size_fp16_bytes"] / values["model_size_bytes"],
                       "perplexity_vs_uncompressed": 1.0,
                       "within_target": True, "block_sparsity": 0.0, "bits_per_block_weight": 32.0,
                       "stage_time_s": 0.0})
        return values
    lm.encoded()
    origin = str(p.get("origin") or BASE)
    base = lm.base_result() if origin == BASE else (ctx.dep(origin).get("result") or {})  # the uncompressed model's
    teacher = load_origin(lm, origin)
    parent_name = str(p["parent"])
    parent = base if parent_name == origin else (ctx.dep(parent_name).get("result") or {})
    model, formats, masks, manifest = load_parent(lm, parent_name, origin)
    stage = p["stage"]
    extra: dict[str, Any] = {}
    with ctx.energy.phase("train"):
        t0 = time.perf_counter()
        if stage == "prune" and p["criterion"] == "sparsegpt":
            masks = sparsegpt_prune(model, float(p["sparsity"]), p["pattern"], calibration(lm), lm.device)
        elif stage == "prune":
            masks = prune(model, p["criterion"], float(p["sparsity"]), p["pattern"], calibration(lm)
                          if p["criterion"] in CALIBRATED else [], lm.device)
        if stage == "prune":
            for name, f in formats.items():
                formats[name] = LayerFormat(p["pattern"], f.values, f.group_size)
            what = f"{p['criterion']} pruning, {p['pattern']}, {float(p['sparsity']):.0%}"
        elif stage == "quantize":
            model, what = quantize(lm, model, formats, masks, str(p["quantization"]))
        elif stage == "distill":
            model, extra = distill(lm, model, teacher, formats, masks)
            what = f"distillation from the uncompressed model ({origin}), {extra['distill_steps']} steps"
        else:
            raise ExperimentError(f"unknown stage {stage!r}")
        stage_s = time.perf_counter() - t0
    chain = [*manifest.get("chain", []), what]
    size = packed.save(model, ctx.out_dir / FOLDER, formats, masks, {"chain": chain})
    ctx.events.artifact(FOLDER, "model")
    if any(f.values == "int8" for f in formats.values()):
        lm.device = torch.device("cpu")  # torch.ao's dynamic INT8 kernels are CPU kernels
    teacher = teacher.to(lm.device)
    values = measure(lm, model.to(lm.device) if not is_int8_model(formats) else model, teacher)
    values.update(extra)
    weights = sum(t.numel() for _, t in _block_weights(model, formats))
    base_size = base.get("model_size_bytes") or 0
    base_fp16 = base.get("model_size_fp16_bytes") or 0
    inherited = int(parent.get("budget_steps") or 0)
    own_steps = int(extra.get("train_steps") or 0)
    base_ppl = base.get("test_perplexity")
    ratio = values["test_perplexity"] / base_ppl if base_ppl else None
    layer_bytes = _layer_bytes(ctx.out_dir / FOLDER, formats)
    values.update({
        "stage": stage, "chain": chain, "stages": len(chain), "parent": parent_name, "origin": origin,
        "criterion": p.get("criterion") if stage == "prune" else parent.get("criterion"),
        "pattern": next(iter(formats.values())).pattern,
        "sparsity_declared": float(p["sparsity"]) if stage == "prune" else parent.get("sparsity_declared", 0.0),
        "quantization": p.get("quantization") if stage == "quantize" else parent.get("quantization"),
        "model_size_bytes": size, "block_layer_bytes": layer_bytes, "block_weights": weights,
        "bits_per_block_weight": 8 * layer_bytes / weights if weights else None,
        "block_sparsity": block_sparsity(masks, formats, model),
        "compression_ratio": base_size / size if base_size else None,
        # against the FP16/BF16 base too, the one the literature reports ratios against (issue 22)
        "compression_ratio_vs_fp16": base_fp16 / size if base_fp16 else None,
        "bits_per_weight": bits_per_weight(size, int(base.get("params_total") or 0)),
        "stage_time_s": stage_s, "train_time_s": stage_s, "train_steps": own_steps,
        "budget_steps": inherited + own_steps,
        "diverged": bool(extra.get("diverged")) or bool(parent.get("diverged")),
        "uncompressed_test_perplexity": base_ppl, "perplexity_vs_uncompressed": ratio,
        "within_target": ratio is not None and ratio <= 1 + TARGET, "target_perplexity_increase": TARGET,
    })
    if stage == "distill" or parent.get("distilled_from"):
        # the teacher was this reference and the loss a KL to it (no labels): the extra steps
        # cannot make the uncompressed model an unfair control (docs/PROTOCOL.md)
        values["distilled_from"] = origin
    if parent.get("test_perplexity"):
        values["perplexity_change_vs_parent_pct"] = (values["test_perplexity"] / parent["test_perplexity"] - 1) * 100
    values.update(lm.counts(model))
    values["params_trainable"], values["trainable_share"] = 0, 0.0
    return values


def is_int8_model(formats: dict[str, LayerFormat]) -> bool:
    return any(f.values == "int8" for f in formats.values())


def _block_weights(model: nn.Module, formats: dict[str, LayerFormat]) -> list[tuple[str, torch.Tensor]]:
    from ..lm.quantize import Int4Linear, is_int8_linear

    modules = dict(model.named_modules())
    out = []
    for name in formats:
        m = modules[name]
        if isinstance(m, Int4Linear):
            out.append((name, m.codes))
        elif is_int8_linear(m):
            out.append((name, m.weight()))
        else:
            out.append((name, m.weight))
    return out
