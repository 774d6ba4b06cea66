"""Forwarding through the gateway with the real trino client against a Trino emulator coordinator.

Checks: a multi-page query returns the same rows as direct; nextUri points at the gateway
(X-Forwarded-*); USE and SET SESSION headers round-trip to the coordinator; cancel (DELETE) through
the gateway cancels the query on the coordinator; in-flight accounting returns to zero after a query;
/healthz, /readyz, /metrics and the demand/load endpoints answer without auth.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway_helpers import (
    GatewayFactory,
    MULTI_PAGE_SQL,
    PAGE_ROWS,
    RoutesConfigMap,
   
    connect,
    eventually,
    query,
    route,
)
from devstack.trino import TrinoNode

HEADERS = {"X-Trino-User": "alice", "X-Trino-Source": "gateway-test"}


async def test_multi_page_query_returns_the_same_rows_as_direct(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "a", a.url, default=True))
    async with start_gateway() as gw:
        direct = await query(a.port or 0, MULTI_PAGE_SQL)
        through = await query(gw.port, MULTI_PAGE_SQL)
        assert len(direct) == 420 > PAGE_ROWS * 4
        assert through == direct
        key = {"namespace": routes_cm.namespace, "xtrinode": "a", "routing_group": "adhoc", "state": "running"}
        assert gw.metric("xtrinode_gateway_inflight_queries", **key) == 0


async def test_next_uri_points_at_the_gateway(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "a", a.url, default=True))
    async with start_gateway() as gw:
        async with http.post(f"{gw.url}/v1/statement", data="SELECT 1", headers=HEADERS) as response:
            assert response.status == 200
            page: dict[str, Any] = await response.json()
        assert page["nextUri"].startswith(gw.url + "/v1/statement/queued/")
        assert page["infoUri"].startswith(gw.url)
        async with http.delete(page["nextUri"], headers=HEADERS) as response:
            assert response.status == 204


async def test_use_and_set_session_round_trip_to_the_coordinator(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "a", a.url, default=True))
    async with start_gateway() as gw:

        def session_round_trip() -> tuple[list[list[Any]], str]:
            with connect(gw.port) as conn:
                cursor = conn.cursor()
                cursor.execute("USE tpch.tiny")
                cursor.fetchall()
                cursor.execute("SET SESSION query_max_run_time = '1h'")
                cursor.fetchall()
                cursor.execute("SELECT count(*) FROM nation")
                rows = cursor.fetchall()
                return rows, cursor.query_id or ""

        rows, query_id = await __import__("asyncio").to_thread(session_round_trip)
        assert rows == [[25]]  # unqualified `nation` resolved: X-Trino-Catalog/Schema came back from USE
        async with http.get(f"{a.url}/v1/query/{query_id}", headers={"X-Trino-User": "admin"}) as response:
            info = await response.json()
        assert info["session"]["systemProperties"].get("query_max_run_time") == "1h"


async def test_cancel_through_the_gateway_cancels_on_the_coordinator(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "a", a.url, default=True))
    async with start_gateway() as gw:
        async with http.post(f"{gw.url}/v1/statement", data="SELECT sleep(30)", headers=HEADERS) as response:
            page: dict[str, Any] = await response.json()
        query_id = page["id"]
        while "executing" not in page["nextUri"]:
            async with http.get(page["nextUri"], headers=HEADERS) as response:
                page = await response.json()
        labels = {"namespace": routes_cm.namespace, "xtrinode": "a", "routing_group": "adhoc", "state": "running"}
        assert gw.metric("xtrinode_gateway_inflight_queries", **labels) == 1
        async with http.delete(page["nextUri"], headers=HEADERS) as response:
            assert response.status == 204

        async def canceled() -> bool:
            async with http.get(f"{a.url}/v1/query/{query_id}", headers={"X-Trino-User": "admin"}) as response:
                info = await response.json()
            return bool(info["state"] == "FAILED" and info.get("errorCode", {}).get("name") == "USER_CANCELED")

        await eventually(canceled, f"query {query_id} to be canceled on the coordinator")
        assert gw.metric("xtrinode_gateway_inflight_queries", **labels) == 0


async def test_probe_metrics_and_demand_endpoints_answer(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "a", a.url, default=True))
    async with start_gateway() as gw:
        await query(gw.port, "SELECT 1")
        for path in ("/healthz", "/readyz"):
            async with http.get(gw.url + path) as response:
                assert response.status == 200, path
        async with http.get(gw.url + "/metrics") as response:
            text = await response.text()
        assert "xtrinode_gateway_requests_total" in text and "xtrinode_gateway_inflight_queries" in text
        async with http.get(f"{gw.internal_url}/v1/xtrinode/demand/{routes_cm.namespace}/a") as response:
            assert await response.json() == {"held": 0, "inflight": 0}
        async with http.get(f"{gw.internal_url}/v1/xtrinode/load/{routes_cm.namespace}/a") as response:
            assert await response.json() == {"inflight": 0}
        assert gw.metric("xtrinode_gateway_backend_healthy", backend=a.url) == 1
