"""ANIL-MAML, first order, on a causal LM with LoRA adapters (Finn et al. 2017; Raghu et al. 2020).

- The **inner loop** adapts only the *inner* parameters (the last decoder block's own weights,
  or the output head): ``inner_steps`` steps of plain SGD on a task's support sequences.
- The **outer loop** updates only the LoRA parameters, from the query loss *after* the inner
  loop, first-order (the inner update is not differentiated through), averaged over the tasks of
  a meta-batch, gradient norm clipped, AdamW.
- **Meta-test**: on each held-out task, ``adapt_steps`` inner-loop steps on its support set,
  then the query perplexity; the inner parameters are restored before the next task.

Every episode is drawn from a seeded generator, so two variants of one seed see the same tasks,
support and query sequences.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..events import EventWriter
from ..harness.train import TrainConfig, _lr_lambda
from .evaluate import Score, score
from .models import pretrained, weight_of
from .tasks import TaskData
from .tokens import Batches, Encoded, encode_examples, encode_text, pad_examples

INNER = ("last_block", "head")


@dataclass
class Task:
    name: str
    support: Encoded
    query: Encoded


#: the tasks this process encoded last, by the tokenizer's folder, the context, the query cap and the
#: tasks themselves: a local try runs every variant in one process, each with the same tasks, and
#: encoding the shipped text's speakers is about a second of each run
_ENCODED_TASKS: dict[tuple[str, int, int, tuple[TaskData, ...]], list[Task]] = {}


def encoded_tasks(folder: str, tokenizer: Any, tasks: tuple[TaskData, ...], context: int,
                  query_tokens: int) -> list[Task]:
    """`encode_tasks` with the tokenizer saved in `folder`, once per process for the same tasks
    (the encoded tasks are only read: batches and scores index copies of them)."""
    key = (folder, context, query_tokens, tasks)
    found = _ENCODED_TASKS.get(key)
    if found is None:
        if any(k[:3] != key[:3] for k in _ENCODED_TASKS):  # another model or setting: keep one
            _ENCODED_TASKS.clear()
        found = _ENCODED_TASKS[key] = encode_tasks(tokenizer, tasks, context, query_tokens)
    return found


def encode_tasks(tokenizer: Any, tasks: tuple[TaskData, ...], context: int, query_tokens: int) -> list[Task]:
    out = []
    for t in tasks:
        if t.records:
            support = Encoded(examples=encode_examples(tokenizer, t.support_records, context))
            query = Encoded(examples=encode_examples(tokenizer, t.query_records, context))
        else:
            support = Encoded(ids=encode_text(tokenizer, t.support_text))
            query = Encoded(ids=encode_text(tokenizer, t.query_text))
        out.append(Task(t.name, support, query.capped(query_tokens)))
    return out


def task_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2 ** 31)


class Episodes:
    """Meta-batches of ``tasks_per_batch`` tasks, each with ``shots`` support and ``shots`` query
    sequences (support from the task's first half, query from its second)."""

    def __init__(self, tasks: list[Task], tasks_per_batch: int, shots: int, context: int, seed: int, pad_id: int) -> None:
        self.tasks = tasks
        self.k = tasks_per_batch
        self.gen = torch.Generator().manual_seed(seed)
        self.support = [Batches(t.support, shots, context, task_seed(seed, t.name), pad_id) for t in tasks]
        self.query = [Batches(t.query, shots, context, task_seed(seed + 1, t.name), pad_id) for t in tasks]

    def __call__(self) -> list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
        picks = torch.randperm(len(self.tasks), generator=self.gen)[:self.k].tolist()
        return [(self.support[i](), self.query[i]()) for i in picks]


def inner_parameters(model: nn.Module, which: str) -> list[tuple[str, nn.Parameter]]:
    """The parameters the inner loop adapts: the last decoder block's own weights (its LoRA
    adapters excluded), or the output head (untied from the embeddings first)."""
    if which == "head":
        lm = pretrained(model)
        head, emb = lm.get_output_embeddings(), lm.get_input_embeddings()
        weight = weight_of(head)
        if weight is weight_of(emb) or weight.data_ptr() == weight_of(emb).data_ptr():
            head.weight = nn.Parameter(weight.detach().clone())  # adapt the head alone
        adapted = head.weight
        if not isinstance(adapted, nn.Parameter):
            raise TypeError(f"the output head's weight is a {type(adapted).__name__}, not a parameter")
        return [("lm_head.weight", adapted)]
    blocks = None
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) and (blocks is None or len(module) > len(blocks)):
            blocks = module
    if blocks is None:
        raise ValueError("no decoder blocks found")
    index = len(blocks) - 1
    return [(f"block{index}.{n}", p) for n, p in blocks[index].named_parameters() if "lora_" not in n]


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for n, p in model.named_parameters() if "lora_" in n]


def batch_to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def inner_loop(model: nn.Module, inner: list[nn.Parameter], support: dict[str, torch.Tensor], steps: int,
               lr: float) -> list[float]:
    """``steps`` SGD steps of the inner parameters on the support batch (nothing else changes)."""
    losses = []
    for _ in range(steps):
        loss = model(**support).loss
        grads = torch.autograd.grad(loss, inner, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(inner, grads):
                if g is not None:
                    p.sub_(lr * g)
        losses.append(float(loss.detach()))
    return losses


class Snapshot:
    """The inner parameters' values, to restore after a task."""

    def __init__(self, params: list[nn.Parameter]) -> None:
        self.params = params
        self.saved = [p.detach().clone() for p in params]

    @torch.no_grad()
    def restore(self) -> None:
        for p, s in zip(self.params, self.saved):
            p.copy_(s)


@dataclass
class MetaTraining:
    steps: int = 0
    train_time_s: float = 0.0
    query_losses: list[float] = field(default_factory=list)
    support_losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    clipped_steps: int = 0
    diverged: bool = False
    diverged_step: int | None = None
    tokens: int = 0


def meta_train(model: nn.Module, episodes: Episodes, inner: list[nn.Parameter], cfg: TrainConfig, inner_lr: float,
               inner_steps: int, events: EventWriter, device: torch.device,
               validate: Callable[[], float] | None = None, evals: int = 5) -> MetaTraining:
    """First-order ANIL: per task, the inner loop on its support set, then the query loss's
    gradient for the LoRA parameters at the adapted inner parameters; the inner parameters are
    restored; the outer step averages the tasks' gradients."""
    outer = lora_parameters(model)
    steps = int(cfg.max_steps or 0)
    opt = torch.optim.AdamW(outer, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps))
    out = MetaTraining()
    eval_at = {max(1, round(steps * (i + 1) / evals)) for i in range(evals)}
    first: float | None = None
    model.train()
    t_seg = time.perf_counter()
    for step in range(1, steps + 1):
        batch = episodes()
        grads = [torch.zeros_like(p) for p in outer]
        q_mean = s_mean = 0.0
        for support, query in batch:
            support, query = batch_to(support, device), batch_to(query, device)
            snap = Snapshot(inner)
            s_mean += inner_loop(model, inner, support, inner_steps, inner_lr)[0] / len(batch)
            loss = model(**query).loss
            got = torch.autograd.grad(loss, outer)
            for acc, g in zip(grads, got):
                acc.add_(g, alpha=1 / len(batch))
            q_mean += float(loss.detach()) / len(batch)
            snap.restore()
            out.tokens += int(support["attention_mask"].sum() + query["attention_mask"].sum())
        first = q_mean if first is None else first
        if not math.isfinite(q_mean) or q_mean > 10 * first:
            out.diverged, out.diverged_step = True, step
            events.log(f"meta-training diverged at step {step}: query loss {q_mean:.4g} (first {first:.4g})", "warning")
            break
        for p, g in zip(outer, grads):
            p.grad = g
        norm = float(nn.utils.clip_grad_norm_(outer, cfg.clip_norm if cfg.clip_norm is not None else math.inf))
        out.grad_norms.append(norm)
        out.clipped_steps += int(cfg.clip_norm is not None and norm > cfg.clip_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        out.query_losses.append(q_mean)
        out.support_losses.append(s_mean)
        out.steps = step
        if step % cfg.metric_every == 0:
            events.metric(step, train_loss=q_mean, support_loss=s_mean)
        if step in eval_at and validate is not None:
            out.train_time_s += time.perf_counter() - t_seg
            val = validate()
            events.metric(step, val_loss=math.log(val), val_perplexity=val)
            events.progress(step, steps)
            model.train()
            t_seg = time.perf_counter()
    out.train_time_s += time.perf_counter() - t_seg
    return out


def adapt_and_score(model: nn.Module, inner: list[nn.Parameter], tasks: list[Task], steps: int, lr: float,
                    shots: int, context: int, stride: int, seed: int, pad_id: int, device: torch.device,
                    precision: str = "fp32") -> dict[str, Score]:
    """Each task: ``steps`` inner-loop steps on ``shots`` support sequences (drawn once per task and
    seed, so every variant adapts on the same ones), then the query score; restored after."""
    out = {}
    for t in tasks:
        support = batch_to(Batches(t.support, shots, context, task_seed(seed + 7, t.name), pad_id)(), device)
        snap = Snapshot(inner)
        was = model.training
        model.train()
        try:
            if steps:
                inner_loop(model, inner, support, steps, lr)
            out[t.name] = score(model, t.query, context, stride, device, precision, pad_id=pad_id)
        finally:
            snap.restore()
            model.train(was)
    return out


def pooled(scores: dict[str, Score]) -> Score:
    total = Score()
    for s in scores.values():
        total.nll_sum += s.nll_sum
        total.tokens += s.tokens
        total.correct += s.correct
    return total


def mean_task_perplexity(scores: dict[str, Score]) -> float:
    return sum(s.perplexity for s in scores.values()) / len(scores) if scores else float("nan")


def multitask_batches(episodes: Episodes) -> Callable[[], dict[str, torch.Tensor]]:
    """The same episodes as meta-training, every support and query sequence in one batch (what
    multi-task fine-tuning sees for the same budget)."""
    def draw() -> dict[str, torch.Tensor]:
        parts = [b for pair in episodes() for b in pair]
        width = max(p["input_ids"].shape[1] for p in parts)
        out = {}
        for key, fill in (("input_ids", 0), ("attention_mask", 0), ("labels", -100)):
            out[key] = torch.cat([torch.nn.functional.pad(p[key], (0, width - p[key].shape[1]), value=fill)
                                  for p in parts])
        return out
    return draw


__all__ = [
    "INNER",
    "Episodes",
    "Task",
    "adapt_and_score",
    "encode_tasks",
    "inner_loop",
    "inner_parameters",
    "lora_parameters",
    "meta_train",
    "multitask_batches",
    "pad_examples",
    "pooled",
]
