"""lora_merge: one LoRA adapter trained once (the ``adapter`` run), then evaluated in other forms,
each its own run: merged into the weights (merge_and_unload), saved and reloaded (the adapter
alone, or the merged model), in FP32 and in BF16. Every form run also holds the FP32 adapter as
loaded from disk, to compare logits and time both models interleaved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..harness.context import RunContext
from ..harness.errors import ExperimentError
from ..lm.evaluate import logits, probe_inputs
from ..lm.lora import PeftModel
from ..lm.models import load_model, to_precision
from ..lm.session import BASE, LMRun, run_base
from .lora_rank import adapter_maker

ADAPTER = "adapter"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
PROBE_ROWS = 4


def _weight_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def train_adapter(lm: LMRun, p: dict[str, Any]) -> dict[str, Any]:
    base = lm.load_base()
    base_bytes = _weight_bytes(base)
    def adapters(model: nn.Module) -> Any:
        return adapter_maker(lm, model, int(p["rank"]), str(p["allocation"]), float(p["attention_weight"]),
                             default_targets="attention")
    model, values = lm.fine_tune(adapters(base), lm.s.lr_lora, remake=lambda: adapters(lm.load_base()))
    _, size = lm.save(model, ADAPTER)
    values.update({"method": "lora", "form": ADAPTER, "precision": "fp32", "model_size_bytes": size,
                   "adapter_size_bytes": size, "deploy_size_bytes": size + base_bytes})
    values.update(lm.inference(model, precision="fp32"))  # the FP32 reference of every form
    return values


def _fresh_adapter(lm: LMRun, folder: Path) -> PeftModel:
    return PeftModel.from_pretrained(lm.load_base(torch.float32), str(folder)).to(lm.device)


def build_form(lm: LMRun, form: str, precision: str, adapter_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model of ``form`` in ``precision``; its folder on disk is measured (and, for the
    reloaded forms, read back)."""
    dtype = DTYPES[precision]
    model: nn.Module = _fresh_adapter(lm, adapter_dir)
    if precision != "fp32":
        model = to_precision(model, dtype)  # adapter and base weights alike, before any merge
    info: dict[str, Any] = {"form": form, "precision": precision}
    if form.startswith("merged"):
        model = model.merge_and_unload()  # the merge happens in ``precision``
        folder, size = lm.save(model, "merged")
        lm.tokenizer().save_pretrained(str(folder))  # a complete model folder: usable as -p model=folder
        info.update({"model_size_bytes": size, "deploy_size_bytes": size})
        if form == "merged-reloaded":
            model = load_model(folder, dtype).to(lm.device)
    else:
        base_bytes = _weight_bytes(model.get_base_model()) - sum(
            p.numel() * p.element_size() for n, p in model.named_parameters() if "lora_" in n)
        folder, size = lm.save(model, ADAPTER)
        info.update({"model_size_bytes": size, "adapter_size_bytes": size, "deploy_size_bytes": size + base_bytes})
        if form == "adapter-reloaded":
            reloaded = PeftModel.from_pretrained(lm.load_base(dtype), str(folder))
            model = to_precision(reloaded.to(lm.device), dtype)
    info.update(lm.counts(model))
    info["params_trainable"], info["trainable_share"] = 0, 0.0
    return model, info


def update_scale(model: nn.Module) -> float | None:
    """Mean |dW| / mean |W| over the adapted weights: how far below BF16's resolution (2^-8
    relative) the update lies, which decides what a BF16 merge keeps (published near 1e-3)."""
    ratios = []
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "get_delta_weight") and hasattr(module, "base_layer"):
                for name in getattr(module, "active_adapters", []) or []:
                    delta = module.get_delta_weight(name).float()
                    ratios.append(float(delta.abs().mean() / module.base_layer.weight.float().abs().mean()))
    return sum(ratios) / len(ratios) if ratios else None


def max_abs_diff(a: nn.Module, b: nn.Module, inputs: dict[str, torch.Tensor], device: torch.device) -> float:
    return float((logits(a, inputs, device) - logits(b, inputs, device)).abs().max())


def evaluate_form(lm: LMRun, form: str, precision: str) -> dict[str, Any]:
    adapter_dep = lm.ctx.dep(ADAPTER)
    adapter_dir = Path(adapter_dep.get("output_dir") or "") / ADAPTER
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ExperimentError(f"the adapter of dependency {ADAPTER!r} is missing ({adapter_dir})")
    trained = adapter_dep.get("result") or {}
    model, values = build_form(lm, form, precision, adapter_dir)
    reference = _fresh_adapter(lm, adapter_dir)  # the FP32 adapter, as every form starts from it
    inputs = probe_inputs(lm.encoded()["test"], lm.s.context, PROBE_ROWS, lm.pad_id)
    values["max_abs_logit_diff_vs_adapter"] = max_abs_diff(model, reference, inputs, lm.device)
    values["update_scale"] = update_scale(reference)
    values.update(lm.inference(model, precision="fp32", latency=False))
    ref_ppl = trained.get("test_perplexity")
    if ref_ppl:
        values["adapter_test_perplexity"] = ref_ppl
        values["perplexity_change_vs_adapter_pct"] = (values["test_perplexity"] / ref_ppl - 1) * 100
    if precision != "fp32" and form != ADAPTER:
        same = to_precision(_fresh_adapter(lm, adapter_dir), DTYPES[precision])
        values["max_abs_logit_diff_vs_same_precision_adapter"] = max_abs_diff(model, same, inputs, lm.device)
        same_ppl = lm.score(same, "test", "fp32").perplexity
        values["same_precision_adapter_test_perplexity"] = same_ppl
        values["perplexity_change_vs_same_precision_adapter_pct"] = (values["test_perplexity"] / same_ppl - 1) * 100
    # the comparison's reference beside the form, interleaved in this process: a lower-precision
    # merge against its own adapter in that precision (lora_merge's plan), the rest against FP32's
    same_adapter = form == "merged" and precision != "fp32"
    timed = lm.latency({"model": model, "ref": same if same_adapter else reference})
    values.update(timed)
    for key in ("latency_b1_ms", f"latency_b{timed['speedup_batch']}_ms"):
        if values.get(key):
            values[f"speedup_{key.split('_')[1]}"] = values[f"ref_{key}"] / values[key]
    values.update({"method": "lora", "rank": trained.get("rank"), "allocation": trained.get("allocation"),
                   "budget_steps": trained.get("budget_steps"), "diverged": bool(trained.get("diverged")),
                   "reference_form": f"adapter-{precision} (built in this process)" if same_adapter
                   else "adapter-fp32 (loaded from disk)"})
    return values


def run(ctx: RunContext) -> dict[str, Any]:
    lm = LMRun(ctx)
    p = ctx.params
    if p["form"] == BASE:
        return run_base(lm)
    lm.encoded()
    if p["form"] == ADAPTER and p["precision"] == "fp32":
        return train_adapter(lm, p)
    return evaluate_form(lm, p["form"], p["precision"])
