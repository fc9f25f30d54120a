"""Harness pieces in-process: optimizers, pruning, quantization, measurement, energy, events."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from experiments.events import EventWriter  # noqa: E402
from experiments.harness.energy import EnergyMeter  # noqa: E402
from experiments.harness.measure import activation_bytes, flops_per_forward, param_counts, serialized_size, tensor_bytes  # noqa: E402
from experiments.harness.models import Arch, build  # noqa: E402
from experiments.harness.optim import Lion, build_optimizer  # noqa: E402
from experiments.techniques.distillation import kd_loss  # noqa: E402
from experiments.techniques.pruning import apply_masks, global_magnitude_masks, structured_prune  # noqa: E402
from experiments.techniques.quantization import convert  # noqa: E402

ARCH = Arch("mlp", (1, 8, 8), 10, hidden=(32, 16))


def _fit(opt_name: str, lr: float) -> tuple[float, float, int]:
    torch.manual_seed(0)
    x, y = torch.randn(256, 1, 8, 8), torch.randint(0, 10, (256,))
    model = build(ARCH)
    opt = build_optimizer(opt_name, model.parameters(), lr)
    first = None
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), y)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return first, float(loss.detach()), tensor_bytes(opt.state_dict()["state"])


def test_lion_learns_and_keeps_half_of_adams_state() -> None:
    first, last, lion_bytes = _fit("lion", 3e-3)
    assert last < 0.7 * first
    _, _, adam_bytes = _fit("adam", 1e-3)
    assert lion_bytes * 2 == pytest.approx(adam_bytes, rel=0.01)  # Adam also keeps a step count
    assert isinstance(build_optimizer("lion", [nn.Parameter(torch.zeros(2))], 1e-4), Lion)


def test_structured_pruning_removes_neurons_and_keeps_the_function_at_zero() -> None:
    torch.manual_seed(0)
    model = build(ARCH).eval()
    x = torch.randn(5, 1, 8, 8)
    same, _arch0 = structured_prune(model, 0.0, ARCH)
    torch.testing.assert_close(same(x), model(x))
    small, arch = structured_prune(model, 0.5, ARCH)
    assert arch.hidden == (16, 8)
    assert param_counts(small)["params_total"] < param_counts(model)["params_total"] / 2


def test_global_magnitude_masks_reach_the_sparsity() -> None:
    model = build(ARCH)
    apply_masks(global_magnitude_masks(model, 0.7))
    ws = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws)
    assert zeros == pytest.approx(0.7, abs=0.01)
    assert serialized_size(model, sparse=True) < 0.8 * serialized_size(model)


def test_int8_and_half_conversions_shrink_the_model() -> None:
    model = build(Arch("transformer", (1, 8, 8), 10, dim=32, depth=1))
    fp32 = serialized_size(model)
    x = torch.randn(3, 1, 8, 8)
    ref = model.eval()(x)
    q = convert(build(Arch("mlp", (1, 8, 8), 10, hidden=(256, 256))), "int8")
    assert any("Quantized" in type(m).__name__ or "quantized" in type(m).__module__ for m in q.modules())
    half = convert(model, "bf16")
    assert serialized_size(half) < 0.6 * fp32
    assert torch.allclose(half(x.bfloat16()).float(), ref, atol=0.15)


def test_activation_memory_drops_with_checkpointing_and_flops_count() -> None:
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    arch = Arch("deep_mlp", (1, 8, 8), 10, width=64, depth=8)
    plain = activation_bytes(build(replace(arch, every_k=0)), x, y)
    ckpt = activation_bytes(build(replace(arch, every_k=2)), x, y)
    assert ckpt < 0.5 * plain
    flops = flops_per_forward(build(ARCH), x)
    assert flops == 2 * (64 * 32 + 32 * 16 + 16 * 10)


def test_kd_loss_modes() -> None:
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    assert float(kd_loss(t, t, y, "soft", 4.0, 0.5)) == pytest.approx(0.0, abs=1e-5)
    hard = kd_loss(s, t, y, "hard", 4.0, 0.5)
    assert float(hard) == pytest.approx(float(nn.functional.cross_entropy(s, t.argmax(1))))
    both = kd_loss(s, t, y, "both", 4.0, 0.25)
    expect = 0.25 * kd_loss(s, t, y, "soft", 4.0, 0.25) + 0.75 * nn.functional.cross_entropy(s, y)
    assert float(both) == pytest.approx(float(expect))


def test_energy_fallback_is_labelled_modelled(tmp_path) -> None:
    meter = EnergyMeter(tmp_path, enabled=False)
    with meter.phase("train"):
        sum(i * i for i in range(200_000))
    out = meter.result()
    assert out["energy_mode"] == "modelled" and out["energy_source"].startswith("cpu_time_model")
    assert out["energy_train_kwh"] > 0 and out["co2_train_kg"] > 0


def test_codecarbon_phase_reports_mode_and_writes_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    meter = EnergyMeter(tmp_path / "out")
    with meter.phase("inference"):
        sum(i * i for i in range(200_000))
    out = meter.result()
    assert out["energy_inference_kwh"] > 0
    assert out["energy_mode"] in ("measured", "modelled")
    if out["energy_source"].startswith("codecarbon:"):
        # measured only when hardware counters were really used
        hw = out["energy_source"].split(":", 1)[1]
        measured = any(m in hw for m in ("rapl", "power_gadget", "emi", "nvml", "powermetrics"))
        assert (out["energy_mode"] == "measured") == measured
    assert list(tmp_path.iterdir()) == [tmp_path / "out"] or not list(tmp_path.iterdir())
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_events_are_single_json_lines(tmp_path) -> None:
    w = EventWriter(tmp_path / "events.jsonl")
    w.metric(1, train_loss=float("nan"), val_accuracy=0.5)
    w.progress(1, 10, force=True)
    w.log("hello")
    w.artifact("model.pt", "checkpoint")
    w.result({"x": float("inf"), "y": 1})
    with pytest.raises(RuntimeError):
        w.result({})
    w.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events] == ["metric", "progress", "log", "artifact", "result"]
    assert events[0]["values"]["train_loss"] is None and events[-1]["values"]["x"] is None
    assert all(isinstance(e["t"], float) for e in events)
