"""Admission enforced in the devstack, as a user meets it with kubectl after `make demo`.

Checks: `dev up` registered the webhook (failurePolicy Fail, sideEffects None, matchPolicy Equivalent)
and its own demo runtime passed it; an overlay that turns off Trino's HTTP listener and a catalog with a
literal password are refused with the rule's message; a runtime created suspended gets kubectl's
`Warning:` line; `kubectl --as` a user bound to a Role with `update xtrinodes/valuesoverlay` may create an
overlay, a user without it is refused naming the permission. The outputs land in the artifacts dir.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from devstack_helpers import start_demo

HTTP_OFF = """.venv/bin/kubectl apply -f - <<'EOF'
apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {name: no-http, namespace: analytics}
spec:
  size: xs
  valuesOverlay:
    additionalConfigProperties: [http-server.http.enabled=false]
EOF"""
LITERAL_PASSWORD_COMMAND = """.venv/bin/kubectl apply -f - <<'EOF'
apiVersion: analytics.xtrinode.io/v1
kind: XTrinodeCatalog
metadata: {name: orders, namespace: analytics}
spec:
  connector:
    postgres:
      connectionURL: jdbc:postgresql://orders:5432/orders
      properties: {connection-password: hunter2}
EOF"""
SUSPENDED = """.venv/bin/kubectl apply -f - <<'EOF'
apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {name: sleeper, namespace: analytics}
spec: {size: xs, suspended: true}
EOF"""
RBAC = """.venv/bin/kubectl apply -f - <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: xtrinode-editor, namespace: analytics}
rules:
- {apiGroups: [analytics.xtrinode.io], resources: [xtrinodes], verbs: [get, list, create, update, patch]}
- {apiGroups: [analytics.xtrinode.io], resources: [xtrinodes/valuesoverlay], verbs: [update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: runtime-editor, namespace: analytics}
rules:
- {apiGroups: [analytics.xtrinode.io], resources: [xtrinodes], verbs: [get, list, create, update, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice, namespace: analytics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: xtrinode-editor}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob, namespace: analytics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: runtime-editor}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
EOF"""
OVERLAY = """.venv/bin/kubectl create --as {user} -f - <<'EOF'
apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {{name: tuned-{user}, namespace: analytics}}
spec:
  size: xs
  suspended: true
  valuesOverlay: {{image: {{tag: "480"}}}}
EOF"""


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(360)
def test_dev_up_enforces_admission_for_kubectl(tmp_path: Path, artifacts_dir: Path) -> None:
    stack = start_demo(tmp_path / "state")
    transcript: list[str] = []
    try:
        config = json.loads(stack.sh(".venv/bin/kubectl get validatingwebhookconfiguration xtrinode -o json"))
        hooks = {h["name"]: h for h in config["webhooks"]}
        assert set(hooks) == {"xtrinodes.analytics.xtrinode.io", "xtrinodecatalogs.analytics.xtrinode.io"}
        for hook in hooks.values():
            assert (hook["failurePolicy"], hook["sideEffects"], hook["matchPolicy"]) == ("Fail", "None", "Equivalent")
            assert hook["clientConfig"]["url"].startswith("https://127.0.0.1:") and hook["clientConfig"]["caBundle"]
        assert stack.phase("analytics", "demo") == "Ready"  # dev up's own runtime went through admission

        for command, fragments in (
            (HTTP_OFF, ['admission webhook "xtrinodes.analytics.xtrinode.io" denied the request',
                        "turns off Trino's HTTP server"]),
            (LITERAL_PASSWORD_COMMAND, ['admission webhook "xtrinodecatalogs.analytics.xtrinode.io" denied the request',
                                "'connection-password' looks like a secret"]),
            (OVERLAY.format(user="bob"), ["needs permission `update xtrinodes/valuesoverlay`",
                                          "user 'bob' does not have it"]),
        ):
            if command.startswith(".venv/bin/kubectl create --as"):
                stack.sh(RBAC)
            out = stack.sh(command, check=False)
            transcript += [f"$ {command}", out]
            assert "Error from server (Forbidden)" in out, out
            for fragment in fragments:
                assert fragment in out, (fragment, out)
            assert "hunter2" not in out
        assert "NotFound" in stack.sh(".venv/bin/kubectl get xtrinode no-http -n analytics", check=False)

        out = stack.sh(SUSPENDED)
        transcript += [f"$ {SUSPENDED}", out]
        assert "Warning: spec.suspended: true: created suspended" in out
        out = stack.sh(OVERLAY.format(user="alice"))
        transcript += [f"$ {OVERLAY.format(user='alice')}", out]
        assert "tuned-alice created" in out and "Warning: spec.valuesOverlay: set" in out
    finally:
        (artifacts_dir / "devstack-admission.txt").write_text("\n".join(transcript))
        stack.stop()
