"""`create_app(settings)`: the gateway's aiohttp applications, their typed keys and cleanup contexts.

The public app serves the Trino protocol behind the edge (edge.py: one canonical target, header
checks) and the guard (authentication, identity); `app[INTERNAL]` is the internal listener's app
(demand and load for the lifecycle worker and KEDA). One client session per app (keep-alive pools
per backend), Redis when configured, and the background tasks (route watch, health probes, reaping
of idle and abandoned queries) all start and stop here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from temporalio.client import Client

from gateway.accesslog import ACCESS_LOGGER, AccessLog
from gateway.auth import AccessPolicy, AuthError, Authenticator, Forbidden, create_authenticator
from gateway.demand import Counts, DemandBoard
from gateway.edge import HEADERS_VERDICT, BadTarget, ClientView, EndpointKind, TrustedProxies, canonical_target, classify, header_problem
from gateway.fastpath import FastProxy
from gateway.forward import Forwarder
from gateway.upstream import UpstreamClient
from gateway.health import HealthMonitor
from gateway.held import HeldStatements
from gateway.inflight import InflightTracker
from gateway.kube import kube_access
from gateway.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from gateway.pages import QueryIdMaker, forbidden
from gateway.proxy import ENDPOINT, PRINCIPAL, QUERY_ID, ROUTE, TARGET, TRINO_USER, VIEW, Proxy
from gateway.ratelimit import create_rate_limiter
from gateway.resume import Resumer
from gateway.tracing import traced
from gateway.routewatch import RouteSource, watch_routes
from gateway.server import Answer
from gateway.settings import GatewaySettings
from gateway.sticky import StickyStore
from xtrinode.temporal import connect_client
from xtrinode.tracing import tracing_active
from xtrinode.trino_protocol import Path

__all__ = ["INTERNAL", "LIVE", "METRICS", "ROUTES", "SETTINGS", "Live", "create_app", "create_internal_app",
           "public_fast_path", "public_handler"]

log = logging.getLogger("xtrinode.gateway")

SETTINGS = web.AppKey("settings", GatewaySettings)
METRICS = web.AppKey("metrics", GatewayMetrics)
ROUTES = web.AppKey("routes", RouteSource)


class Live:
    """What exists only while the app runs (filled by the cleanup context; the app is frozen by then)."""

    def __init__(self) -> None:
        self._proxy: Proxy | None = None
        self._authenticator: Authenticator | None = None
        self.access: AccessLog | None = None
        """One JSON line per request (who, which runtime, what, how it ended; never a token, a key or SQL;
        a refused target without its raw path); None when accessLog is off or INFO is not logged."""

    @property
    def started(self) -> bool:
        """True while the app runs (its components exist)."""
        return self._proxy is not None and self._authenticator is not None

    @property
    def proxy(self) -> Proxy:
        if self._proxy is None:
            raise RuntimeError("the gateway app is not started; run it with an AppRunner or web.run_app")
        return self._proxy

    @property
    def authenticator(self) -> Authenticator:
        if self._authenticator is None:
            raise RuntimeError("the gateway app is not started; run it with an AppRunner or web.run_app")
        return self._authenticator


LIVE = web.AppKey("live", Live)



def _plain(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


def _access_line(access: AccessLog, request: web.Request, status: int, seconds: float, refused: str | None) -> None:
    principal = request.get(PRINCIPAL)
    target = request.get(TARGET)
    access.request(request.method, target.path if target is not None else None, status, round(seconds * 1000, 2),
                   principal.key if principal is not None else None, request.get(ROUTE), request.get(QUERY_ID),
                   request[VIEW].address if VIEW in request else request.remote, refused)


def _check_headers(request: web.Request, trusted: TrustedProxies) -> ClientView | tuple[str, int, str]:
    """The client's view when the headers are usable, else (refusal kind, status, message)."""
    problem = header_problem(request.headers)
    if problem is not None:
        return "headers", 400, f"Bad request: {problem}"
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return "content-encoding", 415, "Content-Encoding is not accepted on requests; send the body uncompressed"
    return trusted.view(request.remote, request.scheme, request.host, request.headers)


def _edge(trusted: TrustedProxies) -> Callable[..., Awaitable[Answer]]:
    """The first middleware: canonical target, header checks, endpoint class, client view; then
    the requests metric and the access-log line of every request, refused ones included."""

    async def edge(request: web.Request, handler: Callable[[web.Request], Awaitable[Answer]]) -> Answer:
        started = time.perf_counter()
        kind = "refused"
        status = 500
        refused: str | None = None
        try:
            try:
                target = canonical_target(request.raw_path)
            except BadTarget as e:
                refused = "target"
                status = 400
                return _plain(400, f"Bad request target: {e}")
            memo: dict[str, ClientView | tuple[str, int, str]] | None = getattr(request, "memo", None)
            checked = memo.get(HEADERS_VERDICT) if memo is not None else None
            if checked is None:
                checked = _check_headers(request, trusted)
                if memo is not None:  # the same header lines on the same connection: the same verdict
                    memo[HEADERS_VERDICT] = checked
            if not isinstance(checked, ClientView):
                refused, status, message = checked
                return _plain(status, message)
            endpoint = classify(request.method, target.path, target.query)
            request[TARGET] = target
            request[ENDPOINT] = endpoint
            request[VIEW] = checked
            kind = endpoint.metric_kind
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            _record(request, kind, status, time.perf_counter() - started, refused)

    return edge


def _record(request: web.Request, kind: str, status: int, seconds: float, refused: str | None = None) -> None:
    """The requests metric and the access-log line of a request that ended (the edge's)."""
    _record_in(request.app[METRICS], request.app[LIVE], request, kind, status, seconds, refused)


def _record_in(metrics: GatewayMetrics, live: Live, request: web.Request, kind: str, status: int, seconds: float,
               refused: str | None = None) -> None:
    """`_record` with the app's metrics and Live given (the fast path binds them once)."""
    metrics.observe_request(request.get(ROUTE, "-"), kind, status, None if kind in ("internal", "refused") else seconds)
    access = live.access
    if access is not None and (kind != "internal" or status >= 400):
        _access_line(access, request, status, seconds, refused)


async def _guard(request: web.Request, handler: Callable[[web.Request], Awaitable[Answer]]) -> Answer:
    """Authentication, then identity: who the caller is and which Trino user it runs as."""
    kind = request[ENDPOINT].kind
    if kind is EndpointKind.OPEN:
        return await handler(request)
    if kind is EndpointKind.INTERNAL:
        return _plain(404, "Not found: /v1/xtrinode/ endpoints are served on the gateway's internal port only")
    if kind is EndpointKind.UNKNOWN:
        return _plain(404, f"Not found: {request.method} {request[TARGET].path} is not a Trino endpoint this "
                           "gateway serves")
    live = request.app[LIVE]
    try:
        principal = await live.authenticator.authenticate(request)
    except AuthError as e:
        request.app[METRICS].auth_failed.labels(e.reason).inc()
        return web.Response(
            status=401, text=f"Authentication failed: {e.message}", headers={"WWW-Authenticate": 'Bearer realm="xtrinode"'}
        )
    request[PRINCIPAL] = principal
    try:
        request[TRINO_USER] = live.proxy.access.trino_user(principal, request.headers)
    except Forbidden as e:
        request.app[METRICS].auth_failed.labels("forbidden_user").inc()
        return forbidden(request[VIEW], live.proxy.ids, e.message)
    return await handler(request)


async def _dispatch(request: web.Request) -> Answer:
    endpoint = request[ENDPOINT]
    kind = endpoint.kind
    if kind is EndpointKind.OPEN:
        return await _open(request)
    proxy = request.app[LIVE].proxy
    if kind is EndpointKind.STATEMENT:
        return await proxy.statement(request)
    if kind in (EndpointKind.PAGE, EndpointKind.QUERY):
        return await proxy.follow_up(request, endpoint)
    return await proxy.other(request, endpoint)


async def _open(request: web.Request) -> web.Response:
    path = request[TARGET].path if TARGET in request else request.path
    if path == "/healthz":
        return web.Response(text="ok")
    if path == "/readyz":
        return _readyz(request.app)
    response = web.Response(body=request.app[METRICS].render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def _readyz(app: web.Application) -> web.Response:
    if not app[ROUTES].loaded:
        return web.Response(status=503, text="route table not loaded yet")
    authenticator = app[LIVE]._authenticator
    if authenticator is None or not authenticator.ready:
        return web.Response(status=503, text="the authenticator is not ready (signing keys not loaded yet)")
    return web.Response(text="ready")


# -- the internal listener -------------------------------------------------------------------------
PUBLIC = web.AppKey("public", web.Application)
"""Internal app key: the public app whose live components the internal endpoints read."""


@web.middleware
async def _internal_edge(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        canonical_target(request.raw_path)
    except BadTarget as e:
        return _plain(400, f"Bad request target: {e}")
    return await handler(request)


async def _internal_probe(request: web.Request) -> web.Response:
    public = request.app[PUBLIC]
    if request.path == "/readyz":
        return _readyz(public)
    if request.path == "/metrics":
        response = web.Response(body=public[METRICS].render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
    return web.Response(text="ok")


async def _demand(request: web.Request) -> web.Response:
    """Held and running queries of one runtime, summed over the replicas (autosuspend's demand)."""
    key = f"{request.match_info['namespace']}/{request.match_info['name']}"
    total = await request.app[PUBLIC][LIVE].proxy.demand.total(key)
    return web.json_response({"held": total.held, "inflight": total.running})


async def _load(request: web.Request) -> web.Response:
    """Held plus running queries of one runtime, summed over the replicas (the KEDA metrics-api value)."""
    key = f"{request.match_info['namespace']}/{request.match_info['name']}"
    total = await request.app[PUBLIC][LIVE].proxy.demand.total(key)
    return web.json_response({"inflight": total.running + total.held})


def create_internal_app(public: web.Application) -> web.Application:
    """The internal listener's app (`internal.host:port`): demand and load for the lifecycle worker and
    KEDA, plus probes and metrics; it serves what `public` runs, so start it only while `public` runs."""
    app = web.Application(middlewares=[_internal_edge], client_max_size=1024)
    app[PUBLIC] = public
    for path in ("/healthz", "/readyz", Path.METRICS):
        app.router.add_get(path, _internal_probe)
    app.router.add_get(_INTERNAL_PREFIX + "demand/{namespace}/{name}", _demand)
    app.router.add_get(_INTERNAL_PREFIX + "load/{namespace}/{name}", _load)
    return app


_INTERNAL_PREFIX = "/v1/xtrinode/"


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _reap(proxy: Proxy, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        proxy.inflight.reap()
        await proxy.held.reap()


def _components(
    app: web.Application, backend_resolver: Callable[[str], str] | None
) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    settings = app[SETTINGS]

    @contextlib.asynccontextmanager
    async def context(app: web.Application) -> AsyncIterator[None]:
        metrics, routes = app[METRICS], app[ROUTES]
        resolve = backend_resolver or (lambda url: url)
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=settings.upstream.max_connections_per_backend, keepalive_timeout=30
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.upstream.connect_timeout.total_seconds())
        session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        redis: aioredis.Redis | None = None
        if settings.redis.active and settings.redis.url:
            seconds = settings.redis.timeout.total_seconds()
            password = settings.redis.password.get_secret_value() if settings.redis.password else None
            redis = aioredis.from_url(settings.redis.url, socket_timeout=seconds, socket_connect_timeout=seconds,
                                      password=password)
        authenticator = create_authenticator(settings.auth, session)
        tasks: list[asyncio.Task[None]] = []
        held: HeldStatements | None = None
        resumer: Resumer | None = None
        upstream: UpstreamClient | None = None
        try:
            await authenticator.start()
            app[LIVE]._authenticator = authenticator
            sticky = StickyStore(
                lru_size=settings.sticky.lru_size,
                ttl=settings.sticky.ttl,
                metrics=metrics,
                redis=redis,
                key_prefix=settings.redis.key_prefix,
                retry_after=settings.redis.retry_after,
            )
            health = HealthMonitor(session, settings.health, settings.breaker, metrics, sticky, resolve)
            upstream = UpstreamClient(connect_timeout=settings.upstream.connect_timeout.total_seconds(),
                                      limit_per_backend=settings.upstream.max_connections_per_backend)
            forwarder = Forwarder(upstream, resolve, metrics)
            inflight = InflightTracker(metrics, settings.inflight.idle_after.total_seconds())

            async def connect() -> Client:
                return await connect_client(settings.temporal.to_temporal(), fast_fail_retries=True)

            resumer = Resumer(settings.resume, metrics, connect)
            ids = QueryIdMaker()
            held = HeldStatements(
                settings=settings.resume,
                ids=ids,
                resumer=resumer,
                routes=routes,
                health=health,
                forwarder=forwarder,
                sticky=sticky,
                inflight=inflight,
                metrics=metrics,
            )
            local_counts = functools.partial(_counts, inflight, held)
            demand = DemandBoard(
                replica=uuid.uuid4().hex[:12],
                local=local_counts,
                routes=lambda: [r.key for r in routes.routes()],
                metrics=metrics,
                redis=redis,
                key_prefix=settings.redis.key_prefix,
                interval=settings.redis.demand_interval.total_seconds(),
            )
            proxy = Proxy(settings, routes, sticky, health, forwarder, held, inflight, metrics,
                          create_rate_limiter(settings.rate_limit, redis), ids, demand, AccessPolicy(settings.auth))
            app[LIVE]._proxy = proxy
            if settings.access_log and logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO):
                app[LIVE].access = AccessLog()
            access = kube_access(settings.kube.kubeconfig, settings.kube.context)
            tasks.append(asyncio.create_task(watch_routes(session, access, settings.routes, routes), name="gateway route watch"))
            backends = lambda: {r.backend for r in routes.routes() if r.state != "PAUSED"}  # noqa: E731
            tasks.append(asyncio.create_task(health.run(backends), name="gateway health probes"))
            tasks.append(asyncio.create_task(_track_routes(routes, health), name="gateway route changes"))
            if redis is not None:
                tasks.append(asyncio.create_task(demand.run(), name="gateway demand publisher"))
            reap_every = min(1.0, settings.resume.abandon_after.total_seconds() / 4)
            tasks.append(asyncio.create_task(_reap(proxy, reap_every), name="gateway reaper"))
            yield
        finally:
            await _cancel_all(tasks)
            if held is not None:
                await held.close()
            if resumer is not None:
                await resumer.close()
            access_log = app[LIVE].access
            if access_log is not None:
                access_log.flush()
            app[LIVE]._proxy = app[LIVE]._authenticator = None
            app[LIVE].access = None
            await authenticator.close()
            if upstream is not None:
                await upstream.close()
            await session.close()
            if redis is not None:
                await redis.aclose()

    return context


def _counts(inflight: InflightTracker, held: HeldStatements, route_key: str) -> Counts:
    return Counts(inflight.running(route_key), held.count(route_key))


async def _track_routes(routes: RouteSource, health: HealthMonitor) -> None:
    """Probe at once when the route table changes (a resumed runtime is usable without waiting a period)."""
    seen = routes.version
    while True:
        async with routes.changed:
            await routes.changed.wait_for(lambda: routes.version != seen)
            seen = routes.version
        health.wakeup.set()


INTERNAL = web.AppKey("internal", web.Application)
PIPELINE: web.AppKey[Callable[[web.Request], Awaitable[Answer]]] = web.AppKey("pipeline")
"""Public app key: the request pipeline (edge, guard, dispatch) the public server runs."""
"""Public app key: the internal listener's app (serve it on `settings.internal`)."""


def create_app(settings: GatewaySettings, *, backend_resolver: Callable[[str], str] | None = None) -> web.Application:
    """The public gateway app; `app[INTERNAL]` is its internal listener's app; `backend_resolver` maps a
    route's backend URL to where to connect (the devstack's service map; identity in a cluster)."""
    trusted = TrustedProxies(settings.trusted_proxies)
    app = web.Application(client_max_size=settings.upstream.max_statement_bytes)
    app[SETTINGS] = settings
    app[METRICS] = GatewayMetrics()
    app[LIVE] = Live()
    app[ROUTES] = RouteSource(app[METRICS], f"ConfigMap {settings.routes.namespace}/{settings.routes.config_map}")
    pipeline: Callable[[web.Request], Awaitable[Answer]] = functools.partial(
        _edge(trusted), handler=functools.partial(_guard, handler=_dispatch))
    if tracing_active():  # decided once: without a tracer provider a request does no span work at all
        pipeline = traced(pipeline)
    app[PIPELINE] = pipeline
    app.cleanup_ctx.append(_components(app, backend_resolver))
    app[INTERNAL] = create_internal_app(app)
    return app


def public_handler(app: web.Application) -> Callable[[web.Request], Awaitable[Answer]]:
    """The public pipeline (edge -> guard -> dispatch) for the public server (gateway/server.py)."""
    return app[PIPELINE]


def public_fast_path(app: web.Application) -> FastProxy | None:
    """The public server's fast path for page polls and new statements (fastpath.py), or None when `fastPath` is off or
    tracing is on (a traced request runs the pipeline, which makes its spans)."""
    if not app[SETTINGS].fast_path or tracing_active():
        return None
    return FastProxy(app[LIVE], app[PIPELINE], functools.partial(_record_in, app[METRICS], app[LIVE]))
