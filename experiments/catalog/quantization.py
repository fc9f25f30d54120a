"""quantization: post-training INT8 (dynamic), FP16 and BF16 weights against the FP32 model."""

from ..declare import INFERENCE_BATCH, Experiment, Param, Variant, common_params, keys_deliverable, threshold

MODELS = ("mlp", "transformer")
PRECISIONS = ("int8", "fp16", "bf16")


def plan(values: dict) -> list[Variant]:
    out: list[Variant] = []
    for i, model in enumerate(dict.fromkeys(values["models"])):
        base = f"fp32-{model}"
        # each model's FP32 run is the control of its own conversions
        out.append(Variant(base, {"model": model, "precision": "fp32"}, baseline=i == 0,
                           reference=None if i == 0 else base))
        for prec in dict.fromkeys(values["precisions"]):
            out.append(Variant(f"{prec}-{model}", {"model": model, "precision": prec},
                               depends_on=(base,), references=(base,), objective=OBJECTIVE[prec],
                               role=ROLE[prec]))
    return out


#: INT8 dynamic quantization cuts the linear layers' compute and 4x the weight bytes; FP16/BF16
#: weights halve the bytes, and their speed depends on the hardware (Jacob et al. 2018)
OBJECTIVE = {"int8": "energy", "fp16": "size", "bf16": "size"}
ROLE = {"int8": "post-training INT8: less inference energy at kept accuracy, timed against FP32 in the same process",
        "fp16": "FP16 weights: half the stored bytes at kept accuracy",
        "bf16": "BF16 weights: half the stored bytes at kept accuracy"}


def headline(values: dict) -> str:
    models = list(dict.fromkeys(values["models"]))
    precisions = list(dict.fromkeys(values["precisions"]))
    return f"{'int8' if 'int8' in precisions else precisions[0]}-{models[0]}"


EXPERIMENT = Experiment(
    name="quantization",
    title="Post-training quantization: INT8 dynamic, FP16 and BF16 weights",
    area="compression",
    gain_phase="inference",
    summary="Train an FP32 MLP and a small transformer, then convert each trained model to dynamic "
            "INT8 (torch.ao.quantization), FP16 and BF16 weights and compare accuracy, size, and "
            "latency and inference energy at batch 64, each conversion timed against its FP32 model "
            "in the same process.",
    literature="Post-training 8-bit quantization usually costs under 1 % accuracy on vision and "
               "language models while storing weights in a quarter of the bytes (Jacob et al. 2018; "
               "Krishnamoorthi 2018; Gholami et al. 2021). Dynamic quantization, which quantizes "
               "weights ahead of time and activations on the fly, targets linear-layer-heavy models "
               "such as LSTMs and transformers on CPUs, where 1.5-3x speedups are reported for large "
               "layers; for tiny layers the quantize/dequantize overhead can erase the gain. Halving "
               "precision to FP16/BF16 halves the size essentially without accuracy loss, but speed "
               "depends on hardware support: GPUs with tensor cores gain, CPUs without native "
               "half-precision arithmetic are often slower than FP32.",
    references=(
        "Jacob et al. 2018, Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference (CVPR)",
        "Krishnamoorthi 2018, Quantizing deep convolutional networks for efficient inference: A whitepaper (arXiv:1806.08342)",
        "Gholami et al. 2021, A Survey of Quantization Methods for Efficient Neural Network Inference (arXiv:2103.13630)",
        "Dettmers et al. 2022, LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale (NeurIPS)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_inference_kwh",
             "time": "latency_b64_ms", "size": "model_size_bytes"},
    params=tuple(common_params(0.9)) + (
        Param("models", "str_list", list(MODELS), "models to train and quantize", choices=MODELS),
        Param("precisions", "str_list", list(PRECISIONS), "post-training conversions of each FP32 model",
              choices=PRECISIONS),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("dim", "int", 64, "transformer width", min=8, max=1024),
        Param("depth", "int", 2, "transformer blocks", min=1, max=24),
        Param("lr", "float", 1e-3, "Adam learning rate of the FP32 training", min=1e-6, max=1.0),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "model_size_bytes", "compression_ratio",
                                   "latency_b1_ms", "latency_b64_ms", "accuracy_drop",
                                   "energy_inference_kwh", "budget_steps", "diverged", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.8, "fp32-mlp"),
                  threshold("compression_ratio", ">=", 3.0, "int8-mlp")),
    plan_fn=plan,
    table_keys=("compression_ratio", "speedup", "latency_b1_ms", "accuracy_drop"),
    headline=headline,
    speedup_batch=INFERENCE_BATCH,
)
