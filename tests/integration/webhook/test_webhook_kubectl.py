"""kubectl against the emulator with the webhook registered, as a user meets admission: refusals and
warnings printed with the rule's message; the valuesOverlay gate driven by ordinary RBAC and `--as`.

Checks: an overlay that turns off Trino's HTTP listener and a catalog with a literal password are
refused (and nothing is stored, no ConfigMap); the seed's PASSWORD overlay without control credentials
is refused; a runtime created suspended is stored with kubectl's `Warning:` line; a user bound to a Role
with `update xtrinodes/valuesoverlay` may create and change an overlay, one without it is refused with
the permission named (CREATE and UPDATE) but may create a runtime without one.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from .conftest import Kubectl, Webhook

pytestmark = pytest.mark.integration

HTTP_OFF = """apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {{name: {name}, namespace: {ns}}}
spec:
  size: xs
  valuesOverlay:
    trino:
      config: {{http-server.http.enabled: "false"}}
"""
LITERAL_PASSWORD_MANIFEST = """apiVersion: analytics.xtrinode.io/v1
kind: XTrinodeCatalog
metadata: {{name: orders, namespace: {ns}}}
spec:
  connector:
    postgres:
      connectionURL: jdbc:postgresql://orders:5432/orders
      properties: {{connection-password: hunter2}}
"""
SEED_PASSWORD_MANIFEST = """apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {{name: secured, namespace: {ns}}}
spec:
  size: xs
  valuesOverlay:
    server: {{config: {{authenticationType: PASSWORD}}}}
    auth: {{passwordAuthSecret: trino-passwords, groupsAuthSecret: trino-groups}}
"""
SUSPENDED = """apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {{name: {name}, namespace: {ns}}}
spec: {{size: xs, suspended: true}}
"""
WITH_OVERLAY = """apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {{name: {name}, namespace: {ns}}}
spec:
  size: xs
  valuesOverlay: {{image: {{tag: "480"}}}}
"""
RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: xtrinode-editor, namespace: {ns}}}
rules:
- {{apiGroups: [analytics.xtrinode.io], resources: [xtrinodes], verbs: [get, list, create, update, patch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: xtrinode-valuesoverlay-editor, namespace: {ns}}}
rules:
- {{apiGroups: [analytics.xtrinode.io], resources: [xtrinodes/valuesoverlay], verbs: [update]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: editors, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: xtrinode-editor}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}}
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: overlay-editors, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: xtrinode-valuesoverlay-editor}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: platform-team}}
"""
DENIED = 'Error from server (Forbidden): error when creating "STDIN": admission webhook "{hook}" denied the request: '


def test_kubectl_shows_refusals_with_the_rules_message_and_nothing_is_stored(
    webhook: Webhook, kubectl: Kubectl, namespace: str, core: client.CoreV1Api
) -> None:
    refused = kubectl("apply", "-f", "-", input=HTTP_OFF.format(name="no-http", ns=namespace), check=False)
    assert refused.returncode == 1
    assert DENIED.format(hook="xtrinodes.analytics.xtrinode.io") in refused.stderr
    assert "turns off Trino's HTTP server (http-server.http.enabled)" in refused.stderr
    assert kubectl("get", "xtrinode", "no-http", "-n", namespace, check=False).returncode == 1

    refused = kubectl("apply", "-f", "-", input=LITERAL_PASSWORD_MANIFEST.format(ns=namespace), check=False)
    assert refused.returncode == 1
    assert DENIED.format(hook="xtrinodecatalogs.analytics.xtrinode.io") in refused.stderr
    assert "'connection-password' looks like a secret" in refused.stderr and "hunter2" not in refused.stderr
    assert not core.list_namespaced_config_map(namespace).items

    refused = kubectl("apply", "-f", "-", input=SEED_PASSWORD_MANIFEST.format(ns=namespace), check=False)
    assert refused.returncode == 1 and "spec.trinoControlAuth.passwordSecret: is not set" in refused.stderr


def test_kubectl_prints_the_warnings_of_an_allowed_change(webhook: Webhook, kubectl: Kubectl, namespace: str) -> None:
    created = kubectl("apply", "-f", "-", input=SUSPENDED.format(name="sleeper", ns=namespace))
    assert "xtrinode.analytics.xtrinode.io/sleeper created" in created.stdout
    assert "Warning: spec.suspended: true: created suspended, no compute runs until it is resumed" in created.stderr


def test_the_overlay_gate_follows_rbac_for_kubectl_as(webhook: Webhook, kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=RBAC.format(ns=namespace))
    allowed = kubectl("create", "-f", "-", "--as", "alice", "--as-group", "platform-team",
                      input=WITH_OVERLAY.format(name="tuned", ns=namespace))
    assert "tuned created" in allowed.stdout and "Warning: spec.valuesOverlay: set" in allowed.stderr

    refused = kubectl("create", "-f", "-", "--as", "bob", input=WITH_OVERLAY.format(name="bobs", ns=namespace),
                      check=False)
    assert refused.returncode == 1
    assert DENIED.format(hook="xtrinodes.analytics.xtrinode.io") in refused.stderr
    assert "needs permission `update xtrinodes/valuesoverlay`, and user 'bob' does not have it" in refused.stderr
    assert "xtrinodes/valuesoverlay" in refused.stderr and f"a Role in namespace '{namespace}'" in refused.stderr
    kubectl("create", "-f", "-", "--as", "bob", input=SUSPENDED.format(name="bobs", ns=namespace))

    patch = '{"spec": {"valuesOverlay": {"image": {"tag": "481"}}}}'
    refused = kubectl("patch", "xtrinode", "tuned", "-n", namespace, "--type", "merge", "-p", patch, "--as", "bob",
                      check=False)
    assert refused.returncode == 1 and "user 'bob' does not have it" in refused.stderr
    kubectl("patch", "xtrinode", "tuned", "-n", namespace, "--type", "merge", "-p", patch, "--as", "alice",
            "--as-group", "platform-team")
    assert kubectl("get", "xtrinode", "tuned", "-n", namespace, "-o",
                   "jsonpath={.spec.valuesOverlay.image.tag}").stdout == "481"
