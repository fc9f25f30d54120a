"""A demo notebook (Jupyter's nbformat 4.4, written as its JSON) per headline finding: it loads the zoo model and measures its
headline quality metric again on the test split, then checks it against the recorded value and
the validator's 95 % interval."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from contract import units
from contract.jsonvalue import number_at
from contract.record_json import JsonRecord
from contract.zoo import ModelKind
from records.publish.findings import Finding
from science.headline import headline_text


@dataclass(frozen=True, kw_only=True)
class CodeCell(JsonRecord):
    """A code cell, not run yet."""

    cell_type: str = "code"
    execution_count: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    source: str


@dataclass(frozen=True, kw_only=True)
class MarkdownCell(JsonRecord):
    cell_type: str = "markdown"
    metadata: dict[str, str] = field(default_factory=dict)
    source: str


Cell = CodeCell | MarkdownCell
PYTHON3 = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
           "language_info": {"name": "python"}}


@dataclass(frozen=True, kw_only=True)
class Notebook(JsonRecord):
    nbformat: int = 4
    nbformat_minor: int = 4
    cells: tuple[Cell, ...]
    metadata: dict[str, dict[str, str]] = field(default_factory=lambda: PYTHON3)


def new_code_cell(source: str) -> CodeCell:
    return CodeCell(source=source)


def new_markdown_cell(source: str) -> MarkdownCell:
    return MarkdownCell(source=source)


def image_cells(f: Finding, folder: str, recorded: float | None, ci: list[float] | None) -> list[Cell]:
    return [
        new_code_cell("from pathlib import Path\nfrom experiments.zoo import load_image_model, read_config, remeasure\n\n"
                      f"FOLDER = Path({folder!r})\nmodel = load_image_model(FOLDER)\nprint(model)"),
        new_markdown_cell("Measure its test accuracy again: the same dataset, seed and split as the run "
                          "(`config.json`'s `joulelab` section)."),
        new_code_cell("measured = remeasure(FOLDER)\nmeasured"),
        new_code_cell(f"recorded, ci95 = {recorded!r}, {ci!r}\n"
                      "print(f\"measured {measured['value']:.4f} on {measured['samples']} test samples; recorded "
                      "{recorded:.4f}; the variant's 95 % CI {ci95[0]:.4f}..{ci95[1]:.4f}\")\n"
                      "assert ci95[0] - 1e-9 <= measured['value'] <= ci95[1] + 1e-9, 'outside the interval'\n"
                      "assert abs(measured['value'] - recorded) < 1e-6, 'differs from the recorded value'"),
    ]


def lm_cells(folder: str, recorded: float | None, ci: list[float] | None) -> list[Cell]:
    return [
        new_code_cell("from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
                      f"FOLDER = {folder!r}\nmodel = AutoModelForCausalLM.from_pretrained(FOLDER)\n"
                      "tokenizer = AutoTokenizer.from_pretrained(FOLDER)\n"
                      "ids = tokenizer('ROMEO:', return_tensors='pt').input_ids\n"
                      "print(tokenizer.decode(model.generate(ids, max_new_tokens=20, do_sample=False)[0]))"),
        new_markdown_cell("Measure its test metric again (perplexity, or token accuracy where the finding is on it): "
                          "the same fine-tuning data, test split, context, "
                          "stride and token cap as the run (`config.json`'s `joulelab` section)."),
        new_code_cell("from experiments.zoo import remeasure\n\nmeasured = remeasure(FOLDER)\nmeasured"),
        new_code_cell(f"recorded, ci95 = {recorded!r}, {ci!r}\n"
                      "print(f\"measured {measured['metric']} {measured['value']:.4g} on {measured['tokens']} test tokens; "
                      "recorded {recorded:.4g}; the variant's 95 % CI {ci95[0]:.4g}..{ci95[1]:.4g}\")\n"
                      "assert ci95[0] - 1e-6 <= measured['value'] <= ci95[1] + 1e-6, 'outside the interval'"),
    ]


def notebook(f: Finding, model_folder: str, kind: str) -> Notebook:
    q = f.variant_summary.quality
    bounds = q.ci95
    ci = [bounds[0], bounds[1]] if bounds is not None and bounds[0] is not None and bounds[1] is not None else None
    recorded = number_at((f.run.result if f.run else None) or {}, f.quality_key)
    intro = new_markdown_cell(
        f"# {f.variant} of {f.catalog} (Joule Lab experiment {f.id})\n\n"
        f"**Finding.** {headline_text(f.headline, f.quality_key)}.\n\n"
        f"Recorded {f.quality_key} of {f.variant}: {q.text(f.quality_key)} over {f.variant_summary.n} "
        f"seeds (95 % CI {q.ci_text(f.quality_key)}); this checkpoint (seed {f.run.seed if f.run else None}): "
        f"{units.of(f.quality_key, recorded)}.\n\nThis notebook loads the model from the zoo and measures it again.")
    body = lm_cells(model_folder, recorded, ci) if kind == ModelKind.CAUSAL_LM else image_cells(f, model_folder, recorded, ci)
    return Notebook(cells=(intro, *body))


def write(f: Finding, model_folder: str, kind: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(notebook(f, model_folder, kind).to_json(), indent=1) + "\n")
    return out
