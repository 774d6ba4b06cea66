"""Changes to a running runtime through the API: scaling the workers to zero through the scale
subresource drains them (SHUTTING_DOWN, graceful exit), a new config-hash annotation rolls the pods
(new ready before old stopped), a worker scaled away while running a query part drains without
failing the query, a rolled coordinator gets the running worker back through the
Service address, deleting a Deployment stops its processes, a crashed process is restarted with
restartCount on the pod's same IP, and a deleted pod is replaced.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import aiohttp
import trino
from kubernetes import client

from kubelet_helpers import (
    local_pod_ip,
    alive,
    apply_manifests,
    blocking,
    eventually,
    pod_pid,
    pods_of,
    rendered_runtime,
    resolved,
    scale_workers_to_zero_once_busy,
)
from devstack.kubelet import Kubelet
from devstack.resolver import ServiceResolver


async def _running_pod(core: client.CoreV1Api, namespace: str, component: str) -> Any:
    """The one Ready pod of a component, once it has a pid."""
    def ready() -> Any:
        pods = pods_of(core, namespace, component)
        for pod in pods:
            conditions = {c.type: c.status for c in (pod.status.conditions or [])} if pod.status else {}
            if conditions.get("Ready") == "True" and pod_pid(pod) and not pod.metadata.deletion_timestamp:
                return pod
        return None

    return await eventually(lambda: blocking(ready), f"a ready {component} pod")


def _log_messages(kubelet: Kubelet, namespace: str, pod: str) -> list[str]:
    path = kubelet.settings.logs_dir / f"{namespace}_{pod}.log"
    messages = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            messages.append(json.loads(line).get("message", ""))
    return messages


async def test_scaling_workers_to_zero_shuts_the_worker_down_gracefully(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    worker = await _running_pod(core, namespace, "worker")
    pid, name = pod_pid(worker), worker.metadata.name
    assert pid is not None

    await blocking(apps.patch_namespaced_deployment_scale, "trino-demo-worker", namespace, {"spec": {"replicas": 0}})

    await eventually(lambda: not alive(pid), f"worker process {pid} to exit", timeout=20)
    messages = _log_messages(kubelet, namespace, name)
    assert "Shutdown requested" in messages, messages
    stopping = [json.loads(line) for line in (kubelet.settings.logs_dir / f"{namespace}_{name}.log").read_text()
                .splitlines() if '"stopping"' in line]
    assert stopping and stopping[-1]["reason"] == "graceful shutdown", "the worker exited on its own, not by signal"
    await eventually(lambda: blocking(lambda: not pods_of(core, namespace, "worker")), "the worker Pod object gone")

    async def status_zero() -> bool:
        status = (await blocking(apps.read_namespaced_deployment_status, "trino-demo-worker", namespace)).status
        # Zero counts are omitted (None) by the API server.
        return not (status.replicas or status.ready_replicas or status.available_replicas)

    await eventually(status_zero, "worker Deployment status with 0 replicas")


def _sleep_query(url: str, seconds: float) -> tuple[Any, float]:
    host, port = url.removeprefix("http://").split(":")
    with trino.dbapi.connect(host=host, port=int(port), user="alice", http_scheme="http") as conn:
        cursor = conn.cursor()
        cursor.execute(f"SELECT sleep({seconds})")
        rows = cursor.fetchall()
    return rows[0][0], time.monotonic()


async def test_scaling_down_drains_a_worker_that_runs_a_query_part(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    worker = await _running_pod(core, namespace, "worker")
    await _running_pod(core, namespace, "coordinator")
    pid = pod_pid(worker)
    assert pid is not None
    resolver = ServiceResolver(kubelet.settings.services_file)
    coordinator = await resolved(resolver, f"http://trino-demo.{namespace}.svc.cluster.local:8080")
    worker_url = await resolved(resolver, f"http://trino-demo-workers.{namespace}.svc.cluster.local:8080")
    query = asyncio.ensure_future(blocking(_sleep_query, coordinator, 3))
    try:
        await scale_workers_to_zero_once_busy(apps, namespace, worker_url)
        await eventually(lambda: not alive(pid), f"worker process {pid} to exit after draining", timeout=20)
        exited = time.monotonic()
        result, finished = await query
    finally:
        await asyncio.gather(query, return_exceptions=True)
    assert result == 1, "the query finished successfully"
    assert finished <= exited, "the worker stayed up until the query it worked on had finished"
    assert "Shutdown requested" in _log_messages(kubelet, namespace, worker.metadata.name)


async def test_changing_the_config_hash_rolls_the_worker_pods(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    old = await _running_pod(core, namespace, "worker")
    old_pid = pod_pid(old)
    assert old_pid is not None
    patch = {"spec": {"template": {"metadata": {"annotations": {"xtrinode.io/config-hash": "0123456789abcdef"}}}}}
    await blocking(apps.patch_namespaced_deployment, "trino-demo-worker", namespace, patch)

    seen: list[set[str]] = []

    def rolled() -> Any:
        pods = pods_of(core, namespace, "worker")
        seen.append({p.metadata.name for p in pods})
        new = [p for p in pods if p.metadata.name != old.metadata.name]
        return len(pods) == 1 and new and new[0]

    new = await eventually(lambda: blocking(rolled), "only the new worker pod left", timeout=20)
    assert any(old.metadata.name in names and new.metadata.name in names for names in seen), \
        "maxUnavailable 0: the new pod runs before the old one goes"
    assert new.metadata.labels["pod-template-hash"] != old.metadata.labels["pod-template-hash"]
    assert new.metadata.annotations["xtrinode.io/config-hash"] == "0123456789abcdef"
    assert not alive(old_pid), f"old worker process {old_pid} still running"

    async def updated() -> bool:
        deployment = await blocking(apps.read_namespaced_deployment_status, "trino-demo-worker", namespace)
        status = deployment.status
        return (status.observed_generation == deployment.metadata.generation
                and (status.updated_replicas, status.ready_replicas, status.replicas) == (1, 1, 1))

    await eventually(updated, "worker Deployment status: the new generation observed, 1 updated ready replica")


async def test_a_rolled_coordinator_gets_the_running_worker_back(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    worker = await _running_pod(core, namespace, "worker")
    old = await _running_pod(core, namespace, "coordinator")
    worker_pid = pod_pid(worker)
    patch = {"spec": {"template": {"metadata": {"annotations": {"xtrinode.io/config-hash": "fedcba9876543210"}}}}}
    await blocking(apps.patch_namespaced_deployment, "trino-demo-coordinator", namespace, patch)

    def replaced() -> Any:
        pods = pods_of(core, namespace, "coordinator")
        return len(pods) == 1 and pods[0].metadata.name != old.metadata.name and pods[0]

    new = await eventually(lambda: blocking(replaced), "the old coordinator pod replaced by a new one", timeout=20)
    resolver = ServiceResolver(kubelet.settings.services_file)
    async with aiohttp.ClientSession() as http:
        async def worker_registered() -> bool:
            pod = await blocking(core.read_namespaced_pod, new.metadata.name, namespace)
            url = resolver.resolve_url(f"http://trino-demo.{namespace}.svc.cluster.local:8080/v1/node")
            try:
                local = local_pod_ip(kubelet, pod.status.pod_ip)
            except AssertionError:
                return False  # no podIP yet, or not in services.json yet
            if url != f"http://{local}:8080/v1/node":
                return False  # services.json does not point at the new coordinator yet
            async with http.get(url, headers={"X-Trino-User": "admin"}) as response:
                nodes = await response.json() if response.status == 200 else []
            return any(node["state"] == "ACTIVE" for node in nodes)

        await eventually(worker_registered, "the new coordinator listing the running worker as ACTIVE")
    assert pod_pid(await blocking(core.read_namespaced_pod, worker.metadata.name, namespace)) == worker_pid, \
        "the worker kept running: it re-announced through the Service address, not by restarting"


async def test_deleting_a_deployment_stops_its_processes(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    coordinator = await _running_pod(core, namespace, "coordinator")
    pid = pod_pid(coordinator)
    assert pid is not None
    await blocking(apps.delete_namespaced_deployment, "trino-demo-coordinator", namespace)
    await eventually(lambda: not alive(pid), f"coordinator process {pid} to exit")
    await eventually(lambda: blocking(lambda: not pods_of(core, namespace, "coordinator")), "coordinator pods gone")


async def test_a_crashed_process_is_restarted_and_counted(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    coordinator = await _running_pod(core, namespace, "coordinator")
    pid = pod_pid(coordinator)
    assert pid is not None
    pod_ip = coordinator.status.pod_ip
    os.kill(pid, signal.SIGKILL)

    def restarted() -> Any:
        pod = core.read_namespaced_pod(coordinator.metadata.name, namespace)
        status = pod.status.container_statuses[0]
        new_pid = pod_pid(pod)
        return status.restart_count == 1 and status.ready and new_pid != pid and status

    status = await eventually(lambda: blocking(restarted), "the coordinator restarted once and ready again")
    assert status.last_state.terminated.exit_code == 137
    pod = await blocking(core.read_namespaced_pod, coordinator.metadata.name, namespace)
    assert pod.status.pod_ip == pod_ip, "the restarted container keeps the pod's IP"


    def served() -> Any:  # the endpoints controller lists the ready pod again (on a real one, a moment after it is Ready)
        endpoints = core.read_namespaced_endpoints("trino-demo", namespace)
        return [(a.ip, p.port) for s in endpoints.subsets or [] for a in s.addresses or [] for p in s.ports or []]

    assert await eventually(lambda: blocking(served), "the Service's endpoints listing the restarted pod") == [(pod_ip, 8080)]


async def test_a_deleted_pod_is_replaced(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    coordinator = await _running_pod(core, namespace, "coordinator")
    pid = pod_pid(coordinator)
    assert pid is not None
    await blocking(core.delete_namespaced_pod, coordinator.metadata.name, namespace)
    replacement = await _running_pod(core, namespace, "coordinator")
    assert replacement.metadata.name != coordinator.metadata.name
    await eventually(lambda: not alive(pid), f"the deleted pod's process {pid} to exit")
