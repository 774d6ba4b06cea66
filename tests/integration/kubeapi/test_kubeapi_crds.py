"""CustomResourceDefinitions through the official client: registration, discovery, schema checks.

Checks that a CRD's resources appear in discovery (DynamicClient) and disappear with it, that
invalid objects get a 422 naming each field (type, enum, required, bounds, pattern), that defaults
are applied, unknown fields pruned (or 400 under Strict) unless preserved, and int-or-string.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.dynamic import DynamicClient


def _widget(widgets: str, obj_name: str = "w", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": obj_name}, "spec": {"color": "red", **spec}}


def _reject(custom: client.CustomObjectsApi, widgets: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as e:
        custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    assert e.value.status == 422, e.value.body
    status: dict[str, Any] = json.loads(e.value.body)
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "Widget"
    return status


def test_invalid_type_is_422_naming_the_field(custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    status = _reject(custom, widgets, namespace, _widget(widgets, replicas="three"))
    # The schema's cause shows the value's type; the scale subresource (specReplicasPath) adds its own.
    assert status["message"] == (
        f'Widget.{widgets} "w" is invalid: [spec.replicas: Invalid value: "string": '
        'spec.replicas in body must be of type integer: "string", .spec.replicas: Invalid value: 0: '
        '.spec.replicas accessor error: three is of the type string, expected int64]'
    )
    assert status["details"]["causes"] == [{
        "reason": "FieldValueTypeInvalid",
        "message": 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        "field": "spec.replicas",
    }, {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: 0: .spec.replicas accessor error: three is of the type string, expected int64",
        "field": ".spec.replicas",
    }]


def test_enum_required_bounds_and_pattern_are_enforced(custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    causes = _reject(custom, widgets, namespace, _widget(widgets, color="pink"))["details"]["causes"]
    assert causes[0]["reason"] == "FieldValueNotSupported" and causes[0]["field"] == "spec.color"
    missing = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    assert _reject(custom, widgets, namespace, missing)["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.color"}
    ]
    fields = [c["field"] for c in _reject(custom, widgets, namespace, _widget(widgets, replicas=11, name="UPPER"))["details"]["causes"]]
    assert sorted(fields) == ["spec.name", "spec.replicas"]
    assert _reject(custom, widgets, namespace, _widget(widgets, replicas=-1))["details"]["causes"][0]["field"] == "spec.replicas"


def test_invalid_update_is_rejected_and_object_unchanged(custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", _widget(widgets))
    with pytest.raises(ApiException) as e:
        custom.patch_namespaced_custom_object(widgets, "v1", namespace, "widgets", "w", {"spec": {"color": "pink"}})
    assert e.value.status == 422
    assert custom.get_namespaced_custom_object(widgets, "v1", namespace, "widgets", "w")["spec"]["color"] == "red"


def test_defaults_applied_and_unknown_fields_pruned(custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    body = _widget(widgets, bogus=1, extra={"anything": {"goes": [1, 2]}}, size="10Gi")
    made = custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", body)
    assert made["spec"]["replicas"] == 1
    assert "bogus" not in made["spec"]
    assert made["spec"]["extra"] == {"anything": {"goes": [1, 2]}}
    assert made["spec"]["size"] == "10Gi"
    sized = custom.patch_namespaced_custom_object(widgets, "v1", namespace, "widgets", "w", {"spec": {"size": 3}})
    assert sized["spec"]["size"] == 3
    _reject(custom, widgets, namespace, _widget(widgets, "w2", size=True))


def test_strict_field_validation_rejects_unknown_fields(custom: client.CustomObjectsApi, widgets: str, namespace: str) -> None:
    with pytest.raises(ApiException) as e:
        custom.create_namespaced_custom_object(widgets, "v1", namespace, "widgets", _widget(widgets, bogus=1), field_validation="Strict")
    assert e.value.status == 400
    assert 'unknown field "spec.bogus"' in json.loads(e.value.body)["message"]


def test_crd_resources_appear_in_discovery_and_go_with_the_crd(
    api_client: client.ApiClient, custom: client.CustomObjectsApi, namespace: str, wait_for: Callable[..., Any],
) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.temp.xtrinode.io"},
        "spec": {
            "group": "temp.xtrinode.io",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }
    ext.create_custom_resource_definition(crd)
    # The emulator answers with the conditions set; kube-apiserver's controllers set them a moment later.
    wait_for(lambda: {c.type for c in ext.read_custom_resource_definition("gadgets.temp.xtrinode.io").status.conditions
                      or []} >= {"Established", "NamesAccepted"}, "the CRD Established with names accepted")
    gadgets = DynamicClient(api_client).resources.get(api_version="temp.xtrinode.io/v1", kind="Gadget")
    assert gadgets.namespaced and gadgets.name == "gadgets"
    gadgets.create(body={"apiVersion": "temp.xtrinode.io/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"any": "thing"}}, namespace=namespace)
    assert custom.get_namespaced_custom_object("temp.xtrinode.io", "v1", namespace, "gadgets", "g")["spec"] == {"any": "thing"}
    ext.delete_custom_resource_definition("gadgets.temp.xtrinode.io")

    def gone() -> bool:
        try:
            custom.list_namespaced_custom_object("temp.xtrinode.io", "v1", namespace, "gadgets")
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, "the resources of the deleted CRD answering 404", timeout=30)


def test_crd_with_mismatched_name_is_422(api_client: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    bad = {
        "metadata": {"name": "wrong.name.io"},
        "spec": {"group": "x.io", "scope": "Namespaced", "names": {"plural": "things", "kind": "Thing"}, "versions": [{"name": "v1", "served": True, "storage": True}]},
    }
    with pytest.raises(ApiException) as e:
        ext.create_custom_resource_definition(bad)
    assert e.value.status == 422
    assert json.loads(e.value.body)["details"]["causes"][0]["field"] == "metadata.name"


def test_crd_with_an_undecodable_schema_is_400(api_client: client.ApiClient) -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": "not-a-schema"}}}}
    crd = {
        "metadata": {"name": "brokens.x.io"},
        "spec": {"group": "x.io", "scope": "Namespaced", "names": {"plural": "brokens", "kind": "Broken"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}]},
    }
    crds = DynamicClient(api_client).resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    with pytest.raises(ApiException) as e:
        crds.create(body={"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", **crd})
    # Not even decodable: 400 BadRequest naming the Go field, before any validation.
    assert e.value.status == 400
    assert json.loads(e.value.body)["message"] == (
        'CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: json: cannot '
        "unmarshal string into Go struct field JSONSchemaProps.spec.versions.schema.openAPIV3Schema.properties"
        ".properties of type v1.JSONSchemaProps")
