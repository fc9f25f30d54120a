"""Learning-rate schedules (issue 26 item 3): each schedule's values at hand-computed points and
against torch's own schedulers where torch has one, and the entry's plan and smoke run."""

from __future__ import annotations

import math

import pytest
import torch

from experiments.catalog import EXPERIMENTS
from experiments.harness.train import TrainConfig, _lr_lambda, lr_factor
from experiments.techniques.lr_schedules import loop_schedule
from tests.experiments.helpers import run_plan


def test_constant_step_and_cosine_at_hand_computed_points() -> None:
    assert [lr_factor("constant", s, 100) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    # step: x0.1 from step 50 (50 % of 100), x0.01 from step 75
    assert [lr_factor("step", s, 100) for s in (0, 49, 50, 74, 75, 99)] == \
        pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    # cosine: 0.5 (1 + cos(pi t / T)): 1 at 0, 0.5 at the middle, (1 + cos(pi/4)) / 2 at a quarter
    assert lr_factor("cosine", 0, 100) == pytest.approx(1.0)
    assert lr_factor("cosine", 25, 100) == pytest.approx((1 + math.sqrt(0.5)) / 2)
    assert lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    assert lr_factor("cosine", 100, 100) == pytest.approx(0.0, abs=1e-12)


def test_warmup_then_cosine_at_hand_computed_points() -> None:
    # 10 warm-up steps of 100: (s + 1) / 10, then cosine over the 90 left
    assert [lr_factor("cosine", s, 100, warmup_steps=10) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert lr_factor("cosine", 10, 100, warmup_steps=10) == pytest.approx(1.0)
    assert lr_factor("cosine", 55, 100, warmup_steps=10) == pytest.approx(0.5)
    assert lr_factor("cosine", 100, 100, warmup_steps=10) == pytest.approx(0.0, abs=1e-12)
    # the entry's warmup_cosine is that loop schedule with warmup_fraction of the steps
    assert loop_schedule("warmup_cosine", 100, 0.1) == ("cosine", 10)
    assert loop_schedule("onecycle", 100, 0.1) == ("onecycle", 0)


def test_one_cycle_at_hand_computed_points() -> None:
    # 101 steps: the rise ends at step 0.3 * 101 - 1 = 29.3, from 1/25 of the peak to the peak along a
    # half cosine; then down to peak / 25 / 1e4 at the last step (100)
    total, lo, floor = 101, 1 / 25, 1 / 25 / 1e4
    assert lr_factor("onecycle", 0, total) == pytest.approx(lo)
    # step 10 of the rise: lo + (1 - lo) (1 - cos(pi 10 / 29.3)) / 2 = 0.04 + 0.96 x 0.2609 = 0.2905
    assert lr_factor("onecycle", 10, total) == pytest.approx(0.04 + 0.96 * (1 - math.cos(math.pi * 10 / 29.3)) / 2)
    assert lr_factor("onecycle", 10, total) == pytest.approx(0.2905, abs=1e-4)
    assert lr_factor("onecycle", 29, total) == pytest.approx(1.0, abs=1e-3)
    # step 50 of the fall (pct (50 - 29.3) / 70.7): floor + (1 - floor) (1 + cos(pi pct)) / 2 = 0.8030
    assert lr_factor("onecycle", 50, total) == pytest.approx(0.8030, abs=1e-4)
    assert lr_factor("onecycle", 100, total) == pytest.approx(floor)
    assert max(lr_factor("onecycle", s, total) for s in range(total)) <= 1.0


@pytest.mark.parametrize("schedule", ["step", "cosine", "onecycle"])
def test_schedules_equal_torchs_schedulers(schedule: str) -> None:
    total, peak = 97, 0.3
    ours = [peak * lr_factor(schedule, s, total) for s in range(total)]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
    if schedule == "step":
        ref = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.5 * total), int(0.75 * total)], gamma=0.1)
    elif schedule == "cosine":
        ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=0.0)
    else:
        ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=peak, total_steps=total, cycle_momentum=False)
    theirs = []
    for _ in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_the_training_loop_uses_the_schedule_and_refuses_an_unknown_one() -> None:
    cfg = TrainConfig(epochs=1, batch_size=1, lr=1.0, schedule="step")
    f = _lr_lambda(cfg, 10)
    assert [f(s) for s in (4, 5, 7)] == pytest.approx([1.0, 0.1, 0.01])
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'linear'"):
        _lr_lambda(TrainConfig(epochs=1, batch_size=1, lr=1.0, schedule="linear"), 10)


def test_plan_compares_every_schedule_with_constant_on_energy_to_target() -> None:
    exp = EXPERIMENTS["lr_schedules"]
    values = exp.validate({})
    variants = {v.name: v for v in exp.plan(values)}
    assert list(variants) == ["constant", "step", "cosine", "onecycle", "warmup_cosine"]
    assert variants["constant"].baseline
    for name in ("step", "cosine", "onecycle", "warmup_cosine"):
        assert variants[name].references == ("constant",) and variants[name].objective == "energy"
    assert exp.headline_for(values) == "onecycle"
    assert exp.metrics["energy"] == "energy_to_target_kwh" and exp.metrics["time"] == "time_to_target_s"


def test_smoke_run_reports_each_schedules_tuned_peak_rate(tmp_path) -> None:
    params = {"profile": "smoke", "dataset": "synthetic", "schedules": ["constant", "onecycle"],
              "lr_grid": [0.03, 0.3], "target_val_accuracy": 0.5}
    runs = run_plan("lr_schedules", params, tmp_path, seed=0)
    for name, run in runs.items():
        assert run["rc"] == 0, run["stderr"][-2000:]
        r = run["result"]
        # the declared grid first, then (issue 22 item 7) log-spaced rates beyond an edge the choice sat on
        assert r["schedule"] == name and r["lr_grid"] == [0.03, 0.3] and r["lr_grid_tried"][:2] == [0.03, 0.3]
        assert r["selected_lr"] in r["lr_grid_tried"]
        assert r["energy_train_kwh"] > 0 and "energy_to_target_kwh" in r
    # the loop's rate followed each schedule at every logged step of every point of the sweep
    for name, run in runs.items():
        r = run["result"]
        steps = r["schedule_steps"]
        logged = [(e["step"], e["values"]["lr"]) for e in run["events"]
                  if e["type"] == "metric" and "lr" in e["values"]]
        assert logged
        for step, lr in logged:
            point = (step - 1) // steps
            assert lr == pytest.approx(r["lr_grid_tried"][point] * lr_factor(name, step - point * steps, steps))
