"""RunContext: what a program needs for one run (spec, params, data, device, deps, events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contract.runspec import Dependency, RunSpec

from .. import paramread
from ..declare import ParamValues
from ..events import EventWriter
from .datasets import Splits, load_dataset
from .energy import EnergyMeter
from .errors import ExperimentError
from .measure import as_tensors
from .models import ARCH_ATTR, Arch, build

#: a run's model checkpoint (`save_model`): {"arch", "state_dict"}
CHECKPOINT = "model.pt"
#: the most a headline model kept for the zoo may take (its state dict's tensors); the catalog's
#: image models take at most a few MB
KEEP_MAX_BYTES = 64 * 2**20

#: data caps and measurement repetitions per profile
PROFILE_DATA = {"smoke": {"max_train": 256, "max_eval": 200}, "default": {}, "full": {}}
PROFILE_LATENCY = {"smoke": (2, 5, 3), "default": (5, 30, 10), "full": (10, 100, 30)}  # warmup, b1 reps, b64 reps
#: seconds of sustained batch-64 inference whose energy is measured (a sampling meter needs a
#: window far longer than the milliseconds one pass over the test set takes)
PROFILE_INFERENCE_WINDOW_S = {"smoke": 0.1, "default": 0.5, "full": 2.0}
#: the fixed workload `energy_inference_kwh` refers to, the same for every variant, so E compares
INFERENCE_WORKLOAD_SAMPLES = 10_000


@dataclass
class RunContext:
    spec: RunSpec
    name: str
    variant: str
    seed: int
    profile: str
    params: ParamValues          # experiment parameters with the variant's own merged over them
    device: torch.device
    threads: int
    out_dir: Path
    cache_dir: str | None
    events: EventWriter
    energy: EnergyMeter
    deps: dict[str, Dependency] = field(default_factory=dict)
    headline: bool = False       # the plan's declared headline variant: its model is kept for the zoo
    _data: Splits | None = None

    # -- parameters, typed (experiments/paramread.py) --------------------------------------
    def integer(self, name: str, default: int | None = None) -> int:
        return paramread.integer(self.params, name, default)

    def number(self, name: str, default: float | None = None) -> float:
        return paramread.number(self.params, name, default)

    def text(self, name: str, default: str | None = None) -> str:
        return paramread.text(self.params, name, default)

    def flag(self, name: str) -> bool:
        return paramread.flag(self.params, name)

    def integers(self, name: str, default: list[int] | None = None) -> list[int]:
        return paramread.integers(self.params, name, default)

    def numbers(self, name: str, default: list[float] | None = None) -> list[float]:
        return paramread.numbers(self.params, name, default)

    def texts(self, name: str, default: list[str] | None = None) -> list[str]:
        return paramread.texts(self.params, name, default)

    # -- budgets ------------------------------------------------------------------------
    def epochs(self, smoke: int, default: int, full: int) -> int:
        """The ``epochs`` parameter when set, else the profile's budget."""
        epochs = paramread.maybe_integer(self.params, "epochs") or 0
        if epochs > 0:
            return epochs
        return {"smoke": smoke, "default": default, "full": full}[self.profile]

    def pick(self, smoke: Any, default: Any, full: Any) -> Any:
        return {"smoke": smoke, "default": default, "full": full}[self.profile]

    # -- data ---------------------------------------------------------------------------
    def data(self) -> Splits:
        if self._data is None:
            caps = PROFILE_DATA[self.profile]
            self._data = load_dataset(self.text("dataset"), self.seed, self.cache_dir, **caps)
            self.events.log(f"data {self._data.name}: {self._data.sizes()}")
        return self._data

    def tensors(self) -> dict[str, torch.Tensor]:
        d = self.data()
        xtr, ytr = as_tensors(d.x_train, d.y_train, self.device)
        xva, yva = as_tensors(d.x_val, d.y_val, self.device)
        xte, yte = as_tensors(d.x_test, d.y_test, self.device)
        return {"x_train": xtr, "y_train": ytr, "x_val": xva, "y_val": yva, "x_test": xte, "y_test": yte}

    def arch(self, kind: str, **sizes: Any) -> Arch:
        """The model of ``kind`` for this run's data, with its kind's sizes (`Arch`'s fields)."""
        d = self.data()
        return Arch(kind, tuple(d.shape), d.num_classes, **sizes)

    # -- dependencies and checkpoints ---------------------------------------------------------
    def dep(self, name: str) -> Dependency:
        try:
            return self.deps[name]
        except KeyError:
            raise ExperimentError(f"variant {self.variant!r} needs the output of variant {name!r} "
                                  f"(same seed) in spec['dependencies']") from None

    def save_model(self, model: nn.Module, arch: Arch, filename: str = CHECKPOINT) -> Path:
        path = self.out_dir / filename
        torch.save({"arch": arch.to_json(), "state_dict": model.state_dict()}, path)
        self.events.artifact(filename, "checkpoint")
        return path

    def keep_for_zoo(self, model: nn.Module) -> Path | None:
        """The headline variant's model as measured, kept for the model zoo (`lab publish`) as the
        checkpoint `save_model` writes (its FP32 state dict and architecture), unless the run keeps
        one already. Nothing is kept for another variant, a model `build` did not make, a converted
        one (INT8, FP16, BF16: the zoo converts its FP32 checkpoint again), or one over
        KEEP_MAX_BYTES; the log says why."""
        if not self.headline or (self.out_dir / CHECKPOINT).exists():
            return None
        arch = getattr(model, ARCH_ATTR, None)
        state = model.state_dict()
        if not isinstance(arch, Arch) or set(state) != set(build(arch).state_dict()) or any(
                t.is_floating_point() and t.dtype != torch.float32 for t in state.values()):
            self.events.log("model zoo: the measured model is not a plain FP32 model `build` makes (converted or "
                            "restructured): not kept here (a conversion is exported from its reference's checkpoint)")
            return None
        if not self.fits_the_zoo(sum(t.numel() * t.element_size() for t in state.values()), KEEP_MAX_BYTES):
            return None
        return self.save_model(model, arch)

    def fits_the_zoo(self, size: int, bound: int) -> bool:
        """May a model of ``size`` bytes be kept for the zoo (at most ``bound``)? The log says when not."""
        if size > bound:
            self.events.log(f"model zoo: the model's {size:,} bytes exceed the {bound:,} kept; not kept", "warning")
        return size <= bound

    def load_model(self, dep_name: str, filename: str = CHECKPOINT) -> tuple[nn.Module, Arch]:
        out_dir = self.dep(dep_name).output_dir
        path = Path(out_dir or "") / filename
        if not out_dir or not path.is_file():
            raise ExperimentError(f"checkpoint of dependency {dep_name!r} not found: {path}")
        blob = torch.load(path, map_location=self.device, weights_only=True)
        arch = Arch.from_json(blob["arch"])
        model = build(arch).to(self.device)
        model.load_state_dict(blob["state_dict"])
        return model, arch
