"""one_shot_compression: every run is one compression_pipeline stage (base, prune or quantize)
from the base model: the same program, packed format and measurements, so SparseGPT and AWQ are
measured exactly as the methods they are compared with."""

from __future__ import annotations

from .compression_pipeline import run

__all__ = ["run"]
