"""Pure tests of the emulator's patch functions: RFC 6902, RFC 7386 and strategic merge patch.

Checks every JSON patch op and its failures, merge-patch null deletion and whole-list replacement,
and SMP merge keys (containers, env, container vs service ports), directives and set lists.
"""

from __future__ import annotations

import pytest

from devstack.kubeapi.patch import PatchError, json_patch, merge_key, merge_patch, strategic_merge_patch


def test_json_patch_supports_all_operations() -> None:
    doc = {"a": {"b": 1}, "l": [1, 2]}
    out = json_patch(doc, [
        {"op": "add", "path": "/a/c", "value": 2},
        {"op": "add", "path": "/l/-", "value": 3},
        {"op": "add", "path": "/l/0", "value": 0},
        {"op": "replace", "path": "/a/b", "value": 10},
        {"op": "copy", "from": "/a/b", "path": "/x"},
        {"op": "move", "from": "/a/c", "path": "/y"},
        {"op": "remove", "path": "/l/1"},
        {"op": "test", "path": "/x", "value": 10},
        {"op": "add", "path": "/k~1s", "value": "slash"},
    ])
    assert out == {"a": {"b": 10}, "l": [0, 2, 3], "x": 10, "y": 2, "k/s": "slash"}
    assert doc == {"a": {"b": 1}, "l": [1, 2]}, "the input must not be mutated"


@pytest.mark.parametrize("ops", [
    [{"op": "remove", "path": "/missing"}],
    [{"op": "replace", "path": "/missing", "value": 1}],
    [{"op": "test", "path": "/a", "value": 2}],
    [{"op": "add", "path": "/l/9", "value": 1}],
    [{"op": "add", "path": "no-slash", "value": 1}],
    [{"op": "bogus", "path": "/a"}],
    {"op": "add"},
])
def test_json_patch_failures_raise(ops: object) -> None:
    with pytest.raises(PatchError):
        json_patch({"a": 1, "l": []}, ops)


def test_merge_patch_deletes_nulls_and_replaces_lists() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2], "keep": True}
    assert merge_patch(target, {"a": {"b": None, "d": 3}, "l": [9]}) == {"a": {"c": 2, "d": 3}, "l": [9], "keep": True}


def test_merge_keys_depend_on_where_ports_sit() -> None:
    assert merge_key(("spec", "template", "spec", "containers", "ports")) == "containerPort"
    assert merge_key(("spec", "ports")) == "port"
    assert merge_key(("spec", "template", "spec", "containers", "volumeMounts")) == "mountPath"
    assert merge_key(("spec", "containers", "args")) is None


def _pod(containers: list[dict]) -> dict:
    return {"spec": {"containers": containers}}


def test_strategic_merge_merges_containers_and_env_by_name() -> None:
    live = _pod([{"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}], "args": ["x"]}, {"name": "side", "image": "s"}])
    patch = _pod([{"name": "app", "image": "a:2", "env": [{"name": "B", "value": "2"}], "args": ["y"]}])
    out = strategic_merge_patch(live, patch)
    app = out["spec"]["containers"][0]
    assert app["image"] == "a:2" and app["args"] == ["y"]
    assert app["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]  # new items lead, as the apiserver merges
    assert out["spec"]["containers"][1]["name"] == "side"


def test_strategic_merge_directives() -> None:
    live = {"spec": {"containers": [{"name": "a"}, {"name": "b"}], "selector": {"x": "1", "y": "2"}}, "metadata": {"finalizers": ["f1"]}}
    out = strategic_merge_patch(live, {
        "spec": {
            "containers": [{"name": "a", "$patch": "delete"}, {"name": "c"}],
            "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}],
            "selector": {"$patch": "replace", "z": "3"},
        },
        "metadata": {"finalizers": ["f2", "f1"], "$deleteFromPrimitiveList/finalizers": ["f1"]},
    })
    assert [c["name"] for c in out["spec"]["containers"]] == ["c", "b"]
    assert out["spec"]["selector"] == {"z": "3"}
    assert out["metadata"]["finalizers"] == ["f2"]
    assert "$setElementOrder/containers" not in out["spec"]


def test_strategic_merge_retain_keys_and_map_delete() -> None:
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "extra": {"a": 1}}}
    out = strategic_merge_patch(live, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}, "extra": {"$patch": "delete"}}})
    assert out == {"spec": {"strategy": {"type": "Recreate"}}}


def test_strategic_merge_keyed_list_needs_the_key() -> None:
    with pytest.raises(PatchError, match="merge key 'name'"):
        strategic_merge_patch(_pod([{"name": "a"}]), _pod([{"image": "x"}]))
