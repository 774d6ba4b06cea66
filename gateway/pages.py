"""Trino pages the gateway makes itself: QUEUED pages of held statements and FAILED pages for gateway errors.

Shaped like Trino's QueryResults (notes/trino-protocol.md 1.3-1.9): gateway-made ids in Trino's id
format, slugs, URIs built from the client's view of the gateway (X-Forwarded-* when a proxy set them).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from xtrinode.trino_protocol import COORDINATOR_ID_ALPHABET, ErrorCode, Header, Path

__all__ = ["HELD_PATH", "QueryIdMaker", "external_base", "failed_page", "new_slug", "queued_page", "statement_error"]

HELD_PATH = Path.QUEUED
"""Held statements use Trino's own queued URI shape, so clients and proxies see nothing unusual."""


class QueryIdMaker:
    """`YYYYMMDD_HHMMSS_NNNNN_ccccc` ids with this replica's own random coordinator id."""

    def __init__(self) -> None:
        self.coordinator_id = "".join(secrets.choice(COORDINATOR_ID_ALPHABET) for _ in range(5))
        self._day = ""
        self._counter = 0

    def next(self) -> str:
        now = time.gmtime()
        day = time.strftime("%Y%m%d", now)
        if day != self._day:
            self._day, self._counter = day, 0
        number = self._counter % 100_000
        self._counter += 1
        return f"{time.strftime('%Y%m%d_%H%M%S', now)}_{number:05d}_{self.coordinator_id}"


def new_slug() -> str:
    return "y" + secrets.token_hex(20)


def _first(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",")[0].strip() or None


def external_base(request: web.BaseRequest) -> str:
    """`scheme://host[:port]` as the client reached the gateway (honouring a front proxy's X-Forwarded-*)."""
    scheme = _first(request.headers.get(Header.FORWARDED_PROTO)) or request.scheme
    host = _first(request.headers.get(Header.FORWARDED_HOST)) or request.host
    return f"{scheme}://{host}"


_ZERO_STATS: dict[str, Any] = {
    "scheduled": False,
    "nodes": 0,
    "totalSplits": 0,
    "queuedSplits": 0,
    "runningSplits": 0,
    "completedSplits": 0,
    "cpuTimeMillis": 0,
    "wallTimeMillis": 0,
    "queuedTimeMillis": 0,
    "elapsedTimeMillis": 0,
    "processedRows": 0,
    "processedBytes": 0,
    "physicalInputBytes": 0,
    "physicalWrittenBytes": 0,
    "peakMemoryBytes": 0,
    "spilledBytes": 0,
}


def queued_page(base: str, query_id: str, slug: str, token: int, elapsed: float = 0.0) -> dict[str, Any]:
    """A QUEUED page whose nextUri is the held statement's next queued URI on the gateway."""
    millis = int(elapsed * 1000)
    stats = {**_ZERO_STATS, "state": "QUEUED", "queued": True, "queuedTimeMillis": millis, "elapsedTimeMillis": millis}
    return {
        "id": query_id,
        "infoUri": f"{base}{Path.UI_QUERY}?{query_id}",
        "nextUri": base + HELD_PATH.format(query_id=query_id, slug=slug, token=token),
        "stats": stats,
        "warnings": [],
    }


def failed_page(base: str, query_id: str, code: ErrorCode, message: str) -> dict[str, Any]:
    """A final FAILED page (no nextUri): the client raises an error carrying `message`."""
    return {
        "id": query_id,
        "infoUri": f"{base}{Path.UI_QUERY}?{query_id}",
        "stats": {**_ZERO_STATS, "state": "FAILED", "queued": False},
        "error": {
            "message": message,
            "errorCode": code.code,
            "errorName": code.name,
            "errorType": str(code.type),
            "failureInfo": {"type": "io.xtrinode.gateway.GatewayException", "message": message, "suppressed": [], "stack": []},
        },
        "warnings": [],
    }


def statement_error(request: web.BaseRequest, ids: QueryIdMaker, code: ErrorCode, message: str) -> web.Response:
    """Answer a new statement with a FAILED query: every Trino client shows `message` as a query error."""
    return web.json_response(failed_page(external_base(request), ids.next(), code, message))
