"""Inputs and results of the lifecycle activities: one pydantic model in, one out.

Workflows import these (through `imports_passed_through`); activities never import workflow code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from xtrinode.models import RouteState

__all__ = [
    "RuntimeRef",
    "ControlAuth",
    "ApplyInput",
    "ApplyResult",
    "WaitReadyInput",
    "ReadyResult",
    "QueryActivityInput",
    "QueryActivity",
    "AutosuspendOutcome",
    "autosuspend_outcome",
    "DrainQueriesInput",
    "DrainQueriesResult",
    "ScaleInput",
    "StepTiming",
    "ResumeTiming",
    "WaitPodsGoneInput",
    "StopPodsInput",
    "KillQueriesInput",
    "PodsResult",
    "RouteUpdate",
    "KedaPauseInput",
    "StatusPatch",
    "EventInput",
    "FinalizerInput",
    "DeleteOwnedInput",
    "DeleteOwnedResult",
]


class RuntimeRef(BaseModel):
    namespace: str
    name: str
    uid: str | None = None


class ControlAuth(BaseModel):
    """How control calls authenticate: the user always, the password read from a Secret when set."""

    username: str = "xtrinode-operator"
    password_secret_name: str | None = None
    password_secret_key: str | None = None


class ApplyInput(BaseModel):
    runtime: dict[str, Any] = Field(description="The XTrinode object.")
    catalogs: list[dict[str, Any]] = Field(default_factory=list)
    secret_versions: dict[str, str] = Field(default_factory=dict)
    coordinator_replicas: int = Field(ge=0, le=1)
    worker_replicas: int = Field(ge=0)


class ApplyResult(BaseModel):
    applied: list[str] = Field(description="kind/name of every object applied.")
    coordinator_url: str
    catalogs: list[str] = Field(default_factory=list, description="Trino names of the rendered catalogs.")


class WaitReadyInput(BaseModel):
    ref: RuntimeRef
    coordinator_url: str
    required_workers: int = Field(ge=0)
    timeout_seconds: float = Field(gt=0)
    poll_seconds: float = 0.25
    auth: ControlAuth = Field(default_factory=ControlAuth)
    unregistered_restart_seconds: float = Field(default=60.0, gt=0)
    """A worker pod Ready this long that its coordinator does not list is restarted (real Trino's discovery
    takes ~10-30 s after a worker starts to count it)."""


class ReadyResult(BaseModel):
    workers_ready: int
    waited_seconds: float


class QueryActivityInput(BaseModel):
    ref: RuntimeRef
    coordinator_url: str
    auth: ControlAuth = Field(default_factory=ControlAuth)
    last_activity: datetime | None = Field(
        default=None, description="The runtime's last activity when the autosuspend check started (its "
        "outcome metric: a newer query than this is recent_query).")


class QueryActivity(BaseModel):
    running: int = 0
    queued: int = 0
    held_by_gateway: int = 0
    newest_query_at: datetime | None = Field(default=None, description="Latest create or end time seen.")
    reachable: bool = True

    @property
    def busy(self) -> bool:
        return self.running + self.queued + self.held_by_gateway > 0


AutosuspendOutcome = Literal["idle", "busy", "recent_query", "unreachable"]


def autosuspend_outcome(seen: QueryActivity, last_activity: datetime | None) -> AutosuspendOutcome:
    """What an autosuspend check decides: only `idle` suspends (the workflow acts on it, the activity
    counts it; both call this one rule)."""
    if not seen.reachable:
        return "unreachable"
    if seen.busy:
        return "busy"
    newest = seen.newest_query_at
    if newest is not None and last_activity is not None and newest > last_activity:
        return "recent_query"
    return "idle"


class DrainQueriesInput(BaseModel):
    ref: RuntimeRef
    coordinator_url: str
    max_drain_seconds: float = Field(ge=0)
    poll_seconds: float = 0.25
    auth: ControlAuth = Field(default_factory=ControlAuth)


class DrainQueriesResult(BaseModel):
    remaining: int
    waited_seconds: float
    budget_exceeded: bool


class ScaleInput(BaseModel):
    ref: RuntimeRef
    role: Literal["coordinator", "worker"]
    replicas: int = Field(ge=0)


class WaitPodsGoneInput(BaseModel):
    ref: RuntimeRef
    role: Literal["coordinator", "worker"]
    at_most: int = Field(ge=0, description="Wait until this many pods of the role are left.")
    timeout_seconds: float = Field(gt=0)
    poll_seconds: float = 0.25


class StopPodsInput(BaseModel):
    """Scale a role to zero and delete its pods with a short grace (a drain that ran out, or nothing to drain)."""

    ref: RuntimeRef
    role: Literal["coordinator", "worker"]
    grace_seconds: int = Field(ge=0, description="gracePeriodSeconds of the DELETE; shortens a longer one.")
    timeout_seconds: float = Field(gt=0)
    poll_seconds: float = 0.25


class KillQueriesInput(BaseModel):
    """Fail the queries still running with a message (`PUT /v1/query/{id}/killed`)."""

    ref: RuntimeRef
    coordinator_url: str
    message: str
    auth: ControlAuth = Field(default_factory=ControlAuth)


class PodsResult(BaseModel):
    remaining: int
    waited_seconds: float
    timed_out: bool


class RouteUpdate(BaseModel):
    ref: RuntimeRef
    runtime: dict[str, Any] | None = Field(default=None, description="None removes the entry.")
    state: RouteState = "PAUSED"
    backend: str | None = None
    message: str | None = Field(default=None, description="Why: for clients whose queries were cut off.")


class KedaPauseInput(BaseModel):
    ref: RuntimeRef
    paused: bool


class StepTiming(BaseModel):
    """A lifecycle step that ended: its child workflow's name, workflow time taken, and outcome."""

    step: str
    seconds: float = Field(ge=0)
    outcome: Literal["succeeded", "failed"]


class ResumeTiming(BaseModel):
    """A resume request answered: workflow time from the first request to the status write, and outcome."""

    seconds: float = Field(ge=0)
    outcome: Literal["ready", "failed"]


class StatusPatch(BaseModel):
    """A status write, plus the facts the workflow decided that the activity records as metrics once the
    write succeeded (workflow code records nothing: it replays; activities/metrics.py)."""

    ref: RuntimeRef
    status: dict[str, Any] = Field(description="camelCase status fields to merge.")
    previous_phase: str | None = Field(
        default=None, description="The phase the status showed before this write (a transition when it differs).")
    step: StepTiming | None = Field(default=None, description="The step whose end this write records.")
    resume: ResumeTiming | None = Field(default=None, description="The resume this write answers.")


class EventInput(BaseModel):
    ref: RuntimeRef
    reason: str
    message: str
    type: Literal["Normal", "Warning"] = "Normal"


class FinalizerInput(BaseModel):
    ref: RuntimeRef
    present: bool


class DeleteOwnedInput(BaseModel):
    ref: RuntimeRef


class DeleteOwnedResult(BaseModel):
    deleted: list[str]
