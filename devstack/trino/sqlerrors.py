"""Trino's errors for what sqlglot and DuckDB report: SYNTAX_ERROR at Trino's `line:column`, and each DuckDB
error in the words (and error code, and location in the client's text) Trino would use.

Locations come from the sqlglot tree of the client's text (identifier token offsets), never from
DuckDB's, whose SQL is the translated text.
"""

from __future__ import annotations

import re
from typing import Final, cast

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from xtrinode.trino_protocol import ErrorCode, StandardError

from .errors import QueryFailure
from .sql import location_of

__all__ = ["STATEMENT_WORDS", "duckdb_failure", "located", "offset_of", "syntax_failure"]


STATEMENT_WORDS: Final = (
    "'ALTER', 'ANALYZE', 'CALL', 'COMMENT', 'COMMIT', 'CREATE', 'DEALLOCATE', 'DELETE', 'DENY', 'DESC', "
    "'DESCRIBE', 'DROP', 'EXECUTE', 'EXPLAIN', 'GRANT', 'INSERT', 'MERGE', 'PREPARE', 'REFRESH', 'RESET', "
    "'REVOKE', 'ROLLBACK', 'SET', 'SHOW', 'START', 'TRUNCATE', 'UPDATE', 'USE', 'WITH', <query>"
)


def located(code: ErrorCode, message: str, sql: str, offset: int | None) -> QueryFailure:
    if offset is None:
        return QueryFailure(code, message)
    line, column = location_of(sql, offset)
    return QueryFailure(code, f"line {line}:{column}: {message}", (line, column))


def offset_of(node: exp.Expression | None) -> int | None:
    """Where a node starts in the text (sqlglot keeps token offsets on identifiers)."""
    if node is None:
        return None
    candidates = [node, *node.find_all(exp.Identifier)]
    starts = [int(n.meta["start"]) for n in candidates if isinstance(n.meta, dict) and "start" in n.meta]
    return min(starts) if starts else None


def syntax_failure(sql: str, error: ParseError | TokenError) -> QueryFailure:
    """sqlglot's complaint as Trino's SYNTAX_ERROR, `mismatched input '<token>'` at its line and column."""
    details = getattr(error, "errors", None) or []
    if details:
        first = details[0]
        line, column = int(first.get("line") or 1), int(first.get("col") or 1)
        token = str(first.get("highlight") or "").strip()
        lines = sql.split("\n")
        if token and 0 < line <= len(lines):
            found = lines[line - 1].rfind(token, 0, max(column, 0))
            column = found + 1 if found >= 0 else max(1, column - len(token) + 1)
        if not token or column > len(lines[line - 1] if 0 < line <= len(lines) else ""):
            token = "<EOF>"
        message = f"line {line}:{column}: mismatched input '{token}'. Expecting: <expression>"
        return QueryFailure(StandardError.SYNTAX_ERROR, message, (line, column))
    stripped = sql.rstrip()
    line, column = location_of(sql, len(stripped))
    return QueryFailure(StandardError.SYNTAX_ERROR, f"line {line}:{column}: mismatched input '<EOF>'. "
                        f"Expecting: {STATEMENT_WORDS}", (line, column))


def _first(tree: exp.Expression | None, kind: type[exp.Expression], name: str) -> exp.Expression | None:
    if tree is None:
        return None
    for node in tree.find_all(kind):
        if node.name.lower() == name.lower():
            return node
    return None


def _function_node(tree: exp.Expression | None, name: str) -> exp.Expression | None:
    if tree is None:
        return None
    for node in tree.find_all(exp.Func):
        sql_name = node.sql_name() if not isinstance(node, exp.Anonymous) else node.name
        if sql_name.lower() == name.lower():
            return cast(exp.Expression, node)
    return None


def duckdb_failure(error: BaseException, sql: str, tree: exp.Expression | None) -> QueryFailure:
    """DuckDB's complaint as the Trino error a user would see (with a location when the text shows one)."""
    text = str(error)
    kind = type(error).__name__
    if kind == "InterruptException" or text.startswith("INTERRUPT"):
        return QueryFailure(StandardError.USER_CANCELED, "Query was canceled")
    if "Division by zero" in text:
        return QueryFailure(StandardError.DIVISION_BY_ZERO, "Division by zero")
    if match := re.search(r'Referenced column "([^"]+)" (?:was )?not found', text):
        name = match.group(1)
        return located(StandardError.COLUMN_NOT_FOUND, f"Column '{name}' cannot be resolved", sql,
                        offset_of(_first(tree, exp.Column, name)))
    if match := re.search(r'Referenced table "([^"]+)" not found', text):
        return located(StandardError.COLUMN_NOT_FOUND, f"Column '{match.group(1)}' cannot be resolved", sql, None)
    if match := re.search(r"(?:Scalar|Aggregate|Table) Function with name (\S+) does not exist", text):
        name = match.group(1).strip('"')
        return located(StandardError.FUNCTION_NOT_FOUND, f"Function '{name}' not registered", sql,
                        offset_of(_function_node(tree, name)))
    if match := re.search(r"No function matches the given name and argument types '([^(]+)\(([^)]*)\)'", text):
        name, arguments = match.group(1), match.group(2)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            return QueryFailure(StandardError.TYPE_MISMATCH, f"Cannot apply operator: {arguments.lower()}")
        return located(StandardError.FUNCTION_NOT_FOUND,
                        f"Unexpected parameters ({arguments.lower()}) for function {name}", sql,
                        offset_of(_function_node(tree, name)))
    if match := re.search(r'column "([^"]+)" must appear in the GROUP BY clause', text):
        name = match.group(1)
        return located(StandardError.EXPRESSION_NOT_AGGREGATE,
                        f"'{name}' must be an aggregate expression or appear in GROUP BY clause", sql,
                        offset_of(_first(tree, exp.Column, name)))
    if match := re.search(r'Ambiguous reference to column name "([^"]+)"', text):
        name = match.group(1)
        return located(StandardError.AMBIGUOUS_NAME, f"Column '{name}' is ambiguous", sql,
                        offset_of(_first(tree, exp.Column, name)))
    if match := re.search(r"Could not convert string '([^']*)' to (\w+)", text):
        return QueryFailure(StandardError.INVALID_CAST_ARGUMENT, f"Cannot cast '{match.group(1)}' to "
                            f"{match.group(2).replace('INT32', 'INT').replace('INT64', 'BIGINT')}")
    if kind in ("OutOfRangeException",) or "Out of Range Error" in text:
        return QueryFailure(StandardError.NUMERIC_VALUE_OUT_OF_RANGE, text.split("\n")[0])
    if kind == "ConversionException" or text.startswith("Conversion Error"):
        return QueryFailure(StandardError.INVALID_CAST_ARGUMENT, text.split("\n")[0].removeprefix("Conversion Error: "))
    first_line = text.split("\n")[0]
    return QueryFailure(StandardError.NOT_SUPPORTED,
                        f"The xtrinode Trino emulator (DuckDB) cannot run this query: {first_line}")
