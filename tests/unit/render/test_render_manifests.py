"""render_runtime as a whole.

Checks: the kinds and names rendered and their order; owner references and the four standard labels on
every runtime-owned object (none without a uid); catalog ConfigMaps owned by their catalog; only selected
catalogs rendered; suspended runtimes render 0 replicas; coordinator Service and headless worker Service;
PDBs; the ServiceAccount; name helpers and the coordinator URL; deterministic YAML; no shared sub-objects.
"""

from __future__ import annotations

import pytest
from render_testkit import (
    SELECT_TEAM_A,
    build_catalog,
    build_runtime,
    by_kind,
    config_data,
    deployment,
    one,
    parse_properties,
)

from xtrinode.render import (
    RenderSettings,
    coordinator_deployment_name,
    coordinator_service_url,
    manifests_to_yaml,
    render_runtime,
    scaled_object_name,
    select_catalogs,
    service_name,
    worker_deployment_name,
)

KEDA = {
    "enabled": True,
    "scalerType": "prometheus",
    "prometheusServer": "http://prom:9090",
}


def test_renders_every_kind_in_apply_order() -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A, keda=KEDA, maxWorkers=5)
    manifests = render_runtime(runtime, [build_catalog("sales"), build_catalog("hr")])
    kinds = [m["kind"] for m in manifests]
    assert kinds == [
        "ServiceAccount",
        "ConfigMap",  # catalog hr
        "ConfigMap",  # catalog sales
        "ConfigMap",  # coordinator config
        "ConfigMap",  # worker config
        "Service",
        "Service",
        "Service",
        "Deployment",
        "Deployment",
        "PodDisruptionBudget",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ScaledObject",
    ]
    names = [m["metadata"]["name"] for m in manifests]
    assert names[0] == "trino-demo"
    assert names[1:3] == ["trino-catalog-hr", "trino-catalog-sales"]
    assert names[3].startswith("trino-demo-coordinator-") and len(names[3]) == len("trino-demo-coordinator-") + 10
    assert names[4].startswith("trino-demo-worker-")
    assert names[5:] == [
        "trino-demo",
        "trino-demo-discovery",
        "trino-demo-workers",
        "trino-demo-coordinator",
        "trino-demo-worker",
        "trino-demo-coordinator",
        "trino-demo-worker",
        "trino-demo",
        "trino-demo-workers",
    ]
    assert all(m["metadata"]["namespace"] == "analytics" for m in manifests)


def test_workers_announce_through_a_service_that_lists_the_coordinator_before_it_is_ready() -> None:
    """Trino's coordinator refreshes its worker list every 10 s: workers must be able to announce while it
    starts, so its first lookup (through the Service that routes once it is Ready) already lists them."""
    manifests = render_runtime(build_runtime(), [])
    services = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Service"}
    discovery, coordinator = services["trino-demo-discovery"], services["trino-demo"]
    assert discovery["spec"]["publishNotReadyAddresses"] is True
    assert discovery["spec"]["selector"] == coordinator["spec"]["selector"]
    assert discovery["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    assert "publishNotReadyAddresses" not in coordinator["spec"]  # clients only reach a Ready coordinator
    props = {role: parse_properties(config_data(manifests, role)["config.properties"])
             for role in ("coordinator", "worker")}
    assert props["worker"]["discovery.uri"] == "http://trino-demo-discovery.analytics.svc.cluster.local:8080"
    assert props["coordinator"]["discovery.uri"] == "http://trino-demo.analytics.svc.cluster.local:8080"


def test_runtime_objects_carry_owner_reference_and_standard_labels() -> None:
    manifests = render_runtime(build_runtime(catalogSelector=SELECT_TEAM_A, keda=KEDA), [build_catalog()])
    for m in manifests:
        labels = m["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "trino"
        assert labels["app.kubernetes.io/managed-by"] == "xtrinode"
        assert labels["app.kubernetes.io/component"]
        assert labels["app.kubernetes.io/instance"]
        (ref,) = m["metadata"]["ownerReferences"]
        assert ref["apiVersion"] == "analytics.xtrinode.io/v1"
        assert ref["controller"] is True and ref["blockOwnerDeletion"] is True
        if labels["app.kubernetes.io/component"] == "catalog":
            assert (ref["kind"], ref["name"], ref["uid"]) == ("XTrinodeCatalog", "sales", "uid-cat")
        else:
            assert labels["app.kubernetes.io/instance"] == "demo"
            assert (ref["kind"], ref["name"], ref["uid"]) == ("XTrinode", "demo", "uid-rt")


def test_owner_references_left_out_without_uid() -> None:
    manifests = render_runtime(
        build_runtime(uid=None, catalogSelector=SELECT_TEAM_A), [build_catalog(uid=None)]
    )
    assert all("ownerReferences" not in m["metadata"] for m in manifests)


def test_components_label_each_role() -> None:
    manifests = render_runtime(build_runtime(), [])
    component = {(m["kind"], m["metadata"]["name"]): m["metadata"]["labels"]["app.kubernetes.io/component"] for m in manifests}
    assert component[("Deployment", "trino-demo-coordinator")] == "coordinator"
    assert component[("Deployment", "trino-demo-worker")] == "worker"
    assert component[("Service", "trino-demo")] == "coordinator"
    assert component[("Service", "trino-demo-workers")] == "worker"
    assert component[("NetworkPolicy", "trino-demo")] == "network"


def test_only_catalogs_matching_selector_are_rendered() -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A)
    catalogs = [
        build_catalog("sales"),
        build_catalog("other", labels={"team": "b"}),
        build_catalog("elsewhere", namespace="other-ns"),
    ]
    manifests = render_runtime(runtime, catalogs)
    names = {m["metadata"]["name"] for m in by_kind(manifests, "ConfigMap")}
    assert "trino-catalog-sales" in names
    assert not {"trino-catalog-other", "trino-catalog-elsewhere"} & names
    assert [c.name for c in select_catalogs(runtime, catalogs)] == ["sales"]


def test_no_selector_selects_nothing_and_empty_selector_selects_namespace() -> None:
    catalogs = [build_catalog("b"), build_catalog("a", labels={}), build_catalog("x", namespace="n2")]
    assert select_catalogs(build_runtime(), catalogs) == []
    assert [c.name for c in select_catalogs(build_runtime(catalogSelector={}), catalogs)] == ["a", "b"]


def test_suspended_runtime_renders_zero_replicas_and_no_scaled_object() -> None:
    manifests = render_runtime(build_runtime(suspended=True, keda=KEDA, minWorkers=1, maxWorkers=3), [])
    assert deployment(manifests, "coordinator")["spec"]["replicas"] == 0
    assert deployment(manifests, "worker")["spec"]["replicas"] == 0
    assert by_kind(manifests, "ScaledObject") == []


def test_running_runtime_has_one_coordinator_and_fixed_workers() -> None:
    manifests = render_runtime(build_runtime(maxWorkers=3), [])
    assert deployment(manifests, "coordinator")["spec"]["replicas"] == 1
    assert deployment(manifests, "coordinator")["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment(manifests, "worker")["spec"]["replicas"] == 3


def test_services_select_their_role_on_the_http_port() -> None:
    manifests = render_runtime(build_runtime(), [])
    coordinator = one(manifests, "Service", "trino-demo")
    assert coordinator["spec"]["type"] == "ClusterIP"
    assert coordinator["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    assert coordinator["spec"]["selector"] == {
        "app.kubernetes.io/name": "trino",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": "coordinator",
    }
    workers = one(manifests, "Service", "trino-demo-workers")
    assert workers["spec"]["clusterIP"] == "None"
    assert workers["spec"]["selector"]["app.kubernetes.io/component"] == "worker"


def test_service_port_overlay_changes_service_and_urls_but_not_container_port() -> None:
    runtime = build_runtime(valuesOverlay={"service": {"port": 8443}})
    manifests = render_runtime(runtime, [])
    assert one(manifests, "Service", "trino-demo")["spec"]["ports"][0]["port"] == 8443
    assert coordinator_service_url(runtime) == "http://trino-demo.analytics.svc.cluster.local:8443"
    assert deployment(manifests, "worker")["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080


def test_pdbs_keep_coordinator_and_let_workers_leave_one_at_a_time() -> None:
    manifests = render_runtime(build_runtime(), [])
    coordinator = one(manifests, "PodDisruptionBudget", "trino-demo-coordinator")
    worker = one(manifests, "PodDisruptionBudget", "trino-demo-worker")
    assert coordinator["spec"]["minAvailable"] == 1
    assert coordinator["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "coordinator"
    assert worker["spec"]["maxUnavailable"] == 1
    assert worker["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"


def test_service_account_is_used_and_token_not_mounted() -> None:
    manifests = render_runtime(build_runtime(), [])
    assert one(manifests, "ServiceAccount")["automountServiceAccountToken"] is False
    for role in ("coordinator", "worker"):
        pod = deployment(manifests, role)["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "trino-demo"
        assert pod["automountServiceAccountToken"] is False


def test_name_helpers_and_coordinator_url() -> None:
    runtime = build_runtime(name="team-a", namespace="ns1")
    assert coordinator_deployment_name(runtime) == "trino-team-a-coordinator"
    assert worker_deployment_name("team-a") == "trino-team-a-worker"
    assert service_name(runtime) == "trino-team-a"
    assert scaled_object_name(runtime) == "trino-team-a-workers"
    assert coordinator_service_url(runtime) == "http://trino-team-a.ns1.svc.cluster.local:8080"
    settings = RenderSettings(cluster_domain="k8s.example", trino_http_port=9090)
    assert coordinator_service_url(runtime, settings) == "http://trino-team-a.ns1.svc.k8s.example:9090"


def test_same_input_gives_byte_identical_yaml() -> None:
    def render() -> str:
        runtime = build_runtime(catalogSelector=SELECT_TEAM_A, keda=KEDA)
        return manifests_to_yaml(render_runtime(runtime, [build_catalog("b"), build_catalog("a")]))

    first = render()
    assert first == render()
    assert "&id" not in first and "*id" not in first  # no YAML anchors


def test_catalog_input_order_does_not_change_output() -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A)
    a, b = build_catalog("a"), build_catalog("b")
    assert render_runtime(runtime, [a, b]) == render_runtime(runtime, [b, a])


def test_manifests_share_no_nested_objects() -> None:
    manifests = render_runtime(build_runtime(), [])
    deployment(manifests, "coordinator")["spec"]["selector"]["matchLabels"]["x"] = "y"
    deployment(manifests, "coordinator")["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/x"
    assert "x" not in one(manifests, "Service", "trino-demo")["spec"]["selector"]
    assert deployment(manifests, "coordinator")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/v1/info"


@pytest.mark.parametrize("size", ["xs", "s", "m", "l", "xl"])
def test_every_size_renders(size: str) -> None:
    manifests = render_runtime(build_runtime(size=size), [])
    assert len(by_kind(manifests, "Deployment")) == 2
