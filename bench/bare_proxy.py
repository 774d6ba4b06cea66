"""A bare reverse proxy in Python (uvloop + httptools, protocol callbacks, bytes only): the floor of what
this runtime can spend per proxied request, printed by bench/gateway.py beside nginx and the gateway.

It is not a product and checks nothing: one upstream connection per client connection, requests passed
with X-Forwarded-For/Proto/Host added (so the coordinator's nextUri points back here), answers re-framed
with Content-Length. Usage: bare_proxy.py LISTEN_PORT BACKEND_PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys

import httptools

_REQUEST_DROP = (b"content-length", b"connection")
_ANSWER_DROP = (b"content-length", b"connection", b"transfer-encoding")


class _Upstream(asyncio.Protocol):
    def __init__(self, client: _Client) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.headers: list[bytes] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in _ANSWER_DROP:
            self.headers.append(name + b": " + value + b"\r\n")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        head = b"HTTP/1.1 %d OK\r\n" % self.parser.get_status_code() + b"".join(self.headers)
        self.headers, self.body = [], []
        if self.client.transport is not None:
            self.client.transport.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)


class _Client(asyncio.Protocol):
    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.upstream: _Upstream | None = None
        self.waiting: list[bytes] = []
        self.url = b""
        self.host = b""
        self.lines: list[bytes] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        _, self.upstream = await asyncio.get_running_loop().create_connection(
            lambda: _Upstream(self), "127.0.0.1", self.backend_port)
        assert self.upstream.transport is not None
        for payload in self.waiting:
            self.upstream.transport.write(payload)
        self.waiting = []

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.url, self.host, self.lines, self.body = b"", b"", [], []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"host":
            self.host = value
        if lowered not in _REQUEST_DROP:
            self.lines.append(name + b": " + value + b"\r\n")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        payload = (self.parser.get_method() + b" " + self.url + b" HTTP/1.1\r\n" + b"".join(self.lines)
                   + b"X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: " + self.host
                   + b"\r\n" + (b"Content-Length: %d\r\n" % len(body) if body else b"") + b"\r\n" + body)
        if self.upstream is None or self.upstream.transport is None:
            self.waiting.append(payload)
        else:
            self.upstream.transport.write(payload)


async def main(port: int, backend_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(backend_port), "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a gateway dependency
        asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
    else:
        uvloop.run(main(int(sys.argv[1]), int(sys.argv[2])))
