"""EndpointSlices of the kubelet's pods, read through the official client (`DiscoveryV1Api`): a starting
pod is an endpoint with ready=false, a ready one ready=true, both at the pod's IP on port 8080 with
nodeName, targetRef and the service-name/managed-by labels; a deleted (terminating) pod stays in
the slice with terminating=true and ready=false while Endpoints drop it; the slices go with their
Service. On the emulator the kubelet writes them; on the real control plane kube-controller-manager
does, from the pod status the kubelet reports: the same contract.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubelet_helpers import apply_manifests, blocking, eventually, kubelet_settings, pods_of, rendered_runtime
from devstack.kubelet import Kubelet
from devstack.kubelet.endpointslices import MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL


def _slices(api_client: client.ApiClient, namespace: str, service: str) -> list[Any]:
    discovery = client.DiscoveryV1Api(api_client)
    return list(discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"{SERVICE_NAME_LABEL}={service}").items)


def _endpoints_of(api_client: client.ApiClient, namespace: str, service: str) -> list[Any]:
    return [endpoint for s in _slices(api_client, namespace, service) for endpoint in s.endpoints or []]


def _manager(kube_backend: str) -> str:
    return MANAGED_BY if kube_backend == "emulator" else "endpointslice-controller.k8s.io"


async def test_endpoint_slices_follow_pod_readiness(
    kubeconfig: Path, tmp_path: Path, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
    no_leaked_threads: None, kube_backend: str,
) -> None:
    # Every emulated node reports starting=true for 2 s: running but not ready yet.
    settings = kubelet_settings(kubeconfig, tmp_path / "kubelet", namespace,
                                readiness_poll_interval=timedelta(seconds=0.2),
                                emulator_args=("--startup-delay", "2s", "--announce-interval", "1s"))
    async with Kubelet(settings):
        await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))

        def starting() -> Any:
            endpoints = _endpoints_of(api_client, namespace, "trino-demo")
            return len(endpoints) == 1 and endpoints[0].conditions.ready is False and endpoints[0]

        endpoint = await eventually(lambda: blocking(starting), "the starting coordinator with ready=false")
        assert (endpoint.conditions.serving, endpoint.conditions.terminating) == (False, False)

        def ready() -> Any:
            endpoints = _endpoints_of(api_client, namespace, "trino-demo")
            return len(endpoints) == 1 and endpoints[0].conditions.ready and endpoints[0]

        endpoint = await eventually(lambda: blocking(ready), "the coordinator with ready=true once started")
        assert (endpoint.conditions.serving, endpoint.conditions.terminating) == (True, False)
        pod = await blocking(core.read_namespaced_pod, endpoint.target_ref.name, namespace)
        assert endpoint.addresses == [pod.status.pod_ip]
        assert (endpoint.target_ref.kind, endpoint.target_ref.uid) == ("Pod", pod.metadata.uid)
        assert endpoint.node_name == settings.node_name

        (endpoint_slice,) = await blocking(_slices, api_client, namespace, "trino-demo")
        assert endpoint_slice.address_type == "IPv4"
        assert endpoint_slice.metadata.name.startswith("trino-demo-")
        assert endpoint_slice.metadata.labels[MANAGED_BY_LABEL] == _manager(kube_backend)
        assert [(p.name, p.port, p.protocol) for p in endpoint_slice.ports] == [("http", 8080, "TCP")]
        service = await blocking(core.read_namespaced_service, "trino-demo", namespace)
        owners = [(r.kind, r.uid) for r in endpoint_slice.metadata.owner_references]
        assert owners == [("Service", service.metadata.uid)]
        endpoints = await blocking(core.read_namespaced_endpoints, "trino-demo", namespace)
        assert [a.ip for a in endpoints.subsets[0].addresses] == endpoint.addresses, "slices agree with Endpoints"


async def test_a_terminating_pod_stays_in_the_slice_as_terminating(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    # Trino's shutdown grace period keeps the deleted worker draining for a few seconds.
    await blocking(apply_manifests, api_client, namespace,
                   rendered_runtime(namespace, gracefulShutdown={"gracePeriodSeconds": 3}))

    def ready_worker() -> Any:
        endpoints = _endpoints_of(api_client, namespace, "trino-demo-workers")
        return len(endpoints) == 1 and endpoints[0].conditions.ready and endpoints[0]

    worker = await eventually(lambda: blocking(ready_worker), "the worker ready in the slice", timeout=20)
    name = worker.target_ref.name
    await blocking(core.delete_namespaced_pod, name, namespace)

    def terminating() -> Any:
        endpoints = [e for e in _endpoints_of(api_client, namespace, "trino-demo-workers") if e.target_ref.name == name]
        if not endpoints or not endpoints[0].conditions.terminating:
            return None
        listed = core.read_namespaced_endpoints("trino-demo-workers", namespace)
        names = {a.target_ref.name for s in listed.subsets or []
                 for a in (s.addresses or []) + (s.not_ready_addresses or [])}
        return (endpoints[0], names)

    endpoint, names = await eventually(lambda: blocking(terminating), f"worker {name} with terminating=true")
    assert endpoint.conditions.ready is False, "a terminating endpoint is never ready"
    assert endpoint.addresses == worker.addresses
    assert name not in names, "Endpoints leave terminating pods out, as the endpoints controller does"
    def pod_gone() -> bool:
        return name not in {p.metadata.name for p in pods_of(core, namespace, "worker")}

    await eventually(lambda: blocking(pod_gone), f"worker pod {name} gone", timeout=20)
    await eventually(lambda: blocking(lambda: name not in {e.target_ref.name for e in _endpoints_of(
        api_client, namespace, "trino-demo-workers")}), f"worker {name} out of the slice")


async def test_slices_and_endpoints_go_with_their_service(
    kubelet: Kubelet, api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    await blocking(apply_manifests, api_client, namespace, rendered_runtime(namespace))
    await eventually(lambda: blocking(_endpoints_of, api_client, namespace, "trino-demo-workers"),
                     "an endpoint in the workers' slice")
    # Raw reply: the emulator answers a Service DELETE with a Status, where the typed client expects the Service.
    await blocking(core.delete_namespaced_service, "trino-demo-workers", namespace)

    def endpoints_gone() -> bool:
        try:
            core.read_namespaced_endpoints("trino-demo-workers", namespace)
        except ApiException as e:
            return e.status == 404
        return False

    await eventually(lambda: blocking(lambda: not _slices(api_client, namespace, "trino-demo-workers")),
                     "no EndpointSlice of the deleted Service")
    await eventually(lambda: blocking(endpoints_gone), "no Endpoints of the deleted Service")
    assert await blocking(_slices, api_client, namespace, "trino-demo"), "the other Service keeps its slice"
