"""The aiohttp application: REST paths to verbs, content negotiation, Status errors, persistence.

`create_app(settings)` builds the app; `run(settings)` serves it until SIGINT/SIGTERM, then saves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from pydantic import BaseModel, Field

from . import admission, convert, deletion, discovery, identity, tables, writes
from . import scale as scaling
from .writes import Route
from . import watch as watching
from .cluster import APPLY_PATCH, PATCH_TYPES, Cluster, WriteOptions
from .errors import ApiError, bad_request, method_not_allowed, unsupported_media_type
from .protobuf import PROTOBUF, decode_protobuf
from .resources import Registry, ResourceType
from .selectors import FieldRequirement, SelectorError, Selection, parse_field_selector, parse_label_selector
from .store import Store

log = logging.getLogger("devstack.kubeapi")
JsonDict = dict[str, Any]

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class KubeApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(0, description="TCP port; 0 picks a free one.")
    state_file: Path | None = Field(None, description="JSON file to load at start and save to; none keeps state in memory.")
    history_limit: int = Field(5000, description="Events kept for watch resumption; older versions get 410 Expired.")
    bookmark_interval: timedelta = Field(
        timedelta(seconds=15), description="Idle time between BOOKMARK events on watches that allow them."
    )
    max_watch: timedelta = Field(timedelta(minutes=30), description="Longest a watch stays open without timeoutSeconds.")
    persist_interval: timedelta = Field(timedelta(seconds=2), description="How often changed state is written to state_file.")


CLUSTER_KEY = web.AppKey("cluster", Cluster)
ADMITTER_KEY = web.AppKey("admitter", admission.Admitter)
SETTINGS_KEY = web.AppKey("settings", KubeApiSettings)


def build_cluster(settings: KubeApiSettings) -> Cluster:
    """The store (loaded from the state file when it exists) with default namespaces and CRDs registered."""
    store = Store(history_limit=settings.history_limit)
    registry = Registry()
    cluster = Cluster(store, registry)
    if settings.state_file is not None and settings.state_file.exists():
        store.load(settings.state_file)
        for crd in store.objects(("apiextensions.k8s.io", "customresourcedefinitions")):
            registry.register_crd(crd)
    ns_type = registry.lookup("", "v1", "namespaces")
    assert ns_type is not None
    for name in DEFAULT_NAMESPACES:
        if store.get(("", "namespaces"), "", name) is None:
            cluster.create(ns_type, "", {"metadata": {"name": name}}, WriteOptions(manager="kube-apiserver"))
    return cluster


def _json(body: Any, status: int = 200, content_type: str = "application/json", warnings: list[str] | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join(f'299 - "{w.replace(chr(34), chr(92) + chr(34))}"' for w in warnings)
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        headers={"Content-Type": content_type, **headers},
    )


def _error(e: ApiError) -> web.Response:
    return _json(e.status(), status=e.code)


async def _read_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    ctype = request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
    try:
        if ctype == PROTOBUF:
            return decode_protobuf(raw)
        if ctype in (APPLY_PATCH, "application/yaml"):
            # Clients (the Python one included) mostly send apply patches as JSON, which is YAML: parse it
            # as JSON when it is, since the pure-Python YAML parser was a third of the emulator's CPU.
            if raw.lstrip()[:1] == b"{":
                try:
                    return json.loads(raw)
                except ValueError:
                    pass
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request(f"the request body is not valid {ctype}: {str(e)[:200]}") from e


def _selection(rt: ResourceType, query: Any) -> Selection:
    """Both selectors; field paths are translated to the stored form (events.k8s.io `regarding.*`)."""
    try:
        labels = tuple(parse_label_selector(query.get("labelSelector")))
        fields = parse_field_selector(query.get("fieldSelector"), rt.field_labels,
                                      list_known=rt.group_resource == ("", "configmaps"))
    except SelectorError as e:
        raise bad_request(str(e)) from e
    stored = tuple(FieldRequirement(convert.field_path(rt, f.path), f.equal, f.value) for f in fields)
    return Selection(labels, stored)


def _write_options(request: web.Request) -> WriteOptions:
    q = request.query
    manager = q.get("fieldManager") or request.headers.get("User-Agent", "unknown").split("/")[0] or "unknown"
    force = q.get("force")
    validation = q.get("fieldValidation") or "Warn"
    if validation not in ("Ignore", "Warn", "Strict"):
        raise bad_request(f"fieldValidation must be Ignore, Warn or Strict, got {validation!r}")
    return WriteOptions(
        manager=manager,
        manager_explicit="fieldManager" in q,
        field_validation=validation,
        dry_run=q.get("dryRun") == "All",
        force=None if force is None else force.lower() in ("true", "1"),
    )


def _resolve(registry: Registry, group: str, version: str, segs: list[str]) -> Route:
    missing = ApiError(404, "the server could not find the requested resource")
    if group == "" and segs[0] == "namespaces" and (len(segs) <= 2 or (len(segs) == 3 and segs[2] in ("status", "finalize"))):
        namespace, rest = None, segs
    elif segs[0] == "namespaces" and len(segs) >= 3:
        namespace, rest = segs[1], segs[2:]
    else:
        namespace, rest = None, segs
    if len(rest) > 3 or not rest[0]:
        raise missing
    rt = registry.lookup(group, version, rest[0])
    if rt is None:
        raise missing
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if namespace is not None and not rt.namespaced:
        raise missing
    if rt.namespaced and name and namespace is None:
        raise missing
    served = {"status": rt.status, "scale": rt.scale is not None, "finalize": rt.plural == "namespaces"}
    if sub and not served.get(sub):
        raise missing
    return Route(rt, namespace, name, sub)


async def _resource(request: web.Request, cluster: Cluster, route: Route) -> web.StreamResponse:
    rt, ns, name, sub = route.rt, route.namespace, route.name, route.sub
    q = request.query
    method = request.method
    accept = request.headers.get("Accept", "")
    if method not in rt_methods(rt, bool(name)):
        raise method_not_allowed()
    user = identity.from_headers(request.headers)
    watch = q.get("watch", "").lower() in ("true", "1")
    identity.authorize_request(cluster.store, user, rt, identity.verb_for(method, bool(name), watch), ns, name, sub)
    if method == "GET" and not name:
        selection = _selection(rt, q)
        if q.get("watch", "").lower() in ("true", "1"):
            settings = request.app[SETTINGS_KEY]
            w = watching.parse_watch(rt, ns, selection, q, settings.max_watch.total_seconds(), tables.wants_table(accept))
            return await watching.stream(request, cluster, w, settings.bookmark_interval.total_seconds())
        try:
            limit = int(q.get("limit") or 0)
        except ValueError as e:
            raise bad_request(f"limit must be an integer, got {q.get('limit')!r}") from e
        listing = cluster.list_objects(rt, ns, selection, limit, q.get("continue", ""))
        if tables.wants_table(accept):
            return _json(tables.table(rt, listing["items"], listing["metadata"]))
        return _json(listing)
    if method == "GET":
        obj = scaling.get_scale(cluster, rt, ns or "", name) if sub == "scale" else cluster.get(rt, ns or "", name)
        if tables.wants_table(accept) and not sub:
            return _json(tables.table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}))
        return _json(obj)
    if method == "DELETE":
        body = await _read_body(request) or {}
        if not isinstance(body, dict):
            raise bad_request("the DELETE body must be DeleteOptions (a JSON map), e.g. {\"propagationPolicy\": \"Background\"}")
        options = {**body, **{k: q[k] for k in ("propagationPolicy", "dryRun") if k in q}}
        if q.get("gracePeriodSeconds"):
            try:
                options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise bad_request(f"gracePeriodSeconds {q['gracePeriodSeconds']!r} is not a whole number of seconds") from None
        if q.get("orphanDependents"):
            options["orphanDependents"] = q["orphanDependents"] == "true"
        if not name:
            return _json(deletion.delete_collection(cluster, rt, ns, _selection(rt, q), options))
        return _json(await writes.admitted_delete(request.app[ADMITTER_KEY], cluster, route, options, user))
    opts = _write_options(request)
    body = await _read_body(request)
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if method == "PATCH" and ctype not in PATCH_TYPES:
        raise unsupported_media_type(ctype, list(PATCH_TYPES))
    if writes.needs_admission(cluster, rt):
        result, code = await writes.admitted(request.app[ADMITTER_KEY], cluster, route, method, ctype, body, opts, user)
    else:
        result, code = writes.perform(cluster, route, method, ctype, body, opts, user)
    return _json(result, status=code, warnings=opts.warnings)


def rt_methods(rt: ResourceType, named: bool) -> tuple[str, ...]:
    if rt.virtual:
        return () if named else ("POST",)
    return ("GET", "PUT", "PATCH", "DELETE") if named else ("GET", "POST", "DELETE")


async def _discovery(request: web.Request, cluster: Cluster, parts: list[str]) -> web.StreamResponse | None:
    """Answer discovery and openapi paths; None when the path is a resource path."""
    registry = cluster.registry
    accept = request.headers.get("Accept", "")
    if parts == ["version"]:
        return _json(discovery.VERSION)
    if parts in (["healthz"], ["readyz"], ["livez"]):
        return web.Response(text="ok", content_type="text/plain")
    if parts in (["api"], ["apis"]):
        core = parts == ["api"]
        if discovery.wants_aggregated(accept):
            return _json(discovery.aggregated(registry, core), content_type=discovery.AGGREGATED_CONTENT_TYPE)
        if core:
            return _json(discovery.api_versions(request.host))
        return _json(discovery.api_group_list(registry))
    if parts == ["api", "v1"]:
        return _json(discovery.resource_list(registry, "", "v1"))
    if len(parts) == 2 and parts[0] == "apis":
        versions = registry.groups().get(parts[1])
        if not versions:
            raise ApiError(404, f"the server could not find the requested resource (group {parts[1]!r})")
        return _json(discovery.api_group(parts[1], versions))
    if len(parts) == 3 and parts[0] == "apis":
        if parts[2] not in registry.groups().get(parts[1], []):
            raise ApiError(404, "the server could not find the requested resource")
        return _json(discovery.resource_list(registry, parts[1], parts[2]))
    if parts[:2] == ["openapi", "v3"]:
        if len(parts) == 2:
            return _json(discovery.openapi_root(registry))
        rest = parts[2:]
        if rest[0] == "api" and len(rest) == 2:
            group, version = "", rest[1]
        elif len(rest) == 3:
            group, version = rest[1], rest[2]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        doc = discovery.openapi_group_version(registry, group, version)
        if doc is None:
            raise ApiError(404, "the server could not find the requested resource")
        return _json(doc)
    if parts and parts[0] == "openapi":
        raise ApiError(404, "the server could not find the requested resource")
    return None


async def handle(request: web.Request) -> web.StreamResponse:
    cluster = request.app[CLUSTER_KEY]
    parts = [p for p in request.path.split("/") if p]
    try:
        answered = await _discovery(request, cluster, parts)
        if answered is not None:
            return answered
        if len(parts) >= 3 and parts[:2] == ["api", "v1"]:
            return await _resource(request, cluster, _resolve(cluster.registry, "", "v1", parts[2:]))
        if len(parts) >= 4 and parts[0] == "apis":
            return await _resource(request, cluster, _resolve(cluster.registry, parts[1], parts[2], parts[3:]))
        raise ApiError(404, "the server could not find the requested resource")
    except ApiError as e:
        if e.code >= 500:
            log.error("request failed: %s %s: %s", request.method, request.path, e.message)
        return _error(e)


async def _persistence(app: web.Application) -> AsyncIterator[None]:
    """Save the state file every persist_interval when something changed, and once at shutdown."""
    settings = app[SETTINGS_KEY]
    cluster = app[CLUSTER_KEY]
    path = settings.state_file
    saved = cluster.store.rv

    async def loop() -> None:
        nonlocal saved
        while True:
            await asyncio.sleep(settings.persist_interval.total_seconds())
            if path is not None and cluster.store.rv != saved:
                saved = cluster.store.rv
                cluster.store.save(path)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if path is not None:
        cluster.store.save(path)


async def _close_admitter(app: web.Application) -> None:
    await app[ADMITTER_KEY].close()


async def _close_watches(app: web.Application) -> None:
    app[CLUSTER_KEY].store.close_subscriptions()


@web.middleware
async def _internal_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except Exception as e:  # a bug in the emulator: answer like the apiserver would, and log it
        log.exception("internal error on %s %s", request.method, request.path)
        return _error(ApiError(500, f"internal error in the kubeapi emulator: {type(e).__name__}: {e}"))


def create_app(settings: KubeApiSettings, cluster: Cluster | None = None) -> web.Application:
    app = web.Application(middlewares=[_internal_errors], client_max_size=64 * 1024 * 1024)
    app[SETTINGS_KEY] = settings
    app[CLUSTER_KEY] = cluster or build_cluster(settings)
    app[ADMITTER_KEY] = admission.Admitter(app[CLUSTER_KEY].store)
    app.cleanup_ctx.append(_persistence)
    app.on_cleanup.append(_close_admitter)
    app.on_shutdown.append(_close_watches)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def run(settings: KubeApiSettings, on_ready: Any = None) -> None:
    """Serve until SIGINT or SIGTERM; the state file is saved on the way out."""
    from .runner import KubeApiServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with KubeApiServer(settings=settings) as server:
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
