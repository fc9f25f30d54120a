"""SparseGPT and AWQ checked against what they claim, on fixed layers with fixed calibration data:
SparseGPT's reconstruction error below magnitude's and Wanda's (and its one-weight case equal to
the least-squares optimum), AWQ's scales lowering the activation-weighted quantization error of
round-to-nearest, and both on a tiny Llama through the packed format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from experiments.lm import packed
from experiments.lm.awq import act_scale, awq_int4, fold_scale, scales_for, search_clip, search_scale
from experiments.lm.models import block_linears
from experiments.lm.packed import LayerFormat, as_linear_blocks, set_module
from experiments.lm.quantize import HessianCollector, Int4Linear, rtn_int4
from experiments.lm.sparsegpt import sparsegpt_prune, sparsegpt_weight
from experiments.lm.sparsity import magnitude_scores, make_mask, wanda_scores
from tests.experiments.test_lm_compression import calibration, tiny_llama

CPU = torch.device("cpu")


def layer_case(seed: int = 5, rows: int = 48, cols: int = 256, tokens: int = 1024
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(weight, inputs, Hessian): inputs of uneven scale whose channels are correlated (a few
    shared directions plus noise), as a transformer's are."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g) * 0.05
    scale = torch.exp(0.5 * torch.randn(cols, generator=g))
    shared = torch.randn(tokens, 32, generator=g) @ torch.randn(32, cols, generator=g) / 32 ** 0.5
    x = (shared + 0.5 * torch.randn(tokens, cols, generator=g)) * scale
    layer = torch.nn.Linear(cols, rows, bias=False)
    layer.weight.data.copy_(w)
    collect = HessianCollector([("l", layer)])
    layer(x)
    collect.close()
    return w, x, collect.h["l"]


def recon_error(w: torch.Tensor, w_hat: torch.Tensor, x: torch.Tensor) -> float:
    return float(((x @ (w - w_hat).T) ** 2).sum())


@pytest.mark.parametrize("sparsity,pattern", [(0.5, "unstructured"), (0.6, "unstructured"), (0.5, "2:4")])
def test_sparsegpt_reconstructs_a_layer_better_than_magnitude_and_wanda(sparsity: float, pattern: str) -> None:
    w, x, h = layer_case()
    sq = (x.double() ** 2).sum(0)
    errors = {}
    for criterion, scores in (("magnitude", magnitude_scores(w)), ("wanda", wanda_scores(w, sq))):
        keep = make_mask(scores, criterion, sparsity, pattern)
        errors[criterion] = recon_error(w, w * keep, x)
    w_sgpt, keep = sparsegpt_weight(w, h, sparsity, pattern)
    errors["sparsegpt"] = recon_error(w, w_sgpt, x)
    # the pruned weights are exactly zero, the declared share of them
    assert bool((w_sgpt[~keep] == 0).all())
    if pattern == "2:4":
        assert bool((keep.view(w.shape[0], -1, 4).sum(-1) == 2).all())
    else:
        assert int((~keep).sum()) == pytest.approx(w.numel() * sparsity, abs=w.shape[1] // 128 + 1)
    assert errors["wanda"] < errors["magnitude"]  # the activation-aware score helps already ...
    assert errors["sparsegpt"] < 0.6 * errors["wanda"], errors  # ... reconstruction helps more


def test_pruning_the_first_weight_alone_gives_the_least_squares_optimum() -> None:
    """OBS is exact for one weight: SparseGPT's update of the other columns, without damping, is
    the least-squares refit of the row with that weight fixed at zero."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    w = torch.tensor([[0.01, 0.5, -0.3, 0.8, 0.2, -0.6]], dtype=torch.float64)
    h = 2 / 200 * x.T @ x
    # sparsity 1/6 prunes one weight of the row's block: the first has the lowest saliency
    w_hat, keep = sparsegpt_weight(w, h, 1 / 6, damp=0.0)
    assert keep.tolist() == [[False, True, True, True, True, True]]
    target = x @ w[0]
    refit = torch.linalg.lstsq(x[:, 1:], target[:, None]).solution[:, 0]
    assert torch.allclose(w_hat[0, 1:], refit, atol=1e-9) and w_hat[0, 0] == 0


def test_sparsegpt_prunes_a_model_block_by_block_to_the_declared_pattern() -> None:
    model = tiny_llama()
    masks = sparsegpt_prune(model, 0.5, "2:4", calibration(), CPU)
    assert set(masks) == {n for n, _ in block_linears(model)}
    for name, module in block_linears(model):
        keep = masks[name]
        assert bool((module.weight[~keep] == 0).all())
        assert bool((keep.view(keep.shape[0], -1, 4).sum(-1) == 2).all()), name


def salient_case(seed: int = 7) -> tuple[torch.nn.Linear, torch.Tensor]:
    """A layer whose inputs have a few channels 20x larger than the rest (LLM activations' outliers)."""
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(256, 64, bias=False)
    layer.weight.data.copy_(torch.randn(64, 256, generator=g) * 0.05)
    x = torch.randn(512, 256, generator=g)
    x[:, torch.randperm(256, generator=g)[:4]] *= 20.0
    return layer, x


def test_awq_scales_reduce_the_activation_weighted_error_of_round_to_nearest() -> None:
    layer, x = salient_case()
    w = layer.weight.detach().clone()
    ref = x @ w.T
    rtn = rtn_int4(w, 128).dequantize()
    s, ratio, losses = search_scale(lambda: layer(x), [layer], act_scale(x), 128, [None])
    assert torch.equal(layer.weight, w)  # the search leaves the weights as they were
    assert 0 < ratio < 1 and len(losses) == 20
    awq = rtn_int4(w * s[None, :], 128).dequantize() / s[None, :]
    err_rtn = float(((x @ rtn.T - ref) ** 2).mean())
    err_awq = float(((x @ awq.T - ref) ** 2).mean())
    assert losses[0] == pytest.approx(err_rtn, rel=1e-4)  # alpha = 0 is round-to-nearest
    assert err_awq == pytest.approx(min(losses), rel=1e-4) and err_awq < 0.8 * err_rtn
    # the scales follow the activations: the salient channels get the largest
    top = torch.topk(act_scale(x), 4).indices
    assert set(torch.topk(s, 4).indices.tolist()) == set(top.tolist())
    assert torch.allclose(scales_for(act_scale(x), 0.0), torch.ones(256))


def test_clipping_lowers_each_group_s_output_error() -> None:
    layer, x = salient_case(9)
    w = layer.weight.detach()
    bound = search_clip(w, x, 128, None)
    assert bound.shape == (64, 2)
    top = w.view(64, 2, 128).abs().amax(-1)
    assert bool((bound <= top + 1e-7).all()) and bool((bound >= 0.5 * top - 1e-7).all())
    clipped = torch.maximum(torch.minimum(w, bound.repeat_interleave(128, 1)), -bound.repeat_interleave(128, 1))
    err = ((x @ (rtn_int4(clipped, 128).dequantize() - w).T) ** 2).mean()
    err_rtn = ((x @ (rtn_int4(w, 128).dequantize() - w).T) ** 2).mean()
    assert err <= err_rtn


def test_folding_the_scales_keeps_the_block_s_function() -> None:
    model = tiny_llama()
    ids = calibration()[0]
    with torch.no_grad():
        before = model(input_ids=ids).logits
        block = model.model.layers[0]
        s = torch.rand(48) + 0.5
        fold_scale(block.input_layernorm, [block.self_attn.q_proj, block.self_attn.k_proj, block.self_attn.v_proj], s)
        s2 = torch.rand(136) + 0.5
        fold_scale(block.mlp.up_proj, [block.mlp.down_proj], s2)
        after = model(input_ids=ids).logits
    assert torch.allclose(before, after, atol=1e-4)


def test_awq_on_a_tiny_llama_stays_close_and_round_trips_through_the_packed_bytes(tmp_path: Path) -> None:
    model = as_linear_blocks(tiny_llama())
    ids = calibration()[1]
    with torch.no_grad():
        ref = model(input_ids=ids).logits
    weights, report = awq_int4(model, {}, calibration(), 32, CPU)
    assert set(report.ratios) == {f"model.layers.{i}.{p}" for i in (0, 1) for p in
                                  ("input_layernorm", "self_attn.v_proj", "post_attention_layernorm", "mlp.up_proj")}
    assert all(report.awq_loss[k] <= report.rtn_loss[k] for k in report.ratios)
    formats = {}
    for name, module in block_linears(model):
        set_module(model, name, Int4Linear(weights[name], module.bias))
        formats[name] = LayerFormat("dense", "int4", 32)
    with torch.no_grad():
        out = model(input_ids=ids).logits
    assert float((out - ref).abs().max()) < 0.5 * float(ref.abs().max())
    packed.save(model, tmp_path / "awq", formats, {})
    back, fmts, _, _ = packed.load(tmp_path / "awq", CPU)
    with torch.no_grad():
        again = back(input_ids=ids).logits
    assert fmts == formats and float((again - out).abs().max()) < 1e-2  # norms stored in FP16


def test_awq_after_sparsegpt_keeps_the_pruned_weights_zero() -> None:
    model = as_linear_blocks(tiny_llama())
    masks = sparsegpt_prune(model, 0.5, "unstructured", calibration(), CPU)
    weights, _ = awq_int4(model, masks, calibration(), 32, CPU)
    for name, keep in masks.items():
        w = weights[name].dequantize()
        assert bool((w[~keep] == 0).all()), name
        assert int((w[keep] != 0).sum()) > 0.9 * int(keep.sum())  # the kept weights mostly survive rounding
