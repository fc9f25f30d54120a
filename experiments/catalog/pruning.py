"""pruning: global magnitude, structured (neurons removed) and gradual pruning of a trained MLP."""

from ..declare import INFERENCE_BATCH, Experiment, Param, Variant, common_params, keys_deliverable, threshold

METHODS = ("magnitude", "structured", "gradual")
#: a stack: every model of the plan (dense and each pruned arm) also converted by the quantization
#: entry's post-training conversion, compared with each single technique
STACK_QUANTIZE = ("none", "int8", "fp16", "bf16")


#: what each method is meant to improve: unstructured zeros shrink only the stored (sparse)
#: model; removing whole neurons shrinks the dense computation (Han et al. 2015; Li et al. 2017)
OBJECTIVE = {"magnitude": "size", "gradual": "size", "structured": "energy"}


def plan(values: dict) -> list[Variant]:
    out = [Variant("dense", {"method": "dense"}, baseline=True)]
    for method in dict.fromkeys(values["methods"]):
        for s in dict.fromkeys(values["sparsities"]):
            out.append(Variant(f"{method}-{s * 100:g}", {"method": method, "sparsity": s},
                               depends_on=("dense",), references=("dense",), objective=OBJECTIVE[method],
                               role=f"{s:.0%} of the parameters removed, same total training budget as dense"))
    q = values.get("quantize", "none")
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


def headline(values: dict) -> str:
    methods = list(dict.fromkeys(values["methods"]))
    sparsities = list(dict.fromkeys(values["sparsities"]))
    method = "structured" if "structured" in methods else methods[0]
    s = 0.5 if 0.5 in sparsities else sparsities[0]
    q = values.get("quantize", "none")
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
    params=tuple(common_params(0.9)) + (
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
