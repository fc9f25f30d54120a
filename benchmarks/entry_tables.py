"""The tables of two entries beyond the variant and claims tables (`benchmarks.catalog_results`):
`compression_pipeline`'s tracks by stage against the entry's declared margin and its comparisons
at equal size, and `meta_learning`'s changes over the held-out tasks.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import replace
from typing import Any

from benchmarks.results_data import Seeds
from contract import quantities, units
from science import stats


def task_table(runs: list[Any], pairs: list[tuple[str, str]]) -> list[str]:
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


def chain_table(seeds: Seeds, margin: float) -> list[str]:
    """compression_pipeline at a glance: each track's stages, perplexity against the uncompressed
    model (mean over seeds, % change) and bytes on disk; bold where the mean is within the entry's
    declared margin (`declared_margin`: 3 % of the uncompressed model's perplexity)."""
    by = {v: list(rs.values()) for v, rs in seeds.values.items() if rs}
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
        return f"**{text}**" if ratio <= 1 + margin else text
    lines = ["| track | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for track in tracks:
        quantized = track in ("int8", "int4", "gptq4") or (track.startswith("base-") and track[5:] in ("int8", "int4", "gptq4"))
        cells = [show(track)] + ([units.MISSING] * 4 if quantized else [show(track + s) for s in stages[1:]])
        lines.append(f"| {track} | " + " | ".join(cells) + " |")
    return lines


def pairs_table(seeds: Seeds, key: str = "test_perplexity") -> list[str]:
    """compression_pipeline: the comparisons at equal size that its size objective does not test —
    Wanda against magnitude at every stage of the same track, prune-distil-quantize against
    prune-quantize-distil, GPTQ against round-to-nearest — paired by seed, or, where the seeds
    fine-tuned at least two pre-trained bases, over the bases' means as the validator pairs quality
    (with the share of the variance between bases); Holm over the table."""
    by = {v: seeds.of_key(v, key) for v in seeds.order}
    by = {v: x for v, x in by.items() if x}
    wanted = [(v, "magnitude" + v[len("wanda"):]) for v in by if v.startswith("wanda")]
    wanted += [(v, v.replace("+kd+", "+", 1) + "+kd") for v in by if "+kd+" in v]
    wanted += [("gptq4", "int4")]
    rows = {}
    for v, r in wanted:
        if v in by and r in by:
            shared = sorted(set(by[v]) & set(by[r]))
            mine: dict[object, float] = {s: by[v][s] for s in shared}
            theirs: dict[object, float] = {s: by[r][s] for s in shared}
            if seeds.base_of is not None:
                d = replace(stats.by_seed(stats.group_means(mine, seeds.base_of),
                                          stats.group_means(theirs, seeds.base_of)), over_bases=True)
                share = stats.components({s: mine[s] - theirs[s] for s in shared}, seeds.base_of).share
            else:
                d, share = stats.by_seed(mine, theirs), None
            rows[(v, r)] = (d, len(shared), share)
    adjusted = stats.holm({f"{v}|{r}": d.p_value for (v, r), (d, _, _) in rows.items()})
    k = seeds.n_bases
    over = f"over the {k} bases' means" if k else "paired by seed"
    lines = [f"| comparison (equal size) | seeds | Δ {key} [95 % CI {over}] | p (Holm over {len(rows)}) |"
             + (" between bases |" if k else ""), "|---|---|---|---|" + ("---|" if k else "")]
    kind = quantities.kind_of(key)
    for (v, r), (d, n, share) in rows.items():
        lines.append(f"| {v} vs {r} | {n}{f' ({k} bases)' if k else ''} | "
                     f"{units.change(d.delta, kind, compact=True)} "
                     f"[{units.change_interval(d.ci95, kind, compact=True)}] | {units.pvalue(d.p_value)} "
                     f"({units.pvalue(adjusted.get(f'{v}|{r}'))}) |" + (f" {units.percent(share, 0)} |" if k else ""))
    return lines


META_PAIRS = [("anil", "multitask"), ("anil", "base-adapt"), ("anil", "base"), ("multitask", "base-adapt"),
              ("base-adapt", "base")]
