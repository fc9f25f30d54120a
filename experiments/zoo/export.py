"""Export one run's trained model into a Hugging Face-layout folder.

Where the weights come from, by what the run left in its folder:
- a ``model.pt`` checkpoint (the harness's ``save_model``): that model, as trained;
- no checkpoint, but a conversion of its dependency's checkpoint (quantization's ``int8``,
  ``fp16``, ``bf16`` variants load the FP32 model of the same seed and convert it): that FP32
  checkpoint with the conversion (FP16/BF16 stored converted; dynamic INT8 applied at load, as the
  run applied it, since packed INT8 weights have no safetensors form);
- a compressed causal LM in the lab's packed format (``compression.json``, ``compressed.safetensors``:
  experiments/lm/packed.py): decoded and saved in FP32 as a plain transformers model, with its base
  model's tokenizer and the packed files in ``packed/``;
- a Hugging Face causal-LM folder the run saved (``config.json`` and weights): that folder, with the
  tokenizer of its base model when it has none.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from contract.params import ParamValues
from contract.runspec import Dependency, SpecError
from contract.zoo import ModelKind, PackedForm

from . import CONFIG, FORMAT, SECTION, WEIGHTS

MANIFEST = "compression.json"          # experiments/lm/packed.py's (not imported: it imports torch)
PACKED_WEIGHTS = "compressed.safetensors"

CHECKPOINT = "model.pt"
CONVERSIONS = ("int8", "fp16", "bf16")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                   "tokenizer.model")


class ExportError(RuntimeError):
    """The run left nothing that can be exported; the message says why."""


@dataclass(frozen=True)
class Run:
    """What the export reads of a run's spec.json (the lab's runs and local tries,
    `python -m experiments NAME --out DIR`, leave one; a folder without it is taken as a variant
    named after the folder)."""
    folder: Path
    name: str | None
    variant: str | None
    seed: int | None
    run_id: int | None
    profile: str | None
    params: ParamValues                   # the run's parameters, its variant's own merged over them
    dependencies: dict[str, Dependency]   # by variant name: its output folder and result

    @classmethod
    def read(cls, folder: Path) -> Run:
        if not (folder / "spec.json").exists() and folder.is_dir():
            return cls(folder, None, folder.name, None, None, None, {}, {})
        try:
            spec = json.loads((folder / "spec.json").read_text())
        except (OSError, ValueError) as exc:
            raise ExportError(f"{folder}: no readable spec.json ({exc})") from None
        spec = spec if isinstance(spec, dict) else {}
        deps = spec.get("dependencies")
        try:
            dependencies = {str(name): Dependency.from_json(str(name), dep)
                            for name, dep in (deps.items() if isinstance(deps, dict) else ()) if dep is not None}
        except SpecError as exc:
            raise ExportError(f"{folder}: spec.json: {exc}") from None
        return cls(folder, spec.get("name"), spec.get("variant"), spec.get("seed"), spec.get("run_id"),
                   spec.get("profile"), {**(spec.get("params") or {}), **(spec.get("variant_params") or {})},
                   dependencies)

    @property
    def label(self) -> str:
        return f"run {self.run_id if self.run_id is not None else self.folder.name} ({self.name or 'local try'}/{self.variant})"

    def section(self) -> dict[str, object]:
        """What config.json's joulelab section says of the run."""
        return {"format": FORMAT, "catalog": self.name, "variant": self.variant, "seed": self.seed,
                "run_id": self.run_id}

    def model_dirs(self) -> list[Path]:
        """The model folders its dependencies' results name (the base model's, a merged model's),
        the base first: where its tokenizer is."""
        base = self.dependencies.get("base")
        ordered = ([base] if base else []) + [d for n, d in self.dependencies.items() if n != "base"]
        return [Path(str(v)) for dep in ordered for k, v in sorted((dep.result or {}).items())
                if k.endswith("_model_dir") and v]


@dataclass(frozen=True)
class Exported:
    """What an export did (`python -m experiments.zoo export`'s answer): the model's kind, where its
    weights came from (an image model's checkpoint and the conversion applied to it, a language
    model's folder and its packed form), and the folder's files with the weights' bytes."""

    kind: ModelKind
    checkpoint: str | None = None       # an image model's
    conversion: str | None = None       # an image model's (None: its own weights, unconverted)
    source: str | None = None           # a language model's folder, copied or decoded
    packed: PackedForm | None = None    # a language model decoded from the lab's packed format
    files: tuple[str, ...] = ()
    weights_bytes: int = 0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        if self.kind == ModelKind.IMAGE_CLASSIFIER:
            out["conversion"], out["checkpoint"] = self.conversion, self.checkpoint
        else:
            out["source"] = self.source
            if self.packed is not None:
                out["packed"] = self.packed.to_json()
        return {**out, "files": list(self.files), "weights_bytes": self.weights_bytes}


def _source(run: Run) -> tuple[Path, str | None]:
    """(checkpoint, conversion) of an image run."""
    if (run.folder / CHECKPOINT).is_file():
        return run.folder / CHECKPOINT, None
    precision = run.params.get("precision")
    if isinstance(precision, str) and precision in CONVERSIONS:
        for dep in run.dependencies.values():
            path = Path(dep.output_dir or "") / CHECKPOINT
            if path.is_file():
                return path, precision
    raise ExportError(f"{run.label} saved no model checkpoint and converts none: its weights were not kept (only "
                      "the declared headline variant's runs keep theirs, since this version; run the experiment "
                      "again to export it)")


def _lm_folder(run_dir: Path) -> Path | None:
    """The Hugging Face causal-LM folder the run saved (not a packed one: its config.json is only
    the architecture's)."""
    # a folder of the run's, or one level below (finetune's output/final_model)
    for config in sorted(run_dir.glob("*/config.json")) + sorted(run_dir.glob("*/*/config.json")):
        path = config.parent
        if any(path.glob("*.safetensors")) and not (path / MANIFEST).is_file():
            return path
    return None


def _packed_folder(run_dir: Path) -> Path | None:
    """The run's compressed model in the lab's packed format (experiments/lm/packed.py), if any."""
    for path in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        if path.is_dir() and (path / MANIFEST).is_file() and (path / PACKED_WEIGHTS).is_file():
            return path
    return None


def export_image(run: Run, out: Path) -> Exported:
    import torch
    from safetensors.torch import save_file

    from ..harness.context import PROFILE_DATA
    from ..harness.models import Arch, build

    checkpoint, conversion = _source(run)
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
    meta = {**run.section(), "kind": ModelKind.IMAGE_CLASSIFIER, "arch": blob["arch"], "stored_dtype": stored,
            "conversion": "int8" if conversion == "int8" else None, "dataset": run.params.get("dataset"),
            "profile": run.profile, "data_caps": PROFILE_DATA.get(str(run.profile), {})}
    (out / CONFIG).write_text(json.dumps({"architectures": [type(model).__name__], "model_type": "joulelab-image",
                                          SECTION: meta}, indent=2) + "\n")
    return Exported(ModelKind.IMAGE_CLASSIFIER, checkpoint=str(checkpoint), conversion=conversion)


def _finish_lm(out: Path, run: Run, source: Path, **section: object) -> None:
    """The tokenizer beside the weights (its base model's when the folder has none), config.json's
    joulelab section, and the proof that it loads."""
    from transformers import AutoModelForCausalLM

    if not (out / "tokenizer_config.json").is_file():
        base = next((d for d in run.model_dirs() if (d / "tokenizer_config.json").is_file()), None)
        for name in TOKENIZER_FILES:
            if base is not None and (base / name).is_file():
                shutil.copy2(base / name, out / name)
    if not (out / "tokenizer_config.json").is_file():
        raise ExportError(f"{run.label}: no tokenizer beside {source} nor in its base model's folder")
    config = json.loads((out / CONFIG).read_text())
    # the run's parameters (profile included) fix the test split, context, stride and token cap that
    # `remeasure` scores the model on again
    params = {**run.params, "profile": run.profile or run.params.get("profile") or "default"}
    config[SECTION] = {**(config.get(SECTION) or {}), **run.section(), "kind": ModelKind.CAUSAL_LM, "params": params,
                       **section}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)  # it loads, or the export fails


def export_lm(run: Run, out: Path) -> Exported:
    """A causal LM the run saved: a Hugging Face folder copied as it is; or a compressed model in
    the lab's packed format, decoded (INT4/INT8 codes dequantised, pruned weights zeros) into a
    plain transformers model saved in FP32, with the packed files beside it in ``packed/`` (the
    bytes the run's sizes count). Either with its tokenizer."""
    packed_folder = _packed_folder(run.folder)
    out.mkdir(parents=True, exist_ok=True)
    if packed_folder is not None:
        from ..lm.models import pretrained
        from ..lm.packed import PACKED_FILES, to_pretrained

        model, form = to_pretrained(packed_folder)
        pretrained(model).save_pretrained(str(out))
        (out / "packed").mkdir(exist_ok=True)
        for name in PACKED_FILES:
            shutil.copy2(packed_folder / name, out / "packed" / name)
        _finish_lm(out, run, packed_folder, stored_dtype="float32", packed=form.to_json())
        return Exported(ModelKind.CAUSAL_LM, source=str(packed_folder), packed=form)
    folder = _lm_folder(run.folder)
    if folder is None:
        raise ExportError(f"{run.label} saved no language-model folder")
    for path in folder.iterdir():
        if path.is_file():
            shutil.copy2(path, out / path.name)
    _finish_lm(out, run, folder)
    return Exported(ModelKind.CAUSAL_LM, source=str(folder))


def _no_model(run: Run) -> None:
    """Refuse, with the entry's own reason, a run of an entry whose headline model has no zoo form."""
    from ..catalog import get

    entry = get(str(run.name or ""))
    if entry is not None and entry.no_zoo_model:
        raise ExportError(f"{run.label} has no model to export: {entry.no_zoo_model}")


def export(run_dir: Path, out: Path, extra: dict[str, Any] | None = None) -> Exported:
    """Export the run's model into `out`; `extra` (e.g. the run's recorded test metric) joins the
    `joulelab` section of config.json."""
    run = Run.read(run_dir)
    if (run_dir / CHECKPOINT).is_file():
        done = export_image(run, out)
    elif _packed_folder(run_dir) is not None or _lm_folder(run_dir) is not None:
        done = export_lm(run, out)
    else:
        _no_model(run)
        done = export_image(run, out)
    if extra:
        config = json.loads((out / CONFIG).read_text())
        config[SECTION].update(extra)
        (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return replace(done, files=tuple(sorted(p.name for p in out.iterdir())),
                   weights_bytes=sum(p.stat().st_size for p in out.glob("*.safetensors")))
