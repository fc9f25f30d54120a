"""Model cards in Hugging Face's format (README.md: YAML metadata, then prose), every number the
validator's (`lab rating N --json`'s headline) or the run's recorded result, with its unit."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from contract import units
from contract.jsonvalue import JsonObject, number_at
from contract.record_json import OPT, JsonRecord
from contract.zoo import ModelKind, PackedForm
from db import Run
from records.publish.findings import Finding
from records.reports.lab import LabData
from records.reports.paper import limitations
from records.reports.prose import OFFLINE
from science.headline import headline_json, headline_text


def _interval(ci: object) -> str:
    return f"{ci[0]:.6g}..{ci[1]:.6g}" if isinstance(ci, list) and len(ci) == 2 and None not in ci else "none"


def _metric_type(key: str) -> str:
    return "accuracy" if "accuracy" in key else "perplexity" if "perplexity" in key else key


@dataclass(frozen=True)
class Co2(JsonRecord):
    """The card's `co2_eq_emissions`: the training run's, in grams (Hugging Face's unit)."""

    emissions: float
    source: str
    training_type: str
    hardware_used: str


@dataclass(frozen=True)
class CardMetric(JsonRecord):
    type: str
    value: float
    name: str


@dataclass(frozen=True)
class Task(JsonRecord):
    type: str


@dataclass(frozen=True)
class EvalData(JsonRecord):
    name: str
    type: str
    split: str = "test"


@dataclass(frozen=True)
class EvalResult(JsonRecord):
    task: Task
    dataset: EvalData
    metrics: tuple[CardMetric, ...]


@dataclass(frozen=True)
class ModelIndex(JsonRecord):
    name: str
    results: tuple[EvalResult, ...]


@dataclass(frozen=True)
class CardMetadata(JsonRecord):
    """The card's YAML metadata (Hugging Face's model card fields, `model-index` spelled so)."""

    library_name: str
    tags: tuple[str, ...]
    license: str
    datasets: tuple[str, ...]
    model_index: tuple[ModelIndex, ...]
    pipeline_tag: str | None = field(default=None, metadata=OPT)
    base_model: str | None = field(default=None, metadata=OPT)
    co2_eq_emissions: Co2 | None = field(default=None, metadata=OPT)

    def to_json(self) -> JsonObject:
        return {k.replace("model_index", "model-index"): v for k, v in super().to_json().items()}


def _co2(source_run: Run | None, hardware: str) -> Co2 | None:
    result = (source_run.result if source_run else None) or {}
    co2_kg = number_at(result, "co2_kg")
    if co2_kg is None:
        return None
    modelled = bool(result.get("energy_estimated")) or result.get("energy_mode") not in (None, "measured")
    how = str(result.get("energy_source") or result.get("energy_mode") or "")
    return Co2(co2_kg * 1000.0,
               ("modelled from CPU time, not measured" if modelled else "measured by hardware counters")
               + f" (Joule Lab run {source_run.id if source_run else units.MISSING}" + (f"; {how}" if how else "") + ")",
               "training of the exported weights", hardware)


def _metrics(f: Finding) -> tuple[CardMetric, ...]:
    """The variant's quality (mean over seeds), its efficiency score and quality change against
    the reference, and this checkpoint's recorded quality: each with its 95 % CI where it has one."""
    h = headline_json(f.headline) or {}
    q = f.variant_summary.quality
    metrics: list[CardMetric] = []
    if isinstance(q.mean, (int, float)):
        metrics.append(CardMetric(_metric_type(f.quality_key), q.mean,
                                  f"{f.quality_key}, mean of {f.variant_summary.n} seeds (95 % CI {_interval(q.ci95)})"))
    e = h.get("e")
    if isinstance(e, (int, float)):
        metrics.append(CardMetric("efficiency_score", e,
                                  f"efficiency score E vs {f.reference} (95 % CI {_interval(h.get('e_ci'))})"))
    delta = h.get("quality_delta_points")
    if isinstance(delta, (int, float)):
        metrics.append(CardMetric("quality_delta_points", delta, f"change of {f.quality_key} vs {f.reference}, "
                                  f"percentage points (95 % CI {_interval(h.get('quality_delta_ci'))})"))
    recorded = ((f.run.result if f.run else None) or {}).get(f.quality_key)
    if isinstance(recorded, (int, float)):
        metrics.append(CardMetric(_metric_type(f.quality_key), recorded, f"{f.quality_key} of this checkpoint "
                                  f"(seed {f.run.seed if f.run else None}), as recorded"))
    return tuple(metrics)


def metadata(f: Finding, kind: str, namespace: str, base_model: str | None, hardware: str,
             source_run: Run | None) -> CardMetadata:
    dataset = str(f.exp.params.get("dataset") or "tiny_shakespeare")
    lm = kind == ModelKind.CAUSAL_LM
    result = EvalResult(Task("text-generation" if lm else "image-classification"), EvalData(dataset, dataset),
                        _metrics(f))
    return CardMetadata("transformers" if lm else "joulelab", ("joulelab", "energy-efficiency", f.catalog, f.variant),
                        "mit", (dataset,), (ModelIndex(f"{namespace}/{f.slug}", (result,)),),
                        pipeline_tag="text-generation" if lm else None, base_model=base_model or None,
                        co2_eq_emissions=_co2(source_run, hardware))


def _values_text(packed: PackedForm) -> str:
    """What the packed layers' values are, decoded: in words."""
    parts = []
    if "int4" in packed.values:
        groups = ", ".join(str(g) for g in packed.group_sizes)
        parts.append(f"INT4 weight codes (groups of {groups} inputs, an FP16 scale and a zero point each) dequantised "
                     "(code minus zero point, times scale)")
    if "int8" in packed.values:
        parts.append("INT8 weight codes (one scale per tensor) dequantised; the run's torch.ao kernels also quantized "
                     "the activations to INT8 at each forward, this model does not, so its outputs differ slightly")
    if "fp32" in packed.values:
        parts.append("FP32 weights as the compression left them")
    pruned = [p for p in packed.patterns if p != "dense"]
    if pruned:
        parts.append(f"pruned weights ({', '.join(pruned)}) stored as zeros, not skipped")
    return "; ".join(parts)


def weights_note(weights_bytes: int, packed: PackedForm | None) -> str | None:
    """What a compressed model's exported weights are, against the packed form its sizes count
    (None for a model exported as it was stored)."""
    if packed is None:
        return None
    chain = "; ".join(packed.chain) or "compressed"
    other = " (embeddings and norms: FP16 in the packed form, the same values here)" \
        if packed.other_dtype == "float16" else ""
    return (f"The run's compressed model ({chain}), decoded into a plain transformers model: "
            f"{_values_text(packed)}. Everything is stored in FP32 in `model.safetensors` ({units.size(weights_bytes)})"
            f"{other}, so this folder is no smaller than the uncompressed model and runs at FP32 speed. The "
            f"compressed form the run measured, which every size figure here (model size, compression ratio, bits "
            f"per weight) is of, is `packed/` (`compression.json`, `compressed.safetensors`, `config.json`: "
            f"{units.size(packed.packed_bytes)}, {units.of('bits_per_weight', packed.bits_per_weight)} "
            f"bits per weight over its {units.of('params_total', packed.params)} parameters), read by the "
            "lab's `experiments/lm/packed.py`.")


def prose(f: Finding, lab: LabData, kind: str, hardware: str, source_run: Run | None,
          weights: str | None = None) -> str:
    b = f.breakdown
    criteria = "\n".join(f"- [{'x' if c.points else ' '}] {c.label}: {c.evidence}" for c in b.criteria)
    load = ("```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
            "model = AutoModelForCausalLM.from_pretrained(FOLDER)\ntokenizer = AutoTokenizer.from_pretrained(FOLDER)\n```"
            if kind == ModelKind.CAUSAL_LM else
            "```python\nfrom experiments.zoo import load_image_model, remeasure\nmodel = load_image_model(FOLDER)   "
            "# a torch module, eval mode, CPU\nprint(remeasure(FOLDER))          # its test accuracy, measured again\n```")
    co2 = (source_run.result if source_run else None) or {}
    return "\n".join([
        f"# {f.variant} ({f.catalog}), Joule Lab experiment {f.id}", "",
        f"{f.variant} of the catalog entry `{f.catalog}`, compared with its reference `{f.reference}` over "
        f"{f.variant_summary.n} paired seeds; rated {f.rating:g}/10 by the lab's validator.", "",
        "## Evidence", "", f"Headline: {headline_text(f.headline, f.quality_key)}.", "",
        f"{f.quality_key} of {f.variant}: {f.variant_summary.quality.text(f.quality_key)} "
        f"(95 % CI {f.variant_summary.quality.ci_text(f.quality_key)}).", "",
        "The rubric, point by point:", "", criteria or "(no criteria recorded)", "",
        "## Reference", "",
        f"Compared with `{f.reference}` of the same experiment, same seeds, same data split and budget.", "",
        "## This checkpoint", "",
        f"Seed {f.run.seed if f.run else None}, run {f.run.id if f.run else None} (the median seed of the variant); "
        f"trained on {hardware}; energy of its training run: "
        f"{units.energy(co2.get('energy_kwh'), bool(co2.get('energy_estimated')))}.", "",
        *(["## Reproduction and earlier runs", "", *(f"- {line}" for line in f.evidence), ""] if f.evidence else []),
        *(["## The weights", "", weights, ""] if weights else []),
        "## How to load", "", load, "",
        "## Limits", "", "\n".join(f"- {line}" for line in limitations(lab, [f.exp], OFFLINE)), ""])


def card(f: Finding, lab: LabData, kind: str, namespace: str, base_model: str | None, hardware: str,
         source_run: Run | None, weights: str | None = None) -> str:
    """The README.md of the model's folder; ``weights`` says what the stored weights are when they
    are not the form the run measured (a compressed model decoded: `weights_note`)."""
    meta = yaml.safe_dump(metadata(f, kind, namespace, base_model, hardware, source_run).to_json(), sort_keys=False,
                          allow_unicode=True)
    return f"---\n{meta}---\n\n{prose(f, lab, kind, hardware, source_run, weights)}"
