"""Finding 5: forwarded headers were trusted from anyone, and X-API-Key went upstream.

A client's `X-Forwarded-Host: evil.example:443` + `X-Forwarded-Proto: https` used to make every nextUri
point at evil.example; its `X-Forwarded-For` came first upstream. Now, from an untrusted peer, nextUri
points at the gateway, the coordinator sees the gateway's own X-Forwarded-* (the real peer) and no
`Forwarded`; behind a trusted proxy (`trustedProxies`) its headers are kept and the chain appended.
The gateway's API key never reaches a coordinator.
"""

from __future__ import annotations

import pytest

from tests.security.security_helpers import GatewayProcess, Gateways, RecordingCoordinator, key, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]

SPOOF = [("X-Forwarded-Host", "evil.example:443"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Port", "443"),
         ("X-Forwarded-For", "6.6.6.6"), ("Forwarded", "for=6.6.6.6;host=evil.example;proto=https"),
         ("X-Forwarded-Prefix", "/evil")]


async def _post(gw: GatewayProcess, *headers: tuple[str, str]) -> tuple[dict[str, object], int]:
    response = await raw_request(gw.port, "POST", "/v1/statement", [("X-Trino-XTrinode", "etl"), *headers],
                                 body=b"SELECT 1")
    assert response.status == 200, response.text
    return response.json(), response.status


async def test_an_untrusted_clients_forwarded_headers_are_replaced(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator
) -> None:
    page, _ = await _post(keyed, key("alice"), *SPOOF)
    assert str(page["nextUri"]).startswith(f"http://127.0.0.1:{keyed.port}/v1/statement/"), page["nextUri"]
    seen = [s for s in coordinator_a.seen if s.method == "POST"][-1].headers
    assert seen.getall("X-Forwarded-For") == ["127.0.0.1"]
    assert seen["X-Forwarded-Host"] == f"127.0.0.1:{keyed.port}" and seen["X-Forwarded-Proto"] == "http"
    assert "Forwarded" not in seen and "X-Forwarded-Prefix" not in seen
    assert "X-API-Key" not in seen and key("alice")[1] not in str(dict(seen))
    done = await raw_request(keyed.port, "DELETE", "/" + str(page["nextUri"]).split("/", 3)[3], [key("alice")])
    assert done.status in (204, 404)


async def test_a_trusted_proxys_forwarded_headers_are_kept_and_the_chain_appended(
    gateways: Gateways, coordinator_a: RecordingCoordinator
) -> None:
    gw = await gateways.start(trustedProxies=["127.0.0.0/8"])
    try:
        page, _ = await _post(gw, ("X-Trino-User", "carol"), ("X-Forwarded-Host", "trino.example.com"), ("X-Forwarded-Proto", "https"),
                              ("X-Forwarded-For", "203.0.113.9"))
        assert str(page["nextUri"]).startswith("https://trino.example.com/v1/statement/")
        seen = [s for s in coordinator_a.seen if s.method == "POST"][-1].headers
        assert seen["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
        assert seen["X-Forwarded-Host"] == "trino.example.com" and seen["X-Forwarded-Port"] == "443"
    finally:
        await gw.stop()
