"""Export one run's trained model into a Hugging Face-layout folder.

Where the weights come from, by what the run left in its folder:
- a ``model.pt`` checkpoint (the harness's ``save_model``): that model, as trained;
- no checkpoint, but a conversion of its dependency's checkpoint (quantization's ``int8``,
  ``fp16``, ``bf16`` variants load the FP32 model of the same seed and convert it): that FP32
  checkpoint with the conversion (FP16/BF16 stored converted; dynamic INT8 applied at load, as the
  run applied it, since packed INT8 weights have no safetensors form);
- a Hugging Face causal-LM folder the run saved (``config.json`` and weights): that folder, with the
  tokenizer of its base model when it has none.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from contract.jsonvalue import JsonObject, JsonValue, text_at
from contract.params import ParamValues
from contract.runspec import RunSpec

from . import CONFIG, FORMAT, SECTION, WEIGHTS

CHECKPOINT = "model.pt"
CONVERSIONS = ("int8", "fp16", "bf16")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                   "tokenizer.model")


class ExportError(RuntimeError):
    """The run left nothing that can be exported; the message says why."""


def _spec(run_dir: Path) -> RunSpec | None:
    """The run's spec.json (the lab's runs and local tries, `python -m experiments NAME --out DIR`,
    leave one); None for a folder without it (taken as a variant named after the folder)."""
    if not (run_dir / "spec.json").exists() and run_dir.is_dir():
        return None
    try:
        return RunSpec.from_json(json.loads((run_dir / "spec.json").read_text()))
    except (OSError, ValueError) as exc:  # a SpecError is a ValueError: its one line says which key
        raise ExportError(f"{run_dir}: no readable spec.json ({exc})") from None


def _params(spec: RunSpec | None) -> ParamValues:
    """The run's parameters with its variant's own merged over them, as the program saw them."""
    return {**spec.params, **(spec.variant_params or {})} if spec is not None else {}


def _run_named(run_dir: Path, spec: RunSpec | None) -> str:
    """The run as an error names it: its id (or folder), entry and variant."""
    if spec is None:
        return f"run {run_dir.name} (local try/{run_dir.name})"
    return f"run {spec.run_id if spec.run_id is not None else run_dir.name} ({spec.name}/{spec.variant})"


def _source(run_dir: Path, spec: RunSpec | None) -> tuple[Path, str | None]:
    """(checkpoint, conversion) of an image run."""
    if (run_dir / CHECKPOINT).is_file():
        return run_dir / CHECKPOINT, None
    precision = _params(spec).get("precision")
    if isinstance(precision, str) and precision in CONVERSIONS and spec is not None:
        for dep in spec.dependencies.values():
            path = Path(dep.output_dir or "") / CHECKPOINT
            if path.is_file():
                return path, precision
    raise ExportError(f"{_run_named(run_dir, spec)} saved no model checkpoint and converts none: its weights were "
                      "not kept")


def _lm_folder(run_dir: Path) -> Path | None:
    for path in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        if path.is_dir() and (path / "config.json").is_file() and any(path.glob("*.safetensors")):
            return path
    return None


def export_image(run_dir: Path, spec: RunSpec | None, out: Path) -> JsonObject:
    import torch
    from safetensors.torch import save_file

    from ..harness.context import PROFILE_DATA
    from ..harness.models import build

    checkpoint, conversion = _source(run_dir, spec)
    blob = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = build(blob["arch"])
    model.load_state_dict(blob["state_dict"])
    stored = None
    if conversion in ("fp16", "bf16"):
        model = model.to(torch.float16 if conversion == "fp16" else torch.bfloat16)
        stored = conversion
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": "pt"})
    params = _params(spec)
    profile = spec.profile if spec is not None else None
    meta = {"format": FORMAT, "kind": "image-classifier", "arch": blob["arch"], "stored_dtype": stored,
            "conversion": "int8" if conversion == "int8" else None, "dataset": params.get("dataset"),
            "seed": spec.seed if spec is not None else None, "profile": profile,
            "data_caps": PROFILE_DATA.get(str(profile), {}), "catalog": spec.name if spec is not None else None,
            "variant": spec.variant if spec is not None else run_dir.name,
            "run_id": spec.run_id if spec is not None else None}
    (out / CONFIG).write_text(json.dumps({"architectures": [type(model).__name__], "model_type": "joulelab-image",
                                          SECTION: meta}, indent=2) + "\n")
    return {"kind": "image-classifier", "conversion": conversion, "checkpoint": str(checkpoint)}


def export_lm(run_dir: Path, spec: RunSpec | None, out: Path) -> JsonObject:
    from transformers import AutoModelForCausalLM

    folder = _lm_folder(run_dir)
    if folder is None:
        raise ExportError(f"{_run_named(run_dir, spec)} saved no language-model folder")
    out.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file():
            shutil.copy2(path, out / path.name)
    if not (out / "tokenizer_config.json").is_file():
        dep = spec.dependencies.get("base") if spec is not None else None
        base = Path((text_at(dep.result or {}, "base_model_dir") if dep is not None else None) or "")
        for name in TOKENIZER_FILES:
            if (base / name).is_file():
                shutil.copy2(base / name, out / name)
    config = json.loads((out / CONFIG).read_text())
    # the run's parameters (profile included) fix the test split, context, stride and token cap that
    # `remeasure` scores the model on again
    given = _params(spec)
    params = {**given, "profile": (spec.profile if spec is not None else None) or given.get("profile") or "default"}
    config[SECTION] = {"format": FORMAT, "kind": "causal-lm", "catalog": spec.name if spec is not None else None,
                       "variant": spec.variant if spec is not None else run_dir.name,
                       "seed": spec.seed if spec is not None else None,
                       "run_id": spec.run_id if spec is not None else None, "params": params}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)  # it loads, or the export fails
    return {"kind": "causal-lm", "source": str(folder)}


def export(run_dir: Path, out: Path, extra: Mapping[str, JsonValue] | None = None) -> JsonObject:
    """Export the run's model into `out`; `extra` (e.g. the run's recorded test metric) joins the
    `joulelab` section of config.json."""
    spec = _spec(run_dir)
    if _lm_folder(run_dir) is not None and not (run_dir / CHECKPOINT).is_file():
        done = export_lm(run_dir, spec, out)
    else:
        done = export_image(run_dir, spec, out)
    if extra:
        config = json.loads((out / CONFIG).read_text())
        config[SECTION].update(extra)
        (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    done["files"] = sorted(p.name for p in out.iterdir())
    done["weights_bytes"] = sum(p.stat().st_size for p in out.glob("*.safetensors"))
    return done
