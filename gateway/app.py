"""`create_app(settings)`: the gateway's aiohttp application, its typed keys and its cleanup contexts.

One client session per app (keep-alive pools per backend), Redis when configured, and the background
tasks (route watch, health probes, reaping of idle and abandoned queries) all start and stop here.
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

from gateway.auth import AuthError, Authenticator, create_authenticator
from gateway.demand import Counts, DemandBoard
from gateway.forward import Forwarder
from gateway.health import HealthMonitor
from gateway.held import HeldStatements
from gateway.inflight import InflightTracker
from gateway.kube import kube_access
from gateway.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from gateway.pages import QueryIdMaker
from gateway.proxy import PRINCIPAL, ROUTE, Proxy
from gateway.ratelimit import create_rate_limiter
from gateway.resume import Resumer
from gateway.routewatch import RouteSource, watch_routes
from gateway.settings import GatewaySettings
from gateway.sticky import StickyStore
from xtrinode.temporal import connect_client
from xtrinode.trino_protocol import Path

__all__ = ["LIVE", "METRICS", "ROUTES", "SETTINGS", "Live", "create_app"]

log = logging.getLogger("xtrinode.gateway")

SETTINGS = web.AppKey("settings", GatewaySettings)
METRICS = web.AppKey("metrics", GatewayMetrics)
ROUTES = web.AppKey("routes", RouteSource)


class Live:
    """What exists only while the app runs (filled by the cleanup context; the app is frozen by then)."""

    def __init__(self) -> None:
        self._proxy: Proxy | None = None
        self._authenticator: Authenticator | None = None

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

_OPEN_PATHS = frozenset({"/healthz", "/readyz", Path.METRICS})
_INTERNAL_PREFIX = "/v1/xtrinode/"
_PUBLIC_PAGES = ("/v1/statement/queued/", "/v1/statement/executing/")


def _is_open(request: web.Request) -> bool:
    """Paths outside auth: probes, metrics, internal demand endpoints, and statement pages (PUBLIC in Trino)."""
    path = request.path
    if path in _OPEN_PATHS or path.startswith(_INTERNAL_PREFIX):
        return True
    return request.method in ("GET", "DELETE") and path.startswith(_PUBLIC_PAGES)


def _kind(request: web.Request) -> str:
    path = request.path
    if path in _OPEN_PATHS or path.startswith(_INTERNAL_PREFIX):
        return "internal"
    if path == Path.STATEMENT:
        return "statement"
    return "follow_up" if path.startswith("/v1/statement/") else "other"


@web.middleware
async def _observe(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    started = time.perf_counter()
    kind = _kind(request)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        seconds = None if kind == "internal" else time.perf_counter() - started
        request.app[METRICS].observe_request(request.get(ROUTE, "-"), kind, status, seconds)


@web.middleware
async def _guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if _is_open(request):
        return await handler(request)
    try:
        request[PRINCIPAL] = await request.app[LIVE].authenticator.authenticate(request)
    except AuthError as e:
        request.app[METRICS].auth_failed.labels(e.reason).inc()
        return web.Response(
            status=401, text=f"Authentication failed: {e.message}", headers={"WWW-Authenticate": 'Bearer realm="xtrinode"'}
        )
    return await handler(request)


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _readyz(request: web.Request) -> web.Response:
    if request.app[ROUTES].loaded:
        return web.Response(text="ready")
    return web.Response(status=503, text="route table not loaded yet")


async def _metrics(request: web.Request) -> web.Response:
    response = web.Response(body=request.app[METRICS].render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _demand(request: web.Request) -> web.Response:
    """Held and running queries of one runtime, summed over the replicas (autosuspend's demand)."""
    key = f"{request.match_info['namespace']}/{request.match_info['name']}"
    total = await request.app[LIVE].proxy.demand.total(key)
    return web.json_response({"held": total.held, "inflight": total.running})


async def _load(request: web.Request) -> web.Response:
    """Held plus running queries of one runtime, summed over the replicas (the KEDA metrics-api value)."""
    key = f"{request.match_info['namespace']}/{request.match_info['name']}"
    total = await request.app[LIVE].proxy.demand.total(key)
    return web.json_response({"inflight": total.running + total.held})


async def _statement(request: web.Request) -> web.StreamResponse:
    return await request.app[LIVE].proxy.statement(request)


async def _any(request: web.Request) -> web.StreamResponse:
    return await request.app[LIVE].proxy.other(request)


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
        if settings.redis.url:
            seconds = settings.redis.timeout.total_seconds()
            redis = aioredis.from_url(settings.redis.url, socket_timeout=seconds, socket_connect_timeout=seconds)
        authenticator = create_authenticator(settings.auth, session)
        tasks: list[asyncio.Task[None]] = []
        held: HeldStatements | None = None
        resumer: Resumer | None = None
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
            forwarder = Forwarder(session, resolve, metrics)
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
                          create_rate_limiter(settings.rate_limit, redis), ids, demand)
            app[LIVE]._proxy = proxy
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
            app[LIVE]._proxy = app[LIVE]._authenticator = None
            await authenticator.close()
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


def create_app(settings: GatewaySettings, *, backend_resolver: Callable[[str], str] | None = None) -> web.Application:
    """The gateway app; `backend_resolver` maps a route's backend URL to where to connect (devstack)."""
    app = web.Application(middlewares=[_observe, _guard], client_max_size=settings.upstream.max_statement_bytes)
    app[SETTINGS] = settings
    app[METRICS] = GatewayMetrics()
    app[LIVE] = Live()
    app[ROUTES] = RouteSource(app[METRICS], f"ConfigMap {settings.routes.namespace}/{settings.routes.config_map}")
    app.cleanup_ctx.append(_components(app, backend_resolver))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get(Path.METRICS, _metrics)
    app.router.add_get(_INTERNAL_PREFIX + "demand/{namespace}/{name}", _demand)
    app.router.add_get(_INTERNAL_PREFIX + "load/{namespace}/{name}", _load)
    app.router.add_post(Path.STATEMENT, _statement)
    app.router.add_route("*", "/{tail:.*}", _any)
    return app
