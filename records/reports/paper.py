"""`lab paper`: a paper draft in Markdown and LaTeX, assembled from rated experiments only.
Preliminary experiments (smoke, too few seeds: science/rubric.preliminary) are no findings: they
stay out of the results and the abstract's claims, reported apart ("Preliminary runs").

Every measured number is followed by the id of the experiment it comes from ("(exp 12)"), so it
can be traced to that experiment's git record (tag `exp/12`). The introduction cites the
literature each catalog entry summarises; its numbers are the literature's, with the citation.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from agents.research_settings import ResearchSettings
from contract import units
from contract.catalog_answer import CatalogEntry
from contract.rating_record import Headline, VariantResult
from db import Experiment, Store
from records.reports import lab_figures
from records.reports.doc import Block, Document, Figure, Section, Table, to_latex, to_markdown, unresolved
from records.reports.lab import LabData, headline, keeps_rule, load_lab
from records.reports.limitations import energy_sources
from records.reports.prose import OFFLINE, Prose, discuss
from science import text as t
from science.catalog import Catalog
from science.counting import count
from science.headline import effect_text, headline_text, quality_text
from science.rubric import preliminary
from science.thresholds import MIN_SEEDS, PRELIMINARY_CAP, QUALITY_MARGIN


class PaperError(RuntimeError):
    """No paper can be assembled (nothing rated), or the draft is broken; the message says why."""


def ids(exps: list[Experiment]) -> str:
    return "exp " + ", ".join(str(e.id) for e in exps)


def references(lab: LabData, rated: list[Experiment]) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """Bibliography entries of the entries studied, in order, and each entry's citation keys."""
    refs: list[tuple[str, str]] = []
    keys_of: dict[str, list[str]] = {}
    for exp in rated:
        entry = lab.entries.get(exp.catalog)
        if entry is None or entry.name in keys_of:
            continue
        keys = []
        for i, text in enumerate(entry.references, 1):
            known = next((k for k, t in refs if t == text), None)
            key = known or re.sub(r"[^A-Za-z0-9:]", "", f"{entry.name}:{i}")
            if known is None:
                refs.append((key, text))
            keys.append(key)
        keys_of[entry.name] = keys
    return refs, keys_of


def _entries(lab: LabData, rated: list[Experiment]) -> list[CatalogEntry]:
    seen: dict[str, CatalogEntry] = {}
    for exp in rated:
        entry = lab.entries.get(exp.catalog)
        if entry is not None and entry.name not in seen:
            seen[entry.name] = entry
    return list(seen.values())


def headline_sentence(exp: Experiment) -> str:
    b = exp.breakdown
    h, qk = b.headline, b.quality_key
    base = b.variants.get(str(b.baseline)) or VariantResult()
    out = (f"{t.the('baseline', b.baseline, True)} reached {qk} {base.quality.text(qk)} "
           f"(95 % CI {base.quality.ci_text(qk)}; exp {exp.id}).") if base.n else ""
    if h:
        out += f" Its headline: {headline_text(h, qk)} (exp {exp.id})."
    return out.strip()


def _claimable(exp: Experiment) -> bool:
    """A headline whose comparison stands: valid control, not chosen on test data, quality kept."""
    return keeps_rule(headline(exp))


def _quality(exp: Experiment, h: Headline) -> str:
    return quality_text(h, exp.breakdown.quality_key)


def _modelled(exp: Experiment) -> bool:
    return any(v.energy_estimated for v in exp.breakdown.variants.values())


def _e(exp: Experiment) -> float:
    """The headline's E of a claimable experiment (it has one)."""
    h = headline(exp)
    return float(h.efficiency_score or 0.0) if h is not None else 0.0


def _void(exp: Experiment) -> bool:
    h = headline(exp)
    return h is not None and h.control_valid is False


def abstract(lab: LabData, rated: list[Experiment], entries: list[CatalogEntry]) -> str:
    n, titles = len(rated), ", ".join(e.title for e in entries) or ", ".join(sorted({e.catalog for e in rated}))
    prelim = [e for e in rated if preliminary(e)]
    parts = [f"We report {n} rated experiment(s) ({ids(rated)}) of an autonomous research lab on {titles}. "
             "Each compares variants of a technique with their declared references over several seeds, paired by "
             "seed, with 95 % confidence intervals (paired t on differences; for the efficiency score E and every "
             "ratio, a paired t-interval on the log ratios), non-inferiority for quality, and Holm's correction "
             "when the headline variant is chosen among several."]
    if prelim:
        parts.append(f"{len(prelim)} of them are preliminary ({ids(prelim)}: the smoke profile or fewer than "
                     f"{MIN_SEEDS} seeds) and are reported apart, not as findings.")
    kept = [e for e in rated if _claimable(e) and not preliminary(e)]
    if kept:
        best = max(kept, key=lambda e: (_e(e), -e.id))
        h = headline(best)
        assert h is not None  # claimable: it has a headline
        parts.append(f"The largest gain with quality kept (non-inferior within its margin) and a valid control was "
                     f"E = {units.ratio(h.efficiency_score)} for {h.variant} of {best.catalog}, at "
                     f"{_quality(best, h)} (exp {best.id}).")
        e2 = [e for e in kept if _e(e) >= 2]
        parts.append(f"{len(e2)} of the {n} experiment(s) reached E >= 2 with quality kept"
                     + (f" ({ids(e2)})." if e2 else "."))
    else:
        parts.append("No experiment showed an efficiency gain with quality kept and a valid control.")
    void = [e for e in rated if _void(e)]
    if void:
        parts.append(f"Invalid controls void the headline comparison of {len(void)} of them ({ids(void)}).")
    modelled = [e for e in rated if _modelled(e)]
    if modelled:
        parts.append(f"Energy was modelled from CPU time rather than measured in {len(modelled)} of them "
                     f"({ids(modelled)}); there, time carries the evidence.")
    return " ".join(parts)


def method_table(lab: LabData, rated: list[Experiment]) -> Table:
    rows = []
    for e in rated:
        runs = lab.runs_of(e.id)
        counts = e.breakdown.runs
        devices = ", ".join(sorted({r.device for r in runs if r.device})) or units.MISSING
        rows.append([str(e.id), e.catalog, str(e.params.get("profile", units.MISSING)),
                     str(e.params.get("dataset", units.MISSING)),
                     str(len(e.plan)), str(e.seeds),
                     f"{counts.succeeded if counts else 0}/{counts.total if counts else len(runs)}",
                     devices, f"{e.rating:g}/10" + (" (preliminary)" if preliminary(e) else "")])
    return Table("tab:experiments", "The rated experiments: catalog entry, profile, dataset, variants, seeds per "
                 "variant, runs succeeded, device and rating.",
                 ["exp", "entry", "profile", "dataset", "variants", "seeds", "runs ok", "device", "rating"], rows)


def results_table(rated: list[Experiment]) -> Table:
    rows = []
    for e in rated:
        h = headline(e)
        if not h:
            continue
        detail = h.effect_detail
        effect = effect_text(detail) if detail is not None and detail.estimate is not None else units.MISSING
        p = None if detail is None else detail.p_adjusted if detail.p_adjusted is not None else detail.p_value
        e_ci = h.e_ci
        control = "valid" if h.control_valid is not False else f"void: {h.control_note or 'invalid control'}"
        rows.append([str(e.id), e.catalog, h.variant, str(h.reference or units.MISSING),
                     str(h.objective or "energy (v1)"), effect,
                     units.ratio(h.efficiency_score)
                     + (f" [{units.ratio_interval(e_ci)}]" if e_ci and None not in e_ci else ""),
                     _quality(e, h),
                     units.pvalue(p), control, "modelled" if h.energy_estimated else "measured"])
    return Table("tab:headlines", "Headline variant of each rated experiment: its reference and declared "
                 "objective, the effect on that objective with its 95 % CI (\"exact\": the same on every seed, by "
                 "construction, not evidence), the efficiency score E with its t-interval on log E, the change "
                 "of quality (in percentage points for an accuracy; in its unit and in % of the reference for a "
                 "perplexity or a loss) with its paired 95 % CI, the p-value "
                 "of the effect (Holm-adjusted when the headline was chosen), whether the control is valid, and "
                 "whether energy was measured by hardware counters or modelled from CPU time. The exp column "
                 "names the experiment every number comes from.",
                 ["exp", "entry", "headline", "reference", "objective", "effect [95 % CI]", "E [95 % CI]",
                  "Δ quality [95 % CI]", "p", "control", "energy"], rows)


def limitations(lab: LabData, rated: list[Experiment], prose: Prose) -> list[str]:
    out = []
    est = [e for e in rated if _modelled(e)]
    if est:
        sources = energy_sources([r.result for x in est for r in lab.runs_of(x.id) if isinstance(r.result, dict)])
        out.append(f"Energy was modelled from CPU time, not measured by hardware counters ({ids(est)}"
                   + (f"; {', '.join(sources)}" if sources else "") + "): E compares a model of time, and energy "
                   "is not evidence beside time.")
    void = [e for e in rated if _void(e)]
    if void:
        out.append(f"Invalid controls (a diverged, under-budgeted or below-floor reference) void the headline of "
                   f"{ids(void)}: no effect is claimed there.")
    cpu = [e for e in rated if {r.device for r in lab.runs_of(e.id) if r.device} == {"cpu"}]
    if cpu:
        out.append(f"Every run ran on the CPU ({ids(cpu)}); GPU effects are not measured.")
    few = [e for e in rated if e.seeds < MIN_SEEDS]
    if few:
        out.append(f"Fewer than {MIN_SEEDS} seeds per variant: wide intervals, small effects undetectable ({ids(few)}).")
    smoke = [e for e in rated if e.params.get("profile") == "smoke"]
    if smoke:
        out.append(f"Smoke profile: capped data and one or two epochs, far from convergence ({ids(smoke)}).")
    datasets: dict[str, list[Experiment]] = {}
    for e in rated:
        datasets.setdefault(str(e.params.get("dataset", "unknown")), []).append(e)
    out.append("Datasets: " + "; ".join(f"{d} ({ids(es)})" for d, es in sorted(datasets.items()))
               + ": small models on small data; the results may not transfer to larger ones.")
    out.append("This draft was assembled automatically from the lab's records and has not been reviewed; "
               + ("its discussion was written by a language model and checked to cite only numbers stated here."
                  if prose.text else "its sentences were written from the numbers alone (offline)."))
    return out


def _experiment_paragraph(e: Experiment) -> str:
    found = e.breakdown.findings
    return (f"{e.name} ({e.catalog}, exp {e.id}, rated {e.rating:g}/10). "
            + headline_sentence(e) + (" Findings: " + "; ".join(found) + "." if found else ""))


def reproducibility(lab: LabData, counted: list[Experiment]) -> list[Block]:
    """The reproductions of the results and the earlier runs they supersede (science/counting.py:
    neither is a result of its own), one sentence each."""
    shown = {e.id for e in counted}
    lines = [line for r in count(lab.experiments).results if r.id in shown for line in r.lines()]
    if not lines:
        return []
    return ["Reproducibility. A reproduction (`lab reproduce`) re-runs an experiment from its git record and is "
            "the evidence of that experiment, not a result of its own; an entry run again with the same "
            "parameters is reported at its latest run, which supersedes the earlier ones. " + " ".join(lines)]


def _introduction(entries: list[CatalogEntry], keys_of: dict[str, list[str]]) -> Section:
    intro = Section("Introduction", "sec:intro", [
        "Training and serving neural networks costs energy, and a technique that cuts that cost is worth only "
        "as much quality as it keeps. This draft reports what an automated lab measured when it applied such "
        "techniques. Every measured number is followed by the experiment it comes from (e.g. exp 1), so it can be "
        "traced to that experiment's git record; the numbers of this introduction are the literature's."])
    for entry in entries:
        cite = f" [@{','.join(keys_of[entry.name])}]" if keys_of.get(entry.name) else ""
        intro.blocks.append(f"{entry.title}. {entry.summary} {entry.literature}{cite}".strip())
    intro.blocks.append("[#sec:method] describes how the experiments were run and judged, [#sec:results] what "
                        "they showed, and [#sec:limitations] what limits them.")
    return intro


def _method(lab: LabData, rated: list[Experiment]) -> Section:
    sources = energy_sources([r.result for e in rated for r in lab.runs_of(e.id) if isinstance(r.result, dict)])
    return Section("Method", "sec:method", [
        "Each experiment is a catalog entry with parameters and a plan of variants, one of them the baseline; "
        "every variant runs once per seed as a separate process that reports its metrics and its final results. "
        "Energy is read from hardware counters (RAPL, NVML) where the machine has them and otherwise modelled "
        "from CPU time" + (f" (here: {', '.join(sources)})" if sources else "") + "; modelled energy is a model of "
        "time, not a second measurement.",
        "Each catalog entry declares, per variant, its reference(s) and its objective (energy, latency, memory, "
        "size, stability or quality). For each variant the lab computes the mean, the standard deviation and the "
        "95 % confidence interval (Student t, kept within the possible range) over seeds; against each reference, "
        "the per-seed differences (a seed fixes the split and the initialisation of every variant) with a paired "
        "t-test and its 95 % interval, the efficiency score E = (quality / reference quality) x (reference energy "
        "/ energy) and every ratio (speedup, compression, memory) with a 95 % t-interval on the log ratios over paired "
        "seeds, and the smallest effect the design could detect when an effect is not significant. Quality is "
        f"kept when the interval of the change stays within the entry's non-inferiority margin: "
        f"{units.margin_rule(QUALITY_MARGIN)} unless the entry declares its own (a perplexity's changes "
        "are given in its unit and in % of the reference). A reference "
        "that diverged, received fewer optimizer steps or missed its quality floor voids the comparison. The "
        "headline is the variant the entry declares, or one chosen without test data with Holm's correction "
        "across the candidates. A published rubric rates each experiment: five points of evidence (complete "
        "runs, deliverables, valid controls, five paired seeds, measured rather than modelled evidence) and five "
        "of effect on the declared objective (significant after correction, quality kept, a clear and a large "
        "effect by the interval's lower bound, the same direction on every seed). "
        "[#tab:experiments] lists the experiments.", method_table(lab, rated)])


def _results(lab: LabData, rated: list[Experiment], figures: list[Figure]) -> list[Section]:
    """The results (the findings), the preliminary runs apart, and the figures in the first of them."""
    # a preliminary experiment (smoke, too few seeds) is no finding: out of the results, reported apart
    counted = [e for e in rated if not preliminary(e)]
    prelim = [e for e in rated if preliminary(e)]
    results = Section("Results", "sec:results")
    table = results_table(counted)
    if table.rows:
        results.blocks += ["[#tab:headlines] gives the headline variant of each experiment (declared by its "
                           "catalog entry, or chosen without test data and Holm-corrected) against its reference.",
                           table]
    elif counted:
        results.blocks.append("None of the rated experiments compares variants with a baseline: they measure "
                              "baselines only.")
    else:
        results.blocks.append("No experiment is a finding yet: every rated experiment is preliminary "
                              "([#sec:preliminary]).")
    where = results if counted else None
    results.blocks += [_experiment_paragraph(e) for e in counted] + reproducibility(lab, counted)
    sections = [results]
    if prelim:
        apart = Section("Preliminary runs", "sec:preliminary", [
            f"These experiments ran at the smoke profile or with fewer than {MIN_SEEDS} seeds per variant: they "
            f"are rated at most {PRELIMINARY_CAP}/10 and are not findings; their numbers are reported so that "
            "they can be checked, not as results."])
        apart.blocks += [_experiment_paragraph(e) for e in prelim]
        sections.append(apart)
        where = where or apart
    if figures and where is not None:
        where.blocks.append("The figures show the same numbers across experiments: "
                            + "; ".join(f"[#{f.label}], {f.caption.split(' (')[0].split(';')[0]}" for f in figures)
                            + ".")
        where.blocks += figures
    return sections


def build(lab: LabData, rated: list[Experiment], figures: list[Figure], prose: Prose) -> Document:
    entries = _entries(lab, rated)
    refs, keys_of = references(lab, rated)
    sections = [_introduction(entries, keys_of), _method(lab, rated), *_results(lab, rated, figures)]
    if prose.text:
        sections.append(Section("Discussion", "sec:discussion", [prose.text]))
    limits: list[Block] = [*limitations(lab, rated, prose)]
    sections.append(Section("Limitations", "sec:limitations", limits))
    return Document(f"What saves energy in machine learning? {len(rated)} rated experiment(s) from an autonomous lab",
                    "Joule Lab (automated draft)", time.strftime("%Y-%m-%d", time.gmtime()),
                    abstract(lab, rated, entries), sections, refs)


def draw(rated: list[Experiment], out: Path) -> list[Figure]:
    specs = [("fig:quality-energy", "figures/quality_energy.png", lab_figures.draw_quality_energy,
              "accuracy against energy for every variant of every rated experiment measured in accuracy "
              "(labelled exp id: variant); "
              "circled in red, the Pareto front."),
             ("fig:efficiency", "figures/efficiency.png", lab_figures.draw_efficiency,
              "efficiency score E of each experiment's headline variant (green: quality kept, non-inferior "
              "within its margin; orange: not shown kept; grey: comparison void, its control invalid, the reason in "
              "the headline table; dashed: E = 1)."),
             ("fig:ratings", "figures/ratings.png", lab_figures.draw_ratings, "the rating of each experiment (1-10).")]
    return [Figure(label, file, caption) for label, file, fn, caption in specs if fn(rated, out / file)]


async def write_paper(store: Store, catalog: Catalog, out: Path, settings: ResearchSettings | None = None,
                      only: set[int] | None = None) -> tuple[Path, Path]:
    """`paper.md`, `paper.tex` and `figures/` in `out`; the paths of the two drafts. `only`: the
    experiments it may use (`lab publish`: the counted ones), else every rated one; a reproduction
    or a superseded re-run is never one of them: it is told beside the result it supports."""
    lab = await load_lab(store, catalog)
    folded = count(lab.experiments).folded   # reproductions and superseded re-runs: evidence, no results
    rated = [e for e in lab.rated() if (only is None or e.id in only) and e.id not in folded]
    if not rated:
        raise PaperError("no rated experiment yet: the paper is assembled from rated experiments only "
                         "(see `lab status` and `lab rating <id>`)")
    out.mkdir(parents=True, exist_ok=True)
    counted = [e for e in rated if not preliminary(e)]
    figures = draw(counted or rated, out)  # the findings' numbers; preliminary ones only when there is none
    prose = OFFLINE
    if settings is not None:
        draft = to_markdown(build(lab, rated, figures, OFFLINE))
        prose = await discuss(store, settings, subject="Paper draft", summary=abstract(lab, rated, _entries(lab, rated)),
                              evidence=draft, ask="Write the discussion paragraph of this paper draft: what the "
                                                  "results mean and how far they can be trusted.")
    doc = build(lab, rated, figures, prose)
    tex = to_latex(doc)
    problems = unresolved(tex, out)
    if problems:
        raise PaperError("the LaTeX draft has unresolved references: " + "; ".join(problems[:5]))
    md_path, tex_path = out / "paper.md", out / "paper.tex"
    md_path.write_text(to_markdown(doc))
    tex_path.write_text(tex)
    return md_path, tex_path
