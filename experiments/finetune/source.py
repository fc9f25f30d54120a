"""The model a fine-tune starts from: the small model the lab pre-trains and caches (empty
``model_name``), a local Hugging Face folder, or a hub id downloaded into the lab's cache.

A hub download is the one place the lab fetches a model: the language-model harness keeps the hub
offline (experiments/lm/__init__.py), so it is allowed here for this one call, and refused with
one line when the machine is offline.
"""

from __future__ import annotations

from pathlib import Path

from contract.events import ResultValues

from ..harness.errors import ExperimentError
from ..lm.models import check_model_dir
from ..lm.session import LMRun, ensure_base
from .settings import looks_like_path


def hub_download(repo_id: str, root: Path) -> Path:
    """The hub model's files in the lab's cache (ExperimentError, one line, when they cannot be had)."""
    import huggingface_hub
    from huggingface_hub import constants

    folder = root / "hub" / repo_id.replace("/", "--")
    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        path = huggingface_hub.snapshot_download(repo_id, local_dir=str(folder),
                                                 allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
    except Exception as exc:  # the hub client raises many kinds; each means the model cannot be had
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ExperimentError(f"model_name {repo_id!r}: not a local folder, and it cannot be downloaded from the "
                              f"model hub ({text}); offline, give a local folder or an alias in config.toml "
                              f"[models]") from None
    finally:
        constants.HF_HUB_OFFLINE = saved
    return Path(path)


def model_folder(lm: LMRun, model_name: str) -> tuple[Path, ResultValues]:
    """(the folder of the model to start from, what to record about where it came from)."""
    if not model_name:
        path, meta, hit = ensure_base(lm)
        return path, {"model_source": "default", "cache_hit": hit, "base_key": meta.get("key"),
                      "pretrained_here": True, "base_replicate": lm.base_replicate, "bases": lm.s.bases}
    if looks_like_path(model_name):
        path = Path(model_name)
        check_model_dir(path)
        return path, {"model_source": "local", "pretrained_here": False}
    path = hub_download(model_name, lm.root)
    check_model_dir(path)
    return path, {"model_source": "hub", "hub_id": model_name, "pretrained_here": False}
