"""low_rank: truncated-SVD factorization of a trained MLP's linear layers at several ranks (or by
kept spectral energy), fine-tuned after, against unstructured (magnitude) and structured (neurons
removed) pruning of the same checkpoint to the same parameter count.

The program: the dense run and the pruned arms are the pruning entry's (the pruned arms at the
parameter count of the factorization they are matched to); a factorization run loads the dense
checkpoint from before fine-tuning, replaces its linear layers by truncated-SVD factors and
fine-tunes them for the same epochs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import INFERENCE_BATCH, Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold
from ..harness.errors import ExperimentError
from ..paramread import integer, integers, maybe_integer, number, text, texts
from . import pruning
from .pruning import EXPERIMENT as PRUNING
from .pruning import OBJECTIVE as PRUNING_OBJECTIVE

if TYPE_CHECKING:
    from ..harness.context import RunContext


#: the pruning entry's declarations of the parameters both entries share (one place for each)
SHARED = {p.name: p for p in PRUNING.params}
PRUNINGS = ("structured", "magnitude")


def factorization_name(values_key: str, value: float) -> str:
    return f"lowrank-r{int(value)}" if values_key == "ranks" else f"lowrank-e{value * 100:g}"


def arms(values: ParamValues) -> list[tuple[str, ParamValues]]:
    """(name, params) of each factorization: by rank, then by kept energy."""
    out: list[tuple[str, ParamValues]] = [(factorization_name("ranks", r), {"method": "lowrank", "rank": r})
           for r in dict.fromkeys(integers(values, "ranks"))]
    energy = number(values, "energy")
    if energy > 0:
        out.append((factorization_name("energy", energy), {"method": "lowrank", "energy": energy}))
    return out


def plan(values: ParamValues) -> list[Variant]:
    out = [Variant("dense", {"method": "dense"}, baseline=True,
                   role="the trained MLP, trained on for the fine-tuning epochs: every arm's budget")]
    prunings = [m for m in PRUNINGS if m in texts(values, "prunings")]
    for name, params in arms(values):
        tag = name.removeprefix("lowrank-")
        matched = tuple(f"{m}-{tag}" for m in prunings)
        what = f"rank {integer(params, 'rank')}" if "rank" in params else f"{number(params, 'energy'):.0%} of each spectrum kept"
        out.append(Variant(name, params, depends_on=("dense",), references=(*matched, "dense"),
                           objective="quality" if matched else "size",
                           role=f"truncated SVD of every linear layer it shrinks ({what}), fine-tuned; against "
                                f"pruning to the same parameter count" if matched else
                                f"truncated SVD ({what}), fine-tuned"))
        for m in prunings:
            out.append(Variant(f"{m}-{tag}", {"method": m, "match": name}, depends_on=("dense", name),
                               references=("dense",), objective=PRUNING_OBJECTIVE[m],
                               role=f"{m} pruning of the same checkpoint to {name}'s parameter count, "
                                    "fine-tuned as long"))
    return out


def headline(values: ParamValues) -> str | None:
    names = [n for n, _ in arms(values)]
    return names[len(names) // 2] if names else None


EXPERIMENT = Experiment(
    name="low_rank",
    title="Low-rank factorization (truncated SVD) against pruning at the same parameter count",
    area="compression",
    gain_phase="inference",
    summary="Factorize each linear layer of a trained MLP as the product of two thin matrices by truncated "
            "SVD (at each rank, or at the rank keeping a share of each layer's spectral energy; only layers "
            "the factors make smaller), and prune the same checkpoint to the same parameter count by global "
            "magnitude and by removing neurons; every arm fine-tunes for the same epochs and the dense control "
            "trains on as long. Compare test accuracy, stored size, and latency and energy at batch 64 timed "
            "against the dense model in the same process.",
    literature="The truncated SVD is the best rank-k approximation of a matrix (Eckart & Young 1936). Replacing "
               "a layer's weight by its factors cuts its parameters and multiply-adds from in x out to k (in + "
               "out) with dense kernels, so, unlike unstructured sparsity, it lowers latency directly; fine-tuning "
               "after recovers most of the accuracy lost (Denton et al. 2014: 2-3x speed-ups of convolutional "
               "layers within 1 % of accuracy; Xue et al. 2013: 80 % fewer parameters in speech DNNs). Pruned "
               "weights can be more expressive per parameter than a low-rank product, and networks trained dense "
               "are often not low-rank enough for aggressive ranks (Idelbayev & Carreira-Perpinan 2020 select "
               "ranks by a compression-aware training instead). Structured pruning also shrinks the dense "
               "computation (Li et al. 2017).",
    references=(
        "Eckart & Young 1936, The approximation of one matrix by another of lower rank (Psychometrika 1(3))",
        "Denton et al. 2014, Exploiting Linear Structure Within Convolutional Networks for Efficient Evaluation "
        "(NeurIPS)",
        "Xue, Li & Gong 2013, Restructuring of Deep Neural Network Acoustic Models with Singular Value "
        "Decomposition (Interspeech)",
        "Idelbayev & Carreira-Perpinan 2020, Low-Rank Compression of Neural Nets: Learning the Rank of Each "
        "Layer (CVPR)",
        "Li et al. 2017, Pruning Filters for Efficient ConvNets (ICLR)",
        "Han et al. 2015, Learning both Weights and Connections for Efficient Neural Networks (NeurIPS)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_inference_kwh",
             "time": "latency_b64_ms", "size": "model_size_bytes"},
    params=(*common_params(0.9),
        Param("ranks", "int_list", [16, 32, 64], "ranks of the factorization (each layer at min(rank, its "
              "full rank); a layer whose factors would not be smaller stays dense)", min=1, max=8192),
        Param("energy", "float", 0.0, "also factorize at the smallest rank keeping this share of each "
              "layer's sum of squared singular values (e.g. 0.9: the variant lowrank-e90); 0 = by rank only",
              min=0.0, max=1.0),
        Param("prunings", "str_list", list(PRUNINGS), "pruning methods matched to each factorization's "
              "parameter count: structured (hidden neurons removed), magnitude (global unstructured)",
              choices=PRUNINGS),
        *(SHARED[name] for name in ("hidden", "finetune_epochs", "lr", "batch_size")),
    ),
    deliverables=(keys_deliverable("test_accuracy", "params_total", "params_nonzero", "params_removed_fraction",
                                   "model_size_bytes", "latency_b64_ms", "energy_inference_kwh", "budget_steps",
                                   "diverged", "energy_mode"),
                  keys_deliverable("ranks", "kept_energy", "relative_error", "val_accuracy_before_finetune",
                                   "speedup", variant="lowrank-r32"),
                  threshold("test_accuracy", ">=", 0.8, "dense")),
    plan_fn=plan,
    table_keys=("params_removed_fraction", "params_nonzero", "speedup", "val_accuracy_before_finetune"),
    headline=headline,
    speedup_batch=INFERENCE_BATCH,
)


def factorize(ctx: RunContext) -> ResultValues:
    from ..harness.lowrank import factorize_model
    from ..harness.measure import evaluate
    from ..harness.models import ARCH_ATTR
    from ..harness.pipeline import inference_phase, static_measures, train_phase
    from ..harness.train import TrainConfig

    p = ctx.params
    dense = ctx.dep("dense").result or {}
    model, _ = ctx.load_model("dense", pruning.PRETRAINED)
    reference, _ = ctx.load_model("dense")
    # a rank arm's own "rank"; an energy arm has none and reads the entry's kept share "energy"
    rank = maybe_integer(p, "rank")
    energy = None if rank is not None else number(p, "energy")
    layers = factorize_model(model, rank=rank, energy=energy)
    # the factorized structure, so the zoo can rebuild the model its weights belong to
    setattr(model, ARCH_ATTR, replace(getattr(model, ARCH_ATTR), factorized={f.name: f.rank for f in layers
                                                                              if f.factorized}))
    model.to(ctx.device)
    t = ctx.tensors()
    pre_acc, _ = evaluate(model, t["x_val"], t["y_val"])
    pre_epochs, ft = pruning.budget(ctx)
    ctx.events.log("factorized: " + ", ".join(f"{f.name} {f.out_features}x{f.in_features} -> rank {f.rank}"
                                              if f.factorized else f"{f.name} kept dense" for f in layers)
                   + f"; validation accuracy before fine-tuning {pre_acc:.4f}; then {ft} epoch(s)")
    cfg = TrainConfig(epochs=ft, inherited_steps=int(number_at(dense, "pretrain_steps") or 0), **pruning.train_settings(ctx))
    _, values = train_phase(ctx, model, cfg)
    values.update(inference_phase(ctx, model, reference=reference, reference_name="dense"))
    values.update(static_measures(ctx, model))
    dense_params = number_at(dense, "params_total") or sum(q.numel() for q in reference.parameters())
    dense_size, dense_accuracy = number_at(dense, "model_size_bytes"), number_at(dense, "test_accuracy")
    values.update({
        "method": "lowrank", "rank": rank, "energy": energy, "finetune_epochs": ft, "pretrain_epochs": pre_epochs,
        "ranks": [f.rank for f in layers], "factorized_layers": [f.name for f in layers if f.factorized],
        "kept_energy": [f.kept_energy for f in layers], "relative_error": [f.relative_error for f in layers],
        "val_accuracy_before_finetune": pre_acc,
        "params_removed_fraction": 1 - required_number(values, "params_nonzero") / dense_params,
        "sparsity": 1 - required_number(values, "params_total") / dense_params,
        "compression_ratio": dense_size / required_number(values, "model_size_bytes") if dense_size else None,
        "accuracy_drop": dense_accuracy - required_number(values, "test_accuracy")
        if dense_accuracy is not None else None,
    })
    return values


def run(ctx: RunContext) -> ResultValues:
    p = ctx.params
    if text(p, "method") == "lowrank":
        return factorize(ctx)
    if text(p, "method") in ("magnitude", "structured"):
        # the same parameter count as the factorization this arm is matched to
        target = ctx.dep(text(p, "match")).result or {}
        removed = number_at(target, "params_removed_fraction")
        if removed is None:
            raise ExperimentError(f"variant {text(p, 'match')!r} reported no params_removed_fraction to match")
        ctx.params = {**p, "sparsity": float(removed)}
        values = pruning.run(ctx)
        values.update({"matched_to": text(p, "match"), "matched_params_total": target.get("params_total")})
        return values
    return pruning.run(ctx)
