"""The language-model harness on tiny models, in-process: rank budgets, merging, perplexity
windows, response-only losses, LoRA targets per architecture, the build-once cache."""

from __future__ import annotations

import math
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from experiments.lm import lora
from experiments.lm.cache import build_once
from experiments.lm.evaluate import logits, score, windows
from experiments.lm.models import ModelError, target_suffixes, targets
from experiments.lm.tokens import IGNORE, Batches, Encoded, pad_examples


def tiny_llama(layers: int = 3, dim: int = 32, vocab: int = 64) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=dim, intermediate_size=88,
                                        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                                        max_position_embeddings=64, tie_word_embeddings=True))


def tiny_gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=64))


def stream(n: int = 600, vocab: int = 64) -> Encoded:
    return Encoded(ids=torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("allocation", ["linear_decay", "attention_heavy", "empirical"])
def test_adaptive_allocations_train_as_many_parameters_as_rank_8(allocation: str) -> None:
    model = tiny_llama(layers=4)
    suffixes = target_suffixes(model, "auto", "all")
    mods = targets(model, suffixes)
    goal = lora.budget(mods, 8)
    fixed = lora.trainable_params(lora.wrap(tiny_llama(layers=4), suffixes, 8))
    assert fixed == goal  # r * (d_in + d_out) per module, nothing else trainable
    norms = None
    if allocation == "empirical":
        batches = Batches(stream(), 4, 32, seed=0, pad_id=0)
        norms = lora.gradient_norms(model, mods, batches, 2, torch.device("cpu"))
        assert all(v > 0 for v in norms.values()) and not any(p.grad is not None for p in model.parameters())
    ranks = lora.allocate(mods, lora.weights(mods, allocation, 3.0, norms), 8)
    adapted = lora.wrap(model, suffixes, 8, ranks)
    assert abs(lora.trainable_params(adapted) / fixed - 1) <= 0.02
    assert lora.check_budget(adapted, goal, allocation) == pytest.approx(lora.trainable_params(adapted) / goal)
    # peft really used the per-module ranks
    for name, module in adapted.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            base_name = name.removeprefix("base_model.model.")
            assert module.lora_A["default"].out_features == ranks[base_name]
            assert module.scaling["default"] == pytest.approx(2.0)  # alpha = 2r everywhere
    summary = lora.rank_summary(mods, ranks)
    if allocation == "linear_decay":
        layer_means = summary["rank_by_layer_mean"]
        assert layer_means == sorted(layer_means, reverse=True) and layer_means[0] > layer_means[-1]
    if allocation == "attention_heavy":
        kinds = summary["rank_by_kind_mean"]
        assert kinds["attention"] > kinds["mlp"]


def test_allocation_meets_the_budget_for_uneven_shapes_and_weights() -> None:
    gen = torch.Generator().manual_seed(3)
    for trial in range(30):
        n = int(torch.randint(3, 40, (1,), generator=gen))
        mods = [lora.Target(f"m.{i}.x", "mlp", i, int(torch.randint(16, 600, (1,), generator=gen)),
                            int(torch.randint(16, 600, (1,), generator=gen))) for i in range(n)]
        w = (torch.rand(n, generator=gen) ** 3 + 1e-3).tolist()
        rank = int(torch.randint(2, 32, (1,), generator=gen))
        ranks = lora.allocate(mods, w, rank)
        total = sum(ranks[m.name] * m.cost for m in mods)
        assert abs(total / lora.budget(mods, rank) - 1) <= 0.02, (trial, total)
        assert all(1 <= ranks[m.name] <= min(m.d_in, m.d_out) for m in mods)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_merged_and_adapter_logits_agree_in_fp32(arch: str) -> None:
    base = tiny_llama() if arch == "llama" else tiny_gpt2()
    reference = base(input_ids=stream(32).ids[None]).logits.detach()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # GPT-2's Conv1D is adapted transposed, without a warning
        adapted = lora.wrap(base, target_suffixes(base, "auto", "all"), 8)
    with torch.no_grad():
        for name, p in adapted.named_parameters():
            if "lora_B" in name:  # as after training: B is no longer zero
                p.normal_(0, 0.2, generator=torch.Generator().manual_seed(hash(name) % 1000))
    inputs = {"input_ids": stream(4 * 48).ids.view(4, 48), "attention_mask": torch.ones(4, 48, dtype=torch.long)}
    as_adapter = logits(adapted, inputs, torch.device("cpu"))
    merged = adapted.merge_and_unload()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    diff = (logits(merged, inputs, torch.device("cpu")) - as_adapter).abs().max()
    assert float(diff) < 1e-4
    changed = (merged(input_ids=stream(32).ids[None]).logits.detach() - reference).abs().max()
    assert float(changed) > 1e-3  # the adapter did something, so agreement means something


def test_every_token_after_the_first_is_scored_once_with_enough_context() -> None:
    for n, context, stride in [(100, 32, 8), (100, 32, 32), (33, 32, 16), (10, 32, 16), (500, 64, 7)]:
        spans = windows(n, context, stride)
        scored = [p for s, first in spans for p in range(first, min(s + context, n))]
        assert sorted(scored) == list(range(1, n)), (n, context, stride)
        for s, first in spans:
            if s > 0:
                assert first - s >= context - stride


def test_perplexity_is_token_weighted_over_the_split() -> None:
    model = tiny_llama().eval()
    data = stream(200)
    got = score(model, data, context=200, stride=200, device=torch.device("cpu"))
    with torch.no_grad():
        out = model(input_ids=data.ids[None]).logits[0, :-1]
    nll = F.cross_entropy(out, data.ids[1:], reduction="mean")
    assert got.tokens == 199
    assert got.loss == pytest.approx(float(nll), rel=1e-5)
    assert got.perplexity == pytest.approx(math.exp(float(nll)), rel=1e-5)
    windowed = score(model, data, context=64, stride=16, device=torch.device("cpu"))
    assert windowed.tokens == 199 and math.isfinite(windowed.loss)


def test_instruction_examples_score_only_their_response() -> None:
    examples = [([5, 6, 7, 8, 9], 3), ([1, 2, 3], 1)]
    batch = pad_examples(examples, pad_id=0)
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, IGNORE, 8, 9], [IGNORE, 2, 3, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    enc = Encoded(examples=examples)
    assert enc.scored_tokens == 2 + 2
    got = score(tiny_llama(), enc, context=32, stride=16, device=torch.device("cpu"))
    assert got.tokens == 4


def test_lora_targets_are_chosen_per_architecture() -> None:
    llama, gpt2 = tiny_llama(), tiny_gpt2()
    assert target_suffixes(llama, "auto", "attention") == ("q_proj", "v_proj")
    assert set(target_suffixes(llama, "all", "attention")) == {"q_proj", "k_proj", "v_proj", "o_proj",
                                                              "gate_proj", "up_proj", "down_proj"}
    assert target_suffixes(gpt2, "auto", "attention") == ("c_attn",)
    assert set(target_suffixes(gpt2, "auto", "all")) == {"c_attn", "c_proj", "c_fc"}
    mods = targets(gpt2, ("c_attn",))
    assert [(m.layer, m.kind, m.d_in, m.d_out) for m in mods] == [(0, "attention", 32, 96), (1, "attention", 32, 96)]
    assert target_suffixes(llama, "q_proj, up_proj", "attention") == ("q_proj", "up_proj")
    with pytest.raises(ModelError, match="no linear layer named c_attn in this llama"):
        target_suffixes(llama, "c_attn", "attention")


def test_a_cache_folder_is_built_once_by_concurrent_runs(tmp_path: Path) -> None:
    built, waited, seen = [], [], []

    def worker(i: int) -> None:
        with build_once(tmp_path / "thing", lambda: waited.append(i)) as tmp:
            if tmp is not None:
                time.sleep(0.3)
                (tmp / "payload").write_text(str(i))
                built.append(i)
        seen.append((tmp_path / "thing" / "payload").read_text())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and seen == [str(built[0])] * 3 and len(waited) == 2
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["thing"]  # no temporary left

    with pytest.raises(RuntimeError), build_once(tmp_path / "broken") as tmp:
        assert tmp is not None
        raise RuntimeError("killed half-way")
    assert not (tmp_path / "broken").exists()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["thing"]
