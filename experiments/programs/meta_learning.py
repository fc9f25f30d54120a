"""meta_learning: the base model on each held-out task without adaptation (the ``base`` run), with
k adaptation steps, after multi-task LoRA fine-tuning, or after first-order ANIL meta-training of
LoRA adapters; every adapted variant picks its adaptation learning rate on meta-validation tasks."""

from __future__ import annotations

import math
import time
from typing import Any

from torch import nn

from ..catalog.meta_learning import BASE, META_STEPS, QUERY_TOKENS, episode_batch
from ..harness.context import RunContext
from ..harness.grids import search
from ..harness.measure import PeakMemory
from ..lm import lora
from ..lm.meta import Episodes, Task, adapt_and_score, encode_tasks, inner_parameters, meta_train, multitask_batches, pooled
from ..lm.models import target_suffixes
from ..lm.session import LMRun, run_base
from ..lm.tasks import TaskSplit, load_tasks
from ..lm.train import config, train_lm, training_values

EPISODE_SEED_OFFSET = 20_000


class MetaRun:
    def __init__(self, lm: LMRun) -> None:
        self.lm = lm
        p = lm.ctx.params
        self.p = p
        self.shots = int(p["shots"])
        self.steps = int(p.get("meta_steps") or 0) or META_STEPS[lm.ctx.profile]
        query_tokens = int(p.get("query_tokens") or 0) or QUERY_TOKENS[lm.ctx.profile]
        self.split: TaskSplit = load_tasks(lm.s.data, lm.s.domain_speakers, int(p["min_task_chars"]),
                                           int(p["val_tasks"]), float(p["meta_test_fraction"]))
        tok, ctx_len = lm.tokenizer(), lm.s.context
        self.train = encode_tasks(tok, self.split.train, ctx_len, query_tokens)
        self.val = encode_tasks(tok, self.split.val, ctx_len, query_tokens)
        self.test = encode_tasks(tok, self.split.test, ctx_len, query_tokens)
        lm.ctx.events.log(f"tasks from {self.split.source}: {self.split.sizes()}; meta-test: "
                          + ", ".join(t.name for t in self.test))

    def episodes(self) -> Episodes:
        return Episodes(self.train, int(self.p["tasks_per_batch"]), self.shots, self.lm.s.context,
                        self.lm.ctx.seed + EPISODE_SEED_OFFSET, self.lm.pad_id)

    def scores(self, model: nn.Module, tasks: list[Task], steps: int, lr: float) -> dict[str, Any]:
        inner = [p for _, p in inner_parameters(model, self.p["inner"])]
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
        k = int(self.p["adapt_steps"])
        inner_lr = float(self.p["inner_lr"])

        def loss(lr: float) -> float:
            got = pooled(self.scores(model, self.val, k, lr))
            return got.loss if math.isfinite(got.loss) else float("inf")

        grid = [inner_lr * float(f) for f in dict.fromkeys(self.p["adapt_lr_factors"])]
        found = search("adapt_lr", grid, loss, lambda xs: min(range(len(xs)), key=lambda i: xs[i]),
                       extensions=int(self.p["adapt_lr_extensions"]), lo=inner_lr * 1e-3, hi=inner_lr * 1e3)
        return found.value, {f"{lr:g}": x for lr, x in zip(found.tried, found.results)}, found.edge_note()

    def meta_test(self, model: nn.Module, adapt: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        k = int(self.p["adapt_steps"]) if adapt else 0
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
    suffixes = target_suffixes(model, lm.s.lora_targets, "all")
    return lora.wrap(model, suffixes, rank)


def run(ctx: RunContext) -> dict[str, Any]:
    lm = LMRun(ctx)
    p = ctx.params
    method = p["method"]
    if method == BASE:
        values = run_base(lm)
        values = {k: v for k, v in values.items() if not k.startswith("test_")}
        values.update(MetaRun(lm).meta_test(lm.load_base(), adapt=False))
        values["method"] = BASE
        return values
    meta = MetaRun(lm)
    base = lm.base_result()
    model = lm.load_base()
    values: dict[str, Any] = {"method": method, "inner": p["inner"], "inner_lr": float(p["inner_lr"]),
                              "outer_lr": float(p["outer_lr"]), "clip": float(p["clip"]),
                              "tasks_per_batch": int(p["tasks_per_batch"]), "inner_steps": int(p["inner_steps"])}
    own_steps = 0
    if method != "base-adapt":  # multitask, or the meta-learned variant (anil, fomaml-last-block)
        for param in model.parameters():
            param.requires_grad_(False)
        model = _lora(lm, model, int(p["rank"]))
        cfg = config(meta.steps, episode_batch(p), float(p["outer_lr"]), clip_norm=float(p["clip"]),
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
                inner = [q for _, q in inner_parameters(model, p["inner"])]
                for q in inner:
                    q.requires_grad_(True)
                got = meta_train(model, meta.episodes(), inner, cfg, float(p["inner_lr"]), int(p["inner_steps"]),
                                 ctx.events, lm.device, validate=validate)
                own_steps, diverged = got.steps, got.diverged
                values.update({"train_time_s": got.train_time_s, "train_steps": got.steps,
                               "train_loss": got.query_losses[-1] if got.query_losses else None,
                               "first_train_loss": got.query_losses[0] if got.query_losses else None,
                               "support_loss_last": got.support_losses[-1] if got.support_losses else None,
                               "clipped_steps": got.clipped_steps, "train_tokens": got.tokens,
                               "train_tokens_per_s": got.tokens / got.train_time_s if got.train_time_s else None,
                               "grad_norm_mean": sum(got.grad_norms) / len(got.grad_norms) if got.grad_norms else None})
        outer = [q for n, q in model.named_parameters() if "lora_" in n]
        values.update({"peak_mem_bytes": peak.read(), "outer_steps": own_steps, "diverged": diverged,
                       "params_trainable": sum(q.numel() for q in outer),
                       "train_state_bytes": 4 * sum(q.numel() for q in outer) * 4})  # weights, grads, 2 moments
    else:
        values.update({"train_time_s": 0.0, "train_steps": 0, "diverged": False, "params_trainable": 0})
    values.update(meta.meta_test(model, adapt=True))
    values["budget_steps"] = int(base.get("budget_steps") or 0) + own_steps
    values["params_total"] = sum(q.numel() for q in model.parameters())
    ref = base.get("test_perplexity")
    if ref:
        values["base_test_perplexity"] = ref
        values["perplexity_change_vs_base_pct"] = (values["test_perplexity"] / ref - 1) * 100
    return values
