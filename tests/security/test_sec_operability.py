"""Finding 8: operability of the gateway's security, against real gateway processes.

`/readyz` is 503 while the JWKS cannot be fetched (every request would get 401) and 200 once it can;
every request leaves one JSON access-log line (time, principal, runtime, method, canonical path, status,
duration, query id) and no line holds a key, a token or SQL text; with auth off the per-principal
limit keys on the client address, so a fresh X-Trino-User per statement does not escape it; deleting
the API-key file revokes every key within a reload interval, and an unparsable file is an ERROR line
that keeps the last good keys.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.security.security_helpers import API_KEYS, GatewayProcess, Gateways, api_key_auth, eventually, key, raw_request
from tests.idp import IdP, claims, public_jwk, serve_idp, sign

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]


async def test_readyz_waits_for_the_signing_keys(gateways: Gateways, rsa_keys: dict[str, rsa.RSAPrivateKey]) -> None:
    async with serve_idp(IdP(keys=[public_jwk(rsa_keys["a"], "a")], jwks_status=503)) as down:
        gw = await gateways.start(wait_ready=False, auth={
            "enabled": True, "type": "oauth",
            "oauth": {"issuer": down.issuer, "audience": "trino", "jwksURL": down.url + "/jwks",
                      "unknownKidCooldown": "500ms"}})
        try:
            await gw.wait_status("/healthz", 200)
            await asyncio.sleep(1.0)
            response = await raw_request(gw.port, "GET", "/readyz")
            assert response.status == 503 and "signing keys" in response.text
            down.jwks_status = 200
            await gw.wait_status("/readyz", 200, timeout=10)
            token = sign(rsa_keys["a"], claims(down, groups=["team-b"]))
            assert (await raw_request(gw.port, "GET", "/v1/info", [("Authorization", f"Bearer {token}")])).status == 200
        finally:
            await gw.stop()


async def test_every_request_leaves_one_access_line_without_secrets(keyed: GatewayProcess) -> None:
    marker = f"marker_{uuid.uuid4().hex[:10]}"
    sql = f"SELECT '{marker}'".encode()
    response = await raw_request(keyed.port, "POST", "/v1/statement", [key("alice"), ("X-Trino-XTrinode", "etl")], body=sql)
    query_id = response.json()["id"]
    await raw_request(keyed.port, "POST", "/v1/xtrinode/../statement", [key("alice")], body=sql)
    await raw_request(keyed.port, "GET", "/v1/info", [("X-API-Key", "wrong-" + marker)])
    await asyncio.sleep(0.3)
    lines = keyed.log_lines()
    access = [line for line in lines if line.get("logger") == "xtrinode.gateway.access"]
    mine = [line for line in access if line.get("query_id") == query_id]
    assert len(mine) == 1, mine
    line = mine[0]
    assert {"ts", "principal", "runtime", "method", "path", "status", "duration_ms", "query_id"} <= set(line)
    assert (line["principal"], line["runtime"], line["method"], line["path"], line["status"]) == (
        "key:alice-key", "team-a/etl", "POST", "/v1/statement", 200)
    assert any(line.get("refused") == "target" and line["path"] is None for line in access)
    assert any(line.get("status") == 401 for line in access)
    text = keyed.log.read_text()
    for secret in (*API_KEYS.values(), marker):
        assert secret not in text, "no key, token or SQL text in the log"


async def test_with_auth_off_a_fresh_user_per_statement_does_not_escape_the_limit(open_gateway: GatewayProcess) -> None:
    statuses = []
    for i in range(12):
        response = await raw_request(open_gateway.port, "POST", "/v1/statement",
                                     [("X-Trino-User", f"user-{uuid.uuid4().hex}"), ("X-Trino-XTrinode", "etl")],
                                     body=b"SELECT 1")
        statuses.append(response.status)
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}, statuses


async def test_deleting_the_key_file_revokes_every_key_and_a_bad_file_keeps_the_last_good(
    gateways: Gateways, tmp_path: Path
) -> None:
    keys = tmp_path / "api-keys.yaml"
    gw = await gateways.start(auth=api_key_auth(keys))
    try:
        headers = [key("bob")]
        assert (await raw_request(gw.port, "GET", "/v1/info", headers)).status == 200
        keys.write_text("no colon on this line\n")

        async def error_logged() -> bool:
            return any(line.get("level") == "ERROR" and "keeping the last good keys" in line.get("message", "")
                       for line in gw.log_lines())

        await eventually(error_logged, "an ERROR line for the unparsable key file", timeout=5)
        assert (await raw_request(gw.port, "GET", "/v1/info", headers)).status == 200, "last good keys kept"
        keys.unlink()

        async def revoked() -> bool:
            return (await raw_request(gw.port, "GET", "/v1/info", headers)).status == 401

        await eventually(revoked, "bob's key revoked after the file was deleted", timeout=5)
    finally:
        await gw.stop()
