"""Finding 1: authentication and rate limits were skipped for paths with dot segments.

Against a real gateway process with API keys, Redis and a per-principal burst of 20: a statement POSTed
to `/v1/xtrinode/../statement` (plain or `%2e%2e`) with `X-Trino-User: admin` and no credential is
refused with 400 and never reaches a coordinator, 60 times in a row (it used to pass 60 of 60 past the
limit); `GET /v1/statement/queued/../../../v1/query` (everyone's SQL) and `DELETE .../../v1/query/<id>`
(cancel anyone's query) are refused, and the query keeps running. Listing queries needs an admin rule.
Refused requests are counted as kind="refused", never "internal".
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.security.security_helpers import GatewayProcess, RecordingCoordinator, key, metric, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]

BYPASSES = [
    "/v1/xtrinode/../statement",
    "/v1/xtrinode/%2e%2e/statement",
    "/v1/xtrinode/%2E%2E/statement",
    "/v1/xtrinode/.%2e/statement",
    "/healthz/../v1/statement",
    "/metrics/%2e%2e/v1/statement",
    "/v1/statement/queued/../../statement",
    "/v1//statement",
    "/v1%2fstatement",
    "/v1\\statement",
]


async def test_dot_segment_statements_without_credentials_never_reach_a_coordinator(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator, coordinator_b: RecordingCoordinator
) -> None:
    def reached() -> int:  # the gateway's own health probes (GET /v1/info) pass the recording hop too
        return sum(1 for node in (coordinator_a, coordinator_b) for seen in node.seen if seen.path_qs != "/v1/info")

    before = reached()
    refused_before = await metric(keyed, "xtrinode_gateway_requests_total", kind="refused", status="400")
    statuses = []
    for attempt in range(60):
        target = BYPASSES[attempt % len(BYPASSES)]
        response = await raw_request(keyed.port, "POST", target, [
            ("X-Trino-XTrinode", "etl"), ("X-Trino-User", "admin")], body=b"SELECT current_user")
        statuses.append(response.status)
        assert "Bad request target" in response.text
    assert statuses == [400] * 60, "every bypass is refused, none passes the burst of 20"
    assert reached() == before, "no bypass reached a coordinator"
    refused = await metric(keyed, "xtrinode_gateway_requests_total", kind="refused", status="400")
    assert refused - refused_before == 60


async def test_listing_and_cancelling_queries_through_dot_segments_is_refused(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator
) -> None:
    started = await raw_request(keyed.port, "POST", "/v1/statement", [key("alice"), ("X-Trino-XTrinode", "etl")],
                                body=b"SELECT sleep(8)")
    assert started.status == 200, started.text
    query_id = started.json()["id"]
    next_path = "/" + started.json()["nextUri"].split("/", 3)[3]
    polled = await raw_request(keyed.port, "GET", next_path, [key("alice"), ("X-Trino-XTrinode", "etl")])
    assert polled.status == 200, "Trino creates a query on its first poll; before it, /v1/query has none"
    for method, target in [("GET", "/v1/statement/queued/../../../v1/query"),
                           ("GET", "/v1/statement/queued/%2e%2e/%2e%2e/%2e%2e/v1/query"),
                           ("DELETE", f"/v1/statement/queued/../../../v1/query/{query_id}"),
                           ("DELETE", f"/v1/statement/executing/..%2f..%2f..%2fv1/query/{query_id}")]:
        response = await raw_request(keyed.port, method, target, [("X-Trino-XTrinode", "etl")])
        assert response.status == 400, (target, response.status, response.text)
    async with aiohttp.ClientSession() as http, http.get(
        f"{coordinator_a.node.url}/v1/query/{query_id}", headers={"X-Trino-User": "admin"}
    ) as response:
        state = (await response.json())["state"]
    assert state not in ("FAILED", "FINISHED"), "the query was not cancelled"

    for who, status in (("alice", 403), ("bob", 403), ("ops", 200)):
        listing = await raw_request(keyed.port, "GET", "/v1/query", [key(who), ("X-Trino-XTrinode", "etl")])
        if who == "bob":
            assert listing.status == 403 and "may not use runtime team-a/etl" in listing.text
        else:
            assert listing.status == status, (who, listing.text)
    cancel = await raw_request(keyed.port, "DELETE", f"/v1/query/{query_id}", [key("alice")])
    assert cancel.status in (200, 204)
