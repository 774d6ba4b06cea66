"""The statement protocol on the wire (aiohttp client); contract tests run on the emulator and on real Trino 476.

Checks: 401 without a user (exact body and challenge), 400 for an empty statement, the POST page
shape (QUEUED, ids, slugs, no columns), the field sets of pages recorded from a real Trino, long-polling
instead of spinning, token replay / 410 / 404, 404 for bad slugs and unknown ids, concurrent retries of
one token, the final page (no nextUri, X-Trino-Set-* headers), DELETE on nextUri (204, then FAILED
USER_CANCELED), DELETE /v1/query, kill, X-Forwarded-* refused (406), no 500 on bad input. Emulator only
(they need node settings a shared real Trino does not have): forwarded headers applied to nextUri when
enabled, abandonment after query.client.timeout.
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
    STATE_ORDER,
)
from trino_helpers import Backend, HasUrl, emulator_settings, eventually, query_info, seconds
from devstack.trino import TrinoNode

USER = {"X-Trino-User": "wire"}


async def post(http: aiohttp.ClientSession, node: HasUrl, sql: str, **headers: str) -> dict[str, Any]:
    async with http.post(f"{node.url}/v1/statement", data=sql, headers={**USER, **headers}) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def get(http: aiohttp.ClientSession, uri: str) -> tuple[int, dict[str, Any] | str, Any]:
    async with http.get(uri) as response:
        if response.content_type == "application/json":
            return response.status, await response.json(), response.headers
        return response.status, await response.text(), response.headers


async def drain(http: aiohttp.ClientSession, page: dict[str, Any]) -> tuple[dict[str, Any], Any, list[dict[str, Any]]]:
    """Follow nextUri to the end: (last page, its headers, every page)."""
    pages = [page]
    headers = None
    while "nextUri" in page:
        status, body, headers = await get(http, page["nextUri"])
        assert status == 200 and isinstance(body, dict), (status, body)
        page = body
        pages.append(page)
    return page, headers, pages


def rows_of(pages: list[dict[str, Any]]) -> list[list[Any]]:
    return [row for page in pages for row in page.get("data", [])]


async def until_executing(http: aiohttp.ClientSession, page: dict[str, Any]) -> dict[str, Any]:
    while "/executing/" not in page["nextUri"]:
        _, body, _ = await get(http, page["nextUri"])
        assert isinstance(body, dict)
        page = body
    return page


async def test_post_without_user_is_401_with_trino_body(backend: Backend, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{backend.url}/v1/statement", data="SELECT 1") as response:
        assert response.status == 401
        assert await response.text() == "Basic authentication or X-Trino-Original-User or X-Trino-User must be sent"
        assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_basic_user_without_password_is_accepted(backend: Backend, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": "Basic " + base64.b64encode(b"basic-user:").decode()}
    async with http.post(f"{backend.url}/v1/statement", data="SELECT 1", headers=headers) as response:
        assert response.status == 200
        page = await response.json()
    async with http.delete(page["nextUri"]) as response:
        assert response.status == 204


async def test_empty_statement_is_400_and_blank_text_a_syntax_error(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{backend.url}/v1/statement", data="", headers=USER) as response:
        assert response.status == 400
        assert await response.text() == "Error 400 Bad Request: SQL statement is empty"
    final, _, _ = await drain(http, await post(http, backend, "  "))
    assert final["error"]["errorName"] == "SYNTAX_ERROR"


async def test_post_answers_queued_page_with_trino_shapes(backend: Backend, http: aiohttp.ClientSession) -> None:
    page = await post(http, backend, "SELECT 1")
    assert QUERY_ID.match(page["id"])
    assert page["infoUri"] == f"{backend.url}/ui/query.html?{page['id']}"
    prefix = f"{backend.url}/v1/statement/queued/{page['id']}/"
    assert page["nextUri"].startswith(prefix)
    slug, token = page["nextUri"][len(prefix):].split("/")
    assert SLUG.match(slug) and token == "1"
    assert page["stats"]["state"] == "QUEUED" and page["stats"]["queued"] is True
    assert "columns" not in page and "data" not in page and "error" not in page
    assert page["warnings"] == []
    final, _, pages = await drain(http, page)
    states = [p["stats"]["state"] for p in pages]
    assert states[0] == "QUEUED" and states[-1] == "FINISHED"
    assert [STATE_ORDER.index(s) for s in states] == sorted(STATE_ORDER.index(s) for s in states), states
    assert rows_of(pages) == [[1]]
    assert final["columns"] == [{"name": "_col0", "type": "integer",
                                 "typeSignature": {"rawType": "integer", "arguments": []}}]
    assert "nextUri" not in final and "data" not in final, "the last page of a query is a trailing page without rows"
    assert final["stats"]["progressPercentage"] == 100.0


async def test_pages_carry_every_field_of_recorded_real_pages(backend: Backend, http: aiohttp.ClientSession) -> None:
    _, _, pages = await drain(http, await post(http, backend, "SELECT * FROM tpch.tiny.region"))
    for page in pages:
        assert REAL_PAGE_KEYS <= set(page) and REAL_STATS_KEYS <= set(page["stats"])
        assert all(value is not None for value in page.values()), "Trino leaves absent fields out, never null"
    assert all(REAL_COLUMN_KEYS <= set(column) for column in pages[-1]["columns"])

    failed, _, _ = await drain(http, await post(http, backend, "SELECT * FROM tiny.nation"))
    assert REAL_ERROR_KEYS <= set(failed["error"])
    assert REAL_FAILURE_INFO_KEYS <= set(failed["error"]["failureInfo"])
    assert failed["error"]["errorLocation"] == {"lineNumber": 1, "columnNumber": 15}


async def test_query_ids_share_one_coordinator_id_and_count_up(backend: Backend, http: aiohttp.ClientSession) -> None:
    first = await post(http, backend, "SELECT 1")
    second = await post(http, backend, "SELECT 2")
    assert first["id"][-5:] == second["id"][-5:]
    assert int(second["id"].split("_")[2]) == int(first["id"].split("_")[2]) + 1
    for page in (first, second):
        async with http.delete(page["nextUri"]) as response:
            assert response.status == 204


async def test_running_query_is_long_polled_not_spun(backend: Backend, http: aiohttp.ClientSession) -> None:
    page = await post(http, backend, backend.sleep_sql(1.5))
    started = time.monotonic()
    _, _, pages = await drain(http, page)
    assert rows_of(pages) == [[True]]
    assert time.monotonic() - started >= 1.4
    # A spinning server answers hundreds; real Trino 476 needed 10 on a loaded machine (queued pages
    # answer at once before the long polls of the running query).
    assert len(pages) <= 15, f"{len(pages)} requests for a 1.5 s query: the server does not long-poll"


async def _to_second_data_page(http: aiohttp.ClientSession, backend: Backend, sql: str
                               ) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(URI of the first executing page that has rows, that page, the page after it)."""
    page = await until_executing(http, await post(http, backend, sql))
    while True:
        uri = page["nextUri"]
        status, body, _ = await get(http, uri)
        assert status == 200 and isinstance(body, dict)
        if body.get("data"):
            status, after, _ = await get(http, body["nextUri"])
            assert status == 200 and isinstance(after, dict)
            return uri, body, after
        page = body


async def test_token_replay_gone_and_ahead(backend: Backend, http: aiohttp.ClientSession) -> None:
    uri, first, second = await _to_second_data_page(http, backend, "SELECT orderkey, comment FROM tpch.tiny.lineitem")
    status, replay, _ = await get(http, first["nextUri"])
    assert status == 200 and replay == second, "the same token must replay the same page"
    assert (await get(http, uri))[0] == 410, "an older token is gone"
    ahead = second["nextUri"].rsplit("/", 1)[0] + "/" + str(int(second["nextUri"].rsplit("/", 1)[1]) + 5)
    assert (await get(http, ahead))[0] == 404
    page = second
    while "nextUri" in page:
        last_uri = page["nextUri"]
        status, body, _ = await get(http, last_uri)
        assert status == 200 and isinstance(body, dict)
        page = body
    assert (await get(http, last_uri))[1] == page, "the final page replays too"
    base, token = last_uri.rsplit("/", 1)
    assert (await get(http, f"{base}/{int(token) + 1}"))[0] == 404, "past the end is 404"


async def test_concurrent_requests_for_one_token_get_the_same_page(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    page = await until_executing(http, await post(http, backend, "SELECT orderkey FROM tpch.tiny.orders"))
    answers = await asyncio.gather(*(get(http, page["nextUri"]) for _ in range(3)))
    assert all(answer[1] == answers[0][1] for answer in answers), "a retried token must replay, not advance"
    first = answers[0][1]
    assert isinstance(first, dict)
    final, _, pages = await drain(http, first)
    assert sorted(row[0] for row in rows_of(pages)) == sorted({row[0] for row in rows_of(pages)})
    assert len(rows_of(pages)) == 15000 and "error" not in final


async def test_bad_slug_and_unknown_query_are_404(backend: Backend, http: aiohttp.ClientSession) -> None:
    page = await post(http, backend, "SELECT 1")
    base, _slug, token = page["nextUri"].rsplit("/", 2)
    status, body, _ = await get(http, f"{base}/y{'0' * 40}/{token}")
    assert (status, body) == (404, "Error 404 Not Found: Query not found")
    unknown = page["nextUri"].replace(page["id"], "20200101_000000_00000_aaaaa")
    assert (await get(http, unknown))[0] == 404
    async with http.delete(unknown) as response:
        assert response.status == 404
    async with http.delete(page["nextUri"]) as response:
        assert response.status == 204


async def test_use_and_set_session_headers_are_on_the_final_page(backend: Backend, http: aiohttp.ClientSession) -> None:
    final, headers, pages = await drain(http, await post(http, backend, "USE tpch.tiny"))
    assert headers["X-Trino-Set-Catalog"] == "tpch" and headers["X-Trino-Set-Schema"] == "tiny"
    assert final["updateType"] == "USE" and "nextUri" not in final
    assert final["columns"] == [] and not rows_of(pages), "USE answers no rows (the CLI would print 'true')"
    final, headers, _ = await drain(http, await post(http, backend,
                                                     "SET SESSION spatial_partitioning_table_name = 'x y,z'"))
    assert headers.getall("X-Trino-Set-Session") == ["spatial_partitioning_table_name=x+y%2Cz"]
    assert final["updateType"] == "SET SESSION" and final["columns"] == []
    _, headers, _ = await drain(http, await post(http, backend, "RESET SESSION spatial_partitioning_table_name"))
    assert headers["X-Trino-Clear-Session"] == "spatial_partitioning_table_name"


async def test_delete_next_uri_cancels_with_204_then_failed_user_canceled(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    page = await until_executing(http, await post(http, backend, backend.sleep_sql(20)))
    async with http.delete(page["nextUri"]) as response:
        assert response.status == 204
    info = await query_info(http, backend, page["id"])
    assert info is not None and info["state"] == "FAILED"
    assert info["errorCode"]["name"] == "USER_CANCELED" and info["errorType"] == "USER_ERROR"
    status, body, _ = await get(http, page["nextUri"])
    assert status == 200 and isinstance(body, dict)
    assert body["error"]["errorName"] == "USER_CANCELED" and body["error"]["message"] == "Query was canceled"
    assert "nextUri" not in body


async def test_delete_v1_query_cancels_and_unknown_is_harmless(backend: Backend, http: aiohttp.ClientSession) -> None:
    page = await post(http, backend, backend.sleep_sql(20, "v1_delete"))
    async with http.get(page["nextUri"]):
        pass
    async with http.delete(f"{backend.url}/v1/query/{page['id']}", headers=USER) as response:
        assert response.status == 204
    info = await query_info(http, backend, page["id"])
    assert info is not None and info["state"] == "FAILED" and info["errorCode"]["name"] == "USER_CANCELED"
    async with http.get(f"{backend.url}/v1/query/20200101_000000_00000_aaaaa", headers=USER) as response:
        assert response.status == 410
    async with http.delete(f"{backend.url}/v1/query/20200101_000000_00000_aaaaa", headers=USER) as response:
        assert response.status == 204


async def test_kill_query_answers_202_then_409_and_410_for_unknown(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    page = await post(http, backend, backend.sleep_sql(20, "killed"))
    async with http.get(page["nextUri"]):
        pass
    killed = f"{backend.url}/v1/query/{page['id']}/killed"
    async with http.put(killed, data="maintenance", headers=USER) as response:
        assert response.status == 202
    async with http.put(killed, data="again", headers=USER) as response:
        assert response.status == 409
    async with http.put(f"{backend.url}/v1/query/20200101_000000_00000_aaaaa/killed", headers=USER) as response:
        assert response.status == 410
    info = await query_info(http, backend, page["id"])
    assert info is not None and info["errorCode"]["name"] == "ADMINISTRATIVELY_KILLED"


async def test_x_forwarded_headers_are_rejected_406_when_not_processed(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    headers = {**USER, "X-Forwarded-Host": "gateway.example:9443"}
    async with http.post(f"{backend.url}/v1/statement", data="SELECT 1", headers=headers) as response:
        assert response.status == 406
        assert "Server configuration does not allow processing of the X-Forwarded-Host header" in await response.text()


async def test_forwarded_headers_put_next_uri_on_the_proxy() -> None:
    async with TrinoNode(emulator_settings(process_forwarded=True)) as node, aiohttp.ClientSession() as http:
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
    async with TrinoNode(emulator_settings(query_client_timeout=seconds(0.4))) as node, \
            aiohttp.ClientSession() as http:
        page = await post(http, node, "SELECT sleep(30)")
        async with http.get(page["nextUri"]):
            pass

        async def failed() -> dict[str, Any] | None:
            info = await query_info(http, node, page["id"])
            return info if info is not None and info["state"] == "FAILED" else None

        info = await eventually(failed, "the unpolled query to fail ABANDONED_QUERY", timeout=5)
        assert info["errorCode"] == {"code": 2, "name": "ABANDONED_QUERY", "type": "USER_ERROR", "fatal": True}


@pytest.mark.parametrize(
    "sql",
    ["'", "SELECT \"", "SELECT ((1", "SELECT 1;; SELECT 2", "SHOW", "USE", "SET SESSION", "SELECT * FROM",
     "SELECT x FROM UNNEST(sequence(1)) t(x)", "SELECT 1 FROM tpch.tiny.nation.extra.part", "\x00\x01",
     "SELECT abs('x')", "DESCRIBE tpch.tiny.nope", "SHOW SCHEMAS FROM nope", "SELECT 9999999999999999999999"],
)
async def test_bad_sql_fails_as_a_query_never_a_server_error(
    backend: Backend, http: aiohttp.ClientSession, sql: str
) -> None:
    final, _, pages = await drain(http, await post(http, backend, sql))
    assert final["stats"]["state"] in ("FAILED", "FINISHED")
    assert all("error" not in page for page in pages[:-1]), "only the last page carries the error"
    if final["stats"]["state"] == "FAILED":
        error = final["error"]
        assert error["errorType"] in ("USER_ERROR", "INTERNAL_ERROR")
        assert {"message", "errorCode", "errorName", "failureInfo"} <= set(error)
        assert {"type", "suppressed", "stack", "errorInfo"} <= set(error["failureInfo"])


async def test_garbage_paths_and_tokens_never_500(backend: Backend, http: aiohttp.ClientSession) -> None:
    for uri in ("/v1/statement/queued/x/y/z", "/v1/statement/executing/x/y/-1", "/v1/statement/executing/a/b/c",
                "/v1/query/%00", "/v1/info/state?x=1"):
        async with http.get(backend.url + uri, headers=USER) as response:
            assert response.status < 500, uri
    async with http.put(f"{backend.url}/v1/info/state", data="not json",
                        headers={**USER, "Content-Type": "application/json"}) as response:
        assert response.status == 403, "access control is checked before the body is read"


async def test_concurrent_queries_all_finish(backend: Backend, http: aiohttp.ClientSession) -> None:
    pages = await asyncio.gather(*(post(http, backend, f"SELECT {i}") for i in range(8)))
    finals = await asyncio.gather(*(drain(http, page) for page in pages))
    assert sorted(rows_of(all_pages)[0][0] for _, _, all_pages in finals) == list(range(8))
