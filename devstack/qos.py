"""A pod's QoS class (`status.qosClass`) from its containers' requests and limits, as Kubernetes computes it.

The real API server sets it when a pod is created and refuses any later change, so the emulator sets
it the same way on create and the kubelet reports the same value.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from kubernetes.utils.quantity import parse_quantity

__all__ = ["qos_class"]

_COMPUTE = ("cpu", "memory")


def _amounts(values: Mapping[str, Any] | None) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for name, value in (values or {}).items():
        if name not in _COMPUTE:
            continue
        try:
            out[name] = parse_quantity(value)  # type: ignore[no-untyped-call]
        except (ValueError, InvalidOperation):
            continue
    return out


def qos_class(spec: Mapping[str, Any]) -> str:
    """`Guaranteed` when every container limits CPU and memory and requests exactly that (a request
    defaults to its limit), `BestEffort` when no container requests or limits either, else `Burstable`.
    Pod-level `spec.resources`, when set, decides alone."""
    if spec.get("resources"):
        groups = [spec["resources"]]
    else:
        groups = [c.get("resources") or {} for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]]
    requested = limited = False
    guaranteed = True
    for resources in groups:
        requests, limits = _amounts(resources.get("requests")), _amounts(resources.get("limits"))
        requested = requested or any(v > 0 for v in requests.values())
        limited = limited or any(v > 0 for v in limits.values())
        for name in _COMPUTE:
            limit = limits.get(name)
            if limit is None or requests.get(name, limit) != limit:
                guaranteed = False
    if not requested and not limited:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
