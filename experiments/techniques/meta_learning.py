"""meta_learning: ANIL (first order) with LoRA on a causal LM: does a body meta-learned through its
LoRA adapters make a few head-only adaptation steps on an unseen speaker's text worth more than the
same steps on the base model (the primary reference), or after multi-task fine-tuning at the same
budget? With ``inner=last_block`` the design is first-order MAML of the last block, named so.

The program: the base model on each held-out task without adaptation (the ``base`` run), with
k adaptation steps, after multi-task LoRA fine-tuning, or after first-order ANIL meta-training of
LoRA adapters; every adapted variant picks its adaptation learning rate on meta-validation tasks.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import (
    PERPLEXITY_MARGIN,
    PERPLEXITY_MARGIN_BASIS,
    Experiment,
    Param,
    ParamValues,
    Variant,
    grid_extensions_param,
    keys_deliverable,
)
from ..harness.grids import search
from ..lm.settings import lm_params
from ..paramread import integer, number, numbers, text

if TYPE_CHECKING:
    from torch import nn

    from ..harness.context import RunContext
    from ..lm.evaluate import Score
    from ..lm.meta import Episodes, MetaTraining, Task
    from ..lm.session import LMRun
    from ..lm.tasks import TaskSplit


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


def meta_name(values: ParamValues) -> str:
    return META_NAME[text(values, "inner")]


def plan(values: ParamValues) -> list[Variant]:
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


def episode_batch(values: ParamValues) -> int:
    """Sequences per optimizer step: tasks per batch x (support + query)."""
    return integer(values, "tasks_per_batch") * 2 * integer(values, "shots")


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
    params=(*lm_params(),
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
    no_zoo_model=("its test perplexity is measured after adapting the meta-learned model to each test task, so no "
                  "one set of weights has it"),
    extra={"meta_steps": META_STEPS, "query_tokens": QUERY_TOKENS},
)


EPISODE_SEED_OFFSET = 20_000


class MetaRun:
    def __init__(self, lm: LMRun) -> None:
        from ..lm.meta import encoded_tasks
        from ..lm.tasks import load_tasks

        self.lm = lm
        p = lm.ctx.params
        self.p = p
        self.shots = integer(p, "shots")
        self.steps = integer(p, "meta_steps", 0) or META_STEPS[lm.ctx.profile]
        query_tokens = integer(p, "query_tokens", 0) or QUERY_TOKENS[lm.ctx.profile]
        self.split: TaskSplit = load_tasks(lm.s.data, lm.s.domain_speakers, integer(p, "min_task_chars"),
                                           integer(p, "val_tasks"), number(p, "meta_test_fraction"))
        tok, folder, ctx_len = lm.tokenizer(), str(lm.base_dir()), lm.s.context
        self.train = encoded_tasks(folder, tok, self.split.train, ctx_len, query_tokens)
        self.val = encoded_tasks(folder, tok, self.split.val, ctx_len, query_tokens)
        self.test = encoded_tasks(folder, tok, self.split.test, ctx_len, query_tokens)
        lm.ctx.events.log(f"tasks from {self.split.source}: {self.split.sizes()}; meta-test: "
                          + ", ".join(t.name for t in self.test))

    def episodes(self) -> Episodes:
        from ..lm.meta import Episodes

        return Episodes(self.train, integer(self.p, "tasks_per_batch"), self.shots, self.lm.s.context,
                        self.lm.ctx.seed + EPISODE_SEED_OFFSET, self.lm.pad_id)

    def scores(self, model: nn.Module, tasks: list[Task], steps: int, lr: float) -> dict[str, Score]:
        from ..lm.meta import adapt_and_score, inner_parameters

        inner = [p for _, p in inner_parameters(model, text(self.p, "inner"))]
        was = [p.requires_grad for p in inner]
        for p in inner:
            p.requires_grad_(True)
        try:
            return adapt_and_score(model, inner, tasks, steps, lr, self.shots, self.lm.s.context,
                                   self.lm.s.stride, self.lm.ctx.seed, self.lm.pad_id, self.lm.device,
                                   self.lm.precision)
        finally:
            for p, flag in zip(inner, was):
                p.requires_grad_(flag)

    def pick_lr(self, model: nn.Module) -> tuple[float, dict[str, float], str | None]:
        """The adaptation learning rate with the lowest query loss on the meta-validation tasks,
        the grid extended while the choice is on its edge (harness/grids.py), and the edge note."""
        from ..lm.meta import pooled

        k = integer(self.p, "adapt_steps")
        inner_lr = number(self.p, "inner_lr")

        def loss(lr: float) -> float:
            got = pooled(self.scores(model, self.val, k, lr))
            return got.loss if math.isfinite(got.loss) else float("inf")

        grid = [inner_lr * float(f) for f in dict.fromkeys(numbers(self.p, "adapt_lr_factors"))]
        found = search("adapt_lr", grid, loss, lambda xs: min(range(len(xs)), key=lambda i: xs[i]),
                       extensions=integer(self.p, "adapt_lr_extensions"), lo=inner_lr * 1e-3, hi=inner_lr * 1e3)
        return found.value, {f"{lr:g}": x for lr, x in zip(found.tried, found.results)}, found.edge_note()

    def meta_test(self, model: nn.Module, adapt: bool) -> ResultValues:
        from ..lm.meta import pooled

        values: ResultValues = {}
        k = integer(self.p, "adapt_steps") if adapt else 0
        lr = 0.0
        with self.lm.ctx.energy.phase("inference"):
            t0 = time.perf_counter()
            if adapt:
                lr, grid, edge = self.pick_lr(model)
                values.update({"adapt_lr": lr, "adapt_lr_val_loss": grid, "grid_edge": edge})
            scores = self.scores(model, self.test, k, lr)
            values["meta_test_time_s"] = time.perf_counter() - t0
        total = pooled(scores)
        values.update(total.values("test"))
        names = list(scores)
        values.update({
            "task_names": names, "task_query_perplexity": [scores[n].perplexity for n in names],
            "task_query_tokens": [scores[n].tokens for n in names],
            "mean_task_perplexity": sum(scores[n].perplexity for n in names) / len(names),
            "adapt_steps": k, "shots": self.shots, **self.split.sizes(),
            "meta_test_task_list": names,
        })
        return values


def _lora(lm: LMRun, model: nn.Module, rank: int) -> nn.Module:
    from ..lm import lora
    from ..lm.models import target_suffixes

    suffixes = target_suffixes(model, lm.s.lora_targets, "all")
    return lora.wrap(model, suffixes, rank)


def run(ctx: RunContext) -> ResultValues:
    from ..lm.session import LMRun, run_base

    lm = LMRun(ctx)
    p = ctx.params
    method = text(p, "method")
    if method == BASE:
        values: ResultValues = run_base(lm)
        values = {k: v for k, v in values.items() if not k.startswith("test_")}
        values.update(MetaRun(lm).meta_test(lm.load_base(), adapt=False))
        values["method"] = BASE
        return values
    meta = MetaRun(lm)
    base = lm.base_result()
    model = lm.load_base()
    values = {"method": method, "inner": text(p, "inner"), "inner_lr": number(p, "inner_lr"),
              "outer_lr": number(p, "outer_lr"), "clip": number(p, "clip"),
              "tasks_per_batch": integer(p, "tasks_per_batch"), "inner_steps": integer(p, "inner_steps")}
    own_steps = 0
    if method != "base-adapt":  # multitask, or the meta-learned variant (anil, fomaml-last-block)
        model, own_steps = _train(lm, meta, model, method, values)
    else:
        values.update({"train_time_s": 0.0, "train_steps": 0, "diverged": False, "params_trainable": 0})
    values.update(meta.meta_test(model, adapt=True))
    values["budget_steps"] = int(number_at(base, "budget_steps") or 0) + own_steps
    values["params_total"] = sum(q.numel() for q in model.parameters())
    ref = number_at(base, "test_perplexity")
    if ref:
        values["base_test_perplexity"] = ref
        values["perplexity_change_vs_base_pct"] = (required_number(values, "test_perplexity") / ref - 1) * 100
    return values


def _train(lm: LMRun, meta: MetaRun, model: nn.Module, method: str, values: ResultValues) -> tuple[nn.Module, int]:
    """The base model's LoRA adapters trained multitask or meta-learned (its values into ``values``):
    the adapted model and its outer steps."""
    from ..harness.measure import PeakMemory
    from ..lm.meta import inner_parameters, meta_train, multitask_batches, pooled
    from ..lm.train import config, train_lm, training_values

    ctx, p = lm.ctx, lm.ctx.params
    for param in model.parameters():
        param.requires_grad_(False)
    model = _lora(lm, model, integer(p, "rank"))
    cfg = config(meta.steps, episode_batch(p), number(p, "outer_lr"), clip_norm=number(p, "clip"),
                 precision=lm.precision)
    peak = PeakMemory(lm.device)
    peak.reset()
    def validate() -> float:
        return pooled(meta.scores(model, meta.val, 0, 0.0)).perplexity

    with ctx.energy.phase("train"):
        if method == "multitask":
            training = train_lm(model, multitask_batches(meta.episodes()), cfg, ctx.events, lm.device,
                                validate=lambda: pooled(meta.scores(model, meta.val, 0, 0.0)))
            values.update(training_values(training))
            own_steps = training.result.train_steps
            diverged = training.result.diverged
        else:
            inner = [q for _, q in inner_parameters(model, text(p, "inner"))]
            for q in inner:
                q.requires_grad_(True)
            got = meta_train(model, meta.episodes(), inner, cfg, number(p, "inner_lr"), integer(p, "inner_steps"),
                             ctx.events, lm.device, validate=validate)
            own_steps, diverged = got.steps, got.diverged
            values.update(_meta_values(got))
    outer = [q for n, q in model.named_parameters() if "lora_" in n]
    values.update({"peak_mem_bytes": peak.read(), "outer_steps": own_steps, "diverged": diverged,
                   "params_trainable": sum(q.numel() for q in outer),
                   "train_state_bytes": 4 * sum(q.numel() for q in outer) * 4})  # weights, grads, 2 moments
    return model, own_steps


def _meta_values(got: MetaTraining) -> ResultValues:
    """The result keys of meta-training."""
    return {"train_time_s": got.train_time_s, "train_steps": got.steps,
            "train_loss": got.query_losses[-1] if got.query_losses else None,
            "first_train_loss": got.query_losses[0] if got.query_losses else None,
            "support_loss_last": got.support_losses[-1] if got.support_losses else None,
            "clipped_steps": got.clipped_steps, "train_tokens": got.tokens,
            "train_tokens_per_s": got.tokens / got.train_time_s if got.train_time_s else None,
            "grad_norm_mean": sum(got.grad_norms) / len(got.grad_norms) if got.grad_norms else None}
