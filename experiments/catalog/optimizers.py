"""optimizers: SGD, SGD with momentum, Adam, AdamW and Lion on the same model and budget."""

from ..declare import Experiment, Param, Variant, common_params, keys_deliverable, threshold

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "lion")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.02, "adam": 1e-3, "adamw": 1e-3, "lion": 1e-4}


def plan(values: dict) -> list[Variant]:
    names = list(dict.fromkeys(values["optimizers"]))
    base = "adam" if "adam" in names else names[0]
    return [Variant(n, {"optimizer": n, "lr": values[f"lr_{n}"]}, baseline=n == base) for n in names]


EXPERIMENT = Experiment(
    name="optimizers",
    title="Optimizers: SGD, momentum, Adam, AdamW, Lion",
    area="training",
    gain_phase="training",
    summary="Train the same MLP with each optimizer at its usual learning rate and compare the "
            "steps and time to a target validation accuracy, the final accuracy and the bytes of "
            "optimizer state.",
    literature="Adaptive methods (Adam, Kingma & Ba 2015) reach a given loss in fewer steps with "
               "little tuning, while well-tuned SGD with momentum often generalises as well or better "
               "(Wilson et al. 2017). Decoupling weight decay from the adaptive update (AdamW) "
               "improves regularisation (Loshchilov & Hutter 2019). Lion, found by program search, "
               "updates with the sign of an interpolated momentum, keeps one state tensor instead of "
               "Adam's two (half the optimizer memory) and matches AdamW when run with a 3-10x "
               "smaller learning rate (Chen et al. 2023). A large benchmark found no optimizer "
               "dominating across tasks once tuned (Schmidt et al. 2021).",
    references=(
        "Kingma & Ba 2015, Adam: A Method for Stochastic Optimization (ICLR)",
        "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (ICLR)",
        "Chen et al. 2023, Symbolic Discovery of Optimization Algorithms (NeurIPS)",
        "Wilson et al. 2017, The Marginal Value of Adaptive Gradient Methods in Machine Learning (NeurIPS)",
        "Schmidt et al. 2021, Descending through a Crowded Valley: Benchmarking Deep Learning Optimizers (ICML)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_train_kwh",
             "time": "time_to_target_s", "size": "optimizer_state_bytes"},
    params=tuple(common_params(0.95)) + (
        Param("optimizers", "str_list", list(OPTIMIZERS), "optimizers to compare", choices=OPTIMIZERS),
        *(Param(f"lr_{n}", "float", lr, f"learning rate of {n}", min=1e-7, max=10.0)
          for n, lr in DEFAULT_LR.items()),
        Param("weight_decay", "float", 0.01, "decoupled weight decay of adamw and lion", min=0.0, max=1.0),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("batch_size", "int", 32, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "train_time_s", "time_to_target_s",
                                   "steps_to_target", "optimizer_state_bytes", "energy_train_kwh",
                                   "energy_mode"),
                  threshold("test_accuracy", ">=", 0.85, "adam")),
    plan_fn=plan,
    table_keys=("steps_to_target", "train_time_s", "best_val_accuracy"),
)
