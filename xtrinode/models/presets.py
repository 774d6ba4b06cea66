"""Size presets (`xs`..`xl`): the CPU and memory a runtime's pods get unless overridden.

SPEC section 1: workers by size, the coordinator the same for every size.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["Size", "SIZES", "RolePreset", "COORDINATOR_PRESET", "worker_preset"]

Size = Literal["xs", "s", "m", "l", "xl"]
SIZES: tuple[Size, ...] = ("xs", "s", "m", "l", "xl")


class RolePreset(NamedTuple):
    request_cpu: str
    request_memory: str
    limit_cpu: str
    limit_memory: str


_WORKER: dict[Size, RolePreset] = {
    "xs": RolePreset("1", "4Gi", "2", "8Gi"),
    "s": RolePreset("2", "8Gi", "8", "32Gi"),
    "m": RolePreset("4", "16Gi", "16", "64Gi"),
    "l": RolePreset("8", "32Gi", "32", "128Gi"),
    "xl": RolePreset("16", "64Gi", "64", "256Gi"),
}

COORDINATOR_PRESET = RolePreset("1", "4Gi", "2", "8Gi")


def worker_preset(size: Size) -> RolePreset:
    """The worker requests and limits of a size preset."""
    return _WORKER[size]
