"""The discovery.k8s.io/v1 EndpointSlices of a Service, as the EndpointSlice controller writes them.

Pure: one slice per distinct port list (split past 100 endpoints), each endpoint a pod with its
podIP, `ready`/`serving`/`terminating` conditions, `nodeName` and `targetRef`; a Service that selects
no pod keeps one empty slice. Names are `<service>-<5 chars>` from a hash of the port list, so the
same ports keep the same slice and a sync only replaces what changed (`publisher.py` writes them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .objects import JsonDict
from .servicemap import (
    LocalEndpoint,
    endpoint_ports,
    publishes_not_ready,
    selected_pods,
)

__all__ = [
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "MAX_ENDPOINTS_PER_SLICE",
    "SERVICE_NAME_LABEL",
    "build_endpoint_slices",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "devstack-kubelet.xtrinode.io"
"""Our managed-by value (the real controller's is `endpointslice-controller.k8s.io`)."""
HEADLESS_LABEL = "service.kubernetes.io/headless"
MAX_ENDPOINTS_PER_SLICE = 100
"""The controller's default `--max-endpoints-per-slice`."""
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _suffix(*parts: object) -> str:
    digest = int.from_bytes(hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).digest()[:8], "big")
    chars = []
    for _ in range(5):
        digest, index = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def _slice_ports(service: Mapping[str, Any], ports: list[JsonDict]) -> list[JsonDict]:
    """Endpoints ports as EndpointPorts: `name` always present ("" for an unnamed Service port),
    `appProtocol` copied from the Service port."""
    app_protocols = {str(p.get("name") or ""): p["appProtocol"]
                     for p in (service.get("spec") or {}).get("ports") or [] if p.get("appProtocol")}
    result = []
    for port in ports:
        entry: JsonDict = {"name": port.get("name", ""), "port": port["port"], "protocol": port["protocol"]}
        if entry["name"] in app_protocols:
            entry["appProtocol"] = app_protocols[entry["name"]]
        result.append(entry)
    return result


def _endpoint(pod: LocalEndpoint, publish: bool) -> JsonDict:
    endpoint: JsonDict = {
        "addresses": [pod.ip],
        "conditions": {"ready": publish or pod.ready, "serving": publish or pod.is_serving,
                       "terminating": pod.terminating},
        "targetRef": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid},
    }
    if pod.node_name:
        endpoint["nodeName"] = pod.node_name
    return endpoint


def _metadata(service: Mapping[str, Any], name: str) -> JsonDict:
    meta, spec = service["metadata"], service.get("spec") or {}
    labels = {**(meta.get("labels") or {}), SERVICE_NAME_LABEL: meta["name"], MANAGED_BY_LABEL: MANAGED_BY}
    if spec.get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    metadata: JsonDict = {"name": name, "namespace": meta.get("namespace"), "labels": labels}
    if meta.get("uid"):
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                        "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]
    return metadata


def build_endpoint_slices(service: Mapping[str, Any], pods: Sequence[LocalEndpoint]) -> list[JsonDict] | None:
    """The EndpointSlices of a Service with a selector (None without one: its slices are someone else's),
    ordered by name. Unlike Endpoints they keep terminating pods (`terminating: true`, `ready: false`)."""
    if not (service.get("spec") or {}).get("selector"):
        return None
    meta = service["metadata"]
    publish = publishes_not_ready(service)
    groups: dict[str, tuple[list[JsonDict], list[JsonDict]]] = {}
    for pod in selected_pods(service, pods):
        ports = endpoint_ports(service, pod)
        if not ports:
            continue
        ports.sort(key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        group = groups.setdefault(json.dumps(ports, sort_keys=True), (ports, []))
        group[1].append(_endpoint(pod, publish))
    if not groups:
        groups[json.dumps([])] = ([], [])
    slices = []
    for key, (ports, endpoints) in groups.items():
        for start in range(0, max(len(endpoints), 1), MAX_ENDPOINTS_PER_SLICE):
            name = f"{meta['name']}-{_suffix(meta.get('namespace'), meta['name'], key, start)}"
            slices.append({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": _metadata(service, name),
                "addressType": "IPv4",
                "endpoints": endpoints[start:start + MAX_ENDPOINTS_PER_SLICE],
                "ports": _slice_ports(service, ports),
            })
    return sorted(slices, key=lambda s: str(s["metadata"]["name"]))
