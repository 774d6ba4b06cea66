"""The request handlers of the query plane: new statements, follow-ups of known queries, everything else.

New statements are routed (routing.py) among the runtimes the principal may use (auth/access.py),
rate limited, then forwarded or held for resume (held.py); follow-ups go to the backend that owns the
query (sticky.py), only for the principal that started it, never to a PAUSED runtime. Every request
reaching here has passed the edge (edge.py): its canonical path is `request[TARGET]`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from aiohttp import web
from multidict import CIMultiDict

from gateway.auth import AccessPolicy, Principal, principal_key
from gateway.demand import DemandBoard
from gateway.edge import ClientView, Endpoint, EndpointKind, RequestTarget
from gateway.forward import Forwarder, NotReached, UpstreamError, upstream_headers
from gateway.health import HealthMonitor
from gateway.held import HeldStatements
from gateway.inflight import InflightTracker, decoded_head, page_has_next
from gateway.metrics import GatewayMetrics
from gateway.pages import QueryIdMaker, external_base, failed_page, forbidden, statement_error
from gateway.ratelimit import RateDecision, RateLimiter
from gateway.routewatch import RouteSource
from gateway.routing import XTRINODE_HEADER, NoRoute, Plan, Preference, Selection, plan_new_query, select_pool
from gateway.settings import GatewaySettings
from gateway.server import Answer
from gateway.sticky import StickyStore, Target, coordinator_id_of
from gateway.upstream import EncodedHeaders, UpstreamResponse, encode_headers
from xtrinode.models.routes import RouteEntry
from xtrinode.trino_protocol import ErrorCode, Header, StandardError

__all__ = ["ENDPOINT", "PRINCIPAL", "QUERY_ID", "ROUTE", "TARGET", "TRINO_USER", "VIEW", "Proxy"]

log = logging.getLogger("xtrinode.gateway.proxy")

PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
"""Request key: the authenticated Principal (None when auth is off)."""
TRINO_USER: web.RequestKey[str | None] = web.RequestKey("trino_user")
"""Request key: the X-Trino-User to send upstream (None: as the client sent it)."""
ROUTE = web.RequestKey("route", str)
"""Request key: the route key (`namespace/name`) a request went to, for the requests metric and log."""
TARGET = web.RequestKey("target", RequestTarget)
"""Request key: the canonical request target (edge.py)."""
ENDPOINT = web.RequestKey("endpoint", Endpoint)
"""Request key: what the canonical target addresses (edge.py)."""
VIEW = web.RequestKey("view", ClientView)
"""Request key: the client's address and how it reached the gateway (trusted forwarded headers only)."""
QUERY_ID = web.RequestKey("query_id", str)
"""Request key: the query a request started or addressed (access log)."""


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


def _not_found(query_id: str) -> web.Response:
    """What Trino answers for an unknown query, a wrong slug, or (here) someone else's query."""
    return _text(404, f"Query not found: {query_id}")


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
    access: AccessPolicy

    def __post_init__(self) -> None:
        self._selections: dict[tuple[str | None, ...], Selection | NoRoute] = {}
        self._selections_version = -1

    # -- selection ---------------------------------------------------------------------------------
    def _preferences(self, request: web.Request) -> tuple[Preference, ...]:
        """The implicit choices for this request: the first matching source rule, then principal default."""
        routing = self.settings.routing
        found: list[Preference] = []
        source = request.headers.get(Header.SOURCE)
        if source:
            for rule in routing.source_rules:
                if fnmatchcase(source, rule.source):
                    found.append(Preference("source", rule.runtime, rule.routing_group,
                                            f"X-Trino-Source rule {rule.source!r}"))
                    break
        principal = request.get(PRINCIPAL)
        names = {principal.subject, principal.user} if principal else {request.headers.get(Header.USER, "")}
        groups = principal.groups if principal else frozenset()
        for default in routing.principal_defaults:
            if names & set(default.principals) or groups & set(default.groups):
                found.append(Preference("principal", default.runtime, default.routing_group,
                                        "your default runtime (routing.principalDefaults)"))
                break
        return tuple(found)

    def _select(self, request: web.Request) -> Selection:
        """select_pool, memoised per route table version (requests repeat the same few selectors)."""
        table = self.routes.table
        assert table is not None
        if self._selections_version != self.routes.version or len(self._selections) > 4096:
            self._selections, self._selections_version = {}, self.routes.version
        headers = request.headers
        principal = request.get(PRINCIPAL)
        key = (headers.get(XTRINODE_HEADER), request.host, headers.get(Header.ROUTING_GROUP),
               headers.get(Header.CLIENT_TAGS), headers.get(Header.SOURCE),
               principal.key if principal else headers.get(Header.USER))
        found = self._selections.get(key)
        if found is None:
            try:
                found = select_pool(table, xtrinode=key[0], host=key[1], routing_group=key[2], client_tags=key[3],
                                    preferences=self._preferences(request))
            except NoRoute as e:
                found = e
            self._selections[key] = found
        if isinstance(found, NoRoute):
            raise NoRoute(found.selector, found.value, found.message)
        return found

    def _allowed_pool(self, request: web.Request, selection: Selection) -> tuple[RouteEntry, ...] | str:
        """The part of the pool the principal may use, or the message of a refusal (names only what was asked)."""
        principal = request.get(PRINCIPAL)
        pool = tuple(e for e in selection.pool if self.access.may_use(principal, e))
        if pool:
            return pool
        assert principal is not None
        if selection.selector == "default":
            asked = "the default route"
        elif selection.selector in ("routing-group", "group-tag"):
            asked = f"routing group {selection.value!r}"
        elif len(selection.pool) == 1:
            asked = f"runtime {selection.pool[0].key}"
        else:
            asked = f"{selection.selector} {selection.value!r}"
        return (f"{principal.subject!r} may not use {asked}; ask your platform team for an "
                "auth.authorization rule, or choose a runtime you may use")

    def _plan(self, pool: tuple[RouteEntry, ...]) -> Plan:
        return plan_new_query(
            pool,
            usable=lambda e: self.health.usable(e.backend),
            load=lambda e: self.inflight.running(e.key) + self.held.count(e.key),
        )

    def _upstream_headers(self, request: web.Request) -> CIMultiDict[str]:
        principal = request.get(PRINCIPAL)
        return upstream_headers(
            request, request[VIEW], trino_user=request.get(TRINO_USER),
            drop_authorization=principal is not None and principal.kind == "apiKey",
        )

    def encoded_upstream_headers(self, request: web.Request) -> EncodedHeaders:
        """`_upstream_headers` encoded, memoised per connection (GatewayRequest.memo) and identity: a client
        polling pages sends the same header lines each time, and they go upstream the same way."""
        memo: dict[object, object] | None = getattr(request, "memo", None)
        principal = request.get(PRINCIPAL)
        key = ("proxy.upstream_headers", request.get(TRINO_USER), principal is not None and principal.kind == "apiKey")
        found = memo.get(key) if memo is not None else None
        if isinstance(found, EncodedHeaders):
            return found
        encoded = encode_headers(self._upstream_headers(request))
        if memo is not None:
            memo[key] = encoded
        return encoded

    # -- new statements ----------------------------------------------------------------------------
    async def statement(self, request: web.Request) -> Answer:
        """POST /v1/statement: route, authorise, rate limit, then forward (reading only the small answer) or hold."""
        if not self.routes.loaded:
            return _text(503, "the gateway has not loaded its route table yet; retry in a moment")
        body = await request.read()
        plan = self.admit(request)
        if not isinstance(plan, Plan):
            return plan
        decision = await self.limiter.acquire(self.rate_key(request), plan.entry.key)
        if not decision.allowed:
            return self.rate_limited(decision)
        return await self.submit(request, plan, body)

    def admit(self, request: web.Request) -> Plan | web.Response:
        """Where a new statement goes (sets `request[ROUTE]`), or the answer that refuses it."""
        view = request[VIEW]
        try:
            selection = self._select(request)
        except NoRoute as e:
            return statement_error(view, self.ids, StandardError.GENERIC_USER_ERROR, e.message)
        pool = self._allowed_pool(request, selection)
        if isinstance(pool, str):
            return forbidden(view, self.ids, pool)
        plan = self._plan(pool)
        request[ROUTE] = plan.entry.key
        return plan

    @staticmethod
    def rate_key(request: web.Request) -> str:
        return principal_key(request.get(PRINCIPAL), request[VIEW].address)

    def rate_limited(self, decision: RateDecision) -> web.Response:
        self.metrics.rate_limited.labels(decision.scope).inc()
        return web.Response(
            status=429,
            text=f"Too many statements ({decision.scope} limit); retry after {decision.retry_after_header}s",
            headers={"Retry-After": decision.retry_after_header},
        )

    def forwards_now(self, plan: Plan) -> bool:
        """True when `submit` would send the statement to its runtime at once (not hold it, not refuse it)."""
        return plan.entry.state == "RUNNING" and not (plan.action == "resume" and self.settings.resume.enabled)

    async def submit(self, request: web.Request, plan: Plan, body: bytes) -> Answer:
        """An admitted, rate-limited statement: held for resume, refused, or forwarded and its query learned."""
        entry = plan.entry
        principal = request.get(PRINCIPAL)
        owner = principal.key if principal is not None else None
        resume = self.settings.resume.enabled
        if plan.action == "resume" and resume:
            return self._hold(request, entry, body, self._upstream_headers(request), owner)
        view = request[VIEW]
        if entry.state != "RUNNING":
            return statement_error(
                view,
                self.ids,
                StandardError.NO_NODES_AVAILABLE,
                f"runtime {entry.key} is {entry.state} and this gateway does not resume runtimes (resume.enabled "
                "is false); resume it with the API or CLI first",
            )
        target = request[TARGET]
        try:
            reply = await self.forwarder.fetch("POST", entry.backend, target.path_qs, self.encoded_upstream_headers(request),
                                               body, "statement")
        except NotReached as e:
            self.health.record_failure(entry.backend, str(e))
            if resume:
                log.info("backend of %s refused the connection; holding the statement and resuming", entry.key)
                return self._hold(request, entry, body, self._upstream_headers(request), owner)
            return statement_error(
                view, self.ids, StandardError.NO_NODES_AVAILABLE, f"runtime {entry.key} is not reachable: {e}"
            )
        except UpstreamError as e:
            return self.submit_failed(request, entry, e)
        learned = self.accepted(request, entry, reply.status, reply.body, reply.headers.get("Content-Encoding"))
        if learned is not None:
            await self.sticky.share(*learned)
        return reply.to_response()

    def submit_failed(self, request: web.Request, entry: RouteEntry, error: UpstreamError) -> web.Response:
        """The coordinator failed after the statement was sent: it may have started, so never send it elsewhere,
        and tell the client plainly."""
        self.health.record_failure(entry.backend, type(error).__name__)
        return statement_error(
            request[VIEW],
            self.ids,
            StandardError.GENERIC_INTERNAL_ERROR,
            f"the coordinator of runtime {entry.key} failed while accepting the statement ({type(error).__name__}); "
            "it may have started, so check before running it again",
        )

    def accepted(self, request: web.Request, entry: RouteEntry, status: int, body: bytes,
                 content_encoding: str | None) -> tuple[str, Target] | None:
        """The coordinator answered a forwarded statement: its health, and the query it started (sticky in this
        replica, in flight); the caller shares the returned route through Redis before answering."""
        if status >= 500:
            self.health.record_failure(entry.backend, f"HTTP {status}")
        else:
            self.health.record_success(entry.backend)
        principal = request.get(PRINCIPAL)
        learned = self.held.adopt_now(entry, status, body, content_encoding,
                                       principal.key if principal is not None else None)
        if learned is not None:
            request[QUERY_ID] = learned[0]
        return learned

    def _hold(self, request: web.Request, entry: RouteEntry, body: bytes, headers: CIMultiDict[str],
              owner: str | None) -> web.Response:
        held = self.held.hold(entry, body, headers, external_base(request[VIEW]), owner)
        request[QUERY_ID] = held.query_id
        return self.held.first_page(held)

    # -- follow-ups --------------------------------------------------------------------------------
    async def _target(self, query_id: str) -> Target | None:
        target = await self.sticky.get(query_id)
        if target is not None:
            return target
        coordinator = coordinator_id_of(query_id)
        backend = self.sticky.backend_for_coordinator(coordinator) if coordinator else None
        if backend is not None:
            entry = self.routes.entry_for_backend(backend)
            if entry is not None:
                self.metrics.sticky_hits.labels("coordinator").inc()
                return Target(entry.key, backend)
        return None

    def _gone(self, request: web.Request, query_id: str, reason: str, message: str,
              code: ErrorCode = StandardError.SERVER_SHUTTING_DOWN) -> web.Response:
        """The query cannot be reached any more. A poll of a known query's statement page gets a FAILED
        Trino page (clients show a query error naming why); an unknown query and anything else get
        Trino's 404."""
        self.metrics.sticky_misses.labels(reason).inc()
        self.sticky.forget(query_id)
        self.inflight.end(query_id)
        if reason != "unknown" and request.method == "GET" and request[ENDPOINT].kind is EndpointKind.PAGE:
            return web.json_response(failed_page(external_base(request[VIEW]), query_id, code, message))
        return _text(404, f"Query not found: {message}")

    def _cut_off(self, request: web.Request, query_id: str, entry: RouteEntry | None, route_key: str,
                 fallback: str) -> web.Response:
        """A query whose coordinator went away: the route's message says why when a suspend or delete cut it off."""
        message = entry.message if entry is not None and entry.message else None
        if message:
            return self._gone(request, query_id, "cut_off", message, StandardError.ADMINISTRATIVELY_KILLED)
        return self._gone(request, query_id, "paused", fallback)

    def _may_follow(self, request: web.Request, endpoint: Endpoint, target: Target, entry: RouteEntry | None) -> bool:
        """Only the principal that started a query (or an admin of its runtime) may follow it.

        A mapping found through the coordinator id alone has no owner: a statement page is still
        allowed to a principal that may use the runtime (the coordinator checks the page's slug, as
        Trino does); `/v1/query/{id}` and the UI, which carry no slug, are not.
        """
        principal = request.get(PRINCIPAL)
        if self.access.owns(principal, target.owner, entry):
            return True
        return (target.owner is None and endpoint.kind is EndpointKind.PAGE and entry is not None
                and self.access.may_use(principal, entry))

    def _obstacle(self, request: web.Request, endpoint: Endpoint, query_id: str, target: Target,
                  entry: RouteEntry | None) -> Literal["foreign", "paused", "restarted"] | None:
        """Why a known query's request may not go to its backend (`follow_up` answers each its own way)."""
        if not self._may_follow(request, endpoint, target, entry):
            return "foreign"
        if entry is not None and entry.state == "PAUSED":
            return "paused"
        if self.sticky.is_stale(query_id, target.backend):
            return "restarted"
        return None

    async def _alias_of(self, query_id: str) -> str | None:
        held = self.held.get(query_id)
        if held is not None:
            return held.real_id
        return await self.sticky.resolve_alias(query_id)

    async def follow_up(self, request: web.Request, endpoint: Endpoint) -> Answer:
        """A request about one query: to the backend that owns it, streamed both ways."""
        query_id = endpoint.query_id
        assert query_id is not None
        request[QUERY_ID] = query_id
        if endpoint.kind is EndpointKind.QUERY:
            # `/v1/query/<id>` of a held statement that was submitted: the client still knows the gateway's id.
            real = await self._alias_of(query_id)
            if real is not None:
                canonical = request[TARGET]
                request[TARGET] = RequestTarget(canonical.path.replace(query_id, real),
                                                canonical.query.replace(query_id, real))
                request[ENDPOINT] = endpoint = Endpoint(endpoint.kind, real, endpoint.slug)
                query_id = real
        held = self.held.get(query_id)
        if held is not None:
            request[ROUTE] = "held"
            if not self.access.owns(request.get(PRINCIPAL), held.owner, held.entry):
                return _not_found(query_id)
            if endpoint.kind is not EndpointKind.PAGE:
                return _text(404, f"Query not found: {query_id} is waiting for its runtime to resume")
            if not self.held.slug_matches(held, endpoint.slug):
                return _not_found(query_id)
            if request.method == "DELETE":
                return await self.held.cancel(held)
            if request[TARGET].path.startswith("/v1/statement/queued/"):
                token = int(request[TARGET].path.rsplit("/", 1)[1])
                return await self.held.poll(request, held, token)
            return _not_found(query_id)
        target = await self._target(query_id)
        if target is None:
            return self._gone(request, query_id, "unknown", f"no backend is known for query {query_id}")
        entry = self.routes.entry(target.route_key)
        obstacle = self._obstacle(request, endpoint, query_id, target, entry)
        if obstacle == "foreign":
            return _not_found(query_id)
        request[ROUTE] = target.route_key
        if obstacle == "paused":
            return self._cut_off(request, query_id, entry, target.route_key,
                                 f"runtime {target.route_key} was suspended while this query ran; run the query again")
        if obstacle == "restarted":
            return self._gone(
                request, query_id, "restarted",
                f"the coordinator of runtime {target.route_key} restarted; run the query again"
            )
        return await self._forward(request, target.backend, query_id, target.route_key)

    def follow_up_now(self, request: web.Request, endpoint: Endpoint) -> Target | None:
        """The target of a statement page poll that needs nothing awaited before it is sent (the fast path,
        fastpath.py): the query is not held, this replica remembers its backend, the caller may follow it,
        its runtime is not paused and its coordinator did not restart. None: `follow_up` decides."""
        query_id = endpoint.query_id
        if query_id is None or self.held.get(query_id) is not None:
            return None
        target = self.sticky.peek(query_id)
        if target is None:
            return None
        if self._obstacle(request, endpoint, query_id, target, self.routes.entry(target.route_key)) is not None:
            return None
        self.sticky.local(query_id)  # counted and refreshed as `follow_up` does
        request[QUERY_ID] = query_id
        request[ROUTE] = target.route_key
        return target

    def upstream_failed(self, backend: str, error: Exception) -> web.Response:
        """The answer when a backend failed after the request may have reached it (never sent again)."""
        self.health.record_failure(backend, type(error).__name__)
        return _text(502, f"backend {backend} failed: {str(error)[:200]}")

    def page_watch(self, request: web.Request, query_id: str, upstream: UpstreamResponse) -> Callable[[bytes], None] | None:
        """In-flight accounting of a follow-up's answer: the query was seen now; a 404/410 or a cancel ends it
        at once; a statement page without `nextUri` ends it (the returned callback judges the body's first bytes)."""
        self.inflight.touch(query_id)
        status = upstream.status
        if status in (404, 410) or (request.method == "DELETE" and status == 204):
            self.inflight.end(query_id)
            return None
        if request.method != "GET" or status != 200 or request[ENDPOINT].kind is not EndpointKind.PAGE:
            return None
        encoding = upstream.content_encoding

        def on_head(chunk: bytes) -> None:
            head = decoded_head(chunk, encoding)
            if head is not None and page_has_next(head) is False:
                self.inflight.end(query_id)

        return on_head

    async def _forward(
        self, request: web.Request, backend: str, query_id: str | None, route_key: str | None = None
    ) -> Answer:
        data = await request.read() if request.body_exists else b""
        path_qs = request[TARGET].path_qs
        try:
            upstream = await self.forwarder.open(
                request.method, backend, path_qs, self.encoded_upstream_headers(request), data,
                "follow_up" if query_id else "other",
            )
        except NotReached as e:
            self.health.record_failure(backend, str(e))
            if query_id is not None and route_key is not None:
                return self._cut_off(request, query_id, self.routes.entry(route_key), route_key,
                                     f"the coordinator of runtime {route_key} is gone (suspended or restarted) "
                                     "while this query ran; run the query again")
            return _text(503, f"backend unreachable: {e}")
        except UpstreamError as e:
            return self.upstream_failed(backend, e)
        if query_id is None:
            return await self.forwarder.stream(upstream)
        return await self.forwarder.stream(upstream, self.page_watch(request, query_id, upstream))

    # -- everything else ---------------------------------------------------------------------------
    async def other(self, request: web.Request, endpoint: Endpoint) -> Answer:
        """`/v1/info`, `/v1/status`, the web UI and `GET /v1/query`: to the selected runtime."""
        if not self.routes.loaded:
            return _text(503, "the gateway has not loaded its route table yet; retry in a moment")
        try:
            selection = self._select(request)
        except NoRoute as e:
            return _text(404, e.message)
        pool = self._allowed_pool(request, selection)
        if isinstance(pool, str):
            return _text(403, pool)
        plan = self._plan(pool)
        if endpoint.kind in (EndpointKind.QUERY_LIST, EndpointKind.UI_API) and self.access.enabled:
            if not self.access.is_admin(request.get(PRINCIPAL), plan.entry):
                return _text(403, f"listing the queries of runtime {plan.entry.key} needs an admin rule "
                                  "(auth.authorization.rules[].admin); follow your own queries by their id")
        if plan.action == "resume":
            # 409: the runtime's state, not a gateway fault; a statement (POST /v1/statement) resumes it.
            return _text(409, f"runtime {plan.entry.key} is suspended; a query resumes it")
        request[ROUTE] = plan.entry.key
        return await self._forward(request, plan.entry.backend, None)
