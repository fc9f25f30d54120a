"""The training loop every experiment shares: minibatch training with evaluation, target
tracking, optional clipping / autocast / warm-up, and divergence detection."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from contract.events import ResultValues
from contract.runfiles import TRAINING_METRIC

from ..events import EventWriter
from .measure import evaluate, tensor_bytes
from .optim import build_optimizer

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, x, y)


@dataclass
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    warmup_steps: int = 0
    schedule: str = "constant"          # after warm-up: one of SCHEDULES (lr_factor)
    clip_norm: float | None = None
    track_grad_norm: bool = False
    precision: str = "fp32"             # "fp32", "bf16" (autocast), "fp16" (autocast + GradScaler)
    target_val_accuracy: float | None = None
    evals_per_epoch: int = 1
    loss_fn: LossFn | None = None       # default: cross-entropy on the labels
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None  # applied to each training batch
    after_step: Callable[[int], None] | None = None  # e.g. re-apply pruning masks
    max_steps: int | None = None
    metric_every: int = 10
    spike_factor: float = 2.0           # a loss spike: loss > factor x its running mean ...
    spike_min_increase: float = 0.5     # ... and above it by at least this many nats
    diverge_loss: float = 1e4           # loss above this (or non-finite) = diverged ...
    diverge_factor: float = 10.0        # ... or the running loss above this x the first step's loss
    chance_is_divergence: bool = False  # ... or, when set, final validation accuracy at chance level
                                        # with the running loss still >= 90 % of the first step's
    inherited_steps: int = 0            # optimizer steps the model received before (a parent's training)
    progress_offset: int = 0            # for runs with several training phases
    training: int | None = None         # this training's index among a run's consecutive ones (a sweep):
                                        # marked at its first step (metric `training`, PROTOCOL.md §4)
    progress_total: int | None = None


@dataclass
class TrainResult:
    train_time_s: float = 0.0
    train_steps: int = 0
    time_to_target_s: float | None = None
    steps_to_target: int | None = None
    best_val_accuracy: float = 0.0
    val_accuracy: float = 0.0
    val_loss: float = float("nan")
    train_loss: float = float("nan")
    diverged: bool = False
    diverged_step: int | None = None
    diverged_reason: str | None = None
    optimizer_steps: int = 0
    inherited_steps: int = 0
    loss_spikes: int = 0
    grad_norms: list[float] = field(default_factory=list)
    clipped_steps: int = 0
    optimizer_state_bytes: int = 0
    train_samples_per_s: float = 0.0

    def values(self, target: float | None) -> ResultValues:
        out: ResultValues = {
            "train_time_s": self.train_time_s, "train_steps": self.train_steps,
            "time_to_target_s": self.time_to_target_s, "steps_to_target": self.steps_to_target,
            "target_val_accuracy": target, "best_val_accuracy": self.best_val_accuracy,
            "val_accuracy": self.val_accuracy, "val_loss": self.val_loss,
            "train_loss": self.train_loss, "diverged": self.diverged,
            "diverged_step": self.diverged_step, "diverged_reason": self.diverged_reason,
            "budget_steps": self.inherited_steps + self.optimizer_steps, "loss_spikes": self.loss_spikes,
            "optimizer_state_bytes": self.optimizer_state_bytes,
            "train_throughput_samples_per_s": self.train_samples_per_s,
        }
        if self.grad_norms:
            finite = [g for g in self.grad_norms if math.isfinite(g)]
            out["grad_norm_max"] = max(finite) if finite else None
            out["grad_norm_median"] = sorted(finite)[len(finite) // 2] if finite else None
            out["clipped_fraction"] = self.clipped_steps / len(self.grad_norms)
        return out


_warm = False


def warm_up() -> None:
    """The first torch.optim constructor imports torch._dynamo (~1.4 s of CPU); pay it before the
    measured training phase so it is not billed as training time or energy."""
    global _warm
    if not _warm:
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        _warm = True


#: step decay: the rate times STEP_GAMMA at each of these fractions of the steps after warm-up
STEP_MILESTONES = (0.5, 0.75)
STEP_GAMMA = 0.1
#: one-cycle (Smith & Topin 2019, as torch's OneCycleLR with its defaults and no momentum cycling):
#: from peak / ONECYCLE_DIV up to the peak over ONECYCLE_PCT of the steps, then down to
#: peak / ONECYCLE_DIV / ONECYCLE_FINAL_DIV, both halves cosine-annealed
ONECYCLE_PCT = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4
SCHEDULES = ("constant", "step", "cosine", "onecycle")


def _cos_anneal(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def lr_factor(schedule: str, step: int, total_steps: int, warmup_steps: int = 0) -> float:
    """The multiple of the peak rate at optimizer step ``step`` (0-based: the rate the step after
    ``step`` steps uses) of ``total_steps``: a linear warm-up over ``warmup_steps``, then the
    schedule over the rest. constant: 1; step: STEP_GAMMA per milestone passed; cosine: from 1 to
    0 (Loshchilov & Hutter 2017, no restarts); onecycle: see ONECYCLE_*, on all the steps (its own
    warm-up; ``warmup_steps`` is not added to it)."""
    if schedule == "onecycle":
        up_end = ONECYCLE_PCT * total_steps - 1
        low, high = 1.0 / ONECYCLE_DIV, 1.0
        if step <= up_end:
            return _cos_anneal(low, high, step / up_end if up_end > 0 else 1.0)
        span = (total_steps - 1) - up_end
        return _cos_anneal(high, low / ONECYCLE_FINAL_DIV, min(1.0, (step - up_end) / span) if span > 0 else 1.0)
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    done = step - warmup_steps
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(1.0, done / span)))
    if schedule == "step":
        return STEP_GAMMA ** sum(done >= int(m * span) for m in STEP_MILESTONES)
    if schedule == "constant":
        return 1.0
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; one of {', '.join(SCHEDULES)}")


def _lr_lambda(cfg: TrainConfig, total_steps: int) -> Callable[[int], float]:
    lr_factor(cfg.schedule, 0, total_steps, cfg.warmup_steps)  # an unknown name fails before training
    return lambda step: lr_factor(cfg.schedule, step, total_steps, cfg.warmup_steps)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _steps(n: int, cfg: TrainConfig) -> tuple[int, int]:
    """(total optimizer steps, steps between evaluations) of ``n`` training samples."""
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    return total, max(1, steps_per_epoch // max(1, cfg.evals_per_epoch))


def _batches(n: int, batch_size: int, gen: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
    """The indices of each minibatch, epoch after epoch, each epoch in a new order."""
    while True:
        perm = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, batch_size):
            yield perm[start:start + batch_size]


class _Stepper:
    """One run's optimizer, learning-rate schedule, autocast and loss scaler: a batch's loss, and
    the optimizer step that follows it (with clipping and the gradient norm when asked)."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, total: int, device: torch.device) -> None:
        self.model, self.cfg, self.device = model, cfg, device
        self.opt = build_optimizer(cfg.optimizer, [p for p in model.parameters() if p.requires_grad],
                                   cfg.lr, cfg.weight_decay, cfg.momentum)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _lr_lambda(cfg, total))
        self.use_amp = cfg.precision in ("bf16", "fp16")
        self.amp_dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
        self.loss_fn: LossFn = cfg.loss_fn or (lambda logits, x, y: F.cross_entropy(logits, y))

    def loss(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        if self.cfg.augment is not None:
            xb = self.cfg.augment(xb)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            logits = self.model(xb)
        return self.loss_fn(logits.float(), xb, yb)

    def step(self, loss: torch.Tensor, res: TrainResult) -> None:
        cfg = self.cfg
        self.opt.zero_grad(set_to_none=True)
        torch.autograd.backward(self.scaler.scale(loss))
        if cfg.clip_norm is not None or cfg.track_grad_norm:
            self.scaler.unscale_(self.opt)
            max_norm = cfg.clip_norm if cfg.clip_norm is not None else float("inf")
            norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))
            res.grad_norms.append(norm)
            if cfg.clip_norm is not None and norm > cfg.clip_norm:
                res.clipped_steps += 1
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        res.optimizer_steps += 1

    def lr(self) -> float:
        return float(self.sched.get_last_lr()[0])


def _divergence(loss_value: float, smoothed: float, start_loss: float | None, cfg: TrainConfig) -> str | None:
    """Why training diverged at this step's loss, or None."""
    if not math.isfinite(loss_value) or loss_value > cfg.diverge_loss:
        return f"loss {loss_value:.4g}"
    if start_loss and math.isfinite(smoothed) and smoothed > cfg.diverge_factor * start_loss:
        return f"running loss {smoothed:.4g} > {cfg.diverge_factor:g} x the first step's {start_loss:.4g}"
    return None


def train(model: nn.Module, data: tuple[torch.Tensor, ...], cfg: TrainConfig,
          events: EventWriter, seed: int) -> TrainResult:
    """Train ``model`` in place on (x_train, y_train, x_val, y_val); returns what happened."""
    x_tr, y_tr, x_va, y_va = data
    device = x_tr.device
    total, eval_every = _steps(len(y_tr), cfg)
    stepper = _Stepper(model, cfg, total, device)
    batches = _batches(len(y_tr), cfg.batch_size, torch.Generator().manual_seed(seed), device)
    res = TrainResult(inherited_steps=cfg.inherited_steps)
    running: float | None = None
    start_loss: float | None = None
    seen_samples = step = 0
    if cfg.training is not None:
        events.metric(cfg.progress_offset, **{TRAINING_METRIC: cfg.training})
    model.train()
    _sync(device)
    t_seg = time.perf_counter()
    while step < total and not res.diverged:
        idx = next(batches)
        loss = stepper.loss(x_tr[idx], y_tr[idx])
        loss_value = float(loss.detach())
        step += 1
        if start_loss is None and math.isfinite(loss_value):
            start_loss = loss_value
        smoothed = loss_value if running is None else 0.9 * running + 0.1 * loss_value
        reason = _divergence(loss_value, smoothed, start_loss, cfg)
        if reason is not None:
            res.diverged, res.diverged_step, res.diverged_reason = True, step, reason
            res.train_loss = loss_value
            events.log(f"diverged at step {step}: {reason}", "warning")
            break
        stepper.step(loss, res)
        if cfg.after_step is not None:
            cfg.after_step(step)
        seen_samples += len(idx)
        if (running is not None and step > 10 and loss_value > cfg.spike_factor * running
                and loss_value - running > cfg.spike_min_increase):
            res.loss_spikes += 1
        running = loss_value if running is None else 0.9 * running + 0.1 * loss_value
        res.train_loss = running
        if step % cfg.metric_every == 0:
            events.metric(cfg.progress_offset + step, train_loss=loss_value, lr=stepper.lr())
        if step % eval_every == 0 or step == total:
            _sync(device)
            res.train_time_s += time.perf_counter() - t_seg
            _evaluate(model, x_va, y_va, cfg, res, step, events)
            events.progress(cfg.progress_offset + step, cfg.progress_total or total)
            model.train()
            t_seg = time.perf_counter()
    _sync(device)
    if res.diverged:
        res.train_time_s += time.perf_counter() - t_seg
        res.val_accuracy, res.val_loss = evaluate(model, x_va, y_va)
    res.train_steps = step
    _stuck_at_chance(res, y_tr, start_loss, cfg, events)
    res.optimizer_state_bytes = tensor_bytes(stepper.opt.state_dict().get("state", {}))
    res.train_samples_per_s = seen_samples / res.train_time_s if res.train_time_s > 0 else 0.0
    return res


def _stuck_at_chance(res: TrainResult, y_tr: torch.Tensor, start_loss: float | None, cfg: TrainConfig,
                     events: EventWriter) -> None:
    """A run that ends at chance level with a loss that never fell diverged too (when the config says so)."""
    chance = 1.0 / max(2, int(y_tr.max()) + 1) if len(y_tr) else 0.0
    stuck = start_loss is not None and math.isfinite(res.train_loss) and res.train_loss >= 0.9 * start_loss
    if cfg.chance_is_divergence and not res.diverged and res.val_accuracy <= 1.5 * chance and stuck:
        res.diverged, res.diverged_step = True, res.train_steps
        res.diverged_reason = (f"final validation accuracy {res.val_accuracy:.3f} at chance level ({chance:.3f}) "
                               f"and the loss never fell below 90 % of its start")
        events.log(f"diverged: {res.diverged_reason}", "warning")


def _evaluate(model: nn.Module, x_va: torch.Tensor, y_va: torch.Tensor, cfg: TrainConfig,
              res: TrainResult, step: int, events: EventWriter) -> None:
    acc, loss = evaluate(model, x_va, y_va)
    res.val_accuracy, res.val_loss = acc, loss
    res.best_val_accuracy = max(res.best_val_accuracy, acc)
    if (cfg.target_val_accuracy is not None and res.steps_to_target is None
            and acc >= cfg.target_val_accuracy):
        res.steps_to_target, res.time_to_target_s = step, res.train_time_s
    events.metric(cfg.progress_offset + step, val_accuracy=acc, val_loss=loss)
