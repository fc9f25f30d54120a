"""Meta-learning's parts in-process: tasks from speakers and from JSONL domains, ANIL's inner loop
(only the adapted parameters change), the first-order outer step (only LoRA changes, the inner
parameters are restored), and paired episodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from experiments.lm import lora
from experiments.lm.corpus import ROMEO_AND_JULIET, DataError
from experiments.lm.meta import (
    Episodes,
    Task,
    adapt_and_score,
    inner_loop,
    inner_parameters,
    lora_parameters,
    meta_train,
    multitask_batches,
)
from experiments.lm.tasks import load_tasks
from experiments.lm.tokens import Encoded
from experiments.lm.train import config

CPU = torch.device("cpu")


class _Events:
    def __init__(self) -> None:
        self.metrics: list[dict[str, float]] = []

    def metric(self, step: int, **values: float) -> None:
        self.metrics.append(values)

    def log(self, *_: object) -> None:
        pass

    def progress(self, *_: object) -> None:
        pass


def tiny(layers: int = 3) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=88, num_hidden_layers=layers,
                                        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                                        tie_word_embeddings=True))


def tasks(n: int = 5) -> list[Task]:
    g = torch.Generator().manual_seed(4)
    return [Task(f"t{i}", Encoded(ids=torch.randint(0, 64, (300,), generator=g)),
                 Encoded(ids=torch.randint(0, 64, (300,), generator=g))) for i in range(n)]


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}


@pytest.mark.parametrize("which", ["last_block", "head"])
def test_anil_s_inner_loop_changes_only_the_adapted_parameters(which: str) -> None:
    model = lora.wrap(tiny(), ("q_proj", "v_proj"), 4)
    # LoRA's B starts at zero: give it values so the test would see it move
    with torch.no_grad():
        for p in lora_parameters(model):
            p.normal_(0, 0.02)
    inner = [p for _, p in inner_parameters(model, which)]
    for p in inner:
        p.requires_grad_(True)
    before = snapshot(model)
    batch = Episodes(tasks(), 1, 4, 32, seed=0, pad_id=0)()[0][0]
    inner_loop(model, inner, batch, 2, 0.5)
    moved = changed(model, before)
    names = {n for n, p in model.named_parameters() if any(p is q for q in inner)}
    assert moved and moved <= names, moved - names
    if which == "last_block":
        assert all(".layers.2." in n and "lora_" not in n for n in names)
        assert any("mlp" in n for n in moved) and any("self_attn" in n for n in moved)
    else:
        assert names == {"base_model.model.lm_head.weight"}
        # the head was untied: the input embeddings did not move with it
        assert "base_model.model.model.embed_tokens.weight" not in moved
    assert all(p.grad is None for p in model.parameters())  # the inner loop leaves no gradients behind


def test_a_first_order_outer_step_changes_only_lora_and_restores_the_inner_parameters() -> None:
    model = lora.wrap(tiny(), ("q_proj", "v_proj", "up_proj"), 4)
    inner = [p for _, p in inner_parameters(model, "last_block")]
    for p in inner:
        p.requires_grad_(True)
    before = snapshot(model)
    events = _Events()
    got = meta_train(model, Episodes(tasks(), 2, 4, 32, seed=0, pad_id=0), inner,
                     config(3, 16, 1e-2, clip_norm=0.5), 0.5, 1, events, CPU)  # type: ignore[arg-type]
    assert got.steps == 3 and not got.diverged and len(got.grad_norms) == 3
    moved = changed(model, before)
    assert moved and all("lora_" in n for n in moved)
    assert {n for n in moved if "lora_B" in n}  # the outer step reached the adapters
    assert events.metrics and "support_loss" in events.metrics[0]


def test_episodes_are_paired_by_seed_and_multitask_sees_the_same_sequences() -> None:
    a = Episodes(tasks(), 2, 4, 32, seed=3, pad_id=0)
    b = Episodes(tasks(), 2, 4, 32, seed=3, pad_id=0)
    first = a()
    same = b()
    assert len(first) == 2 and all(torch.equal(x[0]["input_ids"], y[0]["input_ids"]) for x, y in zip(first, same))
    c = Episodes(tasks(), 2, 4, 32, seed=3, pad_id=0)
    batch = multitask_batches(c)()
    assert batch["input_ids"].shape[0] == 16
    assert torch.equal(batch["input_ids"][:4], first[0][0]["input_ids"])


def test_adaptation_restores_the_model_after_each_task() -> None:
    model = tiny()
    inner = [p for _, p in inner_parameters(model, "last_block")]
    before = snapshot(model)
    scores = adapt_and_score(model, inner, tasks(3), 3, 0.5, 4, 32, 16, 0, 0, CPU)
    assert set(scores) == {"t0", "t1", "t2"} and all(s.tokens == 299 for s in scores.values())
    assert not changed(model, before)
    unadapted = adapt_and_score(model, inner, tasks(3), 0, 0.5, 4, 32, 16, 0, 0, CPU)
    assert all(unadapted[n].loss != scores[n].loss for n in scores)


def test_speaker_tasks_hold_out_the_domain_speakers() -> None:
    split = load_tasks("", ROMEO_AND_JULIET, 3000, 4, 0.25)
    test = {t.name for t in split.test}
    assert test == {"ROMEO", "JULIET", "FRIAR LAURENCE", "CAPULET", "MERCUTIO", "Nurse", "BENVOLIO",
                    "LADY CAPULET", "MONTAGUE", "PARIS"}
    names = [t.name for t in split.train + split.val]
    assert len(split.val) == 4 and len(names) == len(set(names)) and not test & set(names)
    assert len(split.train) >= 50
    for t in split.test + split.train:
        assert t.support_text and t.query_text and (t.support_text + t.query_text).count(t.name + ":") >= 1


def test_jsonl_domains_become_tasks_and_records_without_one_are_refused(tmp_path: Path) -> None:
    rows = [{"instruction": f"say {i}", "output": f"answer {i} of {d}", "domain": d}
            for d in ("law", "cooking", "chess", "music", "poetry") for i in range(8)]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    split = load_tasks(str(path), ROMEO_AND_JULIET, 3000, 1, 0.25)
    assert len(split.test) == 1 and len(split.val) == 1 and len(split.train) == 3
    assert all(len(t.support_records) == len(t.query_records) == 4 for t in split.train)
    plain = tmp_path / "p.jsonl"
    plain.write_text("\n".join(json.dumps({"instruction": "a", "output": "b"}) for _ in range(5)) + "\n")
    with pytest.raises(DataError, match="domain"):
        load_tasks(str(plain), ROMEO_AND_JULIET, 3000, 1, 0.25)
    with pytest.raises(DataError, match="meta-train"):
        load_tasks("", ("ROMEO",), 10**7, 1, 0.25)
