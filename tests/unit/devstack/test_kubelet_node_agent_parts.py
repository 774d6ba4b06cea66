"""The pure parts of the node agent: the 192.0.2.x address pool (unique, kept, reused only when free,
an adopted pod keeps the address it reported, refuses clearly when full), the service map's pod-address
entries (API address -> loopback, nothing for the emulator's own addresses), the resolver (maps a known
192.0.2.x, refuses an unknown one, never returns one), the computed QoS class, and the Node status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.kubelet.node import micro_time, node_status
from devstack.kubelet.podips import NODE_API_IP, ApiAddressPool
from devstack.kubelet.servicemap import LocalEndpoint, build_pod_address_map
from devstack.qos import qos_class
from devstack.resolver import ServiceResolver, UnmappedPodAddress


def test_api_addresses_are_unique_kept_and_start_above_the_node_and_apiserver() -> None:
    pool = ApiAddressPool("node-a")
    a, b = pool.assign("a"), pool.assign("b")
    assert a != b and pool.assign("a") == a
    assert all(int(ip.rsplit(".", 1)[1]) >= 16 for ip in (a, b)) and NODE_API_IP not in (a, b)
    pool.release("a")
    assert pool.assign("c") != a, "a released address is not handed out again at once"
    assert pool.assign("adopted", preferred=a) == a, "an adopted pod keeps the address it reported when free"
    assert pool.assign("d", preferred=b) != b, "another pod's address is never shared"
    assert pool.capacity == 239


def test_a_full_pool_says_what_to_do() -> None:
    pool = ApiAddressPool("node-b")
    for n in range(pool.capacity):
        pool.assign(f"pod-{n}")
    with pytest.raises(RuntimeError, match="all 239 pod addresses of 192.0.2.0/24 are in use"):
        pool.assign("one-more")


def _endpoint(ip: str, api_ip: str | None, ports: dict[int, int]) -> LocalEndpoint:
    return LocalEndpoint("ns", "p", "uid", {}, ip, True, [], ports, api_ip=api_ip)


def test_pod_address_map_sends_api_addresses_to_loopback_only_for_a_node_agent() -> None:
    pods = [_endpoint("127.16.0.5", "192.0.2.20", {8080: 8080}), _endpoint("127.16.0.6", None, {8080: 8080}),
            _endpoint("127.16.0.7", "127.16.0.7", {8080: 41000})]
    assert build_pod_address_map(pods) == {"192.0.2.20:8080": ["127.16.0.5:8080"]}


def test_resolver_maps_known_pod_addresses_and_refuses_unknown_ones(tmp_path: Path) -> None:
    services = tmp_path / "services.json"
    services.write_text(json.dumps({"192.0.2.20:8080": ["127.16.0.5:8080"],
                                    "web.ns.svc.cluster.local:80": ["127.16.0.5:8080"]}))
    resolver = ServiceResolver(services)
    assert resolver.resolve_url("http://192.0.2.20:8080/v1/info") == "http://127.16.0.5:8080/v1/info"
    assert resolver.resolve_url("http://web.ns.svc.cluster.local/x") == "http://127.16.0.5:8080/x"
    with pytest.raises(UnmappedPodAddress, match="connect through the pod's Service instead"):
        resolver.resolve_url("http://192.0.2.21:8080/v1/info")
    assert resolver.resolve_url("http://10.1.2.3:8080/") == "http://10.1.2.3:8080/", "other hosts pass through"


def test_qos_class_as_the_api_server_computes_it() -> None:
    def pod(*resources: dict) -> dict:
        return {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}

    full = {"limits": {"cpu": "1", "memory": "1Gi"}}
    assert qos_class(pod({})) == "BestEffort"
    assert qos_class(pod(full)) == "Guaranteed", "requests default to limits"
    assert qos_class(pod({"requests": {"cpu": "1000m", "memory": "1024Mi"}, **full})) == "Guaranteed"
    assert qos_class(pod(full, {})) == "Burstable"
    assert qos_class(pod({"requests": {"cpu": "1"}})) == "Burstable"
    assert qos_class({**pod({}), "resources": full}) == "Guaranteed", "pod-level resources decide"


def test_node_status_keeps_transition_times_and_says_ready() -> None:
    first = node_status("n", 239, ready=True)
    conditions = {c["type"]: c for c in first["conditions"]}
    assert conditions["Ready"]["status"] == "True" and first["allocatable"]["pods"] == "239"
    again = node_status("n", 239, ready=False, previous={"conditions": [
        {**conditions["Ready"], "lastTransitionTime": "2020-01-01T00:00:00Z"},
        {**conditions["DiskPressure"], "lastTransitionTime": "2020-01-01T00:00:00Z"}]})
    after = {c["type"]: c for c in again["conditions"]}
    assert after["Ready"]["status"] == "False" and after["Ready"]["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    assert after["DiskPressure"]["lastTransitionTime"] == "2020-01-01T00:00:00Z", "unchanged: kept"
    assert len(micro_time().split(".")[1]) == 7, "six fraction digits and Z"
