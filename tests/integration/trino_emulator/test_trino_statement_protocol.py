"""The statement protocol on the wire (aiohttp client), checked against recorded facts of real Trino.

Checks: 401 without a user (exact body and challenge), 400 for an empty statement, the POST page
shape (QUEUED, ids, slugs, no columns), the field sets of pages recorded from a real Trino, long-polling instead of spinning, token replay / 410 / 404,
404 for bad slugs and unknown ids, concurrent retries of one token, the final page (no nextUri, X-Trino-Set-* headers), DELETE on
nextUri (204, then FAILED USER_CANCELED), DELETE /v1/query/{id}, forwarded headers (nextUri at the
proxy when enabled, 406 when not), abandonment after query.client.timeout, and no 500 on bad input.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import pytest

from trino_facts import (
    QUERY_ID,
    REAL_COLUMN_KEYS,
    REAL_ERROR_KEYS,
    REAL_FAILURE_INFO_KEYS,
    REAL_PAGE_KEYS,
    REAL_STATS_KEYS,
    SLUG,
)
from trino_helpers import eventually, query_info, seconds
from devstack.trino import NodeSettings, TrinoNode

USER = {"X-Trino-User": "wire"}


async def _post(http: aiohttp.ClientSession, node: TrinoNode, sql: str, **headers: str) -> dict[str, Any]:
    async with http.post(f"{node.url}/v1/statement", data=sql, headers={**USER, **headers}) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def _get(http: aiohttp.ClientSession, uri: str) -> tuple[int, dict[str, Any] | str, Any]:
    async with http.get(uri) as response:
        if response.content_type == "application/json":
            return response.status, await response.json(), response.headers
        return response.status, await response.text(), response.headers


async def _drain(http: aiohttp.ClientSession, page: dict[str, Any]) -> tuple[dict[str, Any], Any, list[str]]:
    states = [page["stats"]["state"]]
    headers = None
    while "nextUri" in page:
        status, body, headers = await _get(http, page["nextUri"])
        assert status == 200 and isinstance(body, dict)
        page = body
        states.append(page["stats"]["state"])
    return page, headers, states


async def test_post_without_user_is_401_with_trino_body(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{coordinator.url}/v1/statement", data="SELECT 1") as response:
        assert response.status == 401
        assert await response.text() == "Basic authentication or X-Trino-User must be sent"
        assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_basic_user_without_password_is_accepted(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": "Basic " + base64.b64encode(b"basic-user:").decode()}
    async with http.post(f"{coordinator.url}/v1/statement", data="SELECT 1", headers=headers) as response:
        assert response.status == 200
        page = await response.json()
    async with http.delete(page["nextUri"]) as response:
        assert response.status == 204


async def test_empty_statement_is_400(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{coordinator.url}/v1/statement", data="  ", headers=USER) as response:
        assert response.status == 400
        assert await response.text() == "SQL statement is empty"


async def test_post_answers_queued_page_with_trino_shapes(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    page = await _post(http, coordinator, "SELECT 1")
    assert QUERY_ID.match(page["id"])
    assert page["infoUri"] == f"{coordinator.url}/ui/query.html?{page['id']}"
    prefix = f"{coordinator.url}/v1/statement/queued/{page['id']}/"
    assert page["nextUri"].startswith(prefix)
    slug, token = page["nextUri"][len(prefix):].split("/")
    assert SLUG.match(slug) and token == "1"
    assert page["stats"]["state"] == "QUEUED" and page["stats"]["queued"] is True
    assert "columns" not in page and "data" not in page and "error" not in page
    assert page["warnings"] == []
    final, _, states = await _drain(http, page)
    assert states[0] == "QUEUED" and states[-1] == "FINISHED"
    assert set(states) <= {"QUEUED", "RUNNING", "FINISHED"}
    assert final["columns"] == [{"name": "_col0", "type": "integer",
                                 "typeSignature": {"rawType": "integer", "arguments": []}}]
    assert final["data"] == [[1]]
    assert "nextUri" not in final
    assert final["stats"]["progressPercentage"] == 100.0


async def test_pages_carry_every_field_of_recorded_real_pages(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    pages = [await _post(http, coordinator, "SELECT * FROM tpch.tiny.region")]
    while "nextUri" in pages[-1]:
        status, body, _ = await _get(http, pages[-1]["nextUri"])
        assert status == 200 and isinstance(body, dict)
        pages.append(body)
    for page in pages:
        assert REAL_PAGE_KEYS <= set(page) and REAL_STATS_KEYS <= set(page["stats"])
        assert all(value is not None for value in page.values()), "Trino leaves absent fields out, never null"
    assert all(REAL_COLUMN_KEYS <= set(column) for column in pages[-1]["columns"])

    failed, _, _ = await _drain(http, await _post(http, coordinator, "SELECT * FROM tiny.nation"))
    assert REAL_ERROR_KEYS <= set(failed["error"])
    assert REAL_FAILURE_INFO_KEYS <= set(failed["error"]["failureInfo"])
    assert failed["error"]["errorLocation"] == {"lineNumber": 1, "columnNumber": 15}


async def test_query_ids_share_one_coordinator_id_and_count_up(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    first = await _post(http, coordinator, "SELECT 1")
    second = await _post(http, coordinator, "SELECT 2")
    assert first["id"][-5:] == second["id"][-5:]
    assert int(second["id"].split("_")[2]) == int(first["id"].split("_")[2]) + 1
    async with http.get(f"{coordinator.url}/v1/info") as response:
        assert (await response.json())["coordinatorId"] == first["id"][-5:]
    for page in (first, second):
        async with http.delete(page["nextUri"]) as response:
            assert response.status == 204


async def test_running_query_is_long_polled_not_spun(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    page = await _post(http, coordinator, "SELECT sleep(1.5)")
    started = time.monotonic()
    requests = 0
    while "nextUri" in page:
        _, body, _ = await _get(http, page["nextUri"])
        assert isinstance(body, dict)
        page = body
        requests += 1
    assert page["data"] == [[True]]
    assert time.monotonic() - started >= 1.4
    assert requests <= 6, f"{requests} requests for a 1.5 s query: the server does not long-poll"


async def test_token_replay_gone_and_ahead(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    page = await _post(http, coordinator, "SELECT x FROM UNNEST(sequence(1, 350)) AS t(x)")
    while "/executing/" not in page["nextUri"]:
        _, body, _ = await _get(http, page["nextUri"])
        assert isinstance(body, dict)
        page = body
    executing0 = page["nextUri"]
    status, first, _ = await _get(http, executing0)
    assert status == 200 and isinstance(first, dict)
    status, replay, _ = await _get(http, executing0)
    assert status == 200 and replay == first, "the same token must replay the same page"

    ahead = first["nextUri"].rsplit("/", 1)[0] + "/5"
    assert (await _get(http, ahead))[0] == 404
    status, second, _ = await _get(http, first["nextUri"])
    assert status == 200 and isinstance(second, dict)
    assert (await _get(http, executing0))[0] == 410
    page = second
    while "nextUri" in page:
        last_uri = page["nextUri"]
        status, body, _ = await _get(http, last_uri)
        assert status == 200 and isinstance(body, dict)
        page = body
    assert (await _get(http, last_uri))[1] == page, "the final page replays too"
    base, token = last_uri.rsplit("/", 1)
    assert (await _get(http, f"{base}/{int(token) + 1}"))[0] == 404, "past the end is 404"


async def test_concurrent_requests_for_one_token_get_the_same_page(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    page = await _post(http, coordinator, "SELECT x FROM UNNEST(sequence(1, 250)) AS t(x)")
    while "/executing/" not in page["nextUri"]:
        _, body, _ = await _get(http, page["nextUri"])
        assert isinstance(body, dict)
        page = body
    answers = await asyncio.gather(*(_get(http, page["nextUri"]) for _ in range(3)))
    assert all(answer[1] == answers[0][1] for answer in answers), "a retried token must replay, not advance"
    first = answers[0][1]
    assert isinstance(first, dict)
    final, _, _ = await _drain(http, first)
    rows = [row[0] for row in first.get("data", [])]
    assert rows == list(range(1, len(rows) + 1))
    assert "error" not in final


async def test_bad_slug_and_unknown_query_are_404(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    page = await _post(http, coordinator, "SELECT 1")
    base, _slug, token = page["nextUri"].rsplit("/", 2)
    status, body, _ = await _get(http, f"{base}/y{'0' * 40}/{token}")
    assert (status, body) == (404, "Query not found")
    unknown = page["nextUri"].replace(page["id"], "20200101_000000_00000_aaaaa")
    assert (await _get(http, unknown))[0] == 404
    async with http.delete(unknown) as response:
        assert response.status == 404
    async with http.delete(page["nextUri"]) as response:
        assert response.status == 204


async def test_use_and_set_session_headers_are_on_the_final_page(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    final, headers, _ = await _drain(http, await _post(http, coordinator, "USE tpch.tiny"))
    assert headers["X-Trino-Set-Catalog"] == "tpch" and headers["X-Trino-Set-Schema"] == "tiny"
    assert final["updateType"] == "USE" and "nextUri" not in final
    final, headers, _ = await _drain(http, await _post(http, coordinator, "SET SESSION a_b = 'x y,z'"))
    assert headers.getall("X-Trino-Set-Session") == ["a_b=x%20y%2Cz"]
    assert final["updateType"] == "SET SESSION"
    _, headers, _ = await _drain(http, await _post(http, coordinator, "RESET SESSION a_b"))
    assert headers["X-Trino-Clear-Session"] == "a_b"


async def test_delete_next_uri_cancels_with_204_then_failed_user_canceled(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    page = await _post(http, coordinator, "SELECT sleep(20)")
    while "/executing/" not in page["nextUri"]:
        _, body, _ = await _get(http, page["nextUri"])
        assert isinstance(body, dict)
        page = body
    async with http.delete(page["nextUri"]) as response:
        assert response.status == 204
    info = await query_info(http, coordinator, page["id"])
    assert info is not None and info["state"] == "FAILED"
    assert info["errorCode"]["name"] == "USER_CANCELED" and info["errorType"] == "USER_ERROR"
    status, body, _ = await _get(http, page["nextUri"])
    assert status == 200 and isinstance(body, dict)
    assert body["error"]["errorName"] == "USER_CANCELED" and body["error"]["message"] == "Query was canceled"
    assert "nextUri" not in body


async def test_delete_v1_query_cancels_and_unknown_is_harmless(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    page = await _post(http, coordinator, "SELECT sleep(20)")
    async with http.get(page["nextUri"]):
        pass
    async with http.delete(f"{coordinator.url}/v1/query/{page['id']}", headers=USER) as response:
        assert response.status == 204
    info = await query_info(http, coordinator, page["id"])
    assert info is not None and info["state"] == "FAILED" and info["errorCode"]["name"] == "USER_CANCELED"
    async with http.get(f"{coordinator.url}/v1/query/20200101_000000_00000_aaaaa", headers=USER) as response:
        assert response.status == 410


async def test_kill_query_answers_202_then_409_and_410_for_unknown(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    page = await _post(http, coordinator, "SELECT sleep(20)")
    async with http.get(page["nextUri"]):
        pass
    killed = f"{coordinator.url}/v1/query/{page['id']}/killed"
    async with http.put(killed, data="maintenance", headers=USER) as response:
        assert response.status == 202
    async with http.put(killed, data="again", headers=USER) as response:
        assert response.status == 409
    async with http.put(f"{coordinator.url}/v1/query/20200101_000000_00000_aaaaa/killed", headers=USER) as response:
        assert response.status == 410
    info = await query_info(http, coordinator, page["id"])
    assert info is not None and info["errorCode"]["name"] == "ADMINISTRATIVELY_KILLED"


async def test_x_forwarded_headers_are_rejected_406_when_not_processed(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    headers = {**USER, "X-Forwarded-Host": "gateway.example:9443"}
    async with http.post(f"{coordinator.url}/v1/statement", data="SELECT 1", headers=headers) as response:
        assert response.status == 406
        assert await response.text() == (
            "Server configuration does not allow processing of the X-Forwarded-Host header"
        )


async def test_forwarded_headers_put_next_uri_on_the_proxy() -> None:
    settings = NodeSettings(port=0, process_forwarded=True)
    async with TrinoNode(settings) as node, aiohttp.ClientSession() as http:
        headers = {**USER, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "gateway.example",
                   "X-Forwarded-Port": "9443", "X-Forwarded-Prefix": "/trino", "X-Forwarded-For": "10.0.0.1"}
        async with http.post(f"{node.url}/v1/statement", data="SELECT 1", headers=headers) as response:
            page = await response.json()
        assert page["nextUri"].startswith(f"https://gateway.example:9443/trino/v1/statement/queued/{page['id']}/")
        assert page["infoUri"] == f"https://gateway.example:9443/trino/ui/query.html?{page['id']}"
        async with http.post(f"{node.url}/v1/statement", data="SELECT 1", headers=USER) as response:
            plain = await response.json()
        assert plain["nextUri"].startswith(f"{node.url}/v1/statement/queued/")
        for uri in (page["nextUri"].replace("https://gateway.example:9443/trino", node.url), plain["nextUri"]):
            async with http.delete(uri) as response:
                assert response.status == 204


async def test_query_nobody_polls_fails_abandoned() -> None:
    settings = NodeSettings(port=0, query_client_timeout=seconds(0.4))
    async with TrinoNode(settings) as node, aiohttp.ClientSession() as http:
        page = await _post(http, node, "SELECT sleep(30)")
        async with http.get(page["nextUri"]):
            pass

        async def failed() -> dict[str, Any] | None:
            info = await query_info(http, node, page["id"])
            return info if info is not None and info["state"] == "FAILED" else None

        info = await eventually(failed, "the unpolled query to fail ABANDONED_QUERY", timeout=5)
        assert info["errorCode"] == {"code": 2, "name": "ABANDONED_QUERY", "type": "USER_ERROR"}


@pytest.mark.parametrize(
    "sql",
    ["'", "SELECT \"", "SELECT ((1", "SELECT 1;; SELECT 2", "SHOW", "USE", "SET SESSION", "SELECT * FROM",
     "SELECT x FROM UNNEST(sequence(1)) t(x)", "SELECT 1 FROM tpch.tiny.nation.extra.part", "\x00\x01",
     "SELECT sleep('x')", "DESCRIBE tpch.tiny.nope", "SHOW SCHEMAS FROM nope", "SELECT 9999999999999999999999"],
)
async def test_bad_sql_fails_as_a_query_never_a_server_error(
    coordinator: TrinoNode, http: aiohttp.ClientSession, sql: str
) -> None:
    final, _, states = await _drain(http, await _post(http, coordinator, sql))
    assert states[-1] in ("FAILED", "FINISHED")
    if states[-1] == "FAILED":
        error = final["error"]
        assert error["errorType"] in ("USER_ERROR", "INTERNAL_ERROR")
        assert {"message", "errorCode", "errorName", "failureInfo"} <= set(error)
        assert {"type", "suppressed", "stack"} <= set(error["failureInfo"])


async def test_garbage_paths_and_tokens_never_500(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    for uri in ("/v1/statement/queued/x/y/z", "/v1/statement/executing/x/y/-1", "/v1/statement/executing/a/b/c",
                "/v1/query/%00", "/v1/info/state?x=1"):
        async with http.get(coordinator.url + uri, headers=USER) as response:
            assert response.status < 500, uri
    async with http.put(f"{coordinator.url}/v1/info/state", data="not json",
                        headers={**USER, "Content-Type": "application/json"}) as response:
        assert response.status == 403, "access control is checked before the body is read"


async def test_concurrent_queries_all_finish(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    pages = await asyncio.gather(*(_post(http, coordinator, f"SELECT {i}, sleep(0.2)") for i in range(8)))
    finals = await asyncio.gather(*(_drain(http, page) for page in pages))
    assert sorted(final["data"][0][0] for final, _, _ in finals) == list(range(8))
