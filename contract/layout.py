"""Where the lab keeps what outlives one command, outside the lab directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user's cache (pre-trained models, tokenizers, the catalog's answers): $JOULELAB_CACHE,
    else ~/.cache/joulelab."""
    return Path(os.environ.get("JOULELAB_CACHE") or Path.home() / ".cache" / "joulelab")
