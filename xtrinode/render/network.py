"""The runtime's NetworkPolicy `trino-<n>`: what may reach its pods and what they may reach.

Ingress: its own pods (any port), the gateway and control-plane namespaces (Trino HTTP port) and the
monitoring namespace (metrics port). Egress: DNS in the DNS namespace, its own pods, and every
destination its selected catalogs declare in `spec.egress`. Everything else is denied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from xtrinode.models import CatalogEgress, LabelSelector, XTrinode, XTrinodeCatalog
from xtrinode.render.metadata import Manifest, runtime_metadata, selector_labels
from xtrinode.render.names import network_policy_name
from xtrinode.render.settings import RenderSettings

__all__ = ["catalog_egress_rule", "render_network_policy"]


def _namespace_peer(settings: RenderSettings, namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {settings.namespace_label_key: namespace}}}


def _selector(selector: LabelSelector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if selector.match_labels:
        out["matchLabels"] = dict(sorted(selector.match_labels.items()))
    if selector.match_expressions:
        out["matchExpressions"] = [
            {"key": e.key, "operator": e.operator, **({"values": list(e.values)} if e.values else {})}
            for e in selector.match_expressions
        ]
    return out


def catalog_egress_rule(entry: CatalogEgress) -> dict[str, Any]:
    """One egress rule from a catalog's egress entry (cidr -> ipBlock, selectors -> peers, ports)."""
    peer: dict[str, Any] = {}
    if entry.cidr is not None:
        peer["ipBlock"] = {"cidr": entry.cidr}
    if entry.namespace_selector is not None:
        peer["namespaceSelector"] = _selector(entry.namespace_selector)
    if entry.pod_selector is not None:
        peer["podSelector"] = _selector(entry.pod_selector)
    rule: dict[str, Any] = {"to": [peer]}
    if entry.ports:
        rule["ports"] = [{"port": p.port, "protocol": p.protocol} for p in entry.ports]
    return rule


def render_network_policy(
    runtime: XTrinode, catalogs: Sequence[XTrinodeCatalog], settings: RenderSettings
) -> Manifest:
    """NetworkPolicy over all pods of the runtime; `catalogs` are the selected ones."""
    own = {"podSelector": {"matchLabels": selector_labels(runtime)}}
    http = [{"port": settings.trino_http_port, "protocol": "TCP"}]
    ingress = [
        {"from": [own]},
        {
            "from": [
                _namespace_peer(settings, settings.gateway_namespace),
                _namespace_peer(settings, settings.control_plane_namespace),
            ],
            "ports": http,
        },
        {
            "from": [_namespace_peer(settings, settings.monitoring_namespace)],
            "ports": [{"port": settings.scrape_port, "protocol": "TCP"}],
        },
    ]
    egress: list[dict[str, Any]] = [
        {
            "to": [_namespace_peer(settings, settings.dns_namespace)],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        },
        {"to": [own]},
    ]
    seen: set[str] = set()
    for catalog in sorted(catalogs, key=lambda c: c.name):
        for entry in catalog.spec.egress:
            rule = catalog_egress_rule(entry)
            key = json.dumps(rule, sort_keys=True)
            if key not in seen:  # two catalogs on one database need one rule
                seen.add(key)
                egress.append(rule)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": runtime_metadata(runtime, network_policy_name(runtime), "network"),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(runtime)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }
