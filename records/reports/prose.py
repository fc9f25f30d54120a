"""Prose around the numbers. The offline backend writes none: the report's sentences are built
from the numbers by the report itself. With a language model (the `openai` backend) the
validator is asked for a short discussion of the report's own text; the comment is written
through the dialogue (so its tokens and cost are accounted, and a failing endpoint falls back
with a notice), and a comment citing any number that is not in the evidence is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.dialogue import Dialogue
from agents.grounding import ungrounded
from agents.research_settings import ResearchSettings
from db import Store

WITHHELD = "(the model's comment was withheld"


@dataclass(frozen=True)
class Prose:
    text: str | None     # the model's paragraph; None: offline (or left out)
    backend: str         # "offline", or "openai (<model> at <host>)"
    note: str = ""       # why a model's paragraph is missing, when one was asked for


OFFLINE = Prose(None, "offline")


async def discuss(store: Store, settings: ResearchSettings, *, subject: str, summary: str, evidence: str,
                  ask: str, experiment_id: int | None = None) -> Prose:
    """A model's paragraph about `summary`, or OFFLINE. `subject` opens the dialogue message
    (e.g. "Report of experiment 12"); the evidence is everything the report states."""
    if settings.backend != "openai":
        return OFFLINE
    dialogue = Dialogue(store, settings)
    said = f"{subject}: {summary}"
    try:
        msg_id = await dialogue.say("validator", said, experiment_id=experiment_id, ask=ask, evidence=evidence)
        endpoint = dialogue.endpoint
        fallen = dialogue.fallen
    finally:
        await dialogue.close()
    if fallen is not None:
        return Prose(None, "offline", f"the language model failed ({fallen}); written offline")
    rows = [m for m in await store.messages(after_id=msg_id - 1, experiment_id=experiment_id, limit=500)
            if m.id == msg_id]
    text = rows[0].text if rows else ""
    prefix = said + "\n\n"
    comment = text[len(prefix):].strip() if text.startswith(prefix) else ""
    if not comment:
        return Prose(None, "offline", "the language model wrote nothing; written offline")
    if comment.startswith(WITHHELD) or ungrounded(comment, said + "\n" + evidence):
        return Prose(None, "offline", "the language model's paragraph cited numbers that are not in the "
                                      "evidence and was left out")
    return Prose(comment, f"openai ({endpoint})")
