"""SubjectAccessReview answered from stored Roles, ClusterRoles and their bindings.

Users, groups and service accounts as subjects; `system:masters` may do everything. Nothing is stored.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import bad_request
from .store import Store

JsonDict = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"


def _subject_matches(subject: JsonDict, user: str, groups: list[str], binding_ns: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        return user == f"system:serviceaccount:{subject.get('namespace') or binding_ns}:{name}"
    return False


def _matches(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def _resource_rule_allows(rule: JsonDict, attrs: JsonDict) -> bool:
    if not _matches(rule.get("verbs"), attrs.get("verb", "")):
        return False
    if not _matches(rule.get("apiGroups"), attrs.get("group", "")):
        return False
    resource = attrs.get("resource", "")
    sub = attrs.get("subresource", "")
    full = f"{resource}/{sub}" if sub else resource
    resources = rule.get("resources") or []
    if not ("*" in resources or full in resources or (sub and f"*/{sub}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.get("name", "") in names


def _non_resource_rule_allows(rule: JsonDict, attrs: JsonDict) -> bool:
    if not _matches(rule.get("verbs"), attrs.get("verb", "")):
        return False
    path = attrs.get("path", "")
    for url in rule.get("nonResourceURLs") or ():
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def _rules_of(store: Store, ref: JsonDict, namespace: str) -> list[JsonDict]:
    if ref.get("kind") == "ClusterRole":
        role = store.get((RBAC, "clusterroles"), "", ref.get("name", ""))
    else:
        role = store.get((RBAC, "roles"), namespace, ref.get("name", ""))
    return list((role or {}).get("rules") or [])


def authorize(store: Store, user: str, groups: list[str], attrs: JsonDict, non_resource: bool) -> tuple[bool, str]:
    """Whether the subject may do it, and a reason naming the binding that allowed it."""
    if "system:masters" in groups:
        return True, "allowed by membership in group system:masters"
    namespace = attrs.get("namespace", "") if not non_resource else ""
    check = _non_resource_rule_allows if non_resource else _resource_rule_allows
    for binding in store.objects((RBAC, "clusterrolebindings")):
        if any(_subject_matches(s, user, groups, "") for s in binding.get("subjects") or ()):
            if any(check(rule, attrs) for rule in _rules_of(store, binding.get("roleRef") or {}, "")):
                return True, f'RBAC: allowed by ClusterRoleBinding "{binding["metadata"]["name"]}"'
    if namespace and not non_resource:
        for binding in store.objects((RBAC, "rolebindings"), namespace):
            if any(_subject_matches(s, user, groups, namespace) for s in binding.get("subjects") or ()):
                if any(check(rule, attrs) for rule in _rules_of(store, binding.get("roleRef") or {}, namespace)):
                    return True, f'RBAC: allowed by RoleBinding "{binding["metadata"]["name"]}/{namespace}"'
    return False, ""


def review(store: Store, body: Any, kind: str, namespace: str = "", self_user: tuple[str, list[str]] | None = None) -> JsonDict:
    """Answer a (Local|Self)SubjectAccessReview: the request echoed with `status` filled in."""
    if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
        raise bad_request(f"a {kind} needs a spec with resourceAttributes or nonResourceAttributes")
    out = copy.deepcopy(body)
    spec = out["spec"]
    resource_attrs = spec.get("resourceAttributes")
    non_resource_attrs = spec.get("nonResourceAttributes")
    if not isinstance(resource_attrs or {}, dict) or not isinstance(non_resource_attrs or {}, dict):
        raise bad_request(f"{kind}.spec.resourceAttributes and nonResourceAttributes must be maps")
    if bool(resource_attrs) == bool(non_resource_attrs):
        raise bad_request(f"{kind}.spec must have exactly one of resourceAttributes or nonResourceAttributes")
    if self_user is not None:
        user, groups = self_user
    else:
        user, groups = spec.get("user", ""), list(spec.get("groups") or [])
        if not user and not groups:
            raise bad_request(f"{kind}.spec needs a user or groups to check")
    attrs = dict(resource_attrs or non_resource_attrs)
    if kind == "LocalSubjectAccessReview":
        attrs["namespace"] = namespace
    allowed, reason = authorize(store, user, groups, attrs, non_resource=bool(non_resource_attrs))
    out["apiVersion"] = "authorization.k8s.io/v1"
    out["kind"] = kind
    out["metadata"] = {**(out.get("metadata") or {}), "creationTimestamp": None}
    out["status"] = {"allowed": allowed}
    if reason:
        out["status"]["reason"] = reason
    return out
