"""Stacks of two rated techniques: the researcher's "combine" strategy runs the best settings of
two rated experiments together, in a child experiment of the ``host`` entry's experiment
(genealogy: lora_rank -> lora_merge -> compression_pipeline; pruning -> pruning with quantization).
The child's plan holds the stack and each technique alone, so the validator compares the stack
with each of them. Read from each parent's rating (contract/rating_record.Breakdown)."""

from __future__ import annotations

from dataclasses import dataclass

from contract.child_kinds import FollowUpKind
from contract.params import ParamValue, ParamValues
from contract.rating_record import Breakdown
from db.rows import Experiment
from science.followups import Declared, FollowUp, focus, listed


#: the researcher's "combine" strategy stacks the best settings of two rated experiments in a
#: child experiment of the ``host`` entry's experiment (genealogy: lora_rank -> lora_merge ->
#: compression_pipeline; pruning -> pruning with quantization). The child's plan holds the stack
#: and each technique alone, so the validator compares the stack with each of them.
@dataclass(frozen=True)
class Stack:
    """Two entries whose best settings run together, in an experiment of ``catalog``."""

    host: str      # its best experiment is the stack's parent
    other: str
    catalog: str


STACKS: tuple[Stack, ...] = (
    Stack(host="pruning", other="quantization", catalog="pruning"),
    Stack(host="lora_merge", other="compression_pipeline", catalog="compression_pipeline"),
)
#: lora_merge's adapter settings, which compression_pipeline's "lora" start trains again
ADAPTER_KEYS = ("rank", "allocation", "attention_weight", "lora_targets")
#: the parameters both language-model entries share (their harness's)
LM_SHARED = ("profile", "device", "dataset", "data", "model", "domain_speakers", "vocab_size", "dim", "layers",
             "heads", "context", "stride", "pretrain_tokens", "pretrain_lr", "pretrain_seed", "bases", "steps",
             "batch_size", "lr_full", "lr_lora", "precision")


def best_setting(breakdown: Breakdown) -> tuple[str, ParamValues] | None:
    """(variant, its params): the rated headline when it keeps quality against a valid control;
    else None (a technique that loses quality is no stack ingredient)."""
    h = breakdown.headline
    if h is None or not h.variant or not h.quality_kept or h.control_valid is False:
        return None
    v = breakdown.variants.get(h.variant)
    return h.variant, v.params if v is not None else {}


def smallest_kept(breakdown: Breakdown) -> str | None:
    """The compression variant with the smallest stored size whose quality is kept against its
    uncompressed reference (the answer to compression_pipeline's question)."""
    kept = {n: size for n, v in breakdown.variants.items()
            if v.compared.quality_kept and (v.comparisons is None or v.compared.control_valid is not False)
            and isinstance(size := v.summary("size").mean, (int, float))}
    return min(kept, key=lambda n: (kept[n], n)) if kept else None


def compression_track(breakdown: Breakdown, name: str) -> ParamValues | None:
    """compression_pipeline's parameters that plan one chain: the pruning of ``name``'s chain, its
    quantization and its order (walked up the chain through each stage's ``parent``)."""
    variants = breakdown.variants
    stages: list[ParamValues] = []
    at: ParamValue = name
    while isinstance(at, str) and at in variants and len(stages) < 10:
        params = variants[at].params
        stages.append(params)
        parent = params.get("parent")
        at = parent if isinstance(parent, str) else None
    stages.reverse()
    prune = next((s for s in stages if s.get("stage") == "prune"), None)
    quant = next((s for s in stages if s.get("stage") == "quantize"), None)
    if prune is None or quant is None:
        return None
    kinds = [s.get("stage") for s in stages]
    order = "pdq" if "distill" in kinds and kinds.index("distill") < kinds.index("quantize") else "pqd"
    out: ParamValues = {"criteria": listed(prune["criterion"]), "patterns": listed(prune["pattern"]),
                        "orders": [order], "chain_quantization": quant["quantization"],
                        "quantizations": listed(quant["quantization"])}
    if prune["pattern"] == "unstructured":
        out["sparsities"] = listed(prune["sparsity"])
    return out



def stack(rule: Stack, host: Experiment, other: Experiment, declared: Declared) -> FollowUp | None:
    """The child experiment that stacks ``other``'s best setting on ``host``'s (see STACKS)."""
    hb, ob = host.breakdown, other.breakdown
    mine = best_setting(hb)
    if rule.host == "pruning":
        theirs = best_setting(ob)
        precision = (theirs[1] if theirs else {}).get("precision")
        if mine is None or theirs is None or precision not in ("int8", "fp16", "bf16"):
            return None
        changes = {**focus(mine[1], host.params, declared), "quantize": precision}
        params = {**host.params, **changes}
        what = f"{mine[0]} (experiment {host.id}) then {theirs[0]} (experiment {other.id})"
        question = (f"Does quantizing the pruned model of experiment {host.id} ({mine[0]}) to {precision} keep its "
                    f"accuracy, and how much smaller and faster is the stack than each technique alone?")
    else:
        best = smallest_kept(ob) or (ob.headline.variant if ob.headline is not None else None)
        track = compression_track(ob, best) if best else None
        if track is None:
            return None
        adapter = {k: host.params[k] for k in ADAPTER_KEYS if k in host.params}
        params = {k: v for k, v in other.params.items() if k not in ("start",)}
        params.update({k: host.params[k] for k in LM_SHARED if k in host.params})
        changes = {**track, **adapter, "start": "lora"}
        params.update(changes)
        what = (f"the adapter of experiment {host.id} ({', '.join(f'{k} {v}' for k, v in adapter.items())}) "
                f"merged, then {best} of experiment {other.id}")
        question = (f"Does the merged adapter of experiment {host.id} compress as far as the base model did in "
                    f"experiment {other.id} ({best}), and does the stack beat each technique alone?")
    why = f"stack {what}: both rated with quality kept" if mine else f"stack {what}"
    return FollowUp(FollowUpKind.STACK, changes, max(host.seeds, other.seeds), why,
                    [f"experiment {host.id}: {_variant(hb)} rated {host.rating}",
                     f"experiment {other.id}: {_variant(ob)} rated {other.rating}"],
                    catalog=rule.catalog, params=params,
                    hypothesis=f"Stacking {what} keeps quality within the entry's margin of the uncompressed model "
                               "and is smaller than either technique alone.",
                    question=question)


def _variant(b: Breakdown) -> str | None:
    return b.headline.variant if b.headline is not None else None
