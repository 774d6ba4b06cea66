"""Trino SQL -> DuckDB SQL with sqlglot: names resolved as Trino resolves them, Trino's result names and types.

`translate` parses one query in the Trino dialect, resolves every table against the session
catalog/schema (Trino's *_NOT_FOUND / MISSING_* errors with their `line:column`), points it at the
DuckDB table holding its rows, rewrites what DuckDB would answer differently (division by zero,
`DECIMAL '1.50'`, `current_user`, `version()`, the emulator's `sleep`), and names the result columns
(naming.py). Errors in Trino's words: sqlerrors.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from xtrinode.trino_protocol import StandardError

from .errors import QueryFailure
from .metadata import Metadata, Table
from .naming import Namer, OutputColumn, decimal_literal_type
from .sqlerrors import STATEMENT_WORDS, duckdb_failure, located, offset_of, syntax_failure

__all__ = ["OutputColumn", "SessionContext", "Translation", "duckdb_failure", "expression_arguments",
           "parse_query", "substitute_parameters", "translate"]


@dataclass(frozen=True, slots=True)
class SessionContext:
    catalog: str | None
    schema: str | None
    user: str
    version: str
    time_zone: str = "UTC"


@dataclass(slots=True)
class Translation:
    duck_sql: str
    columns: list[OutputColumn] | None
    """One entry per result column, or None when a star could not be expanded (DuckDB names them)."""
    system_tables: dict[str, Table] = field(default_factory=dict)
    """DuckDB temporary table name -> the system table whose rows it needs, filled per query."""
    sleep_seconds: float = 0.0

def parse_query(sql: str) -> exp.Expression:
    """The Trino text of one query as a sqlglot tree; SYNTAX_ERROR (with location) when it does not parse."""
    try:
        parsed = sqlglot.parse(sql, read="trino")
    except (ParseError, TokenError) as e:
        raise syntax_failure(sql, e) from e
    statements = [statement for statement in parsed if statement is not None]
    if len(statements) != 1:
        second = sql.find(";")
        raise located(StandardError.SYNTAX_ERROR, "mismatched input ';'. Expecting: <EOF>", sql,
                       second if second >= 0 else 0)
    statement = statements[0]
    if not isinstance(statement, (exp.Query, exp.Values, exp.Subquery)):
        raise located(StandardError.SYNTAX_ERROR, f"mismatched input '{sql.split()[0]}'. Expecting: "
                       f"{STATEMENT_WORDS}", sql, 0)
    return cast(exp.Expression, statement)

# -- the rewrite ------------------------------------------------------------------------------------------
def _identifier(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def _sleep_seconds(node: exp.Anonymous, sql: str) -> float:
    args = node.expressions
    value = args[0] if len(args) == 1 else None
    negative = isinstance(value, exp.Neg)
    if negative and value is not None:
        value = value.this
    if not isinstance(value, exp.Literal) or value.is_string:
        raise located(StandardError.NOT_SUPPORTED, "the emulator's sleep(seconds) takes one constant number",
                       sql, offset_of(node))
    seconds = float(value.this)
    if negative or seconds < 0:
        raise QueryFailure(StandardError.INVALID_FUNCTION_ARGUMENT, "sleep seconds must not be negative")
    return seconds


class _Translator:
    def __init__(self, sql: str, session: SessionContext, metadata: Metadata,
                 tpch_catalog: Callable[[str], str]) -> None:
        self.sql = sql
        self.session = session
        self.metadata = metadata
        self.tpch_catalog = tpch_catalog
        self.system_tables: dict[str, Table] = {}
        self.sleep_seconds = 0.0

    def resolve(self, node: exp.Table, fail: bool = False) -> Table | None:
        """The table a reference names, with the session's catalog and schema filled in."""
        parts = [part.name.lower() for part in node.parts]
        offset = offset_of(node)
        if len(parts) > 3:
            raise located(StandardError.SYNTAX_ERROR, f"Too many dots in table name: {'.'.join(parts)}", self.sql,
                           offset)
        if len(parts) == 1:
            if self.session.catalog is None or self.session.schema is None:
                if not fail:
                    return None
                raise located(StandardError.MISSING_SCHEMA_NAME,
                               "Schema must be specified when session schema is not set", self.sql, offset)
            parts = [self.session.catalog, self.session.schema, *parts]
        elif len(parts) == 2:
            if self.session.catalog is None:
                if not fail:
                    return None
                raise located(StandardError.MISSING_CATALOG_NAME,
                               "Catalog must be specified when session catalog is not set", self.sql, offset)
            parts = [self.session.catalog, *parts]
        catalog, schema, name = parts
        table = self.metadata.table(catalog, schema, name)
        if table is not None or not fail:
            return table
        if catalog not in self.metadata.catalog_names():
            raise located(StandardError.CATALOG_NOT_FOUND, f"Catalog '{catalog}' not found", self.sql, offset)
        if not self.metadata.has_schema(catalog, schema):
            raise located(StandardError.SCHEMA_NOT_FOUND, f"Schema '{schema}' does not exist", self.sql, offset)
        raise located(StandardError.TABLE_NOT_FOUND, f"Table '{catalog}.{schema}.{name}' does not exist", self.sql,
                       offset)

    def _duck_table(self, node: exp.Table, table: Table) -> None:
        if table.kind == "tpch":
            from . import tpch  # noqa: PLC0415 - the schema list, without a cycle at import time

            schema = table.schema
            if table.name in tpch.SCALE_INDEPENDENT:
                schema = "tiny"  # the same rows at every scale: no need to generate a big one for them
            elif schema not in tpch.GENERATED_SCALES:
                raise located(
                    StandardError.NOT_SUPPORTED,
                    f"The xtrinode Trino emulator generates tpch data for schemas tiny and sf1 only; "
                    f"use tpch.tiny.{table.name} or tpch.sf1.{table.name} instead of {table.qualified}",
                    self.sql, offset_of(node))
            catalog, db = self.tpch_catalog(schema), "main"
            name = table.name
        else:
            name = f"xt_{table.catalog}_{table.schema}_{table.name}"
            self.system_tables[name] = table
            catalog, db = "temp", "main"
        alias = node.args.get("alias")
        node.set("catalog", _identifier(catalog))
        node.set("db", _identifier(db))
        node.set("this", _identifier(name))
        if alias is None:
            node.set("alias", exp.TableAlias(this=_identifier(table.name)))

    def rewrite(self, tree: exp.Expression) -> exp.Expression:
        cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for node in list(tree.find_all(exp.Table)):
            if not isinstance(node.this, (exp.Identifier, exp.Dot)):
                continue  # a table function (UNNEST, ...)
            if not node.db and not node.catalog and node.name.lower() in cte_names:
                continue
            table = self.resolve(node, fail=True)
            assert table is not None
            self._duck_table(node, table)
        return tree.transform(self._node)

    def _node(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.Div, exp.Mod, exp.IntDiv)):
            divisor = node.expression
            node.set("expression", exp.Anonymous(this="xt_nonzero", expressions=[divisor]))
            return node
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string \
                and node.to.this == exp.DataType.Type.DECIMAL and not node.to.expressions:
            type_text = decimal_literal_type(node.this.this)
            if type_text is None:
                raise located(StandardError.INVALID_LITERAL, f"'{node.this.this}' is not a valid decimal literal",
                               self.sql, offset_of(node))
            precision, scale = type_text[len("decimal("):-1].split(", ")
            node.set("to", exp.DataType.build(f"DECIMAL({precision}, {scale})"))
            return node
        if isinstance(node, exp.CurrentUser):
            return exp.Literal.string(self.session.user)
        if isinstance(node, exp.CurrentCatalog):
            return exp.Literal.string(self.session.catalog) if self.session.catalog else exp.Null()
        if isinstance(node, exp.Column) and not node.table and node.name.lower() == "current_schema" \
                and not node.this.args.get("quoted"):
            return exp.Literal.string(self.session.schema) if self.session.schema else exp.Null()
        if isinstance(node, exp.CurrentVersion):
            return exp.Literal.string(self.session.version)
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name == "sleep":
                self.sleep_seconds += _sleep_seconds(node, self.sql)
                return exp.true()
            if name == "current_timezone":
                return exp.Literal.string(self.session.time_zone)
        return node


def substitute_parameters(tree: exp.Expression, parameters: Sequence[exp.Expression]) -> exp.Expression:
    """`?` placeholders in text order replaced by the given expressions (EXECUTE ... USING)."""
    placeholders = [node for node in tree.find_all(exp.Placeholder, bfs=False)]
    if len(placeholders) != len(parameters):
        raise QueryFailure(
            StandardError.INVALID_PARAMETER_USAGE,
            f"Incorrect number of parameters: expected {len(placeholders)} but found {len(parameters)}",
        )
    for placeholder, value in zip(placeholders, parameters, strict=True):
        placeholder.replace(value.copy())
    return tree


def translate(
    sql: str,
    session: SessionContext,
    metadata: Metadata,
    tpch_catalog: Callable[[str], str],
    tree: exp.Expression | None = None,
) -> Translation:
    """Parse (unless given the tree), resolve and rewrite one query for DuckDB."""
    tree = parse_query(sql) if tree is None else tree
    translator = _Translator(sql, session, metadata, tpch_catalog)
    columns = Namer(lambda node: translator.resolve(node)).columns(tree)
    rewritten = translator.rewrite(tree.copy())
    duck_sql = rewritten.sql(dialect="duckdb")
    return Translation(duck_sql, columns, translator.system_tables, translator.sleep_seconds)

def expression_arguments(texts: Sequence[str], sql: str) -> list[exp.Expression]:
    """`EXECUTE ... USING a, b` arguments as expressions (each must parse on its own)."""
    out: list[exp.Expression] = []
    for text in texts:
        try:
            parsed = cast(exp.Expression, sqlglot.parse_one(text, read="trino"))
        except (ParseError, TokenError) as e:
            raise syntax_failure(sql, e) from e
        out.append(parsed)
    return out
