"""An experiment's environment as a container recipe, committed with its record (`environment/`):

- `snapshot.json`: Python, torch (CPU or CUDA wheel, as the runs used) and every package the runs
  need at its exact version: the experiment programs' libraries and everything they require,
  read from the installed distributions (nothing is imported; torch's CUDA version is read from
  its `version.py`), each checked against what the runs themselves reported;
- `requirements.txt`: those packages pinned (`name==version`), torch apart;
- `Dockerfile`: a slim Python base of the same version, torch from the CPU or CUDA wheel index,
  the pinned requirements, the record's code and the shared `contract` package; built from the
  record folder with `docker build -f environment/Dockerfile .`.

`lab show` prints its summary, `lab diff` compares two experiments' snapshots package by package.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata as md
import importlib.util
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

from contract import VERSION, codesnap
from contract.jsonvalue import JsonObject, json_object, text_at
from contract.runspec import DeviceKind
from db import Experiment, Run

FOLDER = "environment"
#: what an experiment program imports (experiments/, the LM harness, energy meters, the figures)
RUN_ROOTS = ("torch", "transformers", "peft", "tokenizers", "safetensors", "huggingface-hub", "numpy", "scipy",
             "scikit-learn", "matplotlib", "psutil", "codecarbon", "nvidia-ml-py")
TRACKING_ROOTS = ("wandb",)
TORCH_INDEX = "https://download.pytorch.org/whl/"
#: torch's own CUDA libraries: a CPU image leaves them out
CUDA_ONLY = re.compile(r"^(nvidia-|triton$|cuda-)")


@dataclass(frozen=True)
class Package:
    name: str
    version: str


@dataclass(frozen=True)
class EnvSnapshot:
    python: str
    torch: str
    accelerator: str            # a DeviceKind, "cpu" or "cuda": what the runs ran on
    cuda: str | None            # the CUDA version torch was built for (None: a CPU build)
    packages: tuple[Package, ...]

    @property
    def torch_index(self) -> str:
        if self.accelerator == DeviceKind.CUDA and self.cuda:
            return TORCH_INDEX + "cu" + self.cuda.replace(".", "")
        return TORCH_INDEX + "cpu"

    def to_json(self) -> JsonObject:
        """snapshot.json (the packages as name -> version, torch's wheel index spelled out)."""
        return {"python": self.python, "torch": self.torch, "accelerator": self.accelerator, "cuda": self.cuda,
                "torch_index": self.torch_index, "packages": {p.name: p.version for p in self.packages}}

    @classmethod
    def from_json(cls, raw: JsonObject) -> EnvSnapshot:
        packages = json_object(raw.get("packages")) or {}
        return cls(str(raw.get("python")), str(raw.get("torch")), str(raw.get("accelerator")), text_at(raw, "cuda"),
                   tuple(Package(str(k), str(v)) for k, v in sorted(packages.items())))

    def summary(self) -> str:
        build = f"CUDA {self.cuda} wheel" if self.accelerator == DeviceKind.CUDA else "CPU wheel"
        return f"Python {self.python}, torch {self.torch} ({build}), {len(self.packages)} packages pinned"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed() -> dict[str, md.Distribution]:
    return {_norm(d.metadata["Name"]): d for d in md.distributions() if d.metadata["Name"]}


def _stamp() -> tuple[tuple[str, float], ...]:
    """When the installed packages last changed: the mtimes of the folders on sys.path."""
    return tuple((p, os.stat(p).st_mtime) for p in sys.path if p and os.path.isdir(p))


@functools.lru_cache(maxsize=4)
def _pins(roots: tuple[str, ...], stamp: tuple[tuple[str, float], ...]) -> tuple[tuple[str, str], ...]:
    """The closure of `roots`, read once per state of the installed packages (it takes a second)."""
    return tuple(sorted(closure(roots, _installed()).items()))


def closure(roots: Iterable[str], installed: dict[str, md.Distribution]) -> dict[str, str]:
    """Every installed distribution `roots` need (their requirements, recursively, markers
    evaluated here, extras left out), by name -> version."""
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    out: dict[str, str] = {}
    todo = [_norm(r) for r in roots]
    while todo:
        name = todo.pop()
        dist = installed.get(name)
        if dist is None or name in out:
            continue
        out[name] = dist.version
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            todo.append(_norm(req.name))
    return out


def _torch_cuda() -> str | None:
    """The CUDA version torch was built for, read from its version.py (torch is not imported)."""
    spec = importlib.util.find_spec("torch")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    if not roots:
        return None
    try:
        text = (Path(roots[0]) / "version.py").read_text()
    except OSError:
        return None
    found = re.search(r"^cuda\s*(?::\s*\S+\s*)?=\s*['\"]([\d.]+)['\"]", text, re.M)
    return found.group(1) if found else None


def take(runs: list[Run]) -> EnvSnapshot:
    """The snapshot of the environment `runs` ran in (the runs' own reports win over this one)."""
    results = [r.result for r in runs if isinstance(r.result, dict)]
    reported: dict[str, str] = {}
    for res in results:
        if isinstance(versions := res.get("versions"), dict):
            reported.update({_norm(k): str(v) for k, v in versions.items()})
    tracked = any(res.get("wandb_run_id") or res.get("wandb_project") for res in results)
    cuda_used = any((r.device or "").startswith("cuda") for r in runs)
    pins = dict(_pins(RUN_ROOTS + (TRACKING_ROOTS if tracked else ()), _stamp()))
    pins.update({k: v for k, v in reported.items() if k in pins})
    torch = pins.pop("torch", reported.get("torch", "unknown"))
    if not cuda_used:
        pins = {k: v for k, v in pins.items() if not CUDA_ONLY.match(k)}
    python = reported.get("python") or ".".join(map(str, sys.version_info[:3]))
    return EnvSnapshot(python, torch.split("+")[0], DeviceKind.CUDA if cuda_used else DeviceKind.CPU,
                       _torch_cuda() if cuda_used else None, tuple(Package(k, v) for k, v in sorted(pins.items())))


def requirements(snap: EnvSnapshot) -> str:
    return "".join(f"{p.name}=={p.version}\n" for p in snap.packages)


def dockerfile(snap: EnvSnapshot, exp: Experiment) -> str:
    return "\n".join([
        f"# The environment of experiment {exp.id} ({exp.name}, {exp.catalog}), recorded by Joule Lab "
        f"{VERSION}.",
        f"# {snap.summary()}.",
        "# Build and run from the record folder (exp/<id>-<name>/):",
        f"#   docker build -f {FOLDER}/Dockerfile -t joulelab-exp-{exp.id} .",
        f"#   docker run --rm joulelab-exp-{exp.id} python -m experiments {exp.catalog} -p profile=smoke",
        f"FROM python:{snap.python}-slim",
        "ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"RUN pip install --index-url {snap.torch_index} torch=={snap.torch}",
        f"COPY {FOLDER}/requirements.txt /joulelab/requirements.txt",
        "RUN pip install -r /joulelab/requirements.txt",
        f"COPY {FOLDER}/contract/ /joulelab/contract/",
        "COPY code/experiments/ /joulelab/experiments/",
        "WORKDIR /joulelab",
        "ENV PYTHONPATH=/joulelab",
        'CMD ["python", "-m", "experiments", "list"]',
        ""])


def files(runs: list[Run], exp: Experiment) -> dict[str, bytes]:
    """The `environment/` folder of the record."""
    import json

    snap = take(runs)
    out = {f"{FOLDER}/snapshot.json": (json.dumps(snap.to_json(), indent=2, sort_keys=True) + "\n").encode(),
           f"{FOLDER}/requirements.txt": requirements(snap).encode(),
           f"{FOLDER}/Dockerfile": dockerfile(snap, exp).encode()}
    with contextlib.suppress(codesnap.CodeNotFoundError):
        out.update({f"{FOLDER}/{name}": data for name, data in codesnap.source_files("contract").items()})
    return out


def read(folder: Path) -> EnvSnapshot | None:
    """The snapshot committed in a record folder, or None."""
    import json

    try:
        raw = json_object(json.loads((folder / FOLDER / "snapshot.json").read_text()))
    except (OSError, ValueError):
        return None
    return None if raw is None else EnvSnapshot.from_json(raw)


def differences(a: EnvSnapshot, b: EnvSnapshot) -> list[tuple[str, str | None, str | None]]:
    """(what, in a, in b) for each thing that differs: Python, torch and its build, each package."""
    rows: list[tuple[str, str | None, str | None]] = []
    for what, x, y in (("python", a.python, b.python), ("torch", a.torch, b.torch),
                       ("torch build", a.accelerator + (f" CUDA {a.cuda}" if a.cuda else ""),
                        b.accelerator + (f" CUDA {b.cuda}" if b.cuda else ""))):
        if x != y:
            rows.append((what, x, y))
    pa, pb = {p.name: p.version for p in a.packages}, {p.name: p.version for p in b.packages}
    rows += [(name, pa.get(name), pb.get(name)) for name in sorted(set(pa) | set(pb)) if pa.get(name) != pb.get(name)]
    return rows
