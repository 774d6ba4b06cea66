"""Runs one parsed statement: SHOW/USE/SET SESSION answered from metadata, SELECT via SQLite in a thread.

The result carries everything the final page needs: columns, encoded rows, updateType and
the session changes that become `X-Trino-Set-*` / `X-Trino-Clear-Session` response headers.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from xtrinode.trino_protocol import StandardError

from .errors import QueryFailure
from .metadata import Metadata
from .select import SessionContext, plan_select
from .sqlite_backend import run_select, type_result
from .sql import (
    QualifiedName,
    ResetSession,
    Select,
    SetSession,
    ShowCatalogs,
    ShowColumns,
    ShowSchemas,
    ShowTables,
    Statement,
    Use,
    location_of,
    tokenize,
)

__all__ = ["Engine", "StatementResult"]

_SESSION_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


@dataclass(slots=True)
class StatementResult:
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    update_type: str | None = None
    set_catalog: str | None = None
    set_schema: str | None = None
    set_session: dict[str, str] = field(default_factory=dict)
    clear_session: list[str] = field(default_factory=list)


def _like(pattern: str | None) -> Callable[[str], bool]:
    if pattern is None:
        return lambda _name: True
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return lambda name: re.fullmatch(regex, name, re.S) is not None


def _ddl(update_type: str, **changes: Any) -> StatementResult:
    """Trino answers statements without output with one `result boolean` row `[true]`."""
    return StatementResult(columns=[("result", "boolean")], rows=[[True]], update_type=update_type, **changes)


class Engine:
    """Executes statements for one node; SQLite work runs on the node's own thread pool."""

    def __init__(self, metadata: Metadata, executor: ThreadPoolExecutor) -> None:
        self.metadata = metadata
        self.executor = executor

    async def execute(
        self,
        statement: Statement,
        session: SessionContext,
        cancel: threading.Event,
        on_connection: Callable[[sqlite3.Connection | None], None],
    ) -> StatementResult:
        if isinstance(statement, Select):
            plan = plan_select(statement, session, self.metadata)
            loop = asyncio.get_running_loop()
            try:
                names, rows = await loop.run_in_executor(
                    self.executor, run_select, plan, session, cancel, on_connection
                )
            except sqlite3.Error as e:
                raise _sqlite_failure(statement.sql, e) from e
            columns, encoded = type_result(plan, names, rows)
            return StatementResult(columns=columns, rows=encoded)
        return self._execute_simple(statement, session)

    def _catalog_of(self, name: QualifiedName | None, session: SessionContext) -> str:
        if name is None:
            if session.catalog is None:
                raise QueryFailure(StandardError.MISSING_CATALOG_NAME,
                                   "Catalog must be specified when session catalog is not set")
            return session.catalog
        if len(name.parts) != 1:
            raise QueryFailure(StandardError.SYNTAX_ERROR, f"Invalid catalog name: {name}")
        return name.parts[0]

    def _schema_of(self, name: QualifiedName | None, session: SessionContext) -> tuple[str, str]:
        if name is None:
            if session.schema is None:
                raise QueryFailure(StandardError.MISSING_SCHEMA_NAME,
                                   "Schema must be specified when session schema is not set")
            return self._catalog_of(None, session), session.schema
        if len(name.parts) == 1:
            return self._catalog_of(None, session), name.parts[0]
        if len(name.parts) == 2:
            return name.parts[0], name.parts[1]
        raise QueryFailure(StandardError.SYNTAX_ERROR, f"Too many parts in schema name: {name}")

    def _execute_simple(self, statement: Statement, session: SessionContext) -> StatementResult:
        metadata = self.metadata
        if isinstance(statement, ShowCatalogs):
            match = _like(statement.like)
            rows = [[name] for name in metadata.catalog_names() if match(name)]
            return StatementResult(columns=[("Catalog", "varchar")], rows=rows)
        if isinstance(statement, ShowSchemas):
            catalog = self._catalog_of(statement.catalog, session)
            match = _like(statement.like)
            rows = [[name] for name in metadata.schema_names(catalog) if match(name)]
            return StatementResult(columns=[("Schema", "varchar")], rows=rows)
        if isinstance(statement, ShowTables):
            catalog, schema = self._schema_of(statement.schema, session)
            match = _like(statement.like)
            rows = [[name] for name in metadata.table_names(catalog, schema) if match(name)]
            return StatementResult(columns=[("Table", "varchar")], rows=rows)
        if isinstance(statement, ShowColumns):
            parts = statement.table.parts
            if len(parts) > 3:
                raise QueryFailure(StandardError.SYNTAX_ERROR, f"Too many dots in table name: {statement.table}")
            prefix = self._schema_of(QualifiedName(parts[:-1], 0) if len(parts) > 1 else None, session)
            table = metadata.table(prefix[0], prefix[1], parts[-1])
            if table is None:
                metadata.check_schema(*prefix)
                raise QueryFailure(StandardError.TABLE_NOT_FOUND,
                                   f"Table '{prefix[0]}.{prefix[1]}.{parts[-1]}' does not exist")
            columns = [("Column", "varchar"), ("Type", "varchar"), ("Extra", "varchar"), ("Comment", "varchar")]
            return StatementResult(columns=columns, rows=[[name, t, "", ""] for name, t in table.columns])
        if isinstance(statement, Use):
            if len(statement.name.parts) == 2:
                catalog, schema = statement.name.parts
            else:
                if session.catalog is None:
                    raise QueryFailure(StandardError.MISSING_CATALOG_NAME,
                                       "Catalog must be specified when session catalog is not set")
                catalog, schema = session.catalog, statement.name.parts[0]
            metadata.check_schema(catalog, schema)
            return _ddl("USE", set_catalog=catalog, set_schema=schema)
        if isinstance(statement, SetSession):
            if not _SESSION_NAME.match(statement.name):
                raise QueryFailure(StandardError.INVALID_SESSION_PROPERTY,
                                   f"Session property '{statement.name}' does not exist")
            return _ddl("SET SESSION", set_session={statement.name: statement.value})
        if isinstance(statement, ResetSession):
            return _ddl("RESET SESSION", clear_session=[statement.name])
        raise QueryFailure(StandardError.NOT_SUPPORTED, f"{type(statement).__name__} is not supported")


def _token_location(sql: str, text: str) -> tuple[int, int] | None:
    try:
        tokens = tokenize(sql)
    except QueryFailure:
        return None
    wanted = text.lower().strip('"')
    for token in tokens:
        if token.text.lower().strip('"') == wanted or token.text.lower().endswith("." + wanted):
            return location_of(sql, token.start)
    return None


def _located(code: Any, sql: str, text: str, message: str) -> QueryFailure:
    location = _token_location(sql, text)
    prefix = f"line {location[0]}:{location[1]}: " if location else ""
    return QueryFailure(code, prefix + message, location)


def _sqlite_failure(sql: str, error: sqlite3.Error) -> QueryFailure:
    """SQLite's complaint in Trino's words, with the location of the offending token when found."""
    text = str(error)
    if match := re.match(r"no such column: (.+)", text):
        name = match.group(1).split(".")[-1]
        return _located(StandardError.COLUMN_NOT_FOUND, sql, name, f"Column '{match.group(1)}' cannot be resolved")
    if match := re.match(r"no such function: (.+)", text):
        name = match.group(1)
        return _located(StandardError.FUNCTION_NOT_FOUND, sql, name, f"Function '{name.lower()}' not registered")
    if match := re.match(r'near "(.+)": syntax error', text):
        return _located(StandardError.SYNTAX_ERROR, sql, match.group(1),
                        f"mismatched input '{match.group(1)}'. Expecting: <expression>")
    if text.startswith("incomplete input"):
        return QueryFailure(StandardError.SYNTAX_ERROR, "mismatched input '<EOF>'. Expecting: <expression>")
    if text == "interrupted":
        return QueryFailure(StandardError.USER_CANCELED, "Query was canceled")
    if match := re.match(r"ambiguous column name: (.+)", text):
        return _located(StandardError.AMBIGUOUS_NAME, sql, match.group(1).split(".")[-1],
                        f"Column '{match.group(1)}' is ambiguous")
    if "user-defined function raised exception" in text:
        return QueryFailure(StandardError.INVALID_FUNCTION_ARGUMENT, "Invalid function argument")
    return QueryFailure(StandardError.NOT_SUPPORTED, f"The xtrinode Trino emulator cannot run this query: {text}")
