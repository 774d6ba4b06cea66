"""One kubelet, two modes, chosen by what the API server offers.

On the emulator (no ReplicaSets) the kubelet is also the Deployment controller: its pods are owned by
the Deployment and it writes Endpoints. On the real control plane it is a node agent: it registers a
Node (capacity, 192.0.2.1, Ready) with a heartbeat Lease, runs the pods the scheduler binds to it
(owned by ReplicaSets), reports podIPs from 192.0.2.0/24 that services.json maps to loopback and that
nothing ever connects to, removes a deleted pod with the grace-0 DELETE once its preStop and process
are done, and cordons its Node when it stops. Both modes: a missing Secret is
CreateContainerConfigError, and status.qosClass is what the API server computes (pods without
resources are BestEffort, and their status writes are accepted).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubelet_helpers import (
    apply_manifests,
    blocking,
    eventually,
    kubelet_settings,
    local_pod_ip,
    pods_of,
    rendered_runtime,
    resolved,
    with_secret_catalog,
)
from devstack.kubelet import Kubelet
from devstack.kubelet.podips import NODE_API_IP
from devstack.qos import qos_class
from devstack.resolver import API_POD_NETWORK, ServiceResolver, UnmappedPodAddress
from tests.netguard import no_connects_to

MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


async def _running(core: client.CoreV1Api, namespace: str, component: str) -> Any:
    def ready() -> Any:
        pods = [p for p in pods_of(core, namespace, component) if p.status and p.status.container_statuses
                and p.status.container_statuses[0].ready and not p.metadata.deletion_timestamp]
        return pods[0] if len(pods) == 1 else None

    return await eventually(lambda: blocking(ready), f"one ready {component} pod", timeout=30)


async def test_the_kubelet_takes_its_mode_from_what_the_api_server_offers(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str, kube_backend: str,
) -> None:
    assert kubelet.node_agent == (kube_backend == "real")
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    pod = await _running(core, namespace, "coordinator")
    (owner,) = pod.metadata.owner_references
    assert owner.kind == ("ReplicaSet" if kubelet.node_agent else "Deployment")
    assert pod.spec.node_name == kubelet.settings.node_name
    assert pod.status.host_ip == (NODE_API_IP if kubelet.node_agent else "127.0.0.1")
    in_api_range = ipaddress.IPv4Address(pod.status.pod_ip) in API_POD_NETWORK
    assert in_api_range == kubelet.node_agent, pod.status.pod_ip
    endpoints = await blocking(core.read_namespaced_endpoints, "trino-demo", namespace)
    assert [a.ip for a in endpoints.subsets[0].addresses] == [pod.status.pod_ip]


@pytest.mark.real_only  # the emulator has no Nodes: its kubelet is no node agent
async def test_a_node_agent_registers_a_node_with_a_heartbeat_and_cordons_it_on_stop(
    kubeconfig: Path, tmp_path: Path, core: client.CoreV1Api, api_client: client.ApiClient, namespace: str,
    kube_backend: str, no_leaked_threads: None,
) -> None:
    coordination = client.CoordinationV1Api(api_client)
    settings = kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace, node_heartbeat=timedelta(seconds=0.5))
    name = settings.node_name

    def lease_renew_time() -> str:
        # Raw JSON: the typed client would parse the MicroTime and hide its format.
        response = coordination.read_namespaced_lease(name, "kube-node-lease", _preload_content=False)
        import json

        return str(json.loads(response.data)["spec"]["renewTime"])

    async with Kubelet(settings):
        node = await blocking(core.read_node, name)
        conditions = {c.type: c.status for c in node.status.conditions}
        assert conditions["Ready"] == "True" and conditions["MemoryPressure"] == "False"
        assert node.status.allocatable["pods"] == "239", "one pod per 192.0.2.x address (.16 to .254)"
        assert [(a.type, a.address) for a in node.status.addresses][0] == ("InternalIP", NODE_API_IP)
        assert not node.spec.unschedulable
        assert not [t for t in node.spec.taints or [] if t.key == "node.kubernetes.io/not-ready"]
        first = await blocking(lease_renew_time)
        assert MICRO_TIME.match(first), first
        later = await eventually(lambda: blocking(lambda: (t := lease_renew_time()) > first and t),
                                 "the node's Lease renewed", timeout=10)
        assert MICRO_TIME.match(later), later
        lease = await blocking(coordination.read_namespaced_lease, name, "kube-node-lease")
        assert lease.spec.holder_identity == name and lease.spec.lease_duration_seconds == 40
        assert [(r.kind, r.name) for r in lease.metadata.owner_references] == [("Node", name)]
    stopped = await blocking(core.read_node, name)
    assert stopped.spec.unschedulable, "a stopped kubelet's node gets no new pods"
    assert {c.type: c.status for c in stopped.status.conditions}["Ready"] == "False"


async def test_a_deleted_pod_leaves_the_api_once_its_process_is_gone(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str, kube_backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="devstack.kubelet")
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    worker = await _running(core, namespace, "worker")
    pid_alive = kubelet.processes()[f"{namespace}/{worker.metadata.name}"]
    await blocking(core.delete_namespaced_pod, worker.metadata.name, namespace)

    def gone() -> bool:
        try:
            core.read_namespaced_pod(worker.metadata.name, namespace)
        except ApiException as e:
            return e.status == 404
        return False

    await eventually(lambda: blocking(gone), f"pod {worker.metadata.name} removed from the API", timeout=30)
    assert f"{namespace}/{worker.metadata.name}" not in kubelet.processes(), "its process is gone"
    hooks = [r for r in caplog.records if r.getMessage() == "preStop hook sent"
             and getattr(r, "pod", None) == worker.metadata.name]
    assert hooks, "the worker drained through its preStop hook first"
    assert pid_alive
    if kube_backend == "real":
        removed = [r for r in caplog.records if r.getMessage() == "pod removed"
                   and getattr(r, "pod", None) == worker.metadata.name]
        assert removed, "the node agent sent the grace-0 DELETE"
    await _running(core, namespace, "worker")  # and its controller made a new one


async def test_a_missing_secret_is_create_container_config_error(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
) -> None:
    manifests = [m for m in with_secret_catalog(namespace) if m["kind"] != "Secret"]
    await blocking(apply_manifests, api_client, namespace, manifests)

    def waiting() -> Any:
        for pod in pods_of(core, namespace, "coordinator"):
            statuses = (pod.status.container_statuses if pod.status else None) or []
            state = statuses[0].state.waiting if statuses and statuses[0].state else None
            if state is not None and state.reason == "CreateContainerConfigError":
                return pod, state
        return None

    pod, state = await eventually(lambda: blocking(waiting), "the coordinator waiting on its Secret")
    assert 'secret "db" not found' in state.message
    assert pod.status.phase == "Pending" and not pod.status.container_statuses[0].ready


async def test_qos_class_is_what_the_api_server_computes(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
) -> None:
    manifests = rendered_runtime(namespace)
    for manifest in manifests:
        if manifest["kind"] == "Deployment" and manifest["metadata"]["name"].endswith("-worker"):
            manifest["spec"]["template"]["spec"]["containers"][0].pop("resources", None)
    await blocking(apply_manifests, api_client, namespace, manifests)
    coordinator = await _running(core, namespace, "coordinator")
    worker = await _running(core, namespace, "worker")
    assert worker.status.qos_class == "BestEffort", "no resources: BestEffort, and its status writes are accepted"
    spec = api_client.sanitize_for_serialization(coordinator.spec)
    assert coordinator.status.qos_class == qos_class(spec) == "Burstable"


async def test_nothing_connects_to_a_pod_address_of_the_api(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str, kube_backend: str,
) -> None:
    resolver = ServiceResolver(kubelet.settings.services_file)
    with no_connects_to(API_POD_NETWORK) as attempts:
        await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
        pod = await _running(core, namespace, "coordinator")
        await _running(core, namespace, "worker")
        url = await resolved(resolver, f"http://trino-demo.{namespace}.svc.cluster.local:8080/v1/info")
        async with kubelet.http.get(url) as response:
            assert response.status == 200
        if kube_backend == "real":
            # A pod's API address resolves to its loopback address; an unknown one is refused, never returned.
            mapped = resolver.resolve_url(f"http://{pod.status.pod_ip}:8080/v1/info")
            assert mapped == f"http://{local_pod_ip(kubelet, pod.status.pod_ip)}:8080/v1/info"
            # the unknown address is one no pod has: the pool hands out .16-.254 from a seeded offset
            mapped = {key.rsplit(":", 1)[0] for key in resolver.mapping}
            unknown = next(str(a) for a in reversed(list(API_POD_NETWORK.hosts())) if str(a) not in mapped)
            with pytest.raises(UnmappedPodAddress, match=f"{re.escape(unknown)}:8080 is a devstack pod address"):
                resolver.resolve_url(f"http://{unknown}:8080/v1/info")
        for addresses in resolver.mapping.values():
            assert not [a for a in addresses if ipaddress.IPv4Address(a.rsplit(":", 1)[0]) in API_POD_NETWORK]
    assert attempts == [], f"connections to 192.0.2.x: {attempts}"
