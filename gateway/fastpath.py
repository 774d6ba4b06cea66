"""The follow-up fast path (issue #19): a statement page poll answered from protocol callbacks, without a task.

Result-page polling is almost all of a gateway's traffic, and a poll usually needs nothing that must be
waited for. The public server offers every GET here as soon as it is parsed (gateway/server.py `FastPath`).
A poll is taken when all of this is known at once: the target is canonical, the connection's header
lines already passed the edge's checks (their verdict is memoised per connection), authentication needs no
waiting (auth off, API keys), the Trino user is allowed, the query is not held and this replica remembers
its backend, the caller may follow it, its runtime is not paused, its coordinator did not restart, and
an idle keep-alive connection to that backend is free. The GET then goes out from the client parser's
callback, and the answer goes back from the backend parser's callback, with the pipeline's in-flight
accounting, metrics and access-log line.

Everything else runs the full pipeline (app.py), which decides exactly as before: statements, held
queries, a backend known only to Redis, OAuth tokens, tracing, any refusal, a busy pool. An answer larger
than SMALL_BODY (or without a length) is streamed by the full writer. A reused backend connection that
died before any answer was sent nothing the backend saw, so the poll runs the full pipeline afresh (as
the pipeline's own client sends such a GET again); any other backend failure is answered 502, as the
pipeline answers it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from aiohttp import web

from gateway.auth import AuthError, Forbidden
from gateway.edge import HEADERS_VERDICT, ClientView, page_poll
from gateway.forward import SMALL_BODY
from gateway.proxy import ENDPOINT, PRINCIPAL, TARGET, TRINO_USER, VIEW
from gateway.server import Answer, FastReply, GatewayRequest, ProxiedAnswer
from gateway.upstream import UpstreamResponse

if TYPE_CHECKING:
    from gateway.app import Live

__all__ = ["FastFollowUps"]

_PAGES = "/v1/statement/"
_KIND = "follow_up"


class FastFollowUps:
    """The server's fast path (call it with a parsed GET and its connection); `taken` counts the polls it
    took, `resent` those it handed back to the pipeline after a reused backend connection died unanswered."""

    def __init__(self, live: Live, pipeline: Callable[[web.Request], Awaitable[Answer]],
                 record: Callable[[web.Request, str, int, float], None]) -> None:
        self._live = live
        self._pipeline = pipeline
        self._record = record
        self.taken = 0
        self.resent = 0

    def __call__(self, request: GatewayRequest, reply: FastReply) -> bool:
        if not request.raw_path.startswith(_PAGES) or request.body_exists or request.memo is None:
            return False
        view = request.memo.get(HEADERS_VERDICT)
        live = self._live
        if not isinstance(view, ClientView) or not live.started or not live.authenticator.synchronous:
            return False
        proxy, authenticator = live.proxy, live.authenticator
        started = time.perf_counter()
        poll = page_poll(request.raw_path)
        if poll is None:
            return False
        target, endpoint = poll
        pipelined = cast(web.Request, request)  # the pipeline's view of it (GatewayRequest offers that API)
        pipelined[TARGET], pipelined[ENDPOINT], pipelined[VIEW] = target, endpoint, view
        try:
            principal = pipelined[PRINCIPAL] = authenticator.verify_now(pipelined)
            pipelined[TRINO_USER] = proxy.access.trino_user(principal, request.headers)
        except (AuthError, Forbidden):
            return False  # the pipeline refuses it, with its metrics
        found = proxy.follow_up_now(pipelined, endpoint)
        if found is None:
            return False
        upstream = proxy.forwarder.try_open(found.backend, target.path_qs,
                                            proxy.encoded_upstream_headers(pipelined))
        if upstream is None:
            return False
        self.taken += 1
        upstream.watch(functools.partial(self._settled, pipelined, reply, found.backend, started), SMALL_BODY)
        return True

    def _settled(self, request: web.Request, reply: FastReply, backend: str, started: float,
                 upstream: UpstreamResponse) -> None:
        """The backend answered (whole, or its headers when it is large), or failed: answer the client."""
        try:
            proxy = self._live.proxy
            error = upstream.error
            if error is not None:
                upstream.release()
                if upstream.reused and not upstream.received:
                    self.resent += 1
                    reply.fast_continue(self._pipeline(request))
                    return
                self._answered(request, reply, proxy.upstream_failed(backend, error), started)
                return
            proxy.forwarder.observe(_KIND, time.perf_counter() - started)
            query_id = request[ENDPOINT].query_id
            assert query_id is not None
            on_head = proxy.page_watch(request, query_id, upstream)
            if upstream.complete:
                self._answered(request, reply, proxy.forwarder.answer_now(upstream, on_head), started)
            else:
                reply.fast_continue(self._streamed(request, upstream, on_head, started))
        except Exception as e:  # the connection's writer logs it and answers 500, as for the pipeline
            upstream.release()
            reply.fast_continue(self._failed(request, e, started))

    def _answered(self, request: web.Request, reply: FastReply, answer: ProxiedAnswer | web.StreamResponse,
                  started: float) -> None:
        self._record(request, _KIND, answer.status, time.perf_counter() - started)
        reply.fast_answered(answer)

    async def _failed(self, request: web.Request, error: Exception, started: float) -> Answer:
        self._record(request, _KIND, 500, time.perf_counter() - started)
        raise error

    async def _streamed(self, request: web.Request, upstream: UpstreamResponse,
                        on_head: Callable[[bytes], None] | None, started: float) -> Answer:
        status = 500
        try:
            answer = await self._live.proxy.forwarder.stream(upstream, on_head)
            status = answer.status
            return answer
        finally:
            self._record(request, _KIND, status, time.perf_counter() - started)
