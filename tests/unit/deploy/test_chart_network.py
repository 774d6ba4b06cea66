"""The chart's NetworkPolicies, evaluated: exactly the paths XTrinode needs are open, nothing else.

A small evaluator applies Kubernetes NetworkPolicy semantics (a pod selected by a policy of a direction
accepts only what some rule of that direction allows; a flow needs the sender's egress and the
receiver's ingress; ipBlocks match pod addresses too) to the rendered policies plus the NetworkPolicy the
worker renders for a runtime. Every actor (our four processes, a stranger pod inside the system
namespace, a runtime's coordinator, its catalog's database, a runtime in a namespace not listed, KEDA,
Prometheus, DNS, Temporal, Redis, the Kubernetes API, the OIDC issuer, an ingress controller, other
pods, the internet) tries every port every other one listens on. The flows that touch one of our pods
must be exactly the spec's: default values (open doors where no address is known: the Kubernetes API
and Temporal ports to any address), production (everything pinned) and restricted namespaces.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest
from chart_testkit import render_set, values_of

from xtrinode.models import XTrinode, XTrinodeCatalog
from xtrinode.render import RenderSettings, render_runtime

Ports = tuple[tuple[int, str], ...]
TCP = "TCP"


@dataclass(frozen=True)
class Actor:
    name: str
    namespace: str | None  # None: outside the cluster
    ip: str
    ports: Ports = ()
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def _peer_matches(peer: dict[str, Any], actor: Actor, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(actor.ip)
        network = ipaddress.ip_network(block["cidr"])
        if address.version != network.version or address not in network:
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
    if actor.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": actor.namespace}):
            return False
    elif actor.namespace != policy_namespace:
        return False
    return _selects(peer.get("podSelector"), actor.label_map)


def _port_matches(entry: dict[str, Any], port: int, protocol: str) -> bool:
    return entry.get("protocol", TCP) == protocol and ("port" not in entry or entry["port"] == port)


def _admits(policies: list[dict[str, Any]], subject: Actor, other: Actor, port: int, protocol: str,
            direction: str) -> bool:
    """Whether `subject`'s policies of `direction` (Ingress/Egress) let the flow with `other` through."""
    if subject.namespace is None:
        return True
    selecting = [p for p in policies if p["metadata"]["namespace"] == subject.namespace
                 and _selects(p["spec"]["podSelector"], subject.label_map)
                 and direction in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True
    key, peers_key = direction.lower(), "to" if direction == "Egress" else "from"
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key) or []
            if peers and not any(_peer_matches(p, other, policy["metadata"]["namespace"]) for p in peers):
                continue
            ports = rule.get("ports") or []
            if ports and not any(_port_matches(e, port, protocol) for e in ports):
                continue
            return True
    return False


def allowed_flows(policies: list[dict[str, Any]], actors: list[Actor]) -> set[tuple[str, str, int]]:
    out = set()
    for src in actors:
        for dst in actors:
            if src is dst:
                continue
            for port, protocol in dst.ports:
                if _admits(policies, src, dst, port, protocol, "Egress") and \
                        _admits(policies, dst, src, port, protocol, "Ingress"):
                    out.add((src.name, dst.name, port))
    return out


# -- the world --------------------------------------------------------------------------------

def _component(name: str) -> tuple[tuple[str, str], ...]:
    return (("app.kubernetes.io/name", "xtrinode"), ("app.kubernetes.io/component", name))


@dataclass
class World:
    values: dict[str, Any]
    actors: list[Actor] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)


def _runtime_actors(namespace: str, settings: RenderSettings, ip: str, prefix: str) -> tuple[list[Actor], dict[str, Any]]:
    runtime = XTrinode.model_validate({
        "apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode",
        "metadata": {"name": "demo", "namespace": namespace, "uid": "u-1"},
        "spec": {"size": "xs", "maxWorkers": 1, "catalogSelector": {"matchLabels": {"set": "pg"}}}})
    catalog = XTrinodeCatalog.model_validate({
        "apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinodeCatalog",
        "metadata": {"name": "sales", "namespace": namespace, "uid": "c-1"},
        "spec": {"labels": {"set": "pg"}, "connector": {"tpch": {}},
                 "egress": [{"cidr": "10.50.0.10/32", "ports": [{"port": 5432}]}]}})
    manifests = render_runtime(runtime, [catalog], settings)
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    policy = next(m for m in manifests if m["kind"] == "NetworkPolicy")
    out = []
    for role, name, octet in (("coordinator", "coordinator", 1), ("worker", "trino-worker", 2)):
        labels = deployments[f"trino-demo-{role}"]["spec"]["template"]["metadata"]["labels"]
        out.append(Actor(f"{prefix}{name}", namespace, f"{ip}.{octet}", ((8080, TCP),), tuple(sorted(labels.items()))))
    return out, policy


def world(value_set: str) -> World:
    values = values_of(value_set)
    ns = {"system": "xtrinode-system", "gateway": "xtrinode-gateway", "monitoring": "monitoring", "keda": "keda",
          "dns": "kube-system", **values.get("namespaces", {})}
    production = value_set == "production"
    listed = values.get("runtimeNamespaces") or []
    team = listed[0] if listed else "team-a"
    w = World(values)
    w.actors = [
        Actor("operator", ns["system"], "10.244.0.10", ((8090, TCP), (8443, TCP)), _component("operator")),
        Actor("worker", ns["system"], "10.244.0.11", ((8090, TCP),), _component("worker")),
        Actor("gateway", ns["gateway"], "10.244.0.13", ((8080, TCP), (8081, TCP)), _component("gateway")),
        Actor("system-stranger", ns["system"], "10.244.0.14", ((8080, TCP),), (("app", "debug"),)),
        Actor("keda", ns["keda"], "10.244.1.1", (), (("app", "keda-operator"),)),
        Actor("prometheus", ns["monitoring"], "10.244.1.2", (), (("app", "prometheus"),)),
        Actor("dns", ns["dns"], "10.244.1.3", ((53, "UDP"), (53, TCP)), (("k8s-app", "kube-dns"),)),
        Actor("stranger", "default", "10.244.1.4", ((8080, TCP), (443, TCP)), (("app", "other"),)),
        Actor("ingress", "ingress-nginx", "10.244.1.5", (), (("app", "ingress-nginx"),)),
        Actor("kube-api", None, "172.20.0.1", ((443, TCP), (6443, TCP))),
        Actor("oidc", None, "203.0.113.10", ((443, TCP),)),
        Actor("internet", None, "198.51.100.7", ((443, TCP), (80, TCP), (5432, TCP), (7233, TCP), (6379, TCP))),
        Actor("postgres", None, "10.50.0.10", ((5432, TCP),)),
    ]
    if values.get("apiServer", {}).get("enabled", True):
        w.actors.append(Actor("api-server", ns["system"], "10.244.0.12", ((8081, TCP),), _component("api-server")))
    if production:
        w.actors += [
            Actor("temporal", "temporal", "10.244.2.1", ((7233, TCP),), (("app.kubernetes.io/component", "frontend"),)),
            Actor("redis", ns["gateway"], "10.244.2.2", ((6379, TCP),), (("app.kubernetes.io/name", "redis"),)),
            Actor("collector", "observability", "10.244.2.3", ((4318, TCP),),
                  (("app.kubernetes.io/name", "otel-collector"),)),
            Actor("stray-collector", "default", "10.244.2.4", ((4318, TCP),), (("app", "otel"),)),
        ]
    else:
        w.actors.append(Actor("temporal", None, "10.96.50.1", ((7233, TCP),)))
    settings = RenderSettings(gateway_namespace=ns["gateway"], control_plane_namespace=ns["system"],
                              monitoring_namespace=ns["monitoring"], dns_namespace=ns["dns"])
    runtime, policy = _runtime_actors(team, settings, "10.244.3", "")
    w.actors += runtime
    w.policies = [d for d in render_set(value_set) if d["kind"] == "NetworkPolicy"] + [policy]
    if listed:  # a runtime in a namespace this installation does not run
        other, other_policy = _runtime_actors("team-z", settings, "10.244.4", "unlisted-")
        w.actors += other
        w.policies.append(other_policy)
    return w


# -- the spec ---------------------------------------------------------------------------------

OURS = {"operator", "worker", "api-server", "gateway", "system-stranger", "redis"}
"""Actors in the chart's namespaces: behind its default deny (a Redis may live in the gateway namespace)."""


def expected_flows(w: World, value_set: str) -> set[tuple[str, str, int]]:
    """The paths of deploy/README.md ("What the NetworkPolicies allow"), written out."""
    production = value_set == "production"
    names = {a.name for a in w.actors}
    everyone = names
    trino_pods = {a.name for a in w.actors if a.label_map.get("app.kubernetes.io/name") == "trino"}
    listed_trino = {n for n in trino_pods if not n.startswith("unlisted-")}
    # Who may open each (our pod, port): ingress.
    ingress: dict[tuple[str, int], set[str]] = {
        ("operator", 8443): {"kube-api"} if production else everyone,
        ("operator", 8090): {"prometheus"},
        ("worker", 8090): {"prometheus"},
        ("gateway", 8080): {"ingress", "prometheus"} if production else everyone,
        ("gateway", 8081): {"keda", "worker"},
        ("system-stranger", 8080): set(),
        ("redis", 6379): {"gateway"},
    }
    if "api-server" in names:
        ingress[("api-server", 8081)] = {"ingress", "gateway", "prometheus"} if production else everyone
    # Where each of our pods may send: egress, (destination, port) pairs.
    kube = {("kube-api", 443), ("kube-api", 6443)} if production else {
        (a.name, p) for a in w.actors for p, _ in a.ports if p in (443, 6443)}
    temporal = {("temporal", 7233)} if production else {(a.name, 7233) for a in w.actors if (7233, TCP) in a.ports}
    dns = {("dns", 53)}
    coordinators = {(n, 8080) for n in listed_trino}
    egress: dict[str, set[tuple[str, int]]] = {
        "operator": dns | kube | temporal,
        "worker": dns | kube | temporal | coordinators | {("gateway", 8081)},
        "api-server": dns | kube | temporal | ({("oidc", 443)} if production else set()),
        "gateway": dns | kube | coordinators | ({("api-server", 8081)} if "api-server" in names else set()),
        "system-stranger": set(),
        "redis": set(),
    }
    if production:  # resume through the API server: no Temporal; Redis and the OIDC issuer
        egress["gateway"] |= {("redis", 6379), ("oidc", 443)}
        for component in ("operator", "worker", "api-server", "gateway"):  # spans to the pinned collector
            egress[component] |= {("collector", 4318)}
    else:
        egress["gateway"] |= temporal
    # The runtime's own policy (render): from its pods, and from the gateway and system namespaces and
    # Prometheus on the Trino port.
    configured = {"gateway": "xtrinode-gateway", "system": "xtrinode-system", "monitoring": "monitoring",
                  **w.values.get("namespaces", {})}
    trusted = {configured["gateway"], configured["system"], configured["monitoring"]}
    flows = set()
    for src in w.actors:
        for dst in w.actors:
            if src is dst:
                continue
            for port, _protocol in dst.ports:
                if src.name in OURS and (dst.name, port) not in egress[src.name]:
                    continue
                if dst.name in OURS and src.name not in ingress[(dst.name, port)]:
                    continue
                if src.name not in OURS and dst.name not in OURS:
                    continue  # neither end is ours: not this chart's business
                if src.name in trino_pods:  # the runtime's egress: DNS, its own pods, its catalog's database
                    same = dst.namespace == src.namespace and dst.name in trino_pods
                    if not (same or (dst.name, port) in {("dns", 53), ("postgres", 5432)}):
                        continue
                if dst.name in trino_pods:
                    same = src.namespace == dst.namespace and src.name in trino_pods
                    if not (same or (src.namespace in trusted and port == 8080)):
                        continue
                flows.add((src.name, dst.name, port))
    return flows


@pytest.mark.parametrize("value_set", ["default", "production", "restricted"])
def test_exactly_the_needed_paths_are_open(value_set: str) -> None:
    w = world(value_set)
    actual = {f for f in allowed_flows(w.policies, w.actors) if f[0] in OURS or f[1] in OURS}
    expected = expected_flows(w, value_set)
    assert actual - expected == set(), f"open but not needed: {sorted(actual - expected)}"
    assert expected - actual == set(), f"needed but closed: {sorted(expected - actual)}"


def test_the_listed_paths_of_the_issue_are_open_and_the_rest_closed() -> None:
    """The paths by name, for the production values (everything pinned)."""
    w = world("production")
    flows = allowed_flows(w.policies, w.actors)
    for path in [("gateway", "coordinator", 8080), ("gateway", "api-server", 8081), ("operator", "kube-api", 6443),
                 ("worker", "kube-api", 443), ("worker", "coordinator", 8080), ("keda", "gateway", 8081),
                 ("worker", "gateway", 8081), ("prometheus", "operator", 8090), ("prometheus", "worker", 8090),
                 ("prometheus", "gateway", 8080), ("coordinator", "postgres", 5432), ("ingress", "gateway", 8080),
                 ("gateway", "redis", 6379), ("gateway", "oidc", 443), ("worker", "temporal", 7233),
                 ("kube-api", "operator", 8443), ("gateway", "collector", 4318), ("worker", "collector", 4318)]:
        assert path in flows, f"{path} must be open"
    for path in [("stranger", "gateway", 8081), ("internet", "gateway", 8081), ("ingress", "gateway", 8081),
                 ("stranger", "operator", 8443), ("stranger", "worker", 8090), ("gateway", "operator", 8090),
                 ("gateway", "internet", 443), ("operator", "internet", 443), ("worker", "internet", 5432),
                 ("coordinator", "internet", 5432), ("gateway", "stranger", 8080), ("system-stranger", "kube-api", 443),
                 ("stranger", "api-server", 8081), ("gateway", "temporal", 7233), ("api-server", "coordinator", 8080),
                 ("operator", "stray-collector", 4318), ("coordinator", "collector", 4318)]:
        assert path not in flows, f"{path} must be closed"


def test_a_runtime_in_an_unlisted_namespace_is_out_of_reach() -> None:
    w = world("restricted")
    flows = allowed_flows(w.policies, w.actors)
    assert ("gateway", "coordinator", 8080) in flows and ("worker", "coordinator", 8080) in flows
    assert ("gateway", "unlisted-coordinator", 8080) not in flows
    assert ("worker", "unlisted-coordinator", 8080) not in flows


def test_without_network_policies_the_chart_renders_none() -> None:
    from chart_testkit import DEFAULT, render

    assert not [d for d in render({**DEFAULT, "networkPolicy": {"enabled": False}}) if d["kind"] == "NetworkPolicy"]
