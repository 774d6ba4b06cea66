"""Trino pages the gateway makes itself: QUEUED pages of held statements and FAILED pages for gateway errors.

Shaped like Trino's QueryResults (notes/trino-protocol.md 1.3-1.9): gateway-made ids in Trino's id
format (their number and coordinator part random, so ids are not guessable), 160-bit slugs, URIs
built from the client's view of the gateway (`ClientView`: forwarded headers of trusted proxies only).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from gateway.edge import ClientView
from xtrinode.trino_protocol import COORDINATOR_ID_ALPHABET, ErrorCode, Path, StandardError

__all__ = [
    "HELD_PATH",
    "QueryIdMaker",
    "external_base",
    "failed_page",
    "forbidden",
    "new_slug",
    "queued_page",
    "statement_error",
]

HELD_PATH = Path.QUEUED
"""Held statements use Trino's own queued URI shape, so clients and proxies see nothing unusual."""


class QueryIdMaker:
    """`YYYYMMDD_HHMMSS_NNNNN_ccccc` ids; number and coordinator part are random per id, so a held
    statement's id reveals nothing about the next one (its slug is the capability, as in Trino)."""

    def next(self) -> str:
        now = time.gmtime()
        number = secrets.randbelow(100_000)
        coordinator = "".join(secrets.choice(COORDINATOR_ID_ALPHABET) for _ in range(5))
        return f"{time.strftime('%Y%m%d_%H%M%S', now)}_{number:05d}_{coordinator}"


def new_slug() -> str:
    """A held statement's slug: 160 random bits, in Trino's own slug shape (`y` + 40 hex digits)."""
    return "y" + secrets.token_hex(20)


def external_base(view: ClientView) -> str:
    """`scheme://host[:port][prefix]` as the client reached the gateway."""
    return f"{view.scheme}://{view.host}{view.prefix or ''}"


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


def statement_error(view: ClientView, ids: QueryIdMaker, code: ErrorCode, message: str) -> web.Response:
    """Answer a new statement with a FAILED query: every Trino client shows `message` as a query error."""
    return web.json_response(failed_page(external_base(view), ids.next(), code, message))


def forbidden(view: ClientView, ids: QueryIdMaker, message: str) -> web.Response:
    """403 with a Trino FAILED page (PERMISSION_DENIED): clients show the status and `message`."""
    page = failed_page(external_base(view), ids.next(), StandardError.PERMISSION_DENIED, message)
    return web.json_response(page, status=403)
