"""Trino configuration files and their content-hashed ConfigMaps.

Checks: -Xmx below the memory limit (and about 75% of it) for every size and role, and for overrides;
`http-server.process-forwarded=true` always, even against an overlay; discovery.uri, grace period,
query.max-memory, required-workers settings (coordinator only) and the coordinator-only runtime case;
valuesOverlay trino.config / trino.jvm merging and the keys it may not change; config ConfigMap names
change exactly when their content changes; ConfigMaps are immutable; properties escaping.
"""

from __future__ import annotations

from typing import Any

import pytest
from render_testkit import build_runtime, by_kind, config_data, parse_properties

from xtrinode.models import SIZES
from xtrinode.quantity import parse_quantity
from xtrinode.render import RenderError, jvm_heap_bytes, render_runtime, resolve_resources, role_config_data
from xtrinode.render.config import properties_text

SETTINGS_FREE: dict[str, Any] = {}


def _props(role: str, **spec: Any) -> dict[str, str]:
    return parse_properties(config_data(render_runtime(build_runtime(**spec), []), role)["config.properties"])


def _xmx_bytes(jvm: str) -> int:
    (flag,) = [line for line in jvm.splitlines() if line.startswith("-Xmx")]
    value = flag[len("-Xmx"):]
    units = {"G": 2**30, "M": 2**20, "K": 2**10}
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ["coordinator", "worker"])
def test_jvm_heap_is_below_memory_limit_for_every_size(size: str, role: str) -> None:
    runtime = build_runtime(size=size)
    heap = _xmx_bytes(config_data(render_runtime(runtime, []), role)["jvm.config"])
    limit = parse_quantity(resolve_resources(runtime.spec, role).limit_memory)  # type: ignore[arg-type]
    assert heap < limit
    assert 0.70 * float(limit) <= heap <= 0.80 * float(limit)


@pytest.mark.parametrize("limit", ["1Gi", "1500Mi", "3G", "10Gi", "100Mi", "2Mi"])
def test_jvm_heap_below_odd_limits(limit: str) -> None:
    heap = jvm_heap_bytes(limit)
    assert 0 < heap < parse_quantity(limit)


def test_jvm_heap_follows_memory_limit_override() -> None:
    runtime = build_runtime(resources={"worker": {"limits": {"memory": "12Gi"}}})
    jvm = config_data(render_runtime(runtime, []), "worker")["jvm.config"]
    assert "-Xmx9G" in jvm.splitlines()
    assert jvm.splitlines()[0] == "-server"
    assert "-XX:+ExitOnOutOfMemoryError" in jvm


@pytest.mark.parametrize("role", ["coordinator", "worker"])
def test_process_forwarded_is_always_true(role: str) -> None:
    assert _props(role)["http-server.process-forwarded"] == "true"
    overlay = {"trino": {"config": {"http-server.process-forwarded": "true"}}}
    assert _props(role, valuesOverlay=overlay)["http-server.process-forwarded"] == "true"


@pytest.mark.parametrize(
    "key,value",
    [
        ("http-server.process-forwarded", False),
        ("http-server.http.port", 9999),
        ("http-server.http.enabled", "false"),
        ("coordinator", "false"),
        ("discovery.uri", "http://elsewhere:8080"),
    ],
)
def test_overlay_cannot_change_wiring_keys(key: str, value: Any) -> None:
    runtime = build_runtime(valuesOverlay={"trino": {"config": {key: value}}})
    with pytest.raises(RenderError, match=key.replace(".", r"\.")):
        render_runtime(runtime, [])


def test_coordinator_config_waits_for_workers_and_excludes_itself() -> None:
    props = _props("coordinator", maxWorkers=3)
    assert props["coordinator"] == "true"
    assert props["query-manager.required-workers"] == "1"
    assert props["query-manager.required-workers-max-wait"] == "5m"
    assert props["node-scheduler.include-coordinator"] == "false"
    # The coordinator looks up its workers through the Service that routes once it is Ready.
    assert props["discovery.uri"] == "http://trino-demo.analytics.svc.cluster.local:8080"
    assert props["http-server.http.port"] == "8080"


def test_worker_config_has_no_coordinator_only_properties() -> None:
    props = _props("worker")
    assert props["coordinator"] == "false"
    # Workers announce through the Service that lists the coordinator before it is Ready.
    assert props["discovery.uri"] == "http://trino-demo-discovery.analytics.svc.cluster.local:8080"
    assert not any(key.startswith(("query-manager.", "node-scheduler.")) for key in props)


def test_coordinator_only_runtime_schedules_on_coordinator() -> None:
    props = _props("coordinator", minWorkers=0, maxWorkers=0)
    assert props["node-scheduler.include-coordinator"] == "true"


@pytest.mark.parametrize("role", ["coordinator", "worker"])
def test_grace_period_and_max_query_memory(role: str) -> None:
    props = _props(role, gracefulShutdown={"gracePeriodSeconds": 45}, limits={"session": {"maxQueryMemory": "20GB"}})
    assert props["shutdown.grace-period"] == "45s"
    assert props["query.max-memory"] == "20GB"
    assert "query.max-memory" not in _props(role)


def test_overlay_config_and_jvm_are_merged() -> None:
    overlay = {"trino": {"config": {"query.max-history": 500, "optimizer.x": True}, "jvm": ["-XX:+UseZGC"]}}
    manifests = render_runtime(build_runtime(valuesOverlay=overlay), [])
    for role in ("coordinator", "worker"):
        data = config_data(manifests, role)
        props = parse_properties(data["config.properties"])
        assert props["query.max-history"] == "500"
        assert props["optimizer.x"] == "true"
        jvm = data["jvm.config"].splitlines()
        assert jvm[-1] == "-XX:+UseZGC"


@pytest.mark.parametrize("overlay", [{"trino": {"jvm": ["-Xmx99G"]}}, {"worker": {"additionalJVMConfig": ["-Xms1G"]}}])
def test_overlay_heap_flags_are_a_render_error_not_dropped(overlay: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="spec.resources.*limits.memory"):
        render_runtime(build_runtime(valuesOverlay=overlay), [])


@pytest.mark.parametrize("overlay", [{"trino": []}, {"trino": {"config": ["a=b"]}}, {"trino": {"jvm": "-Xss4m"}},
                                     {"trino": {"config": {"a": {"nested": 1}}}}])
def test_malformed_trino_overlay_is_a_render_error(overlay: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="valuesOverlay.trino"):
        render_runtime(build_runtime(valuesOverlay=overlay), [])


def test_node_properties() -> None:
    props = parse_properties(config_data(render_runtime(build_runtime(), []), "worker")["node.properties"])
    assert props == {"node.environment": "xtrinode", "node.data-dir": "/data/trino", "node.id": "${ENV:HOSTNAME}"}


def _config_map_names(**spec: Any) -> dict[str, str]:
    manifests = render_runtime(build_runtime(**spec), [])
    out = {}
    for cm in by_kind(manifests, "ConfigMap"):
        role = cm["metadata"]["labels"]["app.kubernetes.io/component"]
        out[role] = cm["metadata"]["name"]
        assert cm["immutable"] is True
    return out


def test_config_map_names_change_only_when_content_changes() -> None:
    base = _config_map_names(maxWorkers=2)
    assert base == _config_map_names(maxWorkers=2)
    # Worker count and suspension are not config: names stay.
    assert base == _config_map_names(maxWorkers=7, suspended=True)
    # Worker memory changes the worker heap only.
    bigger = _config_map_names(resources={"worker": {"limits": {"memory": "16Gi"}}})
    assert bigger["coordinator"] == base["coordinator"] and bigger["worker"] != base["worker"]
    # A Trino property changes both roles.
    limited = _config_map_names(limits={"session": {"maxQueryMemory": "1GB"}})
    assert limited["coordinator"] != base["coordinator"] and limited["worker"] != base["worker"]


def test_role_config_data_has_the_trino_files_and_an_access_control_for_the_control_user() -> None:
    import json

    from xtrinode.render import RenderSettings

    data = role_config_data(build_runtime(), "worker", RenderSettings())
    assert sorted(data) == ["access-control-rules.json", "access-control.properties", "config.properties",
                            "jvm.config", "log.properties", "node.properties"]
    assert "access-control.name=file" in data["access-control.properties"]
    assert "security.config-file=/etc/trino/access-control-rules.json" in data["access-control.properties"]
    rules = json.loads(data["access-control-rules.json"])["system_information"]
    assert rules[0] == {"user": "xtrinode-operator", "allow": ["read", "write"]}, "the preStop user may drain"
    assert rules[1] == {"user": ".*", "allow": ["read"]}, "everyone else keeps what Trino's default allows"
    custom = build_runtime(trinoControlAuth={"username": "ops.bot+1"})
    rules = json.loads(role_config_data(custom, "worker", RenderSettings())["access-control-rules.json"])
    assert rules["system_information"][0]["user"] == r"ops\.bot\+1", "the username is matched literally"


def test_properties_text_escapes_values_and_keys() -> None:
    text = properties_text({"b": "line1\nline2", "a": "C:\\dir", "k=x": " lead"})
    assert text.splitlines() == ["a=C:\\\\dir", "b=line1\\nline2", "k\\=x=\\ lead"]
