"""The catalog: every technique of ``experiments.techniques``, read without torch."""

from __future__ import annotations

import pkgutil
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

from contract.events import ResultValues

from . import techniques
from .declare import Experiment

if TYPE_CHECKING:
    from .harness.context import RunContext


class Technique(Protocol):
    """What a module of experiments/techniques/ holds: its declaration and its program."""

    EXPERIMENT: Experiment

    def run(self, ctx: RunContext) -> ResultValues:
        """One run (a variant and a seed) of the declared plan: its result values."""
        ...


def _techniques() -> dict[str, Technique]:
    found: dict[str, Technique] = {}
    for info in pkgutil.iter_modules(techniques.__path__):
        module: Any = import_module(f"{techniques.__name__}.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        assert isinstance(exp, Experiment) and exp.name == info.name and callable(getattr(module, "run", None)), \
            f"{module.__name__}: a technique declares EXPERIMENT (named as its module) and run(ctx)"
        found[info.name] = module
    return dict(sorted(found.items()))


TECHNIQUES: dict[str, Technique] = _techniques()
EXPERIMENTS: dict[str, Experiment] = {name: t.EXPERIMENT for name, t in TECHNIQUES.items()}


def get(name: str) -> Experiment | None:
    return EXPERIMENTS.get(name)


def technique(name: str) -> Technique:
    """The technique ``name`` (its declaration and its program); KeyError when there is none."""
    return TECHNIQUES[name]
