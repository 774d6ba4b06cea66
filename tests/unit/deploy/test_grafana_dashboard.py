"""The Grafana dashboard (deploy/grafana/xtrinode.json) against the metrics the code registers.

Checks: every PromQL expression of the dashboard (panels, rows and template variables) names only series
the processes' registries produce (the gateway's and API server's own registries, the default registry
holding the lifecycle worker's, operator's and informers' metrics) or the Temporal SDK metrics the process
test sees; the checker itself flags an unknown name; every metric of tests/metrics_catalog.py is
registered by the code with that type; the dashboard covers resume latency, held queries, drains and
phases; panel ids are unique and every query names the datasource variable; the chart's copy is the same
file, and with `grafana.dashboard.enabled` (default off) the chart renders it as a ConfigMap labelled
grafana_dashboard=1 that passes kubernetes-validate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from chart_testkit import CHART, DEFAULT, render
from prometheus_client import REGISTRY, CollectorRegistry

import activities.metrics  # noqa: F401 - registers the lifecycle worker's metrics
import workers.informer  # noqa: F401 - registers the informer metrics
import workers.operator_metrics  # noqa: F401 - registers the operator's metrics
from gateway.metrics import GatewayMetrics
from tests.metrics_catalog import PROCESSES, TEMPORAL_SDK_EXAMPLES
from workers.api.app import ApiMetrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "xtrinode.json"
_NAME = re.compile(r"\b((?:xtrinode|temporal)_[a-zA-Z0-9_]+)\b")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _families(registry: CollectorRegistry) -> dict[str, str]:
    return {m.name: m.type for m in registry.collect() if m.name.startswith("xtrinode_")}


def registered() -> dict[str, str]:
    """Family name -> type of every XTrinode metric the code registers."""
    return {**_families(GatewayMetrics().registry), **_families(ApiMetrics().registry), **_families(REGISTRY)}


def known_series() -> set[str]:
    series = {f"{name}{suffix}" for name, kind in registered().items() for suffix in _SUFFIXES[kind]}
    for examples in TEMPORAL_SDK_EXAMPLES.values():  # their types are the core's: any suffix of the name
        series |= {f"{name}{suffix}" for name in examples for kind in _SUFFIXES.values() for suffix in kind}
    return series


def expressions(node: Any) -> Iterator[str]:
    """Every PromQL string in the dashboard: target `expr`s and template variable queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str) and "(" in value:
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def unknown_names(exprs: list[str], known: set[str]) -> list[tuple[str, str]]:
    return [(name, expr) for expr in exprs for name in _NAME.findall(expr) if name not in known]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_every_dashboard_query_names_only_metrics_the_code_serves(dashboard: dict[str, Any]) -> None:
    exprs = list(expressions(dashboard))
    assert len(exprs) >= 30
    assert unknown_names(exprs, known_series()) == []


def test_the_checker_flags_a_metric_the_code_does_not_serve() -> None:
    exprs = ["sum(rate(xtrinode_gateway_requests_total[5m])) / sum(rate(xtrinode_gateway_requets_total[5m]))",
             "histogram_quantile(0.9, rate(xtrinode_lifecycle_resume_duration_seconds[5m]))"]
    assert [name for name, _ in unknown_names(exprs, known_series())] == [
        "xtrinode_gateway_requets_total", "xtrinode_lifecycle_resume_duration_seconds"]


def test_every_catalogued_metric_is_registered_by_the_code_with_its_type() -> None:
    code = registered()
    for process, families in PROCESSES.items():
        for name, (kind, _) in families.items():
            assert code.get(name) == kind, f"{process}: {name} is {code.get(name)!r} in the code, catalogued {kind}"


def test_the_dashboard_covers_resume_latency_held_queries_drains_and_phases(dashboard: dict[str, Any]) -> None:
    text = " ".join(expressions(dashboard))
    for needed in ("xtrinode_lifecycle_resume_duration_seconds_bucket", 'state="held"',
                   "xtrinode_lifecycle_drains_total", "xtrinode_lifecycle_drain_duration_seconds_bucket",
                   "xtrinode_runtime_phase", "xtrinode_lifecycle_phase_transitions_total",
                   "xtrinode_gateway_requests_total", "xtrinode_api_requests_total"):
        assert needed in text, needed


def test_panels_have_unique_ids_and_use_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
    assert dashboard["uid"] == "xtrinode"


def test_the_chart_ships_the_dashboard_as_a_configmap_when_asked() -> None:
    assert (CHART / "files" / "grafana" / "xtrinode.json").read_text() == DASHBOARD.read_text()
    assert not [d for d in render(DEFAULT) if d["kind"] == "ConfigMap" and "grafana" in d["metadata"]["name"]]
    docs = render({**DEFAULT, "grafana": {"dashboard": {"enabled": True, "annotations": {"grafana_folder": "XTrinode"}}}})
    [configmap] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "xtrinode-grafana-dashboard"]
    assert configmap["metadata"]["namespace"] == "xtrinode-system"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "XTrinode"}
    assert json.loads(configmap["data"]["xtrinode.json"]) == json.loads(DASHBOARD.read_text())
    kubernetes_validate.validate(configmap, kubernetes_validate.utils.latest_version(), strict=True)
