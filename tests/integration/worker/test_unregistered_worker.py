"""A worker pod that is Ready but never registers with its coordinator is restarted by the readiness wait.

Seen with real Trino 476 in the devstack (1 of ~10 worker starts): a worker whose first announcement
fails at the moment it starts never announces again; Kubernetes calls it Ready, its coordinator never
lists it, and a resume waited until its timeout (300 s). The wait now compares the Ready worker pods
with the coordinator's `system.runtime.nodes` (node.id is the pod name) and deletes a pod that has been
Ready for `unregistered_restart_seconds` without being listed; its ReplicaSet makes a new one.

The coordinator and workers are emulated Trino nodes (real HTTP, announce-based discovery); the pod
reads and deletes go through `KubernetesActivities` against the Kubernetes API emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from kubernetes import client
from temporalio.testing import ActivityEnvironment

from activities.kube import KubernetesActivities, ReadyPod
from activities.payloads import RuntimeRef, WaitReadyInput
from activities.trino import TrinoActivities
from devstack.trino import NodeSettings, TrinoNode

FAST = {"node_poll_interval": timedelta(seconds=0.1), "announce_interval": timedelta(seconds=0.1)}


def _coordinator() -> TrinoNode:
    return TrinoNode(NodeSettings(port=0, include_coordinator=False, required_workers=1,
                                  required_workers_max_wait=timedelta(seconds=30), **FAST))


def _worker(coordinator: TrinoNode, node_id: str) -> TrinoNode:
    return TrinoNode(NodeSettings(port=0, coordinator=False, discovery_uri=coordinator.url, node_id=node_id, **FAST))


class Pods:
    """The runtime's Ready worker pods as the readiness wait reads them, and the restarts it asks for: a
    restarted pod is replaced by a new one that announces (as its ReplicaSet's new pod would)."""

    def __init__(self, coordinator: TrinoNode, stack: AsyncExitStack) -> None:
        self.coordinator = coordinator
        self.stack = stack
        self.ready: dict[str, float] = {}
        self.restarted: list[tuple[str, str]] = []
        self.loop = asyncio.get_running_loop()

    def read(self, ref: RuntimeRef) -> list[ReadyPod]:
        return [ReadyPod(name=name, ready_seconds=seconds) for name, seconds in self.ready.items()]

    def restart(self, ref: RuntimeRef, name: str, why: str) -> None:
        self.restarted.append((name, why))
        del self.ready[name]
        replacement = f"{name}-new"
        asyncio.run_coroutine_threadsafe(self.stack.enter_async_context(_worker(self.coordinator, replacement)),
                                         self.loop).result(timeout=30)
        self.ready[replacement] = 0.0


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _wait_input(coordinator: TrinoNode, restart_after: float) -> WaitReadyInput:
    return WaitReadyInput(ref=RuntimeRef(namespace="team", name="etl"), coordinator_url=coordinator.url,
                          required_workers=2, timeout_seconds=60, poll_seconds=0.1,
                          unregistered_restart_seconds=restart_after)


async def test_a_ready_worker_the_coordinator_never_lists_is_restarted_and_the_wait_ends_ready(
    http: aiohttp.ClientSession,
) -> None:
    async with AsyncExitStack() as stack:
        coordinator = await stack.enter_async_context(_coordinator())
        await stack.enter_async_context(_worker(coordinator, "trino-etl-worker-abc-registered"))
        pods = Pods(coordinator, stack)
        # Both pods Ready for a minute; only one ever announced (the other's process runs, unknown to the coordinator).
        pods.ready = {"trino-etl-worker-abc-registered": 61.0, "trino-etl-worker-abc-silent": 61.0}
        trino = TrinoActivities(http, worker_pods=pods.read, restart_pod=pods.restart)

        result = await asyncio.wait_for(
            ActivityEnvironment().run(trino.wait_coordinator_ready, _wait_input(coordinator, 60.0)), timeout=45)

    assert result.workers_ready == 2
    assert [name for name, _ in pods.restarted] == ["trino-etl-worker-abc-silent"], (
        "only the pod the coordinator does not list is restarted, once")
    why = pods.restarted[0][1]
    assert "Ready 61s" in why and "does not list it" in why and "1 of 2" in why


async def test_a_worker_still_inside_the_grace_is_waited_for_not_restarted(http: aiohttp.ClientSession) -> None:
    """Real Trino counts a worker 10-30 s after it starts: a slow registration is not a stuck one."""
    async with AsyncExitStack() as stack:
        coordinator = await stack.enter_async_context(_coordinator())
        await stack.enter_async_context(_worker(coordinator, "w-first"))
        pods = Pods(coordinator, stack)
        pods.ready = {"w-first": 5.0, "w-late": 5.0}
        trino = TrinoActivities(http, worker_pods=pods.read, restart_pod=pods.restart)
        waiting = asyncio.create_task(
            ActivityEnvironment().run(trino.wait_coordinator_ready, _wait_input(coordinator, 60.0)))
        await asyncio.sleep(6)  # past one comparison round (every 5 s)
        assert not waiting.done(), "one of two workers registered: not ready yet"
        await stack.enter_async_context(_worker(coordinator, "w-late"))
        result = await asyncio.wait_for(waiting, timeout=30)

    assert result.workers_ready == 2
    assert pods.restarted == []


async def test_with_no_worker_registered_every_overdue_pod_is_restarted(http: aiohttp.ClientSession) -> None:
    """The node query waits for required workers when none is active (it is cancelled after 5 s): every pod
    past the grace is then unknown to the coordinator."""
    async with AsyncExitStack() as stack:
        coordinator = await stack.enter_async_context(_coordinator())
        pods = Pods(coordinator, stack)
        pods.ready = {"w-a": 90.0, "w-b": 90.0}
        trino = TrinoActivities(http, worker_pods=pods.read, restart_pod=pods.restart)
        result = await asyncio.wait_for(
            ActivityEnvironment().run(trino.wait_coordinator_ready, _wait_input(coordinator, 60.0)), timeout=45)

    assert result.workers_ready == 2
    assert sorted(name for name, _ in pods.restarted) == ["w-a", "w-b"]


# -- the Kubernetes side: which pods count as Ready, and a restart with its Event ---------------------------

def _pod(name: str, runtime: str, component: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={
            "app.kubernetes.io/instance": runtime, "app.kubernetes.io/managed-by": "xtrinode",
            "app.kubernetes.io/component": component}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="trino", image="trinodb/trino:476")]))


def _set_ready(core: client.CoreV1Api, namespace: str, name: str, ready: bool, since: datetime) -> None:
    core.patch_namespaced_pod_status(name, namespace, {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": since.strftime("%Y-%m-%dT%H:%M:%SZ")}]}})


def test_ready_worker_pods_lists_ready_workers_with_their_age_and_restart_deletes_with_an_event(
    api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
) -> None:
    kube = KubernetesActivities(api_client)
    ref = RuntimeRef(namespace=namespace, name="etl")
    long_ago = datetime.now(UTC) - timedelta(seconds=120)
    for name, component in (("etl-worker-1", "worker"), ("etl-worker-2", "worker"),
                            ("etl-coordinator-1", "coordinator"), ("other-worker-1", "worker")):
        core.create_namespaced_pod(namespace, _pod(name, "other" if name.startswith("other") else "etl", component))
    _set_ready(core, namespace, "etl-worker-1", True, long_ago)
    _set_ready(core, namespace, "etl-worker-2", False, long_ago)
    _set_ready(core, namespace, "etl-coordinator-1", True, long_ago)
    _set_ready(core, namespace, "other-worker-1", True, long_ago)

    pods = kube.ready_worker_pods(ref)
    assert [pod.name for pod in pods] == ["etl-worker-1"], "only Ready workers of this runtime"
    assert 115 <= pods[0].ready_seconds <= 180

    kube.restart_pod(ref, "etl-worker-1", "worker pod etl-worker-1 has been Ready 120s; its coordinator does not list it")
    remaining = {p.metadata.name for p in core.list_namespaced_pod(namespace).items
                 if p.metadata is not None and p.metadata.deletion_timestamp is None}
    assert "etl-worker-1" not in remaining and "etl-worker-2" in remaining
    kube.restart_pod(ref, "etl-worker-1", "again")  # already gone: nothing to do, no error
    events = core.list_namespaced_event(namespace).items
    restarts = [e for e in events if e.reason == "WorkerRestarted"]
    assert len(restarts) == 1 and restarts[0].type == "Warning"
    assert "etl-worker-1" in (restarts[0].message or "")
