"""The client statement protocol: POST /v1/statement, queued and executing pages, tokens, cancel.

Pages follow QueryResults (fields left out when empty), long-poll up to min(maxWait, 1s),
replay the last token, answer 410 for older and 404 for unknown or ahead; the last page has
no nextUri and carries the X-Trino-Set-* headers.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, unquote_plus

from aiohttp import web

from xtrinode.trino_protocol import Header, Path, QueryState

from .auth import external_base, request_user
from .config import ConfigError, parse_airlift_duration
from .keys import MANAGER, SETTINGS
from .queries import EXECUTING_CONTEXT, QUEUED_CONTEXT, Identity, Query
from .types import column_json

__all__ = ["add_statement_routes", "statement_stats"]

MAX_WAIT_CAP = 1.0


def _not_found() -> web.Response:
    return web.Response(status=404, text="Query not found")


def _parse_session(request: web.Request) -> dict[str, str]:
    properties: dict[str, str] = {}
    for line in request.headers.getall(Header.SESSION, []):
        for pair in line.split(","):
            name, sep, value = pair.strip().partition("=")
            if sep and name:
                properties[name.strip()] = unquote_plus(value.strip())
    return properties


def _identity(request: web.Request, user: str) -> Identity:
    headers = request.headers
    tags = tuple(t.strip() for t in headers.get(Header.CLIENT_TAGS, "").split(",") if t.strip())
    return Identity(
        user=user,
        source=headers.get(Header.SOURCE) or None,
        catalog=headers.get(Header.CATALOG) or None,
        schema=headers.get(Header.SCHEMA) or None,
        properties=_parse_session(request),
        client_info=headers.get(Header.CLIENT_INFO) or None,
        client_tags=tags,
        time_zone=headers.get(Header.TIME_ZONE) or None,
        user_agent=headers.get("User-Agent") or None,
    )


def statement_stats(query: Query) -> dict[str, Any]:
    """StatementStats with every counter present, progressPercentage once scheduled."""
    scheduled = query.dispatched and query.state not in (QueryState.QUEUED, QueryState.WAITING_FOR_RESOURCES)
    total_rows = len(query.result.rows) if query.result is not None else 0
    elapsed = int(query.elapsed_seconds() * 1000)
    stats: dict[str, Any] = {
        "state": str(query.state),
        "queued": query.state.queued,
        "scheduled": scheduled,
        "nodes": 1 + len(query.workers) if scheduled else 0,
        "totalSplits": 1 if scheduled else 0,
        "queuedSplits": 0,
        "runningSplits": 1 if scheduled and not query.state.done and query.result is None else 0,
        "completedSplits": 1 if query.result is not None else 0,
        "cpuTimeMillis": 0,
        "wallTimeMillis": elapsed,
        "queuedTimeMillis": int(query.queued_seconds() * 1000),
        "elapsedTimeMillis": elapsed,
        "processedRows": total_rows,
        "processedBytes": 0,
        "physicalInputBytes": 0,
        "physicalWrittenBytes": 0,
        "peakMemoryBytes": 0,
        "spilledBytes": 0,
    }
    if scheduled:
        if query.state == QueryState.FINISHED or total_rows == 0:
            progress = 100.0 if query.result is not None else 0.0
        else:
            progress = 100.0 * query.rows_sent / total_rows
        stats["progressPercentage"] = progress
        stats["runningPercentage"] = 0.0 if query.state.done else 100.0 - progress
    return stats


class _Pages:
    """Builds QueryResults pages for one request (its external base URL)."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.settings = request.app[SETTINGS]
        self.base = external_base(request, self.settings)

    def uri(self, template: str, query: Query, context: int, token: int) -> str:
        path = template.format(query_id=query.query_id, slug=query.slug(context, token), token=token)
        return self.base + path

    def page(self, query: Query, next_uri: str | None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": query.query_id,
            "infoUri": f"{self.base}{Path.UI_QUERY}?{query.query_id}",
        }
        if next_uri is not None:
            body["nextUri"] = next_uri
        body.update(extra)
        if query.state == QueryState.FAILED and query.failure is not None and next_uri is None:
            body["error"] = query.failure.to_json()
        body["stats"] = statement_stats(query)
        body["warnings"] = []
        return body


def _max_wait(request: web.Request) -> float:
    text = request.query.get("maxWait")
    if not text:
        return MAX_WAIT_CAP
    try:
        return min(MAX_WAIT_CAP, parse_airlift_duration(text, "maxWait").total_seconds())
    except ConfigError:
        return MAX_WAIT_CAP


def _lookup(request: web.Request, context: int) -> tuple[Query, int] | None:
    query = request.app[MANAGER].get(request.match_info["query_id"])
    try:
        token = int(request.match_info["token"])
    except ValueError:
        return None
    if query is None or token < 0 or not query.slug_valid(context, token, request.match_info["slug"]):
        return None
    return query, token


async def post_statement(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    user = request_user(request, settings)
    sql = await request.text()
    if not sql.strip():
        return web.Response(status=400, text="SQL statement is empty")
    query = request.app[MANAGER].create(sql, _identity(request, user))
    pages = _Pages(request)
    return web.json_response(pages.page(query, pages.uri(Path.QUEUED, query, QUEUED_CONTEXT, 1)))


async def get_queued(request: web.Request) -> web.Response:
    found = _lookup(request, QUEUED_CONTEXT)
    if found is None:
        return _not_found()
    query, token = found
    if token not in (query.queued_token, query.queued_token + 1):
        return web.Response(status=410, text="Invalid token")
    with query.polled():
        request.app[MANAGER].start(query)
        deadline = time.monotonic() + _max_wait(request)
        while not (query.dispatched or query.state.done) and (remaining := deadline - time.monotonic()) > 0:
            await query.wait_changed(remaining)
    query.queued_token = max(query.queued_token, token)
    pages = _Pages(request)
    if query.state == QueryState.FAILED and not query.dispatched:
        return web.json_response(pages.page(query, None))
    if query.dispatched:
        body = pages.page(query, pages.uri(Path.EXECUTING, query, EXECUTING_CONTEXT, 0))
    else:
        body = pages.page(query, pages.uri(Path.QUEUED, query, QUEUED_CONTEXT, token + 1))
    if query.state != QueryState.FAILED:
        # The queued phase shows only QUEUED or FAILED; WAITING_FOR_RESOURCES is for /v1/query.
        body["stats"]["state"] = str(QueryState.QUEUED)
        body["stats"]["queued"] = True
    return web.json_response(body)


def _final_headers(query: Query) -> list[tuple[str, str]]:
    result = query.result
    if result is None or query.state != QueryState.FINISHED:
        return []
    headers: list[tuple[str, str]] = []
    if result.set_catalog is not None:
        headers.append((Header.SET_CATALOG, result.set_catalog))
    if result.set_schema is not None:
        headers.append((Header.SET_SCHEMA, result.set_schema))
    for name, value in result.set_session.items():
        headers.append((Header.SET_SESSION, f"{name}={quote(value, safe='')}"))
    for name in result.clear_session:
        headers.append((Header.CLEAR_SESSION, name))
    return headers


def _respond(body: dict[str, Any], headers: list[tuple[str, str]]) -> web.Response:
    response = web.json_response(body)
    for name, value in headers:
        response.headers.add(name, value)
    return response


async def get_executing(request: web.Request) -> web.Response:
    found = _lookup(request, EXECUTING_CONTEXT)
    if found is None:
        return _not_found()
    query, token = found
    with query.polled():
        async with query.page_lock:  # a retried request for the same token replays, never advances twice
            cached = query.page_cache
            if cached is not None and cached[0] == token:
                return _respond(cached[1], cached[2])
            if token < query.executing_token:
                return web.Response(status=410, text="Gone")
            final_served = cached is not None and "nextUri" not in cached[1]
            if token != query.executing_token + 1 or final_served:
                return _not_found()
            deadline = time.monotonic() + _max_wait(request)
            while query.result is None and not query.state.done and (remaining := deadline - time.monotonic()) > 0:
                await query.wait_changed(remaining)
            body = _executing_page(request, query, token)
            headers = _final_headers(query) if "nextUri" not in body else []
            query.executing_token = token
            query.page_cache = (token, body, headers)
            return _respond(body, headers)


def _executing_page(request: web.Request, query: Query, token: int) -> dict[str, Any]:
    pages = _Pages(request)
    next_uri = pages.uri(Path.EXECUTING, query, EXECUTING_CONTEXT, token + 1)
    result = query.result
    if query.state == QueryState.FAILED or result is None:
        return pages.page(query, None if query.state.done else next_uri)
    page_rows = request.app[SETTINGS].page_rows
    chunk = result.rows[query.rows_sent:query.rows_sent + page_rows]
    query.rows_sent += len(chunk)
    extra: dict[str, Any] = {}
    if result.columns:
        extra["columns"] = [column_json(name, type_text) for name, type_text in result.columns]
    if chunk:
        extra["data"] = chunk
    if query.rows_sent < len(result.rows):
        return pages.page(query, next_uri, **extra)
    query.set_state(QueryState.FINISHED)
    if result.update_type is not None:
        extra["updateType"] = result.update_type
    return pages.page(query, None, **extra)


async def delete_statement(request: web.Request) -> web.Response:
    context = QUEUED_CONTEXT if "/queued/" in request.path else EXECUTING_CONTEXT
    found = _lookup(request, context)
    if found is None:
        return _not_found()
    request.app[MANAGER].cancel(found[0])
    return web.Response(status=204)


async def delete_partial(request: web.Request) -> web.Response:
    query = request.app[MANAGER].get(request.match_info["query_id"])
    return web.Response(status=204) if query is not None else _not_found()


def add_statement_routes(app: web.Application) -> None:
    app.router.add_post(Path.STATEMENT, post_statement)
    app.router.add_get(Path.QUEUED, get_queued)
    app.router.add_delete(Path.QUEUED, delete_statement)
    app.router.add_delete(Path.PARTIAL_CANCEL, delete_partial)
    app.router.add_get(Path.EXECUTING, get_executing)
    app.router.add_delete(Path.EXECUTING, delete_statement)
