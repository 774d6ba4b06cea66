"""The XTrinode and XTrinodeCatalog models: defaults, camelCase wire names, and rejection messages.

Also the route table (routes.yaml) round-trip and the label-selector matching catalogs rely on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from xtrinode.models import (
    LabelSelector,
    RouteEntry,
    RouteTable,
    XTrinode,
    XTrinodeCatalog,
    worker_preset,
)


def runtime(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "analytics.xtrinode.io/v1",
        "kind": "XTrinode",
        "metadata": {"name": "sales", "namespace": "team-a"},
        "spec": {"size": "s", **spec},
    }


def catalog(connector: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "analytics.xtrinode.io/v1",
        "kind": "XTrinodeCatalog",
        "metadata": {"name": "sales-db", "namespace": "team-a"},
        "spec": {"connector": connector, **spec},
    }


def test_minimal_runtime_gets_documented_defaults() -> None:
    obj = XTrinode.model_validate(runtime())
    spec = obj.spec
    assert (spec.min_workers, spec.max_workers, spec.suspended) == (0, 2, False)
    assert spec.auto_suspend_after == timedelta(minutes=5)
    assert spec.wake_ttl == timedelta(minutes=5)
    assert spec.graceful_shutdown.enabled and spec.graceful_shutdown.grace_period_seconds == 120
    assert spec.image.reference == "trinodb/trino:476"
    assert obj.routing_group == "team-a--sales"
    assert obj.workflow_id == "xtrinode/team-a/sales"


def test_zero_autosuspend_disables_it_and_absent_keeps_the_default() -> None:
    assert not XTrinode.model_validate(runtime(autoSuspendAfter="0")).spec.autosuspend_enabled
    assert XTrinode.model_validate(runtime()).spec.autosuspend_enabled


def test_wire_form_round_trips_with_camel_case_names() -> None:
    body = runtime(minWorkers=1, maxWorkers=4, wakeTTL="10m", wakeMinWorkers=2,
                   routing={"hostnameDomain": "trino.example.com", "capacityUnits": 3},
                   trinoControlAuth={"passwordSecret": {"name": "ctl", "key": "password"}})
    wire = XTrinode.model_validate(body).to_wire()
    assert wire["spec"]["wakeTTL"] == "10m"
    assert wire["spec"]["routing"]["hostnameDomain"] == "trino.example.com"
    assert wire["spec"]["trinoControlAuth"] == {
        "username": "xtrinode-operator", "passwordSecret": {"name": "ctl", "key": "password"}}
    assert XTrinode.model_validate(wire) == XTrinode.model_validate(body)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"size": "xxl"}, "size"),
        ({"minWorkers": 5, "maxWorkers": 2}, "set minWorkers <= maxWorkers"),
        ({"maxWorkers": 501}, "maxWorkers"),
        ({"minWorkers": -1}, "minWorkers"),
        ({"autoSuspendAfter": "5 minutes"}, "for example '90s'"),
        ({"unknownField": 1}, "unknownField"),
        ({"routing": {"hostname": "Bad_Host"}}, "not a DNS name"),
        ({"resources": {"worker": {"limits": {"cpu": "lots"}}}}, "invalid quantity 'lots'"),
        ({"limits": {"session": {"maxQueryMemory": "10Gi"}}}, "maxQueryMemory"),
        ({"keda": {"enabled": True, "threshold": "ten"}}, "not a number"),
    ],
)
def test_invalid_runtime_specs_are_rejected_naming_the_problem(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        XTrinode.model_validate(runtime(**spec))
    assert fragment in str(info.value)


def test_runtime_name_must_fit_in_derived_object_names() -> None:
    body = runtime()
    body["metadata"]["name"] = "a" * 41
    with pytest.raises(ValidationError, match="at most 40 characters"):
        XTrinode.model_validate(body)


def test_keda_is_active_only_with_scaler_settings() -> None:
    assert not XTrinode.model_validate(runtime(keda={"enabled": True})).spec.keda_active
    assert not XTrinode.model_validate(
        runtime(keda={"enabled": False, "scalerType": "http"})).spec.keda_active
    assert XTrinode.model_validate(runtime(keda={
        "enabled": True, "scalerType": "prometheus", "prometheusServer": "http://prom:9090"})).spec.keda_active


def test_size_presets_follow_the_spec_table() -> None:
    assert worker_preset("xs") == ("1", "4Gi", "2", "8Gi")
    assert worker_preset("xl") == ("16", "64Gi", "64", "256Gi")


def test_catalog_has_exactly_one_connector() -> None:
    pg = XTrinodeCatalog.model_validate(catalog({"postgres": {"connectionURL": "jdbc:postgresql://db/x"}}))
    assert pg.spec.connector.type == "postgres"
    assert pg.spec.connector.trino_connector_name == "postgresql"
    assert pg.trino_name == "sales_db"
    with pytest.raises(ValidationError, match="exactly one connector type"):
        XTrinodeCatalog.model_validate(catalog({"tpch": {}, "memory": {}}))
    with pytest.raises(ValidationError, match="exactly one connector type"):
        XTrinodeCatalog.model_validate(catalog({}))


def test_custom_connector_names_its_trino_connector() -> None:
    c = XTrinodeCatalog.model_validate(catalog({"custom": {"connectorName": "clickhouse"}}))
    assert c.spec.connector.trino_connector_name == "clickhouse"
    assert XTrinodeCatalog.model_validate(catalog({"deltaLake": {}})).spec.connector.trino_connector_name == \
        "delta_lake"


def test_catalog_egress_needs_a_target() -> None:
    with pytest.raises(ValidationError, match="needs cidr"):
        XTrinodeCatalog.model_validate(catalog({"tpch": {}}, egress=[{"ports": [{"port": 5432}]}]))


@pytest.mark.parametrize(
    ("labels", "matches"),
    [({"team": "a", "tier": "gold"}, True), ({"team": "a", "tier": "bronze"}, False), ({"team": "b"}, False)],
)
def test_label_selector_matches_like_kubernetes(labels: dict[str, str], matches: bool) -> None:
    selector = LabelSelector.model_validate(
        {"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]})
    assert selector.matches(labels) is matches


def test_route_table_round_trips_and_upserts_without_losing_others() -> None:
    def entry(name: str, state: str = "RUNNING") -> RouteEntry:
        return RouteEntry.model_validate({
            "namespace": "t", "name": name, "backend": f"http://trino-{name}.t.svc:8080", "state": state,
            "routingGroup": f"t--{name}", "workflowId": f"xtrinode/t/{name}"})

    table = RouteTable(routes=[entry("a"), entry("b")])
    table = table.upsert(entry("a", "PAUSED"))
    parsed = RouteTable.from_yaml(table.to_yaml())
    assert {(r.name, r.state) for r in parsed.routes} == {("a", "PAUSED"), ("b", "RUNNING")}
    assert [r.name for r in parsed.remove("t", "a").routes] == ["b"]
    assert RouteTable.from_yaml("").routes == []
    with pytest.raises(ValueError, match="must be a mapping"):
        RouteTable.from_yaml("- 1\n- 2\n")


def test_route_table_text_is_yaml_one_route_per_line_and_hand_written_yaml_still_reads() -> None:
    import yaml

    def entry(name: str) -> RouteEntry:
        return RouteEntry.model_validate({
            "namespace": "t", "name": name, "backend": f"http://trino-{name}.t.svc:8080", "state": "RUNNING",
            "routingGroup": f"t--{name}", "workflowId": f"xtrinode/t/{name}"})

    text = RouteTable(routes=[entry("b"), entry("a")]).to_yaml()
    lines = text.splitlines()
    assert len(lines) == 4 and '"name": "a"' in lines[1] and '"name": "b"' in lines[2], "sorted, a line per route"
    assert RouteTable.model_validate(yaml.safe_load(text)) == RouteTable.from_yaml(text), "plain YAML readers agree"
    assert RouteTable.from_yaml(RouteTable().to_yaml()).routes == []
    block = yaml.safe_dump({"routes": [entry("c").to_wire()]}, default_flow_style=False)
    assert [r.name for r in RouteTable.from_yaml(block).routes] == ["c"], "a table an operator wrote by hand"
