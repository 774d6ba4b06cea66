"""The request handlers of the query plane: new statements, follow-ups of known queries, everything else.

New statements are routed (routing.py), rate limited, then forwarded or held for resume (held.py);
follow-ups go to the backend that owns the query (sticky.py), never to a PAUSED runtime.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from gateway.auth import Principal, principal_key
from gateway.demand import DemandBoard
from gateway.forward import Forwarder, NotReached, upstream_headers
from gateway.health import HealthMonitor
from gateway.held import HeldStatements
from gateway.inflight import InflightTracker, decoded_head, page_has_next
from gateway.metrics import GatewayMetrics
from gateway.pages import QueryIdMaker, external_base, statement_error
from gateway.ratelimit import RateLimiter
from gateway.routewatch import RouteSource
from gateway.routing import XTRINODE_HEADER, NoRoute, Plan, Selection, plan_new_query, select_pool
from gateway.settings import GatewaySettings
from gateway.sticky import StickyStore, Target, coordinator_id_of
from xtrinode.trino_protocol import QUERY_ID_PATTERN, Header, Path, StandardError, query_id_from_path

__all__ = ["PRINCIPAL", "ROUTE", "Proxy"]

log = logging.getLogger("xtrinode.gateway.proxy")

PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
"""Request key: the authenticated Principal (None when auth is off)."""
ROUTE = web.RequestKey("route", str)
"""Request key: the route key (`namespace/name`) a request went to, for the requests metric."""

_STATEMENT_PAGE = re.compile(r"^/v1/statement/(?:queued|executing)/")


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


@dataclass(eq=False)
class Proxy:
    """Everything a request handler needs; built once per app by app.py."""

    settings: GatewaySettings
    routes: RouteSource
    sticky: StickyStore
    health: HealthMonitor
    forwarder: Forwarder
    held: HeldStatements
    inflight: InflightTracker
    metrics: GatewayMetrics
    limiter: RateLimiter
    ids: QueryIdMaker
    demand: DemandBoard

    def __post_init__(self) -> None:
        self._selections: dict[tuple[str | None, str, str | None], Selection | NoRoute] = {}
        self._selections_version = -1

    def _select(self, request: web.Request) -> Selection:
        """select_pool, memoised per route table version (requests repeat the same few selectors)."""
        table = self.routes.table
        assert table is not None
        if self._selections_version != self.routes.version or len(self._selections) > 4096:
            self._selections, self._selections_version = {}, self.routes.version
        key = (request.headers.get(XTRINODE_HEADER), request.host, request.headers.get(Header.ROUTING_GROUP))
        found = self._selections.get(key)
        if found is None:
            try:
                found = select_pool(table, xtrinode=key[0], host=key[1], routing_group=key[2])
            except NoRoute as e:
                found = e
            self._selections[key] = found
        if isinstance(found, NoRoute):
            raise NoRoute(found.selector, found.value, found.message)
        return found

    def _plan(self, selection: Selection) -> Plan:
        return plan_new_query(
            selection.pool,
            usable=lambda e: self.health.usable(e.backend),
            load=lambda e: self.inflight.running(e.key) + self.held.count(e.key),
        )

    async def statement(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/statement: route, rate limit, then forward (reading only the small answer) or hold."""
        if not self.routes.loaded:
            return _text(503, "the gateway has not loaded its route table yet; retry in a moment")
        body = await request.read()
        try:
            plan = self._plan(self._select(request))
        except NoRoute as e:
            return statement_error(request, self.ids, StandardError.GENERIC_USER_ERROR, e.message)
        entry = plan.entry
        request[ROUTE] = entry.key
        principal = request.get(PRINCIPAL)
        decision = await self.limiter.acquire(principal_key(request, principal), entry.key)
        if not decision.allowed:
            self.metrics.rate_limited.labels(decision.scope).inc()
            return web.Response(
                status=429,
                text=f"Too many statements ({decision.scope} limit); retry after {decision.retry_after_header}s",
                headers={"Retry-After": decision.retry_after_header},
            )
        headers = upstream_headers(request)
        resume = self.settings.resume.enabled
        if plan.action == "resume" and resume:
            return self.held.hold(entry, body, headers, external_base(request))
        if entry.state != "RUNNING":
            return statement_error(
                request,
                self.ids,
                StandardError.NO_NODES_AVAILABLE,
                f"runtime {entry.key} is {entry.state} and this gateway does not resume runtimes (resume.enabled "
                "is false); resume it with the API or CLI first",
            )
        try:
            reply = await self.forwarder.fetch("POST", entry.backend, request.path_qs, headers, body, "statement")
        except NotReached as e:
            self.health.record_failure(entry.backend, str(e))
            if resume:
                log.info("backend of %s refused the connection; holding the statement and resuming", entry.key)
                return self.held.hold(entry, body, headers, external_base(request))
            return statement_error(
                request, self.ids, StandardError.NO_NODES_AVAILABLE, f"runtime {entry.key} is not reachable: {e}"
            )
        except (aiohttp.ClientError, TimeoutError) as e:
            # It may have reached the coordinator: never send it elsewhere, and tell the client plainly.
            self.health.record_failure(entry.backend, type(e).__name__)
            return statement_error(
                request,
                self.ids,
                StandardError.GENERIC_INTERNAL_ERROR,
                f"the coordinator of runtime {entry.key} failed while accepting the statement ({type(e).__name__}); "
                "it may have started, so check before running it again",
            )
        if reply.status >= 500:
            self.health.record_failure(entry.backend, f"HTTP {reply.status}")
        else:
            self.health.record_success(entry.backend)
        await self.held.adopt(entry, reply)
        return reply.to_response()

    async def _target(self, query_id: str) -> Target | None:
        target = await self.sticky.get(query_id)
        if target is not None:
            return target
        coordinator = coordinator_id_of(query_id)
        backend = self.sticky.backend_for_coordinator(coordinator) if coordinator else None
        if backend is not None:
            for entry in self.routes.routes():
                if entry.backend == backend:
                    self.metrics.sticky_hits.labels("coordinator").inc()
                    return Target(entry.key, backend)
        return None

    def _gone(self, query_id: str, reason: str, message: str) -> web.Response:
        self.metrics.sticky_misses.labels(reason).inc()
        self.sticky.forget(query_id)
        self.inflight.end(query_id)
        return _text(404, f"Query not found: {message}")

    async def follow_up(self, request: web.Request, query_id: str) -> web.StreamResponse:
        """A request about a known query: to the backend that owns it, streamed both ways."""
        if query_id in self.held:
            request[ROUTE] = "held"
            if request.method == "DELETE":
                return await self.held.cancel(query_id)
            if request.method == "GET" and request.path.startswith("/v1/statement/queued/"):
                return await self.held.poll(request, query_id)
            return _text(404, f"Query not found: {query_id} is waiting for its runtime to resume")
        target = await self._target(query_id)
        if target is None:
            return self._gone(query_id, "unknown", f"no backend is known for query {query_id}")
        request[ROUTE] = target.route_key
        entry = self.routes.entry(target.route_key)
        if entry is not None and entry.state == "PAUSED":
            return self._gone(query_id, "paused", f"runtime {target.route_key} is suspended; run the query again")
        if self.sticky.is_stale(query_id, target.backend):
            return self._gone(
                query_id, "restarted", f"the coordinator of runtime {target.route_key} restarted; run the query again"
            )
        return await self._forward(request, target.backend, query_id)

    async def _forward(self, request: web.Request, backend: str, query_id: str | None) -> web.StreamResponse:
        data = request.content if request.body_exists else None
        try:
            upstream = await self.forwarder.open(
                request.method, backend, request.path_qs, upstream_headers(request), data,
                "follow_up" if query_id else "other",
            )
        except NotReached as e:
            self.health.record_failure(backend, str(e))
            return _text(503, f"backend unreachable: {e}")
        except (aiohttp.ClientError, TimeoutError) as e:
            self.health.record_failure(backend, type(e).__name__)
            return _text(502, f"backend {backend} failed: {type(e).__name__}")
        if query_id is None:
            return await self.forwarder.stream(request, upstream)
        self.inflight.touch(query_id)
        status = upstream.status
        if status in (404, 410) or (request.method == "DELETE" and status == 204):
            self.inflight.end(query_id)
            return await self.forwarder.stream(request, upstream)
        if request.method != "GET" or status != 200 or not _STATEMENT_PAGE.match(request.path):
            return await self.forwarder.stream(request, upstream)
        encoding = upstream.headers.get("Content-Encoding")

        def on_head(chunk: bytes) -> None:
            head = decoded_head(chunk, encoding)
            if head is not None and page_has_next(head) is False:
                self.inflight.end(query_id)

        return await self.forwarder.stream(request, upstream, on_head)

    async def other(self, request: web.Request) -> web.StreamResponse:
        """Anything else (`/v1/info`, `/ui/...`, `/v1/query`): a query id wins, else the selected route."""
        query_id = query_id_from_path(request.path)
        if query_id is None and request.path == Path.UI_QUERY and QUERY_ID_PATTERN.match(request.query_string):
            query_id = request.query_string
        if query_id is not None:
            return await self.follow_up(request, query_id)
        if not self.routes.loaded:
            return _text(503, "the gateway has not loaded its route table yet; retry in a moment")
        try:
            plan = self._plan(self._select(request))
        except NoRoute as e:
            return _text(404, e.message)
        if plan.action == "resume":
            return _text(503, f"runtime {plan.entry.key} is suspended; a query resumes it")
        request[ROUTE] = plan.entry.key
        return await self._forward(request, plan.entry.backend, None)
