"""Admission webhooks: the emulator calls Mutating- and ValidatingWebhookConfigurations.

A small aiohttp webhook runs on the test's loop; configurations are scoped to the test namespace.
Checks a denial (403 with the webhook's message), a mutation (JSON patch applied and stored),
warnings, DELETE reviews with oldObject, objectSelector, and failurePolicy Fail vs Ignore.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from kubernetes.aio import client, config

# The webhook here serves plain http, which only the emulator accepts (kube-apiserver requires https;
# test_kubeapi_backend_differences.py records that).
pytestmark = pytest.mark.emulator_only


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook server: denies objects labelled deny=yes, labels others mutated=yes; records requests."""
    seen: list[dict[str, Any]] = []

    async def review(request: web.Request) -> web.Response:
        body = await request.json()
        req = body["request"]
        seen.append(req)
        obj = req.get("object") or req.get("oldObject") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        response: dict[str, Any] = {"uid": req["uid"], "allowed": request.path == "/mutate" or labels.get("deny") != "yes"}
        if not response["allowed"]:
            response["status"] = {"code": 403, "message": "objects labelled deny=yes are refused"}
        if request.path == "/mutate" and req["operation"] == "CREATE":
            patch = [{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}]
            response.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(patch).encode()).decode())
            response["warnings"] = ["labelled by the test webhook"]
        return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})

    app = web.Application()
    app.router.add_post("/validate", review)
    app.router.add_post("/mutate", review)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.fixture
async def aio(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    async with api:
        yield api


def _hook(name: str, url: str, namespace: str, operations: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": {"url": url},
        "rules": [{"operations": operations, "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "scope": "Namespaced"}],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **extra,
    }


async def test_webhooks_mutate_validate_and_see_deletes(aio: client.ApiClient, webhook: tuple[str, list[dict[str, Any]]], namespace: str) -> None:
    url, seen = webhook
    reg = client.AdmissionregistrationV1Api(aio)
    core = client.CoreV1Api(aio)
    await reg.create_mutating_webhook_configuration({"metadata": {"name": f"{namespace}-m"}, "webhooks": [_hook("mutate.test.io", f"{url}/mutate", namespace, ["CREATE"])]})
    await reg.create_validating_webhook_configuration({"metadata": {"name": f"{namespace}-v"}, "webhooks": [_hook("validate.test.io", f"{url}/validate", namespace, ["CREATE", "UPDATE", "DELETE"])]})
    try:
        made = await core.create_namespaced_config_map(namespace, {"metadata": {"name": "ok", "labels": {"app": "a"}}})
        assert made.metadata.labels == {"app": "a", "mutated": "yes"}
        assert (await core.read_namespaced_config_map("ok", namespace)).metadata.labels["mutated"] == "yes"
        with pytest.raises(client.ApiException) as e:
            await core.create_namespaced_config_map(namespace, {"metadata": {"name": "no", "labels": {"deny": "yes"}}})
        assert e.value.status == 403
        assert json.loads(e.value.body)["message"] == 'admission webhook "validate.test.io" denied the request: objects labelled deny=yes are refused'
        # kube-apiserver passes the webhook's reason through and invents none (kubectl then prints
        # "Error from server: ..."); xtrinode's webhook sends reason Forbidden itself.
        assert "reason" not in json.loads(e.value.body)
        with pytest.raises(client.ApiException) as e:
            await core.patch_namespaced_config_map("ok", namespace, {"metadata": {"labels": {"deny": "yes"}}})
        assert e.value.status == 403
        await core.delete_namespaced_config_map("ok", namespace)
        ops = [(r["operation"], r["name"]) for r in seen if r["kind"]["kind"] == "ConfigMap"]
        assert ("DELETE", "ok") in ops and ("UPDATE", "ok") in ops
        delete = next(r for r in seen if r["operation"] == "DELETE")
        assert delete["object"] is None and delete["oldObject"]["metadata"]["name"] == "ok"
        assert all(r["userInfo"]["username"] == "kubernetes-admin" for r in seen)
        elsewhere = await core.create_namespaced_config_map("default", {"metadata": {"generateName": "outside-", "labels": {"deny": "yes"}}})
        await core.delete_namespaced_config_map(elsewhere.metadata.name, "default")
    finally:
        await reg.delete_mutating_webhook_configuration(f"{namespace}-m")
        await reg.delete_validating_webhook_configuration(f"{namespace}-v")


async def test_unreachable_webhook_fails_closed_unless_ignored(aio: client.ApiClient, namespace: str) -> None:
    reg = client.AdmissionregistrationV1Api(aio)
    core = client.CoreV1Api(aio)
    dead = "http://127.0.0.1:9/validate"
    hooks = [
        _hook("ignored.test.io", dead, namespace, ["CREATE"], failurePolicy="Ignore", timeoutSeconds=2),
        _hook("strict.test.io", dead, namespace, ["CREATE"], failurePolicy="Fail", timeoutSeconds=2,
              objectSelector={"matchLabels": {"strict": "yes"}}),
    ]
    await reg.create_validating_webhook_configuration({"metadata": {"name": f"{namespace}-dead"}, "webhooks": hooks})
    try:
        await core.create_namespaced_config_map(namespace, {"metadata": {"name": "lenient"}})
        with pytest.raises(client.ApiException) as e:
            await core.create_namespaced_config_map(namespace, {"metadata": {"name": "strict", "labels": {"strict": "yes"}}})
        assert e.value.status == 500 and 'failed calling webhook "strict.test.io"' in json.loads(e.value.body)["message"]
    finally:
        await reg.delete_validating_webhook_configuration(f"{namespace}-dead")
