"""`create_app(settings)`: one emulated Trino node as an aiohttp application.

Shared objects live under AppKeys (keys.py); the HTTP client session and the background
tasks (discovery polling or announcing, abandoned-query reaper) run in cleanup contexts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web

from .auth import forwarded_middleware
from .control import add_control_routes
from .discovery import Announcer, NodeRegistry
from .duck import Database
from .engine import Engine
from .keys import LIFECYCLE, MANAGER, REGISTRY, RUNTIME, SETTINGS, Runtime
from .lifecycle import NodeLifecycle
from .metadata import Metadata, NodeRow, QueryRow
from .queries import QueryManager
from .settings import NodeSettings
from .statement import add_statement_routes, trino_error

__all__ = ["create_app"]

log = logging.getLogger("devstack.trino")

EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
DATABASE = web.AppKey("database", Database)


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Errors with Trino's bodies: unknown paths 404 `Error 404 Not Found: HTTP 404 Not Found`, a wrong
    method 405 with an empty body and `Allow`, 401 as text/plain;charset=utf-8, never a 500 traceback."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as e:
        allowed = ["HEAD", *sorted(set(e.allowed_methods) - {"HEAD", "OPTIONS"}), "OPTIONS"]
        return web.Response(status=405, headers={"Allow": ",".join(allowed)})
    except web.HTTPNotFound as e:
        if e.text and not e.text.startswith("404"):
            return trino_error(404, e.text)
        return trino_error(404, "HTTP 404 Not Found")
    except web.HTTPForbidden as e:
        return trino_error(403, e.text or "Forbidden")
    except web.HTTPUnauthorized as e:
        response = web.Response(status=401, body=(e.text or "").encode(),
                                headers={"Content-Type": "text/plain;charset=utf-8"})
        for challenge in e.headers.getall("WWW-Authenticate", []):  # Bearer and Basic may both be offered
            response.headers.add("WWW-Authenticate", challenge)
        return response
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request failed", extra={"method": request.method, "path": request.path})
        return web.Response(status=500, text="Internal error in the xtrinode Trino emulator")


async def _trino_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers as Trino's Jetty sends them: `Vary: Accept-Encoding`, nosniff on JSON, no `Server`."""
    response.headers.popall("Server", None)
    if response.status != 405 and "Vary" not in response.headers:
        response.headers["Vary"] = "Accept-Encoding"
    if response.headers.get("Content-Type", "").startswith("application/json"):
        response.headers["X-Content-Type-Options"] = "nosniff"


GZIP_MIN_BYTES = 32
"""Like Jetty's GzipHandler in Trino: a body this size or larger is gzipped for a client that accepts gzip
(Trino 476 gzips /v1/info, /v1/status and statement pages, not the 8-byte `"ACTIVE"` of /v1/info/state)."""


@web.middleware
async def _gzip(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    accepts = request.headers.get("Accept-Encoding", "").lower()
    if (isinstance(response, web.Response) and "gzip" in accepts and "Content-Encoding" not in response.headers
            and isinstance(response.body, bytes) and len(response.body) >= GZIP_MIN_BYTES):
        response.enable_compression(web.ContentCoding.gzip)
    return response


def _node_rows(app: web.Application) -> list[NodeRow]:
    settings, runtime = app[SETTINGS], app[RUNTIME]
    rows = [NodeRow(settings.node_id, runtime.self_uri or "", settings.version, settings.coordinator,
                    str(app[LIFECYCLE].state).lower())]
    for node in app[REGISTRY].nodes.values():
        rows.append(NodeRow(node.node_id or node.uri, node.uri, node.version or "", node.coordinator,
                            str(node.state).lower()))
    return rows


def _query_rows(app: web.Application) -> list[QueryRow]:
    return [query.row() for query in app[MANAGER].visible()]


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[RUNTIME].set_http(session)
        yield
        app[RUNTIME].set_http(None)


async def _background(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    tasks: list[asyncio.Task[None]] = []
    if settings.coordinator:
        tasks.append(asyncio.create_task(app[REGISTRY].run(), name="trino-node-registry"))
        tasks.append(asyncio.create_task(app[MANAGER].reap(), name="trino-query-reaper"))
    elif settings.discovery_uri:
        tasks.append(asyncio.create_task(_announce_when_ready(app), name="trino-announcer"))
    tasks.append(asyncio.create_task(_log_started(app), name="trino-started"))
    if settings.coordinator:
        tasks.append(asyncio.create_task(_warm_up(app), name="trino-sql-warm-up"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app[MANAGER].close()
        await app[LIFECYCLE].close()


async def _announce_when_ready(app: web.Application) -> None:
    runtime = app[RUNTIME]
    await runtime.bound.wait()
    await app[LIFECYCLE].wait_started()
    assert runtime.self_uri is not None
    await Announcer(app[SETTINGS], runtime.http, runtime.self_uri).run()


async def _log_started(app: web.Application) -> None:
    await app[RUNTIME].bound.wait()
    await app[LIFECYCLE].wait_started()
    settings = app[SETTINGS]
    log.info("SERVER STARTED", extra={"uri": app[RUNTIME].self_uri, "node_id": settings.node_id,
                                      "coordinator": settings.coordinator, "environment": settings.environment})


async def _executor(app: web.Application) -> AsyncIterator[None]:
    yield
    executor = app[EXECUTOR]
    await asyncio.get_running_loop().run_in_executor(None, lambda: executor.shutdown(wait=True, cancel_futures=True))
    app[DATABASE].close()


def _prepare_sql(database: Database) -> None:
    from . import translate  # noqa: F401, PLC0415 - sqlglot, imported off the startup path

    database.warm_up()


WARM_UP_DELAY = 1.0
"""Seconds after binding before a coordinator prepares its SQL engine: pods starting together (a coordinator
and its workers) get the CPU for their own start first; a query arriving earlier prepares it itself."""


async def _warm_up(app: web.Application) -> None:
    """A coordinator prepares DuckDB and tpch.tiny soon after it listens, so its first query does not wait."""
    await app[RUNTIME].bound.wait()
    await asyncio.sleep(WARM_UP_DELAY)
    try:
        await asyncio.get_running_loop().run_in_executor(app[EXECUTOR], _prepare_sql, app[DATABASE])
    except Exception as error:  # noqa: BLE001 - a failed warm-up shows again, as a query error, when it matters
        log.warning("SQL engine warm-up failed", extra={"error": str(error)})


def create_app(settings: NodeSettings) -> web.Application:
    """The node's app; routes depend on the role (statement, query and discovery APIs on coordinators)."""
    app = web.Application(middlewares=[_gzip, forwarded_middleware(settings), _errors])
    runtime = Runtime()
    lifecycle = NodeLifecycle(settings)
    registry = NodeRegistry(settings, runtime.http)
    executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="trino-emulator-sql")
    database = Database(settings.tpch_cache_dir)
    metadata = Metadata(settings.catalogs, lambda: _node_rows(app), lambda: _query_rows(app))
    manager = QueryManager(settings, lifecycle, registry, Engine(metadata, executor, database, settings.version),
                           runtime.http)
    app[SETTINGS] = settings
    app[RUNTIME] = runtime
    app[LIFECYCLE] = lifecycle
    app[REGISTRY] = registry
    app[MANAGER] = manager
    app[EXECUTOR] = executor
    app[DATABASE] = database
    app.on_response_prepare.append(_trino_headers)
    add_control_routes(app, settings.coordinator)
    if settings.coordinator:
        add_statement_routes(app)
    app.cleanup_ctx.append(_executor)
    app.cleanup_ctx.append(_http_client)
    app.cleanup_ctx.append(_background)
    return app

