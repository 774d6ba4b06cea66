"""The runtime NetworkPolicy.

Checks: it selects all pods of the runtime and sets both policy types; ingress from own pods, from the
gateway and control-plane namespaces on the HTTP port only, from monitoring on the metrics port only;
egress to DNS (UDP and TCP 53), own pods, and each selected catalog's egress (cidr -> ipBlock, selectors
-> peers, ports), deduplicated; unselected catalogs open nothing; settings rename the namespaces.
"""

from __future__ import annotations

from typing import Any

from render_testkit import SELECT_TEAM_A, build_catalog, build_runtime, one

from xtrinode.render import RenderSettings, render_runtime

OWN = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "trino", "app.kubernetes.io/instance": "demo"}}}


def _ns(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _policy(catalogs: list[Any] | None = None, settings: RenderSettings | None = None) -> dict[str, Any]:
    manifests = render_runtime(build_runtime(catalogSelector=SELECT_TEAM_A), catalogs or [], settings)
    spec: dict[str, Any] = one(manifests, "NetworkPolicy", "trino-demo")["spec"]
    return spec


def test_policy_selects_runtime_pods_for_ingress_and_egress() -> None:
    spec = _policy()
    assert spec["podSelector"] == {"matchLabels": OWN["podSelector"]["matchLabels"]}
    assert spec["policyTypes"] == ["Ingress", "Egress"]


def test_ingress_allows_own_pods_gateway_control_plane_and_monitoring_only() -> None:
    assert _policy()["ingress"] == [
        {"from": [OWN]},
        {"from": [_ns("xtrinode-gateway"), _ns("xtrinode-system")], "ports": [{"port": 8080, "protocol": "TCP"}]},
        {"from": [_ns("monitoring")], "ports": [{"port": 8080, "protocol": "TCP"}]},
    ]


def test_egress_without_catalog_destinations_is_dns_and_own_pods() -> None:
    assert _policy()["egress"] == [
        {"to": [_ns("kube-system")], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"to": [OWN]},
    ]


def test_catalog_egress_becomes_rules_for_selected_catalogs_only() -> None:
    pg = build_catalog(
        "pg",
        egress=[
            {"cidr": "10.20.0.0/16", "ports": [{"port": 5432}]},
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "db"}},
                "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["pg"]}]},
                "ports": [{"port": 5432, "protocol": "TCP"}],
            },
        ],
    )
    same_db = build_catalog("pg-replica", egress=[{"cidr": "10.20.0.0/16", "ports": [{"port": 5432}]}])
    kafka = build_catalog("kafka", egress=[{"podSelector": {"matchLabels": {"app": "kafka"}}}])
    unselected = build_catalog("secret-db", labels={"team": "b"}, egress=[{"cidr": "0.0.0.0/0"}])
    egress = _policy([pg, same_db, kafka, unselected])["egress"]
    assert egress[2:] == [
        {"to": [{"podSelector": {"matchLabels": {"app": "kafka"}}}]},
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 5432, "protocol": "TCP"}]},
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "db"}},
                    "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["pg"]}]},
                }
            ],
            "ports": [{"port": 5432, "protocol": "TCP"}],
        },
    ]
    assert all(rule["to"] != [{"ipBlock": {"cidr": "0.0.0.0/0"}}] for rule in egress)


def test_settings_rename_namespaces_ports_and_label_key() -> None:
    settings = RenderSettings(
        gateway_namespace="gw",
        control_plane_namespace="cp",
        monitoring_namespace="mon",
        dns_namespace="dns",
        namespace_label_key="name",
        metrics_port=9100,
        trino_http_port=8081,
    )
    spec = _policy(settings=settings)
    label = lambda ns: {"namespaceSelector": {"matchLabels": {"name": ns}}}  # noqa: E731
    assert spec["ingress"][1] == {"from": [label("gw"), label("cp")], "ports": [{"port": 8081, "protocol": "TCP"}]}
    assert spec["ingress"][2] == {"from": [label("mon")], "ports": [{"port": 9100, "protocol": "TCP"}]}
    assert spec["egress"][0]["to"] == [label("dns")]
