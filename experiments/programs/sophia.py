"""sophia: each run pre-trains the default language model from scratch with one optimizer over its
own learning-rate grid (the same initialisation, batches, schedule, clipping and steps for every
point and optimizer of a seed), selects the rate with the lowest final validation loss, extending
the grid (log-spaced, harness/grids.py) while that rate is on its edge, and reports its steps, time
and energy to the target validation loss (the baseline's final loss unless given)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import Optimizer

from ..catalog.sophia import EVALS, STEPS
from ..catalog.sophia import baseline as baseline_name
from ..harness.context import RunContext
from ..harness.errors import ExperimentError
from ..harness.grids import search
from ..harness.optim import Lion, SophiaG
from ..lm.cache import cache_root
from ..lm.corpus import digest, pretraining_corpus
from ..lm.evaluate import Score, score
from ..lm.models import build_default, cached_tokenizer, default_config
from ..lm.session import LMRun
from ..lm.sophia import GNBHessian
from ..lm.tokens import Batches, Encoded, encode_text
from ..lm.train import LMTraining, config, train_lm, training_values

HESSIAN_SEED_OFFSET = 20_000  # Sophia's Hessian batches are drawn apart: training batches stay paired


@dataclass
class Point:
    lr: float
    training: LMTraining
    model: torch.nn.Module
    hessian_updates: int = 0
    hessian_s: float = 0.0


def crossing(t: LMTraining, target: float) -> tuple[int | None, float | None]:
    """(step, training seconds) of the first evaluation whose validation loss is at most ``target``."""
    for (step, _), seconds, loss in zip(t.val_curve or [], t.val_times, t.val_losses):
        if loss <= target:
            return step, seconds
    return None, None


def make_optimizer(name: str, params: list, lr: float, p: dict[str, Any], tokens_per_step: int) -> Optimizer:
    wd = float(p[f"weight_decay_{name}"])
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "lion":
        return Lion(params, lr=lr, weight_decay=wd)
    if name == "sophia":
        return SophiaG(params, lr=lr, rho=float(p["rho"]), weight_decay=wd, bs=tokens_per_step)
    raise ExperimentError(f"unknown optimizer {name!r}")


class _Timed:
    """The Hessian estimate, its own seconds counted (a share of the training time)."""

    def __init__(self, inner: GNBHessian) -> None:
        self.inner, self.seconds = inner, 0.0

    def __call__(self, step: int) -> None:
        t0 = time.perf_counter()
        self.inner(step)
        if step % self.inner.every == 0:
            if self.inner.device.type == "cuda":
                torch.cuda.synchronize(self.inner.device)
            self.seconds += time.perf_counter() - t0


@dataclass
class Corpus:
    """The pre-training text of the LM entries, encoded with their tokenizer."""
    tokenizer: Any
    pad: int
    train: Encoded
    val: Encoded
    test: Encoded


def corpus(lm: LMRun) -> Corpus:
    s = lm.s
    text = pretraining_corpus(s.domain_speakers)
    train_text = text.train[:s.max_train_chars] if s.max_train_chars else text.train
    tokenizer, tok_key, _ = cached_tokenizer(cache_root(lm.ctx.cache_dir), train_text,
                                             digest(text.digest, s.max_train_chars), s.vocab_size)
    lm.ctx.events.log(f"tokenizer {tok_key}: {len(tokenizer)} tokens")
    return Corpus(tokenizer, int(tokenizer.pad_token_id), Encoded(ids=encode_text(tokenizer, train_text)),
                  Encoded(ids=encode_text(tokenizer, text.val)).capped(s.eval_tokens or 16_384),
                  Encoded(ids=encode_text(tokenizer, text.test)).capped(s.eval_tokens))


def train_point(lm: LMRun, data: Corpus, name: str, lr: float, index: int, grid_size: int, steps: int,
                evals: int) -> Point:  # grid_size: the most points the sweep can train (its progress)
    """Pre-train from the seed's initialisation with optimizer ``name`` at peak rate ``lr``, in the
    energy phase ``sweep:<index>``."""
    ctx, s, p = lm.ctx, lm.s, lm.ctx.params
    batch = s.pretrain_batch
    torch.manual_seed(ctx.seed)  # the same initialisation for every rate and optimizer of a seed
    model = build_default(default_config(data.tokenizer, s.dim, s.layers, s.heads, s.context)).to(lm.device)
    cfg = config(steps, batch, lr, weight_decay=float(p[f"weight_decay_{name}"]), precision=lm.precision,
                 progress_offset=index * steps, progress_total=grid_size * steps)
    hessian: list[_Timed] = []

    def build(params: list) -> Optimizer:
        opt = make_optimizer(name, params, lr, p, batch * s.context)
        if isinstance(opt, SophiaG):
            hessian.append(_Timed(GNBHessian(
                model, opt, Batches(data.train, batch, s.context, ctx.seed + HESSIAN_SEED_OFFSET, data.pad),
                int(p["hessian_every"]), lm.device, lm.precision, cfg.clip_norm, ctx.seed)))
        return opt

    def after_step(step: int) -> None:
        if hessian:
            hessian[0](step)

    def validate() -> Score:
        return score(model, data.val, s.context, s.stride, lm.device, lm.precision, pad_id=data.pad)

    with ctx.energy.phase(f"sweep:{index}"):
        training = train_lm(model, Batches(data.train, batch, s.context, ctx.seed, data.pad), cfg, ctx.events,
                            lm.device, validate=validate, evals=evals, make_optimizer=build, after_step=after_step)
    ctx.events.log(f"lr {lr:g}: final validation loss {training.result.val_loss:.4f}"
                   + (" (diverged)" if training.result.diverged else ""))
    return Point(lr, training, model, hessian[0].inner.updates if hessian else 0,
                 hessian[0].seconds if hessian else 0.0)


def run(ctx: RunContext) -> dict[str, Any]:
    lm = LMRun(ctx)
    s, p = lm.s, ctx.params
    name = str(p["optimizer"])
    steps = int(p.get("steps") or 0) or STEPS[ctx.profile]
    evals = int(p.get("evals") or 0) or EVALS[ctx.profile]
    data = corpus(lm)
    batch = s.pretrain_batch
    grid = [float(x) for x in p[f"lr_grid_{name}"]]
    extensions = int(p.get("lr_grid_extensions", 0) or 0)
    ctx.events.log(f"{name}: {steps} steps of {batch}x{s.context} tokens at each of {grid}"
                   + (f", up to {extensions} more beyond the edge the best rate sits on" if extensions else ""))
    most = len(grid) + extensions
    points: list[Point] = []

    def evaluate(lr: float) -> Point:
        points.append(train_point(lm, data, name, lr, len(points), most, steps, evals))
        return points[-1]

    def loss(q: Point) -> float:
        r = q.training.result
        return r.val_loss if not r.diverged and math.isfinite(r.val_loss) else math.inf

    # the lowest final validation loss wins (a diverged point never does while another is stable);
    # while the winner is the smallest or largest rate tried, the next log-spaced rate beyond it is tried
    found = search("lr", grid, evaluate, lambda qs: min(range(len(qs)), key=lambda i: (loss(qs[i]), qs[i].lr)),
                   extensions=extensions, lo=1e-7, hi=10.0)
    stable = [q for q in points if math.isfinite(loss(q))]
    index = found.chosen
    best = points[index]
    ctx.energy.promote(f"sweep:{index}", "train")
    t = best.training
    base = baseline_name(p)
    given = float(p.get("target_val_loss") or 0.0)
    if given > 0:
        target = given
    elif name == base:
        target = t.result.val_loss
    else:
        target = float((ctx.dep(base).get("result") or {}).get("val_loss") or math.nan)
    reached_step, reached_s = crossing(t, target) if math.isfinite(target) else (None, None)
    kwh = ctx.energy.kwh("train")
    values: dict[str, Any] = dict(training_values(t))
    values.update(score(best.model, data.test, s.context, s.stride, lm.device, lm.precision, pad_id=data.pad).values("test"))
    values.update({
        "optimizer": name, "lr": best.lr, "selected_lr": best.lr if stable else None, "lr_grid": grid,
        "lr_grid_tried": found.tried, "lr_grid_extended": found.extended,
        "selected_lr_at_edge": found.edge is not None,
        # read by the validator (issue 22 item 7): a majority of seeds still on an edge after the
        # extensions voids the effect points
        "grid_edge": found.edge_note() if stable else None,
        "weight_decay": float(p[f"weight_decay_{name}"]), "steps": steps, "evals": evals,
        # over the declared grid: the extensions try only beyond the stable winner's edge
        "divergence_rate": sum(q.training.result.diverged for q in points[:len(grid)]) / len(grid),
        "diverged_lrs": [q.lr for q in points if q.training.result.diverged],
        "val_loss_by_lr": [q.training.result.val_loss if math.isfinite(q.training.result.val_loss) else None
                           for q in points],
        "sweep_train_time_s": sum(q.training.result.train_time_s for q in points),
        "sweep_budget_steps": sum(q.training.result.train_steps for q in points),
        "diverged": not stable, "budget_steps": t.result.train_steps,
        "target_val_loss": target if math.isfinite(target) else None,
        "target_from": "parameter" if given > 0 else base,
        "steps_to_target": reached_step, "time_to_target_s": reached_s,
        # pro rata of the training's measured energy, as the other entries' time to target
        "energy_to_target_kwh": kwh * reached_s / t.result.train_time_s
        if kwh is not None and reached_s is not None and t.result.train_time_s > 0 else None,
        "val_curve_steps": [step for step, _ in t.val_curve or []], "val_curve_loss": list(t.val_losses),
        "tokens_per_step": batch * s.context, "batch_size": batch, "context": s.context,
        "precision": lm.precision, "params_total": sum(q.numel() for q in best.model.parameters()),
    })
    if name == "sophia":
        values.update({"rho": float(p["rho"]), "hessian_every": int(p["hessian_every"]),
                       "hessian_updates": best.hessian_updates, "hessian_time_s": best.hessian_s,
                       "hessian_time_share": best.hessian_s / t.result.train_time_s if t.result.train_time_s else None})
    return values
