"""The catalog: every experiment's declaration, importable without torch."""

from __future__ import annotations

from importlib import import_module

from ..declare import Experiment

NAMES = ("logreg", "quantization", "pruning", "optimizers", "micro_architecture",
         "mixed_precision", "distillation", "checkpointing", "batch_size", "gradient_clipping",
         "lora_rank", "lora_merge", "compression_pipeline", "meta_learning", "finetune",
         "one_shot_compression", "speculative_decoding", "lm_deployment", "edge_onnx", "lr_schedules",
         "low_rank", "sophia")

EXPERIMENTS: dict[str, Experiment] = {
    name: import_module(f"{__name__}.{name}").EXPERIMENT for name in NAMES}


def get(name: str) -> Experiment | None:
    return EXPERIMENTS.get(name)
