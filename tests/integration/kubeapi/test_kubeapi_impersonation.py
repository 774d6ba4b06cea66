"""kubectl `--as`/`--as-group` against the emulator: the impersonated user is authorized by the RBAC
objects in the store, like the apiserver does, and `auth can-i` and `auth whoami` answer for that user.

Checks: Forbidden with the apiserver's wording without a binding; allowed through a RoleBinding to a
Role or a group's ClusterRoleBinding; `system:masters` may do anything; a subresource needs its own
rule; the cluster admin (no `--as`) is unaffected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.integration

RBAC_OBJECTS = """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: cm-reader, namespace: {ns}}}
rules:
- {{apiGroups: [""], resources: [configmaps], verbs: [get, list]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: alice-reads, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}}
"""


def test_kubectl_as_a_user_is_authorized_by_roles_and_bindings(kubectl: Callable[..., Any], namespace: str) -> None:
    kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=a=b")
    refused = kubectl("get", "configmaps", "-n", namespace, "--as", "alice", check=False)
    assert refused.returncode == 1
    assert (f'Error from server (Forbidden): configmaps is forbidden: User "alice" cannot list resource "configmaps" '
            f'in API group "" in the namespace "{namespace}"') in refused.stderr

    kubectl("apply", "-f", "-", input=RBAC_OBJECTS.format(ns=namespace))
    assert "cfg" in kubectl("get", "configmaps", "-n", namespace, "--as", "alice").stdout
    write = kubectl("delete", "configmap", "cfg", "-n", namespace, "--as", "alice", check=False)
    assert write.returncode == 1 and 'cannot delete resource "configmaps"' in write.stderr
    assert kubectl("auth", "can-i", "list", "configmaps", "-n", namespace, "--as", "alice").stdout.strip() == "yes"
    no = kubectl("auth", "can-i", "delete", "configmaps", "-n", namespace, "--as", "alice", check=False)
    assert no.stdout.strip() == "no"
    assert kubectl("get", "configmaps", "-n", namespace, "--as", "bob", check=False).returncode == 1
    whoami = json.loads(kubectl("auth", "whoami", "--as", "alice", "--as-group", "analysts", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == "alice"
    assert set(whoami["status"]["userInfo"]["groups"]) == {"analysts", "system:authenticated"}
    # The admin is unchanged, and system:masters is all-powerful for impersonated users too.
    kubectl("delete", "configmap", "cfg", "-n", namespace, "--as", "root", "--as-group", "system:masters")
    kubectl("get", "configmaps", "-n", namespace)


def test_a_subresource_needs_its_own_rule(kubectl: Callable[..., Any], namespace: str) -> None:
    kubectl("apply", "-f", "-", input=f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {namespace}-scaler}}
rules:
- {{apiGroups: [apps], resources: [deployments], verbs: [get]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {namespace}-scalers}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {namespace}-scaler}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: {namespace}-ops}}
""")
    yes = kubectl("auth", "can-i", "get", "deployments", "-n", namespace, "--as", "carol", "--as-group", f"{namespace}-ops")
    assert yes.stdout.strip() == "yes"
    no = kubectl("auth", "can-i", "patch", "deployments", "--subresource=scale", "-n", namespace, "--as", "carol",
                 "--as-group", f"{namespace}-ops", check=False)
    assert no.stdout.strip() == "no"
