"""Runs a planned SELECT on a fresh in-memory SQLite (in a worker thread) and types its result.

Only the referenced tables are created and loaded; Trino-flavoured functions (`sleep`, `concat`,
`greatest`, `least`, `version`) are registered; result columns get Trino names, types and JSON values.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from xtrinode.trino_protocol import StandardError

from .errors import QueryFailure
from .select import SelectPlan, SessionContext, quote
from .types import encode_value

__all__ = ["MAX_RESULT_ROWS", "run_select", "type_result"]

MAX_RESULT_ROWS: Final = 1_000_000
_SQLITE_TYPES: Final = {"bigint": "INTEGER", "integer": "INTEGER", "boolean": "INTEGER", "double": "REAL",
                        "real": "REAL", "date": "TEXT"}


def _register_functions(connection: sqlite3.Connection, cancel: threading.Event, session: SessionContext) -> None:
    def sleep(seconds: Any) -> int | None:
        if seconds is None:
            return None
        delay = float(seconds)
        if delay < 0:
            raise ValueError("sleep seconds must not be negative")
        cancel.wait(delay)
        return 1

    def concat(*values: Any) -> str | None:
        return None if any(value is None for value in values) else "".join(str(value) for value in values)

    connection.create_function("sleep", 1, sleep)
    connection.create_function("concat", -1, concat)
    connection.create_function("greatest", -1, lambda *v: None if None in v else max(v))
    connection.create_function("least", -1, lambda *v: None if None in v else min(v))
    connection.create_function("version", 0, lambda: session.version)
    connection.create_function("current_user", 0, lambda: session.user)
    connection.create_function("rand", 0, random.random)
    connection.create_function("random", 0, random.random)


def run_select(
    plan: SelectPlan,
    session: SessionContext,
    cancel: threading.Event,
    on_connection: Callable[[sqlite3.Connection | None], None],
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run in a worker thread: load the referenced tables into a fresh in-memory SQLite and query it."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    on_connection(connection)
    try:
        _register_functions(connection, cancel, session)
        for table, rows in plan.tables:
            columns = ", ".join(f"{quote(name)} {_SQLITE_TYPES.get(type_text, 'TEXT')}"
                                for name, type_text in table.columns)
            connection.execute(f"CREATE TABLE IF NOT EXISTS {quote(table.qualified)} ({columns})")
            marks = ", ".join("?" for _ in table.columns)
            connection.executemany(f"INSERT INTO {quote(table.qualified)} VALUES ({marks})", rows)
        cursor = connection.execute(plan.sqlite_sql)
        names = [description[0] for description in cursor.description or ()]
        result: list[tuple[Any, ...]] = []
        while batch := cursor.fetchmany(1000):
            result.extend(batch)
            if cancel.is_set():
                break
            if len(result) > MAX_RESULT_ROWS:
                raise QueryFailure(StandardError.EXCEEDED_LOCAL_MEMORY_LIMIT,
                                   f"Query exceeded the emulator limit of {MAX_RESULT_ROWS} result rows")
        return names, result
    finally:
        on_connection(None)
        connection.close()


def _infer(values: list[Any], literal_arithmetic: bool) -> str:
    present = [value for value in values if value is not None]
    if not present:
        return "unknown"
    if all(isinstance(value, int) for value in present):
        fits = all(-2147483648 <= value <= 2147483647 for value in present)
        return "integer" if literal_arithmetic and fits else "bigint"
    if all(isinstance(value, (int, float, Decimal)) for value in present):
        return "double"
    if all(isinstance(value, bytes) for value in present):
        return "varbinary"
    return "varchar"


def type_result(
    plan: SelectPlan, names: list[str], rows: list[tuple[Any, ...]]
) -> tuple[list[tuple[str, str]], list[list[Any]]]:
    """Trino column names and types for a SQLite result, and the rows encoded for JSON."""
    columns: list[tuple[str, str]] = []
    items = plan.items if plan.items is not None and len(plan.items) == len(names) else None
    known = {name: type_text for scope in plan.scopes.values() for name, type_text in scope.items()}
    for index, sqlite_name in enumerate(names):
        values = [row[index] for row in rows]
        if items is not None:
            item = items[index]
            name = item.name or f"_col{index}"
            type_text = item.type or _infer(values, item.literal_arithmetic)
        else:
            lowered = sqlite_name.lower()
            name = lowered if lowered in known or lowered.isidentifier() else f"_col{index}"
            type_text = known.get(lowered) or _infer(values, False)
        columns.append((name, type_text))
    encoded = [[encode_value(value, columns[i][1]) for i, value in enumerate(row)] for row in rows]
    return columns, encoded
