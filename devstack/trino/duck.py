"""The DuckDB database behind one emulated coordinator: created on first use, shared by its queries.

It loads the tpch extension from the `duckdb-ext-tpch` wheel (never downloads), makes `/` divide
integers as Trino does, defines the small macros the translated SQL calls (`xt_nonzero` raises
Trino's `Division by zero`), and attaches each tpch scale read-only from the cache (tpch.py).
Each query runs on its own cursor (a DuckDB connection to this database), so a cancel interrupts
only that query. Importing duckdb is deferred to first use: workers and startup never pay for it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import tpch

if TYPE_CHECKING:
    import duckdb

__all__ = ["Database"]

log = logging.getLogger("devstack.trino.duck")

MEMORY_LIMIT = "2GB"
"""DuckDB's limit per coordinator (its default is 80% of the machine's memory)."""

_MACROS = (
    # Trino fails integer and decimal division by zero; DuckDB would answer NULL.
    "CREATE MACRO xt_nonzero(b) AS CASE WHEN b = 0 AND typeof(b) NOT IN ('DOUBLE', 'FLOAT') "
    "THEN error('Division by zero') ELSE b END",
)


class Database:
    """A lazily created in-memory DuckDB with Trino-shaped tpch schemas attached on demand."""

    def __init__(self, cache_dir: Path | None = None, threads: int = 2) -> None:
        self._cache_dir = cache_dir
        self._threads = threads
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._attached: dict[str, str] = {}

    def _connect(self) -> duckdb.DuckDBPyConnection:
        import duckdb  # noqa: PLC0415 - deferred: ~0.1 s that only coordinators running SQL need

        connection = duckdb.connect(":memory:", config=dict(tpch.DUCKDB_CONFIG))
        connection.execute("SET enable_progress_bar = false")
        connection.execute(f"SET threads = {self._threads}")
        connection.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        connection.execute("SET integer_division = true")
        connection.execute(f"LOAD '{tpch.extension_path()}'")
        for macro in _MACROS:
            connection.execute(macro)
        # Queries reach no file but the tpch cache: `read_csv('/etc/passwd')`, COPY, INSTALL are refused.
        cache = str(self._cache_dir or tpch.cache_directory()).rstrip("/") + "/"
        connection.execute("SET allowed_directories = [?]", [cache])
        connection.execute("SET enable_external_access = false")
        return connection

    def connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._connection is None:
                self._connection = self._connect()
            return self._connection

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to this database for one query (its own transaction and interrupt)."""
        return self.connection().cursor()

    def tpch_catalog(self, schema: str) -> str:
        """The DuckDB catalog holding a generated tpch schema, attached (and generated) on first use."""
        with self._lock:
            if schema in self._attached:
                return self._attached[schema]
        connection = self.connection()
        name = f"xt_tpch_{schema}"
        try:
            path = tpch.generate(schema, self._cache_dir)
        except OSError as e:
            log.warning("tpch cache unusable; generating in memory", extra={"schema": schema, "error": str(e)})
            path = None
        with self._lock:
            if schema not in self._attached:
                if path is not None:
                    connection.execute(f"ATTACH '{path}' AS \"{name}\" (READ_ONLY)")
                else:
                    tpch.populate_in_memory(connection, name, schema)
                self._attached[schema] = name
            return self._attached[schema]

    def warm_up(self) -> None:
        """Import DuckDB, create the database and attach `tiny` now, so the first query is quick."""
        self.tpch_catalog("tiny")

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            self._attached.clear()
        if connection is not None:
            connection.close()


def interrupt(cursor: Any) -> None:
    """Stop what a query cursor runs (safe from any thread, harmless when it already finished)."""
    try:
        cursor.interrupt()
    except Exception:  # noqa: BLE001 - a closed cursor has nothing left to interrupt
        log.debug("interrupt of a finished cursor", exc_info=True)
