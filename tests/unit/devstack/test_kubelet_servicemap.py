"""The kubelet's Service view: the three in-cluster address forms, services.json entries holding
only ready pods' `<podIP>:<port>` addresses in IP order (named target ports resolved), Endpoints
with pods of the same ports in one subset, unready pods under notReadyAddresses and terminating
pods left out (all ready with publishNotReadyAddresses), no Endpoints for selector-less Services,
atomic writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devstack.kubelet.servicemap import (
    LocalEndpoint,
    address_forms,
    build_endpoints,
    build_service_map,
    write_service_map,
)

SELECTOR = {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "worker"}
SERVICE: dict[str, Any] = {
    "metadata": {"name": "trino-demo-workers", "namespace": "analytics"},
    "spec": {"clusterIP": "None", "selector": SELECTOR,
             "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]},
}
CONTAINER = {"name": "trino", "ports": [{"name": "http", "containerPort": 8080}]}


def _pod(name: str, ip: str, ready: bool, namespace: str = "analytics", labels: dict[str, str] | None = None,
         port: int = 8080, terminating: bool = False) -> LocalEndpoint:
    return LocalEndpoint(namespace, name, f"uid-{name}", labels if labels is not None else SELECTOR, ip, ready,
                         [CONTAINER], {8080: port}, terminating=terminating, node_name="node-a")


def test_address_forms_cover_fqdn_svc_and_namespace() -> None:
    assert address_forms("trino-demo", "analytics", 8080) == [
        "trino-demo.analytics.svc.cluster.local:8080", "trino-demo.analytics.svc:8080", "trino-demo.analytics:8080"]


def test_service_map_lists_only_ready_matching_pods_at_their_pod_ips() -> None:
    pods = [_pod("w3", "127.16.0.10", True), _pod("w1", "127.16.0.9", True), _pod("w2", "127.16.0.3", False),
            _pod("other", "127.16.0.4", True, labels={"x": "y"}),
            _pod("elsewhere", "127.16.0.5", True, namespace="other")]
    mapping = build_service_map([SERVICE], pods)
    assert set(mapping) == set(address_forms("trino-demo-workers", "analytics", 8080))
    assert all(addresses == ["127.16.0.9:8080", "127.16.0.10:8080"] for addresses in mapping.values()), \
        "ready pods only, in IP order (not string order)"


def test_service_without_ready_pods_maps_to_nothing() -> None:
    mapping = build_service_map([SERVICE], [_pod("w1", "127.16.0.1", False)])
    assert mapping["trino-demo-workers.analytics.svc.cluster.local:8080"] == []


def test_endpoints_group_pods_with_the_same_ports_into_one_subset() -> None:
    pods = [_pod("w2", "127.16.0.2", False), _pod("w1", "127.16.0.1", True), _pod("w3", "127.16.0.3", True),
            _pod("moved", "127.16.0.4", True, port=41000)]
    endpoints = build_endpoints(SERVICE, pods)
    assert endpoints is not None
    assert endpoints["metadata"] == {"name": "trino-demo-workers", "namespace": "analytics", "labels": {}}
    assert endpoints["subsets"] == [
        {"ports": [{"port": 41000, "protocol": "TCP", "name": "http"}],
         "addresses": [{"ip": "127.16.0.4", "nodeName": "node-a", "targetRef": {
             "kind": "Pod", "namespace": "analytics", "name": "moved", "uid": "uid-moved"}}]},
        {"ports": [{"port": 8080, "protocol": "TCP", "name": "http"}],
         "addresses": [{"ip": ip, "nodeName": "node-a", "targetRef": {
             "kind": "Pod", "namespace": "analytics", "name": name, "uid": f"uid-{name}"}}
             for ip, name in (("127.16.0.1", "w1"), ("127.16.0.3", "w3"))],
         "notReadyAddresses": [{"ip": "127.16.0.2", "nodeName": "node-a", "targetRef": {
             "kind": "Pod", "namespace": "analytics", "name": "w2", "uid": "uid-w2"}}]},
    ]


def test_endpoints_leave_terminating_pods_out_unless_not_ready_addresses_are_published() -> None:
    pods = [_pod("w1", "127.16.0.1", True), _pod("w2", "127.16.0.2", False, terminating=True),
            _pod("w3", "127.16.0.3", False)]
    endpoints = build_endpoints(SERVICE, pods)
    assert endpoints is not None
    (subset,) = endpoints["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["127.16.0.1"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["127.16.0.3"]

    published = {**SERVICE, "spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    endpoints = build_endpoints(published, pods)
    assert endpoints is not None
    (subset,) = endpoints["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["127.16.0.1", "127.16.0.2", "127.16.0.3"]
    assert "notReadyAddresses" not in subset
    assert build_service_map([published], pods)["trino-demo-workers.analytics:8080"] == [
        "127.16.0.1:8080", "127.16.0.2:8080", "127.16.0.3:8080"]


def test_services_without_selector_get_no_endpoints() -> None:
    manual = {"metadata": {"name": "external", "namespace": "analytics"}, "spec": {"ports": [{"port": 5432}]}}
    assert build_endpoints(manual, [_pod("w1", "127.16.0.1", True)]) is None
    assert build_service_map([manual], [])["external.analytics:5432"] == []


def test_service_map_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state" / "services.json"
    write_service_map(path, {"b:1": ["127.16.0.1:8080"], "a:1": []})
    assert json.loads(path.read_text()) == {"a:1": [], "b:1": ["127.16.0.1:8080"]}
    assert [p.name for p in path.parent.iterdir()] == ["services.json"], "no temporary file left"
