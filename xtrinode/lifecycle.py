"""The lifecycle contract: workflow, signal, update and query names and their payload models.

Shared by workflows/, activities/, the operator, the gateway and the API server, so none of them
imports workflow code to talk to a runtime's workflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from xtrinode.models import Phase

__all__ = [
    "RUNTIME_WORKFLOW",
    "SIGNAL_SPEC_CHANGED",
    "SIGNAL_DELETED",
    "SIGNAL_REQUEST_RESUME",
    "SIGNAL_REQUEST_SUSPEND",
    "UPDATE_RESUME",
    "UPDATE_SUSPEND",
    "QUERY_STATUS",
    "CHILD_WORKFLOWS",
    "workflow_id_for",
    "child_workflow_id",
    "SpecChange",
    "DeleteRequest",
    "ResumeRequest",
    "SuspendRequest",
    "RuntimeStatus",
]

RUNTIME_WORKFLOW = "RuntimeWorkflow"
SIGNAL_SPEC_CHANGED = "spec_changed"
SIGNAL_DELETED = "deleted"
SIGNAL_REQUEST_RESUME = "request_resume"
SIGNAL_REQUEST_SUSPEND = "request_suspend"
UPDATE_RESUME = "resume"
UPDATE_SUSPEND = "suspend"
QUERY_STATUS = "status"
CHILD_WORKFLOWS = (
    "ProvisionRuntime",
    "ResumeRuntime",
    "SuspendRuntime",
    "DrainWorkers",
    "ScaleWorkers",
    "DeleteRuntime",
)


def workflow_id_for(namespace: str, name: str) -> str:
    """The id of a runtime's entity workflow: `xtrinode/<namespace>/<name>`."""
    return f"xtrinode/{namespace}/{name}"


def runtime_of_workflow_id(workflow_id: str) -> tuple[str, str] | None:
    """(namespace, name) of a runtime's workflow or of one of its steps (`xtrinode/<ns>/<name>[/<step>-<n>]`)."""
    parts = workflow_id.split("/")
    if len(parts) >= 3 and parts[0] == "xtrinode":
        return parts[1], parts[2]
    return None


def child_workflow_id(parent_id: str, step: str, sequence: int) -> str:
    """Child ids derived from the parent, so the Temporal UI lists a runtime's steps in order."""
    return f"{parent_id}/{step}-{sequence}"


class SpecChange(BaseModel):
    """Signal `spec_changed`: the operator saw a new generation or a catalog change."""

    generation: int
    runtime: dict[str, Any] = Field(description="The XTrinode object as the API server returned it.")
    catalogs: list[dict[str, Any]] = Field(default_factory=list, description="Catalogs it selects.")
    secret_versions: dict[str, str] = Field(
        default_factory=dict, description="Secret name -> resourceVersion of Secrets the catalogs reference."
    )


class DeleteRequest(BaseModel):
    """Signal `deleted`: the XTrinode has a deletionTimestamp."""

    uid: str | None = None


class ResumeRequest(BaseModel):
    """Update `resume`: returns once the runtime is Ready."""

    reason: str = Field(default="api", description="Who asked: gateway, api, cli.")
    wake_min_workers: int | None = Field(default=None, ge=0, description="Worker floor after the resume.")
    wake_ttl: timedelta | None = Field(default=None, description="How long the floor holds.")


class SuspendRequest(BaseModel):
    """Update `suspend`: returns once the runtime is Suspended."""

    reason: str = "api"


class RuntimeStatus(BaseModel):
    """Query `status` and the result of the updates."""

    namespace: str
    name: str
    phase: Phase
    generation: int | None = None
    observed_generation: int | None = None
    message: str = ""
    coordinator_url: str | None = None
    workers_ready: int = 0
    workers_desired: int = 0
    last_activity: datetime | None = None
    wake_min_workers: int = 0
    wake_expires_at: datetime | None = None
