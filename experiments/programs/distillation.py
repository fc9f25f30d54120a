"""distillation: the teacher, or a student trained with or without the teacher's outputs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..harness.augment import random_shift
from ..harness.context import RunContext
from ..harness.grids import search
from ..harness.measure import serialized_size
from ..harness.models import build
from ..harness.pipeline import inference_phase, standard_run, static_measures, train_phase
from ..harness.runtime import seed_all
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


def _loss(teacher: nn.Module, mode: str, temperature: float, alpha: float) -> Any:
    def loss_fn(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher(x).float()  # the teacher labels the same (shifted) batch
        return kd_loss(logits, target, y, mode, temperature, alpha)
    return loss_fn


def _tuned(ctx: RunContext, arch: dict[str, Any], cfg: TrainConfig, teacher: nn.Module, mode: str,
           p: dict[str, Any]) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Each arm's own temperature (then, for both, its alpha at that temperature), chosen on
    VALIDATION accuracy, the grid extended while the choice sits on an edge (harness/grids.py);
    every point trains the same initialisation and data order. The chosen point's training is the
    ``train`` energy phase; the others are its selection's cost (``sweep_*``)."""
    points: list[tuple[nn.Module, Any, dict[str, Any]]] = []

    def train_at(temperature: float, alpha: float) -> int:
        seed_all(ctx.seed)
        model = build(arch).to(ctx.device)
        point = replace(cfg, loss_fn=_loss(teacher, mode, temperature, alpha))
        res, values = train_phase(ctx, model, point, measure_activations=not points,
                                  energy_phase=f"sweep:{len(points)}")
        ctx.events.log(f"T {temperature:g}, alpha {alpha:g}: val accuracy {res.val_accuracy:.4f}")
        points.append((model, res, values))
        return len(points) - 1

    def best(indices: list[int]) -> int:
        return max(range(len(indices)), key=lambda i: (points[indices[i]][1].val_accuracy, -i))

    extensions = int(p["kd_grid_extensions"])
    alpha0 = float(p["alphas"][len(p["alphas"]) // 2])
    temps = search("temperature", list(p["temperatures"]), lambda t: train_at(t, alpha0), best,
                   extensions=extensions, lo=0.1, hi=100.0)
    found, edges = temps.results[temps.chosen], [temps.edge_note()]
    alpha = alpha0 if mode == "both" else None
    if mode == "both":
        others = [a for a in p["alphas"] if a != alpha0]
        alphas = search("alpha", [alpha0, *others], lambda a: found if a == alpha0 else train_at(temps.value, a),
                        best, extensions=extensions, lo=0.01, hi=0.99)
        found, alpha = alphas.results[alphas.chosen], alphas.value
        edges.append(alphas.edge_note())
    model, _, values = points[found]
    ctx.energy.promote(f"sweep:{found}", "train")
    values = dict(values)
    values["sweep_train_time_s"] = sum(r.train_time_s for _, r, _ in points)
    values["kd_points"] = len(points)
    chosen = {"temperature": temps.value, "alpha": alpha, "temperatures_tried": temps.tried,
              "grid_edge": "; ".join(e for e in edges if e) or None}
    return model, values, chosen


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
    if mode in ("scratch", "hard"):  # nothing to tune: the labels, or the teacher's argmax
        if mode == "hard":
            cfg.loss_fn = _loss(teacher, mode, 1.0, 1.0)
        _, values = train_phase(ctx, model, cfg)
        chosen: dict[str, Any] = {"temperature": None, "alpha": None, "grid_edge": None}
    else:
        model, values, chosen = _tuned(ctx, arch, cfg, teacher, mode, p)
    values.update(inference_phase(ctx, model, reference=teacher, reference_name="teacher"))
    values.update(static_measures(ctx, model))
    values.update({"role": "student", "mode": mode, **chosen})
    t_size = teacher_result.get("model_size_bytes") or serialized_size(teacher)
    values["compression_ratio_vs_teacher"] = t_size / values["model_size_bytes"]
    if teacher_result.get("test_accuracy") is not None:
        values["teacher_test_accuracy"] = teacher_result["test_accuracy"]
        values["accuracy_gap_vs_teacher"] = teacher_result["test_accuracy"] - values["test_accuracy"]
    return values
