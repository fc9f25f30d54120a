"""The model zoo's experiment side: export a run's trained model in Hugging Face's layout, load an
exported model back, and measure it again on its test split.

A language model is a plain causal-LM folder (``config.json``, ``model.safetensors``, the
tokenizer): ``transformers.AutoModelForCausalLM.from_pretrained(folder)`` loads it. An image
classifier is ``config.json`` (``joulelab`` section: the architecture, the conversion applied at
load, the dataset and seed of its split) and ``model.safetensors``; load it with
``experiments.zoo.load_image_model(folder)``. ``experiments.zoo.remeasure(folder)`` measures either
kind again on the test split its run was measured on (accuracy; perplexity).

    python -m experiments.zoo export --run-dir RUN --out FOLDER     (prints what it wrote, as JSON)
    python -m experiments.zoo remeasure FOLDER                        (prints the test metric, as JSON)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract.zoo import ModelKind

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
SECTION = "joulelab"            # our part of config.json
FORMAT = 1


def read_config(folder: str | Path) -> dict[str, Any]:
    data = json.loads((Path(folder) / CONFIG).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{folder}/{CONFIG} is not a JSON object")
    return data


def is_language_model(folder: str | Path) -> bool:
    return bool(read_config(folder).get(SECTION, {}).get("kind") == ModelKind.CAUSAL_LM)


def load_image_model(folder: str | Path) -> Any:
    """The exported image classifier as a torch module in eval mode, on the CPU: the architecture
    from config.json, the weights from model.safetensors, then the conversion the variant applied
    (dynamic INT8 is applied here, as the run applied it to the same FP32 weights)."""
    import torch
    from safetensors.torch import load_file

    from ..harness.models import Arch, build

    meta = read_config(folder)[SECTION]
    model = build(Arch.from_json(meta["arch"]))
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(meta.get("stored_dtype") or "")
    if dtype is not None:
        model = model.to(dtype)
    model.load_state_dict(load_file(str(Path(folder) / WEIGHTS)))
    model.eval()
    if meta.get("conversion") == "int8":
        from ..techniques.quantization import convert
        model = convert(model, "int8")
    return model


def test_split(folder: str | Path, cache_dir: str | None = None) -> tuple[Any, Any]:
    """(x, y) of the test split the model was measured on: the same dataset, seed and caps."""
    from ..harness.datasets import load_dataset
    from ..harness.measure import as_tensors

    meta = read_config(folder)[SECTION]
    caps = meta.get("data_caps") or {}
    splits = load_dataset(meta["dataset"], int(meta["seed"]), cache_dir, **caps)
    import torch

    return as_tensors(splits.x_test, splits.y_test, torch.device("cpu"))


def remeasure_lm(folder: str | Path) -> dict[str, Any]:
    """An exported language model's test metric (its recorded one's: perplexity or token accuracy),
    scored again as its run scored it: the same fine-tuning data and test split (the pre-training
    text's where ``test_text`` says so), context, stride and token cap (from the run's parameters
    in config.json), the weights in their stored dtype, on the CPU in FP32 arithmetic."""
    import torch

    from ..lm.corpus import fine_tuning_data, pretraining_corpus
    from ..lm.evaluate import score
    from ..lm.models import load_model, load_tokenizer
    from ..lm.settings import SPEEDUP_BATCH, settings
    from ..lm.tokens import Encoded, encode, encode_text

    config = read_config(folder)
    meta = config[SECTION]
    if not isinstance(meta.get("params"), dict):
        raise ValueError(f"{folder}: config.json's {SECTION} section has no run parameters (exported before they "
                         "were recorded); export it again")
    s = settings(meta["params"])
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(str(config.get("torch_dtype")
                                                                          or config.get("dtype")), torch.float32)
    from transformers.utils import logging as hf_logging

    # the printed JSON is the answer; no loading bar on stderr (transformers' logging is unannotated)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = load_model(Path(folder), dtype)
    tokenizer = load_tokenizer(Path(folder))
    if meta.get("test_text") == "pretraining":  # sophia: a model pre-trained and scored on the pre-training text
        test = Encoded(ids=encode_text(tokenizer, pretraining_corpus(s.domain_speakers).test)).capped(s.eval_tokens)
    else:
        test = encode(tokenizer, fine_tuning_data(s.data, s.domain_speakers), s.context)["test"].capped(s.eval_tokens)
    got = score(model, test, s.context, s.stride, torch.device("cpu"), "fp32", batch_size=SPEEDUP_BATCH,
                pad_id=int(tokenizer.pad_token_id))
    recorded = meta.get("recorded")
    measured = got.values("test")
    measured["final_accuracy"] = measured["test_token_accuracy"]  # finetune's name for it (techniques/finetune.py)
    # the metric the finding is on (test perplexity, or lora_rank's and lora_merge's token accuracy)
    metric = str((recorded or {}).get("metric") or "test_perplexity")
    if metric not in measured or metric == "test_tokens":
        raise ValueError(f"{folder}: its recorded metric {metric} is not one this re-measures (test perplexity, "
                         "loss, token accuracy on the LM entries' data)")
    return {"metric": metric, "value": measured[metric], "recorded": recorded, "tokens": got.tokens}


def remeasure(folder: str | Path, cache_dir: str | None = None) -> dict[str, Any]:
    """The exported model's test metric, measured again now: {"metric", "value", "recorded", "samples"
    (images) or "tokens" (language models)}."""
    meta = read_config(folder)[SECTION]
    if meta.get("kind") == ModelKind.CAUSAL_LM:
        return remeasure_lm(folder)
    from ..harness.measure import evaluate

    model = load_image_model(folder)
    x, y = test_split(folder, cache_dir)
    accuracy, _ = evaluate(model, x, y)
    return {"metric": "test_accuracy", "value": accuracy, "recorded": meta.get("recorded"), "samples": len(y)}
