"""`lab publish --push ORG`: the model zoo uploaded to the Hugging Face Hub, one repository per
model (ORG/<slug>), with huggingface_hub. Refused in one line, before anything is uploaded, when
no token is configured or the Hub cannot be reached. The token is read from huggingface_hub's own
places (HF_TOKEN, the login's token file) and never written anywhere by the lab."""

from __future__ import annotations

import os
import re
from pathlib import Path

ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
DEFAULT_ENDPOINT = "https://huggingface.co"


class PushError(RuntimeError):
    """The zoo could not be (fully) uploaded; the message says why and how to fix it."""


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def check(org: str) -> str:
    """The token, or PushError: a bad organisation name, no token, or a Hub that does not answer."""
    if not ORG.match(org):
        raise PushError(f"--push {org!r}: an organisation or user name is letters, digits, '.', '_' and '-'")
    from huggingface_hub import HfApi, get_token

    token = get_token()
    if not token:
        raise PushError("no Hugging Face token is configured: set HF_TOKEN or run `hf auth login`; nothing was "
                        "uploaded (the bundle is written)")
    try:
        HfApi(endpoint=endpoint(), token=token).whoami()
    except Exception as exc:  # httpx/requests errors, HfHubHTTPError: the Hub refused or is unreachable
        raise PushError(f"the Hugging Face Hub at {endpoint()} cannot be reached or refused the token "
                        f"({_one_line(exc)}); nothing was uploaded (the bundle is written)") from None
    return token


def push(zoo: Path, org: str, models: list[str]) -> list[str]:
    """Upload each model folder `zoo/<name>` to `org/<name>`; the repository ids uploaded."""
    token = check(org)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint(), token=token)
    done: list[str] = []
    for name in models:
        repo = f"{org}/{name}"
        try:
            api.create_repo(repo, exist_ok=True)
            api.upload_folder(repo_id=repo, folder_path=str(zoo / name), commit_message="Joule Lab model zoo")
        except Exception as exc:
            raise PushError(f"uploading {repo} failed ({_one_line(exc)}); uploaded before it: "
                            f"{', '.join(done) or 'none'}") from None
        done.append(repo)
    return done
