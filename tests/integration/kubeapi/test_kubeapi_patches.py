"""Patch types and server-side apply through the official client (typed, custom and dynamic).

Checks strategic merge of containers/env/ports by key, merge and JSON patch, 415 for strategic
patches on custom resources, 422 for failing JSON patches, SSA create-when-missing, two managers
keeping each other's fields, conflicts (409) and force, and the 422 for apply without fieldManager.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.dynamic import DynamicClient

APPLY = "application/apply-patch+yaml"


def _deployment() -> dict:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]},
                        {"name": "side", "image": "side:1"},
                    ]
                },
            },
        },
    }


def test_strategic_merge_patch_merges_containers_env_and_ports_by_key(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, _deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}], "ports": [{"containerPort": 81}]},
                        {"name": "side", "$patch": "delete"},
                    ]
                }
            }
        }
    }
    d = apps.patch_namespaced_deployment("web", namespace, patch)
    containers = d.spec.template.spec.containers
    assert [c.name for c in containers] == ["app"]
    assert containers[0].image == "app:2"
    # New items lead: kube-apiserver merges the patch's items into the server's order (normalizeElementOrder).
    assert [(e.name, e.value) for e in containers[0].env] == [("B", "2"), ("A", "1")]
    assert [p.container_port for p in containers[0].ports] == [81, 80]


def test_merge_patch_replaces_lists_and_deletes_with_null(core: client.CoreV1Api, custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "1"}}, "spec": {"color": "red", "tags": ["x", "y"]}}
    custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    out = custom.patch_namespaced_custom_object(widgets, "v1", namespace, "widgets", "w", {"metadata": {"labels": {"a": None}}, "spec": {"tags": ["z"]}})
    assert out["spec"]["tags"] == ["z"] and "a" not in (out["metadata"].get("labels") or {})


def test_json_patch_applies_operations_and_failed_test_is_422(core: client.CoreV1Api, custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "j"}, "data": {"a": "1"}})
    out = core.patch_namespaced_config_map("j", namespace, [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}])
    assert out.data == {"b": "2"}
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("j", namespace, [{"op": "test", "path": "/data/b", "value": "nope"}])
    assert e.value.status == 422
    body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "red"}}
    custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    cr = custom.patch_namespaced_custom_object(
        widgets, "v1", namespace, "widgets", "w", [{"op": "replace", "path": "/spec/color", "value": "blue"}],
        _content_type="application/json-patch+json",
    )
    assert cr["spec"]["color"] == "blue"


def test_strategic_patch_on_custom_resource_is_415(api_client: client.ApiClient, widgets: str, custom: client.CustomObjectsApi, namespace: str) -> None:
    body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "red"}}
    custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    widget_api = DynamicClient(api_client).resources.get(api_version=f"{widgets}/v1", kind="Widget")
    with pytest.raises(ApiException) as e:
        widget_api.patch(name="w", namespace=namespace, body={"spec": {"color": "blue"}})
    assert e.value.status == 415
    assert "application/merge-patch+json" in json.loads(e.value.body)["message"]
    ok = widget_api.patch(name="w", namespace=namespace, body={"spec": {"color": "blue"}}, content_type="application/merge-patch+json")
    assert ok.spec.color == "blue"


def test_server_side_apply_creates_when_missing(core: client.CoreV1Api, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1"}}
    made = core.patch_namespaced_config_map("ssa", namespace, body, field_manager="mgr-a", _content_type=APPLY)
    assert made.data == {"a": "1"}
    assert [(m.manager, m.operation) for m in made.metadata.managed_fields] == [("mgr-a", "Apply")]


def test_two_apply_managers_keep_each_others_fields(core: client.CoreV1Api, namespace: str) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two"}}
    core.patch_namespaced_config_map("two", namespace, {**base, "data": {"a": "1", "shared": "s"}}, field_manager="alpha", _content_type=APPLY)
    core.patch_namespaced_config_map("two", namespace, {**base, "data": {"b": "2"}}, field_manager="beta", _content_type=APPLY)
    both = core.read_namespaced_config_map("two", namespace)
    assert both.data == {"a": "1", "shared": "s", "b": "2"}
    # alpha drops "shared" from its configuration: it owned it alone, so it goes; beta's field stays
    core.patch_namespaced_config_map("two", namespace, {**base, "data": {"a": "1"}}, field_manager="alpha", _content_type=APPLY)
    after = core.read_namespaced_config_map("two", namespace)
    assert after.data == {"a": "1", "b": "2"}
    owners = {m.manager: m.fields_v1 for m in after.metadata.managed_fields}
    assert owners["alpha"] == {"f:data": {"f:a": {}}}
    assert owners["beta"] == {"f:data": {"f:b": {}}}


def test_apply_conflict_is_409_unless_forced(core: client.CoreV1Api, namespace: str) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    core.patch_namespaced_config_map("c", namespace, {**base, "data": {"k": "1"}}, field_manager="owner", _content_type=APPLY)
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("c", namespace, {**base, "data": {"k": "2"}}, field_manager="intruder", _content_type=APPLY)
    assert e.value.status == 409
    status = json.loads(e.value.body)
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "owner": .data.k'
    assert status["details"]["causes"][0]["reason"] == "FieldManagerConflict"
    forced = core.patch_namespaced_config_map("c", namespace, {**base, "data": {"k": "2"}}, field_manager="intruder", force=True, _content_type=APPLY)
    assert forced.data == {"k": "2"}
    assert [m.manager for m in forced.metadata.managed_fields] == ["intruder"]


def test_apply_same_value_is_shared_not_a_conflict(core: client.CoreV1Api, namespace: str) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"k": "1"}}
    core.patch_namespaced_config_map("s", namespace, base, field_manager="one", _content_type=APPLY)
    shared = core.patch_namespaced_config_map("s", namespace, base, field_manager="two", _content_type=APPLY)
    assert sorted(m.manager for m in shared.metadata.managed_fields) == ["one", "two"]


def test_apply_merges_keyed_lists_of_custom_resources(custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    def apply(manager: str, ports: list[dict]) -> dict:
        body = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "k"}, "spec": {"color": "red", "ports": ports}}
        return custom.patch_namespaced_custom_object(
            widgets, "v1", namespace, "widgets", "k", body, field_manager=manager, _content_type=APPLY
        )

    apply("one", [{"name": "http", "port": 80}])
    out = apply("two", [{"name": "grpc", "port": 90}])
    assert sorted(p["name"] for p in out["spec"]["ports"]) == ["grpc", "http"]


def test_apply_without_field_manager_is_422(core: client.CoreV1Api, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nm"}}
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("nm", namespace, body, _content_type=APPLY)
    assert e.value.status == 422
    assert json.loads(e.value.body)["details"]["causes"][0]["field"] == "fieldManager"


def test_updates_record_managed_fields_per_manager(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(namespace, {"metadata": {"name": "mf"}, "data": {"a": "1"}}, field_manager="creator")
    assert made.metadata.managed_fields[0].manager == "creator"
    patched = core.patch_namespaced_config_map("mf", namespace, {"data": {"b": "2"}})
    managers = {m.manager: m.fields_v1 for m in patched.metadata.managed_fields}
    assert managers["OpenAPI-Generator"] == {"f:data": {"f:b": {}}}
    assert managers["creator"] == {"f:data": {".": {}, "f:a": {}}}, "the creator made the data map itself"
