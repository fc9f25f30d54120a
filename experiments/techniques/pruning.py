"""pruning: global magnitude, structured (neurons removed) and gradual pruning of a trained MLP.

The program: train the dense MLP, or prune its checkpoint (magnitude, structured, gradual) and
fine-tune; in a stack, convert one of those models (quantization's post-training conversion).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING, TypedDict

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import INFERENCE_BATCH, Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold
from ..paramread import integer, integers, number, numbers, text, texts

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from torch import nn

    from ..harness.context import RunContext
    from ..harness.models import Arch


METHODS = ("magnitude", "structured", "gradual")
#: a stack: every model of the plan (dense and each pruned arm) also converted by the quantization
#: entry's post-training conversion, compared with each single technique
STACK_QUANTIZE = ("none", "int8", "fp16", "bf16")


#: what each method is meant to improve: unstructured zeros shrink only the stored (sparse)
#: model; removing whole neurons shrinks the dense computation (Han et al. 2015; Li et al. 2017)
OBJECTIVE = {"magnitude": "size", "gradual": "size", "structured": "energy"}


def plan(values: ParamValues) -> list[Variant]:
    out = [Variant("dense", {"method": "dense"}, baseline=True)]
    for method in dict.fromkeys(texts(values, "methods")):
        for s in dict.fromkeys(numbers(values, "sparsities")):
            out.append(Variant(f"{method}-{s * 100:g}", {"method": method, "sparsity": s},
                               depends_on=("dense",), references=("dense",), objective=OBJECTIVE[method],
                               role=f"{s:.0%} of the parameters removed, same total training budget as dense"))
    q = text(values, "quantize", "none")
    if q != "none":
        # the stack: pruning then quantization (Han et al. 2016); each stack is compared with each
        # single technique: its pruned model alone, and the dense model quantized alone
        out.append(Variant(f"dense+{q}", {"method": "quantize", "source": "dense", "precision": q},
                           depends_on=("dense",), references=("dense",), objective="size",
                           role=f"{q} alone: the dense model converted (the quantization entry's conversion)"))
        for v in list(out[1:-1]):
            out.append(Variant(f"{v.name}+{q}", {"method": "quantize", "source": v.name, "precision": q},
                               depends_on=("dense", v.name), references=(v.name, f"dense+{q}", "dense"),
                               objective="size", role=f"stack: {v.name} then {q}, against each technique alone"))
    return out


def headline(values: ParamValues) -> str:
    methods = list(dict.fromkeys(texts(values, "methods")))
    sparsities = list(dict.fromkeys(numbers(values, "sparsities")))
    method = "structured" if "structured" in methods else methods[0]
    s = 0.5 if 0.5 in sparsities else sparsities[0]
    q = text(values, "quantize", "none")
    return f"{method}-{s * 100:g}" + ("" if q == "none" else f"+{q}")


EXPERIMENT = Experiment(
    name="pruning",
    title="Magnitude, structured and gradual pruning",
    area="compression",
    gain_phase="inference",
    summary="Prune a trained MLP to each sparsity (the fraction of all parameters removed, the same "
            "for every method) three ways: global unstructured magnitude pruning (one shot, then "
            "fine-tuning), structured pruning that physically removes hidden neurons, and gradual "
            "magnitude pruning during fine-tuning; the dense control trains on for the same "
            "fine-tuning epochs, so every arm gets the same total budget. Compare accuracy, non-zero "
            "parameters, stored size, and latency and energy at batch 64, timed against the dense "
            "model in the same process.",
    literature="Magnitude pruning with retraining removes 50-90 % of the weights of over-parameterised "
               "networks with little or no accuracy loss (Han et al. 2015), and pruning gradually "
               "during training on a cubic schedule beats one-shot pruning at high sparsity (Zhu & "
               "Gupta 2017). Unstructured sparsity, however, gives no speedup with dense kernels and "
               "saves storage only with a sparse format; structured pruning of whole neurons or "
               "filters shrinks the dense computation and really lowers latency, at a larger accuracy "
               "cost for the same parameter budget (Li et al. 2017). A meta-analysis found many "
               "claimed gains hard to compare and small against well-tuned baselines (Blalock et al. 2020).",
    references=(
        "Han et al. 2015, Learning both Weights and Connections for Efficient Neural Networks (NeurIPS)",
        "Zhu & Gupta 2017, To prune, or not to prune: exploring the efficacy of pruning for model compression (arXiv:1710.01878)",
        "Li et al. 2017, Pruning Filters for Efficient ConvNets (ICLR)",
        "Blalock et al. 2020, What is the State of Neural Network Pruning? (MLSys)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_inference_kwh",
             "time": "latency_b64_ms", "size": "model_size_bytes"},
    params=(*common_params(0.9),
        Param("sparsities", "float_list", [0.5, 0.8], "fractions of all parameters removed (the same "
              "unit for every method; structured removes the share of neurons that removes this many "
              "parameters)", min=0.0, max=0.99),
        Param("methods", "str_list", list(METHODS), "pruning methods", choices=METHODS),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("finetune_epochs", "int", 0, "fine-tuning epochs after (or during, for gradual) "
              "pruning, which dense gets as continued training; 0 = the profile's budget", min=0, max=1000),
        Param("lr", "float", 1e-3, "Adam learning rate", min=1e-6, max=1.0),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
        Param("quantize", "choice", "none", "a stack: also convert the dense model and every pruned model "
              "(int8 dynamic, fp16 or bf16, as the quantization entry does) and compare each stack with each "
              "technique alone; none = pruning only", choices=STACK_QUANTIZE),
    ),
    deliverables=(keys_deliverable("test_accuracy", "sparsity", "params_nonzero", "params_removed_fraction",
                                   "model_size_bytes", "latency_b64_ms", "energy_inference_kwh",
                                   "budget_steps", "diverged", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.8, "dense")),
    plan_fn=plan,
    table_keys=("params_removed_fraction", "params_nonzero", "budget_steps", "speedup"),
    headline=headline,
    speedup_batch=INFERENCE_BATCH,
)


def _linears(model: nn.Module) -> list[nn.Linear]:
    from torch import nn

    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def global_magnitude_masks(model: nn.Module, sparsity: float) -> dict[nn.Linear, torch.Tensor]:
    """Keep the largest |w| across all linear weight matrices together (biases are kept)."""
    import torch

    layers = _linears(model)
    scores = torch.cat([m.weight.detach().abs().flatten() for m in layers])
    k = int(sparsity * scores.numel())
    if k == 0:
        return {m: torch.ones_like(m.weight, dtype=torch.bool) for m in layers}
    threshold = torch.kthvalue(scores.cpu(), k).values.item()
    return {m: m.weight.detach().abs() > threshold for m in layers}


def apply_masks(masks: dict[nn.Linear, torch.Tensor]) -> None:
    import torch

    with torch.no_grad():
        for m, mask in masks.items():
            m.weight.mul_(mask)


def structured_prune(model: nn.Module, sparsity: float, arch: Arch) -> tuple[nn.Module, Arch]:
    """Physically remove the fraction ``sparsity`` of each hidden layer's neurons, keeping those
    with the largest L2 norm of incoming weights; returns a smaller dense MLP and its arch."""
    import torch

    from ..harness.models import build

    layers = _linears(model)
    keep_idx = []
    for layer in layers[:-1]:
        n = layer.out_features
        keep = max(1, round(n * (1 - sparsity)))
        norms = layer.weight.detach().norm(dim=1)
        keep_idx.append(torch.sort(torch.topk(norms, keep).indices).values)
    new_arch = replace(arch, hidden=tuple(len(i) for i in keep_idx))
    small = build(new_arch).to(layers[0].weight.device)
    new_layers = _linears(small)
    with torch.no_grad():
        prev = None
        for i, (old, new) in enumerate(zip(layers, new_layers)):
            w = old.weight.detach()
            if prev is not None:
                w = w[:, prev]
            if i < len(keep_idx):
                w, b = w[keep_idx[i]], old.bias.detach()[keep_idx[i]]
                prev = keep_idx[i]
            else:
                b = old.bias.detach()
            new.weight.copy_(w)
            new.bias.copy_(b)
    return small, new_arch


def _weight_sparsity(model: nn.Module) -> float:
    import torch

    ws = [m.weight for m in _linears(model)]
    total = sum(w.numel() for w in ws)
    return 1.0 - sum(int(torch.count_nonzero(w)) for w in ws) / total


def weight_fraction_for(model: nn.Module, param_fraction: float) -> float:
    """The fraction of the linear weights to zero so that ``param_fraction`` of ALL parameters
    (weights and biases; biases are kept) is removed."""
    total = sum(p.numel() for p in model.parameters())
    weights = sum(m.weight.numel() for m in _linears(model))
    return min(1.0, param_fraction * total / weights)


def mlp_params(in_features: int, hidden: list[int], num_classes: int) -> int:
    widths = [in_features, *hidden, num_classes]
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def neuron_fraction_for(arch: Arch, param_fraction: float) -> float:
    """The fraction of every hidden layer's neurons to remove so that the smaller dense MLP has
    ``param_fraction`` fewer parameters (removing a fraction f of the neurons of two hidden layers
    removes about 1 - (1 - f)^2 of the weights between them, so f < param_fraction)."""
    features = 1
    for d in arch.shape:
        features *= d
    hidden, classes = list(arch.need("hidden")), arch.num_classes
    full = mlp_params(features, hidden, classes)
    best, best_err = 0.0, float("inf")
    for step in range(0, 1001):
        f = step / 1000
        kept = [max(1, round(h * (1 - f))) for h in hidden]
        err = abs(1 - mlp_params(features, kept, classes) / full - param_fraction)
        if err < best_err:
            best, best_err = f, err
    return best


PRETRAINED = "pretrained.pt"


def quantize_stack(ctx: RunContext) -> ResultValues:
    """The stack's second technique: the model of ``source`` (dense or a pruned arm, same seed)
    converted as the quantization entry converts, timed beside that model in this process."""
    import torch

    from ..harness.pipeline import inference_phase, static_measures
    from .quantization import convert

    p = ctx.params
    src, precision = text(p, "source"), text(p, "precision")
    source = ctx.dep(src).result or {}
    dense = ctx.dep("dense").result or {}
    model, _arch = ctx.load_model(src)
    reference, _ = ctx.load_model(src)
    if precision == "int8" and ctx.device.type != "cpu":
        model, reference = model.cpu(), reference.cpu()  # dynamic quantized kernels are CPU kernels
        ctx.device = torch.device("cpu")
    before = static_measures(ctx, model, sparse_size=True)
    model = convert(model, precision)
    values = inference_phase(ctx, model, reference=reference.eval(), reference_name=src)
    measured = static_measures(ctx, model, sparse_size=precision != "int8")
    # packed INT8 weights are not nn.Parameters: counts and FLOPs are those of the network converted
    values.update({k: before[k] for k in ("params_total", "params_trainable", "params_nonzero", "flops_per_forward")})
    values["model_size_bytes"] = measured["model_size_bytes"]
    dense_params = number_at(dense, "params_total") or required_number(before, "params_total")
    dense_size, dense_accuracy = number_at(dense, "model_size_bytes"), number_at(dense, "test_accuracy")
    values.update({
        "method": "quantize", "source": src, "precision": precision, "stack": [src, precision],
        "sparsity": source.get("sparsity", 0.0), "weight_sparsity": source.get("weight_sparsity"),
        "params_removed_fraction": 1 - required_number(values, "params_nonzero") / dense_params,
        "budget_steps": source.get("budget_steps"), "diverged": bool(source.get("diverged", False)),
        "source_test_accuracy": source.get("test_accuracy"),
        "source_model_size_bytes": source.get("model_size_bytes"),
        "compression_ratio": dense_size / required_number(values, "model_size_bytes") if dense_size else None,
        "accuracy_drop": dense_accuracy - required_number(values, "test_accuracy")
        if dense_accuracy is not None else None,
    })
    if source_size := number_at(source, "model_size_bytes"):
        values["size_ratio_vs_source"] = source_size / required_number(values, "model_size_bytes")
    return values


def budget(ctx: RunContext) -> tuple[int, int]:
    """(epochs before pruning, fine-tuning epochs after it) of the profile or the parameters; the
    dense control trains for both."""
    return ctx.epochs(2, 15, 50), ctx.integer("finetune_epochs") or ctx.pick(1, 5, 15)


class SharedTraining(TypedDict):
    """The TrainConfig fields every arm shares (Adam, the entry's rate, batch and target)."""

    batch_size: int
    lr: float
    optimizer: str
    target_val_accuracy: float | None


def train_settings(ctx: RunContext) -> SharedTraining:
    p = ctx.params
    return SharedTraining(batch_size=integer(p, "batch_size"), lr=number(p, "lr"), optimizer="adam",
                          target_val_accuracy=number(p, "target_val_accuracy"))


def run(ctx: RunContext) -> ResultValues:
    method = ctx.text("method")
    if method == "quantize":
        return quantize_stack(ctx)
    if method == "dense":
        return _run_dense(ctx)
    return _run_pruned(ctx, method)


def _run_dense(ctx: RunContext) -> ResultValues:
    """The control gets the same total budget as every pruned arm: the pruned arms start from
    this checkpoint after `pre_epochs` and fine-tune `ft` epochs; dense trains on for `ft` epochs
    (a fresh optimizer, as the fine-tuning has) without pruning."""
    from ..harness.models import build
    from ..harness.pipeline import inference_phase, static_measures, train_phase
    from ..harness.train import TrainConfig

    p = ctx.params
    base_cfg = train_settings(ctx)
    pre_epochs, ft = budget(ctx)
    arch = ctx.arch("mlp", hidden=integers(p, "hidden"))
    model = build(arch).to(ctx.device)
    steps_per_epoch = -(-len(ctx.data().y_train) // integer(p, "batch_size"))
    total = (pre_epochs + ft) * steps_per_epoch
    res1, values = train_phase(ctx, model, TrainConfig(epochs=pre_epochs, progress_total=total, **base_cfg))
    ctx.save_model(model, arch, PRETRAINED)
    cont = TrainConfig(epochs=ft, inherited_steps=res1.optimizer_steps, progress_offset=res1.train_steps,
                       progress_total=total, **base_cfg)
    res2, more = train_phase(ctx, model, cont, measure_activations=False, accumulate=True)
    values.update({k: v for k, v in more.items() if k not in ("time_to_target_s", "steps_to_target")})
    values["train_time_s"] = res1.train_time_s + res2.train_time_s
    values["train_steps"] = res1.train_steps + res2.train_steps
    values["peak_mem_bytes"] = max(required_number(values, "peak_mem_bytes"), required_number(more, "peak_mem_bytes"))
    values["best_val_accuracy"] = max(res1.best_val_accuracy, res2.best_val_accuracy)
    values["diverged"] = res1.diverged or res2.diverged
    if res1.steps_to_target is None and res2.steps_to_target is not None:
        values["steps_to_target"] = res1.train_steps + res2.steps_to_target
        values["time_to_target_s"] = res1.train_time_s + (res2.time_to_target_s or 0.0)
    values.update(inference_phase(ctx, model))
    values.update(static_measures(ctx, model))
    ctx.save_model(model, arch)
    values.update({"method": "dense", "sparsity": 0.0, "weight_sparsity": _weight_sparsity(model),
                   "params_removed_fraction": 0.0, "pretrain_steps": res1.optimizer_steps,
                   "pretrain_epochs": pre_epochs, "finetune_epochs": ft})
    return values


def _gradual(ctx: RunContext, model: nn.Module, weight_fraction: float, ft: int) -> Callable[[int], None]:
    """Zhu & Gupta 2017: s_t = s_f * (1 - (1 - t/T)^3), masks recomputed every few steps and
    reaching the final sparsity at 3/4 of fine-tuning, so the last quarter recovers: the step hook."""
    steps = ft * -(-len(ctx.data().y_train) // ctx.integer("batch_size"))
    ramp = max(1, int(0.75 * steps))
    every = max(1, ramp // 20)
    state = {"masks": global_magnitude_masks(model, 0.0)}

    def after_step(step: int) -> None:
        if step <= ramp and (step % every == 0 or step == ramp):
            s = weight_fraction * (1 - (1 - step / ramp) ** 3)
            state["masks"] = global_magnitude_masks(model, s)
        apply_masks(state["masks"])
    return after_step


def _run_pruned(ctx: RunContext, method: str) -> ResultValues:
    from ..harness.measure import param_counts
    from ..harness.pipeline import inference_phase, static_measures, train_phase
    from ..harness.train import TrainConfig

    base_cfg = train_settings(ctx)
    pre_epochs, ft = budget(ctx)
    dense = ctx.dep("dense").result or {}
    model, arch = ctx.load_model("dense", PRETRAINED)
    reference, _ = ctx.load_model("dense")
    sparsity = ctx.number("sparsity")
    cfg = TrainConfig(epochs=ft, inherited_steps=int(number_at(dense, "pretrain_steps") or 0), **base_cfg)
    weight_fraction = weight_fraction_for(model, sparsity)
    if method == "magnitude":
        masks = global_magnitude_masks(model, weight_fraction)
        apply_masks(masks)
        cfg.after_step = lambda step: apply_masks(masks)
    elif method == "structured":
        model, arch = structured_prune(model, neuron_fraction_for(arch, sparsity), arch)
    elif method == "gradual":
        cfg.after_step = _gradual(ctx, model, weight_fraction, ft)
    else:
        raise ValueError(method)
    ctx.events.log(f"{method} pruning of {sparsity:.0%} of the parameters, then {ft} fine-tuning epoch(s)")
    pre_acc = None
    if method != "gradual":
        from ..harness.measure import evaluate
        t = ctx.tensors()
        pre_acc, _ = evaluate(model, t["x_val"], t["y_val"])
    _, values = train_phase(ctx, model, cfg)
    if method == "gradual":
        apply_masks(global_magnitude_masks(model, weight_fraction))
    values.update(inference_phase(ctx, model, reference=reference, reference_name="dense"))
    values.update(static_measures(ctx, model, sparse_size=method != "structured"))
    dense_params = number_at(dense, "params_total") or param_counts(reference)["params_total"]
    dense_size, dense_accuracy = number_at(dense, "model_size_bytes"), number_at(dense, "test_accuracy")
    values.update({
        "method": method, "sparsity": sparsity, "sparsity_unit": "fraction of all parameters removed",
        "weight_sparsity": _weight_sparsity(model), "finetune_epochs": ft, "pretrain_epochs": pre_epochs,
        "val_accuracy_before_finetune": pre_acc,
        "params_removed_fraction": 1 - required_number(values, "params_nonzero") / dense_params,
        "compression_ratio": dense_size / required_number(values, "model_size_bytes") if dense_size else None,
        "accuracy_drop": dense_accuracy - required_number(values, "test_accuracy")
        if dense_accuracy is not None else None,
    })
    if method == "structured":
        values["hidden_after"] = list(arch.need("hidden"))
    ctx.save_model(model, arch)  # what a stack's conversion starts from
    return values
