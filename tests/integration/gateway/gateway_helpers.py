"""Helpers for the gateway integration tests: route entries, the real trino client, polling, metrics.

Blocking client helpers are meant for `asyncio.to_thread`; the gateway runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import trino

from xtrinode.models.routes import RouteEntry

T = TypeVar("T")

PAGE_ROWS = 50
"""Rows per page of the test coordinators, so multi-page results are cheap."""

MULTI_PAGE_SQL = "SELECT x, x * 2 AS y FROM UNNEST(sequence(1, 420)) AS t(x)"


def route(namespace: str, name: str, backend: str, **kw: Any) -> RouteEntry:
    fields: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "backend": backend,
        "state": "RUNNING",
        "routing_group": "adhoc",
        "workflow_id": f"xtrinode/{namespace}/{name}",
    }
    fields.update(kw)
    return RouteEntry.model_validate(fields)


def connect(port: int, **kwargs: Any) -> trino.dbapi.Connection:
    kwargs.setdefault("user", "alice")
    connection: trino.dbapi.Connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host="127.0.0.1", port=port, http_scheme="http", **kwargs
    )
    return connection


def fetch_all(port: int, sql: str, **kwargs: Any) -> list[list[Any]]:
    """Run one statement through the real trino client (blocking)."""
    with connect(port, **kwargs) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        rows: list[list[Any]] = cursor.fetchall()
        return rows


async def query(port: int, sql: str, **kwargs: Any) -> list[list[Any]]:
    return await asyncio.to_thread(fetch_all, port, sql, **kwargs)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy, or fail saying what was expected."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    pytest.fail(f"timed out after {timeout:.1f}s waiting for {what} (last probe: {last!r})")
