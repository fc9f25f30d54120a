"""low_rank: truncated-SVD factorization of a trained MLP's linear layers at several ranks (or by
kept spectral energy), fine-tuned after, against unstructured (magnitude) and structured (neurons
removed) pruning of the same checkpoint to the same parameter count."""

from ..declare import INFERENCE_BATCH, Experiment, Param, Variant, common_params, keys_deliverable, threshold
from .pruning import EXPERIMENT as PRUNING
from .pruning import OBJECTIVE as PRUNING_OBJECTIVE

#: the pruning entry's declarations of the parameters both entries share (one place for each)
SHARED = {p.name: p for p in PRUNING.params}
PRUNINGS = ("structured", "magnitude")


def factorization_name(values_key: str, value: float) -> str:
    return f"lowrank-r{int(value)}" if values_key == "ranks" else f"lowrank-e{value * 100:g}"


def arms(values: dict) -> list[tuple[str, dict]]:
    """(name, params) of each factorization: by rank, then by kept energy."""
    out = [(factorization_name("ranks", r), {"method": "lowrank", "rank": int(r)})
           for r in dict.fromkeys(values["ranks"])]
    if values["energy"] > 0:
        out.append((factorization_name("energy", values["energy"]), {"method": "lowrank", "energy": values["energy"]}))
    return out


def plan(values: dict) -> list[Variant]:
    out = [Variant("dense", {"method": "dense"}, baseline=True,
                   role="the trained MLP, trained on for the fine-tuning epochs: every arm's budget")]
    prunings = [m for m in PRUNINGS if m in values["prunings"]]
    for name, params in arms(values):
        tag = name.removeprefix("lowrank-")
        matched = tuple(f"{m}-{tag}" for m in prunings)
        what = f"rank {params['rank']}" if "rank" in params else f"{params['energy']:.0%} of each spectrum kept"
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


def headline(values: dict) -> str | None:
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
    params=tuple(common_params(0.9)) + (
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
