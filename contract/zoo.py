"""What the model zoo's export (`python -m experiments.zoo export`, run by `lab publish`) says of a
compressed language model's stored weights: the packed form (experiments/lm/packed.py) they were
decoded from. Written by the program as JSON, read by the model card (records/publish/cards.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class ModelKind(StrEnum):
    """What an exported model is (its config.json's `joulelab.kind`; the export's answer)."""

    IMAGE_CLASSIFIER = "image-classifier"
    CAUSAL_LM = "causal-lm"


@dataclass(frozen=True)
class PackedForm:
    chain: tuple[str, ...]          # the compression's stages, in words
    values: tuple[str, ...]         # what the layers' values are: "fp32", "int8", "int4"
    patterns: tuple[str, ...]       # their sparsity patterns: "dense", "unstructured", "N:M"
    group_sizes: tuple[int, ...]    # of the INT4 layers
    other_dtype: str                # the embeddings' and norms' in the packed form
    packed_bytes: int               # the packed files' bytes: the run's model size
    params: int                     # the model's parameters (tied ones once)

    @property
    def bits_per_weight(self) -> float | None:
        return 8 * self.packed_bytes / self.params if self.params else None

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "bits_per_weight": self.bits_per_weight}

    @classmethod
    def from_json(cls, data: object) -> PackedForm | None:
        """The form a JSON object gives; None for anything else (a model that was not packed)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(tuple(str(c) for c in data["chain"]), tuple(str(v) for v in data["values"]),
                       tuple(str(p) for p in data["patterns"]), tuple(int(g) for g in data["group_sizes"]),
                       str(data["other_dtype"]), int(data["packed_bytes"]), int(data["params"]))
        except (KeyError, TypeError, ValueError):
            return None
