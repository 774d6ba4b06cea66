"""Helpers for the gateway integration tests: route entries and the routes ConfigMap, coordinators, the real
trino client, a started gateway and its metrics, polling, and small protocol steps through the gateway.

Blocking client helpers are meant for `asyncio.to_thread`; the gateway runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
import trino
from aiohttp import web

from gateway.app import METRICS
from tests import polling
from devstack.trino import NodeSettings, TrinoNode
from xtrinode.models.routes import ROUTES_CONFIGMAP, ROUTES_KEY, RouteEntry, RouteTable

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
    """tests.polling.eventually with the gateway suite's shorter deadline and interval."""
    return await polling.eventually(probe, what, timeout, interval)


def coordinator_settings(**kw: Any) -> NodeSettings:
    """A single-node coordinator that accepts the gateway's X-Forwarded-* headers."""
    values: dict[str, Any] = {"port": 0, "page_rows": PAGE_ROWS, "environment": "gateway-test", "process_forwarded": True}
    values.update(kw)
    return NodeSettings(**values)


class RoutesConfigMap:
    """Writes the routes ConfigMap of one namespace through the kube API, as the activities do."""

    def __init__(self, http: aiohttp.ClientSession, server: str, namespace: str) -> None:
        self.http, self.namespace = http, namespace
        self.url = f"{server}/api/v1/namespaces/{namespace}/configmaps"

    async def write_text(self, text: str) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ROUTES_CONFIGMAP}, "data": {ROUTES_KEY: text}}
        async with self.http.put(f"{self.url}/{ROUTES_CONFIGMAP}", json=body) as response:
            if response.status == 404:
                async with self.http.post(self.url, json=body) as created:
                    assert created.status == 201, await created.text()
                return
            assert response.status == 200, await response.text()

    async def write(self, *routes: RouteEntry) -> None:
        await self.write_text(RouteTable(routes=list(routes)).to_yaml())


@dataclass
class RunningGateway:
    app: web.Application
    port: int
    internal_port: int = 0
    serving: Any = None
    """The gateway.cli.Serving behind it (public server, runners)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        """The internal listener (demand and load endpoints)."""
        return f"http://127.0.0.1:{self.internal_port}"

    def metric(self, name: str, **labels: str) -> float:
        value = self.app[METRICS].registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]


USER = {"X-Trino-User": "alice"}


async def coordinator_id(http: aiohttp.ClientSession, node: TrinoNode) -> str:
    """A coordinator's id: the suffix of the query ids it makes (Trino 476's /v1/info has no coordinatorId)."""
    async with http.post(f"{node.url}/v1/statement", data="SELECT 1", headers=USER) as response:
        page = await response.json()
    async with http.delete(page["nextUri"]) as response:
        assert response.status == 204
    return str(page["id"]).rsplit("_", 1)[1]


async def start_query(http: aiohttp.ClientSession, gw_url: str, sql: str = "SELECT 1", **headers: str) -> dict[str, Any]:
    async with http.post(f"{gw_url}/v1/statement", data=sql, headers={**USER, **headers}) as response:
        assert response.status == 200, await response.text()
        page: dict[str, Any] = await response.json()
        return page


async def cancel(http: aiohttp.ClientSession, gw_url: str, page: dict[str, Any]) -> None:
    """DELETE a query's next URI through the gateway at `gw_url` (whatever host its nextUri names)."""
    if "nextUri" in page:
        path = "/" + page["nextUri"].split("/", 3)[3]
        async with http.delete(gw_url + path, headers=USER) as response:
            assert response.status == 204


async def served_by(http: aiohttp.ClientSession, gw_url: str, ids: dict[str, str], **headers: str) -> str:
    """Which coordinator (by the coordinator id suffix of the query id) a new statement went to."""
    page = await start_query(http, gw_url, **headers)
    assert "error" not in page, page.get("error")
    await cancel(http, gw_url, page)
    return ids[page["id"].rsplit("_", 1)[1]]


@contextlib.contextmanager
def redis_server(*extra_args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of its own on a free loopback port, no persistence (`extra_args`, e.g.
    `--requirepass PW`): its URL and process, stopped at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: run `make setup` (installs it from Debian)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *extra_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"redis-server did not listen on port {port} within 10 s")
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
