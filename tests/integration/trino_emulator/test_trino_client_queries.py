"""The real trino-python-client (DB-API); contract tests run on the emulator and on real Trino 476.

Checks: SELECT 1 and literal types, client-side parameters (EXECUTE IMMEDIATE ... USING), tpch.tiny
nation/region equal dbgen's rows, the big tpch tables (lineitem 60175 rows, as Trino), cursor.description
types, a multi-page result, SHOW CATALOGS/SCHEMAS/TABLES, USE and SET SESSION round-trips (the next
query carries them), error mapping to TrinoUserError with errorName and location, cursor.cancel()
ending the query FAILED/USER_CANCELED in /v1/query, and no query reading or writing the server's files.
"""

from __future__ import annotations

import asyncio
import datetime
from decimal import Decimal

import aiohttp
import pytest
import trino
from trino.exceptions import TrinoUserError

from trino_facts import NATION_TBL, REGION_TBL, TPCH_SCHEMAS, TPCH_TINY_COUNTS, tbl_rows
from trino_helpers import Backend, connect, eventually, fetch_all, queries_by_text, query_info


async def test_select_1_returns_integer_column(backend: Backend) -> None:
    rows, description = await asyncio.to_thread(fetch_all, backend, "SELECT 1")
    assert rows == [[1]]
    assert description[0][:2] == ("_col0", "integer")


async def test_literals_map_to_trino_types(backend: Backend) -> None:
    sql = "SELECT 'abc', 1.50, true, DATE '2024-02-29', CAST(2 AS double), 3000000000, NULL AS nothing"
    rows, description = await asyncio.to_thread(fetch_all, backend, sql)
    assert rows == [["abc", Decimal("1.50"), True, datetime.date(2024, 2, 29), 2.0, 3000000000, None]]
    assert [(d[0], d[1]) for d in description] == [
        ("_col0", "varchar(3)"), ("_col1", "decimal(3, 2)"), ("_col2", "boolean"), ("_col3", "date"),
        ("_col4", "double"), ("_col5", "bigint"), ("nothing", "unknown"),
    ]


def _with_parameters(node: Backend) -> tuple[list[list[object]], list[object]]:
    with connect(node) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT name, ?, ?, ? FROM tpch.tiny.nation WHERE nationkey = ? AND name <> ?",
                       (datetime.date(2020, 1, 2), 1.5, Decimal("2.25"), 3, "it's"))
        return cursor.fetchall(), [d[1] for d in cursor.description or []]


async def test_parameters_arrive_through_execute_immediate(backend: Backend) -> None:
    rows, types = await asyncio.to_thread(_with_parameters, backend)
    assert rows == [["CANADA", datetime.date(2020, 1, 2), 1.5, Decimal("2.25")]]
    assert types == ["varchar(25)", "date", "double", "decimal(3, 2)"]


async def test_tpch_tiny_nation_equals_dbgen_rows(backend: Backend) -> None:
    rows, description = await asyncio.to_thread(
        fetch_all, backend, "SELECT nationkey, name, regionkey, comment FROM tpch.tiny.nation ORDER BY nationkey"
    )
    expected = [[int(k), name, int(r), comment] for k, name, r, comment in tbl_rows(NATION_TBL)]
    assert rows == expected
    assert [(d[0], d[1]) for d in description] == [
        ("nationkey", "bigint"), ("name", "varchar(25)"), ("regionkey", "bigint"), ("comment", "varchar(152)"),
    ]


async def test_tpch_region_is_the_same_at_every_scale(backend: Backend) -> None:
    expected = [[int(k), name, comment] for k, name, comment in tbl_rows(REGION_TBL)]
    for schema in ("tiny", "sf1", "sf100"):
        rows, _ = await asyncio.to_thread(fetch_all, backend, f"SELECT * FROM tpch.{schema}.region ORDER BY 1")
        assert rows == expected, schema


async def test_every_tpch_tiny_table_has_trinos_row_count(backend: Backend) -> None:
    counts = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM tpch.tiny.{table}" for table in TPCH_TINY_COUNTS)
    rows, _ = await asyncio.to_thread(fetch_all, backend, counts)
    assert dict((table, count) for table, count in rows) == TPCH_TINY_COUNTS


async def test_tpch_aggregates_match_trino(backend: Backend) -> None:
    sql = ("SELECT returnflag, linestatus, count(*), sum(quantity), round(avg(discount), 6), min(shipdate) "
           "FROM tpch.tiny.lineitem GROUP BY 1, 2 ORDER BY 1, 2")
    rows, description = await asyncio.to_thread(fetch_all, backend, sql)
    assert rows == [
        ["A", "F", 14876, 380456.0, 0.050081, datetime.date(1992, 1, 6)],
        ["N", "F", 348, 8971.0, 0.047759, datetime.date(1995, 5, 21)],
        ["N", "O", 30049, 765251.0, 0.049931, datetime.date(1995, 6, 18)],
        ["R", "F", 14902, 381449.0, 0.049828, datetime.date(1992, 1, 4)],
    ]
    assert [d[1] for d in description] == ["varchar(1)", "varchar(1)", "bigint", "double", "double", "date"]


async def test_join_aggregate_and_alias_names(backend: Backend) -> None:
    sql = ("SELECT r.name AS region, count(*) AS nations FROM tpch.tiny.nation n "
           "JOIN tpch.tiny.region r ON n.regionkey = r.regionkey GROUP BY r.name ORDER BY r.name")
    rows, description = await asyncio.to_thread(fetch_all, backend, sql)
    assert rows == [["AFRICA", 5], ["AMERICA", 5], ["ASIA", 5], ["EUROPE", 5], ["MIDDLE EAST", 5]]
    assert [(d[0], d[1]) for d in description] == [("region", "varchar(25)"), ("nations", "bigint")]


async def test_self_join_and_subquery(backend: Backend) -> None:
    sql = ("SELECT a.name, b.name FROM tpch.tiny.nation a JOIN tpch.tiny.nation b ON a.regionkey = b.regionkey "
           "WHERE a.nationkey = 0 AND b.nationkey IN (SELECT nationkey FROM tpch.tiny.nation WHERE name LIKE 'E%') "
           "ORDER BY b.name")
    rows, _ = await asyncio.to_thread(fetch_all, backend, sql)
    assert rows == [["ALGERIA", "ETHIOPIA"]]


async def test_large_result_arrives_over_pages_sized_by_bytes(backend: Backend, http: aiohttp.ClientSession) -> None:
    sql = "SELECT orderkey, orderstatus, totalprice, comment FROM tpch.tiny.orders ORDER BY orderkey"
    rows, description = await asyncio.to_thread(fetch_all, backend, sql)
    assert len(rows) == 15000 and rows[0][:3] == [1, "O", 172799.49]
    assert [(d[0], d[1]) for d in description][:3] == [("orderkey", "bigint"), ("orderstatus", "varchar(1)"),
                                                     ("totalprice", "double")]
    sizes = []
    async with http.post(f"{backend.url}/v1/statement", data="SELECT * FROM tpch.tiny.lineitem",
                         headers={"X-Trino-User": "pages"}) as r:
        page = await r.json()
    while "nextUri" in page:
        async with http.get(page["nextUri"]) as r:
            page = await r.json()
        if page.get("data"):
            sizes.append(len(page["data"]))
    assert sum(sizes) == 60175
    assert len(sizes) <= 20 and max(sizes) >= 5000, f"Trino sends ~1 MB pages (~7000 lineitem rows): {sizes}"


async def test_show_catalogs_schemas_and_tables(backend: Backend) -> None:
    catalogs, description = await asyncio.to_thread(fetch_all, backend, "SHOW CATALOGS")
    assert catalogs == [["blackhole"], ["memory"], ["system"], ["tpch"]]
    assert (description[0][0], description[0][1]) == ("Catalog", "varchar(9)")
    schemas, _ = await asyncio.to_thread(fetch_all, backend, "SHOW SCHEMAS FROM tpch")
    assert [row[0] for row in schemas] == ["information_schema", *TPCH_SCHEMAS]
    tables, _ = await asyncio.to_thread(fetch_all, backend, "SHOW TABLES FROM tpch.tiny")
    assert tables == [[t] for t in sorted(TPCH_TINY_COUNTS)]
    like, _ = await asyncio.to_thread(fetch_all, backend, "SHOW TABLES FROM tpch.tiny LIKE 'reg%'")
    assert like == [["region"]]


def _use_then_query(node: Backend) -> tuple[list[list[object]], str | None, str | None, dict[str, str]]:
    with connect(node, user="bob") as conn:
        cursor = conn.cursor()
        cursor.execute("USE tpch.tiny")
        assert cursor.fetchall() == []
        cursor.execute("SET SESSION query_max_run_time = '10m'")
        assert cursor.fetchall() == []
        cursor.execute("SELECT name FROM nation WHERE nationkey = 7")
        rows = cursor.fetchall()
        client_session = conn._client_session
        return rows, client_session.catalog, client_session.schema, dict(client_session.properties)


async def test_use_and_set_session_round_trip_to_the_next_query(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    rows, catalog, schema, properties = await asyncio.to_thread(_use_then_query, backend)
    assert rows == [["GERMANY"]]
    assert (catalog, schema) == ("tpch", "tiny")
    assert properties == {"query_max_run_time": "10m"}
    [info] = (await queries_by_text(http, backend, "SELECT name FROM nation WHERE nationkey = 7"))[-1:]
    assert info["session"]["catalog"] == "tpch"
    assert info["session"]["schema"] == "tiny"
    assert info["session"]["systemProperties"] == {"query_max_run_time": "10m"}


async def test_reset_session_clears_the_property(backend: Backend) -> None:
    def run() -> dict[str, str]:
        with connect(backend, session_properties={"query_max_run_time": "1m"}) as conn:
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
        ("SELECT nope(1)", "FUNCTION_NOT_FOUND", (1, 8)),
        ("SELECT name, count(*) FROM tpch.tiny.nation", "EXPRESSION_NOT_AGGREGATE", (1, 8)),
        ("SELECT name FROM tpch.tiny.nation n, tpch.tiny.region r", "AMBIGUOUS_NAME", (1, 8)),
        ("SELECT 1/(x-x) FROM (VALUES 1) t(x)", "DIVISION_BY_ZERO", None),
        ("INSERT INTO tpch.tiny.nation VALUES (1, 'a', 1, 'c')", "NOT_SUPPORTED", None),
    ],
)
async def test_errors_raise_trino_user_error_with_name_and_location(
    backend: Backend, sql: str, error_name: str, location: tuple[int, int] | None
) -> None:
    with pytest.raises(TrinoUserError) as caught:
        await asyncio.to_thread(fetch_all, backend, sql)
    assert caught.value.error_name == error_name
    assert caught.value.error_type == "USER_ERROR"
    assert caught.value.error_location == location
    assert caught.value.query_id is not None


def _start_slow(node: Backend, sql: str, holder: dict[str, object]) -> None:
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


async def test_cursor_cancel_ends_query_failed_user_canceled(backend: Backend, http: aiohttp.ClientSession) -> None:
    sql = backend.sleep_sql(30, "cancel_me")
    holder: dict[str, object] = {}
    running = asyncio.create_task(asyncio.to_thread(_start_slow, backend, sql, holder))

    async def running_query() -> dict[str, object] | None:
        found = await queries_by_text(http, backend, sql)
        return found[-1] if found and found[-1]["state"] == "RUNNING" and "cursor" in holder else None

    info = await eventually(running_query, "the slow query to be RUNNING")
    cursor = holder["cursor"]
    assert isinstance(cursor, trino.dbapi.Cursor)
    await asyncio.to_thread(cursor.cancel)
    await asyncio.wait_for(running, timeout=10)
    assert "rows" not in holder

    final = await query_info(http, backend, str(info["queryId"]))
    assert final is not None
    assert final["state"] == "FAILED"
    assert final["errorCode"] == {"code": 3, "name": "USER_CANCELED", "type": "USER_ERROR", "fatal": True}
    assert "endTime" in final["queryStats"]


@pytest.mark.parametrize("sql", ["SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM TABLE(read_text('/etc/passwd'))",
                                 "COPY (SELECT 1) TO '/tmp/xtrinode-copy.csv'"])
async def test_queries_cannot_read_or_write_the_servers_files(backend: Backend, sql: str) -> None:
    with pytest.raises(trino.exceptions.TrinoQueryError) as caught:
        await asyncio.to_thread(fetch_all, backend, sql)
    assert caught.value.error_type == "USER_ERROR" and "root:" not in str(caught.value)
