"""Helpers shared by the Trino emulator tests: the real client, polling with a deadline, /v1/query reads.

Blocking client helpers are meant for `asyncio.to_thread`; everything goes through public HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import aiohttp
from tests import polling
import trino

from devstack.trino import TrinoNode


class HasPort(Protocol):
    """A TrinoNode, or an emulator child process, listening on 127.0.0.1."""

    @property
    def port(self) -> int | None: ...

T = TypeVar("T")

PAGE_ROWS = 100
"""Rows per result page of the shared coordinator, so multi-page results are cheap to produce."""


def connect(node: HasPort, **kwargs: Any) -> trino.dbapi.Connection:
    """A real trino-python-client DB-API connection to a node."""
    port = node.port
    assert port is not None
    kwargs.setdefault("user", "alice")
    connection: trino.dbapi.Connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host="127.0.0.1", port=port, http_scheme="http", **kwargs
    )
    return connection


def fetch_all(node: HasPort, sql: str, **kwargs: Any) -> tuple[list[list[Any]], list[Any]]:
    """Run one statement through the real client (blocking: call it via asyncio.to_thread)."""
    with connect(node, **kwargs) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        rows = cursor.fetchall()
        return rows, list(cursor.description or [])


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy, or fail saying what was expected (tests/polling.py)."""
    return await polling.eventually(probe, what, timeout, interval)


async def query_info(http: aiohttp.ClientSession, node: TrinoNode, query_id: str) -> dict[str, Any] | None:
    async with http.get(f"{node.url}/v1/query/{query_id}", headers={"X-Trino-User": "admin"}) as response:
        if response.status != 200:
            return None
        body: dict[str, Any] = await response.json()
        return body


async def queries_by_text(http: aiohttp.ClientSession, node: TrinoNode, sql: str) -> list[dict[str, Any]]:
    async with http.get(f"{node.url}/v1/query", headers={"X-Trino-User": "admin"}) as response:
        assert response.status == 200
        listed: list[dict[str, Any]] = await response.json()
        return [q for q in listed if q["query"] == sql]


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
