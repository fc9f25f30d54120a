"""Independent evaluation sets (torch-free): ``-p eval=PATH[,PATH...]`` names files scored after
training and never used for training, selection or early stopping.

Each item is ``PATH`` (named by the file's stem) or ``NAME=PATH``; a name is lower-case letters,
digits and ``_`` (at most 32). A file is read whole, in the fine-tuning data's formats: plain UTF-8
text (one stream, scored with the run's sliding windows) or a JSONL of Alpaca records (the
response tokens scored, each example on its own). Every problem of every item is reported in one
answer, before an experiment exists.

Result keys (docs/PROTOCOL.md §5): ``eval_sets`` (the names, in order) and, per set NAME,
``eval_NAME_perplexity``, ``eval_NAME_loss`` (nats per token), ``eval_NAME_token_accuracy``,
``eval_NAME_tokens`` (tokens scored) and ``eval_NAME_shared_with_train`` (its records, or its lines
of at least 40 characters, found verbatim in the fine-tuning training split: 0 for an independent
set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contract.params import Param, ParamError, ParamValue

from .corpus import JSONL_SUFFIXES, DataError, Example, InstructionSplits, Splits, _read, parse_instructions, resolve_path

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .tokens import Encoded

NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")
#: a text line shorter than this is too common ("ROMEO:") to say a set overlaps the training text
OVERLAP_LINE_CHARS = 40
KEY_PREFIX = "eval_"


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path
    text: str | None = None                       # a plain-text set
    examples: tuple[Example, ...] | None = None   # an instruction set

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else "instructions"


def _name_of(path: Path) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_")[:32] or "set"


def parse_items(value: str) -> tuple[list[tuple[str, Path]], list[str]]:
    """(name, path) of every item, and the problems found (names, duplicates, missing files)."""
    items, problems = [], []
    for raw in (part.strip() for part in value.split(",")):
        if not raw:
            continue
        name, _, rest = raw.partition("=")
        if rest and NAME.match(name.strip()):
            name, path = name.strip(), resolve_path(rest.strip())
        elif rest:
            problems.append(f"{name.strip()!r} is not a set name (lower-case letters, digits, _; e.g. drop=PATH)")
            continue
        else:
            path = resolve_path(raw)
            name = _name_of(path)
        if not path.is_file():
            problems.append(f"{path} {'does not exist' if not path.exists() else 'is not a file'}")
            continue
        items.append((name, path))
    names = [n for n, _ in items]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two sets are named {dup!r}; name them apart (NAME=PATH)")
    return items, problems


def load(name: str, path: Path) -> EvalSet:
    """One set, every line checked (DataError naming the file and line)."""
    text = _read(path, "evaluation set")
    if path.suffix.lower() in JSONL_SUFFIXES:
        examples = parse_instructions(path, text)
        if not examples:
            raise DataError(f"{path}: no record; an evaluation set needs at least one")
        return EvalSet(name, path, examples=tuple(examples))
    if len(text.strip()) < 2:
        raise DataError(f"{path}: no text to score")
    return EvalSet(name, path, text=text)


def load_all(value: str) -> list[EvalSet]:
    items, problems = parse_items(value)
    sets = []
    for name, path in items:
        try:
            sets.append(load(name, path))
        except DataError as exc:
            problems.append(str(exc))
    if problems:
        raise DataError("eval: " + "; ".join(problems))
    return sets


def encoded_sets(sets: list[EvalSet], tokenizer: PreTrainedTokenizerBase, context: int, eval_tokens: int
                 ) -> list[tuple[EvalSet, Encoded]]:
    """Each set as the model reads it (a text's tokens, or instruction examples), capped at
    ``eval_tokens``; an ExperimentError for a set with no token to score."""
    from ..harness.errors import ExperimentError
    from .tokens import Encoded, encode_examples, encode_text

    encoded: list[tuple[EvalSet, Encoded]] = []
    for es in sets:
        enc = (Encoded(ids=encode_text(tokenizer, es.text)) if es.text is not None else
               Encoded(examples=encode_examples(tokenizer, es.examples or (), context)))
        enc = enc.capped(eval_tokens)
        if enc.scored_tokens < 1:
            raise ExperimentError(f"evaluation set {es.name} ({es.path}) has no token to score; give more text")
        encoded.append((es, enc))
    return encoded


def shared_with_train(s: EvalSet, data: Splits) -> int:
    """Records (or long lines) of the set found verbatim in the fine-tuning training split."""
    if isinstance(data, InstructionSplits):
        seen = {(e.prompt, e.response) for e in data.train}
        if s.examples is not None:
            return sum((e.prompt, e.response) in seen for e in s.examples)
        train_text = "\n".join(e.prompt + e.response for e in data.train)
    else:
        train_text = data.train
    if s.examples is not None:
        return sum(e.response.strip() in train_text for e in s.examples if len(e.response.strip()) >= OVERLAP_LINE_CHARS)
    lines = {line.strip() for line in (s.text or "").splitlines() if len(line.strip()) >= OVERLAP_LINE_CHARS}
    return sum(line in train_text for line in lines)


def result_keys(name: str) -> tuple[str, ...]:
    return tuple(f"{KEY_PREFIX}{name}_{k}" for k in ("perplexity", "loss", "token_accuracy", "tokens",
                                                       "shared_with_train"))


@dataclass(frozen=True)
class EvalSetsParam(Param):
    """``eval``: the sets, checked whole with the parameters (every problem in one answer) and
    normalised to ``NAME=ABSOLUTE_PATH`` items."""

    def coerce(self, value: object) -> ParamValue:
        text = str(super().coerce(value))
        if not text.strip():
            return ""
        try:
            sets = load_all(text)
        except DataError as exc:
            raise ParamError(self.name, str(exc).removeprefix("eval: ")) from None
        return ",".join(f"{s.name}={s.path}" for s in sets)


def eval_param() -> Param:
    return EvalSetsParam("eval", "str", "", "independent evaluation sets, scored after training and never used "
                         "for training, selection or early stopping: PATH or NAME=PATH items separated by commas "
                         "(UTF-8 .txt, or .jsonl of Alpaca records); each gives eval_NAME_perplexity")
