"""The worker's Deployment watch, against the Kubernetes API emulator through the official client:
it reports availableReplicas of XTrinode-managed Deployments from the watch (not for others), wakes a
runtime's readiness waiters as soon as one of its Deployments changes, and forgets deleted ones.

Emulator only: the tests write Deployment status by hand, which on the real control plane the
Deployment controller owns (and rewrites); there the lifecycle suite exercises this watch through
real pods becoming ready.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes import client

from tests.polling import eventually
from workers.deployments import DeploymentWatch

pytestmark = pytest.mark.emulator_only


def _deployment(name: str, runtime: str, managed: bool = True) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "trino", "app.kubernetes.io/instance": runtime,
              "app.kubernetes.io/component": "coordinator"}
    if managed:
        labels["app.kubernetes.io/managed-by"] = "xtrinode"
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/instance": runtime}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "trino", "image": "trinodb/trino:476"}]}}},
    }


@pytest.fixture
async def watch(api_client: client.ApiClient) -> AsyncIterator[DeploymentWatch]:
    running = DeploymentWatch(api_client, watch_timeout=2)
    await running.start()
    try:
        await eventually(lambda: running.synced, "the first list")
        yield running
    finally:
        await running.stop()


async def test_available_replicas_come_from_the_watch_for_managed_deployments_only(
    watch: DeploymentWatch, apps: client.AppsV1Api, namespace: str
) -> None:
    await asyncio.to_thread(apps.create_namespaced_deployment, namespace, _deployment("trino-a-coordinator", "a"))
    await asyncio.to_thread(apps.create_namespaced_deployment, namespace, _deployment("other", "b", managed=False))
    await eventually(lambda: watch.available(namespace, "trino-a-coordinator") == 0, "the new Deployment at 0")
    await asyncio.to_thread(apps.patch_namespaced_deployment_status, "trino-a-coordinator", namespace,
                            {"status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1}})
    await eventually(lambda: watch.available(namespace, "trino-a-coordinator") == 1, "1 available replica")
    assert watch.available(namespace, "other") is None, "not XTrinode's: the caller asks the API"

    await asyncio.to_thread(apps.delete_namespaced_deployment, "trino-a-coordinator", namespace)
    await eventually(lambda: watch.available(namespace, "trino-a-coordinator") is None, "a deleted one forgotten")


async def test_a_change_wakes_the_runtimes_waiter_at_once(
    watch: DeploymentWatch, apps: client.AppsV1Api, namespace: str
) -> None:
    await asyncio.to_thread(apps.create_namespaced_deployment, namespace, _deployment("trino-a-coordinator", "a"))
    await eventually(lambda: watch.available(namespace, "trino-a-coordinator") == 0, "the Deployment seen")

    started = time.monotonic()
    waiter = asyncio.ensure_future(watch.changed(namespace, "a", 10.0))
    other = asyncio.ensure_future(watch.changed(namespace, "b", 10.0))
    await asyncio.sleep(0.2)
    assert not waiter.done(), "nothing changed yet"
    await asyncio.to_thread(apps.patch_namespaced_deployment_status, "trino-a-coordinator", namespace,
                            {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}})
    await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 5, "woken by the change, not by its 10 s timeout"
    assert not other.done(), "another runtime's waiter sleeps on"
    other.cancel()
    await asyncio.gather(other, return_exceptions=True)

    started = time.monotonic()
    await watch.changed(namespace, "a", 0.3)
    assert 0.25 < time.monotonic() - started < 2, "without a change the wait ends at its timeout"
