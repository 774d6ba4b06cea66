"""Termination grace as a kubelet honours it: a deleted worker pod drains through its preStop hook for
as long as its grace allows (here Trino's 60 s grace period, a 150 s pod grace), and a second DELETE
with a short `gracePeriodSeconds` cuts that short: the API records the shorter grace and the process
is gone within it (plus the 2 s a kubelet gives SIGTERM after an overrunning hook)."""

from __future__ import annotations

import asyncio
import time

from kubernetes import client

from devstack.kubelet import Kubelet
from kubelet_helpers import alive, apply_manifests, blocking, eventually, pod_pid, pods_of, rendered_runtime


def _ready_worker(core: client.CoreV1Api, namespace: str) -> tuple[str, int] | None:
    for pod in pods_of(core, namespace, "worker"):
        statuses = pod.status.container_statuses or []
        if statuses and statuses[0].ready and (pid := pod_pid(pod)) is not None:
            return pod.metadata.name, pid
    return None


async def test_a_second_delete_with_a_short_grace_cuts_a_draining_worker_short(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace,
                   rendered_runtime(namespace, gracefulShutdown={"gracePeriodSeconds": 60}))
    name, pid = await eventually(lambda: blocking(_ready_worker, core, namespace), "a ready worker pod", timeout=30)
    deleted = await blocking(core.delete_namespaced_pod, name, namespace)
    assert deleted.metadata.deletion_grace_period_seconds == 150  # 2 x 60 s + 30 s, from the pod spec
    await asyncio.sleep(2)
    assert alive(pid), "the worker drains through its preStop hook (Trino's 60 s grace period)"

    started = time.monotonic()
    shortened = await blocking(core.delete_namespaced_pod, name, namespace, grace_period_seconds=1)
    assert shortened.metadata.deletion_grace_period_seconds == 1
    await eventually(lambda: not alive(pid), f"worker process {pid} stopped after the shortened grace", timeout=10)
    assert time.monotonic() - started < 5, "1 s grace, then SIGTERM with 2 s more"

    def gone() -> bool:
        return all(p.metadata.name != name for p in core.list_namespaced_pod(namespace).items)

    await eventually(lambda: blocking(gone), f"pod {name} removed once its process is gone")


async def test_a_longer_grace_on_a_second_delete_changes_nothing(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace,
                   rendered_runtime(namespace, gracefulShutdown={"gracePeriodSeconds": 60}))
    # A running worker (it drains for up to 60 s): a kubelet removes a pod that never started at once.
    name, _ = await eventually(lambda: blocking(_ready_worker, core, namespace), "a ready worker pod", timeout=30)
    first = await blocking(core.delete_namespaced_pod, name, namespace, grace_period_seconds=40)
    again = await blocking(core.delete_namespaced_pod, name, namespace, grace_period_seconds=100)
    assert first.metadata.deletion_grace_period_seconds == again.metadata.deletion_grace_period_seconds == 40
    # The deletion itself is unchanged (the resourceVersion may move: the kubelet reports the pod not ready).
    assert again.metadata.deletion_timestamp == first.metadata.deletion_timestamp
