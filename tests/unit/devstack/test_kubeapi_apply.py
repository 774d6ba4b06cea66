"""Pure tests of server-side apply: field sets, FieldsV1 encoding, conflicts, force and removal.

Checks keyed-list and set elements, the `.` marker round trip, that an Update takes ownership of
what it changed, that apply removes only fields no other manager owns, and conflict reporting.
"""

from __future__ import annotations

import pytest

from devstack.kubeapi.apply import (
    ApplyConflict,
    builtin_list_type,
    decode_fields,
    encode_fields,
    field_set,
    server_side_apply,
    track_update,
)

NOW = "2026-01-01T00:00:00Z"


def _deploy(containers: list[dict], labels: dict[str, str] | None = None) -> dict:
    meta = {"name": "d", "labels": labels} if labels else {"name": "d"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {"template": {"spec": {"containers": containers}}}, "status": {"x": 1}}


def test_field_set_uses_keys_for_keyed_lists_and_skips_status() -> None:
    fields = field_set(_deploy([{"name": "app", "image": "i"}], {"a": "1"}), builtin_list_type)
    c = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}')
    assert fields == {("f:metadata", "f:labels", "f:a"), c, c + ("f:name",), c + ("f:image",)}


def test_fields_v1_round_trip_with_dot_marker() -> None:
    fields = field_set(_deploy([{"name": "app", "image": "i"}]), builtin_list_type)
    encoded = encode_fields(fields)
    item = encoded["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert item == {".": {}, "f:name": {}, "f:image": {}}
    assert decode_fields(encoded) == fields


def test_set_lists_use_value_elements() -> None:
    obj = {"metadata": {"name": "x", "finalizers": ["a", "b"]}}
    assert field_set(obj, builtin_list_type) == {("f:metadata", "f:finalizers", 'v:"a"'), ("f:metadata", "f:finalizers", 'v:"b"')}


def test_update_takes_ownership_of_changed_fields() -> None:
    first = {"metadata": {"name": "c", "managedFields": []}, "data": {"a": "1", "b": "1"}}
    first["metadata"]["managedFields"] = track_update(None, first, "one", builtin_list_type, api_version="v1", now=NOW)
    second = {"metadata": dict(first["metadata"]), "data": {"a": "1", "b": "2"}}
    managed = {e["manager"]: e["fieldsV1"] for e in track_update(first, second, "two", builtin_list_type, api_version="v1", now=NOW)}
    # "one" created the data map, so it owns the map itself too; "two" only changed a key.
    assert managed == {"one": {"f:data": {".": {}, "f:a": {}}}, "two": {"f:data": {"f:b": {}}}}


def _cm(**data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def test_apply_removes_fields_only_its_manager_owned() -> None:
    live = server_side_apply(_cm(), _cm(a="1", b="1"), "one", builtin_list_type, force=False, api_version="v1", now=NOW)
    live = server_side_apply(live, _cm(b="1", c="1"), "two", builtin_list_type, force=False, api_version="v1", now=NOW)
    live = server_side_apply(live, _cm(), "one", builtin_list_type, force=False, api_version="v1", now=NOW)
    assert live["data"] == {"b": "1", "c": "1"}, "b is still owned by two; a was only one's"


def test_conflict_names_manager_and_path_and_force_takes_over() -> None:
    live = server_side_apply(_cm(), _cm(a="1"), "one", builtin_list_type, force=False, api_version="v1", now=NOW)
    with pytest.raises(ApplyConflict) as e:
        server_side_apply(live, _cm(a="2"), "two", builtin_list_type, force=False, api_version="v1", now=NOW)
    assert str(e.value) == 'Apply failed with 1 conflict: conflict with "one": .data.a'
    forced = server_side_apply(live, _cm(a="2"), "two", builtin_list_type, force=True, api_version="v1", now=NOW)
    assert forced["data"] == {"a": "2"}
    assert [m["manager"] for m in forced["metadata"]["managedFields"]] == ["two"]


def test_apply_merges_keyed_list_items_of_two_managers() -> None:
    live = server_side_apply(_deploy([]), _deploy([{"name": "a", "image": "1"}]), "one", builtin_list_type, force=False, api_version="apps/v1", now=NOW)
    live = server_side_apply(live, _deploy([{"name": "b", "image": "2"}]), "two", builtin_list_type, force=False, api_version="apps/v1", now=NOW)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["a", "b"]
    live = server_side_apply(live, _deploy([]), "one", builtin_list_type, force=False, api_version="apps/v1", now=NOW)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["b"]
