"""meta_learning: ANIL (first order) with LoRA on a causal LM: does a body meta-learned through its
LoRA adapters make a few head-only adaptation steps on an unseen speaker's text worth more than the
same steps on the base model (the primary reference), or after multi-task fine-tuning at the same
budget? With ``inner=last_block`` the design is first-order MAML of the last block, named so."""

from __future__ import annotations

from ..declare import (
    PERPLEXITY_MARGIN,
    PERPLEXITY_MARGIN_BASIS,
    Experiment,
    Param,
    Variant,
    grid_extensions_param,
    keys_deliverable,
)
from ..lm.settings import lm_params

BASE = "base"
INNER = ("head", "last_block")
#: the meta-learned variant, named for its design: ANIL proper adapts the head alone in the inner
#: loop on a meta-learned body (Raghu et al. 2020); adapting the last decoder block is not ANIL
META_NAME = {"head": "anil", "last_block": "fomaml-last-block"}
#: meta-training outer steps (= multi-task fine-tuning steps) per profile
META_STEPS = {"smoke": 3, "default": 100, "full": 400}
#: query tokens scored per task (the start of its second half), per profile
QUERY_TOKENS = {"smoke": 128, "default": 1024, "full": 4096}

ROLES = {
    BASE: "(a) the base model, no adaptation: query perplexity of each held-out task as it is",
    "base-adapt": "(b) the base model adapted with the same k steps on each task's support set",
    "multitask": "(c) LoRA fine-tuned on the meta-train tasks (the same sequences and optimizer steps as "
                 "meta-training), then the same k steps: the equal-budget control",
    "anil": "ANIL, first order: the body meta-trained through its LoRA adapters so that k head-only inner "
            "steps adapt well, then the k steps",
    "fomaml-last-block": "first-order MAML of LoRA adapters with the last decoder block adapted in the inner "
                         "loop (not ANIL: the inner loop reaches into the body), then the k steps",
}


def meta_name(values: dict) -> str:
    return META_NAME[values["inner"]]


def plan(values: dict) -> list[Variant]:
    name = meta_name(values)
    return [
        Variant(BASE, {"method": BASE}, reference=BASE, role=ROLES[BASE]),
        Variant("base-adapt", {"method": "base-adapt"}, depends_on=(BASE,), references=(BASE,),
                objective="quality", role=ROLES["base-adapt"]),
        Variant("multitask", {"method": "multitask"}, baseline=True, depends_on=(BASE,), role=ROLES["multitask"]),
        Variant(name, {"method": name}, depends_on=(BASE,), references=("base-adapt", "multitask", BASE),
                objective="quality", role=ROLES[name] + " (primarily against (b), the same k steps without "
                                                      "meta-training: fewer steps that did not lose are evidence "
                                                      "against meta-learning; (c) at equal budget)"),
    ]


def episode_batch(values: dict) -> int:
    """Sequences per optimizer step: tasks per batch x (support + query)."""
    return int(values["tasks_per_batch"]) * 2 * int(values["shots"])


EXPERIMENT = Experiment(
    name="meta_learning",
    title="Meta-learning: ANIL with LoRA for few-shot adaptation to unseen speakers",
    area="fine-tuning",
    gain_phase="training",
    summary="Tasks are the speakers of Tiny Shakespeare (or the domains of your JSONL records). LoRA adapters "
            "are meta-trained with first-order ANIL on the meta-train speakers: 2 tasks per batch, 4 support "
            "and 4 query sequences each, 1 inner SGD step on the output head only, the outer step on "
            "the body's LoRA parameters (clipped at 0.5). On held-out speakers, query perplexity after k steps on "
            "4 support sequences, against the base model without adaptation, the base model with the same "
            "k steps, and multi-task LoRA fine-tuning with the same budget then the same k steps.",
    literature="MAML learns an initialisation from which a few gradient steps adapt to a new task, and its "
               "first-order approximation loses little (Finn et al. 2017); ANIL showed that adapting only "
               "the head in the inner loop matches MAML, because MAML mostly reuses features rather than "
               "changing them rapidly (Raghu et al. 2020). Published claims for language models report large "
               "perplexity drops on unseen tasks after few-shot adaptation of meta-learned models, but a "
               "well-tuned multi-task (transfer) baseline often closes most of the gap (Tian et al. 2020; "
               "Chen et al. 2019, A Closer Look at Few-shot Classification), which is why the equal-budget "
               "multi-task control is the reference here.",
    references=(
        "Finn et al. 2017, Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks (ICML)",
        "Raghu et al. 2020, Rapid Learning or Feature Reuse? Towards Understanding the Effectiveness of MAML "
        "(ANIL, ICLR)",
        "Nichol et al. 2018, On First-Order Meta-Learning Algorithms (arXiv:1803.02999)",
        "Hu et al. 2021, LoRA: Low-Rank Adaptation of Large Language Models (ICLR 2022)",
        "Tian et al. 2020, Rethinking Few-Shot Image Classification: a Good Embedding Is All You Need? (ECCV)",
    ),
    metrics={"quality": "test_perplexity", "energy": "energy_train_kwh", "time": "train_time_s",
             "memory": "train_state_bytes"},
    params=tuple(lm_params()) + (
        Param("inner", "choice", "head", "what the inner loop adapts: head (the output head, untied from the "
              "embeddings: ANIL, variant anil) or last_block (the last decoder block's weights: first-order "
              "MAML of the block, variant fomaml-last-block)", choices=INNER),
        Param("shots", "int", 4, "support and query sequences per task (each)", min=1, max=256),
        Param("tasks_per_batch", "int", 2, "tasks per meta-batch", min=1, max=64),
        Param("inner_steps", "int", 1, "inner-loop SGD steps during meta-training", min=1, max=20),
        Param("adapt_steps", "int", 5, "k: adaptation steps at meta-test (every adapted variant alike)",
              min=1, max=100),
        Param("inner_lr", "float", 1.0, "SGD learning rate of the inner loop (plain SGD on a mean token loss: "
              "the last block needs a large one)", min=1e-6, max=100.0),
        Param("adapt_lr_factors", "float_list", [0.5, 1.0, 2.0, 4.0], "meta-test adaptation learning rates as "
              "multiples of inner_lr; each variant picks its own on the meta-validation tasks", min=1e-3, max=1e3),
        grid_extensions_param("adapt_lr_extensions"),
        Param("outer_lr", "float", 1e-3, "AdamW learning rate of the LoRA parameters (meta-training and "
              "multi-task fine-tuning alike; cosine, 5 % warm-up)", min=1e-7, max=1.0),
        Param("clip", "float", 0.5, "gradient norm clip of the outer step (both trainings)", min=0.01, max=100.0),
        Param("meta_steps", "int", 0, "outer steps of meta-training = optimizer steps of multi-task "
              "fine-tuning; 0 = the profile's", min=0, max=10**6),
        Param("rank", "int", 8, "LoRA rank (alpha = 2r)", min=1, max=1024),
        Param("min_task_chars", "int", 3000, "characters a speaker needs to be a task (half support, half "
              "query)", min=200, max=10**7),
        Param("val_tasks", "int", 4, "meta-train speakers kept apart to pick each variant's adaptation "
              "learning rate", min=1, max=64),
        Param("query_tokens", "int", 0, "query tokens scored per task; 0 = the profile's", min=0, max=10**7),
        Param("meta_test_fraction", "float", 0.25, "JSONL data: the fraction of domains held out as "
              "meta-test tasks", min=0.05, max=0.9),
    ),
    deliverables=(keys_deliverable("test_perplexity", "task_names", "task_query_perplexity", "adapt_steps",
                                   "budget_steps", "diverged", "energy_mode"),
                  {**keys_deliverable("perplexity_change_vs_base_pct", "meta_train_tasks", "meta_test_tasks",
                                      "outer_steps", "adapt_lr"), "variant": "anil"}),
    plan_fn=plan,
    table_keys=("mean_task_perplexity", "perplexity_change_vs_base_pct", "adapt_lr", "budget_steps",
                "meta_test_tasks"),
    headline=meta_name,
    quality_margin=PERPLEXITY_MARGIN,
    quality_margin_basis=PERPLEXITY_MARGIN_BASIS,
    speedup_batch=episode_batch,
    extra={"meta_steps": META_STEPS, "query_tokens": QUERY_TOKENS},
)
