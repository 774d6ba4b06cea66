"""The emulator's SQL front end and wire helpers (no servers).

Checks: statement parsing (SHOW, USE, SET/RESET SESSION, SELECT), Trino-style syntax errors with
1-based line:column, type signatures and value encoding, airlift Duration text, and query ids.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from devstack.trino.errors import QueryFailure
from devstack.trino.sql import (
    ResetSession,
    Select,
    SetSession,
    ShowCatalogs,
    ShowSchemas,
    ShowTables,
    Use,
    parse_statement,
)
from devstack.trino.types import encode_value, normalize_type, type_signature
from xtrinode.trino_protocol import QUERY_ID_PATTERN, format_airlift_duration, format_data_size, query_id_from_path


def test_statements_parse_into_their_kinds() -> None:
    assert parse_statement("show catalogs like 'tp%';") == ShowCatalogs("tp%")
    schemas = parse_statement("SHOW SCHEMAS FROM tpch")
    assert isinstance(schemas, ShowSchemas) and schemas.catalog is not None and schemas.catalog.parts == ("tpch",)
    tables = parse_statement('SHOW TABLES IN "TPCH".tiny')
    assert isinstance(tables, ShowTables) and tables.schema is not None and tables.schema.parts == ("tpch", "tiny")
    use = parse_statement("USE tpch.tiny")
    assert isinstance(use, Use) and use.name.parts == ("tpch", "tiny")
    assert parse_statement("SET SESSION query_max_run_time = '10m'") == SetSession("query_max_run_time", "10m")
    assert parse_statement("SET SESSION hive.x = TRUE") == SetSession("hive.x", "true")
    assert parse_statement("RESET SESSION a") == ResetSession("a")
    assert isinstance(parse_statement("  -- comment\n WITH t AS (SELECT 1) SELECT * FROM t"), Select)


@pytest.mark.parametrize(
    ("sql", "error_name", "location"),
    [
        ("SELEC 1", "SYNTAX_ERROR", (1, 1)),
        ("\n\n  FOO", "SYNTAX_ERROR", (3, 3)),
        ("SHOW TABLES FROM", "SYNTAX_ERROR", (1, 17)),
        ("USE a.b.c", "SYNTAX_ERROR", (1, 5)),
        ("SELECT 'open", "SYNTAX_ERROR", (1, 8)),
        ("DROP TABLE x", "NOT_SUPPORTED", (1, 1)),
        ("SHOW FUNCTIONS", "NOT_SUPPORTED", (1, 6)),
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


def test_type_signatures_match_trino() -> None:
    assert type_signature("varchar(25)") == {"rawType": "varchar", "arguments": [{"kind": "LONG", "value": 25}]}
    assert type_signature("varchar") == {"rawType": "varchar", "arguments": [{"kind": "LONG", "value": 2147483647}]}
    assert type_signature("decimal(10,2)")["arguments"] == [{"kind": "LONG", "value": 10}, {"kind": "LONG", "value": 2}]
    assert type_signature("bigint") == {"rawType": "bigint", "arguments": []}
    assert normalize_type("DECIMAL( 10, 2 )") == "decimal(10,2)"
    assert normalize_type("int") == "integer"
    assert normalize_type("map(varchar, bigint)") is None


def test_values_encode_as_trino_json() -> None:
    assert encode_value(1.5, "decimal(10,2)") == "1.50"
    assert encode_value(float("nan"), "double") == "NaN"
    assert encode_value(float("-inf"), "double") == "-Infinity"
    assert encode_value(1, "boolean") is True
    assert encode_value(b"\x00\x01", "varbinary") == "AAE="
    assert encode_value(None, "bigint") is None


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
