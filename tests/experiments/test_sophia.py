"""Sophia (issue 26 item 1): the SophiaG update against a hand-computed step and against the authors'
code (github.com/Liuhong99/Sophia, sophia.py, transcribed below) over many steps; the GNB estimator's
expectation against the Gauss-Newton diagonal of softmax cross-entropy; the entry's plan and its
smoke run (each optimizer's tuned rate, steps to the baseline's validation loss)."""

from __future__ import annotations

import math

import pytest
import torch

from experiments.catalog import EXPERIMENTS
from experiments.harness.optim import SophiaG
from experiments.harness.train import TrainResult
from experiments.lm.sophia import sampled_label_loss
from experiments.lm.train import LMTraining
from experiments.techniques.sophia import crossing
from tests.experiments.helpers import run_plan


def test_two_steps_by_hand() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = SophiaG([p], lr=0.1, betas=(0.9, 0.99), rho=0.5, weight_decay=0.1, bs=2)
    # step 1, no Hessian estimate yet (h = 0): decay, then m = 0.1 g, update lr sign(m) (ratio clipped to 1)
    p.grad = torch.tensor([0.5, -0.1], dtype=torch.float64)
    opt.step()
    assert p.tolist() == pytest.approx([0.89, -1.88], abs=1e-12)  # 0.99 p - 0.1 sign(m)
    # a Hessian estimate from the gradient [10, 0.2]: h = (1 - 0.99) g^2 = [1.0, 0.0004]
    p.grad = torch.tensor([10.0, 0.2], dtype=torch.float64)
    opt.update_hessian()
    assert opt.state[p]["hessian"].tolist() == pytest.approx([1.0, 0.0004], abs=1e-12)
    # step 2: m = 0.9 [0.05, -0.01] + 0.1 [0.5, -0.1] = [0.095, -0.019]; rho bs h = [1.0, 0.0004];
    # ratio = [0.095, clipped to 1]; p = 0.99 p - 0.1 sign(m) ratio = [0.8811 - 0.0095, -1.8612 + 0.1]
    p.grad = torch.tensor([0.5, -0.1], dtype=torch.float64)
    opt.step()
    assert torch.allclose(opt.state[p]["exp_avg"], torch.tensor([0.095, -0.019], dtype=torch.float64))
    assert torch.allclose(p.detach(), torch.tensor([0.8716, -1.7612], dtype=torch.float64), atol=1e-12)


def _reference_update_hessian(state: dict, grad: torch.Tensor, beta2: float) -> None:
    # sophia.py, SophiaG.update_hessian
    state["hessian"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)


def _reference_step(param: torch.Tensor, grad: torch.Tensor, state: dict, *, bs: int, beta1: float, rho: float,
                    lr: float, weight_decay: float) -> None:
    # sophia.py, _single_tensor_sophiag (maximize and capturable off)
    exp_avg, hess = state["exp_avg"], state["hessian"]
    param.mul_(1 - lr * weight_decay)
    exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    step_size_neg = -lr
    ratio = (exp_avg.abs() / (rho * bs * hess + 1e-15)).clamp(None, 1)
    param.addcmul_(exp_avg.sign(), ratio, value=step_size_neg)


def test_equals_the_authors_code_over_many_steps() -> None:
    g = torch.Generator().manual_seed(3)
    shape = (7, 5)
    start = torch.randn(shape, generator=g, dtype=torch.float64)
    ours = torch.nn.Parameter(start.clone())
    theirs = start.clone()
    state = {"exp_avg": torch.zeros(shape, dtype=torch.float64), "hessian": torch.zeros(shape, dtype=torch.float64)}
    kw = dict(lr=3e-3, rho=0.04, weight_decay=0.2, bs=480)
    opt = SophiaG([ours], betas=(0.965, 0.99), **kw)
    for step in range(1, 41):
        grad = torch.randn(shape, generator=g, dtype=torch.float64) * 0.01
        ours.grad = grad.clone()
        opt.step()
        _reference_step(theirs, grad, state, beta1=0.965, **kw)
        if step % 10 == 0:  # the Hessian every k = 10 steps, after that step's update (train_sophiag.py)
            sampled = torch.randn(shape, generator=g, dtype=torch.float64) * 0.01
            ours.grad = sampled.clone()
            opt.update_hessian()
            _reference_update_hessian(state, sampled, 0.99)
    assert torch.equal(ours.detach(), theirs)
    assert torch.equal(opt.state[ours]["hessian"], state["hessian"])
    # some coordinates were clipped and some not: the test exercised both branches
    ratio = state["exp_avg"].abs() / (0.04 * 480 * state["hessian"] + 1e-15)
    assert bool((ratio > 1).any()) and bool((ratio < 1).any())


def test_gnb_estimate_averages_to_the_gauss_newton_diagonal() -> None:
    # for softmax cross-entropy on logits z, the Gauss-Newton matrix is diag(p) - p p^T: its diagonal
    # p (1 - p); a label y drawn from p gives the gradient p - e_y, whose square averages to exactly that
    z = torch.tensor([2.0, 0.5, -1.0, 0.0])
    p = torch.softmax(z, -1)
    n = 20_000
    logits = z.repeat(1, n, 1).clone().requires_grad_(True)
    loss = sampled_label_loss(logits, torch.ones(1, n, dtype=torch.bool), torch.Generator().manual_seed(0))
    loss.backward()
    per_sample = logits.grad[0] * n  # the mean over n positions: each one's gradient / n
    assert torch.allclose((per_sample ** 2).mean(0), p * (1 - p), atol=0.01)
    assert torch.allclose(per_sample.mean(0), torch.zeros(4), atol=0.02)  # the score has mean 0
    # masked positions carry no gradient
    logits = z.repeat(1, 4, 1).clone().requires_grad_(True)
    mask = torch.tensor([[True, False, True, False]])
    sampled_label_loss(logits, mask, torch.Generator().manual_seed(1)).backward()
    assert float(logits.grad[0, 1].abs().sum()) == 0.0 and float(logits.grad[0, 0].abs().sum()) > 0


def test_steps_to_target_is_the_first_evaluation_at_or_below_it() -> None:
    t = LMTraining(TrainResult(), val_curve=[(10, 9.0), (20, 7.0), (30, 6.0)], val_times=[1.0, 2.0, 3.0],
                   val_losses=[2.2, 1.95, 1.8])
    assert crossing(t, 2.0) == (20, 2.0)
    assert crossing(t, 1.8) == (30, 3.0)
    assert crossing(t, 1.0) == (None, None)


def test_plan_compares_sophia_with_adamw_and_lion() -> None:
    exp = EXPERIMENTS["sophia"]
    values = exp.validate({})
    variants = {v.name: v for v in exp.plan(values)}
    assert list(variants) == ["adamw", "lion", "sophia"] and variants["adamw"].baseline
    assert variants["sophia"].references == ("adamw", "lion") and variants["sophia"].objective == "energy"
    assert variants["sophia"].depends_on == ("adamw",)  # the target: AdamW's final validation loss
    assert variants["lion"].references == ("adamw",) and variants["lion"].objective == "memory"
    assert exp.headline_for(values) == "sophia"
    assert exp.speedup_batch_for(values) == 16


def test_smoke_run_reaches_the_baselines_loss_with_each_optimizers_tuned_rate(tmp_path) -> None:
    params = {"profile": "smoke", "lr_grid_adamw": [3e-3], "lr_grid_lion": [3e-4], "lr_grid_sophia": [1e-3, 1e-2],
              "steps": 10, "evals": 5, "hessian_every": 2, "lr_grid_extensions": 1}
    runs = run_plan("sophia", params, tmp_path, seed=0)
    for name, run in runs.items():
        assert run["rc"] == 0, f"{name}: {run['stderr'][-3000:]}"
    adamw, lion, sophia = (runs[n]["result"] for n in ("adamw", "lion", "sophia"))
    # every run is measured against AdamW's final validation loss; AdamW reaches it by its last step
    assert adamw["target_val_loss"] == adamw["val_loss"] == sophia["target_val_loss"] == lion["target_val_loss"]
    assert adamw["steps_to_target"] is not None and adamw["steps_to_target"] <= 10
    # two rates: the better is always an edge, so the grid is extended once, beyond it, log-spaced
    tried = sophia["lr_grid_tried"]
    assert sophia["lr_grid"] == [1e-3, 1e-2] and tried[:2] == [1e-3, 1e-2] and len(tried) == 3
    losses = sophia["val_loss_by_lr"]
    beyond = 1e-4 if (losses[0] or math.inf) <= (losses[1] or math.inf) else 0.1
    assert tried[2] == pytest.approx(beyond) and sophia["lr_grid_extended"] == [tried[2]]
    assert sophia["selected_lr"] in tried and sophia["val_loss"] == min(v for v in losses if v is not None)
    on_edge = sophia["selected_lr"] in (min(tried), max(tried))
    assert sophia["selected_lr_at_edge"] is on_edge and (sophia["grid_edge"] is not None) is on_edge
    if on_edge:
        assert "after 1 extension(s)" in sophia["grid_edge"]
    # one rate: no edge, nothing to extend
    assert adamw["lr_grid_tried"] == [3e-3] and adamw["grid_edge"] is None
    assert sophia["hessian_updates"] == 5 and 0 < sophia["hessian_time_share"] < 1
    for r in (adamw, lion, sophia):
        assert r["budget_steps"] == 10 and r["test_perplexity"] > 1 and r["energy_train_kwh"] > 0
        if r["steps_to_target"] is not None:
            assert r["steps_to_target"] in r["val_curve_steps"] and r["energy_to_target_kwh"] > 0
    # optimizer state: Lion one tensor per parameter, AdamW and Sophia two
    assert lion["optimizer_state_bytes"] < sophia["optimizer_state_bytes"]
    assert abs(sophia["optimizer_state_bytes"] - adamw["optimizer_state_bytes"]) < 0.01 * adamw["optimizer_state_bytes"]


