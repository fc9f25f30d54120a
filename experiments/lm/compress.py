"""The compression stages of a causal LM that compression_pipeline chains (and one_shot_compression
runs alone): calibration sequences, quantization of a (pruned) model's block layers (torch.ao INT8,
INT4 by round-to-nearest, GPTQ or AWQ), distillation to the uncompressed model in the compressed
form, and the measures of a stored stage against the uncompressed model. Torch is imported in the
functions that use it: the declarations that import this module's settings stay torch-free."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..harness.errors import ExperimentError
from ..paramread import integer, number, text
from .settings import PROBE_SEED_OFFSET, SPEEDUP_BATCH

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .packed import LayerFormat
    from .session import LMRun

#: calibration sequences (of the context length) drawn from the training split, per profile
CALIBRATION = {"smoke": 4, "default": 64, "full": 128}
#: the pruning criteria that read calibration data (the layer inputs' norms, their Hessians)
CALIBRATED = ("wanda", "sparsegpt")
#: distillation steps per profile (batch: the harness's batch_size); 40 at default recovers about as much
#: as 60 did (within 1-2 % of the uncompressed perplexity) and keeps the entry inside 10 minutes on 2 cores
DISTILL_STEPS = {"smoke": 6, "default": 40, "full": 300}
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

    count = lm.ctx.integer("calibration_sequences", 0) or CALIBRATION[lm.ctx.profile]
    draw = lm.train_batches(CALIBRATION_SEED_OFFSET)
    draw.batch_size = 1
    seqs = [draw()["input_ids"][0] for _ in range(count)]
    width = min(len(s) for s in seqs)
    return [torch.stack([s[:width] for s in seqs[i:i + SPEEDUP_BATCH]]) for i in range(0, count, SPEEDUP_BATCH)]


def quantize(lm: LMRun, model: nn.Module, formats: dict[str, LayerFormat], masks: dict[str, torch.Tensor],
             method: str) -> tuple[nn.Module, str]:
    import torch

    from .awq import awq_int4
    from .models import block_linears
    from .packed import LayerFormat, set_module
    from .quantize import HessianCollector, Int4Linear, gptq_int4, int8_dynamic, rtn_int4
    from .sparsity import decoder_blocks, run_calibration

    group = lm.ctx.integer("group_size")
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
            masks: dict[str, torch.Tensor]) -> tuple[nn.Module, ResultValues]:
    """KL to the uncompressed model for the declared distillation steps, in the compressed form."""
    import torch

    from .distill import Distiller, materialize, trainable
    from .train import config, train_lm, training_values

    p, s = lm.ctx.params, lm.s
    on_cpu = any(f.values == "int8" for f in formats.values())
    device = torch.device("cpu") if on_cpu else lm.device
    student = trainable(model.to(device) if not on_cpu else model, formats, masks, device)
    wrapper = Distiller(student, teacher.to(device), number(p, "temperature"))
    steps = integer(p, "distill_steps", 0) or DISTILL_STEPS[lm.ctx.profile]
    cfg = config(steps, s.batch_size, number(p, "distill_lr"), precision=lm.precision)
    training = train_lm(wrapper, lm.train_batches(), cfg, lm.ctx.events, device,
                        validate=lambda: lm.score(student, "val"), diverge_floor=KL_DIVERGED, evals=DISTILL_EVALS)
    values = training_values(training)
    for key in ("val_perplexity", "val_token_accuracy", "best_val_perplexity", "val_loss", "val_accuracy",
                "best_val_accuracy"):
        values.pop(key, None)  # the KL run's validation is scored below, on the stored model
    values.update({"distill_steps": steps, "distill_lr": number(p, "distill_lr"),
                   "temperature": number(p, "temperature"), "distill_first_kl": training.first_loss,
                   "distill_final_kl": training.result.train_loss, "diverged": training.result.diverged})
    return materialize(student, formats, masks), values


def layer_bytes(folder: Path, formats: dict[str, LayerFormat]) -> int:
    from safetensors import safe_open

    from . import packed
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
    shapes = {name: t.numel() for name, t in block_weights(model, formats)}
    total = sum(shapes.values())
    pruned = sum(int((~masks[name]).sum()) for name in formats if name in masks)
    return pruned / total if total else 0.0


def measure(lm: LMRun, model: nn.Module, teacher: nn.Module) -> ResultValues:
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
            values[f"speedup_{key.split('_')[1]}"] = required_number(values, f"ref_{key}") / required_number(values, key)
    return values


def is_int8_model(formats: dict[str, LayerFormat]) -> bool:
    return any(f.values == "int8" for f in formats.values())


def block_weights(model: nn.Module, formats: dict[str, LayerFormat]) -> list[tuple[str, torch.Tensor]]:
    from .models import weight_of
    from .quantize import Int4Linear, is_int8_linear

    modules = dict(model.named_modules())
    out = []
    for name in formats:
        m = modules[name]
        if isinstance(m, Int4Linear):
            out.append((name, m.codes))
        elif is_int8_linear(m):
            # torch.ao's quantized Linear is unannotated
            out.append((name, m.weight()))  # type: ignore[no-untyped-call]
        else:
            out.append((name, weight_of(m)))
    return out


def apply_stage(lm: LMRun, model: nn.Module, formats: dict[str, LayerFormat], masks: dict[str, torch.Tensor],
                teacher: nn.Module, origin: str) -> tuple[nn.Module, dict[str, torch.Tensor], str, ResultValues]:
    """This run's stage applied to its parent's model: (model, masks, what was done, its values)."""
    from .packed import LayerFormat
    from .sparsegpt import sparsegpt_prune
    from .sparsity import prune

    p = lm.ctx.params
    stage = text(p, "stage")
    extra: ResultValues = {}
    if stage == "prune" and text(p, "criterion") == "sparsegpt":
        masks = sparsegpt_prune(model, number(p, "sparsity"), text(p, "pattern"), calibration(lm), lm.device)
    elif stage == "prune":
        masks = prune(model, text(p, "criterion"), number(p, "sparsity"), text(p, "pattern"), calibration(lm)
                      if text(p, "criterion") in CALIBRATED else [], lm.device)
    if stage == "prune":
        for name, f in formats.items():
            formats[name] = LayerFormat(text(p, "pattern"), f.values, f.group_size)
        what = f"{text(p, 'criterion')} pruning, {text(p, 'pattern')}, {number(p, 'sparsity'):.0%}"
    elif stage == "quantize":
        model, what = quantize(lm, model, formats, masks, text(p, "quantization"))
    elif stage == "distill":
        model, extra = distill(lm, model, teacher, formats, masks)
        what = f"distillation from the uncompressed model ({origin}), {extra['distill_steps']} steps"
    else:
        raise ExperimentError(f"unknown stage {stage!r}")
    return model, masks, what, extra


def stage_sizes(folder: Path, model: nn.Module, formats: dict[str, LayerFormat], masks: dict[str, torch.Tensor],
                size: int, base: ResultValues) -> ResultValues:
    """The stored stage's sizes: of the model, of its block layers, per weight, against the uncompressed model's."""
    from .models import bits_per_weight

    weights = sum(t.numel() for _, t in block_weights(model, formats))
    base_size = number_at(base, "model_size_bytes") or 0
    base_fp16 = number_at(base, "model_size_fp16_bytes") or 0
    block_bytes = layer_bytes(folder, formats)
    return {
        "model_size_bytes": size, "block_layer_bytes": block_bytes, "block_weights": weights,
        "bits_per_block_weight": 8 * block_bytes / weights if weights else None,
        "block_sparsity": block_sparsity(masks, formats, model),
        "compression_ratio": base_size / size if base_size else None,
        # against the FP16/BF16 base too, the one the literature reports ratios against (issue 22)
        "compression_ratio_vs_fp16": base_fp16 / size if base_fp16 else None,
        "bits_per_weight": bits_per_weight(size, int(number_at(base, "params_total") or 0)),
    }
