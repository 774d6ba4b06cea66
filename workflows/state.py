"""The runtime's durable state and the pure decisions the entity workflow makes from it.

Deterministic: no I/O, no clocks (callers pass `now` from `workflow.now()`), so it is unit-tested
without a server and carried across continue-as-new as one model.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from xtrinode.lifecycle import RuntimeStatus
from xtrinode.models import Phase, XTrinode

__all__ = [
    "Action",
    "RuntimeState",
    "autosuspend_due_at",
    "conditions_for",
    "next_action",
    "running_workers",
    "target_workers",
    "wake_floor",
    "wants_suspended",
]


class Action(str, Enum):
    NONE = "none"
    PROVISION = "provision"
    RESUME = "resume"
    SUSPEND = "suspend"
    SCALE = "scale"
    DELETE = "delete"


class RuntimeState(BaseModel):
    """Everything the workflow knows; one model so continue-as-new carries it whole."""

    namespace: str
    name: str
    runtime: dict[str, Any] | None = Field(default=None, description="Latest XTrinode object seen.")
    catalogs: list[dict[str, Any]] = Field(default_factory=list)
    secret_versions: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    applied_generation: int | None = Field(default=None, description="Generation last provisioned.")
    revision: int = Field(default=0, description="Bumped when the spec, catalogs or Secret versions change.")
    applied_revision: int | None = Field(default=None, description="Revision last provisioned.")
    fingerprint: str = Field(default="", description="What `revision` was computed from.")
    phase: Phase = "Pending"
    message: str = ""
    coordinator_url: str | None = None
    workers_ready: int = 0
    workers_desired: int = 0
    last_activity: datetime | None = None
    wake_min_workers: int = 0
    wake_expires_at: datetime | None = None
    suspend_requested: bool = Field(default=False, description="An explicit suspend (update) is pending.")
    resume_requested: bool = Field(default=False, description="A resume (update) is pending.")
    manually_suspended: bool = Field(
        default=False, description="Suspended by request, not by spec; a resume clears it."
    )
    deleted: bool = False
    error_revision: int | None = Field(default=None, description="Revision that failed permanently.")
    step_sequence: int = 0
    conditions: list[dict[str, Any]] = Field(default_factory=list, description="Last conditions written.")
    uid: str | None = None

    def spec_model(self) -> XTrinode | None:
        """The XTrinode, or None before the first spec and for one that does not validate (only a run
        started by a deletion can hold one: the operator forwards no other invalid spec)."""
        if self.runtime is None:
            return None
        try:
            return XTrinode.model_validate(self.runtime)
        except ValidationError:
            return None

    def status(self) -> RuntimeStatus:
        return RuntimeStatus(
            namespace=self.namespace,
            name=self.name,
            phase=self.phase,
            generation=self.generation,
            observed_generation=self.applied_generation,
            message=self.message,
            coordinator_url=self.coordinator_url,
            workers_ready=self.workers_ready,
            workers_desired=self.workers_desired,
            last_activity=self.last_activity,
            wake_min_workers=self.wake_min_workers,
            wake_expires_at=self.wake_expires_at,
        )


def wake_floor(state: RuntimeState, now: datetime) -> int:
    """The worker floor a recent resume holds, 0 once the wake window expired."""
    if state.wake_expires_at is None or now >= state.wake_expires_at:
        return 0
    return state.wake_min_workers


def running_workers(state: RuntimeState, now: datetime) -> int:
    """Workers a running runtime has: fixed maxWorkers, or KEDA's floor raised by the wake floor."""
    runtime = state.spec_model()
    if runtime is None:
        return 0
    spec = runtime.spec
    floor = min(wake_floor(state, now), spec.max_workers)
    if spec.keda_active:
        return max(spec.min_workers, floor)
    return max(spec.max_workers, floor)


def target_workers(state: RuntimeState, now: datetime) -> int:
    """Workers the runtime should run now: none while suspended, else `running_workers`."""
    if state.phase in ("Suspended", "Suspending", "Deleting"):
        return 0
    return running_workers(state, now)


_PROGRESSING = ("Provisioning", "Resuming", "Suspending", "Draining", "Deleting")


def conditions_for(state: RuntimeState, now: datetime, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The standard conditions for the phase; lastTransitionTime kept while a status holds."""
    before = {c.get("type"): c for c in previous}
    phase = state.phase
    wanted: list[tuple[str, bool, str, str]] = [
        ("Ready", phase == "Ready", phase, "queries are served" if phase == "Ready" else state.message or phase),
        ("Suspended", phase == "Suspended", phase,
         "compute is scaled to zero; a query through the gateway or a resume wakes it" if phase == "Suspended"
         else "compute is running or starting"),
        ("Progressing", phase in _PROGRESSING, phase, state.message or phase),
        ("Degraded", phase == "Error", "Error" if phase == "Error" else "Healthy",
         state.message if phase == "Error" else "no error"),
        ("CatalogsReady", phase != "Error" or state.error_revision is None, "Rendered",
         f"{len(state.catalogs)} catalog(s) selected"),
        ("GatewayReady", phase in ("Ready", "Suspended"), "RouteWritten" if phase in ("Ready", "Suspended") else phase,
         "route RUNNING" if phase == "Ready" else "route PAUSED" if phase == "Suspended" else "route changing"),
    ]
    out = []
    for kind, ok, reason, message in wanted:
        status = "True" if ok else "False"
        old = before.get(kind)
        since = old.get("lastTransitionTime") if old and old.get("status") == status else None
        out.append({
            "type": kind, "status": status, "reason": reason, "message": message[:500],
            "lastTransitionTime": since or now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "observedGeneration": state.generation,
        })
    return out


def autosuspend_due_at(state: RuntimeState) -> datetime | None:
    """When the idle check should run: lastActivity + autoSuspendAfter, never inside a wake window."""
    runtime = state.spec_model()
    if runtime is None or state.phase != "Ready" or not runtime.spec.autosuspend_enabled:
        return None
    after = runtime.spec.auto_suspend_after
    assert after is not None
    base = state.last_activity
    if base is None:
        return None
    due = base + after
    if state.wake_expires_at is not None and state.wake_expires_at > due:
        due = state.wake_expires_at
    return due


def wants_suspended(state: RuntimeState, runtime: XTrinode) -> bool:
    """Whether the runtime should be (or stay) suspended: by spec or by request, unless a resume is pending."""
    if state.resume_requested:
        return False
    return runtime.spec.suspended or state.suspend_requested or state.manually_suspended


def next_action(state: RuntimeState, now: datetime) -> Action:
    """The one lifecycle step to run next, or NONE. The workflow runs it and asks again."""
    if state.deleted:
        return Action.DELETE
    runtime = state.spec_model()
    if runtime is None:
        return Action.NONE
    if state.error_revision is not None and state.error_revision == state.revision:
        # A spec that can never work waits for the next generation, except an explicit suspend.
        if state.suspend_requested and state.phase not in ("Suspended",):
            return Action.SUSPEND
        return Action.NONE
    if wants_suspended(state, runtime):
        if state.phase != "Suspended":
            return Action.SUSPEND
        if state.applied_revision != state.revision:
            return Action.PROVISION  # keep the suspended objects in step with the spec (replicas 0)
        return Action.NONE
    if state.phase in ("Suspended", "Suspending"):
        return Action.RESUME
    if state.applied_revision != state.revision or state.phase in ("Pending", "Error", "Provisioning"):
        return Action.PROVISION
    if state.phase == "Ready" and state.workers_desired != target_workers(state, now):
        return Action.SCALE
    return Action.NONE
