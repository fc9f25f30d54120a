"""Issue 26 items 1-3 through the real engine at `smoke`: sophia (a language model's pre-training),
low_rank and lr_schedules (trimmed plans), each experiment done, every run recorded with its result
and the experiment rated."""

from __future__ import annotations

import json

from tests.conftest import LabHarness
from tests.experiments.helpers import run_and_rate

SUBMISSIONS = {
    "sophia": ("lr_grid_adamw=0.003", "lr_grid_lion=0.0003", "lr_grid_sophia=0.003", "steps=6", "evals=2",
               "hessian_every=2"),
    "low_rank": ("ranks=8", "prunings=structured", "hidden=64,64", "dataset=synthetic"),
    "lr_schedules": ("schedules=constant,warmup_cosine", "lr_grid=0.1", "dataset=synthetic"),
}
VARIANTS = {
    "sophia": {"adamw", "lion", "sophia"},
    "low_rank": {"dense", "lowrank-r8", "structured-r8"},
    "lr_schedules": {"constant", "warmup_cosine"},
}


def test_the_training_method_entries_run_and_are_rated_through_the_engine(real_lab: LabHarness) -> None:
    ids = run_and_rate(real_lab, SUBMISSIONS, VARIANTS)
    sophia = json.loads(next(r for r in real_lab.run_rows(ids["sophia"]) if r["variant"] == "sophia")["result"])
    assert sophia["hessian_updates"] == 3 and sophia["budget_steps"] == 6
