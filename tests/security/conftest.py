"""Fixtures of the security suite: real gateway processes (API keys with Redis, OIDC against an issuer on
loopback, auth off) in front of recording coordinators, with routes in the Kubernetes API emulator.

Routes (namespace per gateway): `team-a/etl` (header `etl`, coordinator A), `team-b/bi` (the default route,
coordinator B), `team-a/sleepy` (PAUSED: statements for it are held while it resumes).
Identities: API keys alice (group team-a), bob (team-b), ops (platform: admin everywhere, may impersonate);
OIDC subjects with the same groups in the `groups` claim. Rules: team-a -> team-a/*, team-b -> team-b/*.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.kubeapi import KubeApiServer
from tests.security.security_helpers import RULES, Gateways, GatewayProcess, RecordingCoordinator, api_key_auth
from tests.idp import IdP, public_jwk, serve_idp

_names = itertools.count()

@pytest.fixture(scope="package")
async def kube() -> AsyncIterator[KubeApiServer]:
    async with KubeApiServer(port=0) as server:
        yield server


@pytest.fixture(scope="package")
def kubeconfig(kube: KubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kube.write_kubeconfig(tmp_path_factory.mktemp("sec-kube") / "kubeconfig")


@pytest.fixture(scope="package")
async def coordinator_a() -> AsyncIterator[RecordingCoordinator]:
    async with RecordingCoordinator() as node:
        yield node


@pytest.fixture(scope="package")
async def coordinator_b() -> AsyncIterator[RecordingCoordinator]:
    async with RecordingCoordinator() as node:
        yield node


@pytest.fixture(scope="package")
def rsa_keys() -> dict[str, rsa.RSAPrivateKey]:
    return {name: rsa.generate_private_key(public_exponent=65537, key_size=2048) for name in ("a", "b", "evil")}


@pytest.fixture(scope="package")
async def idp(rsa_keys: dict[str, rsa.RSAPrivateKey]) -> AsyncIterator[IdP]:
    async with serve_idp(IdP(keys=[public_jwk(rsa_keys["a"], "a")])) as provider:
        yield provider


@pytest.fixture(scope="package")
async def gateways(kube: KubeApiServer, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory,
                   coordinator_a: RecordingCoordinator, coordinator_b: RecordingCoordinator,
                   temporal_env: Any) -> AsyncIterator[Gateways]:
    address = temporal_env.client.service_client.config.target_host
    found = Gateways(kube, kubeconfig, tmp_path_factory.mktemp("sec-gw"), coordinator_a, coordinator_b, address)
    yield found
    await found.stop_all()


@pytest.fixture(scope="package")
async def keyed(gateways: Gateways, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> GatewayProcess:
    """API keys from a Secret file, Redis for sticky routes and rate limits (burst 20 per principal)."""
    keys = tmp_path_factory.mktemp("sec-keys") / "api-keys.yaml"
    return await gateways.start(
        auth=api_key_auth(keys),
        redis={"url": redis_url, "keyPrefix": f"sec-{next(_names)}:"},
        rateLimit={"enabled": True, "perPrincipal": {"ratePerSecond": 0.2, "burst": 20}, "perRuntime": None},
    )


@pytest.fixture(scope="package")
async def oidc(gateways: Gateways, idp: IdP) -> GatewayProcess:
    """OIDC bearer JWTs from the loopback issuer; the Trino user is the `preferred_username` claim."""
    return await gateways.start(auth={
        "enabled": True, "type": "oauth",
        "oauth": {"issuer": idp.issuer, "audience": "trino", "jwksURL": idp.url + "/jwks",
                  "userClaim": "preferred_username", "unknownKidCooldown": "5s"},
        "impersonation": {"groups": ["platform"]},
        "authorization": {"rules": RULES},
    })


@pytest.fixture(scope="package")
async def open_gateway(gateways: Gateways) -> GatewayProcess:
    """Auth off, a per-principal limit of burst 5 (which then keys on the client address)."""
    return await gateways.start(
        rateLimit={"enabled": True, "perPrincipal": {"ratePerSecond": 0.1, "burst": 5}, "perRuntime": None},
    )

