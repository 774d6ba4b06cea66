"""`ServiceProxy`: a stable local port per Service address, forwarding each TCP connection to a ready pod.

What kube-proxy gives a ClusterIP: processes that keep a Service address (a worker's discovery.uri)
reach whichever pod is ready now (`<podIP>:<port>`), across coordinator restarts and rollouts. The
listeners stay on the node's 127.0.0.1 with ephemeral ports, so kubelets on one machine never share one.

A connection is refused as a ClusterIP refuses it: with no endpoint the port does not listen (the socket
stays bound, so the port is kept, and a connect gets ECONNREFUSED as kube-proxy's REJECT rule gives), and
when the endpoint's own port refuses, the accepted connection is reset. Accepting and then closing
cleanly (an EOF where a cluster refuses) left real Trino's discovery client waiting, now and then, for
an answer that never came: a coordinator that never saw its workers.
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
        self._ports: dict[str, int] = {}
        self._servers: dict[str, asyncio.Server] = {}
        """Listening Services (they have endpoints)."""
        self._held: dict[str, socket.socket] = {}
        """Bound, not listening: Services without endpoints (connections to their port are refused)."""
        self._connections: dict[asyncio.Task[object], list[asyncio.StreamWriter]] = {}
        self._turn = itertools.count()
        self._lock = asyncio.Lock()
        self._closing = False

    async def address(self, service_address: str) -> str:
        """`127.0.0.1:<port>` that forwards to the ready pods of `service_address` (its port is kept from first use)."""
        async with self._lock:
            if service_address not in self._ports:
                sock = self._bound(0)
                self._ports[service_address] = int(sock.getsockname()[1])
                self._held[service_address] = sock
                log.info("service proxy port", extra={"service": service_address,
                                                      "port": self._ports[service_address]})
                await self._apply(service_address)
            return f"{self._host}:{self._ports[service_address]}"

    async def sync(self) -> None:
        """Listen on the ports of the Services that have endpoints now, refuse on the others."""
        async with self._lock:
            for service_address in list(self._ports):
                await self._apply(service_address)

    def _bound(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, port))
        except OSError:
            sock.close()
            raise
        return sock

    async def _apply(self, service_address: str) -> None:
        if self._closing:
            return
        wanted = bool(self._backends(service_address))
        if wanted and service_address in self._held:
            sock = self._held.pop(service_address)
            sock.listen(128)
            sock.setblocking(False)
            self._servers[service_address] = await asyncio.start_server(
                functools.partial(self._handle, service_address), sock=sock)
        elif not wanted and service_address in self._servers:
            server = self._servers.pop(service_address)
            server.close()  # connections already forwarded go on; new ones are refused
            try:
                self._held[service_address] = self._bound(self._ports[service_address])
            except OSError as e:  # the port was taken in between: listen again next sync
                log.warning("service proxy could not keep its port", extra={
                    "service": service_address, "port": self._ports[service_address], "error": str(e)})

    async def _handle(self, service_address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        streams = [writer]
        if task is not None:
            self._connections[task] = streams
        try:
            ready = self._backends(service_address)
            if not ready or self._closing:
                _reset(writer)  # the endpoints went away since this port listened: refused, as in a cluster
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
        servers = list(self._servers.values())
        self._servers.clear()
        for server in servers:
            server.close()
        for sock in self._held.values():
            sock.close()
        self._held.clear()
        for streams in list(self._connections.values()):
            for stream in streams:
                stream.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5.0)
        for server in servers:
            await server.wait_closed()
