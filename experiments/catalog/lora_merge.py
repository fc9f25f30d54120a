"""lora_merge: does merging a LoRA adapter into the weights, or saving and reloading it, change the
model? The same adapter as an adapter, merged, and reloaded from disk, in FP32 and in BF16."""

from ..declare import Experiment, Param, Variant, keys_deliverable, threshold
from ..lm.settings import SPEEDUP_BATCH, lm_params

FORMS = ("merged", "adapter-reloaded", "merged-reloaded")
PRECISIONS = ("fp32", "bf16")
ALLOCATIONS = ("fixed", "linear_decay", "attention_heavy", "empirical")
BASE = "base"
ADAPTER = "adapter"


ROLES = {"merged": "merged into the weights (merge_and_unload): no adapter products at inference",
         "adapter-reloaded": "the adapter saved and reloaded onto the base (expected: identical)",
         "merged-reloaded": "the merged model saved and reloaded (expected: identical to merged)",
         ADAPTER: "the adapter in lower precision"}


def plan(values: dict) -> list[Variant]:
    out = [Variant(BASE, {"form": BASE, "precision": "fp32"}, reference=BASE,
                   role="the base model before fine-tuning (pre-trained here and cached, or the user's)"),
           Variant(ADAPTER, {"form": ADAPTER, "precision": "fp32"}, baseline=True, depends_on=(BASE,),
                   role="the trained adapter in FP32, as trained (the reference)")]
    deps = (BASE, ADAPTER)
    forms = list(dict.fromkeys(values["forms"]))
    for precision in dict.fromkeys(values["precisions"]):
        own_adapter = ADAPTER if precision == "fp32" else f"adapter-{precision}"
        for form in ([] if precision == "fp32" else [ADAPTER]) + forms:
            name = f"{form}-{precision}"
            if form == ADAPTER:
                refs, objective = (ADAPTER,), "size"
            elif form == "merged":
                # the merge effect in this precision first; in BF16 also against the FP32 merge
                refs = (own_adapter,) + (("merged-fp32",) if precision != "fp32" and "fp32" in values["precisions"]
                                         else ())
                objective = "latency"
            elif form == "adapter-reloaded":
                refs, objective = (own_adapter,), "quality"
            else:
                refs = ((f"merged-{precision}",) if "merged" in forms else ()) + (own_adapter,)
                objective = "quality"
            # a merge in a lower precision is timed interleaved with its own adapter in that
            # precision, built in the same process (issue 22): a dependency, so the validator
            # reads the run's ref_ timings as that comparison's
            timed_with = (own_adapter,) if form == "merged" and own_adapter != ADAPTER else ()
            out.append(Variant(name, {"form": form, "precision": precision}, depends_on=deps + timed_with,
                               references=refs, objective=objective,
                               role=f"{ROLES[form]}, {precision.upper()}"
                                    + (" (published: +1.7 % perplexity merging an 8B model in BF16)"
                                       if (form, precision) == ("merged", "bf16") else "")))
    return out


def headline(values: dict) -> str | None:
    """Merging in BF16 (the published case) when planned; else merging in FP32; else the first
    compared form."""
    names = [v.name for v in plan(values) if v.references]
    for name in ("merged-bf16", "merged-fp32"):
        if name in names:
            return name
    return names[0] if names else None


EXPERIMENT = Experiment(
    name="lora_merge",
    title="LoRA merging: adapter, merged and reloaded, in FP32 and BF16",
    area="fine-tuning",
    gain_phase="inference",
    summary="Train one LoRA adapter on a new domain, then evaluate the same adapter as an adapter, after "
            "merge_and_unload, and after saving and reloading both, in FP32 and in BF16: perplexity "
            "difference, logit difference, size on disk and latency.",
    literature="Merging a LoRA update into the frozen weights (W + BA scaled by alpha/r) removes the "
               "adapter's extra matrix products at inference with, in exact arithmetic, the same function "
               "(Hu et al. 2021). In low precision the merged weight is rounded once more: merging an 8B "
               "model in BF16 was reported to raise perplexity by 1.7 %, while in FP32 the difference "
               "should be within numerical noise; QLoRA recommends keeping the adapter separate or "
               "merging in higher precision (Dettmers et al. 2023). Saving and reloading either form "
               "should change nothing.",
    references=(
        "Hu et al. 2021, LoRA: Low-Rank Adaptation of Large Language Models (arXiv:2106.09685; ICLR 2022)",
        "Dettmers et al. 2023, QLoRA: Efficient Finetuning of Quantized LLMs (NeurIPS)",
        "Zhang et al. 2023, Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning (AdaLoRA, ICLR)",
        "Valipour et al. 2023, DyLoRA: Parameter-Efficient Tuning of Pre-trained Models using Dynamic "
        "Search-Free Low-Rank Adaptation (EACL)",
    ),
    metrics={"quality": "test_token_accuracy", "energy": "energy_inference_kwh", "time": f"latency_b{SPEEDUP_BATCH}_ms",
             "size": "model_size_bytes"},
    params=tuple(lm_params()) + (
        Param("rank", "int", 8, "LoRA rank of the adapter (alpha = 2r); with an adaptive allocation, the "
              "rank whose parameter budget it shares", min=1, max=1024),
        Param("allocation", "choice", "fixed", "rank allocation of the adapter (see lora_rank)",
              choices=ALLOCATIONS),
        Param("attention_weight", "float", 3.0, "attention-heavy allocation: rank weight of attention "
              "projections against 1 for MLP projections", min=1.0, max=100.0),
        Param("forms", "str_list", list(FORMS), "forms of the adapter evaluated besides the adapter itself",
              choices=FORMS),
        Param("precisions", "str_list", list(PRECISIONS), "precisions of each form (the adapter is trained "
              "once; BF16 adds the BF16 adapter)", choices=PRECISIONS),
    ),
    deliverables=(keys_deliverable("test_perplexity", "test_token_accuracy", "model_size_bytes", "latency_b1_ms",
                                   "energy_inference_kwh", "energy_mode", "budget_steps"),
                  {**keys_deliverable("perplexity_change_vs_adapter_pct", "max_abs_logit_diff_vs_adapter",
                                      "speedup_b1", "ref_latency_b1_ms"), "variant": "merged-fp32"},
                  threshold("max_abs_logit_diff_vs_adapter", "<", 1e-4, "merged-fp32")),
    plan_fn=plan,
    table_keys=("test_perplexity", "perplexity_change_vs_adapter_pct", "max_abs_logit_diff_vs_adapter",
                "speedup_b1", "gen_tokens_per_s"),
    headline=headline,
    speedup_batch=SPEEDUP_BATCH,
)
