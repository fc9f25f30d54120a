"""Text as the model sees it: token streams and instruction examples, and the training batches
drawn from them (seeded, so variants of one seed see the same batches)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from .corpus import Example, InstructionSplits, Splits

IGNORE = -100  # label of a token the loss skips (prompt, padding)


@dataclass
class Encoded:
    """One split: a stream of token ids, or instruction examples (ids, tokens of prompt)."""
    ids: torch.Tensor | None = None
    examples: list[tuple[list[int], int]] | None = None

    @property
    def scored_tokens(self) -> int:
        """Tokens a perplexity over this split averages over."""
        if self.ids is not None:
            return max(0, len(self.ids) - 1)
        return sum(len(ids) - max(1, n_prompt) for ids, n_prompt in self.examples or [])

    def capped(self, max_tokens: int) -> Encoded:
        """The first ``max_tokens`` tokens (or the examples holding them); 0 = all."""
        if not max_tokens:
            return self
        if self.ids is not None:
            return Encoded(ids=self.ids[:max_tokens])
        out: list[tuple[list[int], int]] = []
        total = 0
        for ex in self.examples or []:
            if out and total + len(ex[0]) > max_tokens:
                break
            out.append(ex)
            total += len(ex[0])
        return Encoded(examples=out)


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str) -> torch.Tensor:
    """The whole text as one stream; encoded a paragraph at a time (byte-level BPE gives the same
    tokens, and one huge string is several times slower)."""
    chunks = [c + "\n\n" for c in text.split("\n\n")]
    chunks[-1] = chunks[-1][:-2]
    chunks = [c for c in chunks if c]
    if not chunks:
        return torch.zeros(0, dtype=torch.long)
    ids = tokenizer(chunks, add_special_tokens=False)["input_ids"]
    return torch.tensor([t for chunk in ids for t in chunk], dtype=torch.long)


def encode_examples(tokenizer: PreTrainedTokenizerBase, examples: tuple[Example, ...] | list[Example],
                    context: int) -> list[tuple[list[int], int]]:
    """prompt + response + end-of-sequence, at most ``context`` tokens: a long prompt loses its
    beginning first, then a long response its end."""
    out = []
    eos = tokenizer.eos_token_id
    prompts = tokenizer([e.prompt for e in examples], add_special_tokens=False)["input_ids"]
    responses = tokenizer([e.response for e in examples], add_special_tokens=False)["input_ids"]
    for prompt, response in zip(prompts, responses):
        response = [*response, eos][:context]
        keep = context - len(response)
        prompt = list(prompt)[-keep:] if keep > 0 else []
        out.append((prompt + response, len(prompt)))
    return out


def encode(tokenizer: PreTrainedTokenizerBase, splits: Splits, context: int) -> dict[str, Encoded]:
    if isinstance(splits, InstructionSplits):
        return {name: Encoded(examples=encode_examples(tokenizer, getattr(splits, name), context))
                for name in ("train", "val", "test")}
    return {name: Encoded(ids=encode_text(tokenizer, getattr(splits, name))) for name in ("train", "val", "test")}


def pad_examples(examples: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch; labels ignore the prompt and the padding."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(examples):
        t = torch.tensor(ids, dtype=torch.long)
        input_ids[i, :len(ids)] = t
        mask[i, :len(ids)] = 1
        labels[i, n_prompt:len(ids)] = t[n_prompt:]
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


class Batches:
    """Random training batches of one split: windows of ``context`` tokens of a stream, or
    instruction examples; the same seed draws the same batches."""

    def __init__(self, data: Encoded, batch_size: int, context: int, seed: int, pad_id: int) -> None:
        self.data, self.batch_size, self.context, self.pad_id = data, batch_size, context, pad_id
        self.gen = torch.Generator().manual_seed(seed)
        if data.ids is not None and len(data.ids) < 2:
            raise ValueError("the training split has fewer than 2 tokens")
        if data.examples is not None and not data.examples:
            raise ValueError("the training split has no examples")

    def __call__(self) -> dict[str, torch.Tensor]:
        if self.data.ids is not None:
            ids = self.data.ids
            width = min(self.context, len(ids))
            starts = torch.randint(0, len(ids) - width + 1, (self.batch_size,), generator=self.gen)
            windows = ids[starts[:, None] + torch.arange(width)[None, :]]
            return {"input_ids": windows, "attention_mask": torch.ones_like(windows), "labels": windows.clone()}
        idx = torch.randint(0, len(self.data.examples), (self.batch_size,), generator=self.gen)  # type: ignore[arg-type]
        return pad_examples([self.data.examples[int(i)] for i in idx], self.pad_id)  # type: ignore[index]

    def tokens_per_batch(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["attention_mask"].sum())
