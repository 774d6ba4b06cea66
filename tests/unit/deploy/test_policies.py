"""deploy/policies: the ValidatingAdmissionPolicy example that keeps valuesOverlay to listed namespaces.

Checks: both objects are valid admissionregistration.k8s.io/v1 (kubernetes-validate, strict), the binding
names the policy and denies, the policy matches CREATE and UPDATE of xtrinodes, fails closed, and its
validation lets through no overlay, an unchanged overlay and the listed namespaces. The CEL itself is run
by the real-Kubernetes tier (SPEC section 7 example; not evaluated here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

POLICY = Path(__file__).resolve().parents[3] / "deploy" / "policies" / "valuesoverlay-namespaces.yaml"


def _docs() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(POLICY.read_text()) if doc}


def test_policy_and_binding_are_valid_kubernetes_objects() -> None:
    docs = _docs()
    assert set(docs) == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    version = kubernetes_validate.utils.latest_version()
    for doc in docs.values():
        kubernetes_validate.validate(doc, version, strict=True)


def test_policy_gates_overlays_of_xtrinodes_by_namespace_and_the_binding_denies() -> None:
    docs = _docs()
    policy, binding = docs["ValidatingAdmissionPolicy"], docs["ValidatingAdmissionPolicyBinding"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    [rule] = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["xtrinodes"] and rule["apiGroups"] == ["analytics.xtrinode.io"]
    assert rule["operations"] == ["CREATE", "UPDATE"]
    [validation] = policy["spec"]["validations"]
    for allowed in ("size(variables.overlay) == 0", "variables.overlay == variables.oldOverlay",
                    "request.namespace in variables.allowedNamespaces"):
        assert allowed in validation["expression"]
    assert "valuesOverlay" in validation["messageExpression"] and validation["reason"] == "Forbidden"
