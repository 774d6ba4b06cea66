"""The gateway's lean upstream client (gateway/upstream.py) against small servers on loopback.

Checks: sequential requests reuse one keep-alive connection; a backend that closed an idle connection
costs an idempotent request nothing (sent again on a new connection) but a POST fails with UpstreamError
rather than being sent twice; a refused connect is ConnectFailed; chunked and close-delimited answers are
read whole; a large answer streams in chunks with backpressure and arrives intact; HEAD answers end at
their headers; the per-backend pool never opens more than its limit; header values in UTF-8 pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gateway.upstream import ConnectFailed, UpstreamClient, UpstreamError, encode_headers

BIG = os.urandom(3 * 1024 * 1024 + 17)


class Backend:
    def __init__(self) -> None:
        self.peers: set[object] = set()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.posts: list[bytes] = []
        self.seen_headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        self.seen_headers.append(dict(request.headers))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if request.path == "/slow":
                await asyncio.sleep(0.2)
            if request.method == "POST":
                self.posts.append(await request.read())
            if request.path == "/big":
                return web.Response(body=BIG)
            if request.path == "/chunked":
                out = web.StreamResponse()
                out.enable_chunked_encoding()
                await out.prepare(request)
                for i in range(5):
                    await out.write(f"part{i};".encode())
                await out.write_eof()
                return out
            return web.Response(text=f"ok {request.method} {request.path_qs}")
        finally:
            self.in_flight -= 1


@pytest.fixture
async def backend() -> AsyncIterator[tuple[Backend, str, web.AppRunner]]:
    found = Backend()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    runner = web.AppRunner(app, keepalive_timeout=60)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield found, f"http://127.0.0.1:{runner.addresses[0][1]}", runner
    await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    found = UpstreamClient(connect_timeout=2.0, limit_per_backend=4)
    yield found
    await found.close()


async def test_sequential_requests_share_one_keep_alive_connection(
    backend: tuple[Backend, str, web.AppRunner], client: UpstreamClient
) -> None:
    server, url, _ = backend
    for i in range(20):
        response = await client.request("GET", url, f"/q?i={i}", {"X-Trino-User": "Zoë"})
        assert response.status == 200 and await response.read() == f"ok GET /q?i={i}".encode()
    assert server.requests == 20 and len(server.peers) == 1
    assert server.seen_headers[-1]["X-Trino-User"] == "Zoë"


async def test_an_idle_connection_the_backend_closed_is_replaced_for_gets_but_a_post_is_never_sent_twice(
    backend: tuple[Backend, str, web.AppRunner], client: UpstreamClient
) -> None:
    _, url, _ = backend
    # A raw server that answers one request per connection and then closes without saying so.
    answered: list[bytes] = []

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readuntil(b"\r\n\r\n")
        answered.append(data.split(b" ")[0])
        if data.startswith(b"POST"):
            await reader.readexactly(8)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    server = await asyncio.start_server(once, "127.0.0.1", 0)
    raw = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        assert await (await client.request("GET", raw, "/a", {})).read() == b"ok"
        await asyncio.sleep(0.01)  # the close has not been seen yet when the next request goes out
        assert await (await client.request("GET", raw, "/b", {})).read() == b"ok", "sent again on a new connection"
        await asyncio.sleep(0.2)  # the close was seen: the dead connection is not offered any more
        assert await (await client.request("POST", raw, "/c", {}, b"SELECT 1")).read() == b"ok"
        await asyncio.sleep(0.01)  # the close of /c's connection is not seen yet
        with pytest.raises(UpstreamError, match="closed the connection"):
            await (await client.request("POST", raw, "/d", {}, b"SELECT 2")).read()
        await asyncio.sleep(0.2)
        assert answered == [b"GET", b"GET", b"POST"], "the failed POST was not sent again elsewhere"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_refused_connect_is_connect_failed(client: UpstreamClient) -> None:
    with pytest.raises(ConnectFailed, match="127.0.0.1:9"):
        await client.request("GET", "http://127.0.0.1:9", "/", {})


async def test_chunked_big_and_head_answers(backend: tuple[Backend, str, web.AppRunner], client: UpstreamClient) -> None:
    _, url, _ = backend
    assert await (await client.request("GET", url, "/chunked", {})).read() == b"part0;part1;part2;part3;part4;"
    response = await client.request("GET", url, "/big", {})
    assert response.content_length == len(BIG)
    digest, chunks = hashlib.sha256(), 0
    async for chunk in response.iter_chunks():
        digest.update(chunk)
        chunks += 1
    assert digest.digest() == hashlib.sha256(BIG).digest() and chunks > 1
    head = await client.request("HEAD", url, "/x", {})
    assert head.status == 200 and await head.read() == b""
    assert await (await client.request("GET", url, "/after-head", {})).read() == b"ok GET /after-head"


async def test_the_pool_never_opens_more_than_its_limit(
    backend: tuple[Backend, str, web.AppRunner], client: UpstreamClient
) -> None:
    server, url, _ = backend

    async def one(i: int) -> bytes:
        return await (await client.request("GET", url, f"/slow?i={i}", {})).read()

    bodies = await asyncio.gather(*(one(i) for i in range(12)))
    assert sorted(bodies) == sorted(f"ok GET /slow?i={i}".encode() for i in range(12))
    assert server.max_in_flight <= 4 and len(server.peers) <= 4


async def test_try_send_uses_only_a_free_slot_and_an_idle_connection(
    backend: tuple[Backend, str, web.AppRunner], client: UpstreamClient
) -> None:
    """The fast path's send: never waits and never connects; a slot it cannot take stays with the waiters."""
    server, url, _ = backend
    headers = encode_headers({"X-Trino-User": "alice"})
    assert client.try_send(url, "/q", headers) is None, "no pool yet: nothing to reuse"
    assert await (await client.request("GET", url, "/warm", {})).read() == b"ok GET /warm"
    response = client.try_send(url, "/q?fast=1", headers)
    assert response is not None and response.reused
    await response.headers_ready
    assert await response.read() == b"ok GET /q?fast=1" and len(server.peers) == 1
    # all 4 slots busy: try_send gives up at once; the waiter queued behind them gets the first freed slot
    slow = [asyncio.create_task(client.request("GET", url, f"/slow?i={i}", {})) for i in range(4)]
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(client.request("GET", url, "/queued", {}))
    await asyncio.sleep(0.01)
    assert client.try_send(url, "/q?fast=2", headers) is None
    cancelled = asyncio.create_task(client.request("GET", url, "/cancelled", {}))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    for task in slow:
        await (await task).read()
    assert await (await queued).read() == b"ok GET /queued"
    assert server.requests == 7, "warm, fast=1, four slow, queued: the cancelled request was never sent"
    await asyncio.sleep(0.01)
    again = client.try_send(url, "/q?fast=3", headers)
    assert again is not None, "every slot came back, the cancelled waiter's too"
    await again.headers_ready
    assert await again.read() == b"ok GET /q?fast=3"
    assert server.max_in_flight <= 4
