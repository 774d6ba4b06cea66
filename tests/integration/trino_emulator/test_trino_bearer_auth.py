"""JWT and OAUTH2 authentication of emulated nodes, from a rendered-style config directory, against an
identity provider on loopback (a plain HTTP server in a thread serving discovery and JWKS).

Checks: a valid RS256 token is accepted by the real trino client (JWTAuthentication) and names the
user; a token signed by another key, for another audience, from another issuer, expired, or without a
token at all is refused with 401 and a Bearer challenge; the control user's password still works next
to JWT (JWT,PASSWORD); OAUTH2 finds its JWKS through the issuer's discovery document and checks the
client id as audience; a key rotated at the IdP is picked up on the first token with the new `kid`.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trino

from devstack.trino import TrinoNode, hash_password, load_settings
from tests.idp import AUDIENCE, IdP, claims, public_jwk, sign
from tests.oidc_idp import idp_in_a_thread, new_key

KEY = new_key()

pytestmark = pytest.mark.integration


@pytest.fixture
def idp() -> Iterator[IdP]:
    with idp_in_a_thread(IdP(keys=[public_jwk(KEY, "k1")])) as provider:
        yield provider


def token(idp: IdP, kid: str = "k1", key: Any = KEY, **overrides: Any) -> str:
    return sign(key, claims(idp, **overrides), kid=kid)


def _config(root: Path, properties: str) -> Path:
    (root / "catalog").mkdir(parents=True)
    (root / "catalog" / "tpch.properties").write_text("connector.name=tpch\n")
    (root / "config.properties").write_text(
        "coordinator=true\nnode-scheduler.include-coordinator=true\nquery-manager.required-workers=0\n"
        "internal-communication.shared-secret=test-shared-secret\n"
        "http-server.authentication.allow-insecure-over-http=true\n" + properties)
    (root / "node.properties").write_text("node.environment=auth-test\n")
    (root / "password-authenticator.properties").write_text(
        "password-authenticator.name=file\nfile.password-file=password.db\n")
    (root / "password.db").write_text(f"xtrinode-operator:{hash_password('op-pass')}\n")
    return root


async def _status(http: aiohttp.ClientSession, node: TrinoNode, **headers: str) -> tuple[int, list[str]]:
    async with http.get(f"{node.url}/v1/query", headers=headers) as reply:
        return reply.status, reply.headers.getall("WWW-Authenticate", [])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _run(port: int, token: str) -> list[Any]:
    conn = trino.dbapi.connect(host="127.0.0.1", port=port, user="alice", http_scheme="http",
                               auth=trino.auth.JWTAuthentication(token), allow_insecure_auth=True)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM tpch.tiny.region")
        return list(cursor.fetchall())
    finally:
        conn.close()


async def test_jwt_tokens_are_checked_against_the_configured_jwks(idp: IdP, tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, (
        "http-server.authentication.type=JWT,PASSWORD\n"
        f"http-server.authentication.jwt.key-file={idp.url}/jwks\n"
        f"http-server.authentication.jwt.required-issuer={idp.issuer}\n"
        f"http-server.authentication.jwt.required-audience={AUDIENCE}\n")), {"port": 0})
    async with TrinoNode(settings) as node, aiohttp.ClientSession() as http:
        rows = await asyncio.to_thread(_run, node.port, token(idp, sub="alice"))
        assert rows == [[5]]
        async with http.get(f"{node.url}/v1/query", headers=_bearer(token(idp, sub="bob"))) as reply:
            assert reply.status == 200  # bob's token is his login: no X-Trino-User needed
        for bad in (token(idp, key=new_key()), token(idp, aud="elsewhere"), token(idp, iss="http://evil"),
                    token(idp, exp=int(time.time()) - 3600), "not-a-jwt"):
            status, challenges = await _status(http, node, **_bearer(bad))
            assert status == 401 and 'Bearer realm="Trino", token_type="JWT"' in challenges
        assert (await _status(http, node, **{"X-Trino-User": "alice"}))[0] == 401
        basic = base64.b64encode(b"xtrinode-operator:op-pass").decode()
        assert (await _status(http, node, Authorization=f"Basic {basic}"))[0] == 200

        rotated = new_key()
        idp.keys.append(public_jwk(rotated, "k2"))  # rotation at the IdP
        assert (await _status(http, node, **_bearer(token(idp, kid="k2", key=rotated))))[0] == 200


async def test_oauth2_bearer_tokens_use_issuer_discovery_and_the_client_id_as_audience(idp: IdP, tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, (
        "http-server.authentication.type=OAUTH2,PASSWORD\n"
        f"http-server.authentication.oauth2.issuer={idp.issuer}\n"
        f"http-server.authentication.oauth2.client-id={AUDIENCE}\n"
        "http-server.authentication.oauth2.client-secret=${ENV:OAUTH_SECRET}\n")), {"port": 0},
        env={"OAUTH_SECRET": "s3cret"})
    async with TrinoNode(settings) as node, aiohttp.ClientSession() as http:
        assert (await _status(http, node, **_bearer(token(idp))))[0] == 200
        assert (await _status(http, node, **_bearer(token(idp, aud="another-client"))))[0] == 401
