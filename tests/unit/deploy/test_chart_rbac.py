"""The chart's RBAC is exactly what the code calls (tests/unit/deploy/kube_calls.py reads the calls).

Checks: for every ServiceAccount of the chart, with runtimes in every namespace (ClusterRoles) and in
listed namespaces (Roles there), the permissions granted in each scope (cluster, each runtime namespace,
the system and gateway namespaces) equal the permissions its process's code needs: nothing missing,
nothing extra. Secrets: the gateway and the API server may read none; the operator and worker only in
the runtimes' namespaces. The analysis itself finds the calls it must (it is not vacuous).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from chart_testkit import render_set, values_of
from kube_calls import Permission, component_permissions, describe

SERVICE_ACCOUNTS = {"operator": "xtrinode-operator", "worker": "xtrinode-worker", "api-server": "xtrinode-api-server",
                    "gateway": "xtrinode-gateway"}


def _granted(docs: list[dict[str, Any]], account: str) -> dict[str, set[tuple[str, str, str, str | None]]]:
    """Scope (`cluster` or a namespace) -> (group, resource, verb, resourceName) the account is granted."""
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs
             if d["kind"] in ("Role", "ClusterRole")}
    out: dict[str, set[tuple[str, str, str, str | None]]] = defaultdict(set)
    for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if not any(s["kind"] == "ServiceAccount" and s["name"] == account for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace")
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
        scope = "cluster" if binding["kind"] == "ClusterRoleBinding" else namespace
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames") or [None]:
                            assert "*" not in (group, resource, verb), f"{role['metadata']['name']}: wildcard"
                            out[scope].add((group, resource, verb, name))
    return out


def _needed(component: str, value_set: str) -> dict[str, set[tuple[str, str, str, str | None]]]:
    values = values_of(value_set)
    namespaces = {"system": "xtrinode-system", "gateway": "xtrinode-gateway", **values.get("namespaces", {})}
    runtime_namespaces = values.get("runtimeNamespaces") or []
    out: dict[str, set[tuple[str, str, str, str | None]]] = defaultdict(set)
    for p in component_permissions(component):
        key = (p.group, p.resource, p.verb, p.name)
        if p.scope == "cluster":
            out["cluster"].add(key)
        elif p.scope == "runtime":
            for scope in runtime_namespaces or ["cluster"]:
                out[scope].add(key)
        else:
            out[namespaces[p.scope]].add(key)
    return {scope: keys for scope, keys in out.items() if keys}


def _show(keys: set[tuple[str, str, str, str | None]]) -> list[str]:
    return [f"{verb} {group or 'core'}/{resource}{'/' + name if name else ''}" for group, resource, verb, name in sorted(keys)]


@pytest.mark.parametrize("value_set", ["default", "restricted", "production"])
@pytest.mark.parametrize("component", list(SERVICE_ACCOUNTS))
def test_each_service_account_is_granted_exactly_what_its_code_calls(component: str, value_set: str) -> None:
    granted = _granted(render_set(value_set), SERVICE_ACCOUNTS[component])
    needed = _needed(component, value_set)
    for scope in sorted(set(granted) | set(needed)):
        missing, extra = needed.get(scope, set()) - granted.get(scope, set()), granted.get(scope, set()) - needed.get(scope, set())
        assert not missing and not extra, (
            f"{component} in {scope}: the code needs but the chart lacks {_show(missing)}; "
            f"the chart grants but no code calls {_show(extra)}")


@pytest.mark.parametrize("value_set", ["default", "restricted"])
def test_secrets_are_readable_only_where_the_code_reads_them(value_set: str) -> None:
    docs = render_set(value_set)
    runtime_namespaces = values_of(value_set).get("runtimeNamespaces") or []
    for component, account in SERVICE_ACCOUNTS.items():
        granted = _granted(docs, account)
        secret_scopes = {scope for scope, keys in granted.items() for k in keys if k[1] == "secrets"}
        if component in ("gateway", "api-server"):
            assert not secret_scopes, f"the {component} reads no Secret through the API (they are mounted)"
        else:
            assert secret_scopes == (set(runtime_namespaces) or {"cluster"}), (component, secret_scopes)


def test_the_analysis_finds_the_calls_it_must() -> None:
    worker = component_permissions("worker")
    assert Permission("runtime", "", "secrets", "get") in worker
    assert Permission("runtime", "apps", "deployments/scale", "patch") in worker
    assert Permission("runtime", "apps", "deployments", "watch") in worker, "the Deployment informer"
    assert Permission("gateway", "", "configmaps", "update", "trino-gateway-routes") in worker
    assert Permission("runtime", "networking.k8s.io", "networkpolicies", "create") in worker, "apply creates"
    operator = component_permissions("operator")
    assert Permission("runtime", "analytics.xtrinode.io", "xtrinodecatalogs", "watch") in operator
    assert Permission("system", "coordination.k8s.io", "leases", "update", "xtrinode-operator") in operator
    assert Permission("cluster", "authorization.k8s.io", "subjectaccessreviews", "create") in operator
    assert describe(component_permissions("gateway")) == [
        "gateway: list core/configmaps/trino-gateway-routes", "gateway: watch core/configmaps/trino-gateway-routes"]
