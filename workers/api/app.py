"""`create_app(settings)`: the API server's aiohttp app (SPEC 5, issue #15).

Routes (OpenAPI at /openapi.json): `GET /v1/runtimes[?namespace=]`, `GET /v1/runtimes/{ns}/{name}`,
`POST .../resume` and `.../suspend` (`?wait=true` answers when the phase is reached, else 202 with a
Location to poll), `GET .../events`; `/healthz`, `/readyz`, `/metrics` and `/openapi.json` without auth.
Every request target passes the gateway's canonical-path check; errors are JSON
`{"error", "code", "requestId"}`; bodies are validated by pydantic and unknown fields refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from gateway.edge import BadTarget, canonical_target, header_problem
from xtrinode.temporal import connect_client

from .auth import ApiAuth, Grant, Unauthorized
from .models import ActionAnswer, ErrorBody, EventItem, EventList, ResumeBody, RuntimeList, SuspendBody
from .openapi import openapi_document
from .runtimes import ActionFailed, RuntimeService, Unavailable
from .settings import ApiServerSettings, Scope
from .tracing import middlewares as tracing_middlewares

__all__ = ["LIVE", "SETTINGS", "create_app"]

log = logging.getLogger("xtrinode.api")

SETTINGS = web.AppKey("settings", ApiServerSettings)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Live:
    """What exists only while the app runs (set by the cleanup context)."""

    def __init__(self) -> None:
        self.service: RuntimeService | None = None
        self.auth: ApiAuth | None = None

    def ready(self) -> tuple[RuntimeService, ApiAuth]:
        if self.service is None or self.auth is None:
            raise web.HTTPServiceUnavailable(text="the API server is starting")
        return self.service, self.auth


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("xtrinode_api_requests_total", "API requests by route, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.seconds = Histogram("xtrinode_api_request_duration_seconds", "API request latency by route.", ["route"],
                                 registry=self.registry)
        self.actions = Counter("xtrinode_api_actions_total", "Resume and suspend calls by outcome.",
                               ["action", "outcome"], registry=self.registry)
        self.coalesced = Counter("xtrinode_api_coalesced_total", "Calls that joined an action already in flight.",
                                 ["action"], registry=self.registry)


LIVE = web.AppKey("live", Live)
METRICS = web.AppKey("metrics", ApiMetrics)
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
GRANT: web.RequestKey[Grant] = web.RequestKey("grant")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(request: web.BaseRequest, status: int, code: str, message: str) -> web.Response:
    body = ErrorBody(error=message, code=code, request_id=request.get(REQUEST_ID, "-"))
    headers = {"WWW-Authenticate": 'Bearer realm="xtrinode-api"'} if status == 401 else None
    return web.json_response(body.model_dump(by_alias=True), status=status, headers=headers)


_OPEN = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@web.middleware
async def _edge(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Request id, canonical target, auth, JSON errors, metrics."""
    offered = request.headers.get("X-Request-Id", "")
    request[REQUEST_ID] = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
    started = time.perf_counter()
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    status = 500
    try:
        response = await _guarded(request, handler)
        status = response.status
    except web.HTTPException as e:
        status = e.status
        response = _error(request, e.status, e.reason.lower().replace(" ", "_"), e.text or e.reason)
    except ApiError as e:
        status = e.status
        response = _error(request, e.status, e.code, e.message)
    except Unavailable as e:
        status = 503
        response = _error(request, 503, "unavailable", str(e))
    except Exception:  # a bug: still JSON, never a traceback on the wire
        log.exception("request %s failed", request[REQUEST_ID])
        status = 500
        response = _error(request, 500, "internal", "the API server failed; the log has the details "
                          f"(request id {request[REQUEST_ID]})")
    response.headers["X-Request-Id"] = request[REQUEST_ID]
    metrics: ApiMetrics = request.app[METRICS]
    method = request.method if request.method in _METHODS else "other"  # a client picks any token
    metrics.requests.labels(route, method, str(status)).inc()
    metrics.seconds.labels(route).observe(time.perf_counter() - started)
    return response


async def _guarded(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        canonical_target(request.raw_path)
    except BadTarget as e:
        raise ApiError(400, "bad_request", f"bad request target: {e}") from e
    problem = header_problem(request.headers)
    if problem is not None:
        raise ApiError(400, "bad_request", problem)
    if request.path in _OPEN and request.method in ("GET", "HEAD"):
        return await handler(request)
    _, auth = request.app[LIVE].ready()
    try:
        request[GRANT] = await auth.authenticate(request)
    except Unauthorized as e:
        raise ApiError(401, "unauthorized", e.message) from e
    return await handler(request)


def _runtime_ref(request: web.Request) -> tuple[str, str]:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    if not _NAME.match(namespace) or not _NAME.match(name):
        raise ApiError(404, "not_found", "no runtime has that namespace/name (both are DNS labels)")
    grant = request[GRANT]
    if not grant.sees(namespace):
        raise ApiError(404, "not_found", f"runtime {namespace}/{name} not found")
    return namespace, name


def _require(request: web.Request, scope: Scope, namespace: str) -> None:
    if not request[GRANT].may(scope, namespace):
        raise ApiError(403, "forbidden", f"this credential may not {scope} runtimes in {namespace!r}; "
                                         f"it needs the {scope!r} scope")


def _json(request: web.Request, model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(model.model_dump(mode="json", by_alias=True), sort_keys=True).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if status == 200 and request.method == "GET" and etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={"ETag": etag})
    out = web.Response(status=status, body=body, content_type="application/json", headers=headers)
    out.headers["ETag"] = etag
    return out


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        raise ApiError(413, "too_large", f"the body is larger than {settings.max_body_bytes} bytes")
    raw = await request.content.read(settings.max_body_bytes + 1)
    if len(raw) > settings.max_body_bytes:
        raise ApiError(413, "too_large", f"the body is larger than {settings.max_body_bytes} bytes")
    if not raw.strip():
        return model()
    if request.content_type not in ("application/json", "application/octet-stream", ""):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, "bad_request", f"the body is not JSON: {str(e)[:100]}") from e
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "bad_request", f"{where}: {first['msg']}") from e


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0", ""):
        raise ApiError(400, "bad_request", f"?{name}= takes true or false")
    return value in ("true", "1", "")


# -- handlers -------------------------------------------------------------------------------------
async def _list(request: web.Request) -> web.Response:
    service, _ = request.app[LIVE].ready()
    grant = request[GRANT]
    namespace = request.query.get("namespace")
    if namespace is not None and (not _NAME.match(namespace) or not grant.sees(namespace)):
        return _json(request, RuntimeList(items=[]))
    objects = await service.list_objects(namespace)
    visible = [o for o in objects if grant.sees(o["metadata"]["namespace"])]
    steps = await service.running_steps()
    views = await asyncio.gather(*(service.view(o, steps.get(_wf(o))) for o in visible))
    return _json(request, RuntimeList(items=list(views)))


def _wf(obj: dict[str, Any]) -> str:
    return f"xtrinode/{obj['metadata']['namespace']}/{obj['metadata']['name']}"


async def _object(request: web.Request) -> tuple[RuntimeService, dict[str, Any], str, str]:
    service, _ = request.app[LIVE].ready()
    namespace, name = _runtime_ref(request)
    obj = await service.get_object(namespace, name)
    if obj is None:
        raise ApiError(404, "not_found", f"runtime {namespace}/{name} not found")
    return service, obj, namespace, name


async def _get(request: web.Request) -> web.Response:
    service, obj, namespace, name = await _object(request)
    return _json(request, await service.view(obj))


async def _events(request: web.Request) -> web.Response:
    service, _obj, namespace, name = await _object(request)
    try:
        limit = max(1, min(int(request.query.get("limit", "50")), 200))
    except ValueError as e:
        raise ApiError(400, "bad_request", "?limit= takes a number from 1 to 200") from e
    steps, kube_events = await asyncio.gather(service.steps(namespace, name, limit), service.kube_events(namespace, name))
    items = [EventItem(time=s.closed_at or s.started_at, source="lifecycle", type=s.status, reason=s.name,
                       message=f"{s.name} {s.status.lower()}" + (f" after {s.seconds:.1f}s" if s.seconds is not None else ""))
             for s in steps]
    items.extend(kube_events)
    items.sort(key=lambda e: e.time.timestamp() if e.time else 0.0, reverse=True)
    return _json(request, EventList(items=items[:limit]))


def _action(action: str, scope: Scope, model: type[ResumeBody] | type[SuspendBody]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        service, obj, namespace, name = await _object(request)
        _require(request, scope, namespace)
        body = await _body(request, model)
        wait = _flag(request, "wait")
        settings = request.app[SETTINGS]
        metrics: ApiMetrics = request.app[METRICS]
        before = service.coalesced
        flight = service.act(namespace, name, action, body)
        if service.coalesced > before:
            metrics.coalesced.labels(action).inc()
        limit = settings.wait_timeout if wait else settings.accept_wait
        done, _ = await asyncio.wait({flight}, timeout=limit.total_seconds())
        location = f"/v1/runtimes/{namespace}/{name}"
        if not done:
            metrics.actions.labels(action, "accepted").inc()
            view = await service.view(obj)
            return _json(request, ActionAnswer(action=action, state="accepted", runtime=view),
                         status=202, headers={"Location": location})
        try:
            flight.result()
        except ActionFailed as e:
            metrics.actions.labels(action, "failed").inc()
            raise ApiError(409, "conflict", str(e)) from e
        metrics.actions.labels(action, "done").inc()
        fresh = await service.get_object(namespace, name) or obj
        return _json(request, ActionAnswer(action=action, state="done", runtime=await service.view(fresh)),
                     headers={"Location": location})

    return handle


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _readyz(request: web.Request) -> web.Response:
    live = request.app[LIVE]
    if live.service is None or live.auth is None or not live.auth.ready:
        return web.Response(status=503, text="not ready (Temporal, the Kubernetes API or the signing keys)")
    return web.Response(text="ready")


async def _metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(request.app[METRICS].registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
    ("GET", "/v1/runtimes", _list),
    ("GET", "/v1/runtimes/{namespace}/{name}", _get),
    ("POST", "/v1/runtimes/{namespace}/{name}/resume", _action("resume", "resume", ResumeBody)),
    ("POST", "/v1/runtimes/{namespace}/{name}/suspend", _action("suspend", "admin", SuspendBody)),
    ("GET", "/v1/runtimes/{namespace}/{name}/events", _events),
    ("GET", "/healthz", _healthz),
    ("GET", "/readyz", _readyz),
    ("GET", "/metrics", _metrics),
    ("GET", "/openapi.json", _openapi),
]


def _components(settings: ApiServerSettings, connect: Callable[[], Awaitable[Client]] | None,
                kube: kube_client.ApiClient | None) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def context(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        auth = ApiAuth(settings.auth, session)
        api = kube or _kube_client(settings.kube.kubeconfig)
        service: RuntimeService | None = None
        try:
            await auth.start()
            temporal = await (connect() if connect else connect_client(settings.temporal.to_temporal()))
            service = RuntimeService(api, temporal, status_concurrency=settings.status_concurrency,
                                     status_timeout=settings.status_timeout.total_seconds(),
                                     namespaces=tuple(settings.kube.namespaces))
            app[LIVE].auth, app[LIVE].service = auth, service
            yield
        finally:
            app[LIVE].auth = app[LIVE].service = None
            if service is not None:
                await service.close()
            await auth.close()
            await session.close()
            if kube is None:
                api.close()  # type: ignore[no-untyped-call]

    return context


def _kube_client(kubeconfig: str | None) -> kube_client.ApiClient:
    if kubeconfig is None:
        kube_config.load_incluster_config()  # type: ignore[no-untyped-call]
        return kube_client.ApiClient()
    api: kube_client.ApiClient = kube_config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    return api


def create_app(settings: ApiServerSettings, *, connect: Callable[[], Awaitable[Client]] | None = None,
               kube: kube_client.ApiClient | None = None) -> web.Application:
    """The API server app; `connect` (a Temporal client) and `kube` may be given (tests, devstack)."""
    app = web.Application(middlewares=[*tracing_middlewares(), _edge], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[LIVE] = Live()
    app[METRICS] = ApiMetrics()
    app.cleanup_ctx.append(_components(settings, connect, kube))
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app
