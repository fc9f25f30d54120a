"""The lab's state machine: every allowed state change of experiments and runs, in one place.

The store refuses any other change (`IllegalTransitionError`), so a bug elsewhere cannot put a row
into an impossible state.
"""

from __future__ import annotations

from enum import StrEnum


class ExperimentState(StrEnum):
    PROPOSED = "proposed"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    RUNNING = "running"
    ANALYZING = "analyzing"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class RunState(StrEnum):
    PENDING = "pending"  # waiting on dependencies
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # the program declared it cannot run on this device
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the engine lost it; re-queued while retries remain


E = ExperimentState
R = RunState

EXPERIMENT_TRANSITIONS: dict[ExperimentState, frozenset[ExperimentState]] = {
    E.PROPOSED: frozenset({E.AWAITING_APPROVAL, E.APPROVED, E.REJECTED, E.CANCELLED}),
    E.AWAITING_APPROVAL: frozenset({E.APPROVED, E.REJECTED, E.CANCELLED}),
    E.APPROVED: frozenset({E.RUNNING, E.ANALYZING, E.CANCELLED, E.FAILED}),
    E.RUNNING: frozenset({E.ANALYZING, E.CANCELLED, E.FAILED}),
    E.ANALYZING: frozenset({E.DONE, E.FAILED, E.CANCELLED}),
    # a finished experiment can be retried: its failed runs go back to the queue
    E.DONE: frozenset({E.RUNNING}),
    E.FAILED: frozenset({E.RUNNING}),
    E.CANCELLED: frozenset({E.RUNNING}),
    E.REJECTED: frozenset(),
}

RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    R.PENDING: frozenset({R.QUEUED, R.FAILED, R.SKIPPED, R.CANCELLED}),
    R.QUEUED: frozenset({R.RUNNING, R.FAILED, R.CANCELLED, R.PENDING}),
    R.RUNNING: frozenset({R.SUCCEEDED, R.SKIPPED, R.FAILED, R.TIMED_OUT, R.CANCELLED, R.INTERRUPTED}),
    R.INTERRUPTED: frozenset({R.QUEUED}),
    # retry of a finished run
    R.FAILED: frozenset({R.QUEUED, R.PENDING}),
    R.TIMED_OUT: frozenset({R.QUEUED, R.PENDING}),
    R.CANCELLED: frozenset({R.QUEUED, R.PENDING}),
    R.SUCCEEDED: frozenset(),
    R.SKIPPED: frozenset(),
}

EXPERIMENT_ACTIVE = frozenset({E.APPROVED, E.RUNNING, E.ANALYZING})
EXPERIMENT_FINISHED = frozenset({E.DONE, E.FAILED, E.REJECTED, E.CANCELLED})
EXPERIMENT_WAITING = frozenset({E.PROPOSED, E.AWAITING_APPROVAL})

RUN_ACTIVE = frozenset({R.PENDING, R.QUEUED, R.RUNNING})
RUN_FINISHED = frozenset({R.SUCCEEDED, R.SKIPPED, R.FAILED, R.TIMED_OUT, R.CANCELLED, R.INTERRUPTED})
RUN_OK = frozenset({R.SUCCEEDED, R.SKIPPED})
RUN_BAD = frozenset({R.FAILED, R.TIMED_OUT, R.CANCELLED, R.INTERRUPTED})


class IllegalTransitionError(Exception):
    """A state change the state machine does not allow."""


def check_experiment(old: str, new: str) -> None:
    if E(new) not in EXPERIMENT_TRANSITIONS[E(old)]:
        raise IllegalTransitionError(f"experiment cannot go from {old} to {new}")


def check_run(old: str, new: str) -> None:
    if R(new) not in RUN_TRANSITIONS[R(old)]:
        raise IllegalTransitionError(f"run cannot go from {old} to {new}")


class SprintStage(StrEnum):
    """Where a sprint of the research team stands (db/research.py)."""

    DISCUSSING = "discussing"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    VALIDATING = "validating"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IDLE = "idle"
    ABANDONED = "abandoned"


class RequestStatus(StrEnum):
    """A request to the engine: waiting, answered, or refused with an error (db/control.py)."""

    PENDING = "pending"
    DONE = "done"
    ERROR = "error"


class MessageKind(StrEnum):
    """What a message of the research team's dialogue is (db/telemetry.py's messages)."""

    SAY = "say"              # a remark in the discussion
    WAIT = "wait"            # a model call waiting or retrying, rewritten as it goes on
    NOTICE = "notice"        # the lab's own note (an approval, a fallback)
    ERROR = "error"          # a step that failed
    PROPOSAL = "proposal"    # the researcher's proposal, or the validator's follow-up
    PLAN = "plan"            # the architect's plan of the experiment
    SPEC = "spec"            # the coder's record of the run spec
    VERDICT = "verdict"      # the validator's rating
    FINDING = "finding"      # a finding the validator drew from the rating


class EndpointState(StrEnum):
    """The health of a language-model endpoint (db/health.py)."""

    OK = "ok"
    DEGRADED = "degraded"


S = SprintStage
SPRINT_OPEN = frozenset({S.DISCUSSING, S.AWAITING_APPROVAL, S.RUNNING, S.VALIDATING})
SPRINT_FINISHED = frozenset({S.DONE, S.FAILED, S.REJECTED, S.CANCELLED, S.IDLE, S.ABANDONED})
