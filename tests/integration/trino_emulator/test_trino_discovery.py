"""Coordinator and workers together: announce-based discovery, required workers, graceful worker shutdown.

Checks: queries stay QUEUED (WAITING_FOR_RESOURCES in /v1/query) until a worker announces and is
polled ACTIVE, then run; with no worker they fail GENERIC_INSUFFICIENT_RESOURCES after the max wait
with Trino's message; /v1/node, system.runtime.nodes, the node gauges and /ui/api/stats see workers; a worker told
SHUTTING_DOWN stops counting as active and asks to exit only after the grace period, its running
query task and the grace period again, without failing the query.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import trino

from trino_helpers import eventually, fetch_all, queries_by_text, seconds
from devstack.trino import AccessControl, NodeSettings, TrinoNode

FAST = {"node_poll_interval": seconds(0.1), "announce_interval": seconds(0.1)}
USER = {"X-Trino-User": "ops"}


def _coordinator_settings(**overrides: Any) -> NodeSettings:
    values: dict[str, Any] = {"port": 0, "include_coordinator": False, "required_workers": 1,
                              "required_workers_max_wait": seconds(30), **FAST, **overrides}
    return NodeSettings(**values)


def _worker_settings(coordinator: TrinoNode, **overrides: Any) -> NodeSettings:
    # allow-all: the tests PUT SHUTTING_DOWN, which Trino's default access control refuses.
    values: dict[str, Any] = {"port": 0, "coordinator": False, "discovery_uri": coordinator.url,
                              "access_control": AccessControl(name="allow-all"), **FAST, **overrides}
    return NodeSettings(**values)


async def _nodes(http: aiohttp.ClientSession, coordinator: TrinoNode) -> list[dict[str, Any]]:
    async with http.get(f"{coordinator.url}/v1/node", headers=USER) as response:
        assert response.status == 200
        nodes: list[dict[str, Any]] = await response.json()
        return nodes


async def _node_in_state(http: aiohttp.ClientSession, coordinator: TrinoNode, state: str) -> list[dict[str, Any]]:
    return [node for node in await _nodes(http, coordinator) if node["state"] == state]


@pytest.fixture
async def cluster_coordinator() -> AsyncIterator[TrinoNode]:
    async with TrinoNode(_coordinator_settings()) as node:
        yield node


async def test_query_waits_for_a_worker_then_runs(
    cluster_coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    sql = "SELECT count(*) AS waited FROM tpch.tiny.nation"
    running = asyncio.create_task(asyncio.to_thread(fetch_all, cluster_coordinator, sql))

    async def waiting() -> bool:
        found = await queries_by_text(http, cluster_coordinator, sql)
        return bool(found) and found[0]["state"] == "WAITING_FOR_RESOURCES"

    await eventually(waiting, "the query to wait for resources")
    assert not running.done()
    async with http.post(f"{cluster_coordinator.url}/v1/statement", data="SELECT 1", headers=USER) as response:
        page = await response.json()
    async with http.get(page["nextUri"]) as response:
        page = await response.json()
    assert page["stats"]["state"] == "QUEUED", "clients only ever see QUEUED while a query waits for workers"
    async with http.delete(page["nextUri"]) as response:
        assert response.status == 204
    async with TrinoNode(_worker_settings(cluster_coordinator)) as worker:
        rows, _ = await asyncio.wait_for(running, timeout=10)
        assert rows == [[25]]
        [node] = await _nodes(http, cluster_coordinator)
        assert node["uri"] == worker.url and node["state"] == "ACTIVE" and node["coordinator"] is False
        nodes, _ = await asyncio.to_thread(
            fetch_all, cluster_coordinator, "SELECT http_uri, coordinator, state FROM system.runtime.nodes"
        )
        assert sorted(nodes) == sorted([[cluster_coordinator.url, True, "active"], [worker.url, False, "active"]])
        async with http.get(f"{cluster_coordinator.url}/metrics", headers=USER) as response:
            assert "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 2.0" in await response.text()
        async with http.get(f"{cluster_coordinator.url}/ui/api/stats", headers=USER) as response:
            stats = await response.json()
        assert (stats["activeCoordinators"], stats["activeWorkers"], stats["runningQueries"]) == (1, 1, 0)


async def test_no_worker_fails_insufficient_resources_after_max_wait() -> None:
    async with TrinoNode(_coordinator_settings(required_workers_max_wait=seconds(0.3))) as coordinator:
        started = time.monotonic()
        with pytest.raises(trino.exceptions.TrinoQueryError) as caught:
            await asyncio.to_thread(fetch_all, coordinator, "SELECT 1")
        assert time.monotonic() - started >= 0.3
    error = caught.value
    assert not isinstance(error, trino.exceptions.TrinoUserError)
    assert (error.error_name, error.error_type, error.error_code) == (
        "GENERIC_INSUFFICIENT_RESOURCES", "INSUFFICIENT_RESOURCES", 131072)
    assert error.message == (
        "Insufficient active worker nodes. Waited 300.00ms for at least 1 workers, but only 0 workers are active"
    )


async def test_required_workers_session_properties_override_the_config(
    cluster_coordinator: TrinoNode,
) -> None:
    session = {"required_workers_count": "2", "required_workers_max_wait_time": "200ms"}
    with pytest.raises(trino.exceptions.TrinoQueryError) as caught:
        await asyncio.to_thread(fetch_all, cluster_coordinator, "SELECT 1", session_properties=session)
    assert caught.value.message == (
        "Insufficient active worker nodes. Waited 200.00ms for at least 2 workers, but only 0 workers are active"
    )


async def test_shutting_down_worker_stops_counting_as_active(http: aiohttp.ClientSession) -> None:
    async with TrinoNode(_coordinator_settings(required_workers_max_wait=seconds(0.5))) as coordinator:
        async with TrinoNode(_worker_settings(coordinator, shutdown_grace_period=seconds(30))) as worker:
            await eventually(lambda: _node_in_state(http, coordinator, "ACTIVE"), "the worker to be ACTIVE")
            assert (await asyncio.to_thread(fetch_all, coordinator, "SELECT 1"))[0] == [[1]]
            async with http.put(f"{worker.url}/v1/info/state", data=json.dumps("SHUTTING_DOWN"),
                                headers={**USER, "Content-Type": "application/json"}) as response:
                assert response.status == 200
            await eventually(lambda: _node_in_state(http, coordinator, "SHUTTING_DOWN"),
                             "the coordinator to see SHUTTING_DOWN")
            async with http.get(f"{coordinator.url}/metrics", headers=USER) as response:
                assert "trino_node_name_CoordinatorNodeManager_ShuttingDownNodeCount 1.0" in await response.text()
            with pytest.raises(trino.exceptions.TrinoQueryError) as caught:
                await asyncio.to_thread(fetch_all, coordinator, "SELECT 2")
            assert caught.value.error_name == "GENERIC_INSUFFICIENT_RESOURCES"


async def test_graceful_shutdown_waits_for_the_running_query_then_grace(
    cluster_coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    grace = 0.3
    async with TrinoNode(_worker_settings(cluster_coordinator, shutdown_grace_period=seconds(grace))) as worker:
        await eventually(lambda: _node_in_state(http, cluster_coordinator, "ACTIVE"), "the worker to be ACTIVE")
        sql = "SELECT sleep(1.5) AS held"
        query = asyncio.create_task(asyncio.to_thread(fetch_all, cluster_coordinator, sql))

        async def worker_tasks() -> list[Any] | None:
            async with http.get(f"{worker.url}/v1/task") as response:
                tasks: list[Any] = await response.json()
            return tasks or None

        async def exit_time() -> float:
            await worker.exit_requested.wait()
            return time.time()

        await eventually(worker_tasks, "the running query to hold a task on the worker")
        exited = asyncio.create_task(exit_time())
        put_at = time.time()
        async with http.put(f"{worker.url}/v1/info/state", data=json.dumps("SHUTTING_DOWN"),
                            headers={**USER, "Content-Type": "application/json"}) as response:
            assert response.status == 200
        async with http.get(f"{worker.url}/v1/info/state") as response:
            assert await response.text() == '"SHUTTING_DOWN"'

        rows, _ = await asyncio.wait_for(query, timeout=10)
        assert rows == [[True]], "the draining worker must not fail the query"
        exited_at = await asyncio.wait_for(exited, timeout=10)
        [info] = await queries_by_text(http, cluster_coordinator, sql)
        ended_at = datetime.fromisoformat(info["queryStats"]["endTime"].replace("Z", "+00:00")).timestamp()
        assert exited_at >= ended_at, "the worker asked to exit while its query still ran"
        assert exited_at - put_at >= 2 * grace, "grace period, tasks, grace period again"


async def test_worker_of_another_environment_is_invalid_and_not_counted(http: aiohttp.ClientSession) -> None:
    async with TrinoNode(_coordinator_settings(required_workers_max_wait=seconds(0.3))) as coordinator:
        async with TrinoNode(_worker_settings(coordinator, environment="elsewhere")) as worker:
            [node] = await eventually(lambda: _node_in_state(http, coordinator, "INVALID"),
                                      "the foreign worker to be INVALID")
            assert node["uri"] == worker.url
            with pytest.raises(trino.exceptions.TrinoQueryError) as caught:
                await asyncio.to_thread(fetch_all, coordinator, "SELECT 1")
            assert caught.value.error_name == "GENERIC_INSUFFICIENT_RESOURCES"


async def test_stopped_worker_turns_gone_then_its_announcement_expires(http: aiohttp.ClientSession) -> None:
    settings = _coordinator_settings(announce_expiry=seconds(0.6))
    async with TrinoNode(settings) as coordinator:
        async with TrinoNode(_worker_settings(coordinator)):
            await eventually(lambda: _node_in_state(http, coordinator, "ACTIVE"), "the worker to be ACTIVE")
        await eventually(lambda: _node_in_state(http, coordinator, "GONE"), "the stopped worker to be GONE")

        async def forgotten() -> bool:
            return not await _nodes(http, coordinator)

        await eventually(forgotten, "the announcement to expire", timeout=5)
