"""distillation: students taught by a trained teacher against a student trained alone.

The program: the teacher, or a student trained with or without the teacher's outputs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import (
    INFERENCE_BATCH,
    Experiment,
    Param,
    ParamValues,
    Variant,
    common_params,
    grid_extensions_param,
    keys_deliverable,
    threshold,
)
from ..harness.grids import search
from ..paramread import integer, integers, number, numbers, text, texts

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..harness.context import RunContext
    from ..harness.models import Arch
    from ..harness.train import TrainConfig


MODES = ("hard", "soft", "both")


def plan(values: ParamValues) -> list[Variant]:
    # two questions, two references: does the teacher's signal help a student (each taught
    # student against the same student trained alone: quality at equal cost), and what does the
    # small student save against the teacher (compression: latency, with its size, at
    # non-inferior quality; nobody claims a student beats its teacher on quality, issue 22)
    out = [Variant("teacher", {"role": "teacher"}, baseline=True),
           Variant("student-scratch", {"role": "student", "mode": "scratch"}, depends_on=("teacher",),
                   references=("teacher",), objective="latency",
                   role="compression vs teacher: latency and size at non-inferior quality")]
    for m in dict.fromkeys(texts(values, "modes")):
        out.append(Variant(f"student-{m}", {"role": "student", "mode": m}, depends_on=("teacher",),
                           references=("student-scratch", "teacher"), objective="quality",
                           reference_objectives={"teacher": "latency"},
                           role="distillation effect (quality vs student-scratch); compression vs teacher "
                                "(latency and size at non-inferior quality)"))
    return out


def headline(values: ParamValues) -> str:
    modes = list(dict.fromkeys(texts(values, "modes")))
    return f"student-{'both' if 'both' in modes else modes[0]}"  # Hinton's loss, when planned


EXPERIMENT = Experiment(
    name="distillation",
    title="Knowledge distillation into a small student",
    area="compression",
    gain_phase="inference",
    summary="Train a wide teacher, then small students on the teacher's hard labels (its argmax), "
            "on its temperature-softened outputs, and on both soft targets and the true labels "
            "(Hinton's loss with weight alpha), against the same student trained on the true labels "
            "alone (optionally on randomly shifted batches that the teacher labels as it sees them). "
            "Two comparisons: each taught student against student-scratch (the distillation effect, "
            "on accuracy at equal cost) and the students against the teacher (compression: energy "
            "and latency at batch 64, timed beside the teacher in the same process).",
    literature="Training a small model on a large model's temperature-softened outputs transfers "
               "'dark knowledge' about class similarities and beats training the small model on the "
               "labels alone (Ba & Caruana 2014; Hinton et al. 2015); the usual loss mixes the soft "
               "term, scaled by T^2, with the hard-label loss. DistilBERT kept 97 % of BERT's "
               "language-understanding score with 40 % fewer parameters and 60 % faster inference "
               "(Sanh et al. 2019). Gains are largest when the student is much smaller than the "
               "teacher and data are limited; students often do not match the teacher's predictions "
               "closely even when they generalise better (Stanton et al. 2021), and a very large "
               "capacity gap can hurt (Cho & Hariharan 2019).",
    references=(
        "Hinton et al. 2015, Distilling the Knowledge in a Neural Network (arXiv:1503.02531)",
        "Ba & Caruana 2014, Do Deep Nets Really Need to be Deep? (NeurIPS)",
        "Sanh et al. 2019, DistilBERT, a distilled version of BERT (arXiv:1910.01108)",
        "Stanton et al. 2021, Does Knowledge Distillation Really Work? (NeurIPS)",
        "Cho & Hariharan 2019, On the Efficacy of Knowledge Distillation (ICCV)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_inference_kwh",
             "time": "latency_b64_ms", "size": "model_size_bytes"},
    params=(*common_params(0.9),
        Param("modes", "str_list", list(MODES), "how students learn from the teacher", choices=MODES),
        Param("teacher_hidden", "int_list", [512, 512], "teacher MLP hidden widths", min=1, max=8192),
        Param("student_hidden", "int_list", [16], "student MLP hidden widths", min=1, max=8192),
        Param("temperatures", "float_list", [2.0, 4.0, 8.0], "softmax temperatures of the soft targets; soft "
              "and both choose theirs on validation data (each arm its own)", min=0.1, max=100.0),
        Param("alphas", "float_list", [0.5, 0.7, 0.9], "weights of the soft loss in 'both' (1 - alpha on the "
              "labels), chosen on validation data at the chosen temperature", min=0.01, max=0.99),
        grid_extensions_param("kd_grid_extensions"),
        Param("augment_shift", "int", 0, "random shifts of up to this many pixels for every training "
              "batch (teacher and students alike); the teacher labels the shifted images", min=0, max=4),
        Param("lr", "float", 3e-3, "Adam learning rate", min=1e-6, max=1.0),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "model_size_bytes", "params_total",
                                   "compression_ratio_vs_teacher", "latency_b64_ms", "energy_inference_kwh",
                                   "budget_steps", "diverged", "energy_mode"),
                  keys_deliverable("ref_latency_ms", "ref_energy_inference_kwh", "speedup",
                                   variant="student-scratch"),
                  threshold("test_accuracy", ">=", 0.8, "teacher"),
                  threshold("test_accuracy", ">=", 0.8, "student-scratch")),
    plan_fn=plan,
    table_keys=("compression_ratio_vs_teacher", "speedup", "budget_steps"),
    headline=headline,
    speedup_batch=INFERENCE_BATCH,
)


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, mode: str,
            temperature: float, alpha: float) -> torch.Tensor:
    """hard: cross-entropy on the teacher's argmax; soft: T^2-scaled KL to the softened teacher;
    both: alpha * soft + (1 - alpha) * cross-entropy on the true labels (Hinton et al. 2015)."""
    import torch.nn.functional as F

    if mode == "hard":
        return F.cross_entropy(student, teacher.argmax(dim=1))
    t = temperature
    soft = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1),
                    reduction="batchmean", log_target=True) * t * t
    if mode == "soft":
        return soft
    return alpha * soft + (1 - alpha) * F.cross_entropy(student, labels)


def _loss(teacher: nn.Module, mode: str, temperature: float, alpha: float) -> Any:
    import torch

    def loss_fn(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher(x).float()  # the teacher labels the same (shifted) batch
        return kd_loss(logits, target, y, mode, temperature, alpha)
    return loss_fn


def _tuned(ctx: RunContext, arch: Arch, cfg: TrainConfig, teacher: nn.Module, mode: str,
           p: ParamValues) -> tuple[nn.Module, ResultValues, ResultValues]:
    """Each arm's own temperature (then, for both, its alpha at that temperature), chosen on
    VALIDATION accuracy, the grid extended while the choice sits on an edge (harness/grids.py);
    every point trains the same initialisation and data order. The chosen point's training is the
    ``train`` energy phase; the others are its selection's cost (``sweep_*``)."""
    from ..harness.models import build
    from ..harness.pipeline import train_phase
    from ..harness.runtime import seed_all

    points: list[tuple[nn.Module, Any, ResultValues]] = []

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

    extensions = integer(p, "kd_grid_extensions")
    alpha_grid = numbers(p, "alphas")
    alpha0 = alpha_grid[len(alpha_grid) // 2]
    temps = search("temperature", numbers(p, "temperatures"), lambda t: train_at(t, alpha0), best,
                   extensions=extensions, lo=0.1, hi=100.0)
    found, edges = temps.results[temps.chosen], [temps.edge_note()]
    alpha = alpha0 if mode == "both" else None
    if mode == "both":
        others = [a for a in alpha_grid if a != alpha0]
        alphas = search("alpha", [alpha0, *others], lambda a: found if a == alpha0 else train_at(temps.value, a),
                        best, extensions=extensions, lo=0.01, hi=0.99)
        found, alpha = alphas.results[alphas.chosen], alphas.value
        edges.append(alphas.edge_note())
    model, _, values = points[found]
    ctx.energy.promote(f"sweep:{found}", "train")
    values = dict(values)
    values["sweep_train_time_s"] = sum(r.train_time_s for _, r, _ in points)
    values["kd_points"] = len(points)
    chosen: ResultValues = {"temperature": temps.value, "alpha": alpha, "temperatures_tried": temps.tried,
              "grid_edge": "; ".join(e for e in edges if e) or None}
    return model, values, chosen


def run(ctx: RunContext) -> ResultValues:
    import torch

    from ..harness.augment import random_shift
    from ..harness.measure import serialized_size
    from ..harness.models import build
    from ..harness.pipeline import inference_phase, standard_run, static_measures, train_phase
    from ..harness.train import TrainConfig

    p = ctx.params
    gen = torch.Generator().manual_seed(ctx.seed + 1)
    shift = integer(p, "augment_shift")
    # teacher and students train for the same number of epochs: no reference is under-budgeted
    epochs = ctx.epochs(2, 25, 80)

    def config() -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=integer(p, "batch_size"), lr=number(p, "lr"), optimizer="adam",
                           target_val_accuracy=number(p, "target_val_accuracy"),
                           augment=random_shift(shift, gen) if shift else None)
    if text(p, "role") == "teacher":
        arch = ctx.arch("mlp", hidden=integers(p, "teacher_hidden"))
        model = build(arch).to(ctx.device)
        _, values = standard_run(ctx, model, config(), arch, save=True)
        values.update({"role": "teacher", "compression_ratio_vs_teacher": 1.0})
        return values

    arch = ctx.arch("mlp", hidden=integers(p, "student_hidden"))
    model = build(arch).to(ctx.device)
    cfg = config()
    mode = text(p, "mode")
    teacher, _ = ctx.load_model("teacher")  # every student is timed against the teacher it compresses
    teacher.eval()
    teacher_result = ctx.dep("teacher").result or {}
    if mode in ("scratch", "hard"):  # nothing to tune: the labels, or the teacher's argmax
        if mode == "hard":
            cfg.loss_fn = _loss(teacher, mode, 1.0, 1.0)
        _, values = train_phase(ctx, model, cfg)
        chosen: ResultValues = {"temperature": None, "alpha": None, "grid_edge": None}
    else:
        model, values, chosen = _tuned(ctx, arch, cfg, teacher, mode, p)
    values.update(inference_phase(ctx, model, reference=teacher, reference_name="teacher"))
    values.update(static_measures(ctx, model))
    values.update({"role": "student", "mode": mode, **chosen})
    t_size = number_at(teacher_result, "model_size_bytes") or serialized_size(teacher)
    values["compression_ratio_vs_teacher"] = t_size / required_number(values, "model_size_bytes")
    if (teacher_accuracy := number_at(teacher_result, "test_accuracy")) is not None:
        values["teacher_test_accuracy"] = teacher_accuracy
        values["accuracy_gap_vs_teacher"] = teacher_accuracy - required_number(values, "test_accuracy")
    return values
