"""What made a child experiment, as its modifications' `kind` records it: a topic of the research
team (agents/topic.py), a follow-up rule (science/followups.py), a command of the lab (`lab
reproduce`) or a job file's genealogy (science/job_genealogy.py). A word none of these knows (a
record written by an older or newer lab) is read as `UnknownKind` and written back verbatim."""

from __future__ import annotations

from enum import StrEnum


class TopicKind(StrEnum):
    """Where a research topic comes from (agents/topic.py); a child experiment's `modifications`,
    and its metadata's `research`, record it as their kind."""

    SWEEP = "sweep"              # a catalog entry that never ran in this lab: its baseline sweep
    FORCED = "forced"            # a person asked for the entry (`lab sprint --experiment`)
    ADOPT = "adopt"              # a waiting proposal taken up
    FOLLOW_UP = "follow_up"      # a follow-up rule's next step of a rated experiment
    COMBINATION = "combination"  # one experiment's best setting carried over to another entry
    GENERATED = "generated"      # two techniques combined in a newly written program
    RETRY = "retry"              # a failed experiment again, with its diagnosed cause changed


class CommandKind(StrEnum):
    """A child experiment a command of the lab made (neither a topic nor a follow-up rule), as its
    `modifications` record it."""

    REPRODUCTION = "reproduction"  # `lab reproduce N` (records/reproduce.py): experiment N again from its record


class FollowUpKind(StrEnum):
    """Which rule proposed a follow-up; a child experiment's `modifications` record it as its kind."""

    MORE_SEEDS = "more_seeds"        # the same setting again with more seeds
    EXTEND_RANGE = "extend_range"    # a parameter beyond the tested range
    CHILD = "child"                  # a declared child of another catalog entry
    STACK = "stack"                  # two techniques stacked (science/stacks.py)



class JobKind(StrEnum):
    """A child experiment a job file made, as its `modifications` record it."""

    GENEALOGY = "genealogy"  # a genealogy job file: a named parent, each change from/to (science/job_genealogy.py)


class UnknownKind(str):
    """A kind this lab does not know (a record of an older or newer lab's): its word, kept as written."""

    __slots__ = ()


ChildKind = TopicKind | FollowUpKind | CommandKind | JobKind | UnknownKind
_KNOWN: dict[str, ChildKind] = {k.value: k for kinds in (TopicKind, FollowUpKind, CommandKind, JobKind) for k in kinds}


def follow_up_kind(word: str) -> FollowUpKind | UnknownKind:
    """The follow-up rule a modifications' `rule` names (an UnknownKind for a word no rule is)."""
    return FollowUpKind(word) if word in FollowUpKind.__members__.values() else UnknownKind(word)


def child_kind(word: str) -> ChildKind:
    """The kind a modifications' `kind` names (an UnknownKind for a word none of the kinds knows)."""
    return _KNOWN.get(word) or UnknownKind(word)
