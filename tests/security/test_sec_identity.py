"""Findings 3 and 4: any caller could act as any Trino user, and reach any team's runtime and queries.

Identity (API keys and OIDC, real gateway processes): alice's credential with `X-Trino-User: admin` (or
`X-Trino-Original-User`, `X-Presto-User`) is refused 403 with a Trino PERMISSION_DENIED error and never
reaches a coordinator; without the header the query runs as her configured user (the coordinator sees
it); a principal of an impersonation group may run as another user; an OIDC token runs as its
`preferred_username` claim.
Authorization: alice (team-a) is refused team-b's runtime and the default route (403 naming what she
asked for, listing nothing else); bob's query is invisible to alice (GET, DELETE and its statement pages:
404, and it keeps running) and visible to the platform admin; errors list no routing groups.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.security.security_helpers import GatewayProcess, RecordingCoordinator, key, raw_request
from tests.idp import IdP, claims, sign

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.shared_services]

ETL = ("X-Trino-XTrinode", "etl")


def _posts(node: RecordingCoordinator) -> int:
    return sum(1 for s in node.seen if s.method == "POST")


async def _drain(gw: GatewayProcess, page: dict[str, Any], *headers: tuple[str, str]) -> dict[str, Any]:
    while "nextUri" in page:
        response = await raw_request(gw.port, "GET", "/" + page["nextUri"].split("/", 3)[3], list(headers))
        assert response.status == 200, response.text
        page = response.json()
    return page


@pytest.mark.parametrize("header", ["X-Trino-User", "X-Trino-Original-User", "X-Presto-User"])
async def test_a_credential_cannot_name_another_trino_user(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator, header: str
) -> None:
    before = _posts(coordinator_a)
    response = await raw_request(keyed.port, "POST", "/v1/statement", [key("alice"), ETL, (header, "admin")],
                                 body=b"SELECT 1")
    assert response.status == 403
    error = response.json()["error"]
    assert error["errorName"] == "PERMISSION_DENIED" and "'admin' is not your user 'alice'" in error["message"]
    assert _posts(coordinator_a) == before, "refused before any coordinator saw it"


async def test_without_x_trino_user_the_query_runs_as_the_principals_user(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator
) -> None:
    response = await raw_request(keyed.port, "POST", "/v1/statement", [key("alice"), ETL], body=b"SELECT 1")
    assert response.status == 200, response.text
    assert "error" not in await _drain(keyed, response.json(), key("alice"))
    posted = [s for s in coordinator_a.seen if s.method == "POST"][-1]
    assert posted.headers.getall("X-Trino-User") == ["alice"]
    assert "X-API-Key" not in posted.headers, "the gateway's credential never goes upstream"


async def test_an_impersonation_group_may_run_as_another_user(
    keyed: GatewayProcess, coordinator_a: RecordingCoordinator
) -> None:
    response = await raw_request(keyed.port, "POST", "/v1/statement", [key("ops"), ETL, ("X-Trino-User", "etl_svc")],
                                 body=b"SELECT 1")
    assert response.status == 200, response.text
    await _drain(keyed, response.json(), key("ops"))
    assert [s for s in coordinator_a.seen if s.method == "POST"][-1].headers["X-Trino-User"] == "etl_svc"


async def test_an_oidc_token_runs_as_its_user_claim_and_cannot_name_another(
    oidc: GatewayProcess, idp: IdP, rsa_keys: dict[str, rsa.RSAPrivateKey], coordinator_a: RecordingCoordinator
) -> None:
    token = sign(rsa_keys["a"], claims(idp, sub="u-17", preferred_username="alice.a", groups=["team-a"]))
    auth = ("Authorization", f"Bearer {token}")
    response = await raw_request(oidc.port, "POST", "/v1/statement", [auth, ETL], body=b"SELECT 1")
    assert response.status == 200, response.text
    await _drain(oidc, response.json(), auth)
    posted = [s for s in coordinator_a.seen if s.method == "POST"][-1]
    assert posted.headers["X-Trino-User"] == "alice.a"
    assert posted.headers["Authorization"] == f"Bearer {token}", "a JWT reaches the coordinator unchanged"
    refused = await raw_request(oidc.port, "POST", "/v1/statement", [auth, ETL, ("X-Trino-User", "u-17")],
                                body=b"SELECT 1")
    assert refused.status == 403


async def test_a_principal_reaches_only_the_runtimes_its_rules_allow(
    keyed: GatewayProcess, coordinator_b: RecordingCoordinator
) -> None:
    before = _posts(coordinator_b)
    for selector, asked in ((("X-Trino-XTrinode", "team-b/bi"), "runtime team-b/bi"),
                            (("X-Trino-Routing-Group", "team-b--bi"), "routing group 'team-b--bi'"),
                            (("X-Trino-Client-Info", "no selector"), "the default route")):
        response = await raw_request(keyed.port, "POST", "/v1/statement", [key("alice"), selector], body=b"SELECT 1")
        assert response.status == 403, response.text
        message = response.json()["error"]["message"]
        assert asked in message and "etl" not in message and "sleepy" not in message, message
    assert _posts(coordinator_b) == before
    allowed = await raw_request(keyed.port, "POST", "/v1/statement", [key("bob")], body=b"SELECT 1")
    assert allowed.status == 200 and "error" not in allowed.json()
    await _drain(keyed, allowed.json(), key("bob"))


async def test_another_principals_query_is_invisible_and_cannot_be_cancelled(
    keyed: GatewayProcess, coordinator_b: RecordingCoordinator
) -> None:
    started = await raw_request(keyed.port, "POST", "/v1/statement", [key("bob")], body=b"SELECT sleep(6)")
    assert started.status == 200, started.text
    page = started.json()
    query_id, next_path = page["id"], "/" + page["nextUri"].split("/", 3)[3]
    polled = await raw_request(keyed.port, "GET", next_path, [key("bob")])
    assert polled.status == 200, "Trino creates a query on its first poll; before it, /v1/query has none"
    for method, path in (("GET", f"/v1/query/{query_id}"), ("DELETE", f"/v1/query/{query_id}"),
                         ("PUT", f"/v1/query/{query_id}/killed"), ("GET", next_path), ("DELETE", next_path),
                         ("GET", f"/ui/api/query/{query_id}")):
        response = await raw_request(keyed.port, method, path, [key("alice")])
        assert response.status == 404, (method, path, response.status, response.text)
    async with aiohttp.ClientSession() as http, http.get(
        f"{coordinator_b.node.url}/v1/query/{query_id}", headers={"X-Trino-User": "admin"}
    ) as response:
        assert (await response.json())["state"] not in ("FAILED", "FINISHED"), "still running"
    admin = await raw_request(keyed.port, "GET", f"/v1/query/{query_id}", [key("ops")])
    assert admin.status == 200 and admin.json()["queryId"] == query_id
    own = await raw_request(keyed.port, "DELETE", next_path, [key("bob")])
    assert own.status == 204


async def test_errors_never_list_the_routing_groups(keyed: GatewayProcess) -> None:
    anonymous = await raw_request(keyed.port, "POST", "/v1/statement", [("X-Trino-Routing-Group", "nope")], body=b"SELECT 1")
    assert anonymous.status == 401 and "team" not in anonymous.text
    known = await raw_request(keyed.port, "POST", "/v1/statement", [key("alice"), ("X-Trino-Routing-Group", "nope")],
                              body=b"SELECT 1")
    assert known.status == 200 and "team-" not in known.text and "nope" in known.json()["error"]["message"]
