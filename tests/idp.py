"""A tiny OpenID provider for tests: discovery and JWKS documents on loopback, with fetch counters,
plus helpers to make JWKs, claims and signed tokens. Used by the gateway's OIDC tests and the security
suite (a real issuer the gateway process fetches keys from).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "trino"


def public_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str | None = "RS256") -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig")
    if alg is not None:
        jwk["alg"] = alg
    return jwk


@dataclass
class IdP:
    """A tiny identity provider: discovery and JWKS documents, with fetch counters."""

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    jwks_status: int = 200
    gzip: bool = False
    discovery_issuer: str | None = None
    jwks_fetches: int = 0
    discovery_fetches: int = 0

    @property
    def issuer(self) -> str:
        return self.url + "/realm"

    async def discovery(self, request: web.Request) -> web.Response:
        self.discovery_fetches += 1
        return web.json_response(
            {"issuer": self.discovery_issuer or self.issuer, "jwks_uri": self.url + "/jwks"}
        )

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        if self.jwks_status != 200:
            return web.Response(status=self.jwks_status, text="unavailable")
        body = json.dumps({"keys": self.keys}).encode()
        if self.gzip:  # whatever the client asked for, as some CDNs do
            return web.Response(
                body=gzip.compress(body),
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
        return web.Response(body=body, content_type="application/json")


@asynccontextmanager
async def serve_idp(provider: IdP) -> AsyncIterator[IdP]:
    """Serve `provider` on 127.0.0.1 (a free port) until the block ends."""
    app = web.Application()
    app.router.add_get("/realm/.well-known/openid-configuration", provider.discovery)
    app.router.add_get("/jwks", provider.jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    provider.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield provider
    finally:
        await runner.cleanup()


def claims(idp: IdP, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": idp.issuer, "aud": AUDIENCE, "sub": "alice", "iat": now, "nbf": now, "exp": now + 300
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def sign(key: rsa.RSAPrivateKey, payload: dict[str, Any], kid: str | None = "a",
         alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)
