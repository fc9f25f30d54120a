"""The headline variant's language model, kept in its run folder for the model zoo (`lab publish`,
`python -m experiments.zoo export`): only the runs of the plan's declared headline variant keep one
(`RunContext.headline`), as it was when its test metric was measured."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from .cache import read_json, write_json
from .models import ModelError, pretrained

if TYPE_CHECKING:
    from ..harness.context import RunContext

ZOO_MODEL = "model"            # the folder in the run's: save_pretrained's files and the tokenizer
#: the most a kept model may take (its parameters' bytes); the default profile's takes about 3.7 MB
LM_KEEP_MAX_BYTES = 2**30


def keep_for_zoo(ctx: RunContext, model: nn.Module, tokenizer: Any, test_text: str | None = None) -> Path | None:
    """Save ``model`` by save_pretrained with its tokenizer into the run's ZOO_MODEL folder, a LoRA
    adapter merged into a copy of its base first; ``test_text`` "pretraining" when its test metric
    was scored on the pre-training text's test split (sophia), not the fine-tuning data's
    (config.json's joulelab section says so for `remeasure`). Nothing is kept for another variant,
    when the run saved a model folder already (a merged or packed model), or over
    LM_KEEP_MAX_BYTES (the log says so)."""
    if not ctx.headline or any(ctx.out_dir.glob("*/config.json")):
        return None
    if not ctx.fits_the_zoo(sum(p.numel() * p.element_size() for p in model.parameters()), LM_KEEP_MAX_BYTES):
        return None
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model = copy.deepcopy(model).merge_and_unload()
    folder = ctx.out_dir / ZOO_MODEL
    try:
        pretrained(model).save_pretrained(str(folder))
    except ModelError as exc:
        ctx.events.log(f"model zoo: not kept ({exc})")
        return None
    tokenizer.save_pretrained(str(folder))
    ctx.events.artifact(ZOO_MODEL, "model")
    if test_text:
        config = read_json(folder / "config.json")
        write_json(folder / "config.json", {**config, "joulelab": {"test_text": test_text}})
    return folder
