"""Sticky routing shared through a real Redis, and the local fallback when Redis stops.

Checks: a query started through one gateway is continued (every page) through a second gateway that
shares the Redis, which found the mapping in Redis; with the gateway's own redis-server stopped
mid-test, new queries still work (local LRU) and the Redis fallbacks are counted; the demand and load
endpoints of either replica sum the queries of both.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from gateway_helpers import MULTI_PAGE_SQL, GatewayFactory, RoutesConfigMap, eventually, query, redis_server, route
from devstack.trino import TrinoNode

USER = {"X-Trino-User": "alice"}


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server only this test uses (so stopping it harms nobody)."""
    with redis_server() as running:
        yield running


def _on(gw_url: str, uri: str) -> str:
    return gw_url + "/" + uri.split("/", 3)[3]


async def test_a_query_started_on_one_gateway_continues_through_the_other(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession, redis_url: str,
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    shared = {"redis": {"url": redis_url, "keyPrefix": prefix}}
    async with start_gateway(**shared) as gw1, start_gateway(**shared) as gw2:
        async with http.post(f"{gw1.url}/v1/statement", data=MULTI_PAGE_SQL, headers=USER) as response:
            page: dict[str, Any] = await response.json()
        client = aioredis.Redis.from_url(redis_url)
        try:
            assert await client.get(f"{prefix}q:{page['id']}") is not None
        finally:
            await client.aclose()
        rows: list[Any] = []
        while "nextUri" in page:
            async with http.get(_on(gw2.url, page["nextUri"]), headers=USER) as response:
                assert response.status == 200, await response.text()
                page = await response.json()
            assert "error" not in page
            rows.extend(page.get("data", []))
        assert len(rows) == 420
        assert gw2.metric("xtrinode_gateway_sticky_hits_total", source="redis") >= 1


async def test_with_redis_stopped_new_queries_still_work_and_the_fallback_is_counted(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    a, _ = coordinators
    url, proc = own_redis
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    async with start_gateway(redis={"url": url}) as gw:
        assert await query(gw.port, MULTI_PAGE_SQL) == await query(a.port or 0, MULTI_PAGE_SQL)
        assert gw.metric("xtrinode_gateway_redis_fallbacks_total", operation="sticky_put") == 0
        proc.terminate()
        proc.wait(timeout=10)
        assert len(await query(gw.port, MULTI_PAGE_SQL)) == 420
        assert await query(gw.port, "SELECT 1") == [[1]]
        assert gw.metric("xtrinode_gateway_redis_fallbacks_total", operation="sticky_put") >= 1


async def test_demand_and_load_sum_the_queries_of_every_replica(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession, redis_url: str,
) -> None:
    a, _ = coordinators
    ns = routes_cm.namespace
    await routes_cm.write(route(ns, "one", a.url, default=True))
    shared = {"redis": {"url": redis_url, "keyPrefix": f"test:{uuid.uuid4().hex[:8]}:", "demandInterval": "200ms"}}
    async with start_gateway(**shared) as gw1, start_gateway(**shared) as gw2:
        pages = []
        for gw in (gw1, gw2):
            async with http.post(f"{gw.url}/v1/statement", data="SELECT sleep(10)", headers=USER) as response:
                pages.append((gw, await response.json()))

        async def load(gw_url: str, expected: int) -> bool:
            async with http.get(f"{gw_url}/v1/xtrinode/load/{ns}/one") as response:
                return bool((await response.json())["inflight"] == expected)

        await eventually(lambda: load(gw1.internal_url, 2), "gateway 1 to count both replicas' queries")
        async with http.get(f"{gw2.internal_url}/v1/xtrinode/demand/{ns}/one") as response:
            assert await response.json() == {"held": 0, "inflight": 2}
        for gw, page in pages:
            async with http.delete(_on(gw.url, page["nextUri"]), headers=USER) as response:
                assert response.status == 204
        await eventually(lambda: load(gw2.internal_url, 0), "the counts to drop after both cancels")
