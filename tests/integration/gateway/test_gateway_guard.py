"""Auth and rate-limit wiring of the gateway (the checks themselves are tested in test_auth_* / test_ratelimit_*).

Checks: with API-key auth on, the real trino client with a valid key gets rows, a missing or wrong
key gets 401 and the reason is counted; /healthz, /readyz, /metrics need no credentials and the demand
endpoint is on the internal listener only; with a per-principal limit, the N+1th statement gets 429 with
Retry-After while the many follow-up polls of a running multi-page query are never limited, and with
auth off a fresh X-Trino-User per statement does not escape the limit (it keys on the client address).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import trino

from gateway_helpers import GatewayFactory, MULTI_PAGE_SQL, RoutesConfigMap, query, route
from devstack.trino import TrinoNode

API_KEY = "k-123-guard-7d2e"  # long enough for the secret-leak guard (tests/leaks.py) to look for it
AUTH = {"enabled": True, "type": "apiKey", "apiKeys": {"inline": {"ci": API_KEY}}}


async def test_api_key_auth_accepts_a_valid_key_and_counts_rejections(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    async with start_gateway(auth=AUTH) as gw:
        assert await query(gw.port, MULTI_PAGE_SQL, user="ci", http_headers={"X-API-Key": API_KEY}) == await query(
            a.port or 0, MULTI_PAGE_SQL
        )
        with pytest.raises(trino.exceptions.HttpError, match="401"):
            await query(gw.port, "SELECT 1")
        with pytest.raises(trino.exceptions.HttpError, match="401"):
            await query(gw.port, "SELECT 1", http_headers={"X-API-Key": "wrong"})
        assert gw.metric("xtrinode_gateway_auth_failed_total", reason="missing") == 1
        assert gw.metric("xtrinode_gateway_auth_failed_total", reason="bad_key") == 1
        for path in ("/healthz", "/readyz", "/metrics"):
            async with http.get(gw.url + path) as response:
                assert response.status == 200, path
        async with http.get(f"{gw.internal_url}/v1/xtrinode/demand/{routes_cm.namespace}/one") as response:
            assert response.status == 200
        async with http.get(f"{gw.url}/v1/xtrinode/demand/{routes_cm.namespace}/one") as response:
            assert response.status == 404, "internal endpoints are not on the public listener"


async def test_rate_limit_refuses_the_extra_statement_but_never_follow_up_polls(
    coordinators: tuple[TrinoNode, TrinoNode], routes_cm: RoutesConfigMap, start_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    a, _ = coordinators
    await routes_cm.write(route(routes_cm.namespace, "one", a.url, default=True))
    limits = {"enabled": True, "perPrincipal": {"ratePerSecond": 0.01, "burst": 2}, "perRuntime": None}
    headers = {"X-Trino-User": "bob"}
    async with start_gateway(rateLimit=limits) as gw:
        pages: list[dict[str, Any]] = []
        for _ in range(2):
            async with http.post(f"{gw.url}/v1/statement", data=MULTI_PAGE_SQL, headers=headers) as response:
                assert response.status == 200
                pages.append(await response.json())
        async with http.post(f"{gw.url}/v1/statement", data="SELECT 1", headers=headers) as response:
            assert response.status == 429
            assert int(response.headers["Retry-After"]) >= 1
        assert gw.metric("xtrinode_gateway_rate_limited_total", scope="principal") == 1
        for page in pages:
            polls = 0
            while "nextUri" in page:
                async with http.get(page["nextUri"], headers=headers) as response:
                    assert response.status == 200
                    page = await response.json()
                polls += 1
            assert polls > 2 and "error" not in page
        async with http.post(f"{gw.url}/v1/statement", data="SELECT 1", headers={"X-Trino-User": "carol"}) as response:
            assert response.status == 429, "with auth off the bucket is the client address, not X-Trino-User"
