"""Few-shot tasks for meta-learning (torch-free): one task per speaker of the text, or per
``domain`` of a user's instruction records.

- **Tiny Shakespeare** (or a user's plain text written the same way, "NAME:" opening each speech):
  a task is every speech of one speaker, in text order. The meta-test tasks are the held-out
  speakers (``domain_speakers``: never seen in pre-training nor in meta-training); the meta-train
  tasks are all other speakers; a few meta-train speakers (the last ones in a seeded order of
  names) are kept apart as meta-validation tasks, on which each variant picks its adaptation
  learning rate. A speaker needs ``min_task_chars`` of text to be a task.
- **A user's JSONL** with a ``domain`` field: a task is the records of one domain; the domains are
  ordered by a hash of their names and the last ``meta_test_fraction`` of them are meta-test.

Each task's text (or records) is cut by position in two halves: the support pool (its first
half: what adaptation sees) and the query pool (its second half: what is scored).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .corpus import (
    JSONL_SUFFIXES,
    DataError,
    Example,
    _held_out,
    _read,
    parse_instructions,
    resolve_path,
    shakespeare_text,
    speeches,
)

MIN_TRAIN_TASKS = 2


@dataclass(frozen=True)
class TaskData:
    """One task: its name, and the support and query halves (text, or instruction records)."""
    name: str
    support_text: str = ""
    query_text: str = ""
    support_records: tuple[Example, ...] = ()
    query_records: tuple[Example, ...] = ()

    @property
    def records(self) -> bool:
        return bool(self.support_records)


@dataclass(frozen=True)
class TaskSplit:
    source: str
    train: tuple[TaskData, ...]
    val: tuple[TaskData, ...]
    test: tuple[TaskData, ...]

    def sizes(self) -> dict[str, int]:
        return {"meta_train_tasks": len(self.train), "meta_val_tasks": len(self.val), "meta_test_tasks": len(self.test)}


def _order(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _halves(text: str) -> tuple[str, str]:
    """Cut at the first line break after the middle."""
    mid = len(text) // 2
    cut = text.find("\n", mid)
    cut = mid if cut < 0 else cut + 1
    return text[:cut], text[cut:]


def speaker_tasks(text: str, held_out: list[str] | tuple[str, ...], min_chars: int, val_tasks: int,
                  source: str) -> TaskSplit:
    by_speaker: dict[str, list[str]] = {}
    for s in speeches(text):
        if s.speaker:
            by_speaker.setdefault(s.speaker, []).append(s.text)
    held = _held_out(held_out)
    tasks = []
    for speaker, parts in by_speaker.items():
        joined = "\n\n".join(parts) + "\n\n"
        if len(joined) >= min_chars:
            support, query = _halves(joined)
            tasks.append(TaskData(speaker, support, query))
    test = tuple(sorted((t for t in tasks if t.name.casefold() in held), key=lambda t: t.name))
    others = sorted((t for t in tasks if t.name.casefold() not in held), key=lambda t: _order(t.name))
    val = tuple(others[len(others) - val_tasks:]) if val_tasks else ()
    train = tuple(others[:len(others) - val_tasks])
    return _checked(TaskSplit(source, train, val, test), f"speakers with at least {min_chars} characters",
                    "lower min_task_chars or give more held-out speakers (domain_speakers)")


def domain_tasks(records: list[Example], test_fraction: float, val_tasks: int, min_records: int,
                 source: str) -> TaskSplit:
    by_domain: dict[str, list[Example]] = {}
    for r in records:
        if r.domain:
            by_domain.setdefault(r.domain, []).append(r)
    usable = sorted((d for d, rs in by_domain.items() if len(rs) >= min_records), key=_order)
    tasks = []
    for d in usable:
        rs = by_domain[d]
        half = len(rs) // 2
        tasks.append(TaskData(d, support_records=tuple(rs[:half]), query_records=tuple(rs[half:])))
    n_test = max(1, round(test_fraction * len(tasks))) if tasks else 0
    test = tuple(tasks[len(tasks) - n_test:])
    rest = tasks[:len(tasks) - n_test]
    val = tuple(rest[len(rest) - val_tasks:]) if val_tasks and len(rest) > val_tasks else ()
    train = tuple(rest[:len(rest) - len(val)])
    return _checked(TaskSplit(source, train, val, test), f"domains with at least {min_records} records",
                    "give more records per \"domain\" (each is cut in a support and a query half)")


def _checked(split: TaskSplit, what: str, fix: str) -> TaskSplit:
    if len(split.train) < MIN_TRAIN_TASKS or not split.test:
        raise DataError(f"{split.source}: {len(split.train)} meta-train and {len(split.test)} meta-test tasks "
                        f"({what}); meta-learning needs at least {MIN_TRAIN_TASKS} and 1: {fix}")
    return split


def load_tasks(data: str, held_out: list[str] | tuple[str, ...], min_chars: int, val_tasks: int,
               test_fraction: float) -> TaskSplit:
    """The tasks of the shipped text, or of a user's file (a plain text of speeches, or JSONL
    records with a ``domain`` field)."""
    if not data.strip():
        return speaker_tasks(shakespeare_text(), held_out, min_chars, val_tasks, "tinyshakespeare (speakers)")
    path = resolve_path(data)
    text = _read(path, "data file")
    if path.suffix.lower() in JSONL_SUFFIXES:
        records = parse_instructions(path, text)
        if not any(r.domain for r in records):
            raise DataError(f"{path}: no record has a \"domain\" field; meta-learning makes one task per domain "
                            f"(add \"domain\": \"...\" to each record)")
        return domain_tasks(records, test_fraction, val_tasks, 4, f"{Path(path).name} (domains)")
    return speaker_tasks(text, held_out, min_chars, val_tasks, f"{Path(path).name} (speakers)")
