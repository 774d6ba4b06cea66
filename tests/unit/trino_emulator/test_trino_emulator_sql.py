"""The emulator's SQL front end and wire helpers (no servers).

Checks: statement parsing (SHOW, USE, SET/RESET SESSION, transactions, prepared statements, EXPLAIN,
queries), Trino-style syntax errors with 1-based line:column, Trino's type text and signatures (nested
types included), DuckDB types mapped to Trino's, value encoding, the translation of Trino SQL for DuckDB
(names resolved with session defaults, result names and types as Trino gives them), airlift Duration
text, and query ids.
"""

from __future__ import annotations

import datetime
from datetime import timedelta
from decimal import Decimal

import pytest

from devstack.trino.errors import QueryFailure
from devstack.trino.metadata import Metadata
from devstack.trino.settings import CatalogConfig
from devstack.trino.parsed import (
    Commit,
    Deallocate,
    Execute,
    Explain,
    Prepare,
    Query,
    ResetSession,
    SetSession,
    ShowCatalogs,
    ShowSchemas,
    ShowSession,
    ShowTables,
    StartTransaction,
    Use,
)
from devstack.trino.sql import parse_statement
from devstack.trino.translate import SessionContext, translate
from devstack.trino.types import converter, normalize_type, trino_type_of_duckdb, type_signature
from xtrinode.trino_protocol import QUERY_ID_PATTERN, format_airlift_duration, format_data_size, query_id_from_path


def test_statements_parse_into_their_kinds() -> None:
    assert parse_statement("show catalogs like 'tp%';") == ShowCatalogs("tp%")
    schemas = parse_statement("SHOW SCHEMAS FROM tpch")
    assert isinstance(schemas, ShowSchemas) and schemas.catalog is not None and schemas.catalog.parts == ("tpch",)
    tables = parse_statement('SHOW TABLES IN "TPCH".tiny')
    assert isinstance(tables, ShowTables) and tables.schema is not None and tables.schema.parts == ("tpch", "tiny")
    use = parse_statement("USE tpch.tiny")
    assert isinstance(use, Use) and use.name.parts == ("tpch", "tiny")
    setting = parse_statement("SET SESSION query_max_run_time = '10m'")
    assert isinstance(setting, SetSession) and (setting.name, setting.value, setting.kind) == (
        "query_max_run_time", "10m", "string")
    flag = parse_statement("SET SESSION hive.x = TRUE")
    assert isinstance(flag, SetSession) and (flag.name, flag.value, flag.kind) == ("hive.x", "true", "boolean")
    reset = parse_statement("RESET SESSION a")
    assert isinstance(reset, ResetSession) and reset.name == "a"
    assert isinstance(parse_statement("  -- comment\n WITH t AS (SELECT 1) SELECT * FROM t"), Query)
    assert parse_statement("SHOW SESSION LIKE 'query%'") == ShowSession("query%")
    assert parse_statement("START TRANSACTION ISOLATION LEVEL READ COMMITTED") == StartTransaction()
    assert parse_statement("COMMIT WORK") == Commit()
    assert parse_statement("PREPARE p1 FROM SELECT ? FROM t") == Prepare("p1", "SELECT ? FROM t")
    assert parse_statement("EXECUTE p1 USING 1, 'a,b', f(2, 3)") == Execute("p1", ("1", "'a,b'", "f(2, 3)"))
    assert parse_statement("DEALLOCATE PREPARE p1") == Deallocate("p1")
    assert parse_statement("EXECUTE IMMEDIATE 'SELECT ?' USING 3") == Query("SELECT ?", ("3",))
    explain = parse_statement("EXPLAIN (TYPE VALIDATE) SELECT 1")
    assert isinstance(explain, Explain) and (explain.kind, explain.statement) == ("VALIDATE", "SELECT 1")


@pytest.mark.parametrize(
    ("sql", "error_name", "location"),
    [
        ("SELEC 1", "SYNTAX_ERROR", (1, 1)),
        ("\n\n  FOO", "SYNTAX_ERROR", (3, 3)),
        ("SHOW TABLES FROM", "SYNTAX_ERROR", (1, 17)),
        ("USE a.b.c", "SYNTAX_ERROR", (1, 5)),
        ("SELECT 'open", "SYNTAX_ERROR", (1, 8)),
        ("EXPLAIN SELEC 1", "SYNTAX_ERROR", (1, 1)),
    ],
)
def test_unsupported_or_bad_sql_is_a_located_user_error(sql: str, error_name: str, location: tuple[int, int]) -> None:
    with pytest.raises(QueryFailure) as caught:
        parse_statement(sql)
    assert caught.value.code.name == error_name
    assert caught.value.location == location
    error = caught.value.to_json()
    assert error["errorType"] == "USER_ERROR"
    assert error["errorLocation"] == {"lineNumber": location[0], "columnNumber": location[1]}
    assert error["message"].startswith(f"line {location[0]}:{location[1]}: ")
    assert error["failureInfo"]["errorInfo"] == {"code": caught.value.code.code, "name": error_name,
                                                 "type": "USER_ERROR"}


@pytest.mark.parametrize("sql", ["DROP TABLE x", "SHOW STATS FOR t", "INSERT INTO t VALUES (1)"])
def test_statements_the_emulator_does_not_run_are_not_supported(sql: str) -> None:
    with pytest.raises(QueryFailure) as caught:
        parse_statement(sql)
    assert caught.value.code.name == "NOT_SUPPORTED" and caught.value.location is None
    assert "not supported by the xtrinode Trino emulator" in caught.value.message


def test_type_text_and_signatures_match_trino() -> None:
    assert type_signature("varchar(25)") == {"rawType": "varchar", "arguments": [{"kind": "LONG", "value": 25}]}
    assert type_signature("varchar") == {"rawType": "varchar", "arguments": [{"kind": "LONG", "value": 2147483647}]}
    assert type_signature("decimal(10, 2)")["arguments"] == [{"kind": "LONG", "value": 10}, {"kind": "LONG", "value": 2}]
    assert type_signature("bigint") == {"rawType": "bigint", "arguments": []}
    assert type_signature("array(integer)") == {"rawType": "array", "arguments": [
        {"kind": "TYPE", "value": {"rawType": "integer", "arguments": []}}]}
    assert type_signature("row(integer, varchar(1))")["arguments"][1] == {
        "kind": "NAMED_TYPE", "value": {"typeSignature": {"rawType": "varchar", "arguments": [{"kind": "LONG",
                                                                                               "value": 1}]}}}
    assert type_signature("timestamp(3) with time zone") == {"rawType": "timestamp with time zone",
                                                             "arguments": [{"kind": "LONG", "value": 3}]}
    assert normalize_type("DECIMAL( 10,2 )") == "decimal(10, 2)"
    assert normalize_type("int") == "integer"
    assert normalize_type("map(varchar(1), bigint)") == "map(varchar(1), bigint)"
    assert normalize_type("TIMESTAMP(3) WITH TIME ZONE") == "timestamp(3) with time zone"
    assert normalize_type("not a type!") is None


def test_duckdb_types_become_trino_types() -> None:
    assert [trino_type_of_duckdb(t) for t in ("INTEGER", "HUGEINT", "DECIMAL(38,2)", "VARCHAR", "BLOB", "NULL")] == [
        "integer", "bigint", "decimal(38, 2)", "varchar", "varbinary", "unknown"]
    assert trino_type_of_duckdb("INTEGER[]") == "array(integer)"


def test_values_encode_as_trino_json() -> None:
    assert converter("decimal(10, 2)")(Decimal("1.5")) == "1.50"
    assert converter("double")(float("nan")) == "NaN"
    assert converter("double")(float("-inf")) == "-Infinity"
    assert converter("varbinary")(b"\x00\x01") == "AAE="
    assert converter("date")(datetime.date(2024, 2, 29)) == "2024-02-29"
    assert converter("timestamp(3)")(datetime.datetime(2024, 1, 1, 0, 0, 0, 123456)) == "2024-01-01 00:00:00.123"
    assert converter("map(varchar(1), array(decimal(3, 1)))")({"a": [Decimal("1")]}) == {"a": ["1.0"]}
    assert converter("row(integer, varchar(1))")({"_0": 1, "_1": "x"}) == [1, "x"]
    assert converter("char(3)")("a") == "a  "
    assert converter("bigint")(None) is None


METADATA = Metadata([CatalogConfig(name="tpch", connector_name="tpch")], lambda: [])


def _translate(sql: str, catalog: str | None = None, schema: str | None = None) -> object:
    return translate(sql, SessionContext(catalog, schema, "alice", "476"), METADATA, lambda scale: f"duck_{scale}")


def test_translation_resolves_names_and_keeps_trino_result_types() -> None:
    translation = _translate("SELECT n.name AS Nation, regionkey, 'abc', 1.50, DECIMAL '10.25', "
                             "CAST('x' AS varchar(6)), NULL, current_user FROM nation n", "tpch", "tiny")
    assert translation.columns is not None  # type: ignore[attr-defined]
    assert [(c.name, c.type_hint) for c in translation.columns] == [  # type: ignore[attr-defined]
        ("Nation", "varchar(25)"), ("regionkey", "bigint"), ("_col2", "varchar(3)"), ("_col3", "decimal(3, 2)"),
        ("_col4", "decimal(4, 2)"), ("_col5", "varchar(6)"), ("_col6", "unknown"), ("_col7", "varchar"),
    ]
    duck_sql = translation.duck_sql  # type: ignore[attr-defined]
    assert '"duck_tiny"."main"."nation"' in duck_sql and "'alice'" in duck_sql and "DECIMAL(4, 2)" in duck_sql


def test_translation_makes_division_by_zero_an_error_and_expands_stars() -> None:
    translation = _translate("SELECT *, 1 / (regionkey - regionkey) FROM tpch.sf1.region")
    assert "XT_NONZERO((regionkey - regionkey))" in translation.duck_sql  # type: ignore[attr-defined]
    assert [c.name for c in translation.columns] == [  # type: ignore[attr-defined]
        "regionkey", "name", "comment", "_col3"]


@pytest.mark.parametrize(
    ("sql", "error_name", "message"),
    [
        ("SELECT * FROM tpch.tiny.nope", "TABLE_NOT_FOUND", "line 1:15: Table 'tpch.tiny.nope' does not exist"),
        ("SELECT * FROM tpch.nope.nation", "SCHEMA_NOT_FOUND", "line 1:15: Schema 'nope' does not exist"),
        ("SELECT * FROM nope.tiny.nation", "CATALOG_NOT_FOUND", "line 1:15: Catalog 'nope' not found"),
        ("SELECT * FROM\n  nation", "MISSING_SCHEMA_NAME",
         "line 2:3: Schema must be specified when session schema is not set"),
        ("SELECT * FROM tpch.sf100.lineitem", "NOT_SUPPORTED", None),
    ],
)
def test_translation_fails_like_trino_for_unknown_names(sql: str, error_name: str, message: str | None) -> None:
    with pytest.raises(QueryFailure) as caught:
        _translate(sql)
    assert caught.value.code.name == error_name
    if message is not None:
        assert caught.value.message == message


@pytest.mark.parametrize(("seconds", "text"), [(300, "5.00m"), (0.3, "300.00ms"), (37980, "10.55h"), (2, "2.00s")])
def test_airlift_duration_text(seconds: float, text: str) -> None:
    assert format_airlift_duration(timedelta(seconds=seconds)) == text


def test_data_size_text() -> None:
    assert (format_data_size(0), format_data_size(12800), format_data_size(3 << 20)) == ("0B", "12.50kB", "3MB")


def test_query_id_pattern_accepts_trino_ids_only() -> None:
    assert QUERY_ID_PATTERN.match("20250101_120000_00000_abcde")
    assert not QUERY_ID_PATTERN.match("20250101_120000_00000_abcdl")
    assert not QUERY_ID_PATTERN.match("20250101_120000_0000_abcde")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/statement/queued/20250101_120000_00000_abcde/y0123/1", "20250101_120000_00000_abcde"),
        ("/v1/statement/executing/20250101_120000_00007_abcde/yab/0", "20250101_120000_00007_abcde"),
        ("/v1/statement/executing/partialCancel/20250101_120000_00007_abcde/1/y/2", "20250101_120000_00007_abcde"),
        ("/v1/query/20250101_120000_00007_abcde", "20250101_120000_00007_abcde"),
        ("/v1/query/20250101_120000_00007_abcde/killed", "20250101_120000_00007_abcde"),
        ("/v1/statement", None),
        ("/v1/info", None),
        ("/v1/query", None),
    ],
)
def test_query_id_from_follow_up_paths(path: str, expected: str | None) -> None:
    assert query_id_from_path(path) == expected
