"""The files a fine-tune writes under its run folder's ``output/``, the published document's
deliverables: ``final_model/`` (weights, config and tokenizer, as save_pretrained writes them),
``metrics.json`` (train_loss, eval_loss, final_accuracy and their histories),
``eval_results.json`` (the held-out test split: next-token accuracy, loss, perplexity) and
``training_curves.png`` (losses and accuracy per epoch, the training loss per step)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from contract.events import ResultValues
from contract.jsonvalue import JsonValue

from ..lm.evaluate import Score
from .loop import History

OUTPUT = "output"
FINAL_MODEL = "final_model"
METRICS = "metrics.json"
EVAL_RESULTS = "eval_results.json"
CURVES = "training_curves.png"


def _finite(x: float) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def _write(path: Path, data: Mapping[str, JsonValue]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def eval_results(score: Score, split: str) -> ResultValues:
    return {"split": split, "metric": "next-token accuracy", "accuracy": _finite(score.accuracy),
            "loss": _finite(score.loss), "perplexity": _finite(score.perplexity), "tokens": score.tokens}


def metrics(history: History | None, val: Score, test: Score) -> ResultValues:
    """metrics.json: the final values and their histories (none for a model that was not trained)."""
    h = history or History()
    return {
        "train_loss": _finite(h.train_loss[-1]) if h.train_loss else None,
        "eval_loss": _finite(val.loss),
        "eval_accuracy": _finite(val.accuracy),
        "final_accuracy": _finite(test.accuracy),
        "test_loss": _finite(test.loss),
        "train_loss_history": [_finite(x) for x in h.train_loss],
        "eval_loss_history": [_finite(x) for x in h.eval_loss],
        "accuracy_history": [_finite(x) for x in h.accuracy],
        "history": {k: [_finite(x) if isinstance(x, float) else x for x in v] for k, v in h.to_json().items()},
        "units": {"loss": "nats per token", "accuracy": "fraction of next tokens predicted (argmax)"},
    }


def curves(history: History, path: Path) -> None:
    """training_curves.png: the training loss per step and per epoch, the validation loss and
    next-token accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if history.step_loss:
        left.plot([s for s, _ in history.step_loss], [v for _, v in history.step_loss], lw=0.8, alpha=0.5,
                  label="training loss (step)")
    per_epoch = max(1, history.steps // max(1, len(history.epoch)))
    steps = [e * per_epoch for e in history.epoch]
    left.plot(steps, history.train_loss, "o-", label="training loss (epoch mean)")
    left.plot(steps, history.eval_loss, "s-", label="validation loss")
    left.set_xlabel("optimizer step")
    left.set_ylabel("loss (nats per token)")
    left.legend()
    right.plot(history.epoch, history.accuracy, "o-", color="tab:green")
    right.set_xlabel("epoch")
    right.set_ylabel("validation next-token accuracy")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(out_dir: Path, history: History | None, val: Score, test: Score) -> list[Path]:
    """metrics.json, eval_results.json and (after training) training_curves.png; their paths."""
    root = out_dir / OUTPUT
    written = [root / METRICS, root / EVAL_RESULTS]
    _write(root / METRICS, metrics(history, val, test))
    _write(root / EVAL_RESULTS, eval_results(test, "test"))
    if history is not None and history.epoch:
        curves(history, root / CURVES)
        written.append(root / CURVES)
    return written
