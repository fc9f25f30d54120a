"""Perplexity, token accuracy, latency and generation speed of a causal LM.

Perplexity is token-weighted over a whole split: exp(sum of next-token negative log-likelihoods /
tokens scored). A stream is scored with sliding windows of the declared context length moved by
the declared stride; every token after the first is scored exactly once, with at least
``context - stride`` tokens before it (except at the start). Instruction examples are scored on
their response tokens only, each example on its own.
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from contract.events import ResultValues

from .models import pretrained
from .tokens import IGNORE, Encoded, pad_examples


@dataclass
class Score:
    nll_sum: float = 0.0
    tokens: int = 0
    correct: int = 0

    @property
    def loss(self) -> float:
        """Mean negative log-likelihood per token, in nats."""
        return self.nll_sum / self.tokens if self.tokens else float("nan")

    @property
    def perplexity(self) -> float:
        loss = self.loss
        return math.exp(min(loss, 700.0)) if math.isfinite(loss) else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.tokens if self.tokens else float("nan")

    def values(self, prefix: str) -> ResultValues:
        return {f"{prefix}_loss": self.loss, f"{prefix}_perplexity": self.perplexity,
                f"{prefix}_token_accuracy": self.accuracy, f"{prefix}_tokens": self.tokens}


def autocast(device: torch.device, precision: str) -> AbstractContextManager[Any]:
    """BF16 autocast when ``precision`` is bf16 (auto resolves to it on CUDA)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def windows(n: int, context: int, stride: int) -> list[tuple[int, int]]:
    """(start, first scored position) of each window over a stream of ``n`` tokens."""
    if n < 2:
        return []
    width = min(context, n)
    step = max(1, min(stride, width - 1))  # a window's first token has nothing before it in the window
    starts = list(range(0, n - width + 1, step))
    if starts[-1] != n - width:
        starts.append(n - width)
    out, scored_to = [], 1  # position 0 has nothing before it
    for s in starts:
        first = max(s + 1, scored_to)
        if first < s + width:
            out.append((s, first))
            scored_to = s + width
    return out


def _accumulate(score: Score, logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Add the next-token NLL and argmax hits of every position whose label is not IGNORE."""
    logits = logits[:, :-1].float()
    target = labels[:, 1:]
    keep = target != IGNORE
    if not bool(keep.any()):
        return
    logp = F.log_softmax(logits[keep], dim=-1)
    tgt = target[keep]
    score.nll_sum += float(-logp.gather(1, tgt[:, None]).sum())
    score.correct += int((logp.argmax(-1) == tgt).sum())
    score.tokens += int(keep.sum())


@torch.inference_mode()
def score(model: nn.Module, data: Encoded, context: int, stride: int, device: torch.device,
          precision: str = "fp32", batch_size: int = 16, pad_id: int = 0) -> Score:
    was_training = model.training
    model.eval()
    out = Score()
    try:
        with autocast(device, precision):
            if data.ids is not None:
                ids = data.ids
                width = min(context, len(ids))
                spans = windows(len(ids), context, stride)
                for i in range(0, len(spans), batch_size):
                    chunk = spans[i:i + batch_size]
                    idx = torch.tensor([s for s, _ in chunk])[:, None] + torch.arange(width)[None, :]
                    inputs = ids[idx]
                    labels = inputs.clone()
                    for row, (s, first) in enumerate(chunk):
                        labels[row, :first - s] = IGNORE
                    logits = model(input_ids=inputs.to(device)).logits
                    _accumulate(out, logits, labels.to(device))
            else:
                examples = data.examples or []
                for i in range(0, len(examples), batch_size):
                    batch = pad_examples(examples[i:i + batch_size], pad_id)
                    logits = model(input_ids=batch["input_ids"].to(device),
                                   attention_mask=batch["attention_mask"].to(device)).logits
                    _accumulate(out, logits, batch["labels"].to(device))
    finally:
        model.train(was_training)
    return out


def probe_inputs(data: Encoded, context: int, rows: int, pad_id: int) -> dict[str, torch.Tensor]:
    """A fixed batch for comparing two models' logits (the first windows or examples)."""
    if data.ids is not None:
        width = min(context, len(data.ids))
        starts = [min(i * width, len(data.ids) - width) for i in range(rows)]
        inputs = torch.stack([data.ids[s:s + width] for s in starts])
        return {"input_ids": inputs, "attention_mask": torch.ones_like(inputs)}
    batch = pad_examples((data.examples or [])[:rows], pad_id)
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


@torch.inference_mode()
def logits(model: nn.Module, inputs: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
    model.eval()
    out: torch.Tensor = model(**{k: v.to(device) for k, v in inputs.items()}).logits.float()
    mask = inputs["attention_mask"].to(device).bool()
    return out[mask]  # padding positions are not compared


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def latencies_ms(models: dict[str, nn.Module], batch: torch.Tensor, warmup: int, reps: int) -> dict[str, float]:
    """Median forward time of each model on ``batch``, the models timed in turn (interleaved) so
    that machine load falls on all of them alike."""
    for m in models.values():
        m.eval()
    times: dict[str, list[float]] = {k: [] for k in models}
    device = batch.device
    for i in range(warmup + reps):
        for name, m in models.items():
            _sync(device)
            t0 = time.perf_counter()
            m(input_ids=batch)
            _sync(device)
            if i >= warmup:
                times[name].append((time.perf_counter() - t0) * 1000.0)
    return {k: statistics.median(v) for k, v in times.items()}


@torch.inference_mode()
def generation_tokens_per_s(model: nn.Module, prompt: torch.Tensor, new_tokens: int, eos_id: int) -> float:
    """Greedy decoding of exactly ``new_tokens`` tokens (key/value cache on), batch 1."""
    model.eval()
    device = prompt.device
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                  pad_token_id=eos_id, eos_token_id=eos_id, use_cache=True)
    lm = pretrained(model)
    lm.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=2,
                min_new_tokens=2, do_sample=False, pad_token_id=eos_id, eos_token_id=eos_id)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    out = lm.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), **kwargs)
    _sync(device)
    made = int(out.shape[1] - prompt.shape[1])
    return made / (time.perf_counter() - t0)
