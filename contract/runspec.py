"""The run spec (docs/PROTOCOL.md §3): what a run is, written by the engine as `spec.json` before
the run starts and read by the experiment program. One writer (`RunSpec.to_json`), one reader
(`RunSpec.from_json`); the JSON on disk is the protocol, this type is its only spelling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .events import ResultValues
from .jsonvalue import JsonObject, json_object
from .params import ParamValues, param_values
from .protocol import PROTOCOL


class DeviceKind(StrEnum):
    """The kind of device a run asks for (its `device` parameter; the engine's slots give it one
    of that kind: "cpu", or "cuda:N" for a GPU)."""

    CPU = "cpu"
    CUDA = "cuda"


class SpecError(ValueError):
    """A spec that cannot be read: one line naming the key and what is wrong with it."""


def _key(data: Mapping[str, object], key: str, kinds: tuple[type, ...], what: str, *,
         required: bool = True, nullable: bool = False) -> Any:
    if key not in data:
        if required:
            raise SpecError(f"spec is missing the key {key!r} ({what}; docs/PROTOCOL.md §3)")
        return None
    value = data[key]
    if value is None and nullable:
        return None
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise SpecError(f"spec key {key!r} must be {what}, got {value!r:.60}")
    return value


def _device(given: str) -> DeviceKind:
    try:
        return DeviceKind(given)
    except ValueError:
        raise SpecError(f"spec key 'device' must be 'cpu' or 'cuda', got {given!r:.60}") from None


def _params(raw: object, key: str) -> ParamValues:
    """A spec's parameter values: an object of scalars and lists of scalars."""
    values = param_values(raw)
    if values is None:
        raise SpecError(f"spec key {key!r} must be an object of parameter values (scalars, null or "
                        f"lists of scalars), got {raw!r:.60}")
    return values


@dataclass(frozen=True)
class Dependency:
    """A run this run depends on (a variant of the same seed): its id, output directory, result."""

    run_id: int | None
    output_dir: str | None
    result: ResultValues | None  # its program's result values

    def to_json(self) -> JsonObject:
        return {"run_id": self.run_id, "output_dir": self.output_dir, "result": self.result}

    @classmethod
    def from_json(cls, variant: str, data: Any) -> Dependency:
        if not isinstance(data, dict):
            raise SpecError(f"spec key 'dependencies' entry {variant!r} must be an object, got {data!r:.60}")
        where = f"dependencies.{variant}"
        run_id = _key(data, "run_id", (int,), f"{where}: a run id (an integer or null)", required=False,
                      nullable=True)
        output_dir = _key(data, "output_dir", (str,), f"{where}: a directory (a string or null)",
                          required=False, nullable=True)
        result = _key(data, "result", (dict,), f"{where}: a result (an object or null)", required=False,
                      nullable=True)
        return cls(run_id=run_id, output_dir=output_dir, result=None if result is None else json_object(result))


@dataclass(frozen=True)
class RunSpec:
    """One run of one variant and seed, as its program is told (PROTOCOL.md §3)."""

    run_id: int | None                 # None for a local try (`python -m experiments NAME`)
    name: str                          # the catalog entry
    variant: str
    seed: int
    params: ParamValues                # the experiment's parameters
    variant_params: ParamValues | None  # the variant's own settings; None: read from the plan
    profile: str
    device: DeviceKind
    threads: int
    output_dir: str
    events_path: str
    cache_dir: str | None
    dependencies: dict[str, Dependency] = field(default_factory=dict)
    experiment_id: int | None = None
    attempt: int | None = None
    code_sha256: str | None = None
    protocol: int = PROTOCOL

    def to_json(self) -> JsonObject:
        """The JSON object of spec.json (every key, always)."""
        return {
            "protocol": self.protocol, "run_id": self.run_id, "experiment_id": self.experiment_id,
            "attempt": self.attempt, "name": self.name, "variant": self.variant, "seed": self.seed,
            "params": self.params, "variant_params": self.variant_params, "profile": self.profile,
            "device": self.device, "threads": self.threads, "output_dir": self.output_dir,
            "events_path": self.events_path, "cache_dir": self.cache_dir,
            "dependencies": {v: d.to_json() for v, d in self.dependencies.items()},
            "code_sha256": self.code_sha256,
        }

    @classmethod
    def from_json(cls, data: Any) -> RunSpec:
        """The spec in `data` (spec.json's object); SpecError, one line, for a bad or missing key."""
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a JSON object (docs/PROTOCOL.md §3), got {data!r:.60}")
        protocol = _key(data, "protocol", (int,), "the protocol version (an integer)")
        if protocol != PROTOCOL:
            raise SpecError(f"spec key 'protocol' is {protocol}, this program reads protocol {PROTOCOL}")
        deps = _key(data, "dependencies", (dict,), "an object of variant -> dependency")
        return cls(
            protocol=protocol,
            run_id=_key(data, "run_id", (int,), "a run id (an integer or null)", nullable=True),
            experiment_id=_key(data, "experiment_id", (int,), "an experiment id (an integer or null)",
                               required=False, nullable=True),
            attempt=_key(data, "attempt", (int,), "an attempt number (an integer or null)", required=False,
                         nullable=True),
            name=_key(data, "name", (str,), "the catalog entry's name (a string)"),
            variant=_key(data, "variant", (str,), "the variant's name (a string)"),
            seed=_key(data, "seed", (int,), "the seed (an integer)"),
            params=_params(_key(data, "params", (dict,), "an object of parameter values"), "params"),
            variant_params=None if (raw := _key(data, "variant_params", (dict,), "an object of parameter "
                                                "values or null", nullable=True)) is None
            else _params(raw, "variant_params"),
            profile=_key(data, "profile", (str,), "a profile name (a string)"),
            device=_device(_key(data, "device", (str,), "'cpu' or 'cuda'")),
            threads=_key(data, "threads", (int,), "a number of CPU threads (an integer)"),
            output_dir=_key(data, "output_dir", (str,), "the run's output directory (a string)"),
            events_path=_key(data, "events_path", (str,), "the events file's path (a string)"),
            cache_dir=_key(data, "cache_dir", (str,), "the datasets cache (a string or null)", nullable=True),
            dependencies={str(v): Dependency.from_json(str(v), d) for v, d in deps.items()},
            code_sha256=_key(data, "code_sha256", (str,), "the programs' code hash (a string or null)",
                             required=False, nullable=True),
        )

    def relocated(self, *, output_dir: str, events_path: str, cache_dir: str | None,
                  dependencies: dict[str, Dependency]) -> RunSpec:
        """The same run with other paths (a remote node's copy of its inputs)."""
        return replace(self, output_dir=output_dir, events_path=events_path, cache_dir=cache_dir,
                       dependencies=dependencies)
