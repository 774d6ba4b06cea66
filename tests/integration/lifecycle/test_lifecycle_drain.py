"""Draining and idleness on real parts: a runtime with a running query is not autosuspended until
the query finishes; a runtime inside its wake window is not autosuspended until it expires; a
suspend waits for a running query with the route DRAINING and then scales to zero; a query longer
than maxDrainSeconds stops the wait and the status says so; a catalog Secret change rolls both
roles and the new value reaches the pods."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import timedelta

import pytest
from kubernetes import client

from .lifecycle_helpers import Cluster, eventually, query, runtime_body, tpch_catalog
from workers.operator import Operator
from devstack.kubelet import Kubelet
from xtrinode.lifecycle import ResumeRequest
from xtrinode.lifecycle_client import LifecycleClient
from temporalio.client import Client

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


@pytest.fixture
def cluster(api_client: client.ApiClient) -> Cluster:
    return Cluster(api_client)


async def _ready(cluster: Cluster, namespace: str, name: str) -> None:
    await eventually(lambda: _phase_is(cluster, namespace, name, "Ready"), f"{name} Ready", timeout=90)


async def _phase_is(cluster: Cluster, namespace: str, name: str, phase: str) -> bool:
    return await cluster.phase(namespace, name) == phase


async def test_running_query_holds_off_autosuspend_until_it_finishes(
    cluster: Cluster, namespace: str, operator: Operator, kubelet: Kubelet
) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "busy", autoSuspendAfter="2s"))
    await _ready(cluster, namespace, "busy")
    running = asyncio.create_task(asyncio.to_thread(
        query, kubelet.settings.services_file, namespace, "busy", "SELECT sleep(6)"))
    phases = []
    while not running.done():
        phases.append(await cluster.phase(namespace, "busy"))
        await asyncio.sleep(0.3)
    assert len(await running) == 1  # the query was not cut short
    assert set(phases) == {"Ready"}, phases
    await eventually(lambda: _phase_is(cluster, namespace, "busy", "Suspended"), "autosuspend after the query",
                     timeout=30)


async def test_wake_window_holds_off_autosuspend_until_it_expires(
    cluster: Cluster, namespace: str, operator: Operator, temporal_client: Client
) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "awake", autoSuspendAfter="1s"))
    await _ready(cluster, namespace, "awake")
    await eventually(lambda: _phase_is(cluster, namespace, "awake", "Suspended"), "first autosuspend", timeout=30)
    lifecycle = LifecycleClient(temporal_client)
    status = await lifecycle.resume(namespace, "awake",
                                    ResumeRequest(reason="test", wake_min_workers=1, wake_ttl=timedelta(seconds=12)))
    assert status.phase == "Ready" and status.wake_expires_at is not None
    started = time.monotonic()
    while time.monotonic() - started < 4:  # well past autoSuspendAfter, inside the wake window
        assert await cluster.phase(namespace, "awake") == "Ready"
        await asyncio.sleep(0.3)
    await eventually(lambda: _phase_is(cluster, namespace, "awake", "Suspended"), "autosuspend after the window",
                     timeout=30)


async def test_suspend_drains_a_running_query_before_scaling_to_zero(
    cluster: Cluster, namespace: str, operator: Operator, kubelet: Kubelet, temporal_client: Client
) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "patient"))
    await _ready(cluster, namespace, "patient")
    running = asyncio.create_task(asyncio.to_thread(
        query, kubelet.settings.services_file, namespace, "patient", "SELECT sleep(3), 7"))
    await asyncio.sleep(0.5)  # the query is submitted
    suspending = asyncio.create_task(LifecycleClient(temporal_client).suspend(namespace, "patient"))
    await eventually(lambda: _route_is(cluster, namespace, "patient", "DRAINING"), "route DRAINING", timeout=10)
    rows = await running
    assert rows[0][1] == 7  # the query finished normally while the runtime drained
    status = await suspending
    assert status.phase == "Suspended"
    assert await cluster.route_state(namespace, "patient") == "PAUSED"
    assert await cluster.replicas(namespace, "trino-patient-worker") == 0
    assert "queries drained" in (await cluster.runtime(namespace, "patient") or {})["status"]["message"]


async def test_drain_budget_bounds_the_wait_and_the_status_says_so(
    cluster: Cluster, namespace: str, operator: Operator, kubelet: Kubelet, temporal_client: Client
) -> None:
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "hasty",
                                      gracefulShutdown={"gracePeriodSeconds": 1, "maxDrainSeconds": 1}))
    await _ready(cluster, namespace, "hasty")
    running = asyncio.create_task(asyncio.to_thread(
        query, kubelet.settings.services_file, namespace, "hasty", "SELECT sleep(20)"))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    status = await LifecycleClient(temporal_client).suspend(namespace, "hasty")
    assert status.phase == "Suspended"
    # The query wait stops at maxDrainSeconds (1 s); the workers then leave within their pod
    # termination grace (2 x gracePeriodSeconds + 30 s), as a kubelet enforces it.
    assert time.monotonic() - started < 45
    message = (await cluster.runtime(namespace, "hasty") or {})["status"]["message"]
    assert "maxDrainSeconds" in message and "exceeded" in message
    # Whatever became of the long query (the worker's own shutdown may let it finish, or the
    # coordinator went away under it), the client thread must end.
    await asyncio.gather(running, return_exceptions=True)


async def test_catalog_secret_change_rolls_both_roles_with_the_new_value(
    cluster: Cluster, namespace: str, operator: Operator, kubelet: Kubelet, api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(api_client)
    await asyncio.to_thread(core.create_namespaced_secret, namespace, {
        "metadata": {"name": "cat-secret"}, "stringData": {"token": "first-value"}})
    catalog = tpch_catalog(namespace)
    catalog["spec"]["connector"]["tpch"]["propertySecretRefs"] = {
        "tpch.access-token": {"name": "cat-secret", "key": "token"}}
    await cluster.create(catalog)
    await cluster.create(runtime_body(namespace, "keyed"))
    await _ready(cluster, namespace, "keyed")
    hashes = {role: await _config_hash(cluster, namespace, f"trino-keyed-{role}") for role in ("coordinator", "worker")}

    await asyncio.to_thread(core.patch_namespaced_secret, "cat-secret", namespace,
                            {"stringData": {"token": "second-value"}})
    for role in ("coordinator", "worker"):
        await eventually(lambda r=role: _hash_changed(cluster, namespace, f"trino-keyed-{r}", hashes[r]),
                         f"{role} template rolled", timeout=30)
    await _ready(cluster, namespace, "keyed")
    expected = hashlib.sha256(b"second-value").hexdigest()

    def new_value_served() -> bool:
        try:
            rows = query(kubelet.settings.services_file, namespace, "keyed",
                         "SELECT value_sha256 FROM system.emulator.catalog_properties "
                         "WHERE property_name = 'tpch.access-token'")
        except Exception:
            return False  # pods are rolling
        return rows == [[expected]]

    await eventually(lambda: asyncio.to_thread(new_value_served), "the new secret value in the catalog", timeout=60)


async def _route_is(cluster: Cluster, namespace: str, name: str, state: str) -> bool:
    return await cluster.route_state(namespace, name) == state


async def _config_hash(cluster: Cluster, namespace: str, deployment: str) -> str:
    dep = await asyncio.to_thread(cluster.apps.read_namespaced_deployment, deployment, namespace)
    return str((dep.spec.template.metadata.annotations or {}).get("xtrinode.io/config-hash"))


async def _hash_changed(cluster: Cluster, namespace: str, deployment: str, old: str) -> bool:
    return await _config_hash(cluster, namespace, deployment) != old
