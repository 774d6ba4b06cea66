"""A lean HTTP/1.1 client for the proxy's upstream requests: keep-alive connections per backend, one write
per request, responses parsed by httptools (C), bodies read whole when small or streamed with backpressure.

The proxy sends many small requests (statement pages) to few backends; aiohttp's general-purpose client
spent about a third of the gateway's CPU per request on them (issue #19). This client does only what the
proxy needs: no redirects, cookies, proxies or TLS (backends are in-cluster Services over plain HTTP),
and never retries a request that may have reached the backend.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["HOP_BY_HOP", "ConnectFailed", "EncodedHeaders", "UpstreamClient", "UpstreamError", "UpstreamResponse",
           "encode_headers"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers of one hop (RFC 9110 7.6.1), never passed on by a proxy."""
_NOT_PASSED = frozenset(name.encode() for name in HOP_BY_HOP | {"content-length"})
"""Answer header names left out of the block passed to the client (it frames the answer itself)."""
_PLAIN_CONNECTION = frozenset({b"close", b"keep-alive"})

_HIGH_WATER = 256 * 1024
"""Buffered body bytes of a streamed answer before reading from the backend pauses."""
_MAX_IDLE = 30.0
"""Idle connections older than this are closed rather than reused (backends close idle ones at 60+ s)."""
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class EncodedHeaders(bytes):
    """Request header lines already encoded (`Name: value\r\n` each), without Host and framing headers:
    what a proxied request sends on every poll of a query, built once per client connection."""


_NOT_SENT = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def encode_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> EncodedHeaders:
    """The header lines a request carries upstream (Host and framing are the client's own to set)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    text = "".join([f"{name}: {value}\r\n" for name, value in items if name.lower() not in _NOT_SENT])
    return EncodedHeaders(text.encode("latin-1") if text.isascii() else text.encode("utf-8"))


class UpstreamError(Exception):
    """The backend failed after the request may have reached it (reset, bad response): never retry."""


class ConnectFailed(UpstreamError):
    """No connection could be made: the request never reached the backend, so sending it elsewhere is safe."""


def _plain_connection(value: bytes) -> bool:
    """True when a Connection header only says close or keep-alive (names no other header)."""
    return all(token.strip().lower() in _PLAIN_CONNECTION for token in value.split(b","))


def _encoded(text: str) -> bytes:
    return text.encode("latin-1") if text.isascii() else text.encode("utf-8")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self.loop = asyncio.get_running_loop()  # looked up once: each lookup costs a getpid() on Python 3.11
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._response: UpstreamResponse | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self.used = False
        """True once a request went out on it (a reused connection may have been closed by the backend)."""
        self._head = False

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - backends never upgrade
            self._fail(UpstreamError("the backend switched protocols"))
        except httptools.HttpParserError as e:
            self._fail(UpstreamError(f"the backend sent an invalid HTTP response: {e}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.discard(self)
        response = self._response
        if response is not None and not response.complete:
            delimited_by_close = (response.headers_arrived and response.content_length is None
                                  and not any(n.lower() == "transfer-encoding" and "chunked" in v.lower()
                                              for n, v in response.header_list))
            if delimited_by_close:
                self.reusable = False
                response.finish()
            else:
                self._fail(UpstreamError(
                    f"the backend closed the connection mid-answer ({type(exc).__name__ if exc else 'EOF'})"))

    def pause_writing(self) -> None:  # request bodies are small; nothing to pause
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ----------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def pool_slot_free(self) -> None:
        self._pool.slots.release()

    def on_headers_complete(self) -> None:
        response = self._response
        if response is None:
            return
        response.received = True
        response.status = self._parser.get_status_code()
        response.raw_headers = raw = self._headers
        self._headers = []
        length = encoding = None
        passed: list[bytes] | None = []
        for name, value in raw:  # one pass: framing, the encoding, and the block passed to the client as it came
            lowered = name.lower()
            if lowered in _NOT_PASSED:
                if lowered == b"content-length":
                    length = value
                elif lowered == b"connection" and passed is not None and not _plain_connection(value):
                    passed = None  # it names headers to drop too: the client's block is built by name
                continue
            if lowered == b"content-encoding":
                encoding = value
            if passed is not None:
                passed += (name, b": ", value, b"\r\n")
        response.content_length = int(length) if length is not None and length.isdigit() else None
        response.content_encoding = encoding.decode("latin-1") if encoding is not None else None
        response.passed_headers = b"".join(passed) if passed is not None else None
        response.headers_arrived = True
        ready = response.ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        if response.watcher is not None and (response.content_length is None or response.content_length > response.small):
            response.settled()  # a large or unframed answer: the watcher streams it
        if self._head:  # no body follows a HEAD answer; the parser cannot know: never reuse this connection
            self.reusable = False
            response.content_length = 0
            response.finish()

    def on_body(self, body: bytes) -> None:
        response = self._response
        if response is not None:
            response.feed(body)

    def on_message_complete(self) -> None:
        response = self._response
        if response is None:
            return
        self.reusable = self._parser.should_keep_alive()
        response.finish()

    # -- requests ---------------------------------------------------------------------------------
    def send(self, payload: bytes, head: bool = False) -> UpstreamResponse:
        assert self.transport is not None
        self._head = head
        self._response = UpstreamResponse(self)
        self.reusable = False
        self.used = True
        self.transport.write(payload)
        return self._response

    def _fail(self, error: Exception) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.fail(error)
        if self.transport is not None:
            self.transport.close()

    def done_with(self, response: UpstreamResponse) -> None:
        """The response was read to its end (or abandoned): back to the idle list, or closed."""
        if self._response is not response:
            return
        self._response = None
        if self.closed or self.transport is None:
            return
        if response.complete and self.reusable and response.error is None:
            if not self.transport.is_reading():
                self.transport.resume_reading()
            self.idle_since = self.loop.time()
            self._pool.idle.append(self)
        else:
            self.transport.close()


class UpstreamResponse:
    """Status, headers and the body of one answer; use `async with` (or `read()`) so the connection is returned."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self._loop = connection.loop
        self.ready: asyncio.Future[None] | None = None
        """Made when someone awaits `headers_ready` (a watched answer needs no future)."""
        self.headers_arrived = False
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        """The answer's headers as received (names as sent)."""
        self._headers: CIMultiDictProxy[str] | None = None
        self.content_length: int | None = None
        self.content_encoding: str | None = None
        self.passed_headers: bytes | None = None
        """The header lines a client gets as they came (`Name: value\r\n` each), without hop-by-hop and framing
        ones; None when a Connection header names more headers to drop (then use `header_list`)."""
        self.complete = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._error: Exception | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._paused = False
        self._released = False
        self.received = False
        """True once any byte of the answer arrived (so the request surely reached the backend)."""
        self.reused = connection.used
        """The request went out on a connection used before (the backend may have closed it unseen)."""
        self.watcher: Callable[[UpstreamResponse], None] | None = None
        self.small = 0

    def watch(self, watcher: Callable[[UpstreamResponse], None], small: int) -> None:
        """Call `watcher` once, without a task, when the answer is complete, failed, or turned out larger than
        `small` bytes or unframed at its headers (then read it with `iter_chunks`)."""
        self.watcher, self.small = watcher, small
        if self.complete or self._error is not None:
            self.settled()  # it ended before anyone watched

    def settled(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher(self)

    def take_body(self) -> bytes:
        """The body of a complete answer (then the connection goes back to the pool)."""
        assert self.complete and self._error is None
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self.release()
        return body

    @property
    def headers_ready(self) -> asyncio.Future[None]:
        """Done when the headers arrived; failed with the error when the answer failed before them."""
        if self.ready is None:
            self.ready = self._loop.create_future()
            if self.headers_arrived:
                self.ready.set_result(None)
            elif self._error is not None:
                self.ready.set_exception(self._error)
                self.ready.exception()
        return self.ready

    @property
    def error(self) -> Exception | None:
        return self._error

    @property
    def reason(self) -> str | None:
        return None

    @property
    def header_list(self) -> list[tuple[str, str]]:
        """The answer's headers as received, decoded as latin-1."""
        return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self.raw_headers]

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers as a case-insensitive multidict (built on first use)."""
        if self._headers is None:
            self._headers = CIMultiDictProxy(CIMultiDict(self.header_list))
        return self._headers

    def feed(self, data: bytes) -> None:
        self.received = True
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _HIGH_WATER and not self._paused and self._connection.transport is not None:
            self._connection.transport.pause_reading()
            self._paused = True
        self._wake()

    def finish(self) -> None:
        self.complete = True
        self._wake()
        if self.watcher is not None:
            self.settled()

    def fail(self, error: Exception) -> None:
        self._error = error
        ready = self.ready
        if ready is not None and not ready.done():
            ready.set_exception(error)
            ready.exception()  # seen: the waiter gets it from _wait_headers
        self._wake()
        if self.watcher is not None:
            self.settled()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _more(self) -> None:
        self._wakeup = self._loop.create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    async def read(self) -> bytes:
        """The whole body (then the connection goes back to the pool)."""
        try:
            while not self.complete and self._error is None:
                await self._more()
            if self._error is not None:
                raise self._error
        except BaseException:
            self.release()
            raise
        return self.take_body()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (reading resumes as the buffer drains)."""
        try:
            while True:
                if self._chunks:
                    chunk = self._chunks.popleft()
                    self._buffered -= len(chunk)
                    if self._paused and self._buffered < _HIGH_WATER // 2 and self._connection.transport is not None:
                        self._connection.transport.resume_reading()
                        self._paused = False
                    yield chunk
                    continue
                if self._error is not None:
                    raise self._error
                if self.complete:
                    return
                await self._more()
        finally:
            self.release()

    def release(self) -> None:
        """Idempotent: the connection goes back (or closes) and its pool slot frees."""
        if self._released:
            return
        self._released = True
        self._connection.done_with(self)
        self._connection.pool_slot_free()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class _Slots:
    """A semaphore that can also be taken without waiting (`try_acquire`, for the fast path); a released slot
    goes to the longest waiter first."""

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_acquire(self) -> bool:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # release() hands its slot to this waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot came, but the waiter is gone: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class _Pool:
    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port = host, port
        self.idle: list[_Connection] = []
        self.slots = _Slots(limit)
        """Connections in use at most (the per-backend pool size)."""

    def discard(self, connection: _Connection) -> None:
        if connection in self.idle:
            self.idle.remove(connection)


class UpstreamClient:
    """Requests to backends (`http://host:port` base URLs), pooled per backend."""

    def __init__(self, *, connect_timeout: float, limit_per_backend: int) -> None:
        self._connect_timeout = connect_timeout
        self._limit = limit_per_backend
        self._pools: dict[tuple[str, int], _Pool] = {}
        self._by_base: dict[str, _Pool] = {}
        """The pool of each backend URL seen (parsing the URL per request cost more than the lookup)."""
        self._all: set[_Connection] = set()

    def _pool(self, base: str) -> _Pool:
        pool = self._by_base.get(base)
        if pool is not None:
            return pool
        parts = urlsplit(base)
        if parts.scheme != "http" or not parts.hostname:
            raise ConnectFailed(f"backend {base!r} is not an http://host:port URL")
        key = (parts.hostname, parts.port or 80)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(key[0], key[1], self._limit)
        if len(self._by_base) > 4096:  # backends come and go with runtimes: bounded
            self._by_base.clear()
        self._by_base[base] = pool
        return pool

    @staticmethod
    def _idle(pool: _Pool) -> _Connection | None:
        while pool.idle:
            connection = pool.idle.pop()
            usable = not connection.closed and connection.transport is not None and not connection.transport.is_closing()
            if usable and connection.loop.time() - connection.idle_since < _MAX_IDLE:
                return connection
            if connection.transport is not None:
                connection.transport.close()
        return None

    async def _connection(self, pool: _Pool, fresh: bool = False) -> _Connection:
        if not fresh:
            idle = self._idle(pool)
            if idle is not None:
                return idle
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(pool), pool.host, pool.port), self._connect_timeout)
        except (OSError, TimeoutError) as e:
            raise ConnectFailed(f"could not connect to {pool.host}:{pool.port}: {type(e).__name__}: {str(e)[:200]}") from e
        self._all.add(protocol)
        return protocol

    @staticmethod
    def _payload(method: str, pool: _Pool, path_qs: str,
                 headers: EncodedHeaders | Iterable[tuple[str, str]] | Mapping[str, str], body: bytes) -> bytes:
        block = headers if isinstance(headers, EncodedHeaders) else encode_headers(headers)
        line = f"{method} {path_qs} HTTP/1.1\r\nHost: {pool.host}:{pool.port}\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            return _encoded(line) + block + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        return _encoded(line) + block + b"\r\n"

    async def request(self, method: str, base: str, path_qs: str,
                      headers: EncodedHeaders | Iterable[tuple[str, str]] | Mapping[str, str],
                      body: bytes = b"") -> UpstreamResponse:
        """Send one request; returns once the answer's headers arrived. ConnectFailed if it never left.

        An idempotent request whose reused connection turns out closed before any answer is sent once
        more on a new connection; other failures after sending raise UpstreamError (never retried).
        """
        pool = self._pool(base)
        payload = self._payload(method, pool, path_qs, headers, body)
        await pool.slots.acquire()
        for attempt in (1, 2):
            try:
                connection = await self._connection(pool, fresh=attempt == 2)
            except ConnectFailed:
                pool.slots.release()
                raise
            reused = connection.used
            response = connection.send(payload, head=method == "HEAD")
            try:
                await response.headers_ready
                return response
            except UpstreamError:
                retry = attempt == 1 and reused and not response.received and method in _IDEMPOTENT
                response._released = True  # noqa: SLF001 - the slot stays with this request
                connection.done_with(response)
                if not retry:
                    pool.slots.release()
                    raise
            except asyncio.CancelledError:
                response.release()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def try_send(self, base: str, path_qs: str, headers: EncodedHeaders, method: str = "GET",
                 body: bytes = b"") -> UpstreamResponse | None:
        """Send a request now on an idle keep-alive connection, or None (no free slot, no idle connection, a
        bad base URL: use `request`, which waits and connects). The caller watches the response or awaits
        `headers_ready`, and releases it. A failure on a reused connection before any answer (`reused and not
        received`) may mean the backend closed it unseen: only an idempotent request may be sent again (as
        `request` does); any other must be reported as possibly received."""
        pool = self._by_base.get(base)
        if pool is None or not pool.slots.try_acquire():
            return None
        connection = self._idle(pool)
        if connection is None:
            pool.slots.release()
            return None
        return connection.send(self._payload(method, pool, path_qs, headers, body), head=method == "HEAD")

    async def close(self) -> None:
        for connection in list(self._all):
            if connection.transport is not None:
                connection.transport.close()
        self._all.clear()
        self._pools.clear()
        self._by_base.clear()
