"""desired_workers and the KEDA ScaledObject.

Checks: desired_workers for fixed, KEDA and suspended specs; a ScaledObject only when KEDA is enabled
with a scaler (not enabled-without-scaler, not prometheus-without-server, not suspended); its target,
bounds, cooldowns and HPA behavior; the default in-flight query and placeholder substitution in custom
queries; the http scaler's metrics-api trigger against the gateway; every variant validates against the
KEDA CRD schema kept in deploy/crds/third-party.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from render_testkit import build_runtime, by_kind, deployment

from xtrinode.render import RenderSettings, desired_workers, render_runtime

PROM = {"enabled": True, "scalerType": "prometheus", "prometheusServer": "http://prom:9090"}


def _scaled_objects(**spec: Any) -> list[dict[str, Any]]:
    return by_kind(render_runtime(build_runtime(**spec), [], RenderSettings(release_name="rel")), "ScaledObject")


def test_desired_workers_per_mode() -> None:
    assert desired_workers(build_runtime(minWorkers=1, maxWorkers=4).spec) == 4
    assert desired_workers(build_runtime(minWorkers=1, maxWorkers=4, keda=PROM).spec) == 1
    assert desired_workers(build_runtime(minWorkers=1, maxWorkers=4, suspended=True).spec) == 0
    assert desired_workers(build_runtime(minWorkers=1, maxWorkers=4, keda=PROM, suspended=True).spec) == 0
    assert desired_workers(build_runtime(maxWorkers=4, keda={"enabled": True}).spec) == 4


@pytest.mark.parametrize(
    "keda",
    [
        None,
        {"enabled": False, "scalerType": "prometheus", "prometheusServer": "http://prom:9090"},
        {"enabled": True},
        {"enabled": True, "scalerType": "prometheus"},
    ],
)
def test_no_scaled_object_unless_keda_is_active(keda: dict[str, Any] | None) -> None:
    assert _scaled_objects(keda=keda) == []


def test_no_scaled_object_when_suspended() -> None:
    assert _scaled_objects(keda=PROM, suspended=True) == []


def test_prometheus_scaled_object_targets_workers_with_bounds_and_cooldowns() -> None:
    keda = {**PROM, "threshold": 3, "scaleDownCooldown": "10m", "scaleUpCooldown": "45s"}
    manifests = render_runtime(build_runtime(minWorkers=1, maxWorkers=8, keda=keda), [])
    (so,) = by_kind(manifests, "ScaledObject")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["metadata"]["name"] == "trino-demo-workers"
    spec = so["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "trino-demo-worker"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 8)
    assert spec["cooldownPeriod"] == 600
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"] == {"stabilizationWindowSeconds": 45}
    assert behavior["scaleDown"] == {"stabilizationWindowSeconds": 600}
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["serverAddress"] == "http://prom:9090"
    assert trigger["metadata"]["threshold"] == "3"
    assert trigger["metadata"]["query"] == 'sum(xtrinode_gateway_inflight_queries{namespace="analytics",xtrinode="demo"})'
    assert deployment(manifests, "worker")["spec"]["replicas"] == 1


def test_custom_query_placeholders_are_substituted() -> None:
    query = 'sum(my_metric{ns="{namespace}",rt="{xtrinodeName}",release="{releaseName}"}) or vector(0)'
    (so,) = _scaled_objects(keda={**PROM, "prometheusQuery": query})
    assert so["spec"]["triggers"][0]["metadata"]["query"] == (
        'sum(my_metric{ns="analytics",rt="demo",release="rel"}) or vector(0)'
    )


@pytest.mark.parametrize("metric,fragment", [("cpu", "container_cpu_usage_seconds_total"), ("memory", "container_memory_working_set_bytes")])
def test_resource_metrics_have_default_queries_over_worker_pods(metric: str, fragment: str) -> None:
    (so,) = _scaled_objects(keda={**PROM, "scalingMetric": metric})
    query = so["spec"]["triggers"][0]["metadata"]["query"]
    assert fragment in query and 'pod=~"trino-demo-worker-.*"' in query


def test_http_scaler_reads_gateway_load_endpoint() -> None:
    (so,) = _scaled_objects(keda={"enabled": True, "scalerType": "http", "threshold": "6"})
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "metrics-api"
    assert trigger["metadata"] == {
        "url": "http://xtrinode-gateway.xtrinode-gateway.svc.cluster.local:8081/v1/xtrinode/load/analytics/demo",
        "format": "json",
        "valueLocation": "inflight",
        "targetValue": "6",
        "activationTargetValue": "0",
    }


KEDA_CRD = Path(__file__).resolve().parents[3] / "deploy" / "crds" / "third-party" / "keda.sh_scaledobjects.yaml"


@pytest.mark.parametrize(
    "keda",
    [
        PROM,
        {**PROM, "scalingMetric": "memory", "scaleDownCooldown": "2h", "scaleUpCooldown": "0"},
        {"enabled": True, "scalerType": "http", "threshold": 2.5},
    ],
)
def test_scaled_object_matches_keda_crd_schema(keda: dict[str, Any]) -> None:
    crd = yaml.safe_load(KEDA_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    (so,) = _scaled_objects(keda=keda, maxWorkers=3)
    jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]).validate(so)
    behavior = so["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
    assert all(0 <= b["stabilizationWindowSeconds"] <= 3600 for b in behavior.values())
