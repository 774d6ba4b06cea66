"""Pure tests of CRD structural-schema handling: defaults, pruning and validation causes.

Checks type errors with the apiserver's wording, enums, required, numeric bounds, string rules,
array and object limits, nullable, int-or-string, preserve-unknown-fields, additionalProperties,
defaults (nested), pruning with reported paths, and list types for server-side apply.
"""

from __future__ import annotations

from typing import Any

from devstack.kubeapi.schema import list_type, process

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "string", "enum": ["s", "m"]},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 5, "default": 1},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5, "minLength": 2},
                "quantity": {"x-kubernetes-int-or-string": True},
                "items": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {"k": {"type": "string", "default": "d"}}}},
                "labels": {"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "maybe": {"type": "string", "nullable": True},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def _spec(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x", "anything": 1}, "spec": {"size": "s", **spec}}


def _fields(**spec: Any) -> list[tuple[str, str]]:
    return [(c["field"], c["reason"]) for c in process(_spec(**spec), SCHEMA).causes]


def test_valid_object_gets_defaults_and_keeps_metadata() -> None:
    out = process(_spec(items=[{}]), SCHEMA)
    assert out.causes == [] and out.unknown == []
    assert out.obj["spec"]["replicas"] == 1 and out.obj["spec"]["items"] == [{"k": "d"}]
    assert out.obj["metadata"] == {"name": "x", "anything": 1}


def test_type_error_message_matches_the_apiserver() -> None:
    cause = process(_spec(replicas="3"), SCHEMA).causes[0]
    assert cause == {  # as kube-apiserver v1.37 answers: the invalid value shown is the value's type
        "reason": "FieldValueTypeInvalid",
        "message": 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        "field": "spec.replicas",
    }


def test_each_rule_names_its_field() -> None:
    assert _fields(size="xl") == [("spec.size", "FieldValueNotSupported")]
    assert _fields(replicas=6) == [("spec.replicas", "FieldValueInvalid")]
    assert _fields(replicas=-1) == [("spec.replicas", "FieldValueInvalid")]
    assert _fields(ratio=0) == [("spec.ratio", "FieldValueInvalid")]
    assert _fields(name="ABC") == [("spec.name", "FieldValueInvalid")]
    assert _fields(name="abcdef") == [("spec.name", "FieldValueTooLong")]
    assert _fields(items=[{}, {}, {}]) == [("spec.items", "FieldValueTooMany")]
    assert _fields(labels={"a": "1", "b": "2", "c": "3"}) == [("spec.labels", "FieldValueInvalid")]
    assert _fields(labels={"a": 1}) == [("spec.labels.a", "FieldValueTypeInvalid")]
    assert _fields(items=[{"k": 5}]) == [("spec.items[0].k", "FieldValueTypeInvalid")]
    assert _fields(tags=["a", "a"]) == [("spec.tags[1]", "FieldValueDuplicate")]
    assert _fields(maybe=None) == []
    assert _fields(name=None) == []  # a null where the schema is not nullable is pruned, not refused


def test_required_field_missing() -> None:
    obj = {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {}}
    assert [(c["field"], c["message"]) for c in process(obj, SCHEMA).causes] == [("spec.size", "Required value")]


def test_int_or_string_accepts_both_only() -> None:
    assert _fields(quantity=3) == [] and _fields(quantity="3Gi") == []
    assert _fields(quantity=1.5) == [("spec.quantity", "FieldValueTypeInvalid")]
    assert _fields(quantity=True) == [("spec.quantity", "FieldValueTypeInvalid")]
    assert process(_spec(quantity=1.5), SCHEMA).causes[0]["message"] == (
        'Invalid value: "number": spec.quantity in body must be of type integer,string: "number"')


def test_unknown_fields_are_pruned_and_reported_unless_preserved() -> None:
    out = process(_spec(bogus=1, free={"x": {"y": 1}}, items=[{"k": "a", "zz": 1}]) | {"top": 1, "status": {"any": 1}}, SCHEMA)
    assert sorted(out.unknown) == ["spec.bogus", "spec.items[0].zz", "top"]
    assert "bogus" not in out.obj["spec"] and "top" not in out.obj
    assert out.obj["spec"]["free"] == {"x": {"y": 1}} and out.obj["status"] == {"any": 1}


def test_list_types_for_server_side_apply() -> None:
    assert list_type(SCHEMA, ("spec", "ports")) == ("map", ("name",))
    assert list_type(SCHEMA, ("spec", "tags")) == ("set", ())
    assert list_type(SCHEMA, ("spec", "items")) == ("atomic", ())
    assert list_type(SCHEMA, ("spec", "nowhere")) == ("atomic", ())
