"""Speculative decoding (Leviathan et al. 2023; Chen et al. 2023) with transformers' assisted
generation: a cheap draft model proposes ``gamma`` tokens, the target checks them in one forward
pass and keeps the longest agreeing prefix plus one token of its own. Under greedy decoding the
output is the target's own greedy output; only the time changes.

What is counted, per generation call (batch 1):

- ``target_calls``: forward passes of the target (one per iteration of the assisted loop);
- ``proposed``: tokens the draft generated (its ``generate`` calls are wrapped and counted);
- ``accepted`` = generated tokens - target_calls: every iteration adds the draft tokens the target
  accepted plus one token of the target's own (the bonus or the correction);
- acceptance rate = accepted / proposed (the paper's alpha, measured).

``draft_agreement`` is alpha measured another way: the share of positions of the target's greedy
output where the draft's greedy next token (teacher-forced on the same prefix) equals it.
``expected_speedup`` is the paper's wall-time improvement (1 - a^(g+1)) / ((1 - a)(g c + 1)) with c
the draft's cost per token relative to the target's.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .evaluate import _sync
from .models import config_of, pretrained, transformers_model


@dataclass
class DecodeStats:
    """One or more greedy generations, added up."""
    tokens: int = 0
    seconds: float = 0.0
    target_calls: int = 0
    draft_calls: int = 0
    proposed: int = 0
    outputs: list[list[int]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.tokens - self.target_calls

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.proposed if self.proposed else None

    def add(self, other: DecodeStats) -> None:
        self.tokens += other.tokens
        self.seconds += other.seconds
        self.target_calls += other.target_calls
        self.draft_calls += other.draft_calls
        self.proposed += other.proposed
        self.outputs += other.outputs


def configure_draft(draft: nn.Module, gamma: int) -> None:
    """A constant ``gamma`` draft tokens per iteration (the papers' setting), without
    transformers' adaptive schedule or its confidence cut-off."""
    cfg = transformers_model(draft).generation_config
    cfg.num_assistant_tokens = gamma
    cfg.num_assistant_tokens_schedule = "constant"
    cfg.assistant_confidence_threshold = 0.0


class _Counter:
    """Counts the target's forward passes and the draft's generate calls and their new tokens."""

    def __init__(self, target: nn.Module, draft: nn.Module | None) -> None:
        self.target_calls = self.draft_calls = self.proposed = 0
        self.handle = target.register_forward_pre_hook(self._target)
        self.draft = draft
        if draft is not None:
            original = pretrained(draft).generate

            def counted(*args: Any, **kwargs: Any) -> Any:
                out = original(*args, **kwargs)
                given = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
                self.draft_calls += 1
                self.proposed += int(out.sequences.shape[1] - given.shape[1])
                return out

            # an instance attribute over the model's method (close() removes it); nn.Module types it as a submodule
            draft.generate = counted  # type: ignore[assignment]

    def _target(self, *_: Any) -> None:
        self.target_calls += 1

    def close(self) -> None:
        self.handle.remove()
        if self.draft is not None:
            del self.draft.generate  # the instance attribute: the class's method again


@torch.inference_mode()
def greedy(target: nn.Module, prompt: torch.Tensor, new_tokens: int, eos_id: int,
           draft: nn.Module | None = None) -> DecodeStats:
    """Greedy decoding of up to ``new_tokens`` tokens at batch 1, plain or assisted by ``draft``."""
    target.eval()
    if draft is not None:
        draft.eval()
    counter = _Counter(target, draft)
    try:
        _sync(prompt.device)
        t0 = time.perf_counter()
        out = pretrained(target).generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                              do_sample=False, pad_token_id=eos_id, eos_token_id=eos_id, use_cache=True,
                              **({"assistant_model": draft} if draft is not None else {}))
        _sync(prompt.device)
        seconds = time.perf_counter() - t0
    finally:
        counter.close()
    made = out[0, prompt.shape[1]:].tolist()
    return DecodeStats(len(made), seconds, counter.target_calls, counter.draft_calls, counter.proposed, [made])


def token_match(got: list[list[int]], want: list[list[int]]) -> float:
    """Share of the reference's generated tokens reproduced at the same position."""
    total = sum(len(w) for w in want)
    same = sum(sum(a == b for a, b in zip(g, w)) for g, w in zip(got, want))
    return same / total if total else 1.0


@torch.inference_mode()
def draft_agreement(target: nn.Module, draft: nn.Module, prompts: list[torch.Tensor],
                    outputs: list[list[int]]) -> float:
    """Share of generated positions where the draft's greedy next token, given the target's own
    greedy prefix, is the target's token (alpha under greedy decoding)."""
    same = total = 0
    for prompt, made in zip(prompts, outputs):
        if not made:
            continue
        seq = torch.cat([prompt[0], torch.tensor(made, device=prompt.device)])[None, :]
        n = prompt.shape[1]
        want = target(input_ids=seq).logits[0, n - 1:-1].argmax(-1)
        got = draft(input_ids=seq).logits[0, n - 1:-1].argmax(-1)
        same += int((want == got).sum())
        total += len(made)
    return same / total if total else 0.0


def expected_speedup(alpha: float, gamma: int, cost: float) -> float:
    """Leviathan et al. 2023, Theorem 3.8: expected wall-time improvement factor."""
    if alpha >= 1.0:
        return (gamma + 1) / (gamma * cost + 1)
    return (1 - alpha ** (gamma + 1)) / ((1 - alpha) * (gamma * cost + 1))


@torch.inference_mode()
def per_token_ms(model: nn.Module, prompt: torch.Tensor, new_tokens: int, eos_id: int) -> float:
    """Milliseconds per token of the model's own plain greedy decoding (its cost c, relative)."""
    stats = greedy(model, prompt, new_tokens, eos_id)
    return 1000.0 * stats.seconds / max(1, stats.tokens)


def shallow_copy(model: nn.Module, layers: int) -> nn.Module:
    """A draft made of the model's embeddings, its first ``layers`` decoder blocks, its final
    norm and head (depth pruning: the blocks after them dropped, the rest copied)."""
    blocks = _decoder_blocks(model)
    if not 1 <= layers < len(blocks):
        raise ValueError(f"a shallow draft keeps 1 to {len(blocks) - 1} of the {len(blocks)} decoder blocks, "
                         f"not {layers}")
    draft = copy.deepcopy(model)
    kept = _decoder_blocks(draft)
    del kept[layers:]
    config = config_of(draft)
    for attr in ("num_hidden_layers", "n_layer", "num_layers"):
        if hasattr(config, attr):
            setattr(config, attr, layers)
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[:layers]
    return draft


def block_count(model: nn.Module) -> int:
    return len(_decoder_blocks(model))


def _decoder_blocks(model: nn.Module) -> nn.ModuleList:
    best: nn.ModuleList | None = None
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) and (best is None or len(module) > len(best)):
            best = module
    if best is None:
        raise ValueError(f"{type(model).__name__} has no list of decoder blocks")
    return best


def interleaved(runs: dict[str, Callable[[], DecodeStats]], rounds: int) -> dict[str, DecodeStats]:
    """Each workload run ``rounds`` times, in turn (ABBA order), so machine load falls on all alike."""
    names = list(runs)
    out = {n: DecodeStats() for n in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            out[name].add(runs[name]())
    return out
