"""Low-rank factorization (issue 26 item 2): the truncated SVD against hand-computed cases (exact at
full rank, the Eckart-Young error at rank k, the parameter count, the rank for a kept energy), the
factorized model's function, and the entry's plan and smoke run against pruning at the same count."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from experiments.catalog import EXPERIMENTS
from experiments.harness.lowrank import (
    factorize_linear,
    factorize_model,
    factorized_params,
    rank_for_energy,
    saves,
    svd_factors,
)
from experiments.harness.models import MLP
from tests.experiments.helpers import run_plan


def test_a_hand_computed_rank_one_case() -> None:
    # W = diag(3, 2, 1): its best rank-1 approximation keeps the 3, error sqrt(2^2 + 1^2)
    w = torch.diag(torch.tensor([3.0, 2.0, 1.0]))
    a, b, s = svd_factors(w, 1)
    assert s.tolist() == pytest.approx([3.0, 2.0, 1.0])
    assert a.shape == (3, 1) and b.shape == (1, 3)
    assert torch.allclose(a @ b, torch.tensor([[3.0, 0, 0], [0, 0, 0], [0, 0, 0]]), atol=1e-6)
    assert float(torch.linalg.norm(w - a @ b)) == pytest.approx(math.sqrt(5))
    # the singular values are split evenly: both factors carry sqrt(3)
    assert float(a.abs().max()) == pytest.approx(math.sqrt(3)) and float(b.abs().max()) == pytest.approx(math.sqrt(3))


def test_full_rank_reconstructs_exactly_and_rank_k_meets_eckart_young() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(12, 20, generator=g, dtype=torch.float64)
    a, b, s = svd_factors(w, 12)
    assert torch.allclose(a @ b, w, atol=1e-10)
    for k in (1, 4, 9):
        a, b, s = svd_factors(w, k)
        err = float(torch.linalg.norm(w - a @ b))
        assert err == pytest.approx(float(s[k:].pow(2).sum().sqrt()), rel=1e-9)  # sqrt(sum of the dropped sigma^2)
        # and no other rank-k matrix of a few random ones does better
        for _ in range(5):
            other = torch.randn(12, k, generator=g, dtype=torch.float64) @ torch.randn(k, 20, generator=g,
                                                                                        dtype=torch.float64)
            assert float(torch.linalg.norm(w - other)) > err


def test_parameter_count_and_when_it_saves() -> None:
    assert factorized_params(64, 256, 16) == 16 * (64 + 256) + 256
    assert factorized_params(64, 256, 16, bias=False) == 16 * 320
    assert saves(64, 256, 51) and not saves(64, 256, 52)  # break-even 64 x 256 / 320 = 51.2
    layer = nn.Linear(64, 256)
    seq = factorize_linear(layer, 16)
    assert sum(p.numel() for p in seq.parameters()) == factorized_params(64, 256, 16)


def test_rank_for_kept_energy() -> None:
    s = torch.tensor([3.0, 2.0, 1.0])  # energies 9/14, 13/14, 14/14
    assert rank_for_energy(s, 0.5) == 1
    assert rank_for_energy(s, 9 / 14) == 1
    assert rank_for_energy(s, 0.9) == 2
    assert rank_for_energy(s, 0.95) == 3
    assert rank_for_energy(s, 1.0) == 3


def test_factorized_model_computes_the_truncated_product_and_counts_its_parameters() -> None:
    torch.manual_seed(0)
    model = MLP(64, [256, 256], 10)
    x = torch.randn(5, 64)
    before = model(x)
    full = MLP(64, [256, 256], 10)
    full.load_state_dict(model.state_dict())
    layers = factorize_model(full, rank=10)  # 256 -> 10 cannot shrink at rank 10: kept dense
    assert [f.factorized for f in layers] == [True, True, False]
    assert [f.rank for f in layers] == [10, 10, 10]
    assert sum(p.numel() for p in full.parameters()) == sum(f.params_after for f in layers) == \
        factorized_params(64, 256, 10) + factorized_params(256, 256, 10) + 256 * 10 + 10
    # layer by layer, the factorized layer is the bias plus the rank-10 SVD product
    first = model.net[1]
    a, b, _ = svd_factors(first.weight, 10)
    assert torch.allclose(full.net[1](x), x @ (a @ b).T + first.bias, atol=1e-5)
    # the first layer's relative error is sqrt(dropped energy)
    s = torch.linalg.svdvals(first.weight.detach().double())
    assert layers[0].relative_error == pytest.approx(float((s[10:] ** 2).sum().sqrt() / (s ** 2).sum().sqrt()))
    assert layers[0].kept_energy == pytest.approx(float((s[:10] ** 2).sum() / (s ** 2).sum()))
    # at full rank (where it does not save) nothing changes
    same = MLP(64, [256, 256], 10)
    same.load_state_dict(model.state_dict())
    assert not any(f.factorized for f in factorize_model(same, rank=256))
    assert torch.equal(same(x), before)


def test_plan_matches_each_factorization_with_pruning_at_its_count() -> None:
    exp = EXPERIMENTS["low_rank"]
    values = exp.validate({"energy": 0.9})
    variants = {v.name: v for v in exp.plan(values)}
    assert list(variants) == ["dense", "lowrank-r16", "structured-r16", "magnitude-r16", "lowrank-r32",
                              "structured-r32", "magnitude-r32", "lowrank-r64", "structured-r64", "magnitude-r64",
                              "lowrank-e90", "structured-e90", "magnitude-e90"]
    low = variants["lowrank-r32"]
    assert low.references == ("structured-r32", "magnitude-r32", "dense") and low.objective == "quality"
    assert variants["magnitude-r32"].params == {"method": "magnitude", "match": "lowrank-r32"}
    assert variants["magnitude-r32"].depends_on == ("dense", "lowrank-r32")
    assert exp.headline_for(exp.validate({})) == "lowrank-r32"


def test_smoke_run_prunes_to_the_factorizations_parameter_count(tmp_path) -> None:
    params = {"profile": "smoke", "dataset": "synthetic", "ranks": [8], "hidden": [64, 64]}
    runs = run_plan("low_rank", params, tmp_path, seed=0)
    for name, run in runs.items():
        assert run["rc"] == 0, f"{name}: {run['stderr'][-2000:]}"
    low, mag, struct = (runs[n]["result"] for n in ("lowrank-r8", "magnitude-r8", "structured-r8"))
    dense = runs["dense"]["result"]
    assert low["ranks"][:2] == [8, 8] and low["params_total"] < dense["params_total"]
    assert low["params_removed_fraction"] == pytest.approx(1 - low["params_total"] / dense["params_total"])
    assert mag["matched_to"] == "lowrank-r8"
    # the same parameter count: magnitude to the weight, structured to the nearest neuron count
    assert mag["params_nonzero"] == pytest.approx(low["params_nonzero"], rel=0.01)
    assert struct["params_total"] == pytest.approx(low["params_total"], rel=0.05)
    assert low["budget_steps"] == mag["budget_steps"] == struct["budget_steps"] == dense["budget_steps"]
    assert "speedup" in low and 0.0 <= low["test_accuracy"] <= 1.0
