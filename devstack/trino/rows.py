"""Where a result's rows come from: computed up front (SHOW, EXPLAIN), or a DuckDB relation streamed in chunks
with each value in Trino's JSON form; how result columns get Trino's names and types; and system tables
copied into a query's DuckDB connection as temporary tables.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from xtrinode.trino_protocol import StandardError

from .duck import interrupt
from .errors import QueryFailure
from .metadata import Table
from .types import converter, parse_type, trino_type_of_duckdb

if TYPE_CHECKING:
    from .naming import OutputColumn

__all__ = ["DuckRows", "RowSource", "StaticRows", "materialize", "output_columns"]


class RowSource(Protocol):
    """Rows of a result, fetched in a worker thread: `fetch` blocks and returns [] once exhausted."""

    def fetch(self, max_rows: int) -> list[list[Any]]: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class StaticRows:
    """Rows computed up front (SHOW, DESCRIBE, EXPLAIN), already in Trino's JSON form."""

    def __init__(self, rows: Sequence[Sequence[Any]]) -> None:
        self._rows = [list(row) for row in rows]
        self._position = 0

    def fetch(self, max_rows: int) -> list[list[Any]]:
        chunk = self._rows[self._position:self._position + max_rows]
        self._position += len(chunk)
        return chunk

    def interrupt(self) -> None:
        self._position = len(self._rows)

    def close(self) -> None:
        self._rows = []


class DuckRows:
    """A DuckDB relation streamed in chunks, each value converted to Trino's JSON form."""

    def __init__(self, cursor: Any, relation: Any, columns: list[tuple[str, str]], sleep_seconds: float,
                 cancel: threading.Event, sql: str, tree: Any) -> None:
        self._cursor = cursor
        self._relation = relation
        self._convert = [converter(type_text) for _, type_text in columns]
        self._plain = all(c is converter("varchar") for c in self._convert)
        self._sleep = sleep_seconds
        self._cancel = cancel
        self._sql = sql
        self._tree = tree

    def fetch(self, max_rows: int) -> list[list[Any]]:
        if self._sleep:
            seconds, self._sleep = self._sleep, 0.0
            if self._cancel.wait(seconds):
                raise QueryFailure(StandardError.USER_CANCELED, "Query was canceled")
        try:
            rows = self._relation.fetchmany(max_rows)
        except Exception as e:  # noqa: BLE001 - every DuckDB error becomes the Trino error a user would see
            if isinstance(e, QueryFailure):
                raise
            from .sqlerrors import duckdb_failure  # noqa: PLC0415 - sqlglot is imported where a query is planned

            raise duckdb_failure(e, self._sql, self._tree) from e
        if self._plain:
            return [list(row) for row in rows]
        convert = self._convert
        return [[f(value) for f, value in zip(convert, row, strict=True)] for row in rows]

    def interrupt(self) -> None:
        self._cancel.set()
        interrupt(self._cursor)

    def close(self) -> None:
        try:
            self._cursor.close()
        except Exception:  # noqa: BLE001 - closing after an interrupt may complain; nothing is lost
            pass


def _base(type_text: str) -> str:
    parsed = parse_type(type_text)
    return parsed.raw


def output_columns(described: list[OutputColumn] | None, names: Sequence[str], duck_types: Sequence[Any]
                   ) -> list[tuple[str, str]]:
    """Trino names and types of a result: the query text's where it tells (and DuckDB agrees), else DuckDB's."""
    duck = [trino_type_of_duckdb(t) for t in duck_types]
    if described is None or len(described) != len(duck):
        return [(name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else f"_col{i}", duck[i])
                for i, name in enumerate(names)]
    out = []
    for index, (column, duck_type) in enumerate(zip(described, duck, strict=True)):
        type_text = duck_type
        hint = column.type_hint
        if hint is not None:
            try:
                hint_base, duck_base = _base(hint), _base(duck_type)
            except ValueError:
                hint_base, duck_base = "", "-"
            if hint == "unknown" or hint_base == duck_base or (hint_base == "char" and duck_base == "varchar") \
                    or (hint_base == "json" and duck_base == "varchar"):
                type_text = hint
        out.append((column.name or f"_col{index}", type_text))
    return out


def _duck_type(type_text: str) -> str:
    t = parse_type(type_text)
    simple = {"varchar": "VARCHAR", "bigint": "BIGINT", "integer": "INTEGER", "boolean": "BOOLEAN",
              "double": "DOUBLE", "date": "DATE"}
    if t.name == "timestamp":
        return "TIMESTAMPTZ" if t.with_time_zone else "TIMESTAMP"
    if t.name == "array":
        return _duck_type(str(t.children[0])) + "[]"
    return simple.get(t.name, "VARCHAR")


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_sql_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def materialize(cursor: Any, name: str, table: Table) -> None:
    """A system table's current rows as a temporary table of this query's DuckDB connection."""
    columns = ", ".join(f'"{column}" {_duck_type(type_text)}' for column, type_text in table.columns)
    cursor.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" ({columns})')
    rows = list(table.rows()) if table.rows is not None else []
    for start in range(0, len(rows), 500):
        values = ", ".join("(" + ", ".join(_sql_literal(v) for v in row) + ")" for row in rows[start:start + 500])
        cursor.execute(f'INSERT INTO "{name}" VALUES {values}')
