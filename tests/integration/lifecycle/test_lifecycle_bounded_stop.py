"""Suspend keeps its bounds: under a 60 s query with maxDrainSeconds 3 (gracePeriodSeconds 1) the
suspend ends within maxDrainSeconds + 15 s, the query ends with a Trino error that names the suspend
and the budget, and the route tells the gateway why; an idle runtime with the default
gracePeriodSeconds (120 s, Trino's own) goes from its idle deadline to Suspended within 15 s, its
workers not sleeping through Trino's grace periods."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest
import trino
from kubernetes import client
from temporalio.client import Client

from devstack.kubelet import Kubelet
from workers.operator import Operator
from xtrinode.lifecycle_client import LifecycleClient
from xtrinode.models import ROUTES_CONFIGMAP, ROUTES_KEY, RouteTable

from .lifecycle_helpers import GATEWAY_NS, Cluster, eventually, query

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


async def _route_message(cluster: Cluster, namespace: str, name: str) -> str | None:
    cm = await asyncio.to_thread(cluster.core.read_namespaced_config_map, ROUTES_CONFIGMAP, GATEWAY_NS)
    for entry in RouteTable.from_yaml((cm.data or {}).get(ROUTES_KEY, "")).routes:
        if (entry.namespace, entry.name) == (namespace, name):
            return entry.message
    return None


async def test_suspend_under_a_long_query_keeps_the_drain_budget_and_the_client_gets_a_trino_error(
    api_client: client.ApiClient, namespace: str, operator: Operator, kubelet: Kubelet, temporal_client: Client
) -> None:
    cluster = Cluster(api_client)
    await cluster.create_runtime(namespace, "longq", gracefulShutdown={"gracePeriodSeconds": 1, "maxDrainSeconds": 3})
    running = asyncio.create_task(asyncio.to_thread(
        query, kubelet.settings.services_file, namespace, "longq", "SELECT sleep(60)"))
    await asyncio.sleep(1.0)  # the query runs on the worker
    started = time.monotonic()
    status = await LifecycleClient(temporal_client).suspend(namespace, "longq")
    took = time.monotonic() - started
    assert status.phase == "Suspended"
    print(f"suspend under a 60 s query, maxDrainSeconds 3: {took:.1f}s")
    assert took < 3 + 15, f"suspend took {took:.1f}s with maxDrainSeconds 3"
    with pytest.raises(trino.exceptions.TrinoQueryError) as failed:
        await asyncio.wait_for(running, 10)
    assert failed.value.error_name == "ADMINISTRATIVELY_KILLED"
    assert "suspending" in failed.value.message and "maxDrainSeconds" in failed.value.message
    message = (await cluster.runtime(namespace, "longq") or {})["status"]["message"]
    assert "maxDrainSeconds" in message and "1 killed" in message, message
    route_message = await _route_message(cluster, namespace, "longq")
    assert route_message is not None and "drain budget of 3s" in route_message
    assert await cluster.pods(namespace, "longq") == 0


async def test_idle_autosuspend_with_the_default_grace_takes_seconds_not_minutes(
    api_client: client.ApiClient, namespace: str, operator: Operator
) -> None:
    cluster = Cluster(api_client)
    await cluster.create_runtime(namespace, "idle", autoSuspendAfter="3s",
                                 gracefulShutdown={"maxDrainSeconds": 30})  # gracePeriodSeconds: default 120
    obj = await cluster.runtime(namespace, "idle") or {}
    assert obj["spec"]["gracefulShutdown"]["gracePeriodSeconds"] == 120
    last = datetime.fromisoformat(obj["status"]["lastActivity"].replace("Z", "+00:00"))
    deadline = last.timestamp() + 3
    await cluster.wait_phase(namespace, "idle", "Suspended", timeout=40)
    suspended_after = time.time() - deadline
    print(f"idle autosuspend, default grace: Suspended {suspended_after:.1f}s after the deadline")
    assert suspended_after < 15, f"Suspended {suspended_after:.1f}s after the idle deadline"
    await eventually(lambda: _no_pods(cluster, namespace, "idle"), "no pods left", timeout=10)


async def test_delete_under_a_long_query_keeps_the_drain_budget(
    api_client: client.ApiClient, namespace: str, operator: Operator, kubelet: Kubelet
) -> None:
    cluster = Cluster(api_client)
    await cluster.create_runtime(namespace, "gone", gracefulShutdown={"gracePeriodSeconds": 1, "maxDrainSeconds": 2})
    running = asyncio.create_task(asyncio.to_thread(
        query, kubelet.settings.services_file, namespace, "gone", "SELECT sleep(60)"))
    await asyncio.sleep(1.0)
    started = time.monotonic()
    await cluster.delete(namespace, "gone")
    await eventually(lambda: _absent(cluster, namespace, "gone"), "the XTrinode removed", timeout=40)
    took = time.monotonic() - started
    print(f"delete under a 60 s query, maxDrainSeconds 2: {took:.1f}s")
    assert took < 2 + 15, f"delete took {took:.1f}s with maxDrainSeconds 2"
    with pytest.raises(trino.exceptions.TrinoQueryError) as failed:
        await asyncio.wait_for(running, 10)
    assert "being deleted" in failed.value.message


async def _absent(cluster: Cluster, namespace: str, name: str) -> bool:
    return await cluster.runtime(namespace, name) is None


async def _no_pods(cluster: Cluster, namespace: str, name: str) -> bool:
    return await cluster.pods(namespace, name) == 0
