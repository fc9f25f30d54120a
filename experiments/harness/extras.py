"""Optional dependencies of some programs (pyproject's extras): imported on use, a missing one
reported as one line naming its extra (``MissingExtraError``, exit 2)."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from .errors import MissingExtraError

#: the extra that installs each optional module
EXTRA = {"gguf": "deploy", "zstandard": "deploy", "onnx": "deploy", "onnxruntime": "deploy",
         "onnxscript": "deploy"}


def require(module: str) -> ModuleType:
    """``import module``, or MissingExtraError naming the extra that installs it."""
    try:
        return import_module(module)
    except ImportError:
        raise MissingExtraError(module.split(".")[0], EXTRA.get(module.split(".")[0], "deploy")) from None
