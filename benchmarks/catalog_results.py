"""Tables for RESULTS.md from a drained lab, as the validator saw it.

    python -m benchmarks.catalog_results LAB_DIR > tables.md

Every number comes from the lab's one statistics module (`science.stats`) or from the validator's
stored analysis (`rating_breakdown`): the variant tables give the mean and 95 % t-interval over
seeds (bounded quantities kept in range) — except where the seeds fine-tuned independently
pre-trained base models (the language-model entries, issue 22 item 6): there what the weights
decide (the quality key, perplexities, accuracies, losses) is over the bases' means, the unit the
validator replicates by (its own stored summary for the quality key, the same grouping for the
others), and only costs stay over seeds; the "claim -> evidence -> verdict" table gives, for each
variant against each of its declared references, the validator's effect on the declared objective
with its 95 % CI, Holm-adjusted across the experiment's comparisons, the quality change as
non-inferiority (within the entry's margin: 1 point of an accuracy, a share of the reference's
perplexity), and whether the control was valid.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path
from typing import Any

from benchmarks.entry_tables import META_PAIRS, chain_table, pairs_table, task_table
from benchmarks.results_data import NOTHING_VALIDATED, Seeds, Validated
from contract import quantities, units
from contract.comparison import Comparison, Effect, QualityChange
from contract.rating_record import Breakdown, Headline
from science import stats
from science.experiment_info import fraction
from science.headline import effect_text, quality_change, quality_text
from science.thresholds import QUALITY_MARGIN

# what a researcher reads first for each experiment (result keys carry their units)
KEYS: dict[str, list[str]] = {
    "logreg": ["test_accuracy", "train_time_s", "energy_train_kwh"],
    "quantization": ["test_accuracy", "model_size_bytes", "latency_ms", "energy_inference_kwh"],
    "pruning": ["test_accuracy", "params_nonzero", "model_size_bytes", "latency_ms", "energy_inference_kwh"],
    "optimizers": ["test_accuracy", "selected_lr", "steps_to_target", "optimizer_state_bytes", "energy_train_kwh"],
    "micro_architecture": ["test_accuracy", "params_total", "flops_per_forward", "latency_ms",
                           "energy_inference_kwh"],
    "mixed_precision": ["test_accuracy", "train_time_s", "train_throughput_samples_per_s", "energy_train_kwh"],
    "distillation": ["test_accuracy", "compression_ratio_vs_teacher", "latency_ms", "energy_inference_kwh"],
    "checkpointing": ["test_accuracy", "activation_mem_bytes", "peak_mem_bytes", "train_time_s"],
    "batch_size": ["test_accuracy", "train_throughput_samples_per_s", "steps_to_target", "train_time_s"],
    "gradient_clipping": ["test_accuracy", "selected_lr", "divergence_rate", "time_to_target_s", "energy_train_kwh"],
    "lora_rank": ["test_perplexity", "test_token_accuracy", "params_trainable", "train_time_s", "energy_train_kwh"],
    "lora_merge": ["test_perplexity", "model_size_bytes", "latency_b8_ms", "energy_inference_kwh"],
    "compression_pipeline": ["test_perplexity", "perplexity_vs_uncompressed", "model_size_bytes",
                             "bits_per_block_weight", "latency_b8_ms", "speedup_b8", "stage_time_s"],
    "meta_learning": ["test_perplexity", "mean_task_perplexity", "adapt_lr", "train_time_s", "energy_train_kwh"],
    "one_shot_compression": ["test_perplexity", "perplexity_vs_uncompressed", "model_size_bytes",
                             "bits_per_block_weight", "block_sparsity", "stage_time_s"],
    "speculative_decoding": ["greedy_token_match", "acceptance_rate", "draft_agreement", "decode_ms_per_token",
                             "speedup", "expected_speedup", "energy_per_token_kwh"],
    "lm_deployment": ["test_perplexity", "model_size_bytes", "zstd_size_bytes", "zstd_decompress_ms",
                      "edge_latency_ms", "speedup"],
    "edge_onnx": ["test_accuracy", "model_size_bytes", "edge_latency_ms", "speedup", "prediction_agreement",
                  "energy_inference_kwh"],
    "lr_schedules": ["test_accuracy", "selected_lr", "steps_to_target", "time_to_target_s", "energy_to_target_kwh"],
    "low_rank": ["test_accuracy", "params_total", "params_removed_fraction", "model_size_bytes", "latency_b64_ms",
                 "speedup", "energy_inference_kwh"],
    "finetune": ["final_accuracy", "test_perplexity", "eval_loss", "train_time_s", "energy_kwh"],
    "sophia": ["test_perplexity", "val_loss", "selected_lr", "steps_to_target", "time_to_target_s",
               "energy_to_target_kwh", "optimizer_state_bytes"],
}


def cell(key: str, values: list[float], missing: int) -> str:
    """mean [95 % CI] in the key's unit (`contract.quantities`, the one formatter); bounded
    quantities stay in range, and no interval of a non-negative quantity goes below 0."""
    kind = quantities.kind_of(key)
    bounds = (0.0, 1.0) if kind is quantities.Kind.FRACTION else (
        (0.0, math.inf) if quantities.info(kind).non_negative else None)
    s = stats.summarize(values, bounds)
    if s.mean is None:
        return units.MISSING
    text = units.value(s.mean, kind) + (f" [{units.interval(s.ci95, kind)}]" if s.ci95 is not None
                                              else " [n=1]")
    return text + (f" ({s.n} of {s.n + missing})" if missing else "")


def variant_table(keys: list[str], seeds: Seeds, validated: Validated = NOTHING_VALIDATED) -> list[str]:
    """Mean [95 % CI] of each key per variant: over seeds, or, where the seeds fine-tuned at least
    two pre-trained bases, over the bases' means for what the weights decide (the validator's own
    summary for its quality and validation keys; the same grouping, `stats.group_means`, for the
    others), costs still over seeds."""
    lines = ["| variant | n | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for variant in seeds.order:
        mine = seeds.values.get(variant, {})
        if not mine:
            status = ", ".join(sorted(set(seeds.statuses.get(variant, []))))
            lines.append(f"| {variant} | 0 | {status} |" + " |" * (len(keys) - 1))
            continue
        cells = []
        for key in keys:
            values = seeds.of_key(variant, key)
            role = validated.of_the_weights(key) if seeds.base_of else None
            stored = validated.summaries.get((variant, role or ""))
            if not values:
                cells.append(units.MISSING)
            elif stored is not None:  # the validator's own numbers
                kind = quantities.kind_of(key)
                cells.append(units.value(stored[0], kind) + (f" [{units.interval(stored[1], kind)}]" if stored[1]
                                                             else " [n=1]"))
            elif role is not None:
                cells.append(cell(key, seeds.by_base(values), 0))
            else:
                cells.append(cell(key, list(values.values()), len(mine) - len(values)))
        n = f"{len(mine)} ({seeds.n_bases} bases)" if seeds.base_of else str(len(mine))
        lines.append(f"| {variant} | {n} | " + " | ".join(cells) + " |")
    return lines


def variant_legend(seeds: Seeds) -> str:
    """What a variant table's intervals are over (one line, above the table)."""
    k = seeds.n_bases
    if not k:
        return "Mean over seeds [95 % t-interval over seeds]:"
    return (f"Mean [95 % t-interval]: what the weights decide (accuracies, perplexities, losses) over the {k} "
            f"pre-trained bases' means ({k - 1} degree{'s' if k > 2 else ''} of freedom: the seeds are nested in "
            "the bases, as the validator counts them; the quality key is the validator's own summary); costs "
            "(time, energy, size) over the seeds:")


def comparisons(breakdown: Breakdown) -> list[tuple[str, str, Comparison]]:
    """(variant, reference, comparison) for every variant against each of its references."""
    return [(name, ref, c) for name, v in breakdown.variants.items() for ref, c in (v.comparisons or {}).items()]


def verdict(c: Comparison, p_adj: float | None, quality_key: str = "test_accuracy") -> str:
    """What the comparison shows, in the order a reviewer checks it."""
    effect = c.effect or Effect()
    if not c.control_valid:
        return f"**void**: {c.control_note}"
    # modelled energy is tested on time: the direction that counts is the tested metric's
    est = effect.tested_estimate if effect.tested_estimate is not None else effect.estimate
    ratio = c.effect is not None and effect.kind == "ratio"
    good = est is not None and (est > 1 if ratio else est > 0)
    lost = c.quality_kept is False and effect.objective != "quality"
    q = c.quality_delta or QualityChange()
    qci = q.ci95
    if p_adj is not None and p_adj < 0.05 and good:
        shown = "**supported**"
    elif p_adj is not None and p_adj < 0.05:
        shown = "**refuted** (significant the other way)"
    else:
        mde = effect.mde
        detects = units.ratio(mde) if ratio else \
            units.change(mde, quantities.kind_of(str(effect.tested_on or effect.metric or ""))).lstrip("+")
        shown = "not shown" + (f" (the design detects {detects} at 80 % power)" if mde is not None else "")
    margin = c.quality_margin
    kind = quantities.kind_of(quality_key)
    ref = q.reference_mean
    if not fraction(quality_key):  # an unbounded quality (perplexity: lower is better), in its own units
        if lost and qci and qci[1] is not None:
            shown += (f"; quality not kept (Δ {quality_key} upper bound {units.change(qci[1], kind, ref)} > "
                      f"{units.change(margin, kind, ref)})")
        elif c.quality_kept and effect.objective != "quality":
            shown += f"; quality kept (Δ {quality_key} within {units.change(margin, kind, ref)})"
        return shown
    if lost and qci and qci[0] is not None:
        shown += (f"; quality not kept (Δ lower bound {units.change(qci[0], kind)} < "
                  f"{units.change(-(margin or QUALITY_MARGIN), kind)})")
    elif c.quality_kept and effect.objective != "quality":
        within = units.change(margin or QUALITY_MARGIN, kind).lstrip("+")
        shown += f"; quality kept (non-inferior within {within})"
    return shown


def claims_table(breakdown: Breakdown) -> list[str]:
    rows = comparisons(breakdown)
    if not rows:
        return ["(no variant is compared with a reference)"]
    quality_key = breakdown.keys.get("quality", "test_accuracy")
    adjusted = stats.holm({f"{n}|{r}": c.effect.p_value if c.effect else None for n, r, c in rows})
    bases = max((c.n_bases or 0 for _, _, c in rows), default=0)
    over = (f"the validator's: quality and E over the {bases} pre-trained bases' means, costs paired by seed"
            if bases else "paired by seed")
    lines = [f"| claim | evidence ({over}, 95 % CI) | verdict (Holm over " + f"{len(rows)} comparisons) |",
             "|---|---|---|"]
    for name, ref, c in rows:
        effect = c.effect or Effect()
        objective = effect.objective or c.objective or "energy"
        role = c.role or ""
        claim = f"{name} vs {ref}: {objective}" + (f" — {role}" if role else "")
        q = c.quality_delta or QualityChange()
        p_adj = adjusted.get(f"{name}|{ref}")
        quality = f"Δ {quality_key} {quality_change(quality_key, q.mean, q.ci95, q.reference_mean)}"
        evidence = (f"{effect.metric}: {effect_text(effect)}; {units.p_equals(effect.p_value)}"
                    f" (Holm {units.pvalue(p_adj)}); {quality}; E = {units.ratio(c.efficiency_score)} "
                    f"[{_ci(c.efficiency_score_ci95)}]; n = {c.n_pairs}"
                    + (f" ({c.n_bases} bases)" if c.n_bases else "")
                    + (f" ({effect.note}: {units.ratio(effect.tested_estimate)} "
                       f"[{_ci(effect.tested_ci95)}])" if effect.note else ""))
        lines.append(f"| {_cell(claim)} | {_cell(evidence)} | {_cell(verdict(c, p_adj, quality_key))} |")
    return lines


def _ci(ci: Any) -> str:
    """The interval of a ratio (E, speedup): never below 0."""
    return units.ratio_interval(ci)


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def ratings_table(exps: list[sqlite3.Row]) -> list[str]:
    lines = ["| experiment | rating | headline (reference) | objective: effect [95 % CI] | E [95 % CI] | "
             "Δ quality [95 % CI] | control |", "|---|---|---|---|---|---|---|"]
    for exp in exps:
        b = json.loads(exp["rating_breakdown"] or "{}")
        h = b.get("headline") or {}
        if not h:
            lines.append(f"| {exp['catalog']} | {units.num(exp['rating'])} | - (no comparison) | - | - | - | - |")
            continue
        detail = h.get("effect_detail") or {}
        effect = effect_text(Effect.from_json(detail)) if detail else units.MISSING
        control = "valid" if h.get("control_valid") else f"void: {h.get('control_note')}"
        delta = quality_text(Headline.from_json(h), (b.get("keys") or {}).get("quality", "test_accuracy"))
        lines.append(f"| {exp['catalog']} | {units.num(exp['rating'])} | {h.get('variant')} ({h.get('reference')}) | "
                     f"{h.get('objective')}: {_cell(effect)} | {units.ratio(h.get('e'))} [{_ci(h.get('e_ci'))}] | "
                     f"{delta} | {_cell(control)} |")
    return lines


def entry_keys(breakdown: Breakdown) -> list[str]:
    """An entry without its own columns: the keys its validator compared (quality first)."""
    keys = breakdown.keys
    return [keys[r] for r in ("quality", "size", "time", "energy") if keys.get(r)] or ["test_accuracy"]


def main(lab: Path) -> None:
    conn = sqlite3.connect(f"file:{lab / 'lab.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    exps = conn.execute("SELECT * FROM experiments ORDER BY catalog, id").fetchall()
    print("## The validator's ratings\n")
    print("\n".join(ratings_table(exps)) + "\n")
    print("## Per experiment\n")
    for exp in exps:
        runs = conn.execute("SELECT * FROM runs WHERE experiment_id = ? ORDER BY id", (exp["id"],)).fetchall()
        b = Breakdown.read(json.loads(exp["rating_breakdown"] or "{}"))
        print(f"### {exp['name']} (experiment {exp['id']}, rating {units.num(exp['rating'])}/10)\n")
        seeds, validated = Seeds.of(runs), Validated.of(b)
        print(variant_legend(seeds) + "\n")
        print("\n".join(variant_table(KEYS.get(exp["catalog"]) or entry_keys(b), seeds, validated)) + "\n")
        print("\n".join(claims_table(b)) + "\n")
        if exp["catalog"] == "compression_pipeline":
            margin = validated.margin
            print("Perplexity change against the uncompressed model and size on disk, by track and stage "
                  f"(mean of the seeds; bold: a mean within the entry's declared margin, {units.percent(margin, 0)} "
                  "of the uncompressed model's perplexity; whether its interval is too is the claims' "
                  "\"quality kept\"):\n")
            print("\n".join(chain_table(seeds, margin)) + "\n")
            print("At equal size (not declared references: their objective is perplexity, not size):\n")
            print("\n".join(pairs_table(seeds)) + "\n")
        if exp["catalog"] == "meta_learning":
            print("Over the held-out tasks (speakers):\n")
            print("\n".join(task_table(runs, META_PAIRS)) + "\n")
        crit = [f"{c.label} {c.points}/{c.max}" for c in b.criteria]
        if crit:
            print("Rubric: " + "; ".join(crit) + ".\n")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "lab.db").exists():
        raise SystemExit("usage: python -m benchmarks.catalog_results LAB_DIR (a lab with lab.db)")
    main(Path(sys.argv[1]))
