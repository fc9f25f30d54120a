"""`report.md` of one experiment: what was asked, how it was run, what came out, how sure we are,
how it was rated, what limits it and what comes next, with its figures.

Every number is read from the rating breakdown (docs/RECORDS.md) and written with
`contract.units`, so it can be traced to `rating.json` / `results.json` of the record.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.research_settings import ResearchSettings
from contract import quantities, units
from contract.child_kinds import CommandKind
from contract.comparison import MODELLED, Comparison, Effect, Pair, QualityChange
from contract.modifications import RecordRef
from contract.rating_record import Breakdown, VariantResult
from db import Store
from records.reports import markdown
from records.reports.between_bases import bases_section
from records.reports.experiment_data import ExperimentData, load
from records.reports.figures import Figure, experiment_figures
from records.reports.limitations import limitations
from records.reports.pareto import fronts
from records.reports.prose import OFFLINE, Prose, discuss
from science import eval_sets
from science import text as t
from science.catalog import Catalog
from science.headline import effect_text, headline_text, void_reason
from science.reproduction import compare, verdict
from science.rubric import preliminary_text
from science.thresholds import QUALITY_MARGIN


def _date(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t)) if isinstance(t, (int, float)) else units.MISSING


def _label(name: str, baseline: str) -> str:
    return f"**{name}** (baseline)" if name == baseline else name


def summary(d: ExperimentData) -> str:
    """The report's opening paragraph, from the numbers alone (the offline backend's text)."""
    b, keys, counts = d.breakdown, d.keys, d.breakdown.runs
    qk, ek = keys.get("quality", "quality"), keys.get("energy", "energy")
    parts = [f"Experiment {d.id} ran {len(d.variants)} variant(s) x {d.exp.seeds} seed(s) of "
             f"`{d.exp.catalog}`: {counts.succeeded if counts else 0} of {counts.total if counts else len(d.runs)} "
             "runs succeeded" + (f", {counts.skipped} skipped" if counts and counts.skipped else "")
             + (f", {counts.failed} did not succeed" if counts and counts.failed else "") + "."]
    base = d.variants.get(d.baseline)
    if base and base.n:
        parts.append(f"{t.the('baseline', d.baseline, True)} reached {qk} {base.quality.text(qk)} "
                     f"(95 % CI {base.quality.ci_text(qk)}) with {ek} {base.summary('energy').text(ek)}"
                     f"{units.energy_mark(base.energy_estimated)}.")
    h = b.headline
    if h:
        parts.append(f"Headline: {headline_text(h, qk)}.")
    if d.rated:
        earned = [c.label for c in b.criteria if c.points]
        parts.append(f"Rated {_rating(b)}/10 (rubric v{b.rubric_version or 1})"
                     + (f": {', '.join(earned)}." if earned else "."))
        if prelim := preliminary_text(replace(d.exp, rating_breakdown=b)):
            parts.append(f"{prelim}.")
    else:
        parts.append("Not rated: the validator has not rated it; the statistics below come from the "
                     "validator's own analysis.")
    if d.exp.error:
        parts.append(f"Error: {d.exp.error}")
    return " ".join(parts)


def method(d: ExperimentData) -> list[str]:
    exp, keys, env = d.exp, d.keys, d.environment
    out = ["## Method", ""]
    if d.entry is not None:
        out += [f"Catalog entry `{exp.catalog}` ({d.entry.title}, area {d.entry.area}): {d.entry.summary}", ""]
    mods = exp.modifications
    if exp.parent_id:
        changes = ", ".join(f"{k}={v}" for k, v in sorted(mods.changed.items())) or "no parameter change"
        out += [f"A child of experiment {exp.parent_id} ({'follow-up' if mods.kind is None else mods.kind}: {changes})"
                + (f"; why: {mods.rationale}" if mods.rationale else "") + ".", ""]
    out += ["**Parameters**", "", markdown.table(["parameter", "value"], [[k, v] for k, v in sorted(exp.params.items())]), ""]
    plan_rows = [[_label(v.name, d.baseline), ", ".join(v.depends_on) or units.MISSING,
                  ", ".join(f"{k}={val}" for k, val in sorted(v.params.items())) or units.MISSING]
                 for v in exp.plan]
    out += ["**Plan**", "", markdown.table(["variant", "depends on", "settings"], plan_rows), ""]
    seeds = sorted({r.seed for r in d.runs})
    counts = d.breakdown.runs
    out += [f"**Seeds**: {exp.seeds} per variant ({', '.join(map(str, seeds))}); "
            f"{counts.total if counts else len(d.runs)} runs.", ""]
    out += [f"**Compared**: quality `{keys.get('quality')}`, energy `{keys.get('energy')}` (the "
            f"{d.breakdown.gain_phase or 'training'} phase), time `{keys.get('time')}`, size "
            f"`{keys.get('size')}` (from {d.breakdown.keys_from or 'the catalog'}).", ""]
    libs = env.libraries
    hardware = [f"CPU {env.cpu} ({env.cpu_count} cores)",
                "GPU " + (", ".join(map(str, env.gpus)) or "none"),
                "runs on " + (", ".join(env.devices) or units.MISSING),
                f"Python {libs.get('python', env.python)}"]
    hardware += [f"{name} {libs[name]}" for name in ("torch", "numpy", "codecarbon") if name in libs]
    if env.joulelab_version:
        sha = env.joulelab_git_sha or ""
        hardware.append(f"Joule Lab {env.joulelab_version}" + (f" ({sha[:10]})" if sha else ""))
    out += ["**Hardware and software**: " + "; ".join(hardware) + "." + (f" ({env.note})" if env.note else ""), ""]
    return out


def _rating(b: Breakdown) -> str:
    """The rating as the record wrote it (an int since rubric v2; 7.0 read back stays 7.0)."""
    return str(b.rating)


def _row_label(name: str, v: VariantResult, baseline: str) -> str:
    """The variant, marked as the baseline or a reference point, or naming its own reference."""
    ref = v.reference
    if name == baseline:
        return f"**{name}** (baseline)"
    if ref is None:
        return f"**{name}** (reference)"
    return name if ref == baseline else f"{name} (vs {ref})"


def _cost_cell(estimate: float | None, ci: Pair | None) -> str:
    """A ratio with its CI (a t-interval on the log ratios): '2.01x [1.97..2.05x]'."""
    out = units.ratio(estimate)
    return out + (f" [{units.ratio_interval(ci)}]" if ci and None not in ci else "")


def _effect_cell(e: Effect | None) -> str:
    if e is None or e.estimate is None:
        return units.MISSING
    return effect_text(e)


def _reference_mean(d: ExperimentData, reference: str | None, delta: QualityChange | None) -> float | None:
    """The reference's mean quality a relative change is taken of (stored with the change since
    issue 22; read from the reference's summary for older records)."""
    if delta is not None and delta.reference_mean is not None:
        return delta.reference_mean
    ref = d.variants.get(str(reference))
    return ref.quality.mean if ref is not None else None


def _margin_text(d: ExperimentData) -> str:
    """The non-inferiority rule in the quality's own words."""
    qk = d.keys.get("quality", "quality")
    compared = [v.compared for v in d.variants.values()]
    margins = sorted({c.quality_margin for c in compared if isinstance(c.quality_margin, (int, float))})
    if quantities.kind_of(qk) is quantities.Kind.FRACTION:
        m = margins[0] if margins else QUALITY_MARGIN
        return f"the CI's lower bound of the quality change is at least {units.change(-m, quantities.Kind.FRACTION)}"
    shown = ", ".join(units.change(m, quantities.kind_of(qk)) for m in margins) or "the declared margin"
    declared = sorted({c.quality_margin_declared for c in compared if isinstance(c.quality_margin_declared, (int, float))})
    share = ", ".join(units.margin(m, quantities.kind_of(qk)) for m in declared) or "a share of the reference's mean"
    return f"the CI's bound of the {qk} change stays within the entry's margin ({shown}: {share})"


def _quality_row(d: ExperimentData, name: str, v: VariantResult, qk: str) -> list[Any]:
    """One variant's quality over seeds and its change against its reference."""
    is_ref = name == d.baseline or v.reference is None
    delta = v.compared.quality_delta
    ref_mean = _reference_mean(d, v.reference, delta)
    kind = quantities.kind_of(qk)
    return [_row_label(name, v, d.baseline), v.n, v.quality.text(qk), v.quality.ci_text(qk),
            units.MISSING if is_ref else units.change(delta.mean if delta else None, kind, ref_mean),
            units.MISSING if is_ref else units.change_interval(delta.ci95 if delta else None, kind, ref_mean)]


def _cost_row(d: ExperimentData, name: str, v: VariantResult) -> list[Any]:
    """One variant's costs over seeds and its ratios against its reference."""
    keys = d.keys
    ek, tk, sk, mk = (keys.get(r, r) for r in ("energy", "time", "size", "memory"))
    is_ref = name == d.baseline or v.reference is None
    c = v.compared
    cost = [_row_label(name, v, d.baseline), v.summary("energy").text(ek) + units.energy_mark(v.energy_estimated, short=True),
            v.summary("time").text(tk), v.summary("size").text(sk)]
    if "memory" in keys:
        cost.append(v.summary("memory").text(mk))
    e_cell = (f"void ({void_reason(c.control_note)})" if v.comparisons and c.control_valid is False
              else _cost_cell(c.efficiency_score, c.efficiency_score_ci95))
    cost += [("1.00x (reference)" if v.n else units.MISSING) if is_ref else e_cell,
             units.MISSING if is_ref else _cost_cell(c.speedup, c.ratio_ci("time")),
             units.MISSING if is_ref else _cost_cell(c.compression, c.ratio_ci("size"))]
    if "memory" in keys:
        cost.append(units.MISSING if is_ref else _cost_cell(c.memory_ratio, c.ratio_ci("memory")))
    return cost


def _test_row(d: ExperimentData, name: str, ref: str, c: Comparison) -> list[Any]:
    """One comparison's effect on its objective and its quality change, with their tests."""
    qk = d.keys.get("quality", "quality")
    e = c.effect or Effect(objective=None)
    cd = c.quality_delta
    kept = units.MISSING if c.quality_kept is None else "yes" if c.quality_kept else "no"
    control = "valid" if c.control_valid is not False else f"INVALID: {c.control_note}"
    p = e.p_value if c.effect is not None else c.p_value_of("energy")
    mde = (units.MISSING if e.significant or e.mde is None else
           (units.ratio(e.mde) if e.is_ratio else
            units.change(e.mde, quantities.kind_of(str(e.tested_on or e.metric or qk))).lstrip("+")))
    c_ref = _reference_mean(d, ref, cd)
    kind = quantities.kind_of(qk)
    mean, ci = (cd.mean, cd.ci95) if cd else (None, None)
    return [name, ref, e.objective or units.MISSING, _effect_cell(c.effect),
            units.pvalue(p) + (f" (on {e.tested_on})" if e.tested_on not in (None, e.metric) else ""), mde,
            f"{units.change(mean, kind, c_ref)} [{units.change_interval(ci, kind, c_ref)}]",
            units.pvalue(cd.p_value if cd else None), kept, "paired" if c.paired else "unpaired", control]


def _tests(d: ExperimentData, t_rows: list[list[Any]], v2: bool) -> list[str]:
    """The statistical tests' section."""
    qk = d.keys.get("quality", "quality")
    if t_rows and v2:
        return [f"Each variant against each of its references, paired by seed (a seed fixes the data split and "
                f"the initialisation of every variant). Effect: on the variant's declared objective, a cost ratio "
                f"(reference / variant, > 1 is better) with a 95 % t-interval on its logs over paired seeds, or a "
                f"change of the metric ({quantities.describe(qk)}); p: paired t-test (on the logs for a ratio); "
                f"where energy is {MODELLED} the test is on time. "
                f"MDE: the smallest effect the design could detect (80 % power) when the effect is not significant. "
                f"Quality kept: non-inferiority, {_margin_text(d)}. "
                f"Control: a reference that diverged, received fewer optimizer steps, or missed its quality floor "
                f"voids the comparison.", "",
                markdown.table(["variant", "reference", "objective", "effect [95 % CI]", "p", "MDE", f"Δ {qk} [95 % CI]",
                                "p (quality)", "quality kept", "pairing", "control"], t_rows), ""]
    if t_rows:
        rows = [[r[0], r[6], r[7], r[8]] for r in t_rows]
        return ["Rubric v1 record: Welch's unpaired t-test on quality.", "",
                markdown.table(["variant", f"Δ {qk} [95 % CI]", "p (quality)", "quality kept"], rows), ""]
    return ["No variant to test against a reference.", ""]


def results(d: ExperimentData) -> list[str]:
    keys, base = d.keys, d.baseline
    qk, ek, tk, sk = (keys.get(r, r) for r in ("quality", "energy", "time", "size"))
    mk = keys.get("memory")
    # a record of rubric v1 compared unpaired (Welch); every later one, and an unrated analysis, by seed
    v2 = not d.rated or (d.breakdown.rubric_version or 1) >= 2
    q_rows = [_quality_row(d, name, v, qk) for name, v in d.variants.items()]
    c_rows = [_cost_row(d, name, v) for name, v in d.variants.items()]
    t_rows = [_test_row(d, name, ref, c) for name, v in d.variants.items() if not (name == base or v.reference is None)
              for ref, c in (v.comparisons or {str(v.reference): v.compared}).items()]
    own = sorted({str(v.reference) for v in d.variants.values() if v.reference not in (None, base)})
    refs = f" (or the reference the plan names: {', '.join(own)})" if own else ""
    how = ("paired by seed: the mean of the per-seed differences with its paired-t 95 % CI" if v2 else
           "with its Welch-Satterthwaite 95 % CI (a record of rubric v1: unpaired)")
    cost_head = [ek + " (mean ± std)", tk, sk] + ([mk] if mk else []) + \
        ["E [95 % CI]", "speedup [95 % CI]", "compression [95 % CI]"] + (["memory ratio [95 % CI]"] if mk else [])
    out = ["## Results", "", f"Quality ({qk}) per variant over seeds: mean ± standard deviation, 95 % confidence "
           f"interval (Student t, kept within the possible range), and the difference to the reference{refs} "
           f"({quantities.describe(qk)}), {how}.", "",
           markdown.table(["variant", "n", f"{qk} (mean ± std)", "95 % CI", "Δ vs reference", "95 % CI of Δ"], q_rows), "",
           f"Costs per variant (mean ± std over seeds). E = ({qk} / reference) x (reference {ek} / {ek}); "
           f"speedup = reference {tk} / {tk}; compression = reference {sk} / {sk}"
           + (f"; memory ratio = reference {mk} / {mk}" if mk else "")
           + ("; each ratio with a 95 % t-interval on the log ratios over paired seeds" if v2 else "")
           + f". Energy marked *modelled* is {MODELLED} (no hardware counter), not a measurement.", "",
           markdown.table(["variant", *cost_head], c_rows), ""]
    for role, names in fronts(d.variants, qk).items():
        out.append(f"Pareto front of {qk} against {keys.get(role, role)}: {', '.join(names)}.")
    out += ["", "## Statistical tests", "", *_tests(d, t_rows, v2), *bases_section(d, qk)]
    h = d.breakdown.headline
    if h:
        v1 = "" if h.objective else " (rubric v1: the best E among the variants that keep quality within 1 point)"
        out += [f"Headline: {headline_text(h, qk)}{v1}.", ""]
    return out


def independent_sets(d: ExperimentData) -> list[str]:
    """The independent evaluation sets (`-p eval=`), apart from the test split and from the rating."""
    lines = eval_sets.lines(d.variants)
    if not lines:
        return []
    return ["## Independent evaluation sets", "",
            "Perplexity on each set given with `-p eval=` (scored after training; never used for training, "
            "selection or early stopping; not part of the rating), mean over seeds with its 95 % t-interval, "
            f"and the change against the variant's primary reference ({eval_sets.METHOD}, in % of the "
            "reference's perplexity).", "", "```", *lines, "```", ""]


def rating(d: ExperimentData) -> list[str]:
    b = d.breakdown
    out = ["## Rating", ""]
    if not d.rated:
        return [*out, "Not rated (see `lab rating` once the validator has run).", ""]
    rows = [[c.label, f"{c.points}/{c.max}", c.evidence] for c in b.criteria]
    prelim = preliminary_text(replace(d.exp, rating_breakdown=b))
    out += [f"**{_rating(b)}/10** (rubric v{b.rubric_version or 1}, docs/AGENTS.md)."
            + (f" **{prelim}.**" if prelim else ""), "", markdown.table(["criterion", "points", "evidence"], rows), ""]
    checked = b.deliverables
    if checked:
        ok = {True: "met", False: "not met", None: "not applicable"}
        out += ["Deliverables:", "", markdown.table(["deliverable", "result", "detail"],
                                                    [[x.deliverable.kind, ok[x.ok], x.detail]
                                                     for x in checked]), ""]
    return out


def follow_ups(d: ExperimentData) -> list[str]:
    out = ["## Follow-ups", ""]
    items = d.breakdown.follow_ups
    for f in items:
        kind = (f.kind or "follow-up").replace("_", " ")
        changes = ", ".join(f"{k}={v}" for k, v in sorted(f.changes.items())) or "no parameter change"
        if f.experiment_id:
            state = f"proposed as experiment {f.experiment_id}" + (" (approved)" if f.approved else " (waiting for approval)")
        elif f.duplicate_of:
            state = f"already studied by experiment {f.duplicate_of}"
        elif f.error:
            state = f"not proposed: {f.error}"
        else:
            state = "suggested (`lab sprint` takes it up)"
        out.append(f"- {kind}: {changes}, {f.seeds} seed(s); {state}. Why: {f.rationale or units.MISSING}")
    if not items:
        out.append("- none proposed by the validator" + ("" if d.rated else " (not rated)") + ".")
    out.append(f"- reproduce it: `lab reproduce {d.id}`.")
    return [*out, ""]


def reproduction(d: ExperimentData) -> list[str]:
    mods = d.exp.modifications
    if mods.kind != CommandKind.REPRODUCTION or mods.original is None:
        return []
    checks = compare(mods.original, d.breakdown)
    _ok, sentence = verdict(checks)
    rows = [[c.variant, c.key, units.of(c.key, c.original_mean),
             units.interval(c.original_ci95, quantities.kind_of(c.key)), units.of(c.key, c.new_mean),
             {True: "yes", False: "no", None: units.MISSING}[c.within]] for c in checks]
    record = mods.record or RecordRef(units.MISSING, units.MISSING)
    return ["## Reproduction", "", f"This experiment re-ran experiment {mods.of} from its git record "
            f"({record.tag}, commit {record.sha[:10]}). "
            f"Verdict: {sentence}.", "",
            markdown.table(["variant", "key", "original mean", "original 95 % CI", "reproduction mean", "within"], rows), ""]


def render(d: ExperimentData, figures: list[Figure], notes: list[str], prose: Prose) -> str:
    exp = d.exp
    rating_text = f"rating {_rating(d.breakdown)}/10" if d.rated else "not rated"
    out = [f"# Experiment {d.id}: {exp.name}", "",
           f"`{exp.catalog}` ({d.title()}) · area {d.area()} · {exp.status} · {rating_text} · "
           f"created {_date(exp.created_at)}, finished {_date(exp.finished_at)} · git tag `exp/{d.id}`", "",
           "## Summary", "", summary(d), ""]
    if prose.text:
        out += [prose.text, "", f"*(Discussion written by the language model, {prose.backend}; every number in "
                                "it was checked against this report.)*", ""]
    elif prose.note:
        out += [f"*({prose.note}.)*", ""]
    out += ["## Hypothesis", "", exp.hypothesis or units.MISSING, "",
            "## Research question", "", exp.research_question or units.MISSING, ""]
    out += method(d) + results(d) + independent_sets(d) + rating(d)
    found = d.breakdown.findings
    out += ["## Findings", ""] + [f"- {f}" for f in found] + (["- none"] if not found else []) + [""]
    out += ["## Limitations", ""] + [f"- {x}" for x in limitations(d)] + [""]
    out += follow_ups(d) + reproduction(d)
    out += ["## Figures", ""]
    for i, f in enumerate(figures, 1):
        out += [f"![{f.title}]({f.file})", "", f"*Figure {i}: {f.title}. {f.caption}*", ""]
    out += [f"- {n}" for n in notes] + ([""] if notes else [])
    out += ["## Record", "", f"This folder is the git record of experiment {d.id} (tag `exp/{d.id}`): "
            "experiment.json, plan.json, runs.json, results.json (per run), metrics.csv (every metric "
            "point), environment.json, code/ (with its SHA256), specs/ (each run's spec), rating.json "
            "(the breakdown every number here comes from), this report and its figures. "
            f"Text: {prose.backend} backend.", ""]
    return "\n".join(out)


async def write(store: Store, exp_id: int, out: Path, catalog: Catalog, settings: ResearchSettings | None = None,
                record: Path | None = None) -> Path:
    """Write `report.md` and `figures/*.png` of experiment `exp_id` into `out`; the report's path."""
    d = await load(store, exp_id, catalog, record if record is not None else out)
    out.mkdir(parents=True, exist_ok=True)
    figures, notes = experiment_figures(d.metrics, d.runs, d.breakdown, out)
    prose = OFFLINE
    if settings is not None:
        draft = render(d, figures, notes, OFFLINE)
        prose = await discuss(store, settings, subject=f"Report of experiment {d.id}", summary=summary(d),
                              evidence=draft, experiment_id=d.id,
                              ask="Write a short discussion of these results for the experiment's report: what "
                                  "they mean for energy-efficient machine learning and how far they can be trusted.")
    path = out / "report.md"
    path.write_text(render(d, figures, notes, prose))
    return path
