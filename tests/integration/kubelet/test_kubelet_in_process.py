"""The kubelet's many-nodes mode (`in_process_nodes`): every pod's emulated Trino runs inside the
kubelet's process from the same flags and node code as a pod process. Seen through the Kubernetes
API, services.json and the real `trino` client: a rendered runtime becomes Ready and answers with no
child process started; scale-down drains a worker running a query part without failing it; a dozen
runtimes run side by side in one process and all go when their Deployments are deleted; a Secret
value reaches the node without entering the kubelet's own environment or any file; a refused config
is a crash loop with the node's reason in the pod log; a stopped kubelet leaves no port open.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trino
from kubernetes import client

from kubelet_helpers import (
    SECRET_VALUE,
    apply_manifests,
    blocking,
    eventually,
    kubelet_settings,
    pods_of,
    rendered_runtime,
    resolved,
    scale_workers_to_zero_once_busy,
    with_secret_catalog,
)
from devstack.kubelet import Kubelet
from devstack.resolver import ServiceResolver

IN_PROCESS_PREFIX = "xtrinode-devstack://in-process/"


@pytest.fixture
async def kubelet(
    kubeconfig: Path, tmp_path: Path, namespace: str, no_leaked_threads: None
) -> AsyncIterator[Kubelet]:
    settings = kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace, in_process_nodes=True)
    async with Kubelet(settings) as running:
        yield running


def _children() -> set[int]:
    """Child processes of this (the kubelet's) process, from /proc."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread (a SQL worker, say) ended while we looked
            continue
        found.update(int(pid) for pid in text)
    return found


def _query(url: str, sql: str) -> list[Any]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with trino.dbapi.connect(host=host, port=int(port), user="alice", http_scheme="http") as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())


def _container_ids(core: client.CoreV1Api, namespace: str) -> dict[str, str]:
    return {p.metadata.name: p.status.container_statuses[0].container_id
            for p in core.list_namespaced_pod(namespace).items
            if p.status and p.status.container_statuses and p.status.container_statuses[0].ready}


async def _ready_runtime(core: client.CoreV1Api, namespace: str, pods: int) -> dict[str, str]:
    """pod -> container id once `pods` pods are Ready."""
    def ready() -> dict[str, str] | None:
        ids = _container_ids(core, namespace)
        return ids if len(ids) == pods else None

    return await eventually(lambda: blocking(ready), f"{pods} ready pods", timeout=30)


def _log_entries(kubelet: Kubelet, namespace: str, pod: str) -> list[dict[str, Any]]:
    path = kubelet.settings.logs_dir / f"{namespace}_{pod}.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def test_a_rendered_runtime_runs_in_the_kubelet_process_and_answers(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    children_before = _children()
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    containers = await _ready_runtime(core, namespace, 2)
    assert all(cid.startswith(IN_PROCESS_PREFIX) for cid in containers.values()), containers
    assert kubelet.processes() == {}, "no pod has an OS process"
    assert _children() <= children_before, "no child process was started for a pod"

    resolver = ServiceResolver(kubelet.settings.services_file)
    coordinator = await resolved(resolver, f"http://trino-demo.{namespace}.svc.cluster.local:8080")
    assert await blocking(_query, coordinator, "SELECT count(*) FROM tpch.tiny.nation") == [[25]]

    async with aiohttp.ClientSession() as http:
        async def worker_active() -> bool:
            async with http.get(f"{coordinator}/v1/node", headers={"X-Trino-User": "admin"}) as response:
                return any(n["state"] == "ACTIVE" for n in await response.json())

        await eventually(worker_active, "the in-process worker ACTIVE at the in-process coordinator")

    # Each node's log lines land in its own pod log, tagged with its role, as a pod process writes them.
    for pod in pods_of(core, namespace, "coordinator") + pods_of(core, namespace, "worker"):
        role = pod.metadata.labels["app.kubernetes.io/component"]
        entries = _log_entries(kubelet, namespace, pod.metadata.name)
        started = [e for e in entries if e["message"] == "SERVER STARTED"]
        assert started and all(e["role"] == role for e in entries), entries[:3]


async def test_scaling_down_drains_an_in_process_worker_that_runs_a_query_part(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    await _ready_runtime(core, namespace, 2)
    worker = pods_of(core, namespace, "worker")[0].metadata.name
    resolver = ServiceResolver(kubelet.settings.services_file)
    coordinator = await resolved(resolver, f"http://trino-demo.{namespace}.svc.cluster.local:8080")
    worker_url = await resolved(resolver, f"http://trino-demo-workers.{namespace}.svc.cluster.local:8080")

    def sleep_query() -> tuple[list[Any], float]:
        return _query(coordinator, "SELECT sleep(3)"), time.monotonic()

    query = asyncio.ensure_future(blocking(sleep_query))
    try:
        await scale_workers_to_zero_once_busy(apps, namespace, worker_url)
        key = f"{namespace}/{worker}"
        await eventually(lambda: key not in kubelet.containers(), "the worker node to end after draining",
                         timeout=20)
        exited = time.monotonic()
        rows, finished = await query
    finally:
        await asyncio.gather(query, return_exceptions=True)
    assert rows == [[1]], "the query finished successfully"
    assert finished <= exited, "the worker stayed up until the query it worked on had finished"
    entries = _log_entries(kubelet, namespace, worker)
    assert "Shutdown requested" in [e["message"] for e in entries]
    assert [e["reason"] for e in entries if e["message"] == "stopping"] == ["graceful shutdown"]


async def test_a_dozen_runtimes_share_one_process_and_go_with_their_deployments(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    names = [f"rt{i}" for i in range(12)]
    children_before = _children()
    for name in names:
        # Each runtime's catalog ConfigMap has the same name: create it once.
        manifests = rendered_runtime(namespace, name=name)
        if name != names[0]:
            manifests = [m for m in manifests if not m["metadata"]["name"].startswith("trino-catalog-")]
        await blocking(apply_manifests, api_client, namespace, manifests)
    containers = await _ready_runtime(core, namespace, 2 * len(names))
    assert len(set(containers.values())) == len(containers) and kubelet.processes() == {}
    assert _children() <= children_before

    resolver = ServiceResolver(kubelet.settings.services_file)
    urls = [await resolved(resolver, f"http://trino-{name}.{namespace}.svc.cluster.local:8080") for name in names]
    assert len(set(urls)) == len(names), "every coordinator has its own address"
    answers = await asyncio.gather(*(blocking(_query, url, "SELECT 1") for url in urls))
    assert answers == [[[1]]] * len(names)

    for deployment in (await blocking(apps.list_namespaced_deployment, namespace)).items:
        await blocking(apps.delete_namespaced_deployment, deployment.metadata.name, namespace)
    await eventually(lambda: not kubelet.containers(), "every in-process node stopped", timeout=30)
    await eventually(lambda: blocking(lambda: not core.list_namespaced_pod(namespace).items), "every pod gone")
    for url in urls:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
            pass


async def test_a_secret_reaches_the_in_process_node_but_not_the_kubelet_environment(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, with_secret_catalog(namespace))
    # The node refuses to start while ${ENV:CATALOG_DB_PASSWORD} is unresolved: Ready means it was resolved.
    await _ready_runtime(core, namespace, 2)
    assert "CATALOG_DB_PASSWORD" not in os.environ, "pod env stays out of the shared process environment"
    for path in kubelet.settings.state_dir.rglob("*"):
        if path.is_file():
            assert SECRET_VALUE.encode() not in path.read_bytes(), f"secret value written to {path}"


async def test_a_refused_config_crash_loops_with_the_reason_in_the_pod_log(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, with_secret_catalog(namespace, env_name="NOT_SET_ANYWHERE"))

    def crash_looping() -> Any:
        for pod in pods_of(core, namespace, "coordinator"):
            status = (pod.status.container_statuses or [None])[0] if pod.status else None
            if status and status.restart_count >= 2 and not status.ready:
                return pod, status
        return None

    pod, status = await eventually(lambda: blocking(crash_looping), "the coordinator restarting", timeout=20)
    assert status.last_state.terminated.exit_code == 2, "a refused config exits 2, as the process does"
    log_text = (kubelet.settings.logs_dir / f"{namespace}_{pod.metadata.name}.log").read_text()
    assert "'NOT_SET_ANYWHERE' is not set" in log_text


async def test_a_stopped_kubelet_leaves_no_in_process_node_listening(
    kubeconfig: Path, tmp_path: Path, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
    no_leaked_threads: None,
) -> None:
    settings = kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace, in_process_nodes=True)
    async with Kubelet(settings):
        await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
        await _ready_runtime(core, namespace, 2)
        endpoints = json.loads(settings.services_file.read_text())
        addresses = {address for values in endpoints.values() for address in values}
        assert len(addresses) == 2
    for address in addresses:
        host, port = address.rsplit(":", 1)
        with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
            pass
    pods = (await blocking(core.list_namespaced_pod, namespace)).items
    assert [p.status.container_statuses[0].ready for p in pods] == [False, False], "stopped pods report not ready"
