"""The real trino-python-client (DB-API) against an emulated single-node coordinator.

Checks: SELECT 1 and literal types, client-side parameters (EXECUTE IMMEDIATE ... USING), tpch.tiny nation/region equal dbgen's rows, cursor.description
types, a multi-page result, SHOW CATALOGS/SCHEMAS/TABLES, USE and SET SESSION round-trips
(the next query carries them), error mapping to TrinoUserError with errorName and location,
and cursor.cancel() ending the query FAILED/USER_CANCELED in /v1/query.
"""

from __future__ import annotations

import asyncio
import datetime
from decimal import Decimal

import aiohttp
import pytest
import trino
from trino.exceptions import TrinoUserError

from trino_facts import NATION_TBL, REGION_TBL, tbl_rows
from trino_helpers import PAGE_ROWS, connect, eventually, fetch_all, queries_by_text, query_info
from devstack.trino import TrinoNode


async def test_select_1_returns_integer_column(coordinator: TrinoNode) -> None:
    rows, description = await asyncio.to_thread(fetch_all, coordinator, "SELECT 1")
    assert rows == [[1]]
    assert description[0][:2] == ("_col0", "integer")


async def test_literals_map_to_trino_types(coordinator: TrinoNode) -> None:
    sql = "SELECT 'abc', 1.50, true, DATE '2024-02-29', CAST(2 AS double), 3000000000, NULL AS nothing"
    rows, description = await asyncio.to_thread(fetch_all, coordinator, sql)
    assert rows == [["abc", Decimal("1.50"), True, datetime.date(2024, 2, 29), 2.0, 3000000000, None]]
    assert [(d[0], d[1]) for d in description] == [
        ("_col0", "varchar(3)"), ("_col1", "decimal(3, 2)"), ("_col2", "boolean"), ("_col3", "date"),
        ("_col4", "double"), ("_col5", "bigint"), ("nothing", "unknown"),
    ]


def _with_parameters(node: TrinoNode) -> tuple[list[list[object]], list[object]]:
    with connect(node) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT name, ?, ?, ? FROM tpch.tiny.nation WHERE nationkey = ? AND name <> ?",
                       (datetime.date(2020, 1, 2), 1.5, Decimal("2.25"), 3, "it's"))
        return cursor.fetchall(), [d[1] for d in cursor.description or []]


async def test_parameters_arrive_through_execute_immediate(coordinator: TrinoNode) -> None:
    rows, types = await asyncio.to_thread(_with_parameters, coordinator)
    assert rows == [["CANADA", datetime.date(2020, 1, 2), 1.5, Decimal("2.25")]]
    assert types == ["varchar(25)", "date", "double", "decimal(3, 2)"]


async def test_tpch_tiny_nation_equals_dbgen_rows(coordinator: TrinoNode) -> None:
    rows, description = await asyncio.to_thread(
        fetch_all, coordinator, "SELECT nationkey, name, regionkey, comment FROM tpch.tiny.nation ORDER BY nationkey"
    )
    expected = [[int(k), name, int(r), comment] for k, name, r, comment in tbl_rows(NATION_TBL)]
    assert rows == expected
    assert [(d[0], d[1]) for d in description] == [
        ("nationkey", "bigint"), ("name", "varchar(25)"), ("regionkey", "bigint"), ("comment", "varchar(152)"),
    ]


async def test_tpch_region_and_sf1_alias_serve_the_same_rows(coordinator: TrinoNode) -> None:
    expected = [[int(k), name, comment] for k, name, comment in tbl_rows(REGION_TBL)]
    for schema in ("tiny", "sf1"):
        rows, _ = await asyncio.to_thread(fetch_all, coordinator, f"SELECT * FROM tpch.{schema}.region")
        assert rows == expected, schema


async def test_join_aggregate_and_alias_names(coordinator: TrinoNode) -> None:
    sql = ("SELECT r.name AS region, count(*) AS nations FROM tpch.tiny.nation n "
           "JOIN tpch.tiny.region r ON n.regionkey = r.regionkey GROUP BY r.name ORDER BY r.name")
    rows, description = await asyncio.to_thread(fetch_all, coordinator, sql)
    assert rows == [["AFRICA", 5], ["AMERICA", 5], ["ASIA", 5], ["EUROPE", 5], ["MIDDLE EAST", 5]]
    assert [(d[0], d[1]) for d in description] == [("region", "varchar(25)"), ("nations", "bigint")]


async def test_self_join_and_subquery(coordinator: TrinoNode) -> None:
    sql = ("SELECT a.name, b.name FROM tpch.tiny.nation a JOIN tpch.tiny.nation b ON a.regionkey = b.regionkey "
           "WHERE a.nationkey = 0 AND b.nationkey IN (SELECT nationkey FROM tpch.tiny.nation WHERE name LIKE 'E%') "
           "ORDER BY b.name")
    rows, _ = await asyncio.to_thread(fetch_all, coordinator, sql)
    assert rows == [["ALGERIA", "ETHIOPIA"]]


async def test_large_result_arrives_over_several_pages(coordinator: TrinoNode, http: aiohttp.ClientSession) -> None:
    total = PAGE_ROWS * 5 + 7
    sql = f"SELECT x, x * 2 AS doubled FROM UNNEST(sequence(1, {total})) AS t(x)"
    rows, description = await asyncio.to_thread(fetch_all, coordinator, sql)
    assert rows == [[x, 2 * x] for x in range(1, total + 1)]
    assert [(d[0], d[1]) for d in description] == [("x", "bigint"), ("doubled", "bigint")]

    data_pages = 0
    async with http.post(f"{coordinator.url}/v1/statement", data=sql, headers={"X-Trino-User": "pages"}) as r:
        page = await r.json()
    while "nextUri" in page:
        async with http.get(page["nextUri"]) as r:
            page = await r.json()
        data_pages += 1 if page.get("data") else 0
    assert data_pages == 6


async def test_show_catalogs_schemas_and_tables(coordinator: TrinoNode) -> None:
    catalogs, description = await asyncio.to_thread(fetch_all, coordinator, "SHOW CATALOGS")
    assert catalogs == [["system"], ["tpch"]]
    assert description[0][0] == "Catalog"
    schemas, _ = await asyncio.to_thread(fetch_all, coordinator, "SHOW SCHEMAS FROM tpch")
    assert ["tiny"] in schemas and ["sf1"] in schemas
    tables, _ = await asyncio.to_thread(fetch_all, coordinator, "SHOW TABLES FROM tpch.tiny")
    assert tables == [["nation"], ["region"]]
    like, _ = await asyncio.to_thread(fetch_all, coordinator, "SHOW TABLES FROM tpch.tiny LIKE 'reg%'")
    assert like == [["region"]]


def _use_then_query(node: TrinoNode) -> tuple[list[list[object]], str | None, str | None, dict[str, str]]:
    with connect(node, user="bob") as conn:
        cursor = conn.cursor()
        cursor.execute("USE tpch.tiny")
        cursor.fetchall()
        cursor.execute("SET SESSION query_max_run_time = '10m'")
        cursor.fetchall()
        cursor.execute("SELECT name FROM nation WHERE nationkey = 7")
        rows = cursor.fetchall()
        client_session = conn._client_session
        return rows, client_session.catalog, client_session.schema, dict(client_session.properties)


async def test_use_and_set_session_round_trip_to_the_next_query(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    rows, catalog, schema, properties = await asyncio.to_thread(_use_then_query, coordinator)
    assert rows == [["GERMANY"]]
    assert (catalog, schema) == ("tpch", "tiny")
    assert properties == {"query_max_run_time": "10m"}
    [info] = await queries_by_text(http, coordinator, "SELECT name FROM nation WHERE nationkey = 7")
    assert info["session"]["catalog"] == "tpch"
    assert info["session"]["schema"] == "tiny"
    assert info["session"]["systemProperties"] == {"query_max_run_time": "10m"}


async def test_reset_session_clears_the_property(coordinator: TrinoNode) -> None:
    def run() -> dict[str, str]:
        with connect(coordinator, session_properties={"query_max_run_time": "1m"}) as conn:
            cursor = conn.cursor()
            cursor.execute("RESET SESSION query_max_run_time")
            cursor.fetchall()
            return dict(conn._client_session.properties)

    assert await asyncio.to_thread(run) == {}


@pytest.mark.parametrize(
    ("sql", "error_name", "location"),
    [
        ("SELEC 1", "SYNTAX_ERROR", (1, 1)),
        ("SELECT * FROM tpch.tiny.nope", "TABLE_NOT_FOUND", (1, 15)),
        ("SELECT * FROM nowhere.tiny.nation", "CATALOG_NOT_FOUND", (1, 15)),
        ("SELECT missing FROM tpch.tiny.nation", "COLUMN_NOT_FOUND", (1, 8)),
        ("SELECT * FROM nation", "MISSING_SCHEMA_NAME", (1, 15)),
        ("INSERT INTO t VALUES (1)", "NOT_SUPPORTED", (1, 1)),
    ],
)
async def test_errors_raise_trino_user_error_with_name_and_location(
    coordinator: TrinoNode, sql: str, error_name: str, location: tuple[int, int]
) -> None:
    with pytest.raises(TrinoUserError) as caught:
        await asyncio.to_thread(fetch_all, coordinator, sql)
    assert caught.value.error_name == error_name
    assert caught.value.error_type == "USER_ERROR"
    assert caught.value.error_location == location
    assert caught.value.query_id is not None


def _start_sleep(node: TrinoNode, sql: str, holder: dict[str, object]) -> None:
    conn = connect(node, user="canceller")
    cursor = conn.cursor()
    holder["cursor"] = cursor
    try:
        cursor.execute(sql)
        holder["rows"] = cursor.fetchall()
    except trino.exceptions.TrinoQueryError as e:
        holder["error"] = e
    finally:
        conn.close()  # type: ignore[no-untyped-call]


async def test_cursor_cancel_ends_query_failed_user_canceled(
    coordinator: TrinoNode, http: aiohttp.ClientSession
) -> None:
    sql = "SELECT sleep(30) AS cancel_me"
    holder: dict[str, object] = {}
    running = asyncio.create_task(asyncio.to_thread(_start_sleep, coordinator, sql, holder))

    async def running_query() -> dict[str, object] | None:
        found = await queries_by_text(http, coordinator, sql)
        return found[0] if found and found[0]["state"] == "RUNNING" and "cursor" in holder else None

    info = await eventually(running_query, "the sleep query to be RUNNING")
    cursor = holder["cursor"]
    assert isinstance(cursor, trino.dbapi.Cursor)
    await asyncio.to_thread(cursor.cancel)
    await asyncio.wait_for(running, timeout=10)
    assert "rows" not in holder

    final = await query_info(http, coordinator, str(info["queryId"]))
    assert final is not None
    assert final["state"] == "FAILED"
    assert final["errorCode"] == {"code": 3, "name": "USER_CANCELED", "type": "USER_ERROR"}
    assert "endTime" in final["queryStats"]
