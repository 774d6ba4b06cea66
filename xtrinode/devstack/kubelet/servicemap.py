"""Services made local: Endpoints from ready pods and the service map (`services.json`).

The map sends every in-cluster address form of a Service port to the ready pods' local
`127.0.0.1:<port>` addresses; `xtrinode.devstack.resolver.ServiceResolver` reads it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .objects import JsonDict, service_selector_matches
from .podspec import container_port
from .volumes import PodConfigError

__all__ = ["LocalEndpoint", "address_forms", "build_endpoints", "build_service_map", "write_service_map"]

LOCAL_IP = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class LocalEndpoint:
    """One pod as Services see it: labels, readiness, and container port -> local port."""

    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str]
    ready: bool
    containers: Sequence[Mapping[str, Any]]
    ports: Mapping[int, int]
    """containerPort -> local port the process listens on."""

    def local_port(self, target: int | str) -> int | None:
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


def _selected(service: Mapping[str, Any], pods: Sequence[LocalEndpoint]) -> list[LocalEndpoint]:
    namespace = service["metadata"].get("namespace")
    selector = (service.get("spec") or {}).get("selector")
    return sorted((p for p in pods if p.namespace == namespace and service_selector_matches(selector, p.labels)),
                  key=lambda p: p.name)


def build_endpoints(service: Mapping[str, Any], pods: Sequence[LocalEndpoint]) -> JsonDict | None:
    """The core/v1 Endpoints of a Service with a selector (None without one): a subset per pod,
    since every pod listens on its own local port; unready pods under notReadyAddresses."""
    spec = service.get("spec") or {}
    if not spec.get("selector"):
        return None
    meta = service["metadata"]
    subsets: list[JsonDict] = []
    for pod in _selected(service, pods):
        ports = []
        for port in spec.get("ports") or []:
            local = pod.local_port(port.get("targetPort", port.get("port")))
            if local is not None:
                entry: JsonDict = {"port": local, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
        if not ports:
            continue
        address = {"ip": LOCAL_IP,
                   "targetRef": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid}}
        key = "addresses" if pod.ready else "notReadyAddresses"
        subsets.append({key: [address], "ports": ports})
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "labels": dict(meta.get("labels") or {})},
        "subsets": subsets,
    }


def build_service_map(
    services: Sequence[Mapping[str, Any]], pods: Sequence[LocalEndpoint], cluster_domain: str = "cluster.local"
) -> dict[str, list[str]]:
    """Every address form of every Service port -> sorted ready local addresses (possibly empty)."""
    result: dict[str, list[str]] = {}
    for service in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])):
        spec = service.get("spec") or {}
        meta = service["metadata"]
        ready = [p for p in _selected(service, pods) if p.ready]
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            addresses = sorted({f"{LOCAL_IP}:{local}" for p in ready if (local := p.local_port(target)) is not None})
            for form in address_forms(meta["name"], meta.get("namespace", ""), int(port["port"]), cluster_domain):
                result[form] = addresses
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
