"""The compression pipeline's parts on tiny models, in-process: pruning masks (magnitude, Wanda,
2:4), group-wise INT4 (round-to-nearest and GPTQ), torch.ao INT8, the packed bytes on disk and
their round trip, and distillation that keeps the compressed form."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from experiments.lm import packed
from experiments.lm.distill import Distiller, materialize, trainable
from experiments.lm.models import block_linears
from experiments.lm.packed import LayerFormat, as_linear_blocks, set_module
from experiments.lm.quantize import HessianCollector, Int4Linear, gptq_int4, int8_codes, int8_dynamic, is_int8_linear, rtn_int4
from experiments.lm.sparsity import InputNorms, make_mask, prune, run_calibration, sparsity_of, wanda_scores
from experiments.lm.tokens import Batches, Encoded

CPU = torch.device("cpu")


def tiny_llama(layers: int = 2, dim: int = 48, vocab: int = 96, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=dim, intermediate_size=136,
                                        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                                        max_position_embeddings=64, tie_word_embeddings=True))


def calibration(vocab: int = 96, rows: int = 6, width: int = 32) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return [torch.randint(0, vocab, (rows, width), generator=g) for _ in range(2)]


def dense_formats(model: torch.nn.Module) -> dict[str, LayerFormat]:
    return {name: LayerFormat("dense", "fp32") for name, _ in block_linears(model)}


@pytest.mark.parametrize("criterion", ["magnitude", "wanda"])
@pytest.mark.parametrize("sparsity", [0.5, 0.6])
def test_unstructured_masks_reach_the_declared_sparsity(criterion: str, sparsity: float) -> None:
    model = tiny_llama()
    masks = prune(model, criterion, sparsity, "unstructured", calibration(), CPU)
    assert len(masks) == len(block_linears(model)) == 14
    for name, module in block_linears(model):
        keep = masks[name]
        rows, cols = keep.shape
        if criterion == "wanda":  # Wanda's comparison group is the output row
            assert (keep.sum(1) == cols - int(cols * sparsity)).all(), name
        else:  # magnitude: one threshold per layer
            assert int((~keep).sum()) == int(rows * cols * sparsity), name
        assert bool((module.weight[~keep] == 0).all()) and bool((module.weight[keep] != 0).all())
    assert sparsity_of(model) == pytest.approx(sparsity, abs=1 / 48)


def test_wanda_scores_weights_by_their_input_norm_and_differs_from_magnitude() -> None:
    w = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    sq = torch.tensor([100.0, 1.0, 1.0, 0.01])  # the first input is large, the last tiny
    scores = wanda_scores(w, sq)
    assert torch.allclose(scores, w * sq.sqrt())
    keep = make_mask(scores, "wanda", 0.5, "unstructured")
    assert keep.tolist() == [[True, False, True, False], [True, True, False, False]]
    assert make_mask(w.abs(), "magnitude", 0.5, "unstructured").tolist() == [[False, False, True, True],
                                                                            [True, True, False, False]]
    # the hooks measure sum over tokens of x_j^2 at each layer's input
    layer = torch.nn.Linear(4, 2)
    norms = InputNorms([("l", layer)])
    x = torch.randn(3, 5, 4)
    layer(x)
    norms.close()
    assert torch.allclose(norms.sums["l"], (x.double() ** 2).sum((0, 1)))


@pytest.mark.parametrize("criterion", ["magnitude", "wanda"])
def test_2_4_masks_have_exactly_two_non_zeros_in_every_group_of_four(criterion: str) -> None:
    model = tiny_llama()
    masks = prune(model, criterion, 0.5, "2:4", calibration(), CPU)
    for name, module in block_linears(model):
        groups = module.weight.reshape(module.weight.shape[0], -1, 4)
        assert bool(((groups != 0).sum(-1) == 2).all()), name
        assert bool((masks[name].reshape(groups.shape).sum(-1) == 2).all())
    assert sparsity_of(model) == 0.5


def test_wanda_measures_each_block_after_the_blocks_before_it_are_pruned() -> None:
    """Block 1's input norms come from a model whose block 0 is already pruned."""
    model = tiny_llama()
    sequential = prune(tiny_llama(), "wanda", 0.5, "unstructured", calibration(), CPU)
    # one-shot alternative: all norms from the dense model
    dense = tiny_llama()
    norms = InputNorms(block_linears(dense))
    run_calibration(dense, calibration(), CPU)
    norms.close()
    name = "model.layers.1.mlp.down_proj"
    one_shot = make_mask(wanda_scores(dict(block_linears(model))[name].weight, norms.sums[name]),
                         "wanda", 0.5, "unstructured")
    first = "model.layers.0.self_attn.q_proj"
    one_shot_first = make_mask(wanda_scores(dict(block_linears(model))[first].weight, norms.sums[first]),
                               "wanda", 0.5, "unstructured")
    assert torch.equal(sequential[first], one_shot_first)   # block 0 sees the same inputs either way
    assert not torch.equal(sequential[name], one_shot)      # block 1 sees the pruned block 0


def test_int4_is_within_the_quantization_step_and_zeros_stay_zero() -> None:
    torch.manual_seed(1)
    w = torch.randn(16, 200)
    keep = torch.rand(16, 200) > 0.5
    w = w * keep
    q = rtn_int4(w, 64, keep)
    assert q.codes.dtype == torch.uint8 and int(q.codes.max()) <= 15 and q.scale.dtype == torch.float16
    deq = q.dequantize()
    step = q.scale.float()[:, torch.arange(200) // 64]
    assert bool(((w - deq).abs() <= step / 2 + 1e-6).all())
    assert bool((deq[~keep] == 0).all())
    # the scale is as fine as the group's range allows: 15 steps span it, not more than one step wider
    span = (w.reshape(16, -1)[:, :64].amax(1).clamp(min=0) - w[:, :64].amin(1).clamp(max=0))
    assert bool((q.scale[:, 0].float() * 15 >= span - 1e-6).all())
    assert bool((q.scale[:, 0].float() * 15 <= span * 1.002 + 1e-6).all())


def test_gptq_lowers_the_layer_output_error_of_round_to_nearest() -> None:
    torch.manual_seed(2)
    layer = torch.nn.Linear(96, 32, bias=False)
    x = torch.randn(512, 96) @ torch.randn(96, 96) * 0.3  # correlated inputs: where GPTQ helps
    collect = HessianCollector([("l", layer)])
    layer(x)
    collect.close()
    assert torch.allclose(collect.h["l"], 2 / 512 * x.double().T @ x.double(), rtol=1e-6, atol=1e-8)
    ref = x @ layer.weight.detach().T
    rtn = rtn_int4(layer.weight, 32).dequantize()
    gptq = gptq_int4(layer.weight, collect.h["l"], 32).dequantize()
    err_rtn = ((x @ rtn.T - ref) ** 2).mean()
    err_gptq = ((x @ gptq.T - ref) ** 2).mean()
    assert err_gptq < 0.8 * err_rtn


def test_the_4bit_model_is_under_0_3x_of_fp32_on_disk_and_loads_back_within_a_step(tmp_path: Path) -> None:
    model = as_linear_blocks(tiny_llama())
    model.save_pretrained(str(tmp_path / "fp32"))
    fp32_bytes = sum(f.stat().st_size for f in (tmp_path / "fp32").iterdir() if f.suffix in (".safetensors", ".json"))
    originals = {name: m.weight.detach().clone() for name, m in block_linears(model)}
    formats, steps = {}, {}
    for name, module in block_linears(model):
        q = rtn_int4(module.weight, 32)
        steps[name] = q.scale.float()[:, torch.arange(q.shape[1]) // 32]
        set_module(model, name, Int4Linear(q, module.bias))
        formats[name] = LayerFormat("dense", "int4", 32)
    size = packed.save(model, tmp_path / "int4", formats, {})
    assert size == packed.size_on_disk(tmp_path / "int4") < 0.3 * fp32_bytes
    loaded, got_formats, masks, _ = packed.load(tmp_path / "int4", CPU)
    assert got_formats == formats and masks == {}
    for name, module in block_linears(loaded):
        assert isinstance(module, Int4Linear)
        assert bool(((module.weight_float() - originals[name]).abs() <= steps[name] / 2 + 1e-6).all()), name
    # embeddings and norms are stored in FP16 beside 4-bit layers: the same model with them rounded
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
        ids = calibration()[0]
        assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)


@pytest.mark.parametrize("pattern", ["unstructured", "2:4"])
@pytest.mark.parametrize("values", ["fp32", "int4", "int8"])
def test_sparse_layers_round_trip_through_their_packed_bytes(tmp_path: Path, pattern: str, values: str) -> None:
    model = as_linear_blocks(tiny_llama())
    masks = prune(model, "magnitude", 0.5, pattern, [], CPU)
    formats = {name: LayerFormat(pattern, values, 32 if values == "int4" else 0) for name, _ in block_linears(model)}
    if values == "int4":
        for name, module in block_linears(model):
            set_module(model, name, Int4Linear(rtn_int4(module.weight, 32, masks[name]), module.bias))
    elif values == "int8":
        int8_dynamic(model, list(formats))
    size = packed.save(model, tmp_path / "m", formats, masks)
    loaded, _, got_masks, _ = packed.load(tmp_path / "m", CPU)
    assert set(got_masks) == set(masks) and all(torch.equal(got_masks[n], masks[n]) for n in masks)
    ids = calibration()[0]
    with torch.no_grad():
        if values != "fp32":  # embeddings and norms are stored in FP16 beside quantized layers
            for _, p in model.named_parameters():
                p.copy_(p.half().float())
        assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)
    weights = sum(m.numel() for m in masks.values())
    layer_bits = {"fp32": 32, "int4": 4, "int8": 8}[values] * 0.5 + 1  # half the values, one index bit each
    others = sum(p.numel() for n, p in model.named_parameters() if "layers." not in n or "norm" in n)
    others_bytes = others * (2 if values != "fp32" else 4)
    assert size < weights * layer_bits / 8 * 1.1 + others_bytes + 20_000  # +group scales, header, config


def test_int8_codes_are_torch_ao_s() -> None:
    model = as_linear_blocks(tiny_llama())
    names = [n for n, _ in block_linears(model)]
    weights = {n: m.weight.detach().clone() for n, m in block_linears(model)}
    int8_dynamic(model, names)
    for name, module in ((n, m) for n, m in model.named_modules() if n in weights):
        assert is_int8_linear(module)
        codes, scale = int8_codes(weights[name])
        assert torch.equal(module.weight().int_repr(), codes) and module.weight().q_scale() == pytest.approx(scale)
    assert not is_int8_linear(model.lm_head)  # the head (tied to the embeddings) stays as it was


def test_a_gpt2_model_compresses_through_its_linear_equivalent(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64)).eval()
    ids = calibration()[0]
    with torch.no_grad():
        before = model(input_ids=ids).logits
        as_linear_blocks(model)
        assert torch.allclose(model(input_ids=ids).logits, before, atol=1e-5)
    masks = prune(model, "wanda", 0.5, "unstructured", calibration(), CPU)
    formats = {n: LayerFormat("unstructured", "fp32") for n in masks}
    packed.save(model, tmp_path / "g", formats, masks)
    loaded, _, _, _ = packed.load(tmp_path / "g", CPU)
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)


def test_distillation_keeps_the_mask_and_the_4bit_form() -> None:
    teacher = tiny_llama(seed=5)
    with torch.no_grad():
        teacher.lm_head.weight.mul_(20)  # a teacher with confident predictions to learn from
    student = as_linear_blocks(tiny_llama())
    masks = prune(student, "magnitude", 0.6, "unstructured", [], CPU)
    formats = {}
    for name, module in block_linears(student):
        set_module(student, name, Int4Linear(rtn_int4(module.weight, 32, masks[name]), module.bias))
        formats[name] = LayerFormat("unstructured", "int4", 32)
    trainable(student, formats, masks, CPU)
    wrapper = Distiller(student, teacher, 1.0)
    batches = Batches(Encoded(ids=torch.randint(0, 96, (400,))), 4, 32, seed=0, pad_id=0)
    opt = torch.optim.AdamW([p for p in wrapper.parameters() if p.requires_grad], lr=3e-3)
    fixed = batches()
    first = None
    for _ in range(15):
        loss = wrapper(**fixed).loss
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.9 * first  # the KL to the teacher falls
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    materialize(student, formats, masks)
    for name, module in block_linears(student):
        assert isinstance(module, Int4Linear)
        w = module.weight_float()
        assert bool((w[~masks[name]] == 0).all()), name
    # a student equal to its teacher has a KL of zero
    same = Distiller(tiny_llama(), tiny_llama(), 2.0)
    assert float(same(**batches()).loss.detach()) == pytest.approx(0.0, abs=1e-6)
    assert math.isfinite(float(loss.detach()))
