"""The API server under generated hostile requests (issue #15's fuzz test).

A real API server app (production factory) with a token file, over the Kubernetes API emulator and the
Temporal dev server; the runtime `team-b/theirs` exists, the caller's token is limited to `team-a`.
Generated: methods, paths with dot segments (plain and encoded), encoded slashes, doubled slashes, NUL,
non-ASCII, names that are not DNS labels; bodies that are malformed JSON, JSON of every shape, huge,
binary; content types right and wrong; Authorization valid, wrong and garbage. Asserted: never a 5xx,
every error is JSON {error, code, requestId}, and no resume or suspend ever reaches a workflow
(the token may act on team-a only, where no runtime exists).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client, config
from temporalio.client import Client

from devstack.kubeapi import KubeApiServer
from tests.security.security_helpers import raw_request
from workers.api import ApiServerSettings, create_app
from workers.api.app import LIVE

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]

TOKEN = f"team-a-{uuid.uuid4().hex}"


class Served:
    def __init__(self, app: web.Application, port: int) -> None:
        self.app, self.port = app, port


@pytest.fixture(scope="package")
async def api_server(kube: KubeApiServer, kubeconfig: Path, temporal_env: Any,
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    await asyncio.to_thread(_populate, api)
    tokens = tmp_path_factory.mktemp("api-fuzz") / "tokens.yaml"
    tokens.write_text(yaml.safe_dump([{"name": "team-a", "token": TOKEN, "scopes": ["admin"], "namespaces": ["team-a"]}]))
    settings = ApiServerSettings.model_validate({"auth": {"tokens": {"file": str(tokens)}}, "acceptWait": "50ms"})
    temporal: Client = temporal_env.client

    async def connect() -> Client:
        return temporal

    app = create_app(settings, connect=connect, kube=api)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield Served(app, int(runner.addresses[0][1]))
    finally:
        await runner.cleanup()
        api.close()


def _populate(api: client.ApiClient) -> None:
    """Namespaces, the CRDs and team-b's runtime (blocking client: run in a thread, the emulator is on the loop)."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    for namespace in ("team-a", "team-b"):
        try:
            core.create_namespace({"metadata": {"name": namespace}})
        except client.ApiException as e:
            assert e.status == 409
    crds = Path(__file__).resolve().parents[2] / "deploy" / "crds"
    ext = client.ApiextensionsV1Api(api)
    for path in sorted(crds.glob("*.yaml")):
        try:
            ext.create_custom_resource_definition(yaml.safe_load(path.read_text()))
        except client.ApiException as e:
            assert e.status == 409
    custom.create_namespaced_custom_object("analytics.xtrinode.io", "v1", "team-b", "xtrinodes", {
        "apiVersion": "analytics.xtrinode.io/v1", "kind": "XTrinode", "metadata": {"name": "theirs", "namespace": "team-b"},
        "spec": {"size": "xs", "maxWorkers": 1, "catalogSelector": {"matchLabels": {"x": "y"}}}})


SEGMENTS = ["v1", "runtimes", "team-a", "team-b", "theirs", "resume", "suspend", "events", "..", ".", "%2e%2e",
            "%2f", "%2F", "", "%00", "ä", "%c3%a4", "Team-B", "a" * 70, "team-b%2ftheirs", "openapi.json", "healthz"]
BASES = ["/v1/runtimes", "/v1/runtimes/team-b/theirs", "/v1/runtimes/team-b/theirs/resume",
         "/v1/runtimes/team-b/theirs/suspend", "/v1/runtimes/team-b/theirs/events", "/v1/runtimes/team-a/x/resume"]
BODIES = st.one_of(
    st.just(b""), st.binary(max_size=64), st.sampled_from([b"{", b"[]", b"null", b"1", b'"x"', b'{"reason": 5}',
                                                           b'{"wakeMinWorkers": -1}', b'{"wakeTtl": "forever"}',
                                                           b'{"reason": "x", "extra": 1}', b"\xff\xfe{}"]),
    st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8), st.none()), max_size=4).map(
        lambda d: json.dumps(d).encode()),
    st.just(b"{" + b'"reason": "' + b"x" * 40_000 + b'"}'),
)


@st.composite
def attempts(draw: st.DrawFn) -> tuple[str, bytes, list[tuple[bytes, bytes]], bytes]:
    segments = draw(st.sampled_from(BASES)).split("/")[1:]
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        segments.insert(draw(st.integers(0, len(segments))), draw(st.sampled_from(SEGMENTS)))
    target = "/" + "/".join(segments)
    if draw(st.booleans()):
        target += "?" + draw(st.sampled_from(["wait=true", "wait=maybe", "namespace=team-b", "limit=-5", "limit=x"]))
    method = draw(st.sampled_from(["GET", "POST", "POST", "PUT", "DELETE", "PATCH"]))
    headers: list[tuple[bytes, bytes]] = []
    auth = draw(st.sampled_from(["good", "good", "good", "none", "wrong", "garbage"]))
    if auth == "good":
        headers.append((b"Authorization", b"Bearer " + TOKEN.encode()))
    elif auth == "wrong":
        headers.append((b"Authorization", b"Bearer " + uuid.uuid4().hex.encode()))
    elif auth == "garbage":
        headers.append((b"Authorization", draw(st.sampled_from([b"Basic x", b"Bearer \xff\xfe", b"Bearer", b""]))))
    content_type = draw(st.sampled_from([None, b"application/json", b"text/plain", b"application/x-www-form-urlencoded",
                                         b"multipart/form-data; boundary=x"]))
    if content_type is not None:
        headers.append((b"Content-Type", content_type))
    return method, target.encode("utf-8", "surrogateescape"), headers, draw(BODIES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(attempt=attempts())
async def test_hostile_requests_get_clear_4xx_and_never_act_outside_the_tokens_namespaces(
    api_server: Served, attempt: tuple[str, bytes, list[tuple[bytes, bytes]], bytes]
) -> None:
    method, target, headers, body = attempt
    response = await raw_request(api_server.port, method, target, headers, body=body)
    assert response.status < 500, (attempt, response.status, response.text[:300])
    if response.status >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
        error = response.json()
        assert set(error) == {"error", "code", "requestId"}, error
    service = api_server.app[LIVE].service
    assert service is not None and service.lifecycle.rpcs == 0, "an action reached a workflow"


async def test_oidc_tokens_get_the_scopes_and_namespaces_of_their_groups(
    api_server: Served, kubeconfig: Path, temporal_env: Any, idp: Any, rsa_keys: Any, tmp_path: Path
) -> None:
    """The API server validates OIDC bearer tokens with the gateway's validator; groups map to grants."""
    from tests.idp import claims, sign

    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump([{"name": "unused", "token": uuid.uuid4().hex, "scopes": ["read"]}]))
    settings = ApiServerSettings.model_validate({"auth": {
        "tokens": {"file": str(tokens)},
        "oauth": {"issuer": idp.issuer, "audience": "trino", "jwksURL": idp.url + "/jwks"},
        "groupGrants": [{"groups": ["b-readers"], "scopes": ["read"], "namespaces": ["team-b"]}]}})
    temporal: Client = temporal_env.client

    async def connect() -> Client:
        return temporal

    app = create_app(settings, connect=connect, kube=config.new_client_from_config(config_file=str(kubeconfig)))
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = int(runner.addresses[0][1])
    try:
        reader = ("Authorization", "Bearer " + sign(rsa_keys["a"], claims(idp, sub="u-9", groups=["b-readers"])))
        stranger = ("Authorization", "Bearer " + sign(rsa_keys["a"], claims(idp, sub="u-10", groups=["other"])))
        forged = ("Authorization", "Bearer " + sign(rsa_keys["evil"], claims(idp, sub="u-9", groups=["b-readers"])))
        assert (await raw_request(port, "GET", "/v1/runtimes/team-b/theirs", [reader])).status == 200
        assert (await raw_request(port, "POST", "/v1/runtimes/team-b/theirs/resume", [reader])).status == 403
        assert (await raw_request(port, "GET", "/v1/runtimes/team-a/theirs", [reader])).status == 404
        assert (await raw_request(port, "GET", "/v1/runtimes", [stranger])).status == 401
        assert (await raw_request(port, "GET", "/v1/runtimes", [forged])).status == 401
    finally:
        await runner.cleanup()
