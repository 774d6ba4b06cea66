"""Coordinator and worker Deployments.

Checks: size-preset resources per role and spec.resources overrides (and limit-below-request errors);
image; placement per role; readiness probe on /v1/info; config and catalog volumes and mounts; the worker
preStop hook (SHUTTING_DOWN with the control user, waits) and terminationGracePeriodSeconds >= 2x grace;
control-auth password env; the config-hash annotation changes on both roles with a catalog, a Secret
reference or a Secret version change and not otherwise; the secret-refs annotation lists names/keys only.
"""

from __future__ import annotations

from typing import Any

import pytest
from render_testkit import PG, SELECT_TEAM_A, build_catalog, build_runtime, container, deployment

from xtrinode.models import COORDINATOR_PRESET, SIZES, worker_preset
from xtrinode.render import (
    CONFIG_HASH_ANNOTATION,
    SECRET_REFS_ANNOTATION,
    RenderError,
    render_runtime,
    runtime_secret_references,
)


def _annotations(manifests: list[dict[str, Any]], role: str) -> dict[str, str]:
    annotations: dict[str, str] = deployment(manifests, role)["spec"]["template"]["metadata"]["annotations"]
    return annotations


def _hashes(**kwargs: Any) -> tuple[str, str]:
    manifests = render_runtime(**kwargs)
    return (
        _annotations(manifests, "coordinator")[CONFIG_HASH_ANNOTATION],
        _annotations(manifests, "worker")[CONFIG_HASH_ANNOTATION],
    )


@pytest.mark.parametrize("size", SIZES)
def test_resources_come_from_size_preset(size: str) -> None:
    manifests = render_runtime(build_runtime(size=size), [])
    preset = worker_preset(size)  # type: ignore[arg-type]
    assert container(manifests, "worker")["resources"] == {
        "requests": {"cpu": preset.request_cpu, "memory": preset.request_memory},
        "limits": {"cpu": preset.limit_cpu, "memory": preset.limit_memory},
    }
    assert container(manifests, "coordinator")["resources"] == {
        "requests": {"cpu": COORDINATOR_PRESET.request_cpu, "memory": COORDINATOR_PRESET.request_memory},
        "limits": {"cpu": COORDINATOR_PRESET.limit_cpu, "memory": COORDINATOR_PRESET.limit_memory},
    }


def test_resource_overrides_replace_only_given_values() -> None:
    runtime = build_runtime(
        size="m",
        resources={"worker": {"requests": {"cpu": "6"}}, "coordinator": {"limits": {"memory": "16Gi"}}},
    )
    manifests = render_runtime(runtime, [])
    assert container(manifests, "worker")["resources"] == {
        "requests": {"cpu": "6", "memory": "16Gi"},
        "limits": {"cpu": "16", "memory": "64Gi"},
    }
    assert container(manifests, "coordinator")["resources"]["limits"] == {"cpu": "2", "memory": "16Gi"}


def test_request_above_preset_limit_is_a_render_error() -> None:
    runtime = build_runtime(size="xs", resources={"worker": {"requests": {"memory": "16Gi"}}})
    with pytest.raises(RenderError, match="memory limit '8Gi' is below its request '16Gi'"):
        render_runtime(runtime, [])


def test_image_and_pull_policy() -> None:
    runtime = build_runtime(image={"repository": "registry.local/trino", "tag": "470", "pullPolicy": "Always"})
    for role in ("coordinator", "worker"):
        c = container(render_runtime(runtime, []), role)
        assert c["image"] == "registry.local/trino:470"
        assert c["imagePullPolicy"] == "Always"


def test_placement_applies_per_role() -> None:
    placement = {
        "worker": {
            "nodeSelector": {"pool": "workers"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "trino", "effect": "NoSchedule"}],
        },
        "coordinator": {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
                    }
                }
            }
        },
    }
    manifests = render_runtime(build_runtime(placement=placement), [])
    worker = deployment(manifests, "worker")["spec"]["template"]["spec"]
    coordinator = deployment(manifests, "coordinator")["spec"]["template"]["spec"]
    assert worker["nodeSelector"] == {"pool": "workers"}
    assert worker["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "trino", "effect": "NoSchedule"}]
    assert "affinity" not in worker
    assert "nodeSelector" not in coordinator
    terms = coordinator["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"] == [{"key": "zone", "operator": "In", "values": ["a"]}]


@pytest.mark.parametrize("role", ["coordinator", "worker"])
def test_readiness_probe_and_http_port(role: str) -> None:
    c = container(render_runtime(build_runtime(), []), role)
    assert c["readinessProbe"]["httpGet"] == {"path": "/v1/info", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


@pytest.mark.parametrize("role", ["coordinator", "worker"])
def test_config_and_catalogs_are_mounted(role: str) -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A)
    manifests = render_runtime(runtime, [build_catalog("sales"), build_catalog("hr")])
    pod = deployment(manifests, role)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"].startswith(f"trino-demo-{role}-")
    assert volumes["catalog"]["projected"]["sources"] == [
        {"configMap": {"name": "trino-catalog-hr"}},
        {"configMap": {"name": "trino-catalog-sales"}},
    ]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {"config": "/etc/trino", "catalog": "/etc/trino/catalog", "data": "/data/trino"}


def test_no_catalogs_mounts_an_empty_catalog_directory() -> None:
    pod = deployment(render_runtime(build_runtime(), []), "worker")["spec"]["template"]["spec"]
    assert {"name": "catalog", "emptyDir": {}} in pod["volumes"]


def test_worker_pre_stop_puts_shutting_down_and_waits() -> None:
    manifests = render_runtime(build_runtime(trinoControlAuth={"username": "ops"}), [])
    command = container(manifests, "worker")["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    script = command[2]
    assert "-X PUT" in script
    assert "'\"SHUTTING_DOWN\"'" in script
    assert "http://localhost:8080/v1/info/state" in script
    assert "'X-Trino-User: ops'" in script
    assert "while curl" in script and "sleep" in script
    assert "lifecycle" not in container(manifests, "coordinator")


@pytest.mark.parametrize("grace", [0, 30, 120, 600])
def test_worker_termination_grace_is_at_least_twice_trino_grace(grace: int) -> None:
    manifests = render_runtime(build_runtime(gracefulShutdown={"gracePeriodSeconds": grace}), [])
    pod = deployment(manifests, "worker")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 2 * grace + 1


def test_disabled_graceful_shutdown_has_no_pre_stop_hook() -> None:
    manifests = render_runtime(build_runtime(gracefulShutdown={"enabled": False}), [])
    assert "lifecycle" not in container(manifests, "worker")


def test_control_password_is_an_env_reference_used_by_pre_stop() -> None:
    auth = {"username": "ops", "passwordSecret": {"name": "trino-control", "key": "password"}}
    manifests = render_runtime(build_runtime(trinoControlAuth=auth), [])
    worker = container(manifests, "worker")
    assert {"name": "XTRINODE_CONTROL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "trino-control", "key": "password"}}} in worker["env"]
    assert '"$XTRINODE_CONTROL_PASSWORD"' in worker["lifecycle"]["preStop"]["exec"]["command"][2]
    assert _annotations(manifests, "worker")[SECRET_REFS_ANNOTATION] == "trino-control/password"
    assert "env" not in container(manifests, "coordinator")


def test_catalog_secrets_become_secret_key_ref_env_on_both_roles() -> None:
    manifests = render_runtime(build_runtime(catalogSelector=SELECT_TEAM_A), [build_catalog("pg", PG)])
    expected = [
        {"name": "CATALOG_PG_CONNECTION_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}},
        {"name": "CATALOG_PG_CONNECTION_SSL_KEY_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "ssl"}}},
    ]
    for role in ("coordinator", "worker"):
        assert container(manifests, role)["env"] == expected
        assert _annotations(manifests, role)[SECRET_REFS_ANNOTATION] == "pg/password,pg/ssl"


def test_catalog_change_changes_config_hash_on_both_roles() -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A)
    before = _hashes(runtime=runtime, catalogs=[build_catalog("pg", PG)])
    assert before == _hashes(runtime=runtime, catalogs=[build_catalog("pg", PG)])
    changed = {"postgres": {**PG["postgres"], "properties": {"case-insensitive-name-matching": "false"}}}
    after = _hashes(runtime=runtime, catalogs=[build_catalog("pg", changed)])
    assert before[0] != after[0] and before[1] != after[1]
    added = _hashes(runtime=runtime, catalogs=[build_catalog("pg", PG), build_catalog("tpch")])
    assert before[0] != added[0] and before[1] != added[1]


def test_secret_reference_change_changes_config_hash_on_both_roles() -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A)
    before = _hashes(runtime=runtime, catalogs=[build_catalog("pg", PG)])
    moved = {"postgres": {**PG["postgres"], "connectionPasswordSecret": {"name": "pg-v2", "key": "password"}}}
    after = _hashes(runtime=runtime, catalogs=[build_catalog("pg", moved)])
    assert before[0] != after[0] and before[1] != after[1]


def test_secret_version_change_rolls_pods_and_unrelated_secrets_do_not() -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A)
    catalogs = [build_catalog("pg", PG)]
    v1 = _hashes(runtime=runtime, catalogs=catalogs, secret_versions={"pg": "100"})
    v2 = _hashes(runtime=runtime, catalogs=catalogs, secret_versions={"pg": "101"})
    unrelated = _hashes(runtime=runtime, catalogs=catalogs, secret_versions={"pg": "100", "other": "7"})
    assert v1[0] != v2[0] and v1[1] != v2[1]
    assert v1 == unrelated


def test_worker_count_does_not_change_config_hash() -> None:
    assert _hashes(runtime=build_runtime(maxWorkers=2), catalogs=[]) == _hashes(runtime=build_runtime(maxWorkers=9), catalogs=[])


def test_runtime_secret_references_lists_what_pods_read() -> None:
    auth = {"passwordSecret": {"name": "control", "key": "pw"}}
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A, trinoControlAuth=auth)
    refs = runtime_secret_references(runtime, [build_catalog("pg", PG), build_catalog("x", PG, labels={"team": "b"})])
    assert [(r.name, r.key) for r in refs] == [("control", "pw"), ("pg", "password"), ("pg", "ssl")]
