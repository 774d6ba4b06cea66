"""The gateway's public HTTP server (gateway/server.py) at the byte level, in front of an emulator coordinator.

Checks: keep-alive (several requests on one connection), pipelined requests answered in order,
`Connection: close` and HTTP/1.0 close after the answer, `Expect: 100-continue` gets its interim answer
(each time on a connection repeating its header lines, after the answers to earlier pipelined requests,
and never before a 413 for a body over the limit),
a chunked request body arrives whole, a declared body over the limit is 413 before it is sent, an
oversized header block is 431, garbage is 400, an upgrade is refused, HEAD gets headers only, a 204 from
the coordinator carries no body (the next answer on the connection is intact), a client that stops in
the middle of a request is answered 408 and disconnected, and an idle keep-alive connection is closed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from devstack.trino import TrinoNode
from gateway import server as gateway_server
from gateway_helpers import GatewayFactory, RoutesConfigMap, RunningGateway, route

HOST = b"Host: gw\r\nX-Trino-User: alice\r\n"


@pytest.fixture
async def gw(coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap,
             start_gateway: GatewayFactory) -> AsyncIterator[RunningGateway]:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    async with start_gateway() as running:
        yield running


async def _exchange(port: int, payload: bytes, answers: int = 1, timeout: float = 10.0) -> tuple[list[bytes], bool]:
    """Send `payload`, read `answers` HTTP answers (Content-Length framed); True when the server then closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        got = []
        for _ in range(answers):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            body = await reader.readexactly(length) if length else b""
            got.append(head + body)
        closed = (await asyncio.wait_for(reader.read(1), 2.0)) == b""
        return got, closed
    except TimeoutError:
        return got, False
    finally:
        writer.close()


async def test_keep_alive_and_pipelined_requests_answer_in_order(gw: RunningGateway) -> None:
    one = b"GET /v1/info HTTP/1.1\r\n" + HOST + b"\r\n"
    answers, closed = await _exchange(gw.port, one * 3 + b"GET /nope HTTP/1.1\r\n" + HOST + b"\r\n", answers=4)
    assert [a.split(b" ")[1] for a in answers] == [b"200", b"200", b"200", b"404"]
    assert not closed, "keep-alive: the connection stays open"


async def test_connection_close_and_http_1_0_close_after_the_answer(gw: RunningGateway) -> None:
    answers, closed = await _exchange(gw.port, b"GET /v1/info HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n")
    assert answers[0].startswith(b"HTTP/1.1 200") and closed
    answers, closed = await _exchange(gw.port, b"GET /v1/info HTTP/1.0\r\n" + HOST + b"\r\n")
    assert answers[0].startswith(b"HTTP/1.0 200") and closed


async def test_expect_continue_and_chunked_bodies(gw: RunningGateway) -> None:
    sql = b"SELECT 1"
    answers, _ = await _exchange(gw.port, b"POST /v1/statement HTTP/1.1\r\n" + HOST + b"Expect: 100-continue\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(sql), sql), answers=2)
    assert answers[0].startswith(b"HTTP/1.1 100 Continue") and answers[1].startswith(b"HTTP/1.1 200")
    chunked = b"POST /v1/statement HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n4\r\nSELE\r\n4\r\nCT 2\r\n0\r\n\r\n"
    answers, _ = await _exchange(gw.port, chunked)
    assert answers[0].startswith(b"HTTP/1.1 200") and b'"id"' in answers[0]


async def test_a_connection_repeating_its_header_lines_is_checked_and_answered_each_time(gw: RunningGateway) -> None:
    """The server skips its header checks for lines identical to the previous request's on the connection: the
    interim 100 Continue still comes each time, and a new Content-Length is checked against the limit."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    try:
        post = b"POST /v1/statement HTTP/1.1\r\n" + HOST + b"Expect: 100-continue\r\nContent-Length: 8\r\n\r\n"
        for _ in range(3):
            writer.write(post)
            await writer.drain()
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"SELECT 1")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200"), head
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            assert b'"nextUri"' in await reader.readexactly(length)
        writer.write(post.replace(b"Content-Length: 8", b"Content-Length: %d" % (16 * 1024 * 1024 + 1)))
        await writer.drain()
        refused = await asyncio.wait_for(reader.read(), 10)
        assert refused.startswith(b"HTTP/1.1 413"), refused
    finally:
        writer.close()


async def test_a_pipelined_expect_gets_its_100_continue_after_the_answers_before_it(gw: RunningGateway) -> None:
    """Answers on a connection come in request order: the interim 100 Continue of a request that asked for it
    while an earlier one was still being answered follows that answer, never precedes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    try:
        first = b"POST /v1/statement HTTP/1.1\r\n" + HOST + b"Content-Length: 8\r\n\r\nSELECT 1"
        second = b"POST /v1/statement HTTP/1.1\r\n" + HOST + b"Expect: 100-continue\r\nContent-Length: 8\r\n\r\n"
        writer.write(first + second)  # one segment: the second's headers arrive while the first is answered
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        assert b'"nextUri"' in await reader.readexactly(length)
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"SELECT 2")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
    finally:
        writer.close()


async def test_limits_and_garbage_are_clear_4xx(gw: RunningGateway) -> None:
    huge = 16 * 1024 * 1024 + 1
    answers, closed = await _exchange(gw.port, b"POST /v1/statement HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % huge)
    assert answers[0].startswith(b"HTTP/1.1 413") and closed
    answers, closed = await _exchange(gw.port, b"GET /v1/info HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert answers[0].startswith(b"HTTP/1.1 431") and closed
    answers, closed = await _exchange(gw.port, b"\x16\x03\x01 hello\r\n\r\n")
    assert answers[0].startswith(b"HTTP/1.1 400") and closed
    answers, closed = await _exchange(gw.port, b"GET /v1/info HTTP/1.1\r\n" + HOST + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    assert answers[0].startswith(b"HTTP/1.1 400") and closed


async def test_head_and_a_bodiless_204_keep_the_connection_usable(gw: RunningGateway) -> None:
    answers, _ = await _exchange(gw.port, b"HEAD /v1/info HTTP/1.1\r\n" + HOST + b"\r\n" + b"GET /v1/info HTTP/1.1\r\n" + HOST + b"\r\n",
                                 answers=1)
    assert answers[0].startswith(b"HTTP/1.1 200")
    post = b"SELECT 1"
    answers, _ = await _exchange(gw.port, b"POST /v1/statement HTTP/1.1\r\n" + HOST + b"Content-Length: 8\r\n\r\n" + post)
    next_uri = json.loads(answers[0].split(b"\r\n\r\n", 1)[1])["nextUri"].split("/", 3)[3].encode()
    delete = b"DELETE /" + next_uri + b" HTTP/1.1\r\n" + HOST + b"\r\n"
    answers, closed = await _exchange(gw.port, delete + b"GET /v1/info HTTP/1.1\r\n" + HOST + b"\r\n", answers=2)
    assert answers[0].startswith(b"HTTP/1.1 204") and answers[1].startswith(b"HTTP/1.1 200"), answers
    assert b"content-length" not in answers[0].lower() and not closed


async def test_slow_and_idle_clients_are_disconnected(gw: RunningGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_server, "HEAD_DEADLINE", 1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /v1/info HTTP/1.1\r\nHost: gw\r\n")  # and nothing more
    await writer.drain()
    assert (await asyncio.wait_for(reader.read(), 6.0)).startswith(b"HTTP/1.1 408")
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    await asyncio.sleep(0.2)
    assert gw.serving is not None
    for connection in list(gw.serving.public.connections):
        connection.deadline = 0.0  # as if its keep-alive time had passed
    assert await asyncio.wait_for(reader.read(), 6.0) == b"", "the sweep closed the idle connection"
    writer.close()


async def test_a_bad_request_behind_good_ones_is_refused_after_they_are_answered(gw: RunningGateway) -> None:
    good = b"GET /v1/info HTTP/1.1\r\n" + HOST + b"\r\n"
    answers, closed = await _exchange(gw.port, good + good + b"\x00garbage\r\n\r\n", answers=3)
    assert [a.split(b" ")[1] for a in answers] == [b"200", b"200", b"400"] and closed


async def test_each_request_on_a_connection_is_judged_by_its_own_headers(
    gw: RunningGateway, coordinators: tuple[TrinoNode, TrinoNode]
) -> None:
    """The server remembers what it derived from a connection's recent header sets (issue #19's fast path):
    a request whose headers differ from the one before (a duplicated identity header, another user, a
    forwarded header from an untrusted peer) gets its own verdict and goes upstream as itself."""
    good = b"GET /v1/info HTTP/1.1\r\n" + HOST + b"\r\n"
    doubled = b"GET /v1/info HTTP/1.1\r\nHost: gw\r\nX-Trino-User: alice\r\nX-Trino-User: root\r\n\r\n"
    answers, _ = await _exchange(gw.port, good + good + doubled, answers=3)
    assert [a.split(b" ")[1] for a in answers] == [b"200", b"200", b"400"]
    assert b"X-Trino-User appears more than once" in answers[2]

    def statement(user: bytes, extra: bytes = b"") -> bytes:
        return (b"POST /v1/statement HTTP/1.1\r\nHost: gw\r\nX-Trino-User: " + user + b"\r\n" + extra +
                b"Content-Length: 8\r\n\r\nSELECT 1")

    spoofed = b"X-Forwarded-For: 203.0.113.9\r\n"
    answers, _ = await _exchange(gw.port, statement(b"alice") + statement(b"bob") + statement(b"alice", spoofed)
                                 + statement(b"carol"), answers=4)
    pages = [json.loads(a.split(b"\r\n\r\n", 1)[1]) for a in answers]
    ids = [page["id"] for page in pages]
    for page, user in zip(pages, (b"alice", b"bob", b"alice", b"carol"), strict=True):
        path = page["nextUri"].split("//", 1)[1].split("/", 1)[1].encode()  # Trino lists a query once it is polled
        polled, _ = await _exchange(gw.port, b"GET /" + path + b" HTTP/1.1\r\nHost: gw\r\nX-Trino-User: " + user + b"\r\n\r\n")
        assert polled and polled[0].startswith(b"HTTP/1.1 200"), polled
    a, _ = coordinators
    reader, writer = await asyncio.open_connection("127.0.0.1", int(a.url.rsplit(":", 1)[1]))
    writer.write(b"GET /v1/query HTTP/1.1\r\nHost: a\r\nX-Trino-User: admin\r\nConnection: close\r\n\r\n")
    listed = json.loads((await reader.read()).split(b"\r\n\r\n", 1)[1])
    writer.close()
    users = {q["queryId"]: q["session"]["user"] for q in listed}
    assert [users[i] for i in ids] == ["alice", "bob", "alice", "carol"]
