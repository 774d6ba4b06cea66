"""The gateway and the real lifecycle together: a runtime autosuspended by its workflow is woken by a
plain `trino` client query through the gateway (route PAUSED -> `resume` update -> held QUEUED
pages -> the real query), which returns its rows without the client seeing an error; queries held
by the gateway count as demand for autosuspend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes import client
from temporalio.testing import WorkflowEnvironment

from .lifecycle_helpers import Cluster, eventually, run_sql, runtime_body, serve_gateway, tpch_catalog
from workers.operator import Operator
from devstack.kubelet import Kubelet

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


@pytest.fixture
async def gateway_port(kubeconfig: Any, kubelet: Kubelet, temporal_env: WorkflowEnvironment) -> AsyncIterator[int]:
    async with serve_gateway(kubeconfig, kubelet, temporal_env) as port:
        yield port


def _query(port: int, namespace: str, name: str, sql: str) -> list[Any]:
    return run_sql("127.0.0.1", port, sql, user="analyst", headers={"X-Trino-XTrinode": f"{namespace}/{name}"})


async def test_query_through_the_gateway_wakes_an_autosuspended_runtime(
    api_client: client.ApiClient, namespace: str, operator: Operator, gateway_port: int
) -> None:
    cluster = Cluster(api_client)
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "sleepy", autoSuspendAfter="2s"))
    await eventually(lambda: _phase(cluster, namespace, "sleepy", "Ready"), "Ready", timeout=90)
    rows = await asyncio.to_thread(_query, gateway_port, namespace, "sleepy", "SELECT count(*) FROM tpch.tiny.region")
    assert rows == [[5]]
    await eventually(lambda: _phase(cluster, namespace, "sleepy", "Suspended"), "autosuspend", timeout=60)
    assert await cluster.route_state(namespace, "sleepy") == "PAUSED"

    rows = await asyncio.to_thread(_query, gateway_port, namespace, "sleepy", "SELECT count(*) FROM tpch.tiny.nation")
    assert rows == [[25]]
    assert await cluster.phase(namespace, "sleepy") == "Ready"
    assert await cluster.route_state(namespace, "sleepy") == "RUNNING"


async def _phase(cluster: Cluster, namespace: str, name: str, phase: str) -> bool:
    return await cluster.phase(namespace, name) == phase
