"""Tables for RESULTS.md from a drained lab, as the validator saw it.

    python -m benchmarks.catalog_results LAB_DIR > tables.md

Every number comes from the lab's one statistics module (`science.stats`) or from the validator's
stored analysis (`rating_breakdown`): the variant tables give the mean and 95 % t-interval over
seeds (bounded quantities kept in range); the "claim -> evidence -> verdict" table gives, for each
variant against each of its declared references, the effect on the declared objective paired by
seed with its 95 % CI, Holm-adjusted across the experiment's comparisons, the quality change as
non-inferiority (within the entry's margin: 1 point of an accuracy, a share of the reference's
perplexity), and whether the control was valid.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from contract import quantities, units
from science import stats
from science.comparison import Effect
from science.experiment_info import fraction
from science.headline import effect_text, quality_change, quality_text
from science.rating_record import Headline

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
    "sophia": ["test_perplexity", "val_loss", "selected_lr", "steps_to_target", "time_to_target_s",
               "energy_to_target_kwh", "optimizer_state_bytes"],
}
QUALITY_MARGIN_POINTS = 1.0


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


def variant_table(keys: list[str], runs: list[sqlite3.Row]) -> list[str]:
    by_variant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    order: list[str] = []
    for run in runs:
        if run["variant"] not in order:
            order.append(run["variant"])
        if run["status"] == "succeeded" and run["result"]:
            by_variant[run["variant"]].append(json.loads(run["result"]))
    lines = ["| variant | n | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for variant in order:
        results = by_variant.get(variant, [])
        if not results:
            status = ", ".join(sorted({r["status"] for r in runs if r["variant"] == variant}))
            lines.append(f"| {variant} | 0 | {status} |" + " |" * (len(keys) - 1))
            continue
        cells = []
        for key in keys:
            values = stats.clean(r.get(key) for r in results)
            cells.append(cell(key, values, len(results) - len(values)) if values else units.MISSING)
        lines.append(f"| {variant} | {len(results)} | " + " | ".join(cells) + " |")
    return lines


def comparisons(breakdown: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(variant, reference, comparison) for every variant against each of its references."""
    out = []
    for name, v in (breakdown.get("variants") or {}).items():
        for ref, c in (v.get("comparisons") or {}).items():
            out.append((name, ref, c))
    return out


def verdict(c: dict[str, Any], p_adj: float | None, quality_key: str = "test_accuracy") -> str:
    """What the comparison shows, in the order a reviewer checks it."""
    effect = c.get("effect") or {}
    if not c.get("control_valid"):
        return f"**void**: {c.get('control_note')}"
    # modelled energy is tested on time: the direction that counts is the tested metric's
    est = effect.get("tested_estimate", effect.get("estimate"))
    ratio = effect.get("kind") == "ratio"
    good = isinstance(est, (int, float)) and (est > 1 if ratio else est > 0)
    lost = c.get("quality_kept") is False and effect.get("objective") != "quality"
    q = c.get("quality_delta") or {}
    qci = q.get("ci95")
    if p_adj is not None and p_adj < 0.05 and good:
        shown = "**supported**"
    elif p_adj is not None and p_adj < 0.05:
        shown = "**refuted** (significant the other way)"
    else:
        mde = effect.get("mde")
        detects = units.ratio(mde) if ratio else \
            units.change(mde, quantities.kind_of(str(effect.get("tested_on") or effect.get("metric") or ""))).lstrip("+")
        shown = "not shown" + (f" (the design detects {detects} at 80 % power)" if isinstance(mde, (int, float)) else "")
    margin = c.get("quality_margin")
    kind = quantities.kind_of(quality_key)
    ref = q.get("reference_mean")
    if not fraction(quality_key):  # an unbounded quality (perplexity: lower is better), in its own units
        if lost and qci and qci[1] is not None:
            shown += (f"; quality not kept (Δ {quality_key} upper bound {units.change(qci[1], kind, ref)} > "
                      f"{units.change(margin, kind, ref)})")
        elif c.get("quality_kept") and effect.get("objective") != "quality":
            shown += f"; quality kept (Δ {quality_key} within {units.change(margin, kind, ref)})"
        return shown
    if lost and qci and qci[0] is not None:
        shown += (f"; quality not kept (Δ lower bound {units.change(qci[0], kind)} < "
                  f"{units.change(-(margin or QUALITY_MARGIN_POINTS / 100), kind)})")
    elif c.get("quality_kept") and effect.get("objective") != "quality":
        within = units.change(margin or QUALITY_MARGIN_POINTS / 100, kind).lstrip("+")
        shown += f"; quality kept (non-inferior within {within})"
    return shown


def claims_table(breakdown: dict[str, Any]) -> list[str]:
    rows = comparisons(breakdown)
    if not rows:
        return ["(no variant is compared with a reference)"]
    quality_key = (breakdown.get("keys") or {}).get("quality", "test_accuracy")
    adjusted = stats.holm({f"{n}|{r}": (c.get("effect") or {}).get("p_value") for n, r, c in rows})
    lines = ["| claim | evidence (paired by seed, 95 % CI) | verdict (Holm over " + f"{len(rows)} comparisons) |",
             "|---|---|---|"]
    for name, ref, c in rows:
        effect = c.get("effect") or {}
        objective = effect.get("objective") or c.get("objective") or "energy"
        role = c.get("role") or ""
        claim = f"{name} vs {ref}: {objective}" + (f" — {role}" if role else "")
        q = c.get("quality_delta") or {}
        p_adj = adjusted.get(f"{name}|{ref}")
        quality = f"Δ {quality_key} {quality_change(quality_key, q.get('mean'), q.get('ci95'), q.get('reference_mean'))}"
        evidence = (f"{effect.get('metric')}: {effect_text(Effect.from_json(effect))}; p = {units.pvalue(effect.get('p_value'))}"
                    f" (Holm {units.pvalue(p_adj)}); {quality}; E = {units.ratio(c.get('efficiency_score'))} "
                    f"[{_ci(c.get('efficiency_score_ci95'))}]; n = {c.get('n_pairs')}"
                    + (f" ({effect['note']}: {units.ratio(effect.get('tested_estimate'))} "
                       f"[{_ci(effect.get('tested_ci95'))}])" if effect.get("note") else ""))
        lines.append(f"| {_cell(claim)} | {_cell(evidence)} | {_cell(verdict(c, p_adj, quality_key))} |")
    return lines


def task_table(runs: list[sqlite3.Row], pairs: list[tuple[str, str]]) -> list[str]:
    """meta_learning: each comparison's query-perplexity change over the held-out tasks (each
    task's log-perplexity averaged over seeds, paired by task: paired t over tasks and a
    bootstrap over tasks), shown as a percentage change."""
    logs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if run["status"] != "succeeded" or not run["result"]:
            continue
        r = json.loads(run["result"])
        for name, ppl in zip(r.get("task_names") or [], r.get("task_query_perplexity") or []):
            logs[run["variant"]][name].append(math.log(ppl))
    lines = ["| comparison | tasks | query perplexity change, % [95 % CI over tasks] | bootstrap CI | p | "
             "tasks improved |", "|---|---|---|---|---|---|"]
    for variant, ref in pairs:
        tasks = sorted(set(logs[variant]) & set(logs[ref]))
        rows = [(stats.mean(logs[variant][k]), stats.mean(logs[ref][k])) for k in tasks]
        d = stats.paired(rows)
        if d.delta is None:
            continue

        def log_change(x: float | None) -> str:  # a mean log ratio as a signed % change
            return units.MISSING if x is None else f"{(math.exp(x) - 1) * 100:+.1f}"
        ci = d.ci95 or (None, None)
        boot = d.boot_ci95 or (None, None)
        better = sum(1 for v, r in rows if v < r)
        lines.append(f"| {variant} vs {ref} | {len(tasks)} | {log_change(d.delta)} [{log_change(ci[0])}, {log_change(ci[1])}] | "
                     f"[{log_change(boot[0])}, {log_change(boot[1])}] | {units.pvalue(d.p_value)} | {better} of {len(tasks)} |")
    return lines


def chain_table(runs: list[sqlite3.Row]) -> list[str]:
    """compression_pipeline at a glance: each track's stages, perplexity against the uncompressed
    model (mean over seeds, % change) and bytes on disk; bold where within the 10 % target."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if run["status"] == "succeeded" and run["result"]:
            by[run["variant"]].append(json.loads(run["result"]))
    q = next((v.split("+")[1] for v in by if v.count("+") == 1 and not v.endswith("+kd")), "int4")
    stages = ["", f"+{q}", f"+{q}+kd", "+kd", f"+kd+{q}"]
    heads = ["alone", f"then {q}", f"then {q}, distil", "then distil", f"then distil, {q}"]
    tracks = [v for v in by if "+" not in v and v not in ("base", "merged")]

    def show(name: str) -> str:
        rs = by.get(name)
        if not rs:
            return units.MISSING
        ratio = stats.mean(stats.clean(r.get("perplexity_vs_uncompressed") for r in rs))
        size = stats.mean(stats.clean(r.get("model_size_bytes") for r in rs))
        text = f"{(ratio - 1) * 100:+.1f} % / {units.value(size, quantities.Kind.BYTES)}"
        return f"**{text}**" if ratio <= 1.10 else text
    lines = ["| track | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for track in tracks:
        quantized = track in ("int8", "int4", "gptq4") or track.startswith("base-") and track[5:] in ("int8", "int4", "gptq4")
        cells = [show(track)] + (["-"] * 4 if quantized else [show(track + s) for s in stages[1:]])
        lines.append(f"| {track} | " + " | ".join(cells) + " |")
    return lines


def pairs_table(runs: list[sqlite3.Row], key: str = "test_perplexity") -> list[str]:
    """compression_pipeline: the comparisons at equal size that its size objective does not test —
    Wanda against magnitude at every stage of the same track, prune-distil-quantize against
    prune-quantize-distil, GPTQ against round-to-nearest — paired by seed, Holm over the table."""
    by: dict[str, dict[int, float]] = defaultdict(dict)
    for run in runs:
        if run["status"] == "succeeded" and run["result"]:
            value = json.loads(run["result"]).get(key)
            if isinstance(value, (int, float)):
                by[run["variant"]][run["seed"]] = float(value)
    wanted = [(v, "magnitude" + v[len("wanda"):]) for v in by if v.startswith("wanda")]
    wanted += [(v, v.replace("+kd+", "+", 1) + "+kd") for v in by if "+kd+" in v]
    wanted += [("gptq4", "int4")]
    rows = {}
    for v, r in wanted:
        if v in by and r in by:
            seeds = sorted(set(by[v]) & set(by[r]))
            rows[(v, r)] = (stats.paired([(by[v][s], by[r][s]) for s in seeds]), len(seeds))
    adjusted = stats.holm({f"{v}|{r}": d.p_value for (v, r), (d, _) in rows.items()})
    lines = [f"| comparison (equal size) | seeds | Δ {key} [95 % CI] | p (Holm over {len(rows)}) |", "|---|---|---|---|"]
    for (v, r), (d, n) in rows.items():
        kind = quantities.kind_of(key)
        lines.append(f"| {v} vs {r} | {n} | {units.change(d.delta, kind, compact=True)} "
                     f"[{units.change_interval(d.ci95, kind, compact=True)}] | {units.pvalue(d.p_value)} "
                     f"({units.pvalue(adjusted.get(f'{v}|{r}'))}) |")
    return lines


META_PAIRS = [("anil", "multitask"), ("anil", "base-adapt"), ("anil", "base"), ("multitask", "base-adapt"),
              ("base-adapt", "base")]


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


def entry_keys(breakdown: dict[str, Any]) -> list[str]:
    """An entry without its own columns: the keys its validator compared (quality first)."""
    keys = breakdown.get("keys") or {}
    return [keys[r] for r in ("quality", "size", "time", "energy") if keys.get(r)] or ["test_accuracy"]


def main(lab: Path) -> None:
    conn = sqlite3.connect(f"file:{lab / 'lab.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    exps = conn.execute("SELECT * FROM experiments ORDER BY catalog").fetchall()
    print("## The validator's ratings\n")
    print("\n".join(ratings_table(exps)) + "\n")
    print("## Per experiment\n")
    for exp in exps:
        runs = conn.execute("SELECT * FROM runs WHERE experiment_id = ? ORDER BY id", (exp["id"],)).fetchall()
        b = json.loads(exp["rating_breakdown"] or "{}")
        print(f"### {exp['catalog']} (experiment {exp['id']}, rating {units.num(exp['rating'])}/10)\n")
        print("\n".join(variant_table(KEYS.get(exp["catalog"]) or entry_keys(b), runs)) + "\n")
        print("\n".join(claims_table(b)) + "\n")
        if exp["catalog"] == "compression_pipeline":
            print("Perplexity change against the uncompressed model and size on disk, by track and stage "
                  "(mean of the seeds; bold: within the 10 % target):\n")
            print("\n".join(chain_table(runs)) + "\n")
            print("At equal size (not declared references: their objective is perplexity, not size):\n")
            print("\n".join(pairs_table(runs)) + "\n")
        if exp["catalog"] == "meta_learning":
            print("Over the held-out tasks (speakers):\n")
            print("\n".join(task_table(runs, META_PAIRS)) + "\n")
        crit = [f"{c['label']} {c['points']}/{c['max']}" for c in b.get("criteria") or []]
        if crit:
            print("Rubric: " + "; ".join(crit) + ".\n")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "lab.db").exists():
        raise SystemExit("usage: python -m benchmarks.catalog_results LAB_DIR (a lab with lab.db)")
    main(Path(sys.argv[1]))
