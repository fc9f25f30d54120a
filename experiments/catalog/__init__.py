"""The catalog: every experiment's declaration, importable without torch."""

from __future__ import annotations

from importlib import import_module

from ..declare import Experiment

NAMES = ("logreg", "quantization", "pruning", "optimizers", "micro_architecture",
         "mixed_precision", "distillation", "checkpointing", "batch_size", "gradient_clipping")


def _load() -> dict[str, Experiment]:
    out: dict[str, Experiment] = {}
    for name in NAMES:
        try:
            module = import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # not written yet
            raise
        out[name] = module.EXPERIMENT
    return out


EXPERIMENTS: dict[str, Experiment] = _load()


def get(name: str) -> Experiment | None:
    return EXPERIMENTS.get(name)
