"""`ServiceProxy`: a stable local port per Service address, forwarding each TCP connection to a ready pod.

What kube-proxy gives a ClusterIP: processes that keep a Service address (a worker's discovery.uri)
reach whichever pod is ready now (`<podIP>:<port>`), across coordinator restarts and rollouts. The
listeners stay on the node's 127.0.0.1 with ephemeral ports, so kubelets on one machine never share one.

A connection the cluster would refuse (the Service has no endpoint, or the endpoint's port refuses) is
reset (SO_LINGER 0): the client fails at once, as on a refused connect. Accepting and then closing
cleanly (an EOF where a cluster refuses) left real Trino's discovery client waiting, now and then, for an
answer that never came: a coordinator that never saw its workers. (Not listening while a Service has no
endpoint would refuse exactly, but closing an asyncio server races its accept on Python 3.11 and leaks
the transport of a connection accepted at that moment.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import socket
import struct
from collections.abc import Callable

__all__ = ["ServiceProxy"]

log = logging.getLogger("devstack.kubelet.proxy")

_CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0): the client's read fails at once, as on a refused connect."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ServiceProxy:
    """Listeners on 127.0.0.1 keyed by Service address (`svc.ns.svc.cluster.local:8080`); `backends`
    gives a Service address's ready `<podIP>:<port>` list."""

    def __init__(self, backends: Callable[[str], list[str]], host: str = "127.0.0.1") -> None:
        self._backends = backends
        self._host = host
        self._servers: dict[str, tuple[asyncio.Server, int]] = {}
        self._connections: dict[asyncio.Task[object], list[asyncio.StreamWriter]] = {}
        self._turn = itertools.count()
        self._lock = asyncio.Lock()
        self._closing = False

    async def address(self, service_address: str) -> str:
        """`127.0.0.1:<port>` that forwards to the ready pods of `service_address` (started on first use)."""
        async with self._lock:
            if service_address not in self._servers:
                server = await asyncio.start_server(functools.partial(self._handle, service_address), self._host, 0)
                port = int(server.sockets[0].getsockname()[1])
                self._servers[service_address] = (server, port)
                log.info("service proxy listening", extra={"service": service_address, "port": port})
            return f"{self._host}:{self._servers[service_address][1]}"

    async def _handle(self, service_address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        streams = [writer]
        if task is not None:
            self._connections[task] = streams
        try:
            ready = self._backends(service_address)
            if not ready or self._closing:
                _reset(writer)  # no endpoint: refused, as a ClusterIP with no endpoints refuses it
                return
            host, _, port = ready[next(self._turn) % len(ready)].rpartition(":")
            try:
                up_reader, upstream = await asyncio.open_connection(host, int(port))
            except OSError:
                _reset(writer)  # the pod's port refuses: so does the connection through the Service
                return
            streams.append(upstream)
            if self._closing:
                return
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        finally:
            for stream in streams:
                stream.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await stream.wait_closed()
            if task is not None:
                self._connections.pop(task, None)

    async def close(self) -> None:
        """Stop listening and close every forwarded connection (handlers end on their own: cancelling a
        connection handler makes asyncio log an error on Python 3.11)."""
        self._closing = True
        servers = [server for server, _ in self._servers.values()]
        self._servers.clear()
        for server in servers:
            server.close()
        for streams in list(self._connections.values()):
            for stream in streams:
                stream.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5.0)
        for server in servers:
            await server.wait_closed()
