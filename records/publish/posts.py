"""The blog post (for practitioners: what to use, what it saves, what it costs in quality, what did
not work) and the slides (question, method, headline results with intervals, limits), as
documents (records/reports/doc.py) written from the validator's stored results only."""

from __future__ import annotations

import time
from typing import Any

from contract import units
from contract.rating_record import Headline
from db import Experiment
from records.publish.findings import Finding
from records.reports.doc import Block, Document, Figure, Section
from records.reports.lab import LabData
from records.reports.paper import limitations, results_table
from records.reports.prose import OFFLINE
from science.headline import headline_text, margin_text, quality_text
from science.thresholds import MIN_SEEDS, QUALITY_MARGIN

AUTHOR = "Joule Lab (automated)"


def e_text(h: Headline) -> str:
    """'E = 1.42x (95 % CI 1.30..1.55x)', the validator's efficiency score with its interval."""
    ci = h.e_ci
    interval = f" (95 % CI {units.ratio_interval(ci)})" if ci and None not in ci else " (no CI)"
    return f"E = {units.ratio(h.efficiency_score)}{interval}"


def finding_line(f: Finding) -> str:
    """The finding with its reproduction evidence and the earlier runs it supersedes."""
    return " ".join([f"{f.variant} of {f.catalog} against {f.reference} (exp {f.id}, rated {f.rating:g}/10): "
                     f"{headline_text(f.headline, f.quality_key)}.", *f.evidence])


def works(f: Finding) -> bool:
    """A technique to use: quality kept with a valid control, and an efficiency score whose whole
    95 % interval lies above 1 (it saves, and the saving is not noise)."""
    ci = f.headline.e_ci
    return f.claimable and ci is not None and ci[0] is not None and ci[1] is not None and ci[0] > 1


def quality_line(f: Finding) -> str:
    h = f.headline
    return (f"{f.variant} (exp {f.id}): {quality_text(h, f.quality_key)} against {f.reference}, "
            + (f"within the {margin_text(h, f.quality_key)} non-inferiority margin." if h.quality_kept
               else f"not shown to stay within {margin_text(h, f.quality_key)}."))


def why_not(f: Finding) -> str:
    h = f.headline
    if h.control_valid is False:
        return f"the comparison is void: {h.control_note or 'invalid control'}"
    if not h.quality_kept:
        return f"quality was not shown to stay within {margin_text(h, f.quality_key)}"
    if h.selection == "test":
        return "the headline variant was chosen on test data"
    if not isinstance(h.efficiency_score, (int, float)):
        return "no efficiency score"
    return f"no saving shown: {e_text(h)}, an interval that does not lie above 1"


def failed_line(f: Finding) -> str:
    return " ".join([f"{f.variant} of {f.catalog} (exp {f.id}): {why_not(f)}; {headline_text(f.headline, f.quality_key)}.",
                     *f.evidence])


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def blog(lab: LabData, counted: list[Experiment], found: list[Finding], figures: list[Figure],
         zoo: list[str]) -> Document:
    use = [f for f in found if works(f)]
    failed = [f for f in found if not works(f)]
    prelim = [e for e in lab.rated() if e.id not in {c.id for c in counted}]
    best = max(use, key=lambda f: f.headline.efficiency_score or 0.0, default=None)
    tldr = (f"We ran {len(counted)} experiment(s) with at least {MIN_SEEDS} paired seeds each. "
            + (f"The best that saved energy at kept quality: {finding_line(best)}" if best else
               "None of them saved energy (E above 1 over its whole interval) at kept quality with a valid control.")
            + (f" {len(prelim)} preliminary run(s) (smoke profile or too few seeds) are left out." if prelim else ""))
    sections = [
        Section("What to use", "sec:use", [_bullets([finding_line(f) for f in use])] if use else
                ["Nothing yet: no technique saved energy (E above 1 over its whole interval) at kept quality with a "
                 "valid control."]),
        Section("What it costs in quality", "sec:cost", [_bullets([quality_line(f) for f in found])] if found else
                ["No variant was compared with a reference."]),
        Section("What did not work", "sec:failed", [_bullets([failed_line(f) for f in failed])]
                if failed else ["Every headline saved energy at kept quality with a valid control."]),
    ]
    if figures:
        shown: list[Block] = [*figures]
        sections.append(Section("The numbers at a glance", "sec:figures", shown))
    sections.append(Section("How it was measured", "sec:how", [
        f"Each variant ran once per seed ({MIN_SEEDS} or more), paired with its reference by seed; every interval is the "
        "validator's 95 % confidence interval. E is the efficiency score: quality relative to the reference times "
        "the reference's energy over the variant's. Energy is read from hardware counters (RAPL, NVML) where the "
        "machine has them and is otherwise modelled from CPU time, and said so."]))
    if zoo:
        sections.append(Section("Get the models", "sec:zoo", [
            "Each headline model is in the model zoo in Hugging Face's layout, with its model card: "
            + ", ".join(zoo) + ". Image models load with experiments.zoo.load_image_model(folder); language models "
            "with transformers' AutoModelForCausalLM.from_pretrained(folder). A notebook per finding re-measures it."]))
    sections.append(Section("Limits", "sec:limits", [_bullets(limitations(lab, counted, OFFLINE))]))
    return Document(f"What saves energy in ML training and inference: {len(use)} technique(s) that work, "
                    f"{len(failed)} that did not", AUTHOR, time.strftime("%Y-%m-%d", time.gmtime()), tldr, sections, [])


def slides(lab: LabData, counted: list[Experiment], found: list[Finding], figures: list[Figure]) -> Document:
    table = results_table(counted)
    results: list[Any] = [table] if table.rows else ["No variant was compared with a reference."]
    results += [_bullets([finding_line(f) for f in found])] if found else []
    efficiency: list[Block] = [f for f in figures if f.label == "fig:efficiency"]
    sections = [
        Section("Question", "sec:question", [
            "Which techniques cut the energy of training or inference at kept quality, and by how much?",
            _bullets([f"{e.name} ({e.catalog}, exp {e.id}): {e.hypothesis}" for e in counted if e.hypothesis][:6])]),
        Section("Method", "sec:method", [
            f"Catalog techniques against declared references, ≥ {MIN_SEEDS} seeds paired by seed, 95 % confidence "
            f"intervals, quality kept when the interval of the change stays within the entry's margin "
            f"({units.margin_rule(QUALITY_MARGIN)}, unless it declares its own), a rubric rating "
            "1-10. Only rated, non-preliminary experiments count."]),
        Section("Headline results", "sec:results", results),
    ]
    if efficiency:
        sections.append(Section("Efficiency at a glance", "sec:figure", efficiency))
    sections.append(Section("Limits", "sec:limits", [_bullets(limitations(lab, counted, OFFLINE))]))
    return Document("Energy-efficient ML: what the lab found", AUTHOR, time.strftime("%Y-%m-%d", time.gmtime()),
                    f"{len(counted)} counted experiment(s), {len(found)} headline finding(s).", sections, [])
