"""`no_connects_to(network)`: fail whatever in this process connects to an address of `network`.

Wraps `socket.socket.connect` and `connect_ex`, which every client here ends in (urllib3, aiohttp and
asyncio's sock_connect alike). Used to prove that nothing ever connects to a node agent's 192.0.2.x
pod addresses (TEST-NET-1: documentation only).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

__all__ = ["no_connects_to"]


@contextlib.contextmanager
def no_connects_to(network: ipaddress.IPv4Network) -> Iterator[list[str]]:
    """Within the block, a connect to `network` raises ConnectionRefusedError and is recorded in the
    yielded list (so a caller that swallows connection errors is still caught by checking it)."""
    attempts: list[str] = []
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(address: Any) -> None:
        if isinstance(address, tuple) and address:
            try:
                if ipaddress.ip_address(address[0]) in network:
                    attempts.append(f"{address[0]}:{address[1]}")
                    raise ConnectionRefusedError(f"test guard: nothing may connect to {address[0]} ({network})")
            except ValueError:
                pass

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
