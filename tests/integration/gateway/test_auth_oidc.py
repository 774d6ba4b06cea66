"""OIDC bearer JWTs against an in-process identity provider on 127.0.0.1 that counts JWKS and
discovery fetches: a valid RS256/RS512 token is accepted; every bad token is rejected with its reason
(missing, malformed, alg=none, HS256 keyed with the RSA public key, expired, nbf beyond the 60 s
leeway, wrong iss/aud, no sub, bad signature) without the token in the message; an unknown kid
causes exactly one refetch, then none for 100 more (also concurrent) within the cooldown; JWKS key
rotation is picked up on an unknown kid (concurrent requests share one fetch) and on the periodic
refresh; issuer discovery (cached, issuer checked, repeated after a failed fetch); a gzipped JWKS
read by sessions without auto-decompression (like the gateway's); an unreachable JWKS gives
jwks_unavailable, not ready, and recovers; the Trino user comes from a configurable claim and the
groups from the groups claim; NumericDate claims must be numbers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth import AuthError, AuthSettings, Authenticator, Undecided, create_authenticator
from tests.idp import AUDIENCE, IdP, claims, public_jwk, serve_idp, sign


@pytest.fixture(scope="session")
def rsa_keys() -> dict[str, rsa.RSAPrivateKey]:
    """Three RSA keys: `a` and `b` are published as the tests need, `evil` never is."""
    return {
        name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for name in ("a", "b", "evil")
    }


@pytest.fixture
async def idp(rsa_keys: dict[str, rsa.RSAPrivateKey]) -> AsyncIterator[IdP]:
    async with serve_idp(IdP(keys=[public_jwk(rsa_keys["a"], "a")])) as provider:
        yield provider


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def make_auth(idp: IdP, session: aiohttp.ClientSession) -> AsyncIterator[Callable[..., Any]]:
    started: list[Authenticator] = []

    async def build(discovery: bool = False, **oauth: Any) -> Authenticator:
        values: dict[str, Any] = {"issuer": idp.issuer, "audience": AUDIENCE, **oauth}
        if not discovery:
            values.setdefault("jwksURL", idp.url + "/jwks")
        settings = AuthSettings.model_validate(
            {"enabled": True, "type": "oauth", "oauth": values}
        )
        auth = create_authenticator(settings, session)
        await auth.start()
        started.append(auth)
        return auth

    yield build
    for auth in started:
        await auth.close()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(payload: dict[str, Any]) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "a"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}."


def hs256_with_public_key(key: rsa.RSAPrivateKey, payload: dict[str, Any]) -> str:
    """The classic key-confusion attack: HMAC keyed with the published RSA public key."""
    secret = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "a"}).encode())
    body = b64(json.dumps(payload).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


def bearer(token: str, **headers: str) -> web.Request:
    return make_mocked_request(
        "POST", "/v1/statement", headers={"Authorization": f"Bearer {token}", **headers}
    )


async def rejection(auth: Authenticator, token: str) -> str:
    with pytest.raises(AuthError) as info:
        await auth.authenticate(bearer(token))
    assert token not in info.value.message and token not in str(info.value)
    return info.value.reason


async def eventually(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"expected within {seconds} s: {what}"
        await asyncio.sleep(0.01)


async def test_valid_rs256_token_is_accepted(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth()
    principal = await auth.authenticate(bearer(sign(rsa_keys["a"], claims(idp))))
    assert principal is not None
    assert (principal.name, principal.kind, principal.subject) == ("alice", "jwt", "alice")
    assert principal.claims is not None and principal.claims["aud"] == AUDIENCE
    assert idp.jwks_fetches == 1


async def test_rs512_token_is_accepted_with_a_key_without_alg(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    idp.keys = [public_jwk(rsa_keys["a"], "a", alg=None)]
    auth = await make_auth()
    assert await auth.authenticate(bearer(sign(rsa_keys["a"], claims(idp), alg="RS512")))


async def test_token_within_the_60s_leeway_is_accepted(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth()
    now = int(time.time())
    assert await auth.authenticate(bearer(sign(rsa_keys["a"], claims(idp, nbf=now + 30))))
    assert await auth.authenticate(bearer(sign(rsa_keys["a"], claims(idp, exp=now - 30))))


async def test_request_without_bearer_is_rejected_as_missing(make_auth: Any) -> None:
    auth = await make_auth()
    with pytest.raises(AuthError) as info:
        await auth.authenticate(make_mocked_request("POST", "/v1/statement"))
    assert info.value.reason == "missing"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("garbage", "malformed"),
        ("alg_none", "alg_not_allowed"),
        ("hs256_public_key", "alg_not_allowed"),
        ("expired", "expired"),
        ("not_yet_valid", "not_yet_valid"),
        ("wrong_issuer", "bad_issuer"),
        ("wrong_audience", "bad_audience"),
        ("no_subject", "no_subject"),
        ("empty_subject", "no_subject"),
        ("no_expiry", "malformed"),
        ("signed_by_another_key", "bad_signature"),
        ("tampered_payload", "bad_signature"),
        ("rs384_for_an_rs256_key", "alg_not_allowed"),
    ],
)
async def test_bad_token_is_rejected_with_its_reason(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey], case: str, expected: str
) -> None:
    auth = await make_auth()
    now = int(time.time())
    good, evil = rsa_keys["a"], rsa_keys["evil"]
    tokens: dict[str, Callable[[], str]] = {
        "garbage": lambda: "not-a.jwt",
        "alg_none": lambda: unsigned_token(claims(idp)),
        "hs256_public_key": lambda: hs256_with_public_key(good, claims(idp)),
        "expired": lambda: sign(good, claims(idp, exp=now - 120, iat=now - 600, nbf=now - 600)),
        "not_yet_valid": lambda: sign(good, claims(idp, nbf=now + 120)),
        "wrong_issuer": lambda: sign(good, claims(idp, iss="https://other-idp.example")),
        "wrong_audience": lambda: sign(good, claims(idp, aud="someone-else")),
        "no_subject": lambda: sign(good, claims(idp, sub=None)),
        "empty_subject": lambda: sign(good, claims(idp, sub="")),
        "no_expiry": lambda: sign(good, claims(idp, exp=None)),
        "signed_by_another_key": lambda: sign(evil, claims(idp)),
        "tampered_payload": lambda: _tamper(sign(good, claims(idp)), claims(idp, sub="root")),
        "rs384_for_an_rs256_key": lambda: sign(good, claims(idp), alg="RS384"),
    }
    assert await rejection(auth, tokens[case]()) == expected


def _tamper(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(payload).encode())}.{signature}"


async def test_algorithm_outside_the_configured_list_is_rejected(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    idp.keys = [public_jwk(rsa_keys["a"], "a", alg=None)]
    auth = await make_auth(algorithms=["RS256"])
    token = sign(rsa_keys["a"], claims(idp), alg="RS512")
    assert await rejection(auth, token) == "alg_not_allowed"


async def test_unknown_kid_refetches_once_then_not_within_the_cooldown(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth(unknownKidCooldown="30s")
    assert idp.jwks_fetches == 1
    token = sign(rsa_keys["b"], claims(idp), kid="b")
    assert await rejection(auth, token) == "unknown_kid"
    assert idp.jwks_fetches == 2, "exactly one refetch for the first unknown kid"

    for i in range(50):
        assert await rejection(auth, sign(rsa_keys["b"], claims(idp), kid=f"x{i}")) == "unknown_kid"
    results = await asyncio.gather(
        *(auth.authenticate(bearer(sign(rsa_keys["b"], claims(idp), kid=f"y{i}"))) for i in range(50)),
        return_exceptions=True,
    )
    assert all(isinstance(r, AuthError) and r.reason == "unknown_kid" for r in results)
    assert idp.jwks_fetches == 2, "no refetch storm within the cooldown"


async def test_concurrent_unknown_kids_share_one_fetch(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth(unknownKidCooldown="30s")
    tokens = [sign(rsa_keys["b"], claims(idp), kid=f"k{i}") for i in range(100)]
    results = await asyncio.gather(
        *(auth.authenticate(bearer(t)) for t in tokens), return_exceptions=True
    )
    assert all(isinstance(r, AuthError) and r.reason == "unknown_kid" for r in results)
    assert idp.jwks_fetches == 2


async def test_unknown_kid_during_the_cooldown_waits_for_one_refetch_at_its_end(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    """A garbage kid starts the cooldown; a key published right after is still accepted within the
    cooldown (the token waits for the refetch at its end), and a flood of garbage kids costs one fetch
    per cooldown."""
    auth = await make_auth(unknownKidCooldown="1s")
    assert await rejection(auth, sign(rsa_keys["evil"], claims(idp), kid="garbage")) == "unknown_kid"
    assert idp.jwks_fetches == 2
    idp.keys = [public_jwk(rsa_keys["a"], "a"), public_jwk(rsa_keys["b"], "b")]
    started = time.monotonic()
    principal = await auth.authenticate(bearer(sign(rsa_keys["b"], claims(idp), kid="b")))
    assert principal is not None and principal.subject == "alice"
    assert time.monotonic() - started < 1.5 and idp.jwks_fetches == 3
    flood = await asyncio.gather(
        *(auth.authenticate(bearer(sign(rsa_keys["evil"], claims(idp), kid=f"g{i}"))) for i in range(300)),
        return_exceptions=True,
    )
    assert all(isinstance(r, AuthError) and r.reason == "unknown_kid" for r in flood)
    assert idp.jwks_fetches == 4, "300 unknown kids within one cooldown: one fetch"


async def test_rotated_key_is_picked_up_on_its_unknown_kid(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth()
    idp.keys = [public_jwk(rsa_keys["a"], "a"), public_jwk(rsa_keys["b"], "b")]
    principal = await auth.authenticate(bearer(sign(rsa_keys["b"], claims(idp), kid="b")))
    assert principal is not None and principal.subject == "alice"
    assert idp.jwks_fetches == 2


async def test_rotation_is_picked_up_by_the_periodic_refresh(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth(refreshInterval="100ms")
    old_token = sign(rsa_keys["a"], claims(idp), kid="a")
    assert await auth.authenticate(bearer(old_token))
    idp.keys = [public_jwk(rsa_keys["b"], "b")]
    fetched = idp.jwks_fetches
    await eventually(lambda: idp.jwks_fetches > fetched + 1, "two refreshes of the JWKS")
    assert await auth.authenticate(bearer(sign(rsa_keys["b"], claims(idp), kid="b")))
    assert await rejection(auth, old_token) == "unknown_kid", "a retired key is no longer trusted"


async def test_same_kid_with_new_key_material_is_picked_up_by_refresh(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth(refreshInterval="100ms")
    idp.keys = [public_jwk(rsa_keys["b"], "a")]
    fetched = idp.jwks_fetches
    await eventually(lambda: idp.jwks_fetches > fetched + 1, "two refreshes of the JWKS")
    assert await auth.authenticate(bearer(sign(rsa_keys["b"], claims(idp), kid="a")))
    assert await rejection(auth, sign(rsa_keys["a"], claims(idp), kid="a")) == "bad_signature"


async def test_issuer_discovery_finds_the_jwks(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth(discovery=True)
    assert await auth.authenticate(bearer(sign(rsa_keys["a"], claims(idp))))
    assert (idp.discovery_fetches, idp.jwks_fetches) == (1, 1)
    idp.keys.append(public_jwk(rsa_keys["b"], "b"))
    assert await auth.authenticate(bearer(sign(rsa_keys["b"], claims(idp), kid="b")))
    assert (idp.discovery_fetches, idp.jwks_fetches) == (1, 2), "discovery is cached"


async def test_discovery_naming_another_issuer_is_not_trusted(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    idp.discovery_issuer = "https://impostor.example"
    auth = await make_auth(discovery=True)
    assert await rejection(auth, sign(rsa_keys["a"], claims(idp))) == "jwks_unavailable"
    assert idp.jwks_fetches == 0


async def test_unavailable_jwks_rejects_then_recovers(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    idp.jwks_status = 503
    auth = await make_auth(unknownKidCooldown="100ms")  # start() does not raise
    token = sign(rsa_keys["a"], claims(idp))
    assert not auth.ready
    assert await rejection(auth, token) == "jwks_unavailable"
    idp.jwks_status = 200
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:
        try:
            assert await auth.authenticate(bearer(token))
            break
        except AuthError as e:
            assert e.reason == "jwks_unavailable"
            assert loop.time() < deadline, "JWKS not fetched again within 5 s after recovery"
            await asyncio.sleep(0.02)
    assert auth.ready


async def test_user_and_groups_come_from_the_configured_claims(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth(userClaim="preferred_username", groupsClaim="roles")
    token = sign(rsa_keys["a"], claims(idp, preferred_username="Alice.A", roles=["team-a", 7, "admins"]))
    principal = await auth.authenticate(bearer(token))
    assert principal is not None
    assert (principal.subject, principal.user, principal.groups) == ("alice", "Alice.A", frozenset({"team-a", "admins"}))
    assert await rejection(auth, sign(rsa_keys["a"], claims(idp))) == "no_user", "no preferred_username claim"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
async def test_numeric_date_claims_sent_as_strings_are_refused(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey], claim: str
) -> None:
    """RFC 7519: a NumericDate is a JSON number; `"exp": "9999999999"` was accepted before."""
    auth = await make_auth()
    value = "9999999999" if claim == "exp" else str(int(time.time()) - 10)
    assert await rejection(auth, sign(rsa_keys["a"], claims(idp, **{claim: value}))) == "malformed"
    assert await rejection(auth, sign(rsa_keys["a"], claims(idp, **{claim: True}))) == "malformed"


async def test_concurrent_requests_with_a_rotated_kid_all_wait_for_one_fetch(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth()
    idp.keys = [public_jwk(rsa_keys["a"], "a"), public_jwk(rsa_keys["b"], "b")]
    token = sign(rsa_keys["b"], claims(idp), kid="b")
    principals = await asyncio.gather(*(auth.authenticate(bearer(token)) for _ in range(20)))
    assert all(p is not None and p.subject == "alice" for p in principals)
    assert idp.jwks_fetches == 2


@pytest.mark.parametrize("auto_decompress", [False, True])
async def test_gzipped_jwks_is_read_whether_or_not_the_session_decompresses(
    idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey], auto_decompress: bool
) -> None:
    idp.gzip = True
    settings = AuthSettings.model_validate(
        {"enabled": True, "type": "oauth",
         "oauth": {"issuer": idp.issuer, "audience": AUDIENCE, "jwksURL": idp.url + "/jwks"}}
    )
    async with aiohttp.ClientSession(auto_decompress=auto_decompress) as session:
        auth = create_authenticator(settings, session)
        await auth.start()
        try:
            assert auth.ready
            assert await auth.authenticate(bearer(sign(rsa_keys["a"], claims(idp))))
        finally:
            await auth.close()


async def test_failed_jwks_fetch_repeats_discovery(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    idp.jwks_status = 503
    auth = await make_auth(discovery=True, unknownKidCooldown="100ms")
    assert (idp.discovery_fetches, idp.jwks_fetches) == (1, 1)
    idp.jwks_status = 200
    await eventually(lambda: auth.ready, "the JWKS loaded after the provider recovered")
    assert idp.discovery_fetches == 2, "the jwks_uri is looked up again after a failure"
    assert await auth.authenticate(bearer(sign(rsa_keys["a"], claims(idp))))


async def test_verify_now_decides_with_loaded_keys_and_defers_an_unknown_kid_without_fetching(
    make_auth: Any, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    auth = await make_auth()
    assert auth.synchronous, "the gateway's fast path may ask it"
    token = sign(rsa_keys["a"], claims(idp))
    now = auth.verify_now(bearer(token))
    assert now == await auth.authenticate(bearer(token)) and now is not None and now.subject == "alice"
    fetches = idp.jwks_fetches
    with pytest.raises(Undecided):  # key b is not loaded: deciding needs a JWKS fetch, which it leaves to authenticate
        auth.verify_now(bearer(sign(rsa_keys["b"], claims(idp), kid="b")))
    assert idp.jwks_fetches == fetches
    for bad, reason in ((sign(rsa_keys["a"], claims(idp, exp=int(time.time()) - 3600)), "expired"),
                        (sign(rsa_keys["evil"], claims(idp)), "bad_signature"),
                        (unsigned_token(claims(idp)), "alg_not_allowed")):
        with pytest.raises(AuthError) as info:
            auth.verify_now(bearer(bad))
        assert info.value.reason == reason and bad not in info.value.message
    with pytest.raises(AuthError) as missing:
        auth.verify_now(make_mocked_request("GET", "/v1/statement/executing/q/s/1"))
    assert missing.value.reason == "missing"
