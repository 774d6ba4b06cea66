"""The operator's Lease: of two replicas, only the one holding the Lease forwards changes to the
workflows; when it stops, the other takes over and forwards the next change; a replica that takes an
expired Lease forwards at once what changed while it waited."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client
from temporalio.client import Client

from workers.operator import Operator, OperatorSettings
from xtrinode.temporal import TemporalSettings

from .lifecycle_helpers import Cluster, eventually, runtime_body, tpch_catalog

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]


async def test_only_the_lease_holder_forwards_and_the_other_takes_over(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path, temporal_client: Client, lifecycle_queue: str,
    operator: Operator,
) -> None:
    def settings(identity: str) -> OperatorSettings:
        return OperatorSettings(
            temporal=TemporalSettings(task_queue=lifecycle_queue), kubeconfig=kubeconfig, namespaces=(namespace,),
            watch_timeout_seconds=2, lease_namespace="xtrinode-system", lease_name=f"lease-{namespace}",
            lease_duration=timedelta(seconds=3), identity=identity,
        )

    cluster = Cluster(api_client)
    first = Operator(temporal_client, settings("replica-1"))
    second = Operator(temporal_client, settings("replica-2"))
    await first.start()
    await second.start()
    try:
        try:
            assert first.is_active and not second.is_active
            await cluster.create(tpch_catalog(namespace))
            await cluster.create(runtime_body(namespace, "led"))
            await eventually(lambda: first.forwarded >= 1, "the lease holder to forward", timeout=30)
            assert second.forwarded == 0
        finally:
            await first.stop()
        await eventually(lambda: second.is_active, "the second replica to take the lease", timeout=30)
        await cluster.patch_spec(namespace, "led", {"maxWorkers": 2})
        await eventually(lambda: second.forwarded >= 1, "the new holder to forward the change", timeout=30)
    finally:
        await second.stop()


async def test_a_replica_taking_the_lease_forwards_what_changed_while_it_waited(
    api_client: client.ApiClient, namespace: str, kubeconfig: Path, temporal_client: Client, lifecycle_queue: str,
    operator: Operator,
) -> None:
    """A holder that died keeps the Lease until it expires; a runtime created meanwhile reaches its
    workflow as soon as the waiting replica takes over, not at the next resync (5 minutes here)."""
    lease_name = f"lease-{namespace}"
    now = datetime.now(UTC)
    await asyncio.to_thread(client.CoordinationV1Api(api_client).create_namespaced_lease, "xtrinode-system", {
        "metadata": {"name": lease_name},
        "spec": {"holderIdentity": "a-replica-that-died", "leaseDurationSeconds": 4,
                 "acquireTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                 "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
    })
    waiting = Operator(temporal_client, OperatorSettings(
        temporal=TemporalSettings(task_queue=lifecycle_queue), kubeconfig=kubeconfig, namespaces=(namespace,),
        watch_timeout_seconds=2, lease_namespace="xtrinode-system", lease_name=lease_name,
        lease_duration=timedelta(seconds=4), identity="replica-waiting", resync_period=timedelta(minutes=5),
    ))
    await waiting.start()
    try:
        assert not waiting.is_active
        cluster = Cluster(api_client)
        await cluster.create(tpch_catalog(namespace))
        await cluster.create(runtime_body(namespace, "waited"))
        await asyncio.sleep(1.0)
        assert waiting.forwarded == 0, "not the holder yet: it only watches"
        await eventually(lambda: waiting.is_active, "the dead holder's lease to expire and be taken", timeout=20)
        await eventually(lambda: waiting.forwarded >= 1, "the runtime forwarded on takeover", timeout=10)
    finally:
        await waiting.stop()
