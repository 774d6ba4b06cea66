"""Robustness: malformed bodies of every write verb get a 4xx Status, never a 500 (property test).

Random JSON under Kubernetes-shaped keys is sent through the DynamicClient (which, unlike the typed
API, does not validate client-side) as creates, replaces and all four patch types. A property of the
emulator: kube-apiserver itself answers some of these with 500 (test_kubeapi_backend_differences.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.dynamic import DynamicClient

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=5), st.sampled_from(["a", "", "x y", "10Gi"])
)
_KEYS = st.sampled_from([
    "name", "labels", "annotations", "finalizers", "ownerReferences", "spec", "status", "data", "selector",
    "matchLabels", "template", "containers", "ports", "port", "image", "replicas", "metadata", "stringData",
    "type", "env", "uid", "resourceVersion", "$patch", "op", "path", "value", "color", "tags", "size",
])
_JSON = st.recursive(_SCALARS, lambda ch: st.one_of(st.lists(ch, max_size=3), st.dictionaries(_KEYS, ch, max_size=4)), max_leaves=12)
pytestmark = pytest.mark.emulator_only
_PATCH_TYPES = [
    "application/merge-patch+json", "application/json-patch+json",
    "application/strategic-merge-patch+json", "application/apply-patch+yaml",
]


def test_malformed_writes_never_cause_server_errors(api_client: client.ApiClient, core: client.CoreV1Api, widgets: str,
                                                    namespace: str) -> None:
    dynamic = DynamicClient(api_client)
    kinds = {
        "ConfigMap": dynamic.resources.get(api_version="v1", kind="ConfigMap"),
        "Deployment": dynamic.resources.get(api_version="apps/v1", kind="Deployment"),
        "Service": dynamic.resources.get(api_version="v1", kind="Service"),
        "Widget": dynamic.resources.get(api_version=f"{widgets}/v1", kind="Widget"),
    }
    versions = {"ConfigMap": "v1", "Deployment": "apps/v1", "Service": "v1", "Widget": f"{widgets}/v1"}
    base = {"metadata": {"name": "base"}}
    kinds["ConfigMap"].create(body={"apiVersion": "v1", "kind": "ConfigMap", **base, "data": {"a": "1"}}, namespace=namespace)
    kinds["Widget"].create(body={"apiVersion": f"{widgets}/v1", "kind": "Widget", **base, "spec": {"color": "red"}}, namespace=namespace)
    server_errors: list[str] = []

    @settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(kinds)), st.sampled_from(["create", "replace", *_PATCH_TYPES]), _JSON, st.booleans())
    def attempt(kind: str, verb: str, body: Any, typed: bool) -> None:
        resource = kinds[kind]
        if typed and isinstance(body, dict):
            body = {"apiVersion": versions[kind], "kind": kind, "metadata": {"name": "base"}, **body}
        try:
            if verb == "create":
                resource.create(body=body, namespace=namespace)
            elif verb == "replace":
                resource.replace(body=body, name="base", namespace=namespace)
            else:
                resource.patch(body=body, name="base", namespace=namespace, content_type=verb, field_manager="fuzz", force=verb.endswith("yaml") or None)
        except ApiException as e:
            if e.status >= 500:
                server_errors.append(f"{verb} {kind} {json.dumps(body)[:120]}: {str(e.body)[:200]}")
        except (TypeError, ValueError, AttributeError, KeyError):
            pass  # the client itself refused the body (e.g. replace without metadata.name)

    attempt()
    assert not server_errors, "\n".join(server_errors[:5])
