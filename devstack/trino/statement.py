"""The client statement protocol: POST /v1/statement, queued and executing pages, tokens, cancel.

Pages follow QueryResults as Trino 476 sends them: fields left out when empty, `columns` as soon as
they are known, row data sized by bytes (`targetResultSize`), a trailing FINISHED page, the error on
the last page of a failed query, `partialCancelUri` while it runs. Requests long-poll up to
min(maxWait, 1s), replay the last token, answer 410 for older and 404 for unknown or ahead tokens;
the last page (no nextUri) carries the X-Trino-Set-* and similar headers.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Final
from urllib.parse import quote_plus, unquote_plus

from aiohttp import web

from xtrinode.trino_protocol import Header, Path, QueryState

from .auth import external_base, request_user
from .config import ConfigError, parse_airlift_duration
from .keys import MANAGER, SETTINGS
from .queries import EXECUTING_CONTEXT, QUEUED_CONTEXT, Query
from .session import Identity
from .types import column_json

__all__ = ["add_statement_routes", "json_body", "statement_stats", "trino_error"]

MAX_WAIT_CAP = 1.0
MAX_TARGET_RESULT_SIZE: Final = 128 << 20
_DATA_MARK: Final = "@@xtrinode-page-data@@"
"""Placeholder for the rows, spliced in as ready JSON text (they were encoded once, by the producer)."""


def trino_error(status: int, message: str) -> web.Response:
    """An error answer as Trino's Jetty writes it: `Error 404 Not Found: <message>`, text/plain."""
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 410: "Gone"}.get(status, "Error")
    return web.Response(status=status, body=f"Error {status} {reason}: {message}".encode(),
                        headers={"Content-Type": "text/plain"})


def json_body(body: Any, status: int = 200) -> web.Response:
    """JSON exactly as Trino answers it: `Content-Type: application/json`, compact."""
    data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    return web.Response(status=status, body=data, headers={"Content-Type": "application/json"})


def _not_found() -> web.Response:
    return trino_error(404, "Query not found")


def _pairs(request: web.Request, header: str) -> dict[str, str]:
    """`name=urlencoded,...` header lines (Session, Prepared-Statement) as a dict."""
    values: dict[str, str] = {}
    for line in request.headers.getall(header, []):
        for pair in line.split(","):
            name, sep, value = pair.strip().partition("=")
            if sep and name:
                values[unquote_plus(name.strip())] = unquote_plus(value.strip())
    return values


def _identity(request: web.Request, user: str) -> Identity:
    headers = request.headers
    tags = tuple(t.strip() for t in headers.get(Header.CLIENT_TAGS, "").split(",") if t.strip())
    capabilities = tuple(c.strip() for c in headers.get(Header.CLIENT_CAPABILITIES, "").split(",") if c.strip())
    return Identity(
        user=user,
        source=headers.get(Header.SOURCE) or None,
        catalog=headers.get(Header.CATALOG) or None,
        schema=headers.get(Header.SCHEMA) or None,
        properties=_pairs(request, Header.SESSION),
        client_info=headers.get(Header.CLIENT_INFO) or None,
        client_tags=tags,
        time_zone=headers.get(Header.TIME_ZONE) or None,
        user_agent=headers.get("User-Agent") or None,
        prepared=_pairs(request, Header.PREPARED_STATEMENT),
        transaction_id=headers.get(Header.TRANSACTION_ID, "").strip() or None,
        client_capabilities=capabilities,
    )


def statement_stats(query: Query) -> dict[str, Any]:
    """StatementStats with the fields (and order) of Trino 476; `rootStage` once scheduled."""
    scheduled = query.dispatched and query.state not in (QueryState.QUEUED, QueryState.WAITING_FOR_RESOURCES,
                                                          QueryState.DISPATCHING, QueryState.PLANNING)
    has_rows = query.result is not None and query.result.rows is not None
    scheduled = scheduled and (has_rows or query.state not in (QueryState.FINISHED,))
    buffer = query.buffer
    produced = buffer.produced_rows if buffer is not None else 0
    produced_bytes = buffer.produced_bytes if buffer is not None else 0
    splits = 1 if scheduled else 0
    completed = 1 if buffer is not None and buffer.exhausted else 0
    elapsed = int(query.elapsed_seconds() * 1000)
    execution = int(query.execution_seconds() * 1000)
    stats: dict[str, Any] = {"state": str(query.state), "queued": query.state.queued, "scheduled": scheduled}
    if scheduled:
        drained = buffer is None or buffer.drained
        progress = 100.0 if drained or query.state.done else (100.0 * completed)
        stats["progressPercentage"] = progress
        stats["runningPercentage"] = 0.0 if query.state.done or drained else 100.0 - progress
    stats.update({
        "nodes": 1 + len(query.workers) if scheduled else 0,
        "totalSplits": splits,
        "queuedSplits": 0,
        "runningSplits": splits - completed if scheduled and not query.state.done else 0,
        "completedSplits": completed if scheduled else 0,
        "planningTimeMillis": int(query.planning_seconds() * 1000),
        "analysisTimeMillis": int(query.planning_seconds() * 500),
        "cpuTimeMillis": execution // 2,
        "wallTimeMillis": execution,
        "queuedTimeMillis": int(query.queued_seconds() * 1000),
        "elapsedTimeMillis": elapsed,
        "finishingTimeMillis": int(query.finishing_seconds() * 1000),
        "physicalInputTimeMillis": 0,
        "processedRows": produced,
        "processedBytes": produced_bytes,
        "physicalInputBytes": 0,
        "physicalWrittenBytes": 0,
        "internalNetworkInputBytes": 0,
        "peakMemoryBytes": produced_bytes,
        "spilledBytes": 0,
    })
    if scheduled:
        stats["rootStage"] = {
            "stageId": "0", "state": str(query.state) if query.state != QueryState.FINISHING else "RUNNING",
            "done": query.state.done, "nodes": stats["nodes"], "totalSplits": splits, "queuedSplits": 0,
            "runningSplits": stats["runningSplits"], "completedSplits": stats["completedSplits"],
            "cpuTimeMillis": stats["cpuTimeMillis"], "wallTimeMillis": stats["wallTimeMillis"],
            "processedRows": produced, "processedBytes": produced_bytes, "physicalInputBytes": 0, "failedTasks": 0,
            "coordinatorOnly": False, "subStages": [],
        }
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

    def partial_cancel_uri(self, query: Query, token: int) -> str:
        return self.base + Path.PARTIAL_CANCEL.format(
            query_id=query.query_id, stage=0, slug=query.slug(EXECUTING_CONTEXT, token), token=token)

    def page(self, query: Query, next_uri: str | None, *, columns: bool = False, data: str | None = None,
             partial_cancel: str | None = None) -> bytes:
        body: dict[str, Any] = {"id": query.query_id, "infoUri": f"{self.base}{Path.UI_QUERY}?{query.query_id}"}
        if partial_cancel is not None:
            body["partialCancelUri"] = partial_cancel
        if next_uri is not None:
            body["nextUri"] = next_uri
        result = query.result
        if columns and result is not None:
            body["columns"] = [column_json(name, type_text) for name, type_text in result.columns or []]
        if data is not None:
            body["data"] = _DATA_MARK
        if query.state == QueryState.FAILED and query.failure is not None and next_uri is None:
            body["error"] = query.failure.to_json()
        body["stats"] = statement_stats(query)
        body["warnings"] = []
        if result is not None and result.update_type is not None and next_uri is None:
            body["updateType"] = result.update_type
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if data is not None:
            text = text.replace(f'"{_DATA_MARK}"', data, 1)
        return text.encode()


def _max_wait(request: web.Request) -> float:
    text = request.query.get("maxWait")
    if not text:
        return MAX_WAIT_CAP
    try:
        return min(MAX_WAIT_CAP, parse_airlift_duration(text, "maxWait").total_seconds())
    except ConfigError:
        return MAX_WAIT_CAP


_SIZE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB)?\s*$")


def _target_size(request: web.Request) -> int:
    """`targetResultSize` (airlift DataSize, e.g. `4MB`), at most 128 MB; the node's default without it."""
    default: int = request.app[SETTINGS].target_result_size
    match = _SIZE.match(request.query.get("targetResultSize", ""))
    if match is None:
        return default
    unit = {"B": 1, "kB": 1024, "KB": 1024, "MB": 1 << 20, "GB": 1 << 30}[match.group(2) or "B"]
    return max(1, min(MAX_TARGET_RESULT_SIZE, int(float(match.group(1)) * unit)))


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
    if not sql:  # only an empty body: Trino takes blank text as a statement (it then fails to parse)
        return trino_error(400, "SQL statement is empty")
    query = request.app[MANAGER].create(sql, _identity(request, user))
    pages = _Pages(request)
    return json_body(pages.page(query, pages.uri(Path.QUEUED, query, QUEUED_CONTEXT, 1)))


async def get_queued(request: web.Request) -> web.Response:
    found = _lookup(request, QUEUED_CONTEXT)
    if found is None:
        return _not_found()
    query, token = found
    if token not in (query.queued_token, query.queued_token + 1):
        return trino_error(410, "Invalid token")
    with query.polled():
        request.app[MANAGER].start(query)
        deadline = time.monotonic() + _max_wait(request)
        while not (query.dispatched or query.state.done) and (remaining := deadline - time.monotonic()) > 0:
            await query.wait_changed(remaining)
    query.queued_token = max(query.queued_token, token)
    pages = _Pages(request)
    if query.state == QueryState.FAILED:
        return json_body(pages.page(query, None, columns=query.result is not None))
    if query.dispatched:
        body = pages.page(query, pages.uri(Path.EXECUTING, query, EXECUTING_CONTEXT, 0))
    else:
        body = pages.page(query, pages.uri(Path.QUEUED, query, QUEUED_CONTEXT, token + 1))
    return json_body(_as_queued(body))


def _as_queued(body: bytes) -> bytes:
    """The queued phase shows only QUEUED or FAILED; WAITING_FOR_RESOURCES and later are for /v1/query."""
    page = json.loads(body)
    stats = page["stats"]
    stats["state"], stats["queued"], stats["scheduled"] = str(QueryState.QUEUED), True, False
    for key in ("progressPercentage", "runningPercentage", "rootStage"):
        stats.pop(key, None)
    stats["nodes"] = stats["totalSplits"] = stats["runningSplits"] = stats["completedSplits"] = 0
    return json.dumps(page, separators=(",", ":"), ensure_ascii=False).encode()


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
        headers.append((Header.SET_SESSION, f"{name}={quote_plus(value)}"))
    for name in result.clear_session:
        headers.append((Header.CLEAR_SESSION, name))
    for name, sql in result.added_prepare.items():
        headers.append((Header.ADDED_PREPARE, f"{quote_plus(name)}={quote_plus(sql)}"))
    for name in result.deallocated_prepare:
        headers.append((Header.DEALLOCATED_PREPARE, quote_plus(name)))
    if result.started_transaction_id is not None:
        headers.append((Header.STARTED_TRANSACTION_ID, result.started_transaction_id))
    if result.clear_transaction_id:
        headers.append((Header.CLEAR_TRANSACTION_ID, "true"))
    return headers


def _respond(body: bytes, headers: list[tuple[str, str]]) -> web.Response:
    response = json_body(body)
    for name, value in headers:
        response.headers.add(name, value)
    return response


def _ready(query: Query, target_bytes: int, page_rows: int | None) -> bool:
    """Enough to answer without waiting longer: failed, done, a page's worth of rows buffered, or the end.
    (When the long-poll deadline comes first, the page takes what is there, as Trino's does.)"""
    if query.state.done or (query.buffer is not None and query.buffer.failure is not None):
        return True
    if query.result is None:
        return False
    buffer = query.buffer
    return buffer is None or buffer.exhausted or buffer.has_page(target_bytes, page_rows)


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
                return trino_error(410, "Gone")
            final_served = cached is not None and b'"nextUri"' not in cached[1]
            if token != query.executing_token + 1 or final_served:
                return _not_found()
            deadline = time.monotonic() + _max_wait(request)
            target, page_rows = _target_size(request), request.app[SETTINGS].page_rows
            while not _ready(query, target, page_rows) and (remaining := deadline - time.monotonic()) > 0:
                await query.wait_changed(remaining)
            body, final = _executing_page(request, query, token)
            headers = _final_headers(query) if final else []
            query.executing_token = token
            query.page_cache = (token, body, headers)
            return _respond(body, headers)


def _executing_page(request: web.Request, query: Query, token: int) -> tuple[bytes, bool]:
    """(page, whether it is the last one)."""
    pages = _Pages(request)
    next_uri = pages.uri(Path.EXECUTING, query, EXECUTING_CONTEXT, token + 1)
    result = query.result
    if query.buffer is not None and query.buffer.failure is not None:
        query.fail(query.buffer.failure)  # a row fetch failed (division by zero...): this page reports it
    if query.state == QueryState.FAILED:
        return pages.page(query, None, columns=result is not None and result.columns is not None), True
    if result is None:
        return pages.page(query, next_uri), False
    buffer = query.buffer
    if buffer is None:  # no rows: USE, SET SESSION, START TRANSACTION... (`columns: []`) or a finished SHOW
        query.set_state(QueryState.FINISHED)
        return pages.page(query, None, columns=True), True
    settings = request.app[SETTINGS]
    rows, data = buffer.take(_target_size(request), settings.page_rows)
    query.rows_sent += rows
    if data is not None:
        if buffer.drained:
            query.set_state(QueryState.FINISHED)
        elif buffer.exhausted and query.state == QueryState.RUNNING:
            query.set_state(QueryState.FINISHING)
        cancel = None if query.state.done else pages.partial_cancel_uri(query, token + 1)
        return pages.page(query, next_uri, columns=True, data=data, partial_cancel=cancel), False
    if buffer.drained:
        query.set_state(QueryState.FINISHED)
        return pages.page(query, None, columns=True), True
    return pages.page(query, next_uri, columns=True, partial_cancel=pages.partial_cancel_uri(query, token + 1)), False


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
