"""distillation: the teacher, or a student trained with or without the teacher's outputs."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..harness.augment import random_shift
from ..harness.context import RunContext
from ..harness.measure import serialized_size
from ..harness.models import build
from ..harness.pipeline import inference_phase, standard_run, static_measures, train_phase
from ..harness.train import TrainConfig


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, mode: str,
            temperature: float, alpha: float) -> torch.Tensor:
    """hard: cross-entropy on the teacher's argmax; soft: T^2-scaled KL to the softened teacher;
    both: alpha * soft + (1 - alpha) * cross-entropy on the true labels (Hinton et al. 2015)."""
    if mode == "hard":
        return F.cross_entropy(student, teacher.argmax(dim=1))
    t = temperature
    soft = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1),
                    reduction="batchmean", log_target=True) * t * t
    if mode == "soft":
        return soft
    return alpha * soft + (1 - alpha) * F.cross_entropy(student, labels)


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    gen = torch.Generator().manual_seed(ctx.seed + 1)
    common = dict(batch_size=p["batch_size"], lr=p["lr"], optimizer="adam",
                  target_val_accuracy=p["target_val_accuracy"],
                  augment=random_shift(p["augment_shift"], gen) if p["augment_shift"] else None)
    # teacher and students train for the same number of epochs: no reference is under-budgeted
    epochs = ctx.epochs(2, 25, 80)
    if p["role"] == "teacher":
        arch = ctx.arch("mlp", hidden=p["teacher_hidden"])
        model = build(arch).to(ctx.device)
        _, values = standard_run(ctx, model, TrainConfig(epochs=epochs, **common), arch, save=True)
        values.update({"role": "teacher", "compression_ratio_vs_teacher": 1.0})
        return values

    arch = ctx.arch("mlp", hidden=p["student_hidden"])
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=epochs, **common)
    mode = p["mode"]
    teacher, _ = ctx.load_model("teacher")  # every student is timed against the teacher it compresses
    teacher.eval()
    teacher_result = ctx.dep("teacher").get("result") or {}
    if mode != "scratch":

        def loss_fn(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                target = teacher(x).float()  # the teacher labels the same (shifted) batch
            return kd_loss(logits, target, y, mode, p["temperature"], p["alpha"])
        cfg.loss_fn = loss_fn
    _, values = train_phase(ctx, model, cfg)
    values.update(inference_phase(ctx, model, reference=teacher, reference_name="teacher"))
    values.update(static_measures(ctx, model))
    values.update({"role": "student", "mode": mode, "temperature": p["temperature"], "alpha": p["alpha"]})
    t_size = teacher_result.get("model_size_bytes") or serialized_size(teacher)
    values["compression_ratio_vs_teacher"] = t_size / values["model_size_bytes"]
    if teacher_result.get("test_accuracy") is not None:
        values["teacher_test_accuracy"] = teacher_result["test_accuracy"]
        values["accuracy_gap_vs_teacher"] = teacher_result["test_accuracy"] - values["test_accuracy"]
    return values
