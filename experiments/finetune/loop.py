"""The fine-tune's epoch loop: every training window (or instruction example) once per epoch, in
an order drawn from the seed and the epoch; AdamW with a 5 % linear warm-up then cosine decay,
gradient clipping at 1.0; gradient checkpointing and mixed precision (BF16 autocast, or FP16 with
loss scaling on CUDA) as asked; the training loss every few steps and, after each epoch, the
validation loss and next-token accuracy (the histories the outputs and W&B are written from)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..events import RunEvents
from ..harness.errors import ExperimentError
from ..harness.train import lr_factor
from ..lm.evaluate import Score
from ..lm.tokens import Encoded, pad_examples

CLIP_NORM = 1.0
WARMUP_FRACTION = 0.05
LOG_POINTS = 50  # training-loss points per run in the history


@dataclass
class History:
    """What the loop saw: per epoch, and the training loss every few steps."""
    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)       # mean over the epoch's steps
    eval_loss: list[float] = field(default_factory=list)        # validation split, after the epoch
    accuracy: list[float] = field(default_factory=list)         # validation next-token accuracy
    step_loss: list[tuple[int, float]] = field(default_factory=list)
    steps: int = 0
    tokens: int = 0
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    diverged_step: int | None = None

    def to_json(self) -> dict[str, Sequence[float]]:
        """The histories by name, as the result's `loss_history` holds them."""
        return {"epoch": self.epoch, "train_loss": self.train_loss, "eval_loss": self.eval_loss,
                "accuracy": self.accuracy, "step": [s for s, _ in self.step_loss],
                "step_train_loss": [v for _, v in self.step_loss]}


def precision_of(asked: str, device: torch.device) -> str:
    """The precision a run trains in: `auto` is BF16 on CUDA and FP32 (`no`) on CPU."""
    if asked == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "no"
    if asked == "fp16" and device.type != "cuda":
        raise ExperimentError("mixed_precision=fp16 needs a CUDA device (loss scaling is for GPUs); on CPU use bf16 "
                              "or no")
    return asked


def autocast(device: torch.device, precision: str) -> AbstractContextManager[Any]:
    if precision in ("bf16", "fp16"):
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    return nullcontext()


def units(data: Encoded, context: int) -> list[Any]:
    """What one epoch goes through once: non-overlapping windows of `context` tokens (the last
    one ends at the stream's end), or the instruction examples."""
    if data.examples is not None:
        return list(data.examples)
    ids = data.ids
    assert ids is not None
    width = min(context, len(ids))
    if width < 2:
        raise ExperimentError("the training split has fewer than 2 tokens; give more data")
    starts = list(range(0, len(ids) - width + 1, width))
    if starts[-1] != len(ids) - width:
        starts.append(len(ids) - width)
    return [ids[s:s + width] for s in starts]


def batches(items: list[Any], batch_size: int, seed: int, epoch: int, pad_id: int) -> Iterator[dict[str, torch.Tensor]]:
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed * 1000 + epoch)).tolist()
    for i in range(0, len(order), batch_size):
        chunk = [items[j] for j in order[i:i + batch_size]]
        if isinstance(chunk[0], tuple):
            yield pad_examples(chunk, pad_id)
        else:
            windows = torch.stack(chunk)
            yield {"input_ids": windows, "attention_mask": torch.ones_like(windows), "labels": windows.clone()}


def _schedule(total: int) -> Callable[[int], float]:
    """Linear warm-up over WARMUP_FRACTION of the steps, then cosine to 0 (the harness's lr_factor)."""
    warmup = max(1, int(WARMUP_FRACTION * total))
    return lambda step: lr_factor("cosine", step, total, warmup)


def _step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
          params: list[nn.Parameter]) -> None:
    """Backward, clip at CLIP_NORM, step (through the loss scaler in FP16)."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        torch.autograd.backward(loss)
        nn.utils.clip_grad_norm_(params, CLIP_NORM)
        opt.step()
        return
    torch.autograd.backward(scaler.scale(loss))
    scaler.unscale_(opt)
    nn.utils.clip_grad_norm_(params, CLIP_NORM)
    scaler.step(opt)
    scaler.update()


@dataclass(frozen=True)
class LoopConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    precision: str
    seed: int
    pad_id: int
    context: int


def train(model: nn.Module, train_data: Encoded, cfg: LoopConfig, device: torch.device, events: RunEvents,
          validate: Callable[[], Score]) -> History:
    """Fine-tune every parameter of `model` for `cfg.epochs` epochs; the history it leaves."""
    items = units(train_data, cfg.context)
    per_epoch = math.ceil(len(items) / cfg.batch_size)
    total = per_epoch * cfg.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total))
    scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
    every = max(1, total // LOG_POINTS)
    h = History()
    events.log(f"fine-tuning {sum(p.numel() for p in params):,} parameters: {cfg.epochs} epoch(s) of {per_epoch} "
               f"step(s) ({len(items)} sequences, batch {cfg.batch_size}), precision {cfg.precision}")
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t0, losses = time.perf_counter(), []
        for batch in batches(items, cfg.batch_size, cfg.seed, epoch, cfg.pad_id):
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast(device, cfg.precision):
                loss = model(**batch).loss
            value = float(loss.detach())
            h.steps += 1
            if not math.isfinite(value):
                h.diverged_step = h.steps
                events.log(f"diverged at step {h.steps}: the loss is {value}; lower learning_rate "
                           f"(now {cfg.learning_rate:g})", "warning")
                break
            _step(loss, opt, scaler, params)
            sched.step()
            losses.append(value)
            h.tokens += int(batch["attention_mask"].sum())
            if h.steps % every == 0 or h.steps == total:
                h.step_loss.append((h.steps, value))
                events.metric(h.steps, train_loss=value, lr=float(sched.get_last_lr()[0]))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        h.train_time_s += time.perf_counter() - t0
        t1 = time.perf_counter()
        val = validate()
        h.eval_time_s += time.perf_counter() - t1
        h.epoch.append(epoch)
        h.train_loss.append(sum(losses) / len(losses) if losses else float("nan"))
        h.eval_loss.append(val.loss)
        h.accuracy.append(val.accuracy)
        events.metric(h.steps, eval_loss=val.loss, accuracy=val.accuracy, epoch=epoch)
        events.progress(epoch, cfg.epochs)
        events.log(f"epoch {epoch}/{cfg.epochs}: train loss {h.train_loss[-1]:.4f}, validation loss {val.loss:.4f}, "
                   f"next-token accuracy {val.accuracy:.4f}")
        if h.diverged_step is not None:
            break
    return h
