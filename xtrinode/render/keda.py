"""How many workers a spec asks for, and the KEDA ScaledObject that scales them when KEDA is active.

prometheus scaler: a `prometheus` trigger; the default query for scalingMetric `query` counts the
gateway's in-flight queries of the runtime, `cpu` and `memory` sum the worker containers' usage.
http scaler: a `metrics-api` trigger reading the gateway's per-runtime load endpoint
(RenderSettings.gateway_load_path, JSON `{"inflight": n}`), so no Prometheus is needed.
"""

from __future__ import annotations

from typing import Any

from xtrinode.models import Keda, XTrinode, XTrinodeSpec
from xtrinode.render.metadata import Manifest, runtime_metadata
from xtrinode.render.names import scaled_object_name, worker_deployment_name
from xtrinode.render.settings import RenderSettings

__all__ = ["DEFAULT_QUERIES", "DEFAULT_THRESHOLDS", "desired_workers", "keda_query", "render_scaled_object"]

DEFAULT_QUERIES = {
    "query": 'sum(xtrinode_gateway_inflight_queries{namespace="{namespace}",xtrinode="{xtrinodeName}"})',
    "cpu": 'sum(rate(container_cpu_usage_seconds_total{namespace="{namespace}",'
    'pod=~"trino-{xtrinodeName}-worker-.*",container="trino"}[2m]))',
    "memory": 'sum(container_memory_working_set_bytes{namespace="{namespace}",'
    'pod=~"trino-{xtrinodeName}-worker-.*",container="trino"})',
}
"""PromQL per scalingMetric, with {namespace}, {xtrinodeName} and {releaseName} placeholders."""
DEFAULT_THRESHOLDS = {"query": "4", "cpu": "1", "memory": "4294967296"}
"""Target per worker when keda.threshold is unset: queries, cores, bytes."""
_HPA_MAX_WINDOW = 3600  # the HPA rejects longer stabilization windows


def desired_workers(spec: XTrinodeSpec) -> int:
    """Worker replicas to render: 0 suspended, minWorkers (initial) under KEDA, else maxWorkers."""
    if spec.suspended:
        return 0
    if spec.keda_active:
        return spec.min_workers
    return spec.max_workers


def _fill(template: str, runtime: XTrinode, settings: RenderSettings) -> str:
    # str.replace, not str.format: user queries contain PromQL braces.
    return (
        template.replace("{namespace}", runtime.namespace)
        .replace("{xtrinodeName}", runtime.name)
        .replace("{releaseName}", settings.release_name)
    )


def keda_query(runtime: XTrinode, settings: RenderSettings) -> str:
    """The PromQL the prometheus trigger evaluates, placeholders substituted."""
    keda = runtime.spec.keda or Keda()
    template = keda.prometheus_query or DEFAULT_QUERIES[keda.scaling_metric]
    return _fill(template, runtime, settings)


def _trigger(runtime: XTrinode, keda: Keda, settings: RenderSettings) -> dict[str, Any]:
    threshold = keda.threshold or DEFAULT_THRESHOLDS[keda.scaling_metric]
    if keda.scaler_type == "http":
        path = _fill(settings.gateway_load_path, runtime, settings)
        url = (
            f"http://{settings.gateway_service}.{settings.gateway_namespace}.svc."
            f"{settings.cluster_domain}:{settings.gateway_port}{path}"
        )
        return {
            "type": "metrics-api",
            "metadata": {
                "url": url,
                "format": "json",
                "valueLocation": "inflight",
                "targetValue": threshold,
                "activationTargetValue": "0",
            },
        }
    return {
        "type": "prometheus",
        "metadata": {
            "serverAddress": keda.prometheus_server or "",
            "query": keda_query(runtime, settings),
            "threshold": threshold,
            "activationThreshold": "0",
        },
    }


def render_scaled_object(runtime: XTrinode, settings: RenderSettings) -> Manifest | None:
    """ScaledObject `trino-<n>-workers`, or None unless KEDA is active and the runtime not suspended.

    When suspended it is left out; the lifecycle pauses or deletes an existing one before scaling to zero.
    """
    spec = runtime.spec
    if not spec.keda_active or spec.suspended or spec.keda is None:
        return None
    keda = spec.keda
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": worker_deployment_name(runtime)},
        "minReplicaCount": spec.min_workers,
        "maxReplicaCount": spec.max_workers,
    }
    behavior: dict[str, Any] = {}
    if keda.scale_down_cooldown is not None:
        seconds = int(keda.scale_down_cooldown.total_seconds())
        body["cooldownPeriod"] = seconds  # the last worker -> zero
        behavior["scaleDown"] = {"stabilizationWindowSeconds": min(seconds, _HPA_MAX_WINDOW)}  # N -> M
    if keda.scale_up_cooldown is not None:
        seconds = int(keda.scale_up_cooldown.total_seconds())
        behavior["scaleUp"] = {"stabilizationWindowSeconds": min(seconds, _HPA_MAX_WINDOW)}
    if behavior:
        body["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": behavior}}
    body["triggers"] = [_trigger(runtime, keda, settings)]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": runtime_metadata(runtime, scaled_object_name(runtime), "worker"),
        "spec": body,
    }
