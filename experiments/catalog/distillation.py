"""distillation: students taught by a trained teacher against a student trained alone."""

from ..declare import (
    INFERENCE_BATCH,
    Experiment,
    Param,
    Variant,
    common_params,
    grid_extensions_param,
    keys_deliverable,
    threshold,
)

MODES = ("hard", "soft", "both")


def plan(values: dict) -> list[Variant]:
    # two questions, two references: does the teacher's signal help a student (each taught
    # student against the same student trained alone: quality at equal cost), and what does the
    # small student save against the teacher (compression: latency, with its size, at
    # non-inferior quality; nobody claims a student beats its teacher on quality, issue 22)
    out = [Variant("teacher", {"role": "teacher"}, baseline=True),
           Variant("student-scratch", {"role": "student", "mode": "scratch"}, depends_on=("teacher",),
                   references=("teacher",), objective="latency",
                   role="compression vs teacher: latency and size at non-inferior quality")]
    for m in dict.fromkeys(values["modes"]):
        out.append(Variant(f"student-{m}", {"role": "student", "mode": m}, depends_on=("teacher",),
                           references=("student-scratch", "teacher"), objective="quality",
                           reference_objectives={"teacher": "latency"},
                           role="distillation effect (quality vs student-scratch); compression vs teacher "
                                "(latency and size at non-inferior quality)"))
    return out


def headline(values: dict) -> str:
    modes = list(dict.fromkeys(values["modes"]))
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
    params=tuple(common_params(0.9)) + (
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
