"""micro_architecture: a standard CNN against ~100K-parameter efficient designs."""

from ..declare import Experiment, Param, Variant, common_params, keys_deliverable, threshold

DESIGNS = ("dwsep", "linear_attention", "shared_layers")


def plan(values: dict) -> list[Variant]:
    out = [Variant("baseline", {"design": "baseline"}, baseline=True)]
    for d in dict.fromkeys(values["designs"]):
        out.append(Variant(d.replace("_", "-"), {"design": d}, depends_on=("baseline",)))
    return out


EXPERIMENT = Experiment(
    name="micro_architecture",
    title="Efficient micro-architectures at ~100K parameters",
    area="architecture",
    gain_phase="inference",
    summary="Train a standard CNN baseline and ~100K-parameter efficient designs (depthwise-separable "
            "convolutions, a transformer with linear attention, a transformer whose blocks share "
            "weights) on the same data; research target: 2x faster than the baseline at under 10 % "
            "relative accuracy loss.",
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
        "Howard et al. 2017, MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (arXiv:1704.04861)",
        "Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR)",
        "Ma et al. 2018, ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (ECCV)",
        "Katharopoulos et al. 2020, Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention (ICML)",
        "Lan et al. 2020, ALBERT: A Lite BERT for Self-supervised Learning of Language Representations (ICLR)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_inference_kwh",
             "time": "latency_b1_ms", "size": "model_size_bytes"},
    params=tuple(common_params(0.9)) + (
        Param("designs", "str_list", list(DESIGNS), "efficient designs to compare with the baseline",
              choices=DESIGNS),
        Param("baseline_channels", "int_list", [48, 96, 192], "channels of the baseline CNN's 3x3 convs",
              min=1, max=2048),
        Param("dwsep_channels", "int_list", [64, 192, 384], "channels of the depthwise-separable CNN",
              min=1, max=4096),
        Param("attn_dim", "int", 64, "width of the linear-attention transformer", min=8, max=1024),
        Param("attn_depth", "int", 2, "blocks of the linear-attention transformer", min=1, max=24),
        Param("shared_dim", "int", 96, "width of the weight-shared transformer", min=8, max=1024),
        Param("shared_depth", "int", 4, "times the shared block is applied", min=1, max=48),
        Param("speedup_target", "float", 2.0, "latency speedup the research question asks for", min=1.0, max=100.0),
        Param("max_accuracy_loss", "float", 0.1, "largest relative accuracy loss accepted", min=0.0, max=1.0),
        Param("lr", "float", 2e-3, "Adam learning rate", min=1e-6, max=1.0),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "params_total", "flops_per_forward", "latency_b1_ms",
                                   "latency_b64_ms", "speedup_b1", "relative_accuracy_loss",
                                   "meets_target", "energy_inference_kwh", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.8, "baseline")),
    plan_fn=plan,
    table_keys=("params_total", "flops_per_forward", "speedup_b1", "meets_target"),
)
