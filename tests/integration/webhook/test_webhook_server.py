"""The webhook server in-process (the production `WebhookServer`): the certificate is reloaded when its
files change (new connections get the new one, no restart); an unreachable authorizer refuses an overlay
with a message saying it could not be asked (fail closed) while a spec without an overlay is admitted;
HTTPS only (no certificate, no server).
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devstack.certs import write_serving_pair
from workers.webhook import WebhookServer, WebhookSettings

from .conftest import free_port

pytestmark = pytest.mark.integration


def _review(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": str(uuid.uuid4()), "kind": {"group": "analytics.xtrinode.io", "version": "v1", "kind": "XTrinode"},
        "operation": "CREATE", "namespace": "team-a", "name": "sales",
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": {"apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode",
                   "metadata": {"name": "sales", "namespace": "team-a"}, "spec": spec}}}


async def _healthz(port: int, ca: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    try:
        async with aiohttp.ClientSession() as session, session.get(
                f"https://127.0.0.1:{port}/healthz", ssl=context, timeout=aiohttp.ClientTimeout(total=2)) as reply:
            return reply.status == 200
    except aiohttp.ClientConnectorCertificateError:
        return False


async def test_the_certificate_is_reloaded_when_its_files_change(tmp_path: Path) -> None:
    pair = write_serving_pair(tmp_path / "tls")
    old_ca = tmp_path / "old-ca.crt"
    shutil.copy(pair.ca_file, old_ca)
    settings = WebhookSettings(host="127.0.0.1", port=0, cert_file=pair.cert_file, key_file=pair.key_file,
                               cert_reload_interval=timedelta(seconds=0.1))

    async def allow(user: Any, check: Any) -> bool:
        return True

    async with WebhookServer(settings, authorizer=allow) as server:
        assert await _healthz(server.port, old_ca)
        rotated = write_serving_pair(tmp_path / "tls")  # a new CA and serving pair over the same files
        deadline = time.monotonic() + 10
        while not await _healthz(server.port, rotated.ca_file):
            assert time.monotonic() < deadline, "the new certificate was not served within 10s"
            await asyncio.sleep(0.1)
        assert not await _healthz(server.port, old_ca)
        assert server.reloads >= 1


async def test_an_unreachable_authorizer_refuses_overlays_and_says_so(tmp_path: Path) -> None:
    pair = write_serving_pair(tmp_path / "tls")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: gone, cluster: {{server: "http://127.0.0.1:{free_port()}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: c, context: {{cluster: gone, user: u}}}}]
current-context: c
""")
    settings = WebhookSettings(host="127.0.0.1", port=0, cert_file=pair.cert_file, key_file=pair.key_file,
                               kubeconfig=kubeconfig, kube_timeout=timedelta(seconds=2))
    context = ssl.create_default_context(cafile=str(pair.ca_file))
    async with WebhookServer(settings) as server, aiohttp.ClientSession() as session:
        url = f"https://127.0.0.1:{server.port}/validate/xtrinodes"
        async with session.post(url, json=_review({"size": "s", "valuesOverlay": {"image": {"tag": "480"}}}),
                                ssl=context) as reply:
            response = (await reply.json())["response"]
        assert response["allowed"] is False
        message = response["status"]["message"]
        assert "the authorizer could not be asked whether user 'alice' has it" in message
        assert "gate fails closed" in message and "update xtrinodes/valuesoverlay" in message
        async with session.post(url, json=_review({"size": "s"}), ssl=context) as reply:
            assert (await reply.json())["response"]["allowed"] is True


def test_the_webhook_serves_https_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="HTTPS only"):
        WebhookServer(WebhookSettings(port=0))
