"""Helpers shared by the Trino emulator tests: the real client, polling with a deadline, /v1/query reads,
and `Backend`, what a contract test runs against (the emulator or a real Trino).

Blocking client helpers are meant for `asyncio.to_thread`; everything goes through public HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol, TypeVar

import aiohttp
import trino

from devstack.trino import CatalogConfig, NodeSettings
from tests import polling

T = TypeVar("T")

ENVIRONMENT = "contract"
CATALOGS = ("blackhole", "memory", "tpch")
"""The catalogs of both backends of the contract suite (connector name = catalog name)."""


def emulator_settings(**overrides: object) -> NodeSettings:
    """A single-node coordinator with the contract suite's catalogs (tpch, memory, blackhole)."""
    values: dict[str, object] = {
        "port": 0, "environment": ENVIRONMENT,
        "catalogs": tuple(CatalogConfig(name=name, connector_name=name) for name in CATALOGS),
    }
    values.update(overrides)
    return NodeSettings.model_validate(values)


class HasPort(Protocol):
    """A TrinoNode, a Backend, or an emulator child process, listening on 127.0.0.1."""

    @property
    def port(self) -> int | None: ...


class HasUrl(Protocol):
    @property
    def url(self) -> str: ...


@dataclass
class Backend:
    """A Trino coordinator for the contract tests: `emulator` (devstack.trino) or `trino` (real Trino 476)."""

    kind: Literal["emulator", "trino"]
    url: str
    port: int
    environment: str = ENVIRONMENT
    _sleep_tables: set[int] = field(default_factory=set)

    def sleep_sql(self, seconds: float, tag: str = "slept") -> str:
        """A query that runs `seconds` and then answers `[[true]]` in a column named `tag`, without CPU: the
        emulator's `sleep()`, or a blackhole table with `page_processing_delay` on real Trino (no sleep there)."""
        if self.kind == "emulator":
            return f"SELECT sleep({seconds}) AS {tag}"
        millis = int(seconds * 1000)
        if millis not in self._sleep_tables:
            fetch_all(self, f"CREATE TABLE IF NOT EXISTS blackhole.default.sleep_{millis}ms (x boolean) WITH "
                            f"(split_count = 1, pages_per_split = 1, rows_per_page = 1, "
                            f"page_processing_delay = '{millis}ms')")
            self._sleep_tables.add(millis)
        return f"SELECT true AS {tag} FROM blackhole.default.sleep_{millis}ms"


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


async def query_info(http: aiohttp.ClientSession, node: HasUrl, query_id: str) -> dict[str, Any] | None:
    async with http.get(f"{node.url}/v1/query/{query_id}", headers={"X-Trino-User": "admin"}) as response:
        if response.status != 200:
            return None
        body: dict[str, Any] = await response.json()
        return body


async def queries_by_text(http: aiohttp.ClientSession, node: HasUrl, sql: str) -> list[dict[str, Any]]:
    async with http.get(f"{node.url}/v1/query", headers={"X-Trino-User": "admin"}) as response:
        assert response.status == 200
        listed: list[dict[str, Any]] = await response.json()
        return [q for q in listed if q["query"] == sql]


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
