"""Where the emulator and the real control plane differ on purpose (or where kube-apiserver misbehaves),
pinned on both backends so that a change on either side shows up here.

- Endpoints and EndpointSlices with loopback addresses: the emulator accepts them (its kubelet
  publishes each pod's own 127.x podIP); kube-apiserver refuses them (the node agent reports 192.0.2.x).
- Admission webhooks by `http://` URL: the emulator calls them; kube-apiserver requires https.
- A server-side apply naming a field a built-in kind does not have: kube-apiserver answers 500, the
  emulator drops the field.
- Deployments: kube-controller-manager makes ReplicaSets and Pods; the emulator serves no ReplicaSets,
  which is how the devstack kubelet knows to act as the Deployment controller itself.
- Deleting a Pod: the emulator removes it at once (no grace period, unless a finalizer holds it);
  kube-apiserver marks it Terminating with the pod's grace period until a grace-0 DELETE (the kubelet's).
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.dynamic import DynamicClient

APPLY = "application/apply-patch+yaml"


def test_loopback_endpoint_addresses(api_client: client.ApiClient, core: client.CoreV1Api, namespace: str,
                                     kube_backend: str) -> None:
    endpoints = {"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "127.16.0.5"}], "ports": [{"port": 8080}]}]}
    slices = DynamicClient(api_client).resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice")
    endpoint_slice = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-x"},
                      "addressType": "IPv4", "endpoints": [{"addresses": ["127.16.0.5"]}], "ports": [{"port": 8080}]}
    if kube_backend == "emulator":
        core.create_namespaced_endpoints(namespace, endpoints)
        slices.create(body=endpoint_slice, namespace=namespace)
        return
    with pytest.raises(ApiException) as e:
        core.create_namespaced_endpoints(namespace, endpoints)
    assert e.value.status == 422
    assert "may not be in the loopback range (127.0.0.0/8, ::1/128)" in json.loads(e.value.body)["message"]
    with pytest.raises(ApiException) as e:
        slices.create(body=endpoint_slice, namespace=namespace)
    assert e.value.status == 422
    assert json.loads(e.value.body)["details"]["causes"][0]["field"] == "endpoints[0].addresses[0]"
    # TEST-NET-1 addresses (what the node agent reports) are fine.
    core.create_namespaced_endpoints(namespace, {**endpoints, "subsets": [
        {"addresses": [{"ip": "192.0.2.16"}], "ports": [{"port": 8080}]}]})


def test_http_webhook_urls(api_client: client.ApiClient, kube_backend: str, namespace: str) -> None:
    admission = client.AdmissionregistrationV1Api(api_client)
    body = {"metadata": {"name": f"{namespace}-http"}, "webhooks": [{
        "name": "deny.test.xtrinode.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "failurePolicy": "Ignore", "clientConfig": {"url": "http://127.0.0.1:9/validate"},
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
    }]}
    if kube_backend == "emulator":
        admission.create_validating_webhook_configuration(body)
        admission.delete_validating_webhook_configuration(body["metadata"]["name"])
        return
    with pytest.raises(ApiException) as e:
        admission.create_validating_webhook_configuration(body)
    assert e.value.status == 422
    assert "'https' is the only allowed URL scheme" in json.loads(e.value.body)["message"]


def test_apply_with_a_field_the_kind_lacks(core: client.CoreV1Api, namespace: str, kube_backend: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odd"}, "path": [None]}
    if kube_backend == "emulator":  # the unknown field is dropped
        made = core.patch_namespaced_config_map("odd", namespace, body, field_manager="t", _content_type=APPLY)
        assert made.metadata.name == "odd"
        return
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("odd", namespace, body, field_manager="t", _content_type=APPLY)
    # kube-apiserver's own bug: an internal error for a bad request
    assert e.value.status == 500
    assert ".path: field not declared in schema" in json.loads(e.value.body)["message"]


def test_replicasets_are_served_only_by_the_real_control_plane(apps: client.AppsV1Api, kube_backend: str) -> None:
    names = {r.name for r in apps.get_api_resources().resources}
    assert ("replicasets" in names) == (kube_backend == "real")


def test_deleting_a_pod_without_a_kubelet(core: client.CoreV1Api, namespace: str, kube_backend: str) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "no-such-node", "terminationGracePeriodSeconds": 7,
                                               "containers": [{"name": "c", "image": "i"}]}}
    core.create_namespaced_pod(namespace, pod)
    core.delete_namespaced_pod("p", namespace)
    if kube_backend == "emulator":
        with pytest.raises(ApiException) as e:
            core.read_namespaced_pod("p", namespace)
        assert e.value.status == 404
        return
    held = core.read_namespaced_pod("p", namespace)
    assert held.metadata.deletion_timestamp is not None and held.metadata.deletion_grace_period_seconds == 7
    core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)  # what a kubelet sends at the end
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod("p", namespace)
    assert e.value.status == 404
