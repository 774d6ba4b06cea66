"""The fast path (issue #19): statement page polls and new statements answered from protocol callbacks.

Result-page polling is almost all of a gateway's traffic, and a poll usually needs nothing that must be
waited for; nor does a new statement when its rate limit is decided in this replica. The public server
offers every GET and POST here as soon as it is parsed (gateway/server.py `FastPath`). A request is taken
when all of this is known at once: the target is canonical, the connection's header lines already passed
the edge's checks (their verdict is memoised per connection), authentication needs no waiting (auth
off, API keys, an OAuth token whose signing key is loaded), the Trino user is allowed, and an idle
keep-alive connection to the backend is free. The request then goes out from the client parser's
callback, and the answer goes back from the backend parser's callback, with the pipeline's accounting:
the requests metric, latency histograms, in-flight counts, sticky routes and the access-log line.

A poll also needs: the query is not held and this replica remembers its backend, the caller may follow
it, its runtime is not paused, its coordinator did not restart. A new statement (`POST /v1/statement`)
also needs: the route table is loaded, the statement is routed and allowed to a RUNNING runtime that
needs no resume, and its rate limit (when on) is decided by this replica's buckets (no Redis). When
Redis shares the sticky routes, the new query's route is written there before the client sees its
first page (the answer then finishes in a task), as the pipeline does.

Everything else runs the full pipeline (app.py), which decides exactly as before: held queries, a
backend known only to Redis, a token whose key must be fetched, tracing, any refusal, a busy pool. An
answer larger than SMALL_BODY (or without a length) is read or streamed by the pipeline's code in a
task. A poll whose reused backend connection died before any answer runs the full pipeline afresh (as
the pipeline's own client sends such a GET again); a statement is never sent twice: any backend
failure after it went out is the pipeline's "it may have started" error, and a poll's is the
pipeline's 502.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from aiohttp import web

from gateway.auth import AuthError, Forbidden, Undecided
from gateway.edge import HEADERS_VERDICT, ClientView, Endpoint, EndpointKind, RequestTarget, page_poll
from gateway.forward import SMALL_BODY, Forwarder
from gateway.proxy import ENDPOINT, PRINCIPAL, TARGET, TRINO_USER, VIEW
from gateway.routing import Plan
from gateway.server import Answer, FastReply, GatewayRequest, ProxiedAnswer
from gateway.upstream import UpstreamError, UpstreamResponse

if TYPE_CHECKING:
    from gateway.app import Live

__all__ = ["FastProxy"]

_PAGES = "/v1/statement/"
_STATEMENTS = "/v1/statement"
_STATEMENT_TARGET = RequestTarget(_STATEMENTS, "")
_STATEMENT_ENDPOINT = Endpoint(EndpointKind.STATEMENT)
_FOLLOW_UP = "follow_up"
_STATEMENT = "statement"


class FastProxy:
    """The server's fast path (call it with a parsed GET or POST and its connection). `taken` counts the polls
    it took, `statements` the new statements, `resent` the polls it handed back to the pipeline after a
    reused backend connection died unanswered."""

    def __init__(self, live: Live, pipeline: Callable[[web.Request], Awaitable[Answer]],
                 record: Callable[[web.Request, str, int, float], None]) -> None:
        self._live = live
        self._pipeline = pipeline
        self._record = record
        self.taken = 0
        self.statements = 0
        self.resent = 0

    def __call__(self, request: GatewayRequest, reply: FastReply) -> bool:
        if request.memo is None:
            return False
        view = request.memo.get(HEADERS_VERDICT)
        live = self._live
        if not isinstance(view, ClientView) or not live.started or not live.authenticator.synchronous:
            return False
        started = time.perf_counter()
        if request.method == "POST":
            if request.raw_path != _STATEMENTS:
                return False
            target, endpoint = _STATEMENT_TARGET, _STATEMENT_ENDPOINT
        else:
            if not request.raw_path.startswith(_PAGES) or request.body_exists:
                return False
            poll = page_poll(request.raw_path)
            if poll is None:
                return False
            target, endpoint = poll
        pipelined = cast(web.Request, request)  # the pipeline's view of it (GatewayRequest offers that API)
        pipelined[TARGET], pipelined[ENDPOINT], pipelined[VIEW] = target, endpoint, view
        proxy = live.proxy
        try:
            principal = pipelined[PRINCIPAL] = live.authenticator.verify_now(pipelined)
            pipelined[TRINO_USER] = proxy.access.trino_user(principal, request.headers)
        except (AuthError, Forbidden, Undecided):
            return False  # the pipeline refuses it with its metrics (or waits for the token's key)
        if endpoint is _STATEMENT_ENDPOINT:
            return self._statement(request, pipelined, reply, started)
        found = proxy.follow_up_now(pipelined, endpoint)
        if found is None:
            return False
        upstream = proxy.forwarder.try_open(found.backend, target.path_qs, proxy.encoded_upstream_headers(pipelined))
        if upstream is None:
            return False
        self.taken += 1
        upstream.watch(functools.partial(self._polled, pipelined, reply, found.backend, started), SMALL_BODY)
        return True

    # -- page polls -----------------------------------------------------------------------------------
    def _polled(self, request: web.Request, reply: FastReply, backend: str, started: float,
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
                self._answered(request, reply, proxy.upstream_failed(backend, error), started, _FOLLOW_UP)
                return
            proxy.forwarder.observe(_FOLLOW_UP, time.perf_counter() - started)
            query_id = request[ENDPOINT].query_id
            assert query_id is not None
            on_head = proxy.page_watch(request, query_id, upstream)
            if upstream.complete:
                self._answered(request, reply, proxy.forwarder.answer_now(upstream, on_head), started, _FOLLOW_UP)
            else:
                reply.fast_continue(self._recorded(request, _FOLLOW_UP, started,
                                                   proxy.forwarder.stream(upstream, on_head)))
        except Exception as e:  # the connection's writer logs it and answers 500, as for the pipeline
            upstream.release()
            reply.fast_continue(self._failed(request, e, started, _FOLLOW_UP))

    # -- new statements -------------------------------------------------------------------------------
    def _statement(self, request: GatewayRequest, pipelined: web.Request, reply: FastReply, started: float) -> bool:
        proxy = self._live.proxy
        if not proxy.routes.loaded:
            return False
        plan = proxy.admit(pipelined)
        if not isinstance(plan, Plan) or not proxy.forwards_now(plan):
            return False  # refused, held or not running: the pipeline answers it
        decision = proxy.limiter.acquire_now(proxy.rate_key(pipelined), plan.entry.key)
        if decision is None or not decision.allowed:
            return False  # Redis decides, or refused (a refusal takes no token): the pipeline answers it
        # The statement holds its token now: from here on it is answered here, never by the pipeline afresh.
        body = request.received_body
        upstream = proxy.forwarder.try_open(plan.entry.backend, _STATEMENTS, proxy.encoded_upstream_headers(pipelined),
                                            "POST", body)
        if upstream is None:
            # no idle backend connection: the pipeline's submit (it connects), with this request's token
            reply.fast_continue(self._recorded(pipelined, _STATEMENT, started, proxy.submit(pipelined, plan, body)))
            return True
        self.statements += 1
        upstream.watch(functools.partial(self._accepted, pipelined, reply, plan, started), SMALL_BODY)
        return True

    def _accepted(self, request: web.Request, reply: FastReply, plan: Plan, started: float,
                  upstream: UpstreamResponse) -> None:
        """The coordinator answered the statement (or its headers, when the answer is large), or failed."""
        try:
            proxy = self._live.proxy
            error = upstream.error
            if error is not None:
                upstream.release()
                assert isinstance(error, UpstreamError)
                self._answered(request, reply, proxy.submit_failed(request, plan.entry, error), started, _STATEMENT)
                return
            if not upstream.complete or proxy.sticky.shared:
                reply.fast_continue(self._recorded(request, _STATEMENT, started,
                                                   self._learned(request, plan, upstream, started)))
                return
            proxy.forwarder.observe(_STATEMENT, time.perf_counter() - started)
            answer = Forwarder.answer_now(upstream)
            proxy.accepted(request, plan.entry, answer.status, answer.body, upstream.content_encoding)
            self._answered(request, reply, answer, started, _STATEMENT)
        except Exception as e:  # the connection's writer logs it and answers 500, as for the pipeline
            upstream.release()
            reply.fast_continue(self._failed(request, e, started, _STATEMENT))

    async def _learned(self, request: web.Request, plan: Plan, upstream: UpstreamResponse,
                       started: float) -> ProxiedAnswer | web.Response:
        """A statement's answer that needs waiting for: its whole body, or the Redis write of its route."""
        proxy = self._live.proxy
        try:
            body = await upstream.read()
        except UpstreamError as e:
            return proxy.submit_failed(request, plan.entry, e)
        finally:
            upstream.release()
        proxy.forwarder.observe(_STATEMENT, time.perf_counter() - started)
        answer = Forwarder.small(upstream, body)
        learned = proxy.accepted(request, plan.entry, answer.status, answer.body, upstream.content_encoding)
        if learned is not None:
            await proxy.sticky.share(*learned)
        return answer

    # -- both -----------------------------------------------------------------------------------------
    def _answered(self, request: web.Request, reply: FastReply, answer: ProxiedAnswer | web.StreamResponse,
                  started: float, kind: str) -> None:
        self._record(request, kind, answer.status, time.perf_counter() - started)
        reply.fast_answered(answer)

    async def _recorded(self, request: web.Request, kind: str, started: float, answer: Awaitable[Answer]) -> Answer:
        """The answer, once awaited, with the pipeline's metrics and access line."""
        status = 500
        try:
            found = await answer
            status = found.status
            return found
        finally:
            self._record(request, kind, status, time.perf_counter() - started)

    async def _failed(self, request: web.Request, error: Exception, started: float, kind: str) -> Answer:
        self._record(request, kind, 500, time.perf_counter() - started)
        raise error

