"""gradient_clipping: no clipping against max-norm clipping at a learning rate where it matters."""

from ..declare import Experiment, Param, Variant, common_params, keys_deliverable, threshold


def plan(values: dict) -> list[Variant]:
    out = [Variant("none", {"max_norm": None}, baseline=True)]
    for m in dict.fromkeys(values["max_norms"]):
        out.append(Variant(f"clip-{m:g}", {"max_norm": m}))
    return out


EXPERIMENT = Experiment(
    name="gradient_clipping",
    title="Gradient clipping by global norm",
    area="stability",
    gain_phase="training",
    summary="Train a deep MLP with plain SGD at a deliberately high learning rate, without clipping "
            "and with the global gradient norm clipped to each max-norm; compare loss spikes, "
            "divergence (and its step) and final accuracy.",
    literature="Rescaling the gradient when its norm exceeds a threshold prevents exploding gradients "
               "and the loss spikes they cause, first shown for recurrent networks (Pascanu et al. "
               "2013). Clipped gradient descent can converge faster than fixed-step descent under a "
               "relaxed smoothness condition, which explains why clipping allows larger learning "
               "rates (Zhang et al. 2020); adaptive clipping made normaliser-free ResNets trainable at "
               "large batch sizes (Brock et al. 2021). A threshold far below the typical gradient norm "
               "acts as a smaller learning rate and slows training; one far above it never triggers.",
    references=(
        "Pascanu et al. 2013, On the difficulty of training recurrent neural networks (ICML)",
        "Zhang et al. 2020, Why Gradient Clipping Accelerates Training: A Theoretical Justification for Adaptivity (ICLR)",
        "Brock et al. 2021, High-Performance Large-Scale Image Recognition Without Normalization (ICML)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_train_kwh",
             "time": "train_time_s", "size": "model_size_bytes"},
    params=tuple(common_params(0.9)) + (
        Param("max_norms", "float_list", [0.5, 1.0, 5.0], "global gradient-norm thresholds",
              min=1e-4, max=1e6),
        Param("lr", "float", 1.0, "SGD learning rate (high on purpose: this is where clipping matters)",
              min=1e-6, max=100.0),
        Param("hidden", "int_list", [256, 256, 256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("batch_size", "int", 32, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "diverged", "diverged_step", "loss_spikes",
                                   "grad_norm_max", "clipped_fraction", "train_time_s",
                                   "energy_train_kwh", "energy_mode"),),
    plan_fn=plan,
    table_keys=("diverged", "diverged_step", "loss_spikes", "clipped_fraction"),
)
