"""Route selection and the watched route table, end to end through the gateway.

Checks: routing by X-Trino-XTrinode (header value and namespace/name), Host (hostname and
<group>.<domain>), X-Trino-Routing-Group and the default route; for clients without custom headers,
by client tag (the real trino client's client_tags), by an X-Trino-Source rule (its source) and by the
principal's default runtime; unknown explicit selectors give a
Trino error naming the value (real trino client); a shared pool sends queries to both coordinators;
follow-ups reach DRAINING backends but never PAUSED ones (the poll gets a FAILED Trino page, naming the
suspend's drain budget when the route carries that message, also when the coordinator is already gone);
a query of a restarted coordinator (new coordinator id at the same address) is gone, not misrouted;
ConfigMap updates through the kube API are picked up without restart; bad YAML keeps the last good
table and is counted; /readyz stays 503 until a table loads; with resume off a PAUSED runtime gives a
clear Trino error; /v1/query/<id> follows the query to its coordinator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trino
import yaml

from gateway_helpers import (
    GatewayFactory,
    RoutesConfigMap,
    USER,
    cancel,
    coordinator_id,
    coordinator_settings,
    eventually,
    query,
    route,
    served_by,
    start_query,
)
from devstack.trino import TrinoNode
from gateway.app import ROUTES

async def test_routes_by_each_selector_and_the_default(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, b = coordinators
    ids = {await coordinator_id(http, a): "a", await coordinator_id(http, b): "b"}
    ns = routes_cm.namespace
    await routes_cm.write(
        route(ns, "one", a.url, header="alpha", hostname="one.example.test", default=True, routing_group="g1"),
        route(ns, "two", b.url, hostname_domain="example.test", routing_group="g2"),
    )
    async with start_gateway() as gw:
        assert await served_by(http, gw.url, ids) == "a"  # default
        assert await served_by(http, gw.url, ids, **{"X-Trino-XTrinode": f"{ns}/two"}) == "b"
        assert await served_by(http, gw.url, ids, **{"X-Trino-XTrinode": "alpha", "X-Trino-Routing-Group": "g2"}) == "a"
        assert await served_by(http, gw.url, ids, Host="g2.example.test") == "b"
        assert await served_by(http, gw.url, ids, Host="one.example.test:8080") == "a"
        assert await served_by(http, gw.url, ids, **{"X-Trino-Routing-Group": "g2"}) == "b"


async def test_clients_without_custom_headers_choose_by_client_tag_source_or_principal(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, b = coordinators
    ids = {await coordinator_id(http, a): "a", await coordinator_id(http, b): "b"}
    ns = routes_cm.namespace
    await routes_cm.write(route(ns, "one", a.url, routing_group="g1"), route(ns, "two", b.url, routing_group="g2"))
    routing = {"sourceRules": [{"source": "airflow*", "runtime": f"{ns}/two"}],
               "principalDefaults": [{"principals": ["carol"], "routingGroup": "g1"}]}
    async with start_gateway(routing=routing) as gw:
        assert await served_by(http, gw.url, ids, **{"X-Trino-Client-Tags": f"nightly,xtrinode={ns}/two"}) == "b"
        assert await served_by(http, gw.url, ids, **{"X-Trino-Client-Tags": "xtrinode-group=g1"}) == "a"
        assert await served_by(http, gw.url, ids, **{"X-Trino-Source": "airflow-prod"}) == "b"
        assert await served_by(http, gw.url, ids, **{"X-Trino-User": "carol"}) == "a"
        rows = await query(gw.port, "SELECT 1", client_tags=[f"xtrinode={ns}/two"])
        assert rows == [[1]]
        with pytest.raises(trino.exceptions.TrinoQueryError, match="client tag xtrinode="):
            await query(gw.port, "SELECT 1", user="dave")


async def test_unknown_selectors_give_a_trino_error_naming_the_value(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    async with start_gateway() as gw:
        with pytest.raises(trino.exceptions.TrinoUserError, match="'nope'"):
            await query(gw.port, "SELECT 1", http_headers={"X-Trino-XTrinode": "nope"})
        with pytest.raises(trino.exceptions.TrinoUserError, match="no routing group 'bi'"):
            await query(gw.port, "SELECT 1", http_headers={"X-Trino-Routing-Group": "bi"})
        assert await query(gw.port, "SELECT 1") == [[1]]


async def test_shared_pool_sends_new_queries_to_both_coordinators(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, b = coordinators
    ids = {await coordinator_id(http, a): "a", await coordinator_id(http, b): "b"}
    ns = routes_cm.namespace
    await routes_cm.write(route(ns, "p1", a.url, routing_group="pool"), route(ns, "p2", b.url, routing_group="pool"))
    async with start_gateway() as gw:
        pages = [await start_query(http, gw.url, "SELECT sleep(10)", **{"X-Trino-Routing-Group": "pool"}) for _ in range(4)]
        try:
            served = sorted(ids[p["id"].rsplit("_", 1)[1]] for p in pages)
            assert served == ["a", "a", "b", "b"]
        finally:
            for page in pages:
                await cancel(http, gw.url, page)


async def test_route_table_updates_are_picked_up_and_bad_yaml_keeps_the_last_good_table(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, b = coordinators
    ids = {await coordinator_id(http, a): "a", await coordinator_id(http, b): "b"}
    ns = routes_cm.namespace
    await routes_cm.write(route(ns, "one", a.url, default=True))
    async with start_gateway() as gw:
        assert await served_by(http, gw.url, ids) == "a"
        await routes_cm.write(route(ns, "one", b.url, default=True))

        async def moved() -> bool:
            return await served_by(http, gw.url, ids) == "b"

        await eventually(moved, "the gateway to route to coordinator b after the ConfigMap changed")
        await routes_cm.write_text("routes: [unclosed")

        async def rejected() -> float:
            return gw.metric("xtrinode_gateway_route_table_errors_total", reason="invalid_yaml")

        await eventually(rejected, "the bad route table to be counted")
        await routes_cm.write_text("routes:\n- name: missing-fields\n")
        await eventually(
            lambda: _async(gw.metric("xtrinode_gateway_route_table_errors_total", reason="invalid_routes")),
            "the invalid route table to be counted",
        )
        assert await served_by(http, gw.url, ids) == "b"
        async with http.get(f"{gw.url}/readyz") as response:
            assert response.status == 200


async def _async(value: float) -> float:
    return value


async def test_readyz_is_503_until_a_route_table_loads(
    start_gateway: GatewayFactory, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    unreachable = tmp_path / "kubeconfig"
    unreachable.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    async with start_gateway(wait_ready=False, kube={"kubeconfig": str(unreachable)}) as gw:
        async with http.get(f"{gw.url}/readyz") as response:
            assert response.status == 503
        async with http.post(f"{gw.url}/v1/statement", data="SELECT 1", headers=USER) as response:
            assert response.status == 503
        async with http.get(f"{gw.url}/healthz") as response:
            assert response.status == 200


async def test_follow_ups_reach_draining_backends_but_never_paused_ones(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, b = coordinators
    ns = routes_cm.namespace
    await routes_cm.write(route(ns, "one", a.url, default=True))
    async with start_gateway() as gw:
        first = await start_query(http, gw.url, "SELECT sleep(10)")
        second = await start_query(http, gw.url, "SELECT sleep(10)")
        await routes_cm.write(route(ns, "one", a.url, default=True, state="DRAINING"), route(ns, "two", b.url))

        async def draining() -> bool:
            async with http.get(f"{gw.internal_url}/v1/xtrinode/demand/{ns}/one") as response:
                return response.status == 200 and gw.metric("xtrinode_gateway_route_table_routes") == 2

        await eventually(draining, "the DRAINING route table")
        async with http.get(first["nextUri"], headers=USER) as response:
            assert response.status == 200 and (await response.json())["id"] == first["id"]
        await cancel(http, gw.url, first)
        await routes_cm.write(route(ns, "one", a.url, default=True, state="PAUSED"))
        await eventually(
            lambda: _async(gw.metric("xtrinode_gateway_route_table_routes") == 1), "the PAUSED route table"
        )
        async with http.get(second["nextUri"], headers=USER) as response:
            assert response.status == 200
            failed = await response.json()
        assert failed["id"] == second["id"] and "nextUri" not in failed and failed["stats"]["state"] == "FAILED"
        assert f"runtime {ns}/one was suspended" in failed["error"]["message"]
        assert gw.metric("xtrinode_gateway_sticky_misses_total", reason="paused") == 1
        async with http.delete(f"{a.url}/v1/query/{second['id']}", headers=USER) as response:
            assert response.status in (200, 204)


async def test_a_query_cut_off_by_a_suspend_gets_a_trino_error_naming_the_budget(
    routes_cm: RoutesConfigMap, start_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """The suspend's drain budget ran out: the coordinator is gone before the client's next poll."""
    node = TrinoNode(coordinator_settings())
    await node.start()
    ns = routes_cm.namespace
    budget = f"XTrinode {ns}/one is suspending: its drain budget of 3s (spec.gracefulShutdown.maxDrainSeconds) ran out"
    try:
        await routes_cm.write(route(ns, "one", node.url, default=True))
        async with start_gateway() as gw:
            page = await start_query(http, gw.url, "SELECT sleep(10)")
            await routes_cm.write(route(ns, "one", node.url, default=True, state="DRAINING", message=budget))
            await eventually(lambda: _async(any(r.message for r in gw.app[ROUTES].routes())), "the route's message")
            await node.stop()
            async with http.get(page["nextUri"], headers=USER) as response:
                assert response.status == 200
                failed = await response.json()
            assert failed["error"]["errorName"] == "ADMINISTRATIVELY_KILLED"
            assert failed["error"]["message"] == budget and "nextUri" not in failed
    finally:
        await node.stop()


async def test_a_query_of_a_restarted_coordinator_is_gone_not_misrouted(
    routes_cm: RoutesConfigMap, start_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    node = TrinoNode(coordinator_settings())
    await node.start()
    port = node.port
    try:
        await routes_cm.write(route(routes_cm.namespace, "one", node.url, default=True))
        async with start_gateway() as gw:
            page = await start_query(http, gw.url, "SELECT sleep(10)")
            await node.stop()
            node = TrinoNode(coordinator_settings(port=port))  # same address, new coordinator id
            await node.start()
            fresh = await coordinator_id(http, node)
            assert fresh != page["id"].rsplit("_", 1)[1]

            newer = await start_query(http, gw.url)  # its answer teaches the gateway the new coordinator id
            await cancel(http, gw.url, newer)
            assert newer["id"].endswith(fresh)
            async with http.get(page["nextUri"], headers=USER) as response:
                assert response.status == 200
                assert "restarted" in (await response.json())["error"]["message"]
            assert gw.metric("xtrinode_gateway_sticky_misses_total", reason="restarted") == 1
    finally:
        await node.stop()



async def test_with_resume_off_a_paused_runtime_gives_a_clear_error_and_query_info_follows_the_query(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, _ = coordinators
    ns = routes_cm.namespace
    await routes_cm.write(route(ns, "one", a.url, default=True), route(ns, "zzz", a.url, state="PAUSED", header="z"))
    async with start_gateway(resume={"enabled": False}) as gw:
        with pytest.raises(trino.exceptions.TrinoQueryError, match=f"runtime {ns}/zzz is PAUSED"):
            await query(gw.port, "SELECT 1", http_headers={"X-Trino-XTrinode": "z"})
        page = await start_query(http, gw.url, "SELECT sleep(10)")
        async with http.get(page["nextUri"], headers=USER) as response:  # Trino lists a query once it is polled
            page = await response.json()
        async with http.get(f"{gw.url}/v1/query/{page['id']}", headers=USER) as response:
            assert response.status == 200  # routed by the query id to the coordinator that owns it
            assert (await response.json())["queryId"] == page["id"]
        await cancel(http, gw.url, page)
