"""The public listener: a lean HTTP/1.1 server (asyncio protocol + httptools) running the gateway's pipeline.

aiohttp's server cost about a quarter of the gateway's CPU per proxied request (issue #19: 0.074 ms per
request for a trivial handler against 0.014 ms for this protocol). The pipeline is unchanged: the edge,
the guard and the proxy (app.py `public_handler`) run on a `GatewayRequest` that offers the part of
aiohttp's request API they use, and answer with aiohttp `Response` objects (plain containers here) or
a `StreamedAnswer` for large upstream bodies.

HTTP handled here: keep-alive and `Connection: close`, HTTP/1.0, pipelined requests (answered in
order), `Expect: 100-continue`, request bodies up to the statement limit (413 beyond, before reading
them), limits on the request line, header size and count (431/400), a deadline for a request's head
and body (408; slow clients cannot hold connections open), idle keep-alive connections closed after
`keepalive_timeout`, backpressure on large answers, and a graceful close that lets running requests
finish. Upgrades (WebSocket) are refused with 400.
"""

from __future__ import annotations

import asyncio
import collections
import http
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import unquote

import httptools
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["Answer", "FastPath", "FastReply", "GatewayRequest", "ProxiedAnswer", "PublicServer", "StreamedAnswer", "start_public_server"]

log = logging.getLogger("xtrinode.gateway.server")

Handler = Callable[[web.Request], Awaitable["Answer"]]

MAX_URL = 16 * 1024
MAX_HEAD = 64 * 1024
MAX_HEADERS = 128
HEAD_DEADLINE = 30.0
"""Seconds a client has to send a whole request (line, headers and body) once it started one."""
_PIPELINED = 16
"""Requests queued on one connection before reading from it pauses."""
_Lines = tuple[tuple[bytes, bytes], ...]
_FAST_METHODS = frozenset({"GET", "POST"})
"""Requests offered to the fast path (page polls, new statements); it declines anything else it sees."""
_HEADER_SETS = 4
"""Distinct header sets a connection remembers with what was derived from them (GatewayRequest.memo)."""


@dataclass(eq=False)
class StreamedAnswer:
    """A large answer: status and headers now, the body chunk by chunk (written with chunked encoding)."""

    status: int
    headers: CIMultiDict[str]
    chunks: AsyncIterator[bytes]
    on_done: Callable[[], None] | None = None
    """Called once the body was written or the client went away (returns the upstream connection)."""


@dataclass(eq=False, slots=True)
class ProxiedAnswer:
    """A backend's answer passed on as it came (headers already free of hop-by-hop ones)."""

    status: int
    headers: list[tuple[str, str]] | bytes
    """The headers, or the backend's header lines passed on as they came (`Name: value\r\n` each)."""
    body: bytes


Answer = web.StreamResponse | StreamedAnswer | ProxiedAnswer
"""What the pipeline answers: an aiohttp response used as a container, a proxied or a streamed answer."""


class FastReply(Protocol):
    """How a fast path (`PublicServer.fast`) answers a request it took: exactly one of these, once."""

    def fast_answered(self, answer: ProxiedAnswer | web.StreamResponse) -> None:
        """Write this answer now (the connection then goes on with the requests queued behind it)."""

    def fast_continue(self, answer: Awaitable[Answer]) -> None:
        """Finish in a task: the answer that awaitable gives is written as the pipeline's would be."""


FastPath = Callable[["GatewayRequest", FastReply], bool]
"""Offered each GET and POST as it is parsed while its connection has nothing else running: True when it took the
request (it answers through the FastReply, without a task), False to let the pipeline run as usual."""


class GatewayRequest(dict[Any, Any]):
    """The request as the pipeline sees it: aiohttp's request API subset (method, raw_path, path, headers,
    host, scheme, remote, app, read(), body_exists) plus a mapping for the request keys."""

    __slots__ = ("method", "raw_path", "headers", "remote", "scheme", "app", "_body", "version", "transport", "memo")

    def __init__(self, method: str, raw_path: str, headers: CIMultiDictProxy[str], body: bytes, remote: str | None,
                 app: web.Application, version: tuple[int, int], transport: asyncio.Transport | None,
                 memo: dict[Any, Any] | None = None) -> None:
        # no dict.__init__ call: the mapping starts empty, and a super() call per request costs more than it says
        self.method = method
        self.raw_path = raw_path
        self.headers = headers
        self.remote = remote
        self.scheme = "http"
        self.app = app
        self._body = body
        self.version = version
        self.transport = transport
        self.memo = memo
        """What the pipeline derived from this connection's headers, shared by its requests while their header
        lists are identical (a client polling pages sends the same ones each time); None: derive per request."""

    @property
    def path(self) -> str:
        return unquote(self.raw_path.partition("?")[0])

    @property
    def query_string(self) -> str:
        return self.raw_path.partition("?")[2]

    @property
    def host(self) -> str:
        host = self.headers.get("Host")
        if host:
            return host
        if self.transport is not None:
            name = self.transport.get_extra_info("sockname")
            if name:
                return f"{name[0]}:{name[1]}"
        return "localhost"

    @property
    def body_exists(self) -> bool:
        return bool(self._body)

    @property
    def content_length(self) -> int | None:
        return len(self._body) if self._body else None

    async def read(self) -> bytes:
        return self._body

    @property
    def received_body(self) -> bytes:
        """The whole body (`read()` without awaiting: the server reads a body before it runs anything)."""
        return self._body


@dataclass
class _Pending:
    method: str
    url: str
    headers: CIMultiDictProxy[str]
    body: bytes
    version: tuple[int, int]
    keep_alive: bool
    memo: dict[Any, Any]


_STATUS_LINES: dict[tuple[int, tuple[int, int]], bytes] = {}
"""Status lines with the standard reason, by status and version (a few dozen at most)."""


def _status_line(status: int, reason: str | None, version: tuple[int, int]) -> bytes:
    if not reason:
        line = _STATUS_LINES.get((status, version))
        if line is not None:
            return line
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        line = f"HTTP/{version[0]}.{version[1]} {status} {phrase}\r\n".encode("latin-1")
        if len(_STATUS_LINES) < 1024:  # statuses come from backends too: bounded
            _STATUS_LINES[(status, version)] = line
        return line
    return f"HTTP/{version[0]}.{version[1]} {status} {reason}\r\n".encode("latin-1")


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


def _head(status: int, reason: str | None, headers: CIMultiDict[str] | CIMultiDictProxy[str] | list[tuple[str, str]],
          version: tuple[int, int], extra: str) -> bytes:
    items = headers if isinstance(headers, list) else headers.items()
    lines = [f"{name}: {value}\r\n" for name, value in items if name.lower() not in _FRAMING]
    text = "".join(lines) + extra + "\r\n"
    return _status_line(status, reason, version) + (text.encode("latin-1") if text.isascii() else text.encode("utf-8"))


def _plain(status: int, message: str, version: tuple[int, int] = (1, 1)) -> bytes:
    body = message.encode()
    return _status_line(status, None, version) + (
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


class _Connection(asyncio.Protocol):
    def __init__(self, server: PublicServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._remote: str | None = None
        self._queue: collections.deque[_Pending] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._fast: _Pending | None = None
        """The request a fast path took and has not answered yet (requests behind it queue)."""
        self._closing = False
        self._paused_reading = False
        self._write_ready: asyncio.Future[None] | None = None
        self.deadline: float | None = None
        """When this connection times out (idle keep-alive or an incomplete request); swept once a second."""
        self._refusal: bytes | None = None
        """A refusal to send once the requests before it are answered (a bad request behind good ones)."""
        self._seen: dict[_Lines, tuple[_Lines, CIMultiDictProxy[str], dict[Any, Any], bool]] = {}
        """The header lines of this connection's recent requests, each with its (immutable) view and the memo
        of what the pipeline derived from them (a client alternates a few sets: statement POSTs, page GETs).
        Keyed by the lines without Content-Length: statements of different lengths share one memo (nothing
        in it depends on that value, which the server checked), each with a view of its own lines."""
        self._last: tuple[_Lines, CIMultiDictProxy[str], dict[Any, Any], bool] | None = None
        """The previous request's entry of `_seen`, with whether its lines expect 100-continue: a request with the
        very same lines (a client polling pages) needs neither the header checks again nor a lookup in `_seen`."""
        self._same: tuple[_Lines, CIMultiDictProxy[str], dict[Any, Any], bool] | None = None
        """`_last` while the request being parsed has the same header lines, else None."""
        self._reset()

    def _reset(self) -> None:
        self._url = ""
        self._headers: list[tuple[bytes, bytes]] = []
        """The header lines as received (decoded once per new set of lines, in on_message_complete)."""
        self._length_at = -1
        """Where the Content-Length line is in `_headers` (-1: none)."""
        self._head_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._in_message = False
        self._same = None
        self._expects = False
        """The request's header lines ask for `100 Continue` (sent once they all passed the checks)."""
        self._continue_owed = False
        """That `100 Continue` waits for the answers to earlier requests on this connection (`_idle_or_refuse`)."""

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._remote = peer[0] if isinstance(peer, tuple) and peer else None
        self._server.connections.add(self)
        self._arm(self._server.keepalive_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._server.connections.discard(self)
        self.deadline = None
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_exception(ConnectionResetError("the client went away"))
            self._write_ready.exception()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "Bad request: protocol upgrades are not served here")
        except (httptools.HttpParserError, _Refused) as e:
            # httptools wraps an exception raised in a callback (our limits) as "User callback error"
            refused = e if isinstance(e, _Refused) else e.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.status, refused.message)
            elif not self._closing:
                self._refuse(400, f"Bad request: {str(e)[:100]}")

    def pause_writing(self) -> None:
        if self._write_ready is None or self._write_ready.done():
            self._write_ready = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)

    # -- httptools callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._reset()
        self._in_message = True
        self._arm(HEAD_DEADLINE)

    def on_url(self, url: bytes) -> None:
        self._url += url.decode("utf-8", "surrogateescape")
        if len(self._url) > MAX_URL:
            raise _Refused(414, "URI too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD or len(headers) >= MAX_HEADERS:
            raise _Refused(431, "Request header fields too large")
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._parser.should_upgrade():
            raise _Refused(400, "Bad request: protocol upgrades are not served here")
        last = self._last
        if last is not None and len(last[0]) == len(self._headers) and last[0] == tuple(self._headers):
            # the same lines passed these checks on this connection (Content-Length included): the same verdict
            self._same = last
            self._expects = last[3]
        else:
            self._check_lines()
        if self._expects and self.transport is not None:  # only once every line passed: a refusal comes instead
            if self._task is not None or self._fast is not None or self._queue:
                self._continue_owed = True  # answers to earlier requests come first: sent once they are written
            else:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _check_lines(self) -> None:
        """Content-Length valid and within the limit (413 before the body is read), and Expect noted."""
        limit = self._server.max_body
        for at, (name, value) in enumerate(self._headers):
            lowered = name.lower()
            if lowered == b"content-length":
                if not value.strip().isdigit():
                    raise _Refused(400, "Bad request: invalid Content-Length")
                if int(value) > limit:
                    raise _Refused(413, f"Request body larger than {limit} bytes")
                if self._length_at < 0:
                    self._length_at = at
            elif lowered == b"expect" and value.strip().lower() == b"100-continue":
                self._expects = True

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._server.max_body:
            raise _Refused(413, f"Request body larger than {self._server.max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        version = (1, 1) if self._parser.get_http_version() == "1.1" else (1, 0)
        seen = self._same
        if seen is None or len(seen[0]) != len(self._headers):  # (trailer lines of a chunked body count too)
            seen = self._last = self._entry(tuple(self._headers))
        pending = _Pending(self._parser.get_method().decode("ascii", "replace"), self._url,
                           seen[1], b"".join(self._body), version, self._parser.should_keep_alive(), seen[2])
        server = self._server
        if (server.fast is not None and self._task is None and self._fast is None and not self._queue
                and pending.method in _FAST_METHODS and not server.closing):
            self._disarm()
            self._fast = pending
            server.in_flight += 1
            try:
                if server.fast(self._request(pending), self):
                    return
            except Exception:  # a fault of the fast path must not fail the request: the pipeline answers it
                log.exception("the fast path failed on %s %s", pending.method, pending.url.partition("?")[0][:200])
            self._fast = None
            server.in_flight -= 1
        self._queue.append(pending)
        if len(self._queue) >= _PIPELINED and self.transport is not None and not self._paused_reading:
            self.transport.pause_reading()
            self._paused_reading = True
        if self._task is None and self._fast is None:
            self._disarm()
            self._task = self._loop.create_task(self._serve())

    def _entry(self, lines: _Lines) -> tuple[_Lines, CIMultiDictProxy[str], dict[Any, Any], bool]:
        """The `_seen` entry of these header lines (made when new): the lines, their view, the memo of what the
        pipeline derived from them, and whether they expect 100-continue."""
        at = self._length_at
        key = lines if at < 0 else lines[:at] + lines[at + 1:]
        seen = self._seen.get(key)
        # without Content-Length, key is lines: a stored set of the same length is these very lines
        if seen is None or (len(seen[0]) != len(lines) if at < 0 else seen[0] != lines):
            if seen is None and len(self._seen) >= _HEADER_SETS:
                self._seen.clear()
            view = CIMultiDictProxy(CIMultiDict([(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
                                                 for name, value in lines]))
            seen = self._seen[key] = (lines, view, {} if seen is None else seen[2], self._expects)
        return seen

    # -- the fast path's answers (FastReply) ----------------------------------------------------------
    def fast_answered(self, answer: ProxiedAnswer | web.StreamResponse) -> None:
        pending, self._fast = self._fast, None
        assert pending is not None, "a fast path answered a request it did not take"
        self._server.in_flight -= 1
        if self._closing or self.transport is None:
            return
        keep = pending.keep_alive and not self._server.closing
        self._write(answer, pending.version, keep, False)
        if not keep:
            self._close()
        elif self._queue:
            self._task = self._loop.create_task(self._serve())
        else:
            self._idle_or_refuse()

    def fast_continue(self, answer: Awaitable[Answer]) -> None:
        pending, self._fast = self._fast, None
        assert pending is not None, "a fast path answered a request it did not take"
        self._server.in_flight -= 1
        self._task = self._loop.create_task(self._serve(pending, answer))

    # -- serving ------------------------------------------------------------------------------------
    async def _serve(self, first: _Pending | None = None, first_answer: Awaitable[Answer] | None = None) -> None:
        try:
            if first is not None and not await self._answer(first, first_answer):
                self._close()
                return
            while self._queue and not self._closing:
                pending = self._queue.popleft()
                if self._paused_reading and len(self._queue) < _PIPELINED // 2 and self.transport is not None:
                    self.transport.resume_reading()
                    self._paused_reading = False
                keep = await self._answer(pending)
                if not keep:
                    self._close()
                    return
        finally:
            self._task = None
            if not self._closing:
                if self._queue:
                    self._task = self._loop.create_task(self._serve())
                else:
                    self._idle_or_refuse()

    def _idle_or_refuse(self) -> None:
        """Nothing left to answer: send a refusal that waited for the answers before it, or wait for more (after
        the 100 Continue a request still being received waited for, when it asked while others were answered)."""
        if self._refusal is not None:
            if self.transport is not None:
                self.transport.write(self._refusal)
            self._close()
        else:
            if self._continue_owed and self._in_message and self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._continue_owed = False
            self._arm(HEAD_DEADLINE if self._in_message else self._server.keepalive_timeout)

    def _request(self, pending: _Pending) -> GatewayRequest:
        return GatewayRequest(pending.method, pending.url, pending.headers, pending.body, self._remote,
                              self._server.app, pending.version, self.transport, pending.memo)

    async def _answer(self, pending: _Pending, given: Awaitable[Answer] | None = None) -> bool:
        """Run the pipeline (or await the answer a fast path `given`) and write it; False when the connection
        must close."""
        keep = pending.keep_alive and not self._server.closing
        self._server.in_flight += 1
        try:
            try:
                if given is not None:
                    answer = await given
                else:
                    answer = await self._server.handler(cast(web.Request, self._request(pending)))
            except web.HTTPException as e:
                answer = e
            except Exception:
                log.exception("the gateway failed on %s %s", pending.method, pending.url.partition("?")[0][:200])
                answer = web.Response(status=500, text="Internal error: the gateway failed; its log has the details")
                keep = False
            if self._closing or self.transport is None:
                if isinstance(answer, StreamedAnswer) and answer.on_done is not None:
                    answer.on_done()
                return False
            head_only = pending.method == "HEAD"
            if isinstance(answer, StreamedAnswer):
                return await self._stream(answer, pending.version, keep, head_only)
            self._write(answer, pending.version, keep, head_only)
            return keep
        finally:
            self._server.in_flight -= 1

    def _write(self, answer: ProxiedAnswer | web.StreamResponse, version: tuple[int, int], keep: bool,
               head_only: bool) -> None:
        if isinstance(answer, ProxiedAnswer):
            self._write_proxied(answer, version, keep, head_only)
        else:
            self._write_response(answer, version, keep, head_only)

    def _write_proxied(self, answer: ProxiedAnswer, version: tuple[int, int], keep: bool, head_only: bool) -> None:
        assert self.transport is not None
        bodiless = answer.status in (204, 304) or answer.status < 200
        extra = ("" if bodiless else f"Content-Length: {len(answer.body)}\r\n") + ("" if keep else "Connection: close\r\n")
        headers = answer.headers
        if isinstance(headers, bytes):
            head = _status_line(answer.status, None, version) + headers + extra.encode() + b"\r\n"
        else:
            head = _head(answer.status, None, headers, version, extra)
        self.transport.write(head if head_only or bodiless or not answer.body else head + answer.body)

    def _write_response(self, response: web.StreamResponse, version: tuple[int, int], keep: bool, head_only: bool) -> None:
        assert self.transport is not None
        body = getattr(response, "body", None)
        if body is None:
            body = b""
        elif not isinstance(body, (bytes, bytearray)):
            body = bytes(getattr(body, "_value", b""))  # an aiohttp payload of bytes
        bodiless = response.status in (204, 304) or response.status < 200
        extra = ("" if bodiless else f"Content-Length: {len(body)}\r\n") + ("" if keep else "Connection: close\r\n")
        head = _head(response.status, response.reason, response.headers, version, extra)
        self.transport.write(head if head_only or bodiless or not body else head + bytes(body))

    async def _stream(self, answer: StreamedAnswer, version: tuple[int, int], keep: bool, head_only: bool) -> bool:
        assert self.transport is not None
        if answer.status in (204, 304) or answer.status < 200:
            head_only = True  # no body, whatever the chunks say
        chunked = version >= (1, 1) and not head_only
        extra = ("Transfer-Encoding: chunked\r\n" if chunked else "") + ("" if keep and chunked else "Connection: close\r\n")
        try:
            self.transport.write(_head(answer.status, None, answer.headers, version, extra))
            if head_only:
                return keep and chunked
            async for chunk in answer.chunks:
                if not chunk:
                    continue
                if self._closing:
                    return False
                self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                if self._write_ready is not None and not self._write_ready.done():
                    await self._write_ready
            if chunked:
                self.transport.write(b"0\r\n\r\n")
            return keep and chunked
        except ConnectionError as e:
            log.debug("client %s went away during the answer: %s", self._remote, type(e).__name__)
            return False
        finally:
            if answer.on_done is not None:
                answer.on_done()

    # -- deadlines and closing ----------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self.deadline = self._loop.time() + seconds

    def _disarm(self) -> None:
        self.deadline = None

    def timed_out(self) -> None:
        """Called by the server's sweep once the deadline passed."""
        self.deadline = None
        if self._task is not None or self._fast is not None:
            return  # answering: the answer decides
        if self._in_message:
            self._refuse(408, "Request timeout: the request was not complete in time")
        else:
            self._close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` and close; requests already queued are answered first."""
        if self._closing:
            return
        if self._task is not None or self._queue or self._fast is not None:
            self._refusal = _plain(status, message)
            if self.transport is not None:
                self.transport.pause_reading()  # nothing after a bad request is read
            return
        if self.transport is not None:
            self.transport.write(_plain(status, message))
        self._close()

    def _close(self) -> None:
        self._closing = True
        self._disarm()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def close_if_idle(self) -> bool:
        if self._task is None and not self._queue and self._fast is None:
            self._close()
            return True
        return False


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(eq=False)
class PublicServer:
    app: web.Application
    handler: Handler
    max_body: int
    keepalive_timeout: float = 75.0
    connections: set[_Connection] = field(default_factory=set)
    in_flight: int = 0
    closing: bool = False
    server: asyncio.AbstractServer | None = None
    sweeper: asyncio.Task[None] | None = None
    fast: FastPath | None = None
    """Offered each GET before the pipeline (app.py's `public_fast_path`); None: every request runs the pipeline."""

    async def sweep(self) -> None:
        """Once a second: close idle keep-alive connections and refuse requests not complete in time."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for connection in list(self.connections):
                if connection.deadline is not None and now >= connection.deadline:
                    connection.timed_out()

    @property
    def port(self) -> int:
        sockets = getattr(self.server, "sockets", None)  # asyncio's and uvloop's servers both have them
        assert sockets, "the public server is not listening"
        return int(sockets[0].getsockname()[1])

    async def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, let running requests finish (at most `timeout`), then close every connection."""
        self.closing = True
        if self.sweeper is not None:
            self.sweeper.cancel()
            await asyncio.gather(self.sweeper, return_exceptions=True)
        if self.server is not None:
            self.server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            busy = [c for c in list(self.connections) if not c.close_if_idle()]
            if not busy or loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection._close()
        if self.server is not None:
            await self.server.wait_closed()


async def start_public_server(app: web.Application, handler: Handler, host: str, port: int, *, max_body: int,
                              keepalive_timeout: float = 75.0, reuse_port: bool = False,
                              fast: FastPath | None = None) -> PublicServer:
    """Serve `handler` (app.py's public pipeline) on host:port; `app` must be started (AppRunner.setup);
    `fast` is offered each GET first (see FastPath)."""
    public = PublicServer(app, handler, max_body, keepalive_timeout, fast=fast)
    loop = asyncio.get_running_loop()
    public.server = await loop.create_server(lambda: _Connection(public), host, port, reuse_address=True,
                                             reuse_port=reuse_port or None, backlog=1024)
    public.sweeper = loop.create_task(public.sweep(), name="gateway connection deadlines")
    return public
