"""lora_merge: does merging a LoRA adapter into the weights, or saving and reloading it, change the
model? The same adapter as an adapter, merged, and reloaded from disk, in FP32 and in BF16.

The program: one LoRA adapter trained once (the ``adapter`` run), then evaluated in other forms,
each its own run: merged into the weights (merge_and_unload), saved and reloaded (the adapter
alone, or the merged model), in FP32 and in BF16. Every form run also holds the FP32 adapter as
loaded from disk, to compare logits and time both models interleaved.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import Experiment, Param, ParamValues, Variant, keys_deliverable, threshold
from ..harness.errors import ExperimentError
from ..lm.settings import SPEEDUP_BATCH, lm_params
from ..paramread import integer, number, text, texts
from .lora_rank import adapter_maker

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from torch import nn

    from ..harness.context import RunContext
    from ..lm.session import LMRun


FORMS = ("merged", "adapter-reloaded", "merged-reloaded")
PRECISIONS = ("fp32", "bf16")
ALLOCATIONS = ("fixed", "linear_decay", "attention_heavy", "empirical")
BASE = "base"
ADAPTER = "adapter"


ROLES = {"merged": "merged into the weights (merge_and_unload): no adapter products at inference",
         "adapter-reloaded": "the adapter saved and reloaded onto the base (expected: identical)",
         "merged-reloaded": "the merged model saved and reloaded (expected: identical to merged)",
         ADAPTER: "the adapter in lower precision"}


def plan(values: ParamValues) -> list[Variant]:
    out = [Variant(BASE, {"form": BASE, "precision": "fp32"}, reference=BASE,
                   role="the base model before fine-tuning (pre-trained here and cached, or the user's)"),
           Variant(ADAPTER, {"form": ADAPTER, "precision": "fp32"}, baseline=True, depends_on=(BASE,),
                   role="the trained adapter in FP32, as trained (the reference)")]
    deps = (BASE, ADAPTER)
    forms = list(dict.fromkeys(texts(values, "forms")))
    for precision in dict.fromkeys(texts(values, "precisions")):
        own_adapter = ADAPTER if precision == "fp32" else f"adapter-{precision}"
        for form in ([] if precision == "fp32" else [ADAPTER]) + forms:
            name = f"{form}-{precision}"
            refs: tuple[str, ...]
            if form == ADAPTER:
                refs, objective = (ADAPTER,), "size"
            elif form == "merged":
                # the merge effect in this precision first; in BF16 also against the FP32 merge
                refs = (own_adapter,) + (("merged-fp32",) if precision != "fp32" and "fp32" in texts(values, "precisions")
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


def headline(values: ParamValues) -> str | None:
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
    params=(*lm_params(),
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


PROBE_ROWS = 4


def _weight_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def train_adapter(lm: LMRun, p: ParamValues) -> ResultValues:
    base = lm.load_base()
    base_bytes = _weight_bytes(base)
    def adapters(model: nn.Module) -> Any:
        return adapter_maker(lm, model, integer(p, "rank"), text(p, "allocation"), number(p, "attention_weight"),
                             default_targets="attention")
    model, values = lm.fine_tune(adapters(base), lm.s.lr_lora, remake=lambda: adapters(lm.load_base()))
    _, size = lm.save(model, ADAPTER)
    values.update({"method": "lora", "form": ADAPTER, "precision": "fp32", "model_size_bytes": size,
                   "adapter_size_bytes": size, "deploy_size_bytes": size + base_bytes})
    values.update(lm.inference(model, precision="fp32"))  # the FP32 reference of every form
    return values


def _fresh_adapter(lm: LMRun, folder: Path) -> PeftModel:
    import torch
    from peft import PeftModel

    return PeftModel.from_pretrained(lm.load_base(torch.float32), str(folder)).to(lm.device)


def build_form(lm: LMRun, form: str, precision: str, adapter_dir: Path) -> tuple[nn.Module, ResultValues]:
    """The model of ``form`` in ``precision``; its folder on disk is measured (and, for the
    reloaded forms, read back)."""
    from peft import PeftModel

    from ..lm.models import load_model, to_precision

    dtype = _dtype(precision)
    adapter = _fresh_adapter(lm, adapter_dir)
    if precision != "fp32":
        adapter = to_precision(adapter, dtype)  # adapter and base weights alike, before any merge
    model: nn.Module = adapter
    info: ResultValues = {"form": form, "precision": precision}
    if form.startswith("merged"):
        model = adapter.merge_and_unload()  # the merge happens in ``precision``
        folder, size = lm.save(model, "merged")
        lm.tokenizer().save_pretrained(str(folder))  # a complete model folder: usable as -p model=folder
        info.update({"model_size_bytes": size, "deploy_size_bytes": size})
        if form == "merged-reloaded":
            model = load_model(folder, dtype).to(lm.device)
    else:
        base_bytes = _weight_bytes(adapter.get_base_model()) - sum(
            p.numel() * p.element_size() for n, p in adapter.named_parameters() if "lora_" in n)
        folder, size = lm.save(model, ADAPTER)
        info.update({"model_size_bytes": size, "adapter_size_bytes": size, "deploy_size_bytes": size + base_bytes})
        if form == "adapter-reloaded":
            reloaded = PeftModel.from_pretrained(lm.load_base(dtype), str(folder))
            model = to_precision(reloaded.to(lm.device), dtype)
    info.update(lm.counts(model))
    info["params_trainable"], info["trainable_share"] = 0, 0.0
    return model, info


class _Adapted(Protocol):
    """A layer with adapters (peft's): its frozen layer and the weight update an adapter adds."""

    base_layer: nn.Module

    def get_delta_weight(self, adapter: str) -> torch.Tensor: ...


def _adapted(module: nn.Module) -> TypeGuard[_Adapted]:
    return hasattr(module, "get_delta_weight") and hasattr(module, "base_layer")


def update_scale(model: nn.Module) -> float | None:
    """Mean |dW| / mean |W| over the adapted weights: how far below BF16's resolution (2^-8
    relative) the update lies, which decides what a BF16 merge keeps (published near 1e-3)."""
    import torch

    from ..lm.models import weight_of

    ratios = []
    with torch.no_grad():
        for module in model.modules():
            if _adapted(module):  # peft's adapted layers
                for name in getattr(module, "active_adapters", []) or []:
                    delta = module.get_delta_weight(name).float()
                    ratios.append(float(delta.abs().mean() / weight_of(module.base_layer).float().abs().mean()))
    return sum(ratios) / len(ratios) if ratios else None


def max_abs_diff(a: nn.Module, b: nn.Module, inputs: dict[str, torch.Tensor], device: torch.device) -> float:
    from ..lm.evaluate import logits

    return float((logits(a, inputs, device) - logits(b, inputs, device)).abs().max())


def evaluate_form(lm: LMRun, form: str, precision: str) -> ResultValues:
    from ..lm.evaluate import probe_inputs
    from ..lm.models import to_precision

    adapter_dep = lm.ctx.dep(ADAPTER)
    adapter_dir = Path(adapter_dep.output_dir or "") / ADAPTER
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ExperimentError(f"the adapter of dependency {ADAPTER!r} is missing ({adapter_dir})")
    trained = adapter_dep.result or {}
    model, values = build_form(lm, form, precision, adapter_dir)
    reference = _fresh_adapter(lm, adapter_dir)  # the FP32 adapter, as every form starts from it
    inputs = probe_inputs(lm.encoded()["test"], lm.s.context, PROBE_ROWS, lm.pad_id)
    values["max_abs_logit_diff_vs_adapter"] = max_abs_diff(model, reference, inputs, lm.device)
    values["update_scale"] = update_scale(reference)
    values.update(lm.inference(model, precision="fp32", latency=False))
    ref_ppl = number_at(trained, "test_perplexity")
    if ref_ppl:
        values["adapter_test_perplexity"] = ref_ppl
        values["perplexity_change_vs_adapter_pct"] = (required_number(values, "test_perplexity") / ref_ppl - 1) * 100
    if precision != "fp32" and form != ADAPTER:
        same = to_precision(_fresh_adapter(lm, adapter_dir), _dtype(precision))
        values["max_abs_logit_diff_vs_same_precision_adapter"] = max_abs_diff(model, same, inputs, lm.device)
        same_ppl = lm.score(same, "test", "fp32").perplexity
        values["same_precision_adapter_test_perplexity"] = same_ppl
        values["perplexity_change_vs_same_precision_adapter_pct"] = (
            required_number(values, "test_perplexity") / same_ppl - 1) * 100
    # the comparison's reference beside the form, interleaved in this process: a lower-precision
    # merge against its own adapter in that precision (lora_merge's plan), the rest against FP32's
    same_adapter = form == "merged" and precision != "fp32"
    timed = lm.latency({"model": model, "ref": same if same_adapter else reference})
    values.update(timed)
    for key in ("latency_b1_ms", f"latency_b{timed['speedup_batch']}_ms"):
        if values.get(key):
            values[f"speedup_{key.split('_')[1]}"] = required_number(values, f"ref_{key}") / required_number(values, key)
    values.update({"method": "lora", "rank": trained.get("rank"), "allocation": trained.get("allocation"),
                   "budget_steps": trained.get("budget_steps"), "diverged": bool(trained.get("diverged")),
                   "reference_form": f"adapter-{precision} (built in this process)" if same_adapter
                   else "adapter-fp32 (loaded from disk)"})
    return values


def run(ctx: RunContext) -> ResultValues:
    from ..lm.session import LMRun, run_base

    lm = LMRun(ctx)
    form, precision = ctx.text("form"), ctx.text("precision")
    if form == BASE:
        return run_base(lm)
    lm.encoded()
    if form == ADAPTER and precision == "fp32":
        return train_adapter(lm, ctx.params)
    return evaluate_form(lm, form, precision)


def _dtype(precision: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
