"""The API server's request and response bodies (camelCase JSON), the source of its OpenAPI document."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from xtrinode.durations import Duration

__all__ = [
    "ActionAnswer",
    "ErrorBody",
    "EventItem",
    "EventList",
    "ResumeBody",
    "RuntimeList",
    "RuntimeView",
    "StepView",
    "SuspendBody",
    "WakeView",
    "WorkersView",
]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ResumeBody(_Model):
    """POST .../resume (optional body)."""

    reason: str = Field("api", max_length=200, description="Who asks, shown in the lifecycle's events.")
    wake_min_workers: int | None = Field(None, ge=0, le=500, description="Worker floor held after the resume.")
    wake_ttl: Duration | None = Field(None, description="How long the floor holds, e.g. `30m`.")

    def ttl(self) -> timedelta | None:
        return self.wake_ttl


class SuspendBody(_Model):
    """POST .../suspend (optional body)."""

    reason: str = Field("api", max_length=200, description="Who asks, shown in the lifecycle's events.")


class StepView(_Model):
    """One lifecycle step (a child workflow of the runtime's workflow)."""

    name: str = Field(description="ProvisionRuntime, ResumeRuntime, SuspendRuntime, DrainWorkers, ScaleWorkers, DeleteRuntime.")
    workflow_id: str
    status: str = Field(description="RUNNING, COMPLETED, FAILED, TERMINATED, CANCELED, TIMED_OUT.")
    started_at: datetime | None = None
    closed_at: datetime | None = None
    seconds: float | None = Field(None, description="How long it ran (so far, when running).")


class WorkersView(_Model):
    ready: int = 0
    desired: int = 0


class WakeView(_Model):
    min_workers: int = 0
    expires_at: datetime | None = None


class RuntimeView(_Model):
    """A runtime: its XTrinode status merged with the workflow's live `status` query."""

    namespace: str
    name: str
    phase: str = Field(description="Pending, Provisioning, Ready, Suspending, Suspended, Resuming, Draining, Deleting, Error.")
    message: str = ""
    generation: int | None = None
    observed_generation: int | None = None
    coordinator_url: str | None = None
    workers: WorkersView = Field(default_factory=WorkersView)
    last_activity: datetime | None = None
    wake: WakeView = Field(default_factory=WakeView)
    step: StepView | None = Field(None, description="The lifecycle step running now, with since when.")
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    workflow_id: str
    live: bool = Field(description="True when the phase comes from the running workflow (else from the XTrinode status).")


class RuntimeList(_Model):
    items: list[RuntimeView]


class EventItem(_Model):
    time: datetime | None
    source: Literal["lifecycle", "kubernetes"]
    type: str = Field(description="Normal or Warning for Kubernetes Events; the step's status for lifecycle steps.")
    reason: str
    message: str = ""


class EventList(_Model):
    items: list[EventItem] = Field(description="Newest first.")


class ActionAnswer(_Model):
    """The answer to resume and suspend."""

    action: Literal["resume", "suspend"]
    state: Literal["done", "accepted"] = Field(
        description="done: the runtime reached the phase; accepted: still on its way (poll the Location).")
    runtime: RuntimeView


class ErrorBody(_Model):
    error: str = Field(description="What went wrong and what to do.")
    code: str = Field(description="A stable machine-readable code: bad_request, unauthorized, forbidden, not_found, "
                      "conflict, unavailable, ...")
    request_id: str
