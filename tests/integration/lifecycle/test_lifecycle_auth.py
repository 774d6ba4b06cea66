"""Trino authentication behind the gateway, end to end on real parts (lifecycle worker, operator,
kubelet with emulated Trino processes reading the rendered config and the Secret-mounted password file,
the gateway as on main, the real trino client).

Checks: the seed's PASSWORD overlay gives a runtime whose coordinator refuses a query without the
password (and with a wrong one) and runs it with the password through the gateway; the control user's
password drives readiness, and the workers' preStop drain (a scale-down leaves by `Shutdown requested`,
never a refused hook); JWT next to PASSWORD with the gateway's OIDC issuer: the gateway and the
coordinator both check the same bearer token (the coordinator reads the JWKS URL from the rendered
config and refuses a token the issuer did not sign), and a suspend's query checks log in as the control
user; a password file without the control user puts the runtime in Error saying so, and fixing the
Secret provisions it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import trino
from kubernetes import client
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devstack.kubelet import Kubelet
from devstack.resolver import ServiceResolver
from devstack.trino import hash_password
from tests import leaks
from tests.idp import AUDIENCE, IdP, claims, public_jwk, serve_idp, sign
from tests.oidc_idp import new_key
from workers.operator import Operator
from xtrinode.lifecycle_client import LifecycleClient

from .lifecycle_helpers import Cluster, eventually, runtime_body, serve_gateway, tpch_catalog

pytestmark = [pytest.mark.integration, pytest.mark.shared_services]

CONTROL_PASSWORD = "op-pass-7b1f"
ANALYST_PASSWORD = "analyst-pass-93c2"
SEED_PASSWORD_OVERLAY = {"server": {"config": {"authenticationType": "PASSWORD"}},
                         "auth": {"passwordAuthSecret": "trino-passwords", "groupsAuthSecret": "trino-groups"}}
CONTROL_AUTH = {"passwordSecret": {"name": "trino-control", "key": "password"}}


KEY = new_key()


@pytest.fixture
async def idp() -> AsyncIterator[IdP]:
    """The issuer on the test's loop: the gateway fetches with aiohttp, the coordinators from their processes."""
    async with serve_idp(IdP(keys=[public_jwk(KEY, "a")])) as provider:
        yield provider


@pytest.fixture
async def plain_gateway(kubeconfig: Any, kubelet: Kubelet, temporal_env: WorkflowEnvironment) -> AsyncIterator[int]:
    async with serve_gateway(kubeconfig, kubelet, temporal_env) as port:
        yield port


@pytest.fixture
async def oidc_gateway(kubeconfig: Any, kubelet: Kubelet, temporal_env: WorkflowEnvironment, idp: IdP) -> AsyncIterator[int]:
    auth = {"enabled": True, "type": "oauth", "oauth": {"issuer": idp.issuer, "audience": AUDIENCE}}
    async with serve_gateway(kubeconfig, kubelet, temporal_env, auth) as port:
        yield port


def _secret(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


async def _secrets(api: client.ApiClient, namespace: str, password_file: str) -> None:
    core = client.CoreV1Api(api)
    for body in (_secret(namespace, "trino-control", {"password": CONTROL_PASSWORD}),
                 _secret(namespace, "trino-passwords", {"password.db": password_file}),
                 _secret(namespace, "trino-groups", {"group.db": "analysts:analyst\n"})):
        await asyncio.to_thread(core.create_namespaced_secret, namespace, body)


def _password_file(*users: tuple[str, str]) -> str:
    return "".join(f"{user}:{hash_password(password)}\n" for user, password in users)


def _run(port: int, namespace: str, name: str, auth: Any = None, user: str = "analyst") -> list[Any]:
    conn = trino.dbapi.connect(host="127.0.0.1", port=port, user=user, http_scheme="http", auth=auth,
                               allow_insecure_auth=True, http_headers={"X-Trino-XTrinode": f"{namespace}/{name}"})
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM tpch.tiny.nation")
        return list(cursor.fetchall())
    finally:
        conn.close()


def _coordinator(kubelet: Kubelet, namespace: str, name: str) -> str:
    addresses = ServiceResolver(kubelet.settings.services_file).addresses(f"trino-{name}.{namespace}.svc.cluster.local", 8080)
    assert addresses, f"no ready coordinator for {namespace}/{name}"
    return f"http://{addresses[0]}"


def _pod_messages(kubelet: Kubelet, namespace: str, pod: str) -> list[str]:
    path = kubelet.settings.logs_dir / f"{namespace}_{pod}.log"
    return [json.loads(line).get("message", "") for line in path.read_text().splitlines() if line.startswith("{")]


async def test_seed_password_overlay_end_to_end_through_the_gateway(
    api_client: client.ApiClient, namespace: str, operator: Operator, kubelet: Kubelet, plain_gateway: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="devstack.kubelet.pods")
    cluster = Cluster(api_client)
    await _secrets(api_client, namespace, _password_file(("xtrinode-operator", CONTROL_PASSWORD),
                                                         ("analyst", ANALYST_PASSWORD)))
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "secured", maxWorkers=2, minWorkers=2,
                                      trinoControlAuth=CONTROL_AUTH, valuesOverlay=SEED_PASSWORD_OVERLAY))
    await cluster.wait_phase(namespace, "secured", "Ready")  # readiness calls used the control user's password

    with pytest.raises(trino.exceptions.HttpError, match="401"):
        await asyncio.to_thread(_run, plain_gateway, namespace, "secured")
    with pytest.raises(trino.exceptions.HttpError, match="401"):
        await asyncio.to_thread(_run, plain_gateway, namespace, "secured", trino.auth.BasicAuthentication("analyst", "wrong"))
    rows = await asyncio.to_thread(_run, plain_gateway, namespace, "secured",
                                   trino.auth.BasicAuthentication("analyst", ANALYST_PASSWORD))
    assert rows == [[25]]

    workers = await asyncio.to_thread(client.CoreV1Api(api_client).list_namespaced_pod, namespace,
                                      label_selector="app.kubernetes.io/instance=secured,app.kubernetes.io/component=worker")
    names = {pod.metadata.name for pod in workers.items}
    assert len(names) == 2
    await cluster.patch_spec(namespace, "secured", {"minWorkers": 1, "maxWorkers": 1})
    await eventually(lambda: _pods_at_most(cluster, namespace, "secured", 2), "one worker drained", timeout=60)
    drained = [name for name in names if "Shutdown requested" in _pod_messages(kubelet, namespace, name)]
    assert len(drained) == 1, "the leaving worker accepted the control user's PUT SHUTTING_DOWN"
    hooks = [r.getMessage() for r in caplog.records if "preStop" in r.getMessage()]
    assert "preStop hook sent" in hooks and "preStop hook refused" not in hooks, hooks


async def _pods_at_most(cluster: Cluster, namespace: str, name: str, count: int) -> bool:
    return await cluster.pods(namespace, name) <= count


async def test_jwt_with_the_gateways_oidc_issuer_end_to_end(
    api_client: client.ApiClient, namespace: str, operator: Operator, kubelet: Kubelet, oidc_gateway: int, idp: IdP,
    temporal_client: Client,
) -> None:
    cluster = Cluster(api_client)
    await _secrets(api_client, namespace, _password_file(("xtrinode-operator", CONTROL_PASSWORD)))
    overlay = {**SEED_PASSWORD_OVERLAY, "server": {"config": {"authenticationType": "JWT,PASSWORD"}},
               "additionalConfigProperties": [f"http-server.authentication.jwt.key-file={idp.url}/jwks",
                                              f"http-server.authentication.jwt.required-issuer={idp.issuer}",
                                              f"http-server.authentication.jwt.required-audience={AUDIENCE}"]}
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "tokens", trinoControlAuth=CONTROL_AUTH, valuesOverlay=overlay))
    await cluster.wait_phase(namespace, "tokens", "Ready")

    token = sign(KEY, claims(idp, sub="analyst"))
    leaks.register(token, "OIDC bearer token (test_lifecycle_auth)")
    rows = await asyncio.to_thread(_run, oidc_gateway, namespace, "tokens", trino.auth.JWTAuthentication(token))
    assert rows == [[25]]
    with pytest.raises(trino.exceptions.HttpError, match="401"):  # the gateway refuses a request without a token
        await asyncio.to_thread(_run, oidc_gateway, namespace, "tokens")

    # The coordinator itself checks the bearer token against the JWKS its rendered config names.
    coordinator = _coordinator(kubelet, namespace, "tokens")
    forged = sign(new_key(), claims(idp, sub="analyst"))
    async with aiohttp.ClientSession() as http:
        for headers, status in (({"Authorization": f"Bearer {token}"}, 200),
                                ({"Authorization": f"Bearer {forged}"}, 401), ({"X-Trino-User": "analyst"}, 401)):
            async with http.get(f"{coordinator}/v1/query", headers=headers) as reply:
                assert reply.status == status, (headers.keys(), reply.status)

    # The suspend reads running queries from the coordinator as the control user (Basic, next to JWT).
    status = await LifecycleClient(temporal_client).suspend(namespace, "tokens")
    assert status.phase == "Suspended"
    assert await cluster.replicas(namespace, "trino-tokens-worker") == 0


async def test_a_password_file_without_the_control_user_is_an_error_until_the_secret_is_fixed(
    api_client: client.ApiClient, namespace: str, operator: Operator,
) -> None:
    cluster = Cluster(api_client)
    await _secrets(api_client, namespace, _password_file(("analyst", ANALYST_PASSWORD)))
    await cluster.create(tpch_catalog(namespace))
    await cluster.create(runtime_body(namespace, "locked", trinoControlAuth=CONTROL_AUTH,
                                      valuesOverlay=SEED_PASSWORD_OVERLAY))
    await cluster.wait_phase(namespace, "locked", "Error")
    message = ((await cluster.runtime(namespace, "locked")) or {})["status"]["message"]
    assert "no entry for the control user 'xtrinode-operator'" in message, message
    assert ANALYST_PASSWORD not in message

    fixed = _password_file(("analyst", ANALYST_PASSWORD), ("xtrinode-operator", CONTROL_PASSWORD))
    await asyncio.to_thread(client.CoreV1Api(api_client).patch_namespaced_secret, "trino-passwords", namespace,
                            {"data": {"password.db": base64.b64encode(fixed.encode()).decode()}})
    await cluster.wait_phase(namespace, "locked", "Ready")
