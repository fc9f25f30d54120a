"""Issue 26 items 1-3 through the real engine at `smoke`: sophia (a language model's pre-training),
low_rank and lr_schedules (trimmed plans), each experiment done, every run recorded with its result
and the experiment rated."""

from __future__ import annotations

import json

from tests.conftest import LabHarness

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


def test_the_training_method_entries_run_and_are_rated_through_the_engine(lab: LabHarness) -> None:
    lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "experiments"  # the real catalog, not the stand-in
    ids = {name: lab.submit(name, "profile=smoke", *params, seeds=1) for name, params in SUBMISSIONS.items()}
    for name, exp_id in ids.items():
        exp = lab.wait_experiment(exp_id, timeout=900)
        assert exp["status"] == "done", (name, exp["error"])
        runs = {r["variant"]: r for r in lab.run_rows(exp_id)}
        assert set(runs) == VARIANTS[name], name
        for variant, run in runs.items():
            result = json.loads(run["result"])
            assert result["variant"] == variant and result["profile"] == "smoke", (name, variant)
        rated = lab.wait_for(lambda i=exp_id: lab.experiment(i)["rating"], 120, f"the rating of {name}")
        assert 1 <= rated <= 6, name  # smoke runs and one seed never rate above 6
    sophia = json.loads(next(r for r in lab.run_rows(ids["sophia"]) if r["variant"] == "sophia")["result"])
    assert sophia["hessian_updates"] == 3 and sophia["budget_steps"] == 6
