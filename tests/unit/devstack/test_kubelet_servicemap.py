"""The kubelet's Service view: the three in-cluster address forms, services.json entries holding
only ready pods' local addresses (named target ports resolved), Endpoints with a subset per pod and
unready pods under notReadyAddresses, no Endpoints for selector-less Services, atomic writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xtrinode.devstack.kubelet.servicemap import (
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


def _pod(name: str, port: int, ready: bool, namespace: str = "analytics", labels: dict[str, str] | None = None) -> LocalEndpoint:
    return LocalEndpoint(namespace, name, f"uid-{name}", labels if labels is not None else SELECTOR, ready,
                         [CONTAINER], {8080: port})


def test_address_forms_cover_fqdn_svc_and_namespace() -> None:
    assert address_forms("trino-demo", "analytics", 8080) == [
        "trino-demo.analytics.svc.cluster.local:8080", "trino-demo.analytics.svc:8080", "trino-demo.analytics:8080"]


def test_service_map_lists_only_ready_matching_pods() -> None:
    pods = [_pod("w1", 41001, True), _pod("w2", 41002, False), _pod("other", 41003, True, labels={"x": "y"}),
            _pod("elsewhere", 41004, True, namespace="other")]
    mapping = build_service_map([SERVICE], pods)
    assert set(mapping) == set(address_forms("trino-demo-workers", "analytics", 8080))
    assert all(addresses == ["127.0.0.1:41001"] for addresses in mapping.values())


def test_service_without_ready_pods_maps_to_nothing() -> None:
    mapping = build_service_map([SERVICE], [_pod("w1", 41001, False)])
    assert mapping["trino-demo-workers.analytics.svc.cluster.local:8080"] == []


def test_endpoints_have_a_subset_per_pod_and_not_ready_addresses() -> None:
    endpoints = build_endpoints(SERVICE, [_pod("w2", 41002, False), _pod("w1", 41001, True)])
    assert endpoints is not None
    assert endpoints["metadata"] == {"name": "trino-demo-workers", "namespace": "analytics", "labels": {}}
    first, second = endpoints["subsets"]
    assert first["addresses"][0]["targetRef"]["name"] == "w1"
    assert first["ports"] == [{"port": 41001, "protocol": "TCP", "name": "http"}]
    assert second["notReadyAddresses"][0]["ip"] == "127.0.0.1" and "addresses" not in second


def test_services_without_selector_get_no_endpoints() -> None:
    manual = {"metadata": {"name": "external", "namespace": "analytics"}, "spec": {"ports": [{"port": 5432}]}}
    assert build_endpoints(manual, [_pod("w1", 41001, True)]) is None
    assert build_service_map([manual], [])["external.analytics:5432"] == []


def test_service_map_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state" / "services.json"
    write_service_map(path, {"b:1": ["127.0.0.1:2"], "a:1": []})
    assert json.loads(path.read_text()) == {"a:1": [], "b:1": ["127.0.0.1:2"]}
    assert [p.name for p in path.parent.iterdir()] == ["services.json"], "no temporary file left"
