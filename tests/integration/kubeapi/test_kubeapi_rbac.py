"""SubjectAccessReviews through the official client, answered from stored RBAC objects.

Checks denial without bindings, RoleBinding to a Role (namespace-scoped), ClusterRoleBinding,
group and service-account subjects, subresources and resourceNames, `system:masters`, and
LocalSubjectAccessReview.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def authz(api_client: client.ApiClient) -> client.AuthorizationV1Api:
    return client.AuthorizationV1Api(api_client)


@pytest.fixture
def rbac(api_client: client.ApiClient) -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(api_client)


def _can(authz: client.AuthorizationV1Api, user: str, groups: list[str] | None = None, **attrs: Any) -> bool:
    review = authz.create_subject_access_review({"spec": {"user": user, "groups": groups or [], "resourceAttributes": attrs}})
    return bool(review.status.allowed)


def _granted(authz: client.AuthorizationV1Api, user: str, groups: list[str] | None = None, **attrs: Any) -> bool:
    """`_can`, waiting up to 10 s for a just-created binding: kube-apiserver's RBAC authorizer reads them
    from a watch cache, so a binding counts a moment after it is stored (the emulator at once)."""
    deadline = time.monotonic() + 10
    while not (allowed := _can(authz, user, groups, **attrs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return allowed


def test_role_binding_allows_only_bound_verbs_in_its_namespace(authz: client.AuthorizationV1Api, rbac: client.RbacAuthorizationV1Api, namespace: str) -> None:
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": "editor"},
        "rules": [{"apiGroups": ["analytics.xtrinode.io"], "resources": ["xtrinodes", "xtrinodes/status"], "verbs": ["get", "update"]}],
    })
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "alice-edits"},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "editor"},
        "subjects": [{"kind": "User", "apiGroup": RBAC, "name": "alice"}],
    })
    attrs = {"namespace": namespace, "group": "analytics.xtrinode.io", "resource": "xtrinodes"}
    assert _granted(authz, "alice", verb="update", **attrs)
    assert _can(authz, "alice", verb="update", subresource="status", **attrs)
    assert not _can(authz, "alice", verb="delete", **attrs)
    assert not _can(authz, "alice", verb="update", subresource="valuesoverlay", **attrs)
    assert not _can(authz, "bob", verb="update", **attrs)
    assert not _can(authz, "alice", verb="update", **{**attrs, "namespace": "default"})


def test_cluster_role_binding_applies_everywhere_for_groups(authz: client.AuthorizationV1Api, rbac: client.RbacAuthorizationV1Api, namespace: str) -> None:
    rbac.create_cluster_role({"metadata": {"name": f"{namespace}-reader"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"], "resourceNames": ["public"]}]})
    rbac.create_cluster_role_binding({
        "metadata": {"name": f"{namespace}-readers"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": f"{namespace}-reader"},
        "subjects": [{"kind": "Group", "apiGroup": RBAC, "name": f"{namespace}-team"}],
    })
    assert _granted(authz, "carol", [f"{namespace}-team"], namespace="anywhere", verb="get", resource="configmaps", name="public")
    assert not _can(authz, "carol", [f"{namespace}-team"], namespace="anywhere", verb="get", resource="configmaps", name="private")
    assert not _can(authz, "carol", ["other"], namespace="anywhere", verb="get", resource="configmaps", name="public")


def test_service_account_subject_and_cluster_role_in_role_binding(authz: client.AuthorizationV1Api, rbac: client.RbacAuthorizationV1Api, namespace: str) -> None:
    rbac.create_cluster_role({"metadata": {"name": f"{namespace}-all"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "operator"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": f"{namespace}-all"},
        "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": namespace}],
    })
    sa = f"system:serviceaccount:{namespace}:op"
    assert _granted(authz, sa, namespace=namespace, verb="delete", group="apps", resource="deployments")
    assert not _can(authz, sa, namespace="default", verb="delete", group="apps", resource="deployments")


def test_system_masters_may_do_anything(authz: client.AuthorizationV1Api) -> None:
    assert _can(authz, "admin", ["system:masters"], verb="delete", resource="namespaces", name="kube-system")


def test_local_review_uses_the_url_namespace(authz: client.AuthorizationV1Api, rbac: client.RbacAuthorizationV1Api, namespace: str) -> None:
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "rb"},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "apiGroup": RBAC, "name": "dave"}],
    })
    assert _granted(authz, "dave", namespace=namespace, verb="list", resource="pods")
    review = authz.create_namespaced_local_subject_access_review(namespace, {
        "metadata": {"namespace": namespace},
        "spec": {"user": "dave", "resourceAttributes": {"namespace": namespace, "verb": "list", "resource": "pods"}},
    })
    assert review.status.allowed and "RoleBinding" in review.status.reason
