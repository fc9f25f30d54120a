"""pruning: global magnitude, structured (neurons removed) and gradual pruning of a trained MLP."""

from ..declare import Experiment, Param, Variant, common_params, keys_deliverable, threshold

METHODS = ("magnitude", "structured", "gradual")


def plan(values: dict) -> list[Variant]:
    out = [Variant("dense", {"method": "dense"}, baseline=True)]
    for method in dict.fromkeys(values["methods"]):
        for s in dict.fromkeys(values["sparsities"]):
            out.append(Variant(f"{method}-{s * 100:g}", {"method": method, "sparsity": s},
                               depends_on=("dense",)))
    return out


EXPERIMENT = Experiment(
    name="pruning",
    title="Magnitude, structured and gradual pruning",
    area="compression",
    gain_phase="inference",
    summary="Prune a trained MLP to each sparsity three ways: global unstructured magnitude pruning "
            "(one shot, then fine-tuning), structured pruning that physically removes hidden "
            "neurons, and gradual magnitude pruning during fine-tuning; compare accuracy, non-zero "
            "parameters, stored size and latency.",
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
             "time": "latency_b1_ms", "size": "model_size_bytes"},
    params=tuple(common_params(0.9)) + (
        Param("sparsities", "float_list", [0.3, 0.5, 0.7], "fractions of weights (neurons, for "
              "structured) removed", min=0.0, max=0.99),
        Param("methods", "str_list", list(METHODS), "pruning methods", choices=METHODS),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("finetune_epochs", "int", 0, "fine-tuning epochs after (or during, for gradual) "
              "pruning; 0 = the profile's budget", min=0, max=1000),
        Param("lr", "float", 1e-3, "Adam learning rate", min=1e-6, max=1.0),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "sparsity", "params_nonzero", "model_size_bytes",
                                   "latency_b1_ms", "energy_inference_kwh", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.8, "dense")),
    plan_fn=plan,
    table_keys=("sparsity", "params_nonzero", "latency_b64_ms"),
)
