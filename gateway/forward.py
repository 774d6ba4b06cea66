"""Forwarding one request to a backend: header hygiene, X-Forwarded-*, and byte-for-byte streaming back.

Hop-by-hop headers go; the client's forwarded headers go unless a trusted proxy sent them (the
gateway sets its own from `ClientView`); the gateway's own credential (X-API-Key, or an API key sent
as a Bearer token) never goes upstream; every other X-Trino-* header and a JWT Authorization pass
untouched. Bodies are never decoded or re-serialised, only the head of a page is peeked. A client
that goes away mid-answer is a DEBUG line, not an error.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.edge import ClientView
from gateway.metrics import GatewayMetrics
from gateway.server import ProxiedAnswer, StreamedAnswer
from gateway.upstream import HOP_BY_HOP, ConnectFailed, EncodedHeaders, UpstreamClient, UpstreamError, UpstreamResponse
from xtrinode.trino_protocol import Header

__all__ = [
    "SMALL_BODY",
    "Forwarder",
    "NotReached",
    "UpstreamError",
    "UpstreamReply",
    "downstream_headers",
    "upstream_headers",
]

SMALL_BODY = 256 * 1024
"""Answers of known length up to this are read whole and sent in one write (fewer syscalls)."""

log = logging.getLogger("xtrinode.gateway.forward")

_NOT_FORWARDED_REQUEST = HOP_BY_HOP | {
    "host",
    # set by the gateway from ClientView, never taken from the client as sent
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-real-ip",
    # the gateway's own credential
    "x-api-key",
}


class NotReached(Exception):
    """The request never reached the backend (connect failed), so sending it elsewhere is safe."""

    def __init__(self, backend: str, cause: BaseException) -> None:
        super().__init__(f"could not connect to {backend}: {type(cause).__name__}: {str(cause)[:200]}")
        self.backend = backend


def _connection_tokens(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("Connection", "")
    return {t.strip().lower() for t in value.split(",") if t.strip()}


def upstream_headers(
    request: web.BaseRequest, view: ClientView, *, trino_user: str | None = None, drop_authorization: bool = False
) -> CIMultiDict[str]:
    """The client's headers as the backend should see them, with X-Forwarded-* pointing at the gateway.

    `trino_user` replaces X-Trino-User (the authenticated principal's user); `drop_authorization`
    removes an Authorization header that carried the gateway's own API key.
    """
    drop = _NOT_FORWARDED_REQUEST | _connection_tokens(request.headers)
    if drop_authorization:
        drop = drop | {"authorization"}
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        if name.lower() not in drop:
            out.add(name, value)
    out[Header.FORWARDED_FOR] = view.forwarded_for
    out[Header.FORWARDED_PROTO] = view.scheme
    out[Header.FORWARDED_HOST] = view.host
    if view.port:
        out[Header.FORWARDED_PORT] = view.port
    if view.prefix:
        out[Header.FORWARDED_PREFIX] = view.prefix
    if trino_user is not None:
        out.popall("X-Presto-User", None)
        out[Header.USER] = trino_user
    if "Accept-Encoding" not in out:
        # The client session would add its own (gzip, deflate): the backend then compresses answers for
        # a client that never asked for it. Say exactly what the client said: nothing means identity.
        out["Accept-Encoding"] = "identity"
    return out


def downstream_headers(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> CIMultiDict[str]:
    """The backend's response headers minus hop-by-hop ones (Content-Length stays: bytes pass unchanged)."""
    drop = HOP_BY_HOP | _connection_tokens(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in drop:
            out.add(name, value)
    return out


def downstream_list(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`downstream_headers` for a header list as received (the proxied fast path); framing headers go too."""
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    drop = HOP_BY_HOP | {"content-length"} | tokens
    return [(name, value) for name, value in headers if name.lower() not in drop]


def json_body(body: bytes, content_encoding: str | None) -> Any:
    """JSON of a backend body as sent (`Content-Encoding` gzip or deflate honoured); ValueError when it is not."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("gzip", "deflate"):
        try:
            body = zlib.decompress(body, zlib.MAX_WBITS | 32) if encoding == "gzip" else _inflate(body)
        except zlib.error as e:
            raise ValueError(f"cannot decode a {encoding} body: {e}") from e
    elif encoding != "identity":
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    return json.loads(body)


def _inflate(body: bytes) -> bytes:
    try:
        return zlib.decompress(body)  # zlib-wrapped, as HTTP deflate should be
    except zlib.error:
        return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send


@dataclass(slots=True)
class UpstreamReply:
    """A small backend response read whole (the first POST answer of a statement)."""

    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, decompressed first when the backend compressed it (real Trino gzips its
        responses to clients that accept gzip, and the proxy's session passes bodies through undecoded)."""
        return json_body(self.body, self.headers.get("Content-Encoding"))

    def to_response(self) -> ProxiedAnswer:
        return ProxiedAnswer(self.status, [(n, v) for n, v in self.headers.items() if n.lower() != "content-length"],
                             self.body)


class Forwarder:
    """Sends requests to backends over the lean keep-alive client (gateway/upstream.py)."""

    def __init__(self, client: UpstreamClient, resolve: Callable[[str], str], metrics: GatewayMetrics) -> None:
        self._client = client
        self._resolve = resolve
        self._metrics = metrics

    async def open(
        self, method: str, backend: str, path_qs: str, headers: EncodedHeaders | Mapping[str, str], body: bytes,
        kind: str,
    ) -> UpstreamResponse:
        """Send and return the response with its headers read; raises NotReached if the connect failed and
        UpstreamError if the backend failed after the request may have reached it."""
        started = time.perf_counter()
        try:
            response = await self._client.request(method, self._resolve(backend), path_qs, headers, body)
        except ConnectFailed as e:
            raise NotReached(backend, e) from e
        self._metrics.observe_upstream(kind, time.perf_counter() - started)
        return response

    def try_open(self, backend: str, path_qs: str, headers: EncodedHeaders, method: str = "GET",
                 body: bytes = b"") -> UpstreamResponse | None:
        """Send a request now on an idle keep-alive connection (the fast path), or None: use `open`."""
        return self._client.try_send(self._resolve(backend), path_qs, headers, method, body)

    def observe(self, kind: str, seconds: float) -> None:
        self._metrics.observe_upstream(kind, seconds)

    @classmethod
    def answer_now(cls, response: UpstreamResponse, on_head: Callable[[bytes], None] | None = None) -> ProxiedAnswer:
        """A complete answer for the client without awaiting (what `stream` makes of a small one)."""
        return cls.small(response, response.take_body(), on_head)

    @staticmethod
    def small(response: UpstreamResponse, body: bytes, on_head: Callable[[bytes], None] | None = None) -> ProxiedAnswer:
        """A small answer read whole, for the client (`on_head` sees its body)."""
        if on_head is not None:
            on_head(body)
        passed = response.passed_headers
        return ProxiedAnswer(response.status, passed if passed is not None else downstream_list(response.header_list),
                             body)

    async def fetch(
        self, method: str, backend: str, path_qs: str, headers: EncodedHeaders | Mapping[str, str], body: bytes,
        kind: str
    ) -> UpstreamReply:
        """Send and read the whole (small) answer."""
        response = await self.open(method, backend, path_qs, headers, body, kind)
        payload = await response.read()
        return UpstreamReply(response.status, downstream_headers(response.headers), payload)

    async def stream(
        self, response: UpstreamResponse, on_head: Callable[[bytes], None] | None = None
    ) -> ProxiedAnswer | StreamedAnswer:
        """The backend's answer for the client; `on_head` sees the first chunk.

        An answer of known length up to SMALL_BODY (every result page in practice) is read whole and sent
        with its headers in one write; a larger or chunked one streams chunk by chunk (the public server
        writes it; a client that goes away ends the copy quietly).
        """
        length = response.content_length
        if response.complete or (length is not None and length <= SMALL_BODY):  # 204/304 are complete at once
            body = await response.read()
            return self.small(response, body, on_head)
        headers = downstream_headers(response.headers)
        headers.popall("Content-Length", None)

        async def chunks() -> AsyncIterator[bytes]:
            first = True
            async for chunk in response.iter_chunks():
                if first and on_head is not None:
                    on_head(chunk)
                first = False
                yield chunk
            if first and on_head is not None:
                on_head(b"")

        return StreamedAnswer(response.status, headers, chunks(), on_done=response.release)
