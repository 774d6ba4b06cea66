"""EndpointSlices built from the kubelet's pods: labels (service name, managed-by, headless), an owner
reference to the Service, one slice per port list with stable names, endpoint conditions for
ready, starting, terminating and published-not-ready pods, an empty slice for a Service without
pods, none for a Service without selector, and at most 100 endpoints per slice.
"""

from __future__ import annotations

from typing import Any

from devstack.kubelet.endpointslices import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MAX_ENDPOINTS_PER_SLICE,
    SERVICE_NAME_LABEL,
    build_endpoint_slices,
)
from devstack.kubelet.servicemap import LocalEndpoint

SELECTOR = {"app.kubernetes.io/component": "worker"}
SERVICE: dict[str, Any] = {
    "metadata": {"name": "trino-demo-workers", "namespace": "analytics", "uid": "svc-uid", "labels": {"team": "a"}},
    "spec": {"clusterIP": "None", "selector": SELECTOR,
             "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}]},
}
CONTAINER = {"name": "trino", "ports": [{"name": "http", "containerPort": 8080}]}


def _pod(name: str, ip: str, ready: bool = True, *, port: int = 8080, terminating: bool = False,
         serving: bool | None = None) -> LocalEndpoint:
    return LocalEndpoint("analytics", name, f"uid-{name}", SELECTOR, ip, ready, [CONTAINER], {8080: port},
                         terminating=terminating, serving=serving, node_name="node-a")


def test_a_slice_per_service_with_labels_owner_ports_and_endpoints() -> None:
    slices = build_endpoint_slices(SERVICE, [_pod("w2", "127.16.0.2"), _pod("w1", "127.16.0.1", ready=False)])
    assert slices is not None
    (only,) = slices
    assert only["apiVersion"] == "discovery.k8s.io/v1" and only["kind"] == "EndpointSlice"
    meta = only["metadata"]
    assert meta["name"].startswith("trino-demo-workers-") and len(meta["name"]) == len("trino-demo-workers-") + 5
    assert meta["labels"] == {"team": "a", SERVICE_NAME_LABEL: "trino-demo-workers", MANAGED_BY_LABEL: MANAGED_BY,
                              "service.kubernetes.io/headless": ""}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "trino-demo-workers",
                                        "uid": "svc-uid", "controller": True, "blockOwnerDeletion": True}]
    assert only["addressType"] == "IPv4"
    assert only["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]
    assert only["endpoints"] == [
        {"addresses": ["127.16.0.1"], "conditions": {"ready": False, "serving": False, "terminating": False},
         "nodeName": "node-a", "targetRef": {"kind": "Pod", "namespace": "analytics", "name": "w1", "uid": "uid-w1"}},
        {"addresses": ["127.16.0.2"], "conditions": {"ready": True, "serving": True, "terminating": False},
         "nodeName": "node-a", "targetRef": {"kind": "Pod", "namespace": "analytics", "name": "w2", "uid": "uid-w2"}},
    ]


def test_the_slice_name_stays_while_its_ports_stay() -> None:
    before = build_endpoint_slices(SERVICE, [_pod("w1", "127.16.0.1")])
    after = build_endpoint_slices(SERVICE, [_pod("w1", "127.16.0.1"), _pod("w2", "127.16.0.2", ready=False)])
    assert before and after and before[0]["metadata"]["name"] == after[0]["metadata"]["name"]


def test_pods_on_other_ports_get_their_own_slice() -> None:
    slices = build_endpoint_slices(SERVICE, [_pod("w1", "127.16.0.1"), _pod("moved", "127.16.0.2", port=41000)])
    assert slices is not None
    assert sorted((s["ports"][0]["port"], [e["targetRef"]["name"] for e in s["endpoints"]]) for s in slices) == [
        (8080, ["w1"]), (41000, ["moved"])]
    assert len({s["metadata"]["name"] for s in slices}) == 2


def test_a_terminating_pod_is_terminating_and_not_ready_but_may_still_serve() -> None:
    slices = build_endpoint_slices(SERVICE, [_pod("w1", "127.16.0.1", ready=False, terminating=True, serving=True)])
    assert slices is not None
    assert slices[0]["endpoints"][0]["conditions"] == {"ready": False, "serving": True, "terminating": True}


def test_published_not_ready_addresses_are_ready() -> None:
    published = {**SERVICE, "spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    slices = build_endpoint_slices(published, [_pod("w1", "127.16.0.1", ready=False, terminating=True)])
    assert slices is not None
    assert slices[0]["endpoints"][0]["conditions"] == {"ready": True, "serving": True, "terminating": True}


def test_a_service_without_pods_keeps_one_empty_slice_and_one_without_selector_none() -> None:
    slices = build_endpoint_slices(SERVICE, [])
    assert slices is not None and len(slices) == 1
    assert (slices[0]["endpoints"], slices[0]["ports"]) == ([], [])
    manual = {"metadata": {"name": "external", "namespace": "analytics"}, "spec": {"ports": [{"port": 5432}]}}
    assert build_endpoint_slices(manual, [_pod("w1", "127.16.0.1")]) is None


def test_slices_hold_at_most_100_endpoints() -> None:
    pods = [_pod(f"w{n}", f"127.16.{n // 250}.{n % 250 + 1}") for n in range(MAX_ENDPOINTS_PER_SLICE * 2 + 1)]
    slices = build_endpoint_slices(SERVICE, pods)
    assert slices is not None
    assert sorted(len(s["endpoints"]) for s in slices) == [1, MAX_ENDPOINTS_PER_SLICE, MAX_ENDPOINTS_PER_SLICE]
    assert len({s["metadata"]["name"] for s in slices}) == 3
