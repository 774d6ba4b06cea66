"""Container resources of each role (size preset plus `spec.resources` overrides) and the JVM heap.

The heap is three quarters of the memory limit, rounded down to whole MiB and always below the limit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from xtrinode.models import COORDINATOR_PRESET, RolePreset, XTrinodeSpec, worker_preset
from xtrinode.quantity import format_bytes, parse_quantity
from xtrinode.render.settings import RenderError

__all__ = ["Role", "ROLES", "HEAP_FRACTION", "resolve_resources", "resources_dict", "jvm_heap_bytes", "jvm_heap"]

Role = Literal["coordinator", "worker"]
ROLES: tuple[Role, ...] = ("coordinator", "worker")
HEAP_FRACTION = Decimal("0.75")
"""Share of the container memory limit given to the Java heap; the rest is metaspace, code cache,
direct buffers and thread stacks."""
_MIB = 2**20
_KIB = 2**10


def resolve_resources(spec: XTrinodeSpec, role: Role) -> RolePreset:
    """The preset of `role` with every value the spec overrides replaced; limit >= request enforced."""
    preset = COORDINATOR_PRESET if role == "coordinator" else worker_preset(spec.size)
    override = getattr(spec.resources, role, None) if spec.resources is not None else None
    if override is None:
        return preset
    resolved = RolePreset(
        request_cpu=override.requests.cpu or preset.request_cpu,
        request_memory=override.requests.memory or preset.request_memory,
        limit_cpu=override.limits.cpu or preset.limit_cpu,
        limit_memory=override.limits.memory or preset.limit_memory,
    )
    for kind, request, limit in (
        ("cpu", resolved.request_cpu, resolved.limit_cpu),
        ("memory", resolved.request_memory, resolved.limit_memory),
    ):
        if parse_quantity(limit) < parse_quantity(request):
            raise RenderError(
                f"{role} {kind} limit {limit!r} is below its request {request!r} (after applying the "
                f"size preset {spec.size!r}); set resources.{role}.limits.{kind} to at least the request"
            )
    return resolved


def resources_dict(resources: RolePreset) -> dict[str, Any]:
    """The container `resources` stanza."""
    return {
        "requests": {"cpu": resources.request_cpu, "memory": resources.request_memory},
        "limits": {"cpu": resources.limit_cpu, "memory": resources.limit_memory},
    }


def jvm_heap_bytes(limit_memory: str) -> int:
    """Heap size in bytes for a container memory limit: 75%, whole MiB (KiB for tiny limits)."""
    limit = parse_quantity(limit_memory)
    raw = int(limit * HEAP_FRACTION)
    heap = raw // _MIB * _MIB if raw >= _MIB else raw // _KIB * _KIB
    if heap <= 0 or heap >= limit:
        raise RenderError(
            f"memory limit {limit_memory!r} is too small for a Java heap; give Trino at least '1Gi'"
        )
    return heap


def jvm_heap(limit_memory: str) -> str:
    """The `-Xmx` value for a memory limit, e.g. '8Gi' -> '6G'."""
    return format_bytes(jvm_heap_bytes(limit_memory))
