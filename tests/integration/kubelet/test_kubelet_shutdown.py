"""Stopping things leaves nothing behind: a stopped kubelet has stopped every pod process it started
(pids recorded from pod status, checked with signal 0) and reported its pods not ready, a restarted
kubelet runs the pods it finds (same Pod objects and pod IPs, new processes, no extra pods),
deleting the namespace stops its processes and lets the namespace go, and a Secret-backed catalog
password reaches the emulated Trino through a secretKeyRef env var without appearing in any
ConfigMap or pod directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubelet_helpers import (
    SECRET_VALUE,
    alive,
    apply_manifests,
    blocking,
    eventually,
    kubelet_settings,
    pod_pid,
    rendered_runtime,
    with_secret_catalog,
)
from devstack.kubelet import Kubelet


def _pids(core: client.CoreV1Api, namespace: str, count: int) -> list[int] | None:
    pods = core.list_namespaced_pod(namespace).items
    pids = [pid for pod in pods if (pid := pod_pid(pod)) is not None]
    return pids if len(pids) == count else None


async def test_stopped_kubelet_leaves_no_process_behind(
    kubeconfig: Path, tmp_path: Path, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
    no_leaked_threads: None,
) -> None:
    async with Kubelet(kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace)) as kubelet:
        await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
        pids = await eventually(lambda: blocking(_pids, core, namespace, 2), "2 pods with local pids")
        assert sorted(pids) == sorted(kubelet.processes().values())
        assert all(alive(pid) for pid in pids)
    assert [pid for pid in pids if alive(pid)] == []
    pods = (await blocking(core.list_namespaced_pod, namespace)).items
    assert [p.status.container_statuses[0].ready for p in pods] == [False, False], "stopped pods report not ready"
    apps = client.AppsV1Api(api_client)
    deployments = (await blocking(apps.list_namespaced_deployment, namespace)).items
    assert [d.status.ready_replicas for d in deployments] == [None, None], "zero counts are omitted"


async def test_a_restarted_kubelet_runs_the_pods_it_finds(
    kubeconfig: Path, tmp_path: Path, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
    no_leaked_threads: None,
) -> None:
    settings = kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace)
    async with Kubelet(settings):
        await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
        first = await eventually(lambda: blocking(_ready_pods, core, namespace), "2 ready pods")
        first_ips = await blocking(_pod_ips, core, namespace)
    async with Kubelet(settings):
        second = await eventually(lambda: blocking(_ready_pods, core, namespace), "the same 2 pods ready again")
        assert sorted(second) == sorted(first), "the restarted kubelet adopted the pods instead of replacing them"
        assert not set(second.values()) & set(first.values()), "with new processes"
        assert len((await blocking(core.list_namespaced_pod, namespace)).items) == 2
        assert await blocking(_pod_ips, core, namespace) == first_ips, "on the pod IPs they had"


def _pod_ips(core: client.CoreV1Api, namespace: str) -> dict[str, str]:
    return {p.metadata.name: p.status.pod_ip for p in core.list_namespaced_pod(namespace).items}


def _ready_pods(core: client.CoreV1Api, namespace: str) -> dict[str, int] | None:
    """pod name -> pid when exactly the runtime's 2 pods are Ready."""
    pods = core.list_namespaced_pod(namespace).items
    ready = {p.metadata.name: pod_pid(p) for p in pods
             if p.status and p.status.container_statuses and p.status.container_statuses[0].ready}
    return ready if len(pods) == 2 and len(ready) == 2 else None  # type: ignore[return-value]


async def test_deleting_the_namespace_stops_its_processes(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    pids = await eventually(lambda: blocking(_pids, core, namespace, 2), "2 pods with local pids")
    await blocking(core.delete_namespace, namespace)
    await eventually(lambda: not any(alive(pid) for pid in pids), f"processes {pids} to exit")

    def namespace_gone() -> bool:
        try:
            core.read_namespace(namespace)
        except ApiException as e:
            return e.status == 404
        return False

    await eventually(lambda: blocking(namespace_gone), f"namespace {namespace} removed once its pods are gone")




async def test_secret_key_ref_env_reaches_the_process_and_never_disk(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, with_secret_catalog(namespace))
    pids = await eventually(lambda: blocking(_pids, core, namespace, 2), "2 pods with local pids")

    def ready_pods() -> bool:
        pods = core.list_namespaced_pod(namespace).items
        return len(pods) == 2 and all(p.status.container_statuses[0].ready for p in pods)

    # The emulator refuses to start when ${ENV:CATALOG_DB_PASSWORD} is unset: Ready means it was resolved.
    await eventually(lambda: blocking(ready_pods), "both pods Ready with the secret-backed catalog")
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"CATALOG_DB_PASSWORD={SECRET_VALUE}".encode() in environ
    state = kubelet.settings.state_dir
    for path in state.rglob("*"):
        if path.is_file():
            assert SECRET_VALUE.encode() not in path.read_bytes(), f"secret value written to {path}"
