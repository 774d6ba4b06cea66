"""Services made local: Endpoints from the pods a Service selects, and the service map (`services.json`).

Every pod has its own podIP (`podips.py`), so Endpoints look as in a cluster: pods with the same
ports share a subset, ready ones under `addresses`, others under `notReadyAddresses`. The map sends
every in-cluster address form of a Service port to the ready pods' `<podIP>:<port>` addresses;
`devstack.resolver.ServiceResolver` reads it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .objects import JsonDict, service_selector_matches
from .podspec import container_port
from .volumes import PodConfigError

__all__ = [
    "LocalEndpoint",
    "address_forms",
    "build_endpoints",
    "build_pod_address_map",
    "build_service_map",
    "endpoint_ports",
    "publishes_not_ready",
    "PodSnapshot",
    "selected_pods",
    "write_service_map",
]


@dataclass(frozen=True, slots=True)
class LocalEndpoint:
    """One pod as Services see it: labels, address, readiness, and container port -> listening port."""

    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str]
    ip: str
    """The podIP the process listens on."""
    ready: bool
    """Ready as published (pod status reports the same); never while terminating."""
    containers: Sequence[Mapping[str, Any]]
    ports: Mapping[int, int]
    """containerPort -> the port the process listens on at `ip` (the same number unless it had to move)."""
    terminating: bool = False
    """The Pod object is being deleted."""
    serving: bool | None = None
    """What the readiness probe says, terminating or not (EndpointSlice `serving`); None: as `ready`."""
    node_name: str = ""
    api_ip: str | None = None
    """The podIP as the API shows it when that differs from `ip` (a node agent's 192.0.2.x address)."""

    @property
    def is_serving(self) -> bool:
        return self.ready if self.serving is None else self.serving

    def port_for(self, target: int | str) -> int | None:
        """The listening port of a Service targetPort (number or container port name), None if undeclared."""
        for container in self.containers:
            try:
                number = container_port(container, target)
            except PodConfigError:
                continue
            if number in self.ports:
                return self.ports[number]
        return None


def address_forms(service: str, namespace: str, port: int, cluster_domain: str = "cluster.local") -> list[str]:
    """`svc.ns.svc.cluster.local:port`, `svc.ns.svc:port` and `svc.ns:port`."""
    return [
        f"{service}.{namespace}.svc.{cluster_domain}:{port}",
        f"{service}.{namespace}.svc:{port}",
        f"{service}.{namespace}:{port}",
    ]


def _ip_key(pod: LocalEndpoint) -> tuple[int, str]:
    try:
        return int(ipaddress.ip_address(pod.ip)), pod.uid
    except ValueError:
        return 0, pod.uid


class PodSnapshot(list[LocalEndpoint]):
    """The pods of one sync, indexed by (namespace, label, value) on first use: picking each Service's
    pods is then a lookup, not a scan of every pod (hundreds of runtimes made that scan, done for
    Endpoints, EndpointSlices and the service map, a large share of the kubelet's CPU)."""

    def __init__(self, pods: Iterable[LocalEndpoint] = ()) -> None:
        super().__init__(pods)
        self._index: dict[tuple[str, str, str], list[LocalEndpoint]] | None = None

    def candidates(self, namespace: str, selector: Mapping[str, str]) -> list[LocalEndpoint]:
        """Pods of `namespace` carrying at least one pair of `selector` (the rarest), a superset of the match."""
        if self._index is None:
            self._index = {}
            for pod in self:
                for key, value in pod.labels.items():
                    self._index.setdefault((pod.namespace, key, value), []).append(pod)
        return min((self._index.get((namespace, key, str(value)), []) for key, value in selector.items()), key=len)


def selected_pods(service: Mapping[str, Any], pods: Sequence[LocalEndpoint]) -> list[LocalEndpoint]:
    """The pods the Service's selector picks in its namespace, ordered by IP; none without a selector."""
    namespace = service["metadata"].get("namespace")
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return []
    if isinstance(pods, PodSnapshot):
        pods = pods.candidates(str(namespace), selector)
    return sorted((p for p in pods if p.namespace == namespace and service_selector_matches(selector, p.labels)),
                  key=_ip_key)


def publishes_not_ready(service: Mapping[str, Any]) -> bool:
    """`spec.publishNotReadyAddresses`: every selected pod counts as ready, terminating ones included."""
    return bool((service.get("spec") or {}).get("publishNotReadyAddresses"))


def endpoint_ports(service: Mapping[str, Any], pod: LocalEndpoint) -> list[JsonDict]:
    """The Service's ports as this pod serves them (`name` when the Service port has one); ports whose
    targetPort the pod does not declare are left out, as the endpoints controller does."""
    ports = []
    for port in (service.get("spec") or {}).get("ports") or []:
        number = pod.port_for(port.get("targetPort", port.get("port")))
        if number is not None:
            entry: JsonDict = {"port": number, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
    return ports


def _target_ref(pod: LocalEndpoint) -> JsonDict:
    return {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid}


def build_endpoints(service: Mapping[str, Any], pods: Sequence[LocalEndpoint]) -> JsonDict | None:
    """The core/v1 Endpoints of a Service with a selector (None without one), as the endpoints controller
    writes them: one subset per distinct port list, ready pods under `addresses`, the others under
    `notReadyAddresses`, terminating pods left out (all of them ready with publishNotReadyAddresses)."""
    spec = service.get("spec") or {}
    if not spec.get("selector"):
        return None
    meta = service["metadata"]
    publish = publishes_not_ready(service)
    subsets: dict[str, JsonDict] = {}
    for pod in selected_pods(service, pods):
        if pod.terminating and not publish:
            continue
        ports = endpoint_ports(service, pod)
        if not ports:
            continue
        ports.sort(key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        subset = subsets.setdefault(json.dumps(ports, sort_keys=True), {"ports": ports})
        address: JsonDict = {"ip": pod.ip, "targetRef": _target_ref(pod)}
        if pod.node_name:
            address["nodeName"] = pod.node_name
        subset.setdefault("addresses" if pod.ready or publish else "notReadyAddresses", []).append(address)
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                     "labels": dict(meta.get("labels") or {})},
        "subsets": [subsets[key] for key in sorted(subsets)],
    }


def build_service_map(
    services: Sequence[Mapping[str, Any]], pods: Sequence[LocalEndpoint], cluster_domain: str = "cluster.local"
) -> dict[str, list[str]]:
    """Every address form of every Service port -> the `<podIP>:<port>` of its ready pods (possibly none),
    in IP order: what the Endpoints list under `addresses`."""
    result: dict[str, list[str]] = {}
    for service in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])):
        spec = service.get("spec") or {}
        meta = service["metadata"]
        publish = publishes_not_ready(service)
        ready = [p for p in selected_pods(service, pods) if publish or p.ready]
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            addresses = list(dict.fromkeys(f"{p.ip}:{number}" for p in ready
                                           if (number := p.port_for(target)) is not None))
            for form in address_forms(meta["name"], meta.get("namespace", ""), int(port["port"]), cluster_domain):
                result[form] = addresses
    return result


def build_pod_address_map(pods: Sequence[LocalEndpoint]) -> dict[str, list[str]]:
    """`<API podIP>:<containerPort>` -> the `<podIP>:<port>` the process listens on, for every pod whose API
    podIP is not where it listens (node agent): whoever finds a pod's IP in the API resolves it here,
    ready or not, as a pod IP answers in a cluster. Nothing connects to the API address itself."""
    result: dict[str, list[str]] = {}
    for pod in pods:
        if pod.api_ip is None or pod.api_ip == pod.ip:
            continue
        for container_port, listening in sorted(pod.ports.items()):
            result[f"{pod.api_ip}:{container_port}"] = [f"{pod.ip}:{listening}"]
    return result


def write_service_map(path: Path, mapping: Mapping[str, list[str]]) -> None:
    """Write the map atomically (temporary file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".services-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(sorted(mapping.items())), handle, indent=1)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
