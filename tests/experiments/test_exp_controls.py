"""Issue 10's fixed controls and honest measurements: the declarations every entry makes, and for
each repaired control a run or a hand-computed case that shows it is repaired."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from experiments.catalog import EXPERIMENTS
from experiments.command_line import plan_json
from experiments.declare import OBJECTIVES, Experiment, Variant, common_params
from experiments.harness.measure import activation_bytes, flops_per_forward, step_peak_bytes
from experiments.harness.models import Arch, build
from experiments.techniques.micro_architecture import _arch as micro_arch
from tests.experiments.helpers import REPO, env, run_plan

FAKE_NVML = Path(__file__).parent / "fixtures" / "fakenvml"


# -- declarations ------------------------------------------------------------------------------

LM_ENTRIES = ("lora_rank", "lora_merge", "compression_pipeline", "meta_learning", "one_shot_compression")
#: entries timed at batch 1 by construction, whose time key says what it times: the edge profile
#: (one thread, batch 1) and greedy decoding (milliseconds per generated token)
BATCH_ONE = {"lm_deployment": "edge_latency_ms", "edge_onnx": "edge_latency_ms",
             "speculative_decoding": "decode_ms_per_token"}


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_plan_declares_references_objectives_headline_and_batch(name: str) -> None:
    code, out = plan_json(name, {})
    assert code == 0
    variants = {v["name"]: v for v in out["variants"]}
    for v in out["variants"]:
        assert {"name", "baseline", "depends_on", "params", "references", "objective", "role"} <= set(v)
        assert all(r in variants and r != v["name"] for r in v["references"])
        reference_point = v["baseline"] or not v["references"]
        if reference_point:
            assert v["objective"] is None
        else:
            assert v["objective"] in OBJECTIVES, v
            assert v["reference"] == v["references"][0]
    assert "headline" in out and "speedup_batch" in out
    if name != "logreg":  # a single baseline has nothing to claim
        head = variants[out["headline"]]
        assert head["references"] and head["objective"] in OBJECTIVES
    if name in BATCH_ONE:
        assert out["speedup_batch"] == 1 and EXPERIMENTS[name].metrics["time"] == BATCH_ONE[name]
    elif EXPERIMENTS[name].gain_phase == "inference":  # speedup and E at one batch (64; a language model's own)
        batch = out["speedup_batch"]
        assert batch == (64 if name not in LM_ENTRIES else batch) and EXPERIMENTS[name].metrics["time"] == \
            f"latency_b{batch}_ms"
    catalog = EXPERIMENTS[name].entry()
    assert catalog.headline == out["headline"] and catalog.speedup_batch == out["speedup_batch"]
    roles = set(catalog.metrics)
    for v in out["variants"]:
        if v["objective"] is not None:
            role = "time" if v["objective"] == "latency" else v["objective"]
            assert role in roles, (name, v["name"], role)


def test_the_older_single_reference_still_works() -> None:
    assert Variant("b", {}, reference="a").references == ("a",)
    own = Variant("p", {}, reference="p")
    assert own.reference_point and own.to_json()["references"] == [] and own.to_json()["reference"] == "p"
    exp = Experiment(
        name="t", title="t", area="a", gain_phase="training", summary="s", literature="l", references=(),
        metrics={}, params=tuple(common_params()), deliverables=(),
        plan_fn=lambda values: [Variant("base", {}, baseline=True), Variant("v", {}), own])
    plan = {v.name: v.to_json() for v in exp.plan(exp.validate({}))}
    assert plan["v"]["references"] == ["base"] and plan["v"]["reference"] == "base"
    assert plan["p"]["references"] == [] and plan["base"]["references"] == []


def test_distillation_has_both_references_and_pruning_one_unit() -> None:
    _, out = plan_json("distillation", {})
    v = {x["name"]: x for x in out["variants"]}
    assert v["student-soft"]["references"] == ["student-scratch", "teacher"]
    assert v["student-soft"]["objective"] == "quality"
    # against the teacher, a compression comparison (issue 22): latency at non-inferior quality
    assert v["student-soft"]["reference_objectives"] == {"teacher": "latency"}
    assert v["student-scratch"]["references"] == ["teacher"] and v["student-scratch"]["objective"] == "latency"
    _, out = plan_json("pruning", {})
    assert all(x["references"] == ["dense"] for x in out["variants"] if not x["baseline"])


def test_linear_attention_claims_speed_only_over_a_long_sequence() -> None:
    _, short = plan_json("micro_architecture", {})  # digits, patch 2: 16 tokens at width 64
    lin = next(v for v in short["variants"] if v["name"] == "linear-attention")
    assert lin["objective"] is None and lin["references"] == [] and "no claim" in lin["role"]
    _, long = plan_json("micro_architecture", {"attn_patch": 1, "attn_dim": 32})  # 64 tokens
    lin = next(v for v in long["variants"] if v["name"] == "linear-attention")
    assert lin["objective"] == "latency" and lin["references"] == ["transformer"]


# -- micro-architecture controls -----------------------------------------------------------------

class _Ctx:
    """What ``programs.micro_architecture._arch`` reads of a run context."""

    def __init__(self, params: dict) -> None:
        self.params = params

    def arch(self, kind: str, **kw: Any) -> Arch:
        return Arch(kind, (1, 8, 8), 10, **kw)


def _params(design: str) -> int:
    ctx = _Ctx(EXPERIMENTS["micro_architecture"].validate({}))
    return sum(p.numel() for p in build(micro_arch(ctx, design)).parameters())


def test_controls_are_parameter_matched_within_ten_percent() -> None:
    assert _params("cnn_matched") == pytest.approx(_params("dwsep"), rel=0.10)
    assert _params("transformer") == pytest.approx(_params("linear_attention"), rel=0.10)
    assert _params("baseline") > 2 * _params("dwsep")  # why the matched control is needed
    assert _params("shared_layers") < 0.6 * _params("transformer")  # sharing is the claim


def test_flops_count_softmax_attention() -> None:
    dim, depth, tokens = 64, 2, 16
    model = build(Arch("transformer", (1, 8, 8), 10, patch=2, dim=dim, depth=depth, heads=4, mlp_ratio=4))
    x = torch.randn(1, 1, 8, 8)
    linears = sum(2 * m.in_features * m.out_features * (1 if m is model.head else tokens)
                  for m in model.modules() if isinstance(m, nn.Linear))
    attention = depth * 2 * (2 * tokens * tokens * dim)  # QK^T and AV, per block
    total = flops_per_forward(model, x)
    assert total is not None and total - linears == attention > 0


# -- memory -------------------------------------------------------------------------------------

def test_activation_bytes_count_only_the_tensors_own_bytes() -> None:
    """Flatten -> Linear(8, 4) -> ReLU -> Linear(4, 3) on a view x[:5] of a 100-sample tensor:
    saved for backward are the ReLU output (5 x 4 fp32 = 80 B), log-softmax's output (5 x 3 fp32 =
    60 B) and nll_loss's total weight (one fp32 scalar, 4 B). The inputs, the labels and whatever
    they are views of (100 x 8 fp32 + 100 int64 = 4,000 B that the old count added) are data, not
    activations; the weights are parameters."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3))
    x, y = torch.randn(100, 1, 2, 4), torch.randint(0, 3, (100,))
    assert activation_bytes(model, x[:5], y[:5]) == 80 + 60 + 4
    # under BF16 autocast: the input cast to bf16 (5 x 8 x 2 = 80 B) and the bf16 ReLU output
    # (40 B) are activations; the bf16 copies autocast makes of the weights are not
    assert activation_bytes(model, x[:5], y[:5], precision="bf16") == 80 + 40 + 60 + 4


def test_mixed_precision_halves_activations_of_a_wide_mlp() -> None:
    model = build(Arch("mlp", (1, 8, 8), 10, hidden=(512, 512)))
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    fp32, bf16 = activation_bytes(model, x, y), activation_bytes(model, x, y, precision="bf16")
    assert bf16 < 0.6 * fp32  # was 1.25x fp32 when the weight copies were counted


def test_step_peak_includes_recomputation() -> None:
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    arch = Arch("deep_mlp", (1, 8, 8), 10, width=64, depth=16)
    torch.manual_seed(0)
    plain, k4 = build(replace(arch, every_k=0)), build(replace(arch, every_k=4))
    assert step_peak_bytes(k4, x, y) < step_peak_bytes(plain, x, y)
    # during backward one segment of 4 blocks is recomputed and alive beside the boundaries
    assert step_peak_bytes(k4, x, y) > activation_bytes(k4, x, y)
    assert all(p.grad is None for p in k4.parameters())


# -- runs ---------------------------------------------------------------------------------------

def test_clipping_baseline_is_a_stable_control_at_its_selected_rate(tmp_path) -> None:
    runs = run_plan("gradient_clipping", {"profile": "smoke", "max_norms": [1.0]}, tmp_path, seed=0)
    none, clip = runs["none"]["result"], runs["clip-1"]["result"]
    for r in (none, clip):
        assert r["lr_grid"] == [0.1, 0.3, 1.0, 3.0] and 0.0 <= r["divergence_rate"] <= 1.0
        # the grid was extended only while the choice sat on its edge; divergences count the declared grid
        tried = r["lr_grid_tried"]
        assert tried[:4] == r["lr_grid"] and len(tried) <= 4 + 2
        if len(tried) == 4:
            assert r["selected_lr"] in (0.3, 1.0)  # inside the declared grid: nothing tried beyond it
        if r["grid_edge"] is None:
            assert min(tried) < r["selected_lr"] < max(tried)
        assert r["sweep_train_time_s"] >= r["train_time_s"] > 0
        assert r["sweep_energy_kwh"] >= r["energy_train_kwh"] > 0
    assert none["diverged"] is False and none["selected_lr"] in (0.1, 0.3)
    assert none["selected_lr"] not in none["diverged_lrs"]
    assert none["budget_steps"] == clip["budget_steps"]


def test_pruning_arms_get_the_same_budget_and_remove_the_same_share(tmp_path) -> None:
    runs = run_plan("pruning", {"profile": "smoke", "sparsities": [0.5], "methods": ["magnitude", "structured"]},
                    tmp_path, seed=0)
    results = {n: r["result"] for n, r in runs.items()}
    assert len({r["budget_steps"] for r in results.values()}) == 1
    dense = results["dense"]
    assert dense["budget_steps"] > dense["pretrain_steps"] > 0
    for name in ("magnitude-50", "structured-50"):
        r = results[name]
        assert r["params_removed_fraction"] == pytest.approx(0.5, abs=0.01)
        assert r["params_nonzero"] == pytest.approx(dense["params_nonzero"] / 2, rel=0.02)
        assert r["ref_variant"] == "dense" and r["ref_latency_ms"] > 0 and r["speedup"] > 0
        assert r["ref_energy_inference_kwh"] > 0 and r["speedup_batch"] == 64


# -- energy -------------------------------------------------------------------------------------

_METER = ("import sys, time\n"
          "from experiments.harness.energy import EnergyMeter\n"
          "m = EnergyMeter(sys.argv[1], device=sys.argv[2])\n"
          "with m.phase('train'):\n"
          "    time.sleep(0.2)\n"
          "r = m.result()\n"
          "print(r['energy_mode'] + '|' + r['energy_source'])\n")


def _meter(tmp_path: Path, device: str, fake_gpu: bool) -> tuple[str, str]:
    e = env()
    if fake_gpu:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        smi = bin_dir / "nvidia-smi"
        smi.write_text("#!/bin/sh\nexit 0\n")
        smi.chmod(0o755)
        e["PATH"] = f"{bin_dir}{os.pathsep}{e.get('PATH', '')}"
        e["PYTHONPATH"] = f"{FAKE_NVML}{os.pathsep}{e['PYTHONPATH']}"
    proc = subprocess.run([sys.executable, "-c", _METER, str(tmp_path / device), device], cwd=REPO, env=e,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    mode, source = proc.stdout.strip().splitlines()[-1].split("|", 1)
    return mode, source


def _rapl_readable() -> bool:
    return any(p.is_file() and os.access(p, os.R_OK)
               for p in Path("/sys/class/powercap").glob("intel-rapl*/energy_uj"))


@pytest.mark.skipif(_rapl_readable(), reason="this machine has readable RAPL counters")
def test_energy_without_counters_is_modelled_and_says_so(tmp_path) -> None:
    mode, source = _meter(tmp_path, "cpu", fake_gpu=False)
    assert mode == "modelled"
    assert "cpu_load" in source and "model of time" in source


def test_nvml_makes_a_gpu_run_measured_not_a_cpu_run_beside_an_idle_gpu(tmp_path) -> None:
    mode, source = _meter(tmp_path, "cuda", fake_gpu=True)
    assert mode == "measured" and "gpu=nvml" in source
    if not _rapl_readable():
        mode, source = _meter(tmp_path, "cpu", fake_gpu=True)
        assert mode == "modelled" and "gpu=nvml" in source and "CPU that did the work" in source


def test_runs_record_the_cpu_flags() -> None:
    from experiments.harness.runtime import RELEVANT_CPU_FLAGS, cpu_flags
    flags = cpu_flags()
    assert set(flags) <= set(RELEVANT_CPU_FLAGS)
    if Path("/proc/cpuinfo").is_file() and "avx2" in Path("/proc/cpuinfo").read_text():
        assert "avx2" in flags
