"""Runs one parsed statement: queries on DuckDB (streamed), everything else from metadata and the session.

The result carries what the pages need: columns (known before the first row), a row source the
query's producer drains in the node's thread pool, the updateType, and the session changes that
become `X-Trino-Set-*`, `-Added-Prepare`, `-Started-Transaction-Id`... response headers.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xtrinode.trino_protocol import StandardError

from .duck import Database
from .errors import QueryFailure
from .metadata import Metadata, like_matcher
from .parsed import (
    Commit,
    Deallocate,
    DescribeInput,
    DescribeOutput,
    Execute,
    Explain,
    Prepare,
    QualifiedName,
    Query,
    ResetSession,
    Rollback,
    SetSession,
    ShowCatalogs,
    ShowColumns,
    ShowFunctions,
    ShowSchemas,
    ShowSession,
    ShowTables,
    StartTransaction,
    Statement,
    Use,
)
from .rows import DuckRows, RowSource, StaticRows, materialize, output_columns
from .session import Identity, check_reset_session, check_set_session, functions, session_properties
from .sql import location_of, parse_statement, prepared_statement

if TYPE_CHECKING:
    from .translate import SessionContext, Translation

# translate.py (sqlglot, ~0.1-0.3 s to import) is imported where a query is planned, not at startup:
# workers never plan, and a coordinator's warm-up imports it in the background.

__all__ = ["Engine", "RowSource", "StatementResult", "Transactions"]


@dataclass(slots=True)
class StatementResult:
    """What a statement answers. `columns` None means no result set (USE, SET SESSION...: `columns: []`)."""

    columns: list[tuple[str, str]] | None = None
    rows: RowSource | None = None
    update_type: str | None = None
    set_catalog: str | None = None
    set_schema: str | None = None
    set_session: dict[str, str] = field(default_factory=dict)
    clear_session: list[str] = field(default_factory=list)
    added_prepare: dict[str, str] = field(default_factory=dict)
    deallocated_prepare: list[str] = field(default_factory=list)
    started_transaction_id: str | None = None
    clear_transaction_id: bool = False


class Transactions:
    """Open transactions of the coordinator (the emulator keeps no transactional state beyond their ids)."""

    def __init__(self) -> None:
        self.open: dict[str, datetime.datetime] = {}

    def check(self, identity: Identity) -> None:
        tid = identity.transaction_id
        if tid not in (None, "NONE") and tid not in self.open:
            raise QueryFailure(StandardError.UNKNOWN_TRANSACTION,
                               f"Unknown transaction ID: {tid}. Possibly expired? Commands ignored until end of "
                               "transaction block")


def _varchar_columns(names: Sequence[str], rows: Sequence[Sequence[Any]], sized: bool) -> list[tuple[str, str]]:
    """Columns of a SHOW answer: Trino types them varchar(n) with n the longest value when it builds them from
    literals (SHOW CATALOGS, SHOW SESSION, SHOW FUNCTIONS), plain varchar when they come from a table."""
    if not sized:
        return [(name, "varchar") for name in names]
    columns = []
    for index, name in enumerate(names):
        values = [row[index] for row in rows if isinstance(row[index], str)]
        columns.append((name, f"varchar({max((len(v) for v in values), default=0)})"))
    return columns


def _explain_text(version: str, columns: Sequence[tuple[str, str]], plan: str, kind: str) -> str:
    """Plausible EXPLAIN output: Trino's fragment header over DuckDB's physical plan."""
    layout = ", ".join(f"{name}:{type_text}" for name, type_text in columns)
    names = ", ".join(name for name, _ in columns)
    lines = [f"Trino version: {version}"]
    if kind != "LOGICAL":
        lines += ["Fragment 0 [SINGLE]", f"    Output layout: [{names}]", "    Output partitioning: SINGLE []"]
    lines += [f"    Output[columnNames = [{names}]]", f"    │   Layout: [{layout}]",
              "    └─ xtrinode emulator plan (DuckDB):"]
    lines += [f"       {line}" for line in plan.rstrip().splitlines()]
    return "\n".join(lines)


class Engine:
    """Executes statements for one coordinator; DuckDB work runs on the node's own thread pool."""

    def __init__(self, metadata: Metadata, executor: ThreadPoolExecutor, database: Database, version: str) -> None:
        self.metadata = metadata
        self.executor = executor
        self.database = database
        self.version = version
        self.transactions = Transactions()

    async def execute(self, statement: Statement, sql: str, identity: Identity, cancel: threading.Event,
                      on_rows: Callable[[RowSource], None] = lambda _source: None) -> StatementResult:
        """Plan and start one statement (`sql` is its text, for error locations); `on_rows` learns the row
        source at once, so a cancel can interrupt it."""
        self.transactions.check(identity)
        if isinstance(statement, Execute):
            prepared = identity.prepared.get(statement.name)
            if prepared is None:
                raise QueryFailure(StandardError.NOT_FOUND, f"Prepared statement not found: {statement.name}")
            statement = prepared_statement(prepared, statement.parameters)
        if isinstance(statement, (Query, Explain, DescribeOutput)):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self._in_thread, statement, identity, cancel, on_rows)
        return self._simple(statement, identity, lambda offset: location_of(sql, offset))

    # -- queries (worker thread) ---------------------------------------------------------------------------
    def _session(self, identity: Identity) -> SessionContext:
        from .translate import SessionContext  # noqa: PLC0415 - see the import note at the top

        return SessionContext(identity.catalog, identity.schema, identity.user, self.version,
                              identity.time_zone or "UTC")

    def _plan(self, sql: str, parameters: Sequence[str] | None, identity: Identity, cancel: threading.Event
              ) -> tuple[DuckRows, list[tuple[str, str]], Translation]:
        from .translate import (  # noqa: PLC0415 - see the import note at the top
            duckdb_failure,
            expression_arguments,
            parse_query,
            substitute_parameters,
            translate,
        )

        tree = parse_query(sql)
        if parameters is not None:
            tree = substitute_parameters(tree, expression_arguments(parameters, sql))
        translation = translate(sql, self._session(identity), self.metadata, self.database.tpch_catalog, tree)
        cursor = self.database.cursor()
        try:
            for name, table in translation.system_tables.items():
                materialize(cursor, name, table)
            relation = cursor.sql(translation.duck_sql)
            columns = output_columns(translation.columns, relation.columns, relation.types)
        except Exception as e:
            cursor.close()
            if isinstance(e, QueryFailure):
                raise
            raise duckdb_failure(e, sql, tree) from e
        return DuckRows(cursor, relation, columns, translation.sleep_seconds, cancel, sql, tree), columns, translation

    def _in_thread(self, statement: Query | Explain | DescribeOutput, identity: Identity, cancel: threading.Event,
                   on_rows: Callable[[RowSource], None]) -> StatementResult:
        if isinstance(statement, Query):
            rows, columns, _ = self._plan(statement.sql, statement.parameters, identity, cancel)
            on_rows(rows)
            return StatementResult(columns=columns, rows=rows)
        if isinstance(statement, DescribeOutput):
            return self._describe_output(statement, identity, cancel)
        return self._explain(statement, identity, cancel)

    def _explain(self, statement: Explain, identity: Identity, cancel: threading.Event) -> StatementResult:
        inner = parse_statement(statement.statement)
        plan, columns = "", [("result", "boolean")]
        if isinstance(inner, Query):
            rows, columns, translation = self._plan(inner.sql, inner.parameters, identity, cancel)
            try:
                explained = rows._cursor.execute("EXPLAIN " + translation.duck_sql).fetchall()
                plan = "\n".join(str(row[1]) for row in explained)
            finally:
                rows.close()
        if statement.kind == "VALIDATE":
            return StatementResult(columns=[("Valid", "boolean")], rows=StaticRows([[True]]))
        if statement.format == "JSON" or statement.kind == "IO":
            import json  # noqa: PLC0415

            text = json.dumps({"id": "0", "name": "Output", "descriptor": {"columnNames": str([c for c, _ in columns])},
                               "outputs": [{"symbol": c, "type": t} for c, t in columns], "details": plan.splitlines(),
                               "children": []}, indent=2)
        else:
            text = _explain_text(self.version, columns, plan or "(statement)", statement.kind)
        return StatementResult(columns=[("Query Plan", f"varchar({len(text)})")], rows=StaticRows([[text]]))

    def _describe_output(self, statement: DescribeOutput, identity: Identity, cancel: threading.Event
                         ) -> StatementResult:
        sql = identity.prepared.get(statement.name)
        if sql is None:
            raise QueryFailure(StandardError.NOT_FOUND, f"Prepared statement not found: {statement.name}")
        inner = parse_statement(sql)
        described: list[list[Any]] = []
        if isinstance(inner, Query):
            placeholders = sql.count("?")
            rows, columns, _ = self._plan(inner.sql, ["NULL"] * placeholders if placeholders else None, identity,
                                          cancel)
            rows.close()
            sizes = {"bigint": 8, "integer": 4, "double": 8, "boolean": 1, "date": 4, "real": 4}
            described = [[name, "", "", "", type_text, sizes.get(type_text, 0), False] for name, type_text in columns]
        names = ["Column Name", "Catalog", "Schema", "Table", "Type"]
        columns_out = _varchar_columns(names, [row[:5] for row in described], sized=True)
        columns_out += [("Type Size", "bigint"), ("Aliased", "boolean")]
        return StatementResult(columns=columns_out, rows=StaticRows(described))

    # -- everything else (event loop; cheap) ---------------------------------------------------------------
    def _catalog_of(self, name: QualifiedName | None, identity: Identity, where: tuple[int, int]) -> str:
        if name is None:
            if identity.catalog is None:
                raise _located(StandardError.MISSING_CATALOG_NAME,
                               "Catalog must be specified when session catalog is not set", where)
            return identity.catalog
        if len(name.parts) != 1:
            raise QueryFailure(StandardError.SYNTAX_ERROR, f"Invalid catalog name: {name}")
        if name.parts[0] not in self.metadata.catalog_names():
            raise _located(StandardError.CATALOG_NOT_FOUND, f"Catalog '{name.parts[0]}' not found", where)
        return name.parts[0]

    def _schema_of(self, name: QualifiedName | None, identity: Identity, where: tuple[int, int]) -> tuple[str, str]:
        if name is None:
            catalog = self._catalog_of(None, identity, where)
            if identity.schema is None:
                raise _located(StandardError.MISSING_SCHEMA_NAME,
                               "Schema must be specified when session schema is not set", where)
            return catalog, identity.schema
        if len(name.parts) == 1:
            return self._catalog_of(None, identity, where), name.parts[0]
        if len(name.parts) == 2:
            catalog = self._catalog_of(QualifiedName(name.parts[:1], name.start), identity, where)
            return catalog, name.parts[1]
        raise QueryFailure(StandardError.SYNTAX_ERROR, f"Too many parts in schema name: {name}")

    def _simple(self, statement: Statement, identity: Identity, where: Callable[[int], tuple[int, int]]
                ) -> StatementResult:
        metadata = self.metadata
        start = (1, 1)
        if isinstance(statement, ShowCatalogs):
            match = like_matcher(statement.like)
            rows = [[name] for name in metadata.catalog_names() if match(name)]
            return StatementResult(columns=_varchar_columns(["Catalog"], rows, sized=True), rows=StaticRows(rows))
        if isinstance(statement, ShowSchemas):
            catalog = self._catalog_of(statement.catalog, identity, start)
            match = like_matcher(statement.like)
            rows = [[name] for name in metadata.schema_names(catalog) if match(name)]
            return StatementResult(columns=[("Schema", "varchar")], rows=StaticRows(rows))
        if isinstance(statement, ShowTables):
            catalog, schema = self._schema_of(statement.schema, identity, start)
            if not metadata.has_schema(catalog, schema):
                raise _located(StandardError.SCHEMA_NOT_FOUND, f"Schema '{schema}' does not exist", start)
            match = like_matcher(statement.like)
            rows = [[name] for name in metadata.table_names(catalog, schema) if match(name)]
            return StatementResult(columns=[("Table", "varchar")], rows=StaticRows(rows))
        if isinstance(statement, ShowColumns):
            return self._show_columns(statement, identity, where(statement.table.start))
        if isinstance(statement, ShowSession):
            match = like_matcher(statement.like, statement.escape)
            rows = [[p.name, identity.properties.get(p.name, p.default), p.default, p.type, p.description]
                    for p in sorted(session_properties().values(), key=lambda p: p.name) if match(p.name)]
            names = ["Name", "Value", "Default", "Type", "Description"]
            return StatementResult(columns=_varchar_columns(names, rows, sized=True), rows=StaticRows(rows))
        if isinstance(statement, ShowFunctions):
            match = like_matcher(statement.like, statement.escape)
            listed: list[list[Any]] = [list(row) for row in functions() if match(row[0])]
            rows = listed
            names = ["Function", "Return Type", "Argument Types", "Function Type"]
            columns = _varchar_columns(names, [row[:4] for row in rows], sized=True)
            columns += [("Deterministic", "boolean"),
                        _varchar_columns(["Description"], [row[5:] for row in rows], sized=True)[0]]
            return StatementResult(columns=columns, rows=StaticRows(rows))
        if isinstance(statement, Use):
            return self._use(statement, identity, where(statement.name.start))
        if isinstance(statement, SetSession):
            check_set_session(statement.name, statement.value, statement.kind, where(statement.name_start),
                              where(statement.value_start))
            return StatementResult(update_type="SET SESSION", set_session={statement.name: statement.value})
        if isinstance(statement, ResetSession):
            check_reset_session(statement.name, where(statement.start))
            return StatementResult(update_type="RESET SESSION", clear_session=[statement.name])
        if isinstance(statement, StartTransaction):
            if identity.transaction_id is None:
                raise QueryFailure(StandardError.INCOMPATIBLE_CLIENT, "Client does not support transactions")
            if identity.transaction_id != "NONE":
                raise QueryFailure(StandardError.NOT_SUPPORTED, "Nested transactions not supported")
            tid = str(uuid.uuid4())
            self.transactions.open[tid] = datetime.datetime.now(datetime.UTC)
            return StatementResult(update_type="START TRANSACTION", started_transaction_id=tid)
        if isinstance(statement, (Commit, Rollback)):
            current = identity.transaction_id
            if current is None or current == "NONE":
                raise QueryFailure(StandardError.NOT_IN_TRANSACTION, "No transaction in progress")
            self.transactions.open.pop(current, None)
            return StatementResult(update_type="COMMIT" if isinstance(statement, Commit) else "ROLLBACK",
                                   clear_transaction_id=True)
        if isinstance(statement, Prepare):
            inner = parse_statement(statement.sql)
            if isinstance(inner, Query):
                from .translate import parse_query  # noqa: PLC0415 - see the import note at the top

                parse_query(inner.sql)
            return StatementResult(update_type="PREPARE", added_prepare={statement.name: statement.sql})
        if isinstance(statement, Deallocate):
            if statement.name not in identity.prepared:
                raise QueryFailure(StandardError.NOT_FOUND, f"Prepared statement not found: {statement.name}")
            return StatementResult(update_type="DEALLOCATE", deallocated_prepare=[statement.name])
        if isinstance(statement, DescribeInput):
            text = identity.prepared.get(statement.name)
            if text is None:
                raise QueryFailure(StandardError.NOT_FOUND, f"Prepared statement not found: {statement.name}")
            inputs = [[position, "unknown"] for position in range(text.count("?"))]
            return StatementResult(columns=[("Position", "integer"), ("Type", "varchar(7)")], rows=StaticRows(inputs))
        raise QueryFailure(StandardError.NOT_SUPPORTED, f"{type(statement).__name__} is not supported")

    def _show_columns(self, statement: ShowColumns, identity: Identity, where: tuple[int, int]) -> StatementResult:
        parts = statement.table.parts
        if len(parts) > 3:
            raise QueryFailure(StandardError.SYNTAX_ERROR, f"Too many dots in table name: {statement.table}")
        prefix = self._schema_of(QualifiedName(parts[:-1], statement.table.start) if len(parts) > 1 else None,
                                 identity, where)
        table = self.metadata.table(prefix[0], prefix[1], parts[-1])
        if table is None:
            if not self.metadata.has_schema(*prefix):
                raise _located(StandardError.SCHEMA_NOT_FOUND, f"Schema '{prefix[1]}' does not exist", where)
            raise _located(StandardError.TABLE_NOT_FOUND,
                           f"Table '{prefix[0]}.{prefix[1]}.{parts[-1]}' does not exist", where)
        match = like_matcher(statement.like)
        columns = [("Column", "varchar"), ("Type", "varchar"), ("Extra", "varchar"), ("Comment", "varchar")]
        return StatementResult(columns=columns, rows=StaticRows([[name, t, "", ""] for name, t in table.columns
                                                                 if match(name)]))

    def _use(self, statement: Use, identity: Identity, where: tuple[int, int]) -> StatementResult:
        if len(statement.name.parts) == 2:
            catalog, schema = statement.name.parts
            if catalog not in self.metadata.catalog_names():
                raise _located(StandardError.CATALOG_NOT_FOUND, f"Catalog '{catalog}' not found", where)
        else:
            if identity.catalog is None:
                raise _located(StandardError.MISSING_CATALOG_NAME,
                               "Catalog must be specified when session catalog is not set", (1, 1))
            catalog, schema = identity.catalog, statement.name.parts[0]
        if not self.metadata.has_schema(catalog, schema):
            raise QueryFailure(StandardError.NOT_FOUND, f"Schema does not exist: {catalog}.{schema}")
        return StatementResult(update_type="USE", set_catalog=catalog, set_schema=schema)


def _located(code: Any, message: str, where: tuple[int, int]) -> QueryFailure:
    return QueryFailure(code, f"line {where[0]}:{where[1]}: {message}", where)
