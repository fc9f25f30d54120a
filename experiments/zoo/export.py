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
from pathlib import Path
from typing import Any

from . import CONFIG, FORMAT, SECTION, WEIGHTS

CHECKPOINT = "model.pt"
CONVERSIONS = ("int8", "fp16", "bf16")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                   "tokenizer.model")


class ExportError(RuntimeError):
    """The run left nothing that can be exported; the message says why."""


def _spec(run_dir: Path) -> dict[str, Any]:
    """The run's spec.json (the lab's runs and local tries, `python -m experiments NAME --out DIR`,
    leave one); a folder without it is taken as a variant named after the folder."""
    if not (run_dir / "spec.json").exists() and run_dir.is_dir():
        return {"variant": run_dir.name}
    try:
        spec = json.loads((run_dir / "spec.json").read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{run_dir}: no readable spec.json ({exc})") from None
    return spec if isinstance(spec, dict) else {}


def _params(spec: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters with its variant's own merged over them, as the program saw them."""
    return {**(spec.get("params") or {}), **(spec.get("variant_params") or {})}


def _source(run_dir: Path, spec: dict[str, Any]) -> tuple[Path, str | None]:
    """(checkpoint, conversion) of an image run."""
    if (run_dir / CHECKPOINT).is_file():
        return run_dir / CHECKPOINT, None
    precision = _params(spec).get("precision")
    if precision in CONVERSIONS:
        for dep in (spec.get("dependencies") or {}).values():
            path = Path(str((dep or {}).get("output_dir") or "")) / CHECKPOINT
            if path.is_file():
                return path, precision
    raise ExportError(f"run {spec.get('run_id', run_dir.name)} ({spec.get('name', 'local try')}/{spec.get('variant')}) saved no "
                      "model checkpoint and converts none: its weights were not kept")


def _lm_folder(run_dir: Path) -> Path | None:
    for path in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        if path.is_dir() and (path / "config.json").is_file() and any(path.glob("*.safetensors")):
            return path
    return None


def export_image(run_dir: Path, spec: dict[str, Any], out: Path) -> dict[str, Any]:
    import torch
    from safetensors.torch import save_file

    from ..harness.context import PROFILE_DATA
    from ..harness.models import Arch, build

    checkpoint, conversion = _source(run_dir, spec)
    blob = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = build(Arch.from_json(blob["arch"]))
    model.load_state_dict(blob["state_dict"])
    stored = None
    if conversion in ("fp16", "bf16"):
        model = model.to(torch.float16 if conversion == "fp16" else torch.bfloat16)
        stored = conversion
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": "pt"})
    params = _params(spec)
    meta = {"format": FORMAT, "kind": "image-classifier", "arch": blob["arch"], "stored_dtype": stored,
            "conversion": "int8" if conversion == "int8" else None, "dataset": params.get("dataset"),
            "seed": spec.get("seed"), "profile": spec.get("profile"),
            "data_caps": PROFILE_DATA.get(str(spec.get("profile")), {}), "catalog": spec.get("name"),
            "variant": spec.get("variant"), "run_id": spec.get("run_id")}
    (out / CONFIG).write_text(json.dumps({"architectures": [type(model).__name__], "model_type": "joulelab-image",
                                          SECTION: meta}, indent=2) + "\n")
    return {"kind": "image-classifier", "conversion": conversion, "checkpoint": str(checkpoint)}


def export_lm(run_dir: Path, spec: dict[str, Any], out: Path) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    folder = _lm_folder(run_dir)
    if folder is None:
        raise ExportError(f"run {spec.get('run_id', run_dir.name)} saved no language-model folder")
    out.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file():
            shutil.copy2(path, out / path.name)
    if not (out / "tokenizer_config.json").is_file():
        base = Path(str(((spec.get("dependencies") or {}).get("base") or {}).get("result", {}).get("base_model_dir")
                        or ""))
        for name in TOKENIZER_FILES:
            if (base / name).is_file():
                shutil.copy2(base / name, out / name)
    config = json.loads((out / CONFIG).read_text())
    # the run's parameters (profile included) fix the test split, context, stride and token cap that
    # `remeasure` scores the model on again
    params = {**_params(spec), "profile": spec.get("profile") or _params(spec).get("profile") or "default"}
    config[SECTION] = {"format": FORMAT, "kind": "causal-lm", "catalog": spec.get("name"),
                       "variant": spec.get("variant"), "seed": spec.get("seed"), "run_id": spec.get("run_id"),
                       "params": params}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)  # it loads, or the export fails
    return {"kind": "causal-lm", "source": str(folder)}


def export(run_dir: Path, out: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
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
