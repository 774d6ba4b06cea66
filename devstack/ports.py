"""Free loopback ports for processes started later (devstack components, test subprocesses).

A port from bind(0) is free only for a moment: it comes from the kernel's ephemeral range, where every
other process binding port 0 (the Temporal dev server's internal services, test servers, outgoing
connections) gets its ports too, and one of them can take it before the process it was meant for binds
it. These ports come from *below* that range, where nothing is handed out unasked.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Set
from pathlib import Path

__all__ = ["NoFreePort", "ephemeral_range", "free_port"]


class NoFreePort(Exception):
    pass


def ephemeral_range() -> tuple[int, int]:
    """The kernel's `ip_local_port_range` (Linux's default 32768-60999 when it cannot be read)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(taken: Set[int] = frozenset()) -> int:
    """A loopback port that is free now, below the ephemeral range and not in `taken`."""
    low = ephemeral_range()[0]
    floor = 10000 if low > 12000 else 1024
    for _ in range(200):
        port = random.randint(floor, low - 1)
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise NoFreePort(f"found no free port between {floor} and {low - 1}")
