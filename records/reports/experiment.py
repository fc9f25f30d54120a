"""`report.md` of one experiment: what was asked, how it was run, what came out, how sure we are,
how it was rated, what limits it and what comes next, with its figures.

Every number is read from the rating breakdown (docs/RECORDS.md) and written with
`contract.units`, so it can be traced to `rating.json` / `results.json` of the record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agents.research_settings import ResearchSettings
from contract import quantities, units
from records.reports import markdown
from records.reports.experiment_data import ExperimentData, load
from records.reports.figures import Figure, experiment_figures
from records.reports.limits import limitations
from records.reports.pareto import fronts
from records.reports.prose import OFFLINE, Prose, discuss
from records.reports.reproduction import compare, verdict
from science import eval_sets
from science import text as t
from science.analysis import MODELLED, effect_text, headline_text, void_reason
from science.catalog import Catalog
from science.rubric import preliminary_text
from science.thresholds import QUALITY_MARGIN


def _date(t: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t)) if isinstance(t, (int, float)) else units.MISSING


def _label(name: str, baseline: str) -> str:
    return f"**{name}** (baseline)" if name == baseline else name


def summary(d: ExperimentData) -> str:
    """The report's opening paragraph, from the numbers alone (the offline backend's text)."""
    b, keys, counts = d.breakdown, d.keys, d.breakdown.get("runs") or {}
    qk, ek = keys.get("quality", "quality"), keys.get("energy", "energy")
    parts = [f"Experiment {d.id} ran {len(d.variants)} variant(s) x {d.exp['seeds']} seed(s) of "
             f"`{d.exp['catalog']}`: {counts.get('succeeded', 0)} of {counts.get('total', len(d.runs))} runs "
             "succeeded" + (f", {counts['skipped']} skipped" if counts.get("skipped") else "")
             + (f", {counts['failed']} did not succeed" if counts.get("failed") else "") + "."]
    base = d.variants.get(d.baseline)
    if base and base.get("n"):
        parts.append(f"{t.the('baseline', d.baseline, True)} reached {qk} {units.summary(qk, base['quality'])} "
                     f"(95 % CI {units.summary_ci(qk, base['quality'])}) with {ek} {units.summary(ek, base['energy'])}"
                     f"{units.energy_mark(base.get('energy_estimated'))}.")
    h = b.get("headline")
    if h:
        parts.append(f"Headline: {headline_text(h, qk)}.")
    if d.rated:
        earned = [c["label"] for c in b.get("criteria", []) if c.get("points")]
        parts.append(f"Rated {b['rating']}/10 (rubric v{b.get('rubric_version', 1)})"
                     + (f": {', '.join(earned)}." if earned else "."))
        if prelim := preliminary_text({**d.exp, "rating_breakdown": b}):
            parts.append(f"{prelim}.")
    else:
        parts.append("Not rated: the validator has not rated it; the statistics below come from the "
                     "validator's own analysis.")
    if d.exp.get("error"):
        parts.append(f"Error: {d.exp['error']}")
    return " ".join(parts)


def method(d: ExperimentData) -> list[str]:
    exp, keys, env = d.exp, d.keys, d.environment
    out = ["## Method", ""]
    if d.entry is not None:
        out += [f"Catalog entry `{exp['catalog']}` ({d.entry.title}, area {d.entry.area}): {d.entry.summary}", ""]
    mods = exp.get("modifications") or {}
    if exp.get("parent_id"):
        changes = ", ".join(f"{k}={v}" for k, v in sorted((mods.get("params") or {}).items())) or "no parameter change"
        out += [f"A child of experiment {exp['parent_id']} ({mods.get('kind', 'follow-up')}: {changes})"
                + (f"; why: {mods['rationale']}" if mods.get("rationale") else "") + ".", ""]
    out += ["**Parameters**", "", markdown.table(["parameter", "value"], [[k, v] for k, v in sorted(exp["params"].items())]), ""]
    plan_rows = [[_label(v["name"], d.baseline), ", ".join(v.get("depends_on") or []) or "-",
                  ", ".join(f"{k}={val}" for k, val in sorted((v.get("params") or {}).items())) or "-"]
                 for v in exp["plan"]]
    out += ["**Plan**", "", markdown.table(["variant", "depends on", "settings"], plan_rows), ""]
    seeds = sorted({r["seed"] for r in d.runs})
    counts = d.breakdown.get("runs") or {}
    out += [f"**Seeds**: {exp['seeds']} per variant ({', '.join(map(str, seeds))}); "
            f"{counts.get('total', len(d.runs))} runs.", ""]
    out += [f"**Compared**: quality `{keys.get('quality')}`, energy `{keys.get('energy')}` (the "
            f"{d.breakdown.get('gain_phase', 'training')} phase), time `{keys.get('time')}`, size "
            f"`{keys.get('size')}` (from {d.breakdown.get('keys_from', 'the catalog')}).", ""]
    libs = env.get("libraries") or {}
    hardware = [f"CPU {env.get('cpu', '?')} ({env.get('cpu_count', '?')} cores)",
                "GPU " + (", ".join(map(str, env.get("gpus") or [])) or "none"),
                "runs on " + (", ".join(env.get("devices") or []) or "?"),
                f"Python {libs.get('python', env.get('python', '?'))}"]
    hardware += [f"{name} {libs[name]}" for name in ("torch", "numpy", "codecarbon") if name in libs]
    if env.get("joulelab_version"):
        sha = env.get("joulelab_git_sha") or ""
        hardware.append(f"Joule Lab {env['joulelab_version']}" + (f" ({sha[:10]})" if sha else ""))
    out += ["**Hardware and software**: " + "; ".join(hardware) + "." + (f" ({env['note']})" if env.get("note") else ""), ""]
    return out


def _row_label(name: str, v: dict[str, Any], baseline: str) -> str:
    """The variant, marked as the baseline or a reference point, or naming its own reference."""
    ref = v.get("reference")
    if name == baseline:
        return f"**{name}** (baseline)"
    if ref is None:
        return f"**{name}** (reference)"
    return name if ref == baseline else f"{name} (vs {ref})"


def _cost_cell(v: dict[str, Any], label: str) -> str:
    """A ratio with its CI (a t-interval on the log ratios): '2.01x [1.97..2.05x]'."""
    ci = v.get(f"{label}_ci95")
    out = units.ratio(v.get(label))
    return out + (f" [{units.ratio_interval(ci)}]" if ci and None not in ci else "")


def _effect_cell(e: dict[str, Any]) -> str:
    if not e or e.get("estimate") is None:
        return units.MISSING
    return effect_text(e)


def _reference_mean(d: ExperimentData, v: dict[str, Any], delta: dict[str, Any]) -> Any:
    """The reference's mean quality a relative change is taken of (stored with the change since
    issue 22; read from the reference's summary for older records)."""
    if delta.get("reference_mean") is not None:
        return delta["reference_mean"]
    return ((d.variants.get(str(v.get("reference"))) or {}).get("quality") or {}).get("mean")


def _spread(key: str, variance: Any) -> str:
    """A variance said as its standard deviation in the key's own words ('±0.41 ppl')."""
    if not isinstance(variance, (int, float)) or variance < 0:
        return "-"
    return "±" + units.change(variance ** 0.5, quantities.kind_of(key)).lstrip("+")


def _bases_section(d: ExperimentData, qk: str) -> list[str]:
    """The variance between independently pre-trained base models (issue 22 item 6), per variant
    and per comparison, as the validator computed it; nothing when the seeds used one base."""
    rows = []
    for name, v in d.variants.items():
        own = v.get("between_bases")
        if not own:
            continue
        rows.append([name, "-", ", ".join(f"{b}: {units.result_value(qk, m)}" for b, m in (own.get("per_base") or {}).items()),
                     _spread(qk, own.get("between_var")), _spread(qk, own.get("within_var"))])
        for ref, c in (v.get("comparisons") or {}).items():
            cb = c.get("between_bases")
            if cb:
                per_base = (cb.get("per_base") or {}).items()
                rows.append([name, ref, ", ".join(f"{b}: {units.change(m, quantities.kind_of(qk))}" for b, m in per_base),
                             _spread(qk, cb.get("between_var")), _spread(qk, cb.get("within_var"))])
    if not rows:
        return []
    bases = next(v["between_bases"]["bases"] for v in d.variants.values() if v.get("between_bases"))
    return [f"Base models: the seeds fine-tuned {bases} independently pre-trained bases (seed s: base s mod "
            f"{bases}). {qk} and its changes are replicated by base: their intervals above are over the bases' "
            f"means, so they cover the variation between bases, not only between fine-tuning seeds. Per base, and "
            f"the standard deviation between bases and within one (one-way random effects):", "",
            markdown.table(["variant", "Δ against", f"{qk} (or Δ) per base", "between bases", "within a base"], rows), ""]


def _margin_text(d: ExperimentData) -> str:
    """The non-inferiority rule in the quality's own words."""
    qk = d.keys.get("quality", "quality")
    margins = sorted({v["quality_margin"] for v in d.variants.values() if isinstance(v.get("quality_margin"), (int, float))})
    if quantities.kind_of(qk) is quantities.Kind.FRACTION:
        m = margins[0] if margins else QUALITY_MARGIN
        return f"the CI's lower bound of the quality change is at least {units.change(-m, quantities.Kind.FRACTION)}"
    shown = ", ".join(units.change(m, quantities.kind_of(qk)) for m in margins) or "the declared margin"
    declared = sorted({v["quality_margin_declared"] for v in d.variants.values()
                       if isinstance(v.get("quality_margin_declared"), (int, float))})
    share = ", ".join(units.margin(m, quantities.kind_of(qk)) for m in declared) or "a share of the reference's mean"
    return f"the CI's bound of the {qk} change stays within the entry's margin ({shown}: {share})"


def results(d: ExperimentData) -> list[str]:
    keys, base = d.keys, d.baseline
    qk, ek, tk, sk = (keys.get(r, r) for r in ("quality", "energy", "time", "size"))
    mk = keys.get("memory")
    v2 = any("paired" in v for v in d.variants.values())
    q_rows, c_rows, t_rows = [], [], []
    for name, v in d.variants.items():
        delta = v.get("quality_delta") or {}
        is_ref = name == base or v.get("reference") is None
        label = _row_label(name, v, base)
        ref_mean = _reference_mean(d, v, delta)
        q_rows.append([label, v.get("n", 0), units.summary(qk, v.get("quality")), units.summary_ci(qk, v.get("quality")),
                       units.MISSING if is_ref else units.change(delta.get("mean"), quantities.kind_of(qk), ref_mean),
                       units.MISSING if is_ref else units.change_interval(delta.get("ci95"), quantities.kind_of(qk), ref_mean)])
        cost = [label, units.summary(ek, v.get("energy")) + units.energy_mark(v.get("energy_estimated"), short=True),
                units.summary(tk, v.get("time")), units.summary(sk, v.get("size"))]
        if mk:
            cost.append(units.summary(mk, v.get("memory")))
        e_cell = (f"void ({void_reason(v.get('control_note'))})" if v.get("control_valid") is False
                  else _cost_cell(v, "efficiency_score"))
        cost += [("1.00x (reference)" if v.get("n") else units.MISSING) if is_ref else e_cell,
                 units.MISSING if is_ref else _cost_cell(v, "speedup"), units.MISSING if is_ref else _cost_cell(v, "compression")]
        if mk:
            cost.append(units.MISSING if is_ref else _cost_cell(v, "memory_ratio"))
        c_rows.append(cost)
        if is_ref:
            continue
        for ref, c in (v.get("comparisons") or {v.get("reference"): v}).items():
            e = c.get("effect") or {}
            cd = c.get("quality_delta") or {}
            kept = {True: "yes", False: "no"}.get(c.get("quality_kept"), "-")
            control = "valid" if c.get("control_valid", True) else f"INVALID: {c.get('control_note')}"
            p = e.get("p_value", c.get("energy_p_value"))
            mde = (units.MISSING if e.get("significant") or e.get("mde") is None else
                   (units.ratio(e["mde"]) if e.get("kind") == "ratio" else
                    units.change(e["mde"], quantities.kind_of(str(e.get("tested_on") or e.get("metric") or qk))).lstrip("+")))
            c_ref = _reference_mean(d, {**v, "reference": ref}, cd)
            kind = quantities.kind_of(qk)
            t_rows.append([name, ref, e.get("objective", "-"), _effect_cell(e),
                           units.pvalue(p) + (f" (on {e['tested_on']})" if e.get("tested_on") not in (None, e.get("metric"))
                                            else ""), mde,
                           f"{units.change(cd.get('mean'), kind, c_ref)} [{units.change_interval(cd.get('ci95'), kind, c_ref)}]",
                           units.pvalue(cd.get("p_value")),
                           kept, "paired" if c.get("paired") else "unpaired", control])
    own = sorted({v["reference"] for v in d.variants.values() if v.get("reference") not in (None, base)})
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
    out += ["", "## Statistical tests", ""]
    if t_rows and v2:
        out += [f"Each variant against each of its references, paired by seed (a seed fixes the data split and "
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
    elif t_rows:
        rows = [[r[0], r[6], r[7], r[8]] for r in t_rows]
        out += ["Rubric v1 record: Welch's unpaired t-test on quality.", "",
                markdown.table(["variant", f"Δ {qk} [95 % CI]", "p (quality)", "quality kept"], rows), ""]
    else:
        out += ["No variant to test against a reference.", ""]
    out += _bases_section(d, qk)
    h = d.breakdown.get("headline")
    if h:
        v1 = "" if h.get("objective") else " (rubric v1: the best E among the variants that keep quality within 1 point)"
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
    rows = [[c["label"], f"{c['points']}/{c.get('max', 1)}", c.get("evidence", "")] for c in b["criteria"]]
    prelim = preliminary_text({**d.exp, "rating_breakdown": b})
    out += [f"**{b['rating']}/10** (rubric v{b.get('rubric_version', 1)}, docs/AGENTS.md)."
            + (f" **{prelim}.**" if prelim else ""), "", markdown.table(["criterion", "points", "evidence"], rows), ""]
    checked = b.get("deliverables") or []
    if checked:
        ok = {True: "met", False: "not met", None: "not applicable"}
        out += ["Deliverables:", "", markdown.table(["deliverable", "result", "detail"],
                                                    [[x.get("kind"), ok.get(x.get("ok"), "-"), x.get("detail", "")]
                                                     for x in checked]), ""]
    return out


def follow_ups(d: ExperimentData) -> list[str]:
    out = ["## Follow-ups", ""]
    items = d.breakdown.get("follow_ups") or []
    for f in items:
        kind = str(f.get("kind", "follow-up")).replace("_", " ")
        changes = ", ".join(f"{k}={v}" for k, v in sorted((f.get("changes") or {}).items())) or "no parameter change"
        if f.get("experiment_id"):
            state = (f"proposed as experiment {f['experiment_id']}"
                     + (" (approved)" if f.get("approved") else " (waiting for approval)"))
        elif f.get("duplicate_of"):
            state = f"already studied by experiment {f['duplicate_of']}"
        elif f.get("error"):
            state = f"not proposed: {f['error']}"
        else:
            state = "suggested (`lab sprint` takes it up)"
        out.append(f"- {kind}: {changes}, {f.get('seeds', '?')} seed(s); {state}. Why: {f.get('rationale', '-')}")
    if not items:
        out.append("- none proposed by the validator" + ("" if d.rated else " (not rated)") + ".")
    out.append(f"- reproduce it: `lab reproduce {d.id}`.")
    return [*out, ""]


def reproduction(d: ExperimentData) -> list[str]:
    mods = d.exp.get("modifications") or {}
    if mods.get("kind") != "reproduction" or not isinstance(mods.get("original"), dict):
        return []
    checks = compare(mods["original"], d.breakdown)
    _ok, sentence = verdict(checks)
    rows = [[c.variant, c.key, units.of(c.key, c.original_mean),
             units.interval(c.original_ci95, quantities.kind_of(c.key)), units.of(c.key, c.new_mean),
             {True: "yes", False: "no", None: "-"}[c.within]] for c in checks]
    return ["## Reproduction", "", f"This experiment re-ran experiment {mods.get('of')} from its git record "
            f"({mods.get('record', {}).get('tag', '?')}, commit {str(mods.get('record', {}).get('sha', '?'))[:10]}). "
            f"Verdict: {sentence}.", "",
            markdown.table(["variant", "key", "original mean", "original 95 % CI", "reproduction mean", "within"], rows), ""]


def render(d: ExperimentData, figures: list[Figure], notes: list[str], prose: Prose) -> str:
    exp = d.exp
    rating_text = f"rating {d.breakdown['rating']}/10" if d.rated else "not rated"
    out = [f"# Experiment {d.id}: {exp['name']}", "",
           f"`{exp['catalog']}` ({d.title()}) · area {d.area()} · {exp['status']} · {rating_text} · "
           f"created {_date(exp.get('created_at'))}, finished {_date(exp.get('finished_at'))} · git tag `exp/{d.id}`", "",
           "## Summary", "", summary(d), ""]
    if prose.text:
        out += [prose.text, "", f"*(Discussion written by the language model, {prose.backend}; every number in "
                                "it was checked against this report.)*", ""]
    elif prose.note:
        out += [f"*({prose.note}.)*", ""]
    out += ["## Hypothesis", "", exp.get("hypothesis") or "-", "",
            "## Research question", "", exp.get("research_question") or "-", ""]
    out += method(d) + results(d) + independent_sets(d) + rating(d)
    found = d.breakdown.get("findings") or []
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


async def write(store: Any, exp_id: int, out: Path, catalog: Catalog, settings: ResearchSettings | None = None,
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
