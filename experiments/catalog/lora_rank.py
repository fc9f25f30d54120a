"""lora_rank: where to spend LoRA rank. Full fine-tuning, fixed ranks, and adaptive allocations at
the trainable-parameter budget of a fixed rank, on a new domain of text."""

from ..declare import Experiment, Param, Variant, keys_deliverable, threshold
from ..lm.settings import SPEEDUP_BATCH, lm_params

METHODS = ("full", "fixed", "adaptive")
ALLOCATIONS = ("linear_decay", "attention_heavy", "empirical")
BASE = "base"


def _adaptive_name(allocation: str) -> str:
    return "lora-" + allocation.replace("_", "-")


def plan(values: dict) -> list[Variant]:
    methods = list(dict.fromkeys(values["methods"]))
    ranks = list(dict.fromkeys(values["ranks"]))
    budget = int(values["budget_rank"])
    out = [Variant(BASE, {"method": BASE}, reference=BASE)]
    baseline_set = False
    if "full" in methods:
        out.append(Variant("full", {"method": "full"}, baseline=True, depends_on=(BASE,)))
        baseline_set = True
    fixed = [f"lora-r{r}" for r in ranks] if "fixed" in methods else []
    for r, name in zip(ranks, fixed):
        ref = "full" if "full" in methods else None
        out.append(Variant(name, {"method": "lora", "rank": r, "allocation": "fixed"}, depends_on=(BASE,),
                           baseline=not baseline_set, reference=ref))
        baseline_set = True
    if "adaptive" in methods:
        same_budget = f"lora-r{budget}"
        ref = same_budget if same_budget in fixed else (fixed[0] if fixed else ("full" if "full" in methods else None))
        for allocation in dict.fromkeys(values["allocations"]):
            out.append(Variant(_adaptive_name(allocation),
                               {"method": "lora", "rank": budget, "allocation": allocation},
                               depends_on=(BASE,), baseline=not baseline_set, reference=ref))
            baseline_set = True
    return out


EXPERIMENT = Experiment(
    name="lora_rank",
    title="LoRA rank allocation: fixed ranks against adaptive allocations at equal budget",
    area="fine-tuning",
    gain_phase="training",
    summary="Fine-tune a pre-trained causal LM on a new domain (the held-out speakers of Tiny "
            "Shakespeare, or your data) with full fine-tuning, LoRA at fixed ranks (alpha = 2r), and "
            "three adaptive rank allocations (linear decay with depth, attention-heavy, empirical from "
            "gradient norms) with the trainable parameters of rank 8; compare perplexity, trainable "
            "parameters, time, energy and stability.",
    literature="LoRA trains low-rank updates of frozen weights and matches full fine-tuning on large "
               "models with orders of magnitude fewer trainable parameters, with rank barely mattering "
               "above a few (Hu et al. 2021). AdaLoRA reallocates a fixed rank budget across modules by "
               "an importance score and reports gains over uniform ranks at equal budget (Zhang et al. "
               "2023); QLoRA found adapting all linear layers matters more than the rank (Dettmers et al. "
               "2023); DyLoRA trains a range of ranks at once, showing the best rank is task dependent "
               "(Valipour et al. 2023). A published single-run study found fixed rank 16 beat every "
               "adaptive strategy it tried, two of which trained unstably; this entry tests that with "
               "seeds and equal parameter budgets.",
    references=(
        "Hu et al. 2021, LoRA: Low-Rank Adaptation of Large Language Models (arXiv:2106.09685; ICLR 2022)",
        "Zhang et al. 2023, Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning (AdaLoRA, ICLR)",
        "Dettmers et al. 2023, QLoRA: Efficient Finetuning of Quantized LLMs (NeurIPS)",
        "Valipour et al. 2023, DyLoRA: Parameter-Efficient Tuning of Pre-trained Models using Dynamic "
        "Search-Free Low-Rank Adaptation (EACL)",
    ),
    metrics={"quality": "test_token_accuracy", "energy": "energy_train_kwh", "time": "train_time_s",
             "size": "model_size_bytes", "memory": "train_state_bytes", "stability": "loss_spikes",
             "perplexity": "test_perplexity"},
    params=tuple(lm_params()) + (
        Param("methods", "str_list", list(METHODS), "what to fine-tune: full (every weight), fixed "
              "(LoRA at each of ranks), adaptive (each allocation at the budget of budget_rank)",
              choices=METHODS),
        Param("ranks", "int_list", [8, 16], "fixed LoRA ranks (alpha = 2r)", min=1, max=1024),
        Param("allocations", "str_list", list(ALLOCATIONS), "adaptive rank allocations", choices=ALLOCATIONS),
        Param("budget_rank", "int", 8, "the fixed rank whose trainable-parameter budget every adaptive "
              "allocation gets (within 2 %)", min=1, max=1024),
        Param("attention_weight", "float", 3.0, "attention-heavy: rank weight of attention projections "
              "against 1 for MLP projections", min=1.0, max=100.0),
    ),
    deliverables=(keys_deliverable("test_perplexity", "test_token_accuracy", "params_trainable",
                                   "trainable_share", "train_time_s", "energy_train_kwh", "loss_spikes",
                                   "diverged", "budget_steps", "energy_mode"),
                  threshold("test_token_accuracy", ">=", 0.05, "full")),
    plan_fn=plan,
    table_keys=("test_perplexity", "params_trainable", "trainable_share", "train_tokens_per_s",
                "loss_spikes", "budget_ratio", "cache_hit"),
    extra={"speedup_batch": SPEEDUP_BATCH},
)
