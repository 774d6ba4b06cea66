"""Each difference between the emulator and Trino 476 recorded in issue 16, as a contract test that runs on
the emulator and on real Trino (slow tier), so the two cannot drift apart again unnoticed.

Checks: a POSTed statement nobody polls is neither listed nor counted; RUNNING pages carry `columns` and
`partialCancelUri` before the rows; large results go QUEUED -> RUNNING -> FINISHING -> FINISHED and end
with a trailing FINISHED page; a failed query's error is on its last page only; HTTP headers
(`Content-Type: application/json`, `Vary`, no `Server`) and error bodies (404, 405); stats fields;
failureInfo `cause`/`errorInfo`; SQL the clients need: ARRAY/MAP/ROW literals, `current_user`, Trino type
names, EXPLAIN, SHOW SESSION/FUNCTIONS, transactions, prepared statements, system.jdbc.* and
system.runtime.*.
"""

from __future__ import annotations

import asyncio
import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import trino

from test_trino_statement_protocol import USER, drain, post, rows_of, until_executing
from trino_helpers import Backend, connect, eventually, fetch_all

STATS_FIELDS = {"state", "queued", "scheduled", "nodes", "totalSplits", "queuedSplits", "runningSplits",
                "completedSplits", "planningTimeMillis", "analysisTimeMillis", "cpuTimeMillis", "wallTimeMillis",
                "queuedTimeMillis", "elapsedTimeMillis", "finishingTimeMillis", "physicalInputTimeMillis",
                "processedRows", "processedBytes", "physicalInputBytes", "physicalWrittenBytes",
                "internalNetworkInputBytes", "peakMemoryBytes", "spilledBytes"}


async def _listed(http: aiohttp.ClientSession, backend: Backend) -> list[str]:
    async with http.get(f"{backend.url}/v1/query", headers=USER) as response:
        return [q["queryId"] for q in await response.json()]


async def test_a_posted_statement_nobody_polls_is_not_a_query_yet(backend: Backend, http: aiohttp.ClientSession) -> None:
    page = await post(http, backend, backend.sleep_sql(20, "never_polled"))
    await asyncio.sleep(0.5)
    assert page["id"] not in await _listed(http, backend), "Trino creates the query on the first nextUri poll"
    async with http.get(f"{backend.url}/v1/query/{page['id']}", headers=USER) as response:
        assert response.status == 410
    async with http.get(page["nextUri"]) as response:
        queued = await response.json()

    async def listed() -> bool:
        return page["id"] in await _listed(http, backend)

    await eventually(listed, "the polled query to be listed")
    async with http.delete(queued["nextUri"]) as response:
        assert response.status == 204


async def test_running_pages_carry_columns_and_partial_cancel_before_rows(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    page = await until_executing(http, await post(http, backend, backend.sleep_sql(2, "early_columns")))
    while True:
        async with http.get(page["nextUri"]) as response:
            page = await response.json()
        if page["stats"]["state"] != "QUEUED":
            break
    assert page["stats"]["state"] in ("STARTING", "RUNNING") and "data" not in page, page.get("error")
    assert page["columns"] == [{"name": "early_columns", "type": "boolean",
                                "typeSignature": {"rawType": "boolean", "arguments": []}}]
    assert "/v1/statement/executing/partialCancel/" in page["partialCancelUri"]
    assert STATS_FIELDS <= set(page["stats"]) and "rootStage" in page["stats"]
    final, _, pages = await drain(http, page)
    assert rows_of(pages) == [[True]] and final["stats"]["state"] == "FINISHED"


async def test_a_large_result_finishes_through_finishing_and_a_trailing_page(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    # A client that reads slower than the query produces sees FINISHING: every row is produced, not yet read.
    page = await post(http, backend, "SELECT * FROM tpch.tiny.lineitem")
    pages = [page]
    while "nextUri" in page:
        await asyncio.sleep(0.3)
        async with http.get(page["nextUri"]) as response:
            page = await response.json()
        pages.append(page)
    final = pages[-1]
    states = [page["stats"]["state"] for page in pages]
    assert "FINISHING" in states, states
    data_pages = [page for page in pages if page.get("data")]
    assert all("nextUri" in page for page in data_pages), "rows never come on the last page"
    assert "data" not in final and "nextUri" not in final and final["stats"]["state"] == "FINISHED"
    assert len(final["columns"]) == 16 and final["stats"]["processedRows"] >= 60175


async def test_a_failed_query_has_its_error_on_its_last_page_only(backend: Backend, http: aiohttp.ClientSession) -> None:
    final, _, pages = await drain(http, await post(http, backend, "SELECT 1/(x-x) FROM (VALUES 1) t(x)"))
    assert all(page["stats"]["state"] != "FAILED" for page in pages[:-1]), "no FAILED page with a nextUri"
    assert all("error" not in page for page in pages[:-1])
    error = final["error"]
    assert (error["errorName"], error["errorCode"], error["message"]) == ("DIVISION_BY_ZERO", 8, "Division by zero")
    failure = final["error"]["failureInfo"]
    assert failure["errorInfo"] == {"code": 8, "name": "DIVISION_BY_ZERO", "type": "USER_ERROR"}
    assert failure["cause"]["type"] == "java.lang.ArithmeticException"


async def test_http_headers_are_trinos(backend: Backend) -> None:
    plain = {**USER, "Accept-Encoding": "identity"}
    async with aiohttp.ClientSession(auto_decompress=False) as raw:
        async with raw.post(f"{backend.url}/v1/statement", data="SELECT 1", headers=plain) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert response.headers["Vary"] == "Accept-Encoding"
            assert "Server" not in response.headers
            page = await response.json()
        async with raw.delete(page["nextUri"]) as response:
            assert response.status == 204
        async with raw.get(f"{backend.url}/v1/info", headers=plain) as response:
            assert response.headers["Content-Type"] == "application/json" and "Server" not in response.headers


async def test_error_bodies_are_trinos(backend: Backend, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{backend.url}/v1/nowhere", headers=USER) as response:
        assert (response.status, await response.text()) == (404, "Error 404 Not Found: HTTP 404 Not Found")
    async with http.put(f"{backend.url}/v1/statement", data="SELECT 1", headers=USER) as response:
        assert (response.status, await response.text()) == (405, "")
        assert "POST" in response.headers["Allow"].split(",")


async def test_array_map_row_literals_and_trino_type_names(backend: Backend) -> None:
    sql = ("SELECT ARRAY[1, 2], MAP(ARRAY['a'], ARRAY[1]), ROW(1, 'x'), current_user, DECIMAL '10.25', "
           "CAST('ab' AS varchar(6)), CAST(1.5 AS decimal(10, 2))")
    rows, description = await asyncio.to_thread(fetch_all, backend, sql, user="typist")
    assert rows == [[[1, 2], {"a": 1}, (1, "x"), "typist", Decimal("10.25"), "ab", Decimal("1.50")]]
    assert [d[1] for d in description] == ["array(integer)", "map(varchar(1), integer)", "row(integer, varchar(1))",
                                           "varchar", "decimal(4, 2)", "varchar(6)", "decimal(10, 2)"]


async def test_explain_show_session_and_show_functions_answer(backend: Backend) -> None:
    plan, description = await asyncio.to_thread(fetch_all, backend, "EXPLAIN SELECT count(*) FROM tpch.tiny.nation")
    assert description[0][0] == "Query Plan" and plan[0][0].startswith("Trino version: 476\n")
    valid, _ = await asyncio.to_thread(fetch_all, backend, "EXPLAIN (TYPE VALIDATE) SELECT 1")
    assert valid == [[True]]
    session, description = await asyncio.to_thread(fetch_all, backend, "SHOW SESSION LIKE 'query_max_run_time'")
    assert [d[0] for d in description] == ["Name", "Value", "Default", "Type", "Description"]
    assert session[0][:4] == ["query_max_run_time", "100.00d", "100.00d", "varchar"]
    functions, _ = await asyncio.to_thread(fetch_all, backend, "SHOW FUNCTIONS LIKE 'abs'")
    assert ["abs", "bigint", "bigint", "scalar", True, "Absolute value"] in functions


def _transaction(backend: Backend) -> tuple[list[list[Any]], str | None]:
    with connect(backend, isolation_level=trino.transaction.IsolationLevel.READ_COMMITTED) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM tpch.tiny.region")
        rows = cursor.fetchall()
        transaction_id = conn.transaction.id if conn.transaction is not None else None
        conn.commit()
        return rows, transaction_id


async def test_transactions_start_and_commit(backend: Backend, http: aiohttp.ClientSession) -> None:
    rows, transaction_id = await asyncio.to_thread(_transaction, backend)
    assert rows == [[5]] and transaction_id not in (None, "NONE")
    final, _, _ = await drain(http, await post(http, backend, "COMMIT", **{"X-Trino-Transaction-Id": "NONE"}))
    assert (final["error"]["errorName"], final["error"]["message"]) == ("NOT_IN_TRANSACTION",
                                                                         "No transaction in progress")
    final, _, _ = await drain(http, await post(http, backend, "START TRANSACTION"))
    assert final["error"]["errorName"] == "INCOMPATIBLE_CLIENT", "a client that sends no transaction id has none"


async def test_prepare_execute_deallocate_on_the_wire(backend: Backend, http: aiohttp.ClientSession) -> None:
    _, headers, _ = await drain(http, await post(http, backend, "PREPARE p1 FROM SELECT ? + 1"))
    name, _, text = headers["X-Trino-Added-Prepare"].partition("=")
    assert name == "p1" and "SELECT" in text
    prepared = {"X-Trino-Prepared-Statement": "p1=" + quote_plus("SELECT ? + 1")}
    final, _, pages = await drain(http, await post(http, backend, "EXECUTE p1 USING 41", **prepared))
    assert rows_of(pages) == [[42]] and "error" not in final
    _, headers, _ = await drain(http, await post(http, backend, "DEALLOCATE PREPARE p1", **prepared))
    assert headers["X-Trino-Deallocated-Prepare"] == "p1"
    final, _, _ = await drain(http, await post(http, backend, "EXECUTE p2"))
    assert (final["error"]["errorName"], final["error"]["message"]) == ("NOT_FOUND", "Prepared statement not found: p2")


async def test_jdbc_metadata_tables_answer_like_trino(backend: Backend) -> None:
    tables, _ = await asyncio.to_thread(
        fetch_all, backend, "SELECT table_cat, table_schem, table_name, table_type FROM system.jdbc.tables "
                            "WHERE table_cat = 'tpch' AND table_schem = 'tiny' ORDER BY table_name")
    assert [row[2] for row in tables] == ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region",
                                          "supplier"]
    assert {row[3] for row in tables} == {"TABLE"}
    columns, _ = await asyncio.to_thread(
        fetch_all, backend, "SELECT column_name, data_type, type_name, column_size, decimal_digits, num_prec_radix, "
                            "nullable, char_octet_length, ordinal_position, is_nullable FROM system.jdbc.columns "
                            "WHERE table_cat = 'tpch' AND table_schem = 'tiny' AND table_name = 'orders' "
                            "ORDER BY ordinal_position")
    assert columns[:4] == [
        ["orderkey", -5, "bigint", 19, None, 10, 0, None, 1, "NO"],
        ["custkey", -5, "bigint", 19, None, 10, 0, None, 2, "NO"],
        ["orderstatus", 12, "varchar(1)", 1, None, None, 0, 1, 3, "NO"],
        ["totalprice", 8, "double", 53, None, 2, 0, None, 4, "NO"],
    ]
    schemas, _ = await asyncio.to_thread(fetch_all, backend, "SELECT * FROM system.jdbc.schemas "
                                                             "WHERE table_catalog = 'tpch' ORDER BY 1")
    assert len(schemas) == 10 and ["tiny", "tpch"] in schemas
    kinds, _ = await asyncio.to_thread(fetch_all, backend, "SELECT * FROM system.jdbc.table_types")
    assert kinds == [["TABLE"], ["VIEW"]]
    catalogs, _ = await asyncio.to_thread(fetch_all, backend, "SELECT table_cat FROM system.jdbc.catalogs ORDER BY 1")
    assert catalogs == [["blackhole"], ["memory"], ["system"], ["tpch"]]


async def test_runtime_tables_show_nodes_and_queries(backend: Backend) -> None:
    nodes, _ = await asyncio.to_thread(fetch_all, backend, "SELECT node_version, coordinator, state "
                                                           "FROM system.runtime.nodes")
    assert nodes == [["476", True, "active"]]
    rows, description = await asyncio.to_thread(
        fetch_all, backend, "SELECT query_id, state, user, query, created FROM system.runtime.queries "
                            "WHERE query LIKE 'SELECT query_id, state, user%'", user="runtime-reader")
    assert len(rows) == 1 and rows[0][1] == "RUNNING" and rows[0][2] == "runtime-reader"
    assert isinstance(rows[0][4], datetime.datetime)
    assert [d[1] for d in description] == ["varchar", "varchar", "varchar", "varchar", "timestamp(3) with time zone"]
