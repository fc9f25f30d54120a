"""What the fine-tune entry declares (torch-free): its parameters, each profile's budget, and the
effective settings of one run.

``model_name`` is a local Hugging Face folder, a hub id (downloaded into the lab's cache when the
machine is online), or empty for the small Llama-style model the lab pre-trains and caches. An
alias (``[models] "gpt2-medium" = "/path"`` in the lab's config.toml) is replaced by its folder
when the experiment is submitted (the lab reads config.toml; this entry never does).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contract.jsonvalue import JsonObject
from contract.params import Param, ParamError

from ..declare import ParamValues
from ..lm.corpus import DataError, check_data_file, resolve_path
from ..lm.settings import PROFILES as LM_PROFILES
from ..lm.settings import TEXT_DATASETS, bases_param
from ..paramread import flag, integer, number, text

PRECISIONS = ("auto", "no", "bf16", "fp16")
#: a model hub id: "name" or "owner/name" (letters, digits, '-', '_', '.')
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


@dataclass(frozen=True)
class Budget:
    epochs: int            # passes over the training split when `epochs` is 0
    context: int           # tokens per training window and evaluation window
    max_train_tokens: int  # cap on the training split (0: all of it)
    eval_tokens: int       # cap on the validation and test splits (0: all)


PROFILES = {
    "smoke": Budget(epochs=1, context=64, max_train_tokens=4096, eval_tokens=1024),
    "default": Budget(epochs=3, context=128, max_train_tokens=0, eval_tokens=0),
    "full": Budget(epochs=5, context=256, max_train_tokens=0, eval_tokens=0),
}


def looks_like_path(text: str) -> bool:
    return text.startswith(("/", "~", ".")) or (os.sep in text and Path(os.path.expanduser(text)).exists())


@dataclass(frozen=True)
class ModelParam(Param):
    """A model: a local Hugging Face folder (checked here: it exists and has config.json), a hub
    id, or empty (the lab's default model)."""

    def coerce(self, value: Any) -> Any:
        text = str(super().coerce(value)).strip()
        if not text:
            return ""
        if looks_like_path(text):
            path = resolve_path(text)
            if not path.is_dir():
                raise ParamError(self.name, f"{path} is not a folder; give the folder of a Hugging Face causal LM "
                                            "(written by save_pretrained), an alias from config.toml [models], or a "
                                            "hub id")
            if not (path / "config.json").is_file():
                raise ParamError(self.name, f"{path} has no config.json: not a Hugging Face model folder")
            return str(path)
        if not HUB_ID.match(text):
            raise ParamError(self.name, f"{text!r} is neither a folder, an alias in config.toml [models], nor a "
                                        "hub id (name or owner/name)")
        return text


@dataclass(frozen=True)
class DataParam(Param):
    """Fine-tuning data: empty (the shipped text's new domain) or a user's .txt / Alpaca .jsonl,
    checked completely here so a bad file is refused before an experiment exists."""

    def coerce(self, value: Any) -> Any:
        text = str(super().coerce(value)).strip()
        if not text:
            return ""
        path = resolve_path(text)
        try:
            check_data_file(path)
        except DataError as exc:
            raise ParamError(self.name, str(exc)) from None
        return str(path)


def params() -> list[Param]:
    return [
        ModelParam("model_name", "str", "", "the model fine-tuned: a local Hugging Face folder, an alias from "
                   "config.toml [models] (e.g. \"gpt2-medium\" = \"/models/gpt2-medium\"), a hub id (downloaded "
                   "when online), or empty for the small model the lab pre-trains and caches"),
        Param("learning_rate", "float", 3e-4, "AdamW peak learning rate (5 % linear warm-up, then cosine)",
              min=1e-8, max=1.0),
        Param("epochs", "int", 0, "passes over the training split; 0 = the profile's (smoke 1, default 3, full 5)",
              min=0, max=1000),
        Param("batch_size", "int", 8, "sequences per optimizer step", min=1, max=4096),
        Param("dataset", "choice", TEXT_DATASETS[0], "the text shipped with the package (Tiny Shakespeare); "
              "data=PATH fine-tunes on your own file instead", choices=TEXT_DATASETS),
        DataParam("data", "str", "", "fine-tuning data: empty = the shipped Tiny Shakespeare's new domain (the "
                  "Romeo and Juliet cast); or a UTF-8 .txt file, or a .jsonl of Alpaca records (instruction, "
                  "input, output; loss on the output only)"),
        Param("context", "int", 0, "tokens per window; 0 = the profile's (smoke 64, default 128, full 256)",
              min=0, max=8192),
        Param("weight_decay", "float", 0.0, "AdamW weight decay", min=0.0, max=1.0),
        Param("gradient_checkpointing", "bool", False, "recompute activations in the backward pass: less memory, "
              "about a third more compute"),
        Param("mixed_precision", "choice", "auto", "auto (BF16 autocast on CUDA, FP32 on CPU), no (FP32), bf16 "
              "(autocast, CPU or CUDA), fp16 (autocast with loss scaling, CUDA only)", choices=PRECISIONS),
        Param("wandb_project", "str", "", "log the run to this Weights & Biases project (offline; the lab syncs "
              "it when online); empty: no W&B run"),
        Param("wandb_entity", "str", "", "W&B entity (user or team) of the project; empty: the account's default"),
        bases_param(),
    ]


@dataclass(frozen=True)
class FTSettings:
    profile: str
    model_name: str
    learning_rate: float
    epochs: int
    batch_size: int
    data: str
    context: int
    max_train_tokens: int
    eval_tokens: int
    weight_decay: float
    gradient_checkpointing: bool
    mixed_precision: str
    wandb_project: str
    wandb_entity: str

    def to_json(self) -> JsonObject:
        return asdict(self)


def settings(p: ParamValues) -> FTSettings:
    profile = text(p, "profile", "default")
    b = PROFILES[profile]
    return FTSettings(
        profile=profile, model_name=text(p, "model_name", ""), learning_rate=number(p, "learning_rate"),
        epochs=integer(p, "epochs", 0) or b.epochs, batch_size=integer(p, "batch_size"), data=text(p, "data", ""),
        context=integer(p, "context", 0) or b.context, max_train_tokens=b.max_train_tokens,
        eval_tokens=b.eval_tokens or LM_PROFILES[profile].eval_tokens, weight_decay=number(p, "weight_decay", 0.0),
        gradient_checkpointing=flag(p, "gradient_checkpointing"),
        mixed_precision=text(p, "mixed_precision", "") or "auto", wandb_project=text(p, "wandb_project", ""),
        wandb_entity=text(p, "wandb_entity", ""))
