"""A rendered runtime made real by the kubelet, seen only through the Kubernetes API, services.json
and the real `trino` client: the coordinator and worker become Ready, Deployment status counts are
true, the real client runs a tpch query at the coordinator's podIP:8080, the worker is registered
with the coordinator as `http://<its podIP>:8080`, two workers get distinct pod IPs on port 8080
(one Endpoints subset, as in a cluster), and Endpoints and services.json list only ready pods. On the
real control plane the API shows each pod's 192.0.2.x stand-in, which services.json maps to the
loopback podIP the process listens on.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import aiohttp
import trino
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubelet_helpers import apply_manifests, blocking, eventually, kubelet_settings, local_pod_ip, rendered_runtime, resolved
from devstack.kubelet import Kubelet
from devstack.resolver import ServiceResolver

COORDINATOR_URL = "http://trino-demo.{ns}.svc.cluster.local:8080"


def _ready_counts(apps: client.AppsV1Api, namespace: str, name: str) -> tuple[Any, ...]:
    status = apps.read_namespaced_deployment_status(name, namespace).status
    if status is None:
        return ()
    # Zero counts are omitted (None) by the API server.
    return (status.replicas or 0, status.ready_replicas or 0, status.available_replicas or 0,
            status.updated_replicas or 0)


async def _wait_runtime_ready(apps: client.AppsV1Api, namespace: str) -> None:
    for role in ("coordinator", "worker"):
        async def counted(name: str = f"trino-demo-{role}") -> bool:
            return await blocking(_ready_counts, apps, namespace, name) == (1, 1, 1, 1)

        await eventually(counted, f"deployment trino-demo-{role} with 1 ready, available, updated replica")


def _count_nations(url: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    with trino.dbapi.connect(host=host, port=int(port), user="alice", http_scheme="http") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM tpch.tiny.nation")
        rows = cursor.fetchall()
    return int(rows[0][0])


async def test_rendered_runtime_becomes_ready_and_answers_the_trino_client(
    kubelet: Kubelet, api_client: client.ApiClient, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    await _wait_runtime_ready(apps, namespace)

    deployment = await blocking(apps.read_namespaced_deployment_status, "trino-demo-worker", namespace)
    assert deployment.status.observed_generation == deployment.metadata.generation
    conditions = {c.type: (c.status, c.reason) for c in deployment.status.conditions}
    assert conditions["Available"] == ("True", "MinimumReplicasAvailable")
    assert conditions["Progressing"] == ("True", "NewReplicaSetAvailable")

    resolver = ServiceResolver(kubelet.settings.services_file)
    url = resolver.resolve_url(COORDINATOR_URL.format(ns=namespace))
    assert url != COORDINATOR_URL.format(ns=namespace), "services.json is written before the Deployment reports ready"
    pods = (await blocking(core.list_namespaced_pod, namespace,
                           label_selector="app.kubernetes.io/component=coordinator")).items
    assert url == f"http://{local_pod_ip(kubelet, pods[0].status.pod_ip)}:8080", "the coordinator's own podIP and real port"
    assert await blocking(_count_nations, url) == 25


async def test_worker_announces_itself_to_the_coordinator(
    kubelet: Kubelet, api_client: client.ApiClient, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    await _wait_runtime_ready(apps, namespace)
    resolver = ServiceResolver(kubelet.settings.services_file)
    coordinator = await resolved(resolver, COORDINATOR_URL.format(ns=namespace))
    worker_endpoints = await blocking(core.read_namespaced_endpoints, "trino-demo-workers", namespace)
    worker_ip = local_pod_ip(kubelet, worker_endpoints.subsets[0].addresses[0].ip)
    assert worker_endpoints.subsets[0].ports[0].port == 8080
    worker_uri = f"http://{worker_ip}:8080"

    async with aiohttp.ClientSession() as http:
        async def registered() -> list[dict[str, Any]]:
            async with http.get(f"{coordinator}/v1/node", headers={"X-Trino-User": "admin"}) as response:
                nodes: list[dict[str, Any]] = await response.json()
            return [n for n in nodes if n["uri"] == worker_uri and n["state"] == "ACTIVE"]

        await eventually(registered, f"worker {worker_uri} ACTIVE in the coordinator's /v1/node")
        async with http.get(f"{worker_uri}/v1/info") as response:
            assert response.status == 200, "the worker answers at its podIP:8080"


async def test_two_workers_get_distinct_pod_ips_on_the_real_port(
    kubelet: Kubelet, api_client: client.ApiClient, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    await _wait_runtime_ready(apps, namespace)
    await blocking(apps.patch_namespaced_deployment_scale, "trino-demo-worker", namespace, {"spec": {"replicas": 2}})

    def both_ready() -> Any:
        subsets = core.read_namespaced_endpoints("trino-demo-workers", namespace).subsets or []
        return len(subsets) == 1 and len(subsets[0].addresses or []) == 2 and subsets[0]

    subset = await eventually(lambda: blocking(both_ready), "both workers ready in one Endpoints subset", timeout=20)
    assert [(p.name, p.port) for p in subset.ports] == [("http", 8080)]
    ips = [address.ip for address in subset.addresses]
    local = [local_pod_ip(kubelet, ip) for ip in ips]
    assert len(set(ips)) == 2 and len(set(local)) == 2, f"distinct pod IPs, got {ips} ({local})"
    assert ips == sorted(ips, key=ipaddress.IPv4Address), "addresses in IP order, as the controller sorts them"
    pods = (await blocking(core.list_namespaced_pod, namespace,
                           label_selector="app.kubernetes.io/component=worker")).items
    assert {p.status.pod_ip for p in pods} == set(ips)
    assert all([ip.ip for ip in p.status.pod_ips] == [p.status.pod_ip] for p in pods)
    assert {p.status.host_ip for p in pods} == {kubelet.host_ip}
    assert {a.target_ref.name: a.ip for a in subset.addresses} == {p.metadata.name: p.status.pod_ip for p in pods}
    # The kubelet maps the Service from its own watch of Endpoints, so it may follow the read above by a moment.
    expected = sorted(f"{ip}:8080" for ip in local)

    def mapped() -> Any:
        found = ServiceResolver(kubelet.settings.services_file).addresses(
            f"trino-demo-workers.{namespace}.svc.cluster.local", 8080)
        return found is not None and sorted(found) == expected

    await eventually(lambda: blocking(mapped), f"the Service map lists both workers {expected}", timeout=10)


def _service_map(path: Path) -> dict[str, list[str]]:
    return json.loads(path.read_text()) if path.exists() else {}


async def test_endpoints_and_service_map_follow_readiness(
    kubeconfig: Path, tmp_path: Path, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
    no_leaked_threads: None,
) -> None:
    # Every emulated node reports starting=true for 2 s: running but not ready yet.
    settings = kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace,
                                emulator_args=("--startup-delay", "2s", "--announce-interval", "1s"))
    async with Kubelet(settings) as kubelet:
        await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
        forms = [f"trino-demo.{namespace}.svc.cluster.local:8080", f"trino-demo.{namespace}.svc:8080",
                 f"trino-demo.{namespace}:8080"]

        def read_endpoints() -> Any:
            try:
                return core.read_namespaced_endpoints("trino-demo", namespace)
            except ApiException as e:
                if e.status == 404:
                    return None
                raise

        def not_ready_endpoint() -> Any:
            endpoints = read_endpoints()
            subsets = (endpoints and endpoints.subsets) or []
            return subsets and subsets[0].not_ready_addresses and not subsets[0].addresses and endpoints

        endpoints = await eventually(lambda: blocking(not_ready_endpoint), "the coordinator under notReadyAddresses")
        assert endpoints.subsets[0].not_ready_addresses[0].target_ref.kind == "Pod"
        starting = f"{local_pod_ip(kubelet, endpoints.subsets[0].not_ready_addresses[0].ip)}:8080"
        discovery = f"trino-demo-discovery.{namespace}.svc.cluster.local:8080"

        def workers_reach_the_starting_coordinator() -> bool:
            mapped = _service_map(settings.services_file)
            return mapped.get(discovery) == [starting] and mapped.get(forms[0]) == []

        # The workers' discovery.uri lists the coordinator while clients' Service does not: workers that
        # start with it announce before its first lookup (Trino's next one is 10 s later).
        await eventually(workers_reach_the_starting_coordinator,
                         f"{discovery} mapped to the starting coordinator {starting} while trino-demo has none")
        await eventually(lambda: all(_service_map(settings.services_file).get(form) == [] for form in forms),
                         "every address form of trino-demo in services.json, with no address while not ready")
        assert (await blocking(read_endpoints)).subsets[0].not_ready_addresses, "still not ready"

        def ready_endpoint() -> Any:
            subsets = read_endpoints().subsets or []
            return subsets and subsets[0].addresses and subsets[0]

        subset = await eventually(lambda: blocking(ready_endpoint), "the coordinator under addresses once started")
        address = f"{local_pod_ip(kubelet, subset.addresses[0].ip)}:8080"
        assert subset.ports[0].port == 8080
        await eventually(lambda: all(_service_map(settings.services_file).get(f) == [address] for f in forms),
                         f"every address form of trino-demo mapped to {address} in services.json")
        pod = await blocking(core.read_namespaced_pod, subset.addresses[0].target_ref.name, namespace)
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        assert pod.status.pod_ip == subset.addresses[0].ip and pod.status.phase == "Running"
    assert all(_service_map(settings.services_file).get(f) == [] for f in forms), "stopped kubelet: nothing ready"
