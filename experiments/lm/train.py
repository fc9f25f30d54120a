"""The language-model training loop (pre-training and fine-tuning): AdamW on random batches,
warm-up then cosine decay, gradient clipping, validation perplexity at fixed intervals, loss
spikes and divergence. It fills the harness's TrainResult, so the result keys match the other
entries (``val_accuracy`` is the next-token accuracy here)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim import Optimizer

from contract.events import ResultValues

from ..events import EventWriter
from ..harness.measure import tensor_bytes
from ..harness.train import TrainConfig, TrainResult, _lr_lambda, warm_up
from .evaluate import Score, autocast

#: a run diverged when its loss is not finite or above this multiple of its first loss
DIVERGE_FACTOR = 10.0


@dataclass
class LMTraining:
    """What happened beyond TrainResult: tokens, per-step losses, and the validation curve."""
    result: TrainResult
    tokens: int = 0
    tokens_per_s: float = 0.0
    first_loss: float = float("nan")
    val_curve: list[tuple[int, float]] | None = None
    train_state_bytes: int = 0
    #: training seconds (evaluations excluded) at each point of ``val_curve``, and its losses
    val_times: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def config(steps: int, batch_size: int, lr: float, clip_norm: float = 1.0, weight_decay: float = 0.0,
           precision: str = "fp32", warmup_fraction: float = 0.05, progress_offset: int = 0,
           progress_total: int | None = None) -> TrainConfig:
    return TrainConfig(epochs=0, batch_size=batch_size, lr=lr, optimizer="adamw", weight_decay=weight_decay,
                       warmup_steps=max(1, int(warmup_fraction * steps)), schedule="cosine",
                       clip_norm=clip_norm, track_grad_norm=True, precision=precision, max_steps=steps,
                       metric_every=max(1, steps // 100), progress_offset=progress_offset,
                       progress_total=progress_total)


def train_lm(model: nn.Module, next_batch: Callable[[], dict[str, torch.Tensor]], cfg: TrainConfig,
             events: EventWriter, device: torch.device, validate: Callable[[], Score],
             evals: int = 5, diverge_floor: float = 0.0,
             make_optimizer: Callable[[list[nn.Parameter]], Optimizer] | None = None,
             after_step: Callable[[int], None] | None = None) -> LMTraining:
    """Train the parameters of ``model`` that require grad for ``cfg.max_steps`` steps. A loss
    diverged when it is not finite, or above DIVERGE_FACTOR x the first loss and above
    ``diverge_floor`` (a loss that starts near zero, e.g. a KL to a teacher the model nearly
    matches, is not diverging when it moves from 1e-4 to 1e-3). The optimizer is AdamW at
    ``cfg.lr`` unless ``make_optimizer`` builds another from the parameters; ``after_step(step)``
    runs after each optimizer step, inside the timed training (e.g. Sophia's Hessian estimate)."""
    steps = int(cfg.max_steps or 0)
    params = [p for p in model.parameters() if p.requires_grad]
    warm_up()
    opt = make_optimizer(params) if make_optimizer is not None else torch.optim.AdamW(
        params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps))
    eval_at = {max(1, round(steps * (i + 1) / evals)) for i in range(evals)}
    out = LMTraining(TrainResult(), val_curve=[])
    res = out.result
    running: float | None = None
    step, total = 0, cfg.progress_total or steps
    model.train()
    _sync(device)
    t_seg = time.perf_counter()
    while step < steps:
        batch = {k: v.to(device) for k, v in next_batch().items()}
        with autocast(device, cfg.precision):
            loss = model(**batch).loss
        loss_value = float(loss.detach())
        step += 1
        if step == 1:
            out.first_loss = loss_value
        if not math.isfinite(loss_value) or loss_value > max(DIVERGE_FACTOR * out.first_loss, diverge_floor):
            res.diverged, res.diverged_step, res.train_loss = True, step, loss_value
            events.log(f"diverged at step {step}: loss {loss_value:.4g} (first {out.first_loss:.4g})", "warning")
            break
        _optimizer_step(loss, params, opt, sched, cfg, res)
        if after_step is not None:
            after_step(step)
        out.tokens += int(batch["attention_mask"].sum())
        _spike(res, running, loss_value, step, cfg, events)
        running = loss_value if running is None else 0.9 * running + 0.1 * loss_value
        res.train_loss = running
        if step % cfg.metric_every == 0:
            events.metric(cfg.progress_offset + step, train_loss=loss_value)
        if step in eval_at:
            _sync(device)
            res.train_time_s += time.perf_counter() - t_seg
            _validation(out, validate(), step, cfg, events, total)
            model.train()
            t_seg = time.perf_counter()
    _sync(device)
    if res.diverged:
        res.train_time_s += time.perf_counter() - t_seg
        val = validate()
        res.val_loss, res.val_accuracy = val.loss, val.accuracy
    res.train_steps = step
    _throughput(out, params, opt, cfg)
    return out


def _spike(res: TrainResult, running: float | None, loss_value: float, step: int, cfg: TrainConfig,
           events: EventWriter) -> None:
    """A loss far above the running mean (after the first ten steps) is a spike: counted and logged."""
    if (running is not None and step > 10 and loss_value > cfg.spike_factor * running
            and loss_value - running > cfg.spike_min_increase):
        res.loss_spikes += 1
        events.log(f"loss spike at step {step}: {loss_value:.4g} against a running mean of {running:.4g}",
                   "warning")


def _optimizer_step(loss: torch.Tensor, params: list[nn.Parameter], opt: Optimizer,
                    sched: torch.optim.lr_scheduler.LRScheduler, cfg: TrainConfig, res: TrainResult) -> None:
    """Gradients, clipped (their norm recorded), then the optimizer's and the schedule's step."""
    opt.zero_grad(set_to_none=True)
    torch.autograd.backward(loss)
    norm = float(nn.utils.clip_grad_norm_(params, cfg.clip_norm if cfg.clip_norm is not None else float("inf")))
    res.grad_norms.append(norm)
    if cfg.clip_norm is not None and norm > cfg.clip_norm:
        res.clipped_steps += 1
    opt.step()
    sched.step()


def _validation(out: LMTraining, val: Score, step: int, cfg: TrainConfig, events: EventWriter, total: int) -> None:
    """A validation point: the result's figures, the curve and the metrics the control room draws."""
    res = out.result
    res.val_loss, res.val_accuracy = val.loss, val.accuracy
    res.best_val_accuracy = max(res.best_val_accuracy, val.accuracy)
    if out.val_curve is not None:
        out.val_curve.append((step, val.perplexity))
    out.val_times.append(res.train_time_s)
    out.val_losses.append(val.loss)
    # the control room draws these: losses on the left axis, perplexity alone on the right
    events.metric(cfg.progress_offset + step, val_loss=val.loss, val_perplexity=val.perplexity)
    events.progress(cfg.progress_offset + step, total)


def _throughput(out: LMTraining, params: list[nn.Parameter], opt: Optimizer, cfg: TrainConfig) -> None:
    """Samples and tokens per second, the optimizer's state and what training held in memory."""
    res = out.result
    res.optimizer_state_bytes = tensor_bytes(opt.state_dict().get("state", {}))
    res.train_samples_per_s = res.train_steps * cfg.batch_size / res.train_time_s if res.train_time_s > 0 else 0.0
    out.tokens_per_s = out.tokens / res.train_time_s if res.train_time_s > 0 else 0.0
    trainable = sum(p.numel() * p.element_size() for p in params)
    out.train_state_bytes = 2 * trainable + res.optimizer_state_bytes  # weights + grads + the optimizer state


def training_values(t: LMTraining) -> ResultValues:
    """Result keys of one training phase, with units in their names."""
    values = t.result.values(None)
    for key in ("target_val_accuracy", "time_to_target_s", "steps_to_target", "train_throughput_samples_per_s"):
        values.pop(key, None)
    values.update({"train_tokens": t.tokens, "train_tokens_per_s": t.tokens_per_s, "first_train_loss": t.first_loss,
                   "train_state_bytes": t.train_state_bytes, "train_sequences_per_s": t.result.train_samples_per_s,
                   "val_perplexity": math.exp(t.result.val_loss) if math.isfinite(t.result.val_loss) else None,
                   "val_token_accuracy": t.result.val_accuracy,
                   "best_val_perplexity": min((p for _, p in t.val_curve or []), default=None)})
    return values
