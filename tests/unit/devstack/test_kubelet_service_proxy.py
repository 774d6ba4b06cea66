"""The devstack's ClusterIP stand-in refuses connections as a cluster does.

With no endpoint, or an endpoint whose own port refuses, the connection is reset at once (a cluster
refuses it); with a listening endpoint, bytes pass both ways; the port never changes. The proxy used to
accept and then close cleanly, an EOF where a cluster refuses, and real Trino's discovery client then
sometimes waited forever for an answer.
"""

from __future__ import annotations

import asyncio

import pytest

from devstack.kubelet.proxy import ServiceProxy
from devstack.ports import free_port as _free_port

SERVICE = "trino-demo.analytics.svc.cluster.local:8080"


async def _exchange(address: str, payload: bytes) -> bytes:
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(100), 5)
    finally:
        writer.close()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"echo:" + await reader.read(100))
    await writer.drain()
    writer.close()


async def test_a_service_resets_without_endpoints_or_when_the_pod_refuses_and_forwards_once_it_listens() -> None:
    endpoints: dict[str, list[str]] = {}
    proxy = ServiceProxy(lambda address: endpoints.get(address, []))
    backend_port = _free_port()
    backend: asyncio.Server | None = None
    try:
        address = await proxy.address(SERVICE)
        with pytest.raises(ConnectionResetError):
            await _exchange(address, b"ping")

        endpoints[SERVICE] = [f"127.0.0.1:{backend_port}"]  # listed (publishNotReadyAddresses), not listening yet
        with pytest.raises(ConnectionResetError):
            await _exchange(address, b"ping")

        backend = await asyncio.start_server(_echo, "127.0.0.1", backend_port)
        assert await _exchange(address, b"ping") == b"echo:ping"

        endpoints[SERVICE] = []
        with pytest.raises(ConnectionResetError):
            await _exchange(address, b"ping")
        assert await proxy.address(SERVICE) == address, "a Service keeps its port"

        endpoints[SERVICE] = [f"127.0.0.1:{backend_port}"]
        assert await _exchange(address, b"again") == b"echo:again"
    finally:
        await proxy.close()
        if backend is not None:
            backend.close()
            await backend.wait_closed()
    with pytest.raises(ConnectionRefusedError):
        await _exchange(address, b"ping")
