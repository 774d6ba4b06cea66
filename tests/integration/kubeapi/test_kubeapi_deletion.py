"""Deletion through the official client: finalizers, owner cascades, policies and namespaces.

Checks that a finalizer keeps the object (deletionTimestamp set) until removed, that no finalizer
may be added while deleting, background cascade by ownerReference uid, Orphan and Foreground
policies, deletecollection with selectors, and namespace deletion removing its contents. The
emulator cascades at once; kube-controller-manager's garbage collector and namespace controller
a moment later, so the tests wait for the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kube_fixtures import namespace_name


def _exists(read: Callable[[], Any]) -> bool:
    try:
        read()
        return True
    except ApiException as e:
        assert e.status == 404
        return False


def test_finalizer_blocks_deletion_until_removed(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "f", "finalizers": ["example.com/keep"]}})
    answer = core.delete_namespaced_config_map("f", namespace)
    assert answer["metadata"]["deletionTimestamp"]
    held = core.read_namespaced_config_map("f", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["example.com/keep"]
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("f", namespace, {"metadata": {"finalizers": ["example.com/keep", "other/new"]}})
    assert e.value.status == 422
    core.patch_namespaced_config_map("f", namespace, [{"op": "remove", "path": "/metadata/finalizers"}])
    assert not _exists(lambda: core.read_namespaced_config_map("f", namespace))


def test_owner_deletion_removes_dependents_by_uid(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, widgets: str, namespace: str, wait_for: Callable[..., Any],
) -> None:
    owner = custom.create_namespaced_custom_object(
        widgets, "v1", namespace, "widgets",
        {"apiVersion": f"{widgets}/v1", "kind": "Widget", "metadata": {"name": "owner"}, "spec": {"color": "red"}},
    )
    ref = {"apiVersion": f"{widgets}/v1", "kind": "Widget", "name": "owner", "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    grandchild_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "child", "uid": core.read_namespaced_config_map("child", namespace).metadata.uid}
    core.create_namespaced_secret(namespace, {"metadata": {"name": "grandchild", "ownerReferences": [grandchild_ref]}})
    stranger_ref = {**ref, "uid": "00000000-0000-0000-0000-000000000000", "name": "owner", "controller": False}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "same-name-other-uid", "ownerReferences": [stranger_ref, ref]}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "unrelated"}})

    custom.delete_namespaced_custom_object(widgets, "v1", namespace, "widgets", "owner")

    wait_for(lambda: sorted(i.metadata.name for i in core.list_namespaced_config_map(namespace).items) == ["unrelated"],
             "only the unrelated ConfigMap left", timeout=30)
    wait_for(lambda: not _exists(lambda: core.read_namespaced_secret("grandchild", namespace)), "the grandchild gone",
             timeout=30)


def test_only_one_owner_reference_may_be_the_controller(core: client.CoreV1Api, namespace: str) -> None:
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": n, "uid": f"00000000-0000-0000-0000-00000000000{i}",
             "controller": True} for i, n in enumerate(("a", "b"))]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "two-controllers", "ownerReferences": refs}})
    assert e.value.status == 422
    cause = json.loads(e.value.body)["details"]["causes"][0]
    assert cause["field"] == "metadata.ownerReferences"
    assert 'Only one reference can have Controller set to true. Found "true" in references for ConfigMap/a and ' \
        "ConfigMap/b" in cause["message"]


def test_orphan_policy_keeps_dependents_and_strips_owner_refs(
    core: client.CoreV1Api, namespace: str, wait_for: Callable[..., Any],
) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "o"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "d", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("o", namespace, propagation_policy="Orphan")
    wait_for(lambda: not _exists(lambda: core.read_namespaced_config_map("o", namespace)), "the owner gone", timeout=30)
    kept = core.read_namespaced_config_map("d", namespace)
    assert not kept.metadata.owner_references


def test_foreground_policy_waits_for_blocking_dependents(
    core: client.CoreV1Api, namespace: str, wait_for: Callable[..., Any],
) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "fo"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "fo", "uid": owner.metadata.uid, "blockOwnerDeletion": True}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "fd", "ownerReferences": [ref], "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("fo", namespace, propagation_policy="Foreground")
    waiting = core.read_namespaced_config_map("fo", namespace)
    assert waiting.metadata.finalizers == ["foregroundDeletion"]
    wait_for(lambda: core.read_namespaced_config_map("fd", namespace).metadata.deletion_timestamp is not None,
             "the blocking dependent being deleted", timeout=30)
    assert _exists(lambda: core.read_namespaced_config_map("fo", namespace)), "the owner waits for its dependent"
    core.patch_namespaced_config_map("fd", namespace, {"metadata": {"finalizers": None}})
    wait_for(lambda: not _exists(lambda: core.read_namespaced_config_map("fo", namespace)), "the owner gone", timeout=30)


def test_delete_returns_status_for_most_kinds_and_object_for_pods_and_services(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "s"}})
    assert core.delete_namespaced_config_map("s", namespace)["kind"] == "Status"
    core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert isinstance(core.delete_namespaced_pod("p", namespace), client.V1Pod)
    core.create_namespaced_service(namespace, {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}})
    deleted = core.delete_namespaced_service("svc", namespace)
    assert isinstance(deleted, client.V1Service) and deleted.metadata.name == "svc", "typed delete gets the Service"
    with pytest.raises(ApiException) as e:
        core.delete_namespaced_config_map("s", namespace)
    assert e.value.status == 404


def test_delete_collection_honours_label_selector(core: client.CoreV1Api, namespace: str) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": {"tier": tier}}})
    core.delete_collection_namespaced_config_map(namespace, label_selector="tier=x")
    assert [i.metadata.name for i in core.list_namespaced_config_map(namespace).items] == ["c"]


def test_namespace_deletion_removes_contents_then_namespace(
    core: client.CoreV1Api, apps: client.AppsV1Api, request: pytest.FixtureRequest, wait_for: Callable[..., Any],
) -> None:
    doomed = namespace_name(request, "doomed-")
    core.create_namespace({"metadata": {"name": doomed}})
    core.create_namespaced_config_map(doomed, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    core.create_namespaced_secret(doomed, {"metadata": {"name": "s"}})
    core.delete_namespace(doomed)
    ns = core.read_namespace(doomed)
    assert ns.status.phase == "Terminating"
    wait_for(lambda: [s.metadata.name for s in core.list_namespaced_secret(doomed).items] == [],
             "the namespace's Secret gone", timeout=30)
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(doomed, {"metadata": {"name": "late"}})
    assert e.value.status == 403
    assert "being terminated" in json.loads(e.value.body)["message"]
    core.patch_namespaced_config_map("held", doomed, {"metadata": {"finalizers": None}})
    wait_for(lambda: not _exists(lambda: core.read_namespace(doomed)), "the namespace gone", timeout=30)
