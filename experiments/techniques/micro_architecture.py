"""micro_architecture: efficient designs at ~100K parameters, each against a parameter-matched
control of its own family (a CNN for depthwise-separable convolutions, a softmax transformer
for linear attention and for weight sharing), with the original 210K-parameter CNN beside them.

The program: train one design; an efficient design is timed beside its control (the
parameter-matched model of its family, loaded from the control's run) in the same process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import INFERENCE_BATCH, Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold
from ..paramread import integer, integers, text, texts

if TYPE_CHECKING:
    from ..harness.context import RunContext
    from ..harness.models import Arch
    from ..harness.train import TrainConfig


DESIGNS = ("dwsep", "linear_attention", "shared_layers")
#: image side per dataset (the plan is torch-free, so it cannot look at the data)
IMAGE_SIDE = {"digits": 8, "synthetic": 8, "mnist": 28, "fashion_mnist": 28, "cifar10": 32}


def tokens(values: ParamValues) -> int:
    side = IMAGE_SIDE[text(values, "dataset")] // integer(values, "attn_patch")
    return side * side


def linear_attention_claim(values: ParamValues) -> bool:
    """Linear attention costs O(n d^2) against softmax's O(n^2 d): it can only save compute when
    the sequence is longer than the width; we claim a latency gain only from n >= 2 d."""
    return tokens(values) >= 2 * integer(values, "attn_dim")


def plan(values: ParamValues) -> list[Variant]:
    designs = list(dict.fromkeys(texts(values, "designs")))
    out = [Variant("baseline", {"design": "baseline"}, baseline=True)]
    if "dwsep" in designs:
        out.append(Variant("cnn-matched", {"design": "cnn_matched"}, reference="cnn-matched",
                           role="control of dwsep: a plain CNN with about as many parameters"))
        out.append(Variant("dwsep", {"design": "dwsep"}, depends_on=("cnn-matched",),
                           references=("cnn-matched", "baseline"),
                           objective="latency",
                           role="faster than a parameter-matched CNN at kept accuracy (and than the baseline)"))
    if {"linear_attention", "shared_layers"} & set(designs):
        out.append(Variant("transformer", {"design": "transformer"}, reference="transformer",
                           role="control of linear attention and weight sharing: softmax attention, "
                                "unshared blocks, the transformers' own budget and learning rate"))
    if "linear_attention" in designs:
        n, d = tokens(values), integer(values, "attn_dim")
        if linear_attention_claim(values):
            out.append(Variant("linear-attention", {"design": "linear_attention"}, depends_on=("transformer",),
                               references=("transformer",), objective="latency",
                               role=f"O(n) attention over {n} tokens (width {d}): faster than softmax attention"))
        else:
            out.append(Variant("linear-attention", {"design": "linear_attention"}, depends_on=("transformer",),
                               reference="linear-attention",
                               role=f"no claim: {n} tokens is shorter than 2x the width {d}, where linear "
                                    f"attention cannot save compute (set attn_patch or a larger image)"))
    if "shared_layers" in designs:
        out.append(Variant("shared-layers", {"design": "shared_layers"}, depends_on=("transformer",),
                           references=("transformer",), objective="size",
                           role="one block reused at every depth: fewer parameters, the same compute, "
                                "against the same transformer unshared"))
    return out


def headline(values: ParamValues) -> str:
    names = [v.name for v in plan(values) if not v.reference_point]
    return "dwsep" if "dwsep" in names else names[0]


EXPERIMENT = Experiment(
    name="micro_architecture",
    title="Efficient micro-architectures at ~100K parameters",
    area="architecture",
    gain_phase="inference",
    summary="Train ~100K-parameter efficient designs against parameter-matched controls of their own "
            "family: depthwise-separable convolutions against a plain CNN of the same size, a "
            "transformer with linear attention and one whose blocks share weights against the same "
            "softmax transformer unshared (the transformers with their own epochs and learning "
            "rate); the original 210K-parameter CNN runs beside them. Research target: 2x faster "
            "than the control at batch 64 at under 10 % relative accuracy loss.",
    literature="Depthwise-separable convolutions cut the FLOPs and parameters of a convolution by "
               "roughly the kernel area (8-9x for 3x3) at about 1 % ImageNet accuracy (Howard et al. "
               "2017; Sandler et al. 2018), but FLOPs do not translate one-to-one into latency: "
               "depthwise layers are memory-bound and add kernel launches (Ma et al. 2018). Linear "
               "attention replaces the O(n^2) softmax attention by a kernel feature map with O(n) "
               "cost, with large speedups for long sequences and little gain for short ones "
               "(Katharopoulos et al. 2020). Sharing weights across layers (ALBERT, Lan et al. 2020; "
               "Universal Transformers, Dehghani et al. 2019) reduces parameters and stored size but "
               "not the computation per forward pass.",
    references=(
        "Howard et al. 2017, MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications "
        "(arXiv:1704.04861)",
        "Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR)",
        "Ma et al. 2018, ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (ECCV)",
        "Katharopoulos et al. 2020, Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention (ICML)",
        "Lan et al. 2020, ALBERT: A Lite BERT for Self-supervised Learning of Language Representations (ICLR)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_inference_kwh",
             "time": "latency_b64_ms", "size": "model_size_bytes"},
    params=(*common_params(0.9),
        Param("designs", "str_list", list(DESIGNS), "efficient designs to compare with their controls",
              choices=DESIGNS),
        Param("baseline_channels", "int_list", [48, 96, 192], "channels of the baseline CNN's 3x3 convs",
              min=1, max=2048),
        Param("matched_channels", "int_list", [32, 64, 128], "channels of the CNN matched to dwsep's "
              "parameter count", min=1, max=2048),
        Param("dwsep_channels", "int_list", [64, 192, 384], "channels of the depthwise-separable CNN",
              min=1, max=4096),
        Param("attn_dim", "int", 64, "width of the transformers", min=8, max=1024),
        Param("attn_depth", "int", 2, "blocks of the transformers (the shared one reuses one block "
              "this many times)", min=1, max=24),
        Param("attn_patch", "int", 2, "patch side of the transformers (tokens = (side / patch)^2)",
              min=1, max=16),
        Param("speedup_target", "float", 2.0, "latency speedup the research question asks for", min=1.0, max=100.0),
        Param("max_accuracy_loss", "float", 0.1, "largest relative accuracy loss accepted", min=0.0, max=1.0),
        Param("lr", "float", 2e-3, "Adam learning rate of the CNNs", min=1e-6, max=1.0),
        Param("transformer_lr", "float", 3e-3, "peak Adam learning rate of the transformers (warm-up, "
              "then cosine decay)", min=1e-6, max=1.0),
        Param("transformer_epochs", "int", 0, "epochs of the transformers; 0 = the profile's budget "
              "(more than the CNNs': attention trains slower on small images)", min=0, max=1000),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "params_total", "flops_per_forward", "latency_b1_ms",
                                   "latency_b64_ms", "energy_inference_kwh", "budget_steps", "diverged",
                                   "energy_mode"),
                  keys_deliverable("speedup", "relative_accuracy_loss", "meets_target",
                                   "params_ratio_vs_control", variant="dwsep"),
                  threshold("test_accuracy", ">=", 0.8, "baseline"),
                  threshold("test_accuracy", ">=", 0.8, "cnn-matched"),
                  threshold("test_accuracy", ">=", 0.8, "transformer")),
    plan_fn=plan,
    table_keys=("params_total", "flops_per_forward", "speedup", "meets_target"),
    headline=headline,
    speedup_batch=INFERENCE_BATCH,
)


#: each design's control of the same family (absent: a reference point)
CONTROL = {"dwsep": "cnn-matched", "linear_attention": "transformer", "shared_layers": "transformer"}


def _arch(ctx: RunContext, design: str) -> Arch:
    p = ctx.params
    if design == "baseline":
        return ctx.arch("cnn", channels=integers(p, "baseline_channels"))
    if design == "cnn_matched":
        return ctx.arch("cnn", channels=integers(p, "matched_channels"))
    if design == "dwsep":
        return ctx.arch("dwsep_cnn", channels=integers(p, "dwsep_channels"))
    attn = {"patch": integer(p, "attn_patch"), "dim": integer(p, "attn_dim"), "depth": integer(p, "attn_depth"),
            "heads": 4, "mlp_ratio": 4}
    if design == "transformer":
        return ctx.arch("transformer", **attn)
    if design == "linear_attention":
        return ctx.arch("transformer", **attn, attention="linear")
    if design == "shared_layers":
        return ctx.arch("transformer", **attn, shared=True)
    raise ValueError(design)


def _config(ctx: RunContext, design: str) -> TrainConfig:
    from ..harness.train import TrainConfig

    batch_size, target = ctx.integer("batch_size"), ctx.number("target_val_accuracy")
    if design in ("transformer", "linear_attention", "shared_layers"):
        epochs = ctx.integer("transformer_epochs") or ctx.pick(3, 15, 50)
        return TrainConfig(epochs=epochs, batch_size=batch_size, lr=ctx.number("transformer_lr"), optimizer="adam",
                           warmup_steps=20, schedule="cosine", target_val_accuracy=target)
    return TrainConfig(epochs=ctx.epochs(2, 12, 40), batch_size=batch_size, lr=ctx.number("lr"), optimizer="adam",
                       target_val_accuracy=target)


def run(ctx: RunContext) -> ResultValues:
    from ..harness.models import build
    from ..harness.pipeline import inference_phase, static_measures, train_phase

    design = ctx.text("design")
    arch = _arch(ctx, design)
    model = build(arch).to(ctx.device)
    _, values = train_phase(ctx, model, _config(ctx, design))
    control_name = CONTROL.get(design)
    control = None
    if control_name is not None and control_name in ctx.deps:
        control, _ = ctx.load_model(control_name)
    if control is not None:
        values.update(inference_phase(ctx, model, reference=control, reference_name=control_name))
    else:
        values.update(inference_phase(ctx, model))
    values.update(static_measures(ctx, model))
    ctx.save_model(model, arch)
    values.update({"design": design, "arch": arch.to_json()})
    if control is None or control_name is None:
        return values
    base = ctx.dep(control_name).result or {}
    acc0, params0 = number_at(base, "test_accuracy"), number_at(base, "params_total")
    loss = (acc0 - required_number(values, "test_accuracy")) / acc0 if acc0 else None
    values["relative_accuracy_loss"] = loss
    values["params_ratio_vs_control"] = required_number(values, "params_total") / params0 if params0 else None
    speedup = number_at(values, "speedup")
    values["meets_target"] = (speedup is not None and loss is not None and speedup >= ctx.number("speedup_target")
                              and loss < ctx.number("max_accuracy_loss"))
    return values
