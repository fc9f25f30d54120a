"""sophia: Sophia (clipped diagonal second-order, Gauss-Newton-Bartlett Hessian every k steps)
against AdamW and Lion in pre-training the language model from scratch, each at its own tuned
learning rate: steps, time and energy to reach the same validation loss."""

from __future__ import annotations

from ..declare import Experiment, Param, Variant, grid_extensions_param, keys_deliverable
from ..lm.settings import PROFILES, lm_params

OPTIMIZERS = ("adamw", "lion", "sophia")
BASELINE = "adamw"
#: each optimizer's learning-rate grid: Lion's 3-10x below AdamW's (Chen et al. 2023); Sophia's about
#: AdamW's (the authors' README: "about the same as AdamW's, or 5-10x Lion's"). At default with 3 seeds
#: (2026-12-07) Sophia chose 1e-3, the bottom of [1e-3, 3e-3, 1e-2], and Lion 1e-3, the top of [1e-4,
#: 3e-4, 1e-3], on every seed: both grids are centred on those choices, and a choice still on an edge
#: extends its grid (lr_grid_extensions, harness/grids.py)
DEFAULT_GRIDS = {"adamw": [1e-3, 3e-3, 1e-2], "lion": [3e-4, 1e-3, 3e-3], "sophia": [3e-4, 1e-3, 3e-3]}
#: decoupled weight decay of each: AdamW's of the lab's pre-training, Lion's 10x it (its rates are 10x
#: smaller: lr x wd matches), Sophia's as the authors' GPT-2 runs
DEFAULT_DECAY = {"adamw": 0.1, "lion": 1.0, "sophia": 0.2}
#: optimizer steps of each training, and evaluations of the validation loss along it. At default the
#: drain must fit 10 minutes on 2 cores (BENCHMARKS.md): 27 trainings of 200 steps with 10 evaluations
#: took 21.2 min (0.21 s of drain per step-equivalent); 3 seeds x 3 optimizers x 3-5 rates (the grid
#: and its extensions) of 60 steps and 4 evaluations are 1,900-2,500 step-equivalents, 7-9 min
STEPS = {"smoke": 8, "default": 60, "full": 1200}
EVALS = {"smoke": 2, "default": 4, "full": 30}
ROLES = {"adamw": "AdamW: the reference of the paper's claim, at its tuned rate",
         "lion": "Lion: sign of an interpolated momentum, one state tensor (Chen et al. 2023), at its tuned rate",
         "sophia": "SophiaG: clipped m / (rho bs h), h the GNB estimate of the Hessian's diagonal every k steps "
                   "(Liu et al. 2023), at its tuned rate"}
#: what each is meant to improve against the others: Sophia the energy (and steps) to AdamW's loss;
#: Lion the optimizer memory at matched quality
CLAIMS = {"sophia": (("adamw", "lion"), "energy"), "lion": (("adamw",), "memory")}
SHARED = ("profile", "device", "dataset", "domain_speakers", "vocab_size", "dim", "layers", "heads", "context",
          "precision")


def baseline(values: dict) -> str:
    names = list(dict.fromkeys(values["optimizers"]))
    return BASELINE if BASELINE in names else names[0]


def plan(values: dict) -> list[Variant]:
    names = list(dict.fromkeys(values["optimizers"]))
    base = baseline(values)
    out = [Variant(base, {"optimizer": base}, baseline=True,
                   role=ROLES[base] + "; its final validation loss is the target of every run (target_val_loss 0)")]
    for n in names:
        if n == base:
            continue
        refs, objective = CLAIMS.get(n, ((base,), "energy"))
        refs = tuple(r for r in refs if r in names and r != n) or (base,)
        out.append(Variant(n, {"optimizer": n}, depends_on=(base,), references=refs, objective=objective,
                           role=ROLES[n]))
    return out


def headline(values: dict) -> str | None:
    others = [v.name for v in plan(values) if not v.baseline]
    return "sophia" if "sophia" in others else (others[0] if others else None)


def pretrain_batch(values: dict) -> int:
    return PROFILES[values["profile"]].pretrain_batch


EXPERIMENT = Experiment(
    name="sophia",
    title="Sophia against AdamW and Lion in language-model pre-training",
    area="training",
    gain_phase="training",
    summary="Pre-train the small Llama-style model from scratch on Tiny Shakespeare with AdamW, Lion and SophiaG "
            "(the Gauss-Newton-Bartlett estimate of the Hessian's diagonal every k steps), each over its own "
            "learning-rate grid with the same warm-up + cosine schedule, clipping, batches and steps; each "
            "optimizer's rate is chosen on the final validation loss. Compare the steps, time and energy to "
            "reach AdamW's final validation loss, the final test perplexity and the optimizer state.",
    literature="Sophia pre-conditions the momentum by a cheap estimate of the Hessian's diagonal, refreshed every "
               "k = 10 steps, and clips each coordinate's update, so that the step adapts to curvature and stays "
               "bounded where the estimate is poor. On GPT-2 (125M-770M parameters, OpenWebText) it reached "
               "AdamW's validation loss in half the steps, total compute and wall time, each optimizer tuned, "
               "the Hessian estimate costing about 5 % per step (Liu et al. 2023). Lion matched AdamW with half "
               "its optimizer state at 3-10x smaller rates (Chen et al. 2023). Later benchmarks with careful "
               "tuning found the gains of new optimizers over AdamW shrinking at small scale and short budgets "
               "(Kaddour et al. 2023: no gain of Sophia or Lion over AdamW for BERT and T5 at fixed compute; "
               "Wen et al. 2025: speedups below 1.4x once baselines are tuned).",
    references=(
        "Liu et al. 2023, Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training "
        "(arXiv:2305.14342; ICLR 2024)",
        "Chen et al. 2023, Symbolic Discovery of Optimization Algorithms (NeurIPS)",
        "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (ICLR)",
        "Kaddour et al. 2023, No Train No Gain: Revisiting Efficient Training Algorithms for Transformer-based "
        "Language Models (NeurIPS)",
        "Wen et al. 2025, Fantastic Pretraining Optimizers and Where to Find Them (arXiv)",
    ),
    metrics={"quality": "test_perplexity", "energy": "energy_to_target_kwh", "time": "time_to_target_s",
             "memory": "optimizer_state_bytes", "stability": "divergence_rate"},
    params=tuple(p for p in lm_params() if p.name in SHARED) + (
        Param("optimizers", "str_list", list(OPTIMIZERS), "optimizers to compare", choices=OPTIMIZERS),
        *(Param(f"lr_grid_{n}", "float_list", grid, f"peak learning rates tried for {n} (chosen on the final "
                f"validation loss)", min=1e-7, max=10.0) for n, grid in DEFAULT_GRIDS.items()),
        grid_extensions_param(),
        *(Param(f"weight_decay_{n}", "float", wd, f"decoupled weight decay of {n}", min=0.0, max=10.0)
          for n, wd in DEFAULT_DECAY.items()),
        Param("rho", "float", 0.05, "Sophia's clipping scale rho (the authors' GPT-2 small value)", min=1e-6, max=10.0),
        Param("hessian_every", "int", 10, "Sophia's k: optimizer steps between Hessian estimates", min=1, max=10_000),
        Param("steps", "int", 0, "optimizer steps of each training; 0 = the profile's (smoke 8, default 60, "
              "full 1200)", min=0, max=10**7),
        Param("evals", "int", 0, "validation-loss evaluations along each training (the resolution of the steps "
              "to the target); 0 = the profile's (smoke 2, default 4, full 30)", min=0, max=1000),
        Param("target_val_loss", "float", 0.0, "the validation loss (nats per token) whose first crossing gives "
              "steps_to_target and time_to_target_s; 0 = the baseline's final validation loss at its tuned rate",
              min=0.0, max=100.0),
    ),
    deliverables=(keys_deliverable("test_perplexity", "val_loss", "target_val_loss", "steps_to_target",
                                   "time_to_target_s", "energy_to_target_kwh", "energy_train_kwh", "selected_lr",
                                   "lr_grid", "divergence_rate", "optimizer_state_bytes", "budget_steps",
                                   "energy_mode", "diverged"),
                  keys_deliverable("hessian_updates", "hessian_time_share", variant="sophia")),
    plan_fn=plan,
    table_keys=("selected_lr", "lr_grid_tried", "steps_to_target", "val_loss", "divergence_rate",
                "selected_lr_at_edge"),
    headline=headline,
    speedup_batch=pretrain_batch,
)
