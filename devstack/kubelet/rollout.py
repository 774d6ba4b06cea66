"""The Deployment controller's decisions, pure: which pods to create or delete, and the status to report.

Honours replicas, Recreate and RollingUpdate (maxSurge, maxUnavailable) with ReplicaSets folded
away: pods carry the template hash and are owned by the Deployment directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .objects import JsonDict, scaled_value, set_condition

__all__ = ["PodView", "RolloutPlan", "deployment_status", "plan_rollout", "rolling_limits"]


@dataclass(frozen=True, slots=True)
class PodView:
    """What the planner needs to know of one pod of the Deployment."""

    name: str
    current: bool
    """Made from the current template (its hash label matches)."""
    ready: bool
    terminating: bool
    created: str = ""
    """creationTimestamp: the newest pods go first on scale-down."""


@dataclass(slots=True)
class RolloutPlan:
    create: int = 0
    delete: list[str] = field(default_factory=list)


def rolling_limits(spec: Mapping[str, Any], replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts; both zero would stall, so unavailable becomes 1."""
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge"), replicas, round_up=True, default="25%")
    unavailable = scaled_value(rolling.get("maxUnavailable"), replicas, round_up=False, default="25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _scale_down_order(pods: Sequence[PodView]) -> list[PodView]:
    """Unready first, then the newest (the Deployment controller's preference)."""
    return sorted(pods, key=lambda p: (p.ready, _negate(p.created)))


def _negate(timestamp: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in timestamp)


def plan_rollout(spec: Mapping[str, Any], pods: Sequence[PodView]) -> RolloutPlan:
    """One reconcile step toward `spec.replicas` pods of the current template, all ready."""
    replicas = int(spec.get("replicas", 1))
    alive = [p for p in pods if not p.terminating]
    current = [p for p in alive if p.current]
    old = [p for p in alive if not p.current]
    plan = RolloutPlan()
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        if old:
            plan.delete = [p.name for p in old]
            return plan
        if any(p.terminating and not p.current for p in pods):
            return plan  # Recreate: new pods wait until every old one is gone
        surge, unavailable = 0, replicas
    else:
        surge, unavailable = rolling_limits(spec, replicas)
    if len(current) > replicas:
        plan.delete = [p.name for p in _scale_down_order(current)[: len(current) - replicas]]
        current = [p for p in current if p.name not in plan.delete]
    else:
        room = replicas + surge - len(current) - len(old)
        plan.create = max(0, min(replicas - len(current), room))
    if old:
        ready = sum(1 for p in current + old if p.ready)
        removable = ready - (replicas - unavailable)
        for pod in _scale_down_order(old):
            if not pod.ready:
                plan.delete.append(pod.name)
            elif removable > 0:
                plan.delete.append(pod.name)
                removable -= 1
    return plan


def deployment_status(
    deployment: Mapping[str, Any], pods: Sequence[PodView], now: str
) -> JsonDict:
    """`.status` of a Deployment from its pods: counts, observedGeneration, Available and Progressing."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    previous = deployment.get("status") or {}
    alive = [p for p in pods if not p.terminating]
    ready = sum(1 for p in alive if p.ready)
    updated = sum(1 for p in alive if p.current)
    updated_ready = sum(1 for p in alive if p.current and p.ready)
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        unavailable_allowed = 0
    else:
        unavailable_allowed = rolling_limits(spec, replicas)[1]
    available = ready >= replicas - unavailable_allowed
    conditions = set_condition(
        previous.get("conditions") or [], "Available", available,
        "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
        "Deployment has minimum availability." if available else "Deployment does not have minimum availability.",
        now, update_time=True,
    )
    complete = updated == replicas and updated_ready == replicas and len(alive) == replicas
    name = deployment["metadata"]["name"]
    conditions = set_condition(
        conditions, "Progressing", True,
        "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
        f'Deployment "{name}" has successfully progressed.' if complete
        else f'Deployment "{name}" is progressing: {updated_ready} of {replicas} updated replicas are ready.',
        now, update_time=True,
    )
    status: JsonDict = {
        "observedGeneration": int(deployment["metadata"].get("generation") or 1),
        "replicas": len(alive),
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": max(0, replicas - ready),
        "conditions": conditions,
    }
    return status
