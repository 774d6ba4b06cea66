"""Finding 7: JWT details, against a gateway process with OIDC from an issuer on loopback.

`exp` sent as the string "9999999999" is refused (RFC 7519 NumericDate is a number); a key published
right after a garbage-kid token started the refetch cooldown is accepted within 5 s (it used to be
refused for 30 s), while 1,000 tokens with unknown kids cost at most one JWKS fetch per cooldown; a
20 KB token is a 401 that says why, not a 400.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.security.security_helpers import GatewayProcess, raw_request
from tests.idp import IdP, claims, public_jwk, sign

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]

ETL = ("X-Trino-XTrinode", "etl")


def _auth(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


async def _status(gw: GatewayProcess, token: str) -> int:
    response = await raw_request(gw.port, "GET", "/v1/info", [_auth(token), ETL])
    return response.status


async def test_numeric_date_claims_must_be_numbers(
    oidc: GatewayProcess, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    good = claims(idp, preferred_username="alice", groups=["team-a"])
    assert await _status(oidc, sign(rsa_keys["a"], good)) == 200
    response = await raw_request(oidc.port, "GET", "/v1/info", [_auth(sign(rsa_keys["a"], {**good, "exp": "9999999999"})), ETL])
    assert response.status == 401 and "NumericDate" in response.text


async def test_a_rotated_key_is_accepted_within_5s_and_a_kid_flood_costs_one_fetch_per_cooldown(
    oidc: GatewayProcess, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    body = claims(idp, preferred_username="alice", groups=["team-a"])
    assert await _status(oidc, sign(rsa_keys["evil"], body, kid="garbage-kid")) == 401
    idp.keys = [public_jwk(rsa_keys["a"], "a"), public_jwk(rsa_keys["b"], "b")]
    try:
        started = time.monotonic()
        assert await _status(oidc, sign(rsa_keys["b"], body, kid="b")) == 200
        assert time.monotonic() - started <= 5.5, "the new key is accepted within the 5 s cooldown"

        fetches = idp.jwks_fetches
        flood_started = time.monotonic()
        statuses = await asyncio.gather(
            *(_status(oidc, sign(rsa_keys["evil"], body, kid=f"flood-{i}")) for i in range(1000)))
        elapsed = time.monotonic() - flood_started
        assert set(statuses) == {401}
        allowed = 1 + int(elapsed // 5) + 1
        assert idp.jwks_fetches - fetches <= allowed, (idp.jwks_fetches - fetches, elapsed)
    finally:
        idp.keys = [public_jwk(rsa_keys["a"], "a")]


async def test_an_oversized_token_is_a_401_that_says_why(oidc: GatewayProcess) -> None:
    response = await raw_request(oidc.port, "GET", "/v1/info", [_auth("e" + "A" * 20_000), ETL])
    assert response.status == 401 and "longer than" in response.text
