"""Trino SQL -> DuckDB SQL with sqlglot: names resolved as Trino resolves them, Trino's result names and types.

`translate` parses one query in the Trino dialect, resolves every table against the session
catalog/schema (Trino's *_NOT_FOUND / MISSING_* errors with their `line:column`), points it at the
DuckDB table holding its rows, rewrites what DuckDB would answer differently (division by zero,
`DECIMAL '1.50'`, `current_user`, `version()`, the emulator's `sleep`), and works out each output
column's Trino name and, where the text tells it (table columns, literals, casts), its Trino type.
`duckdb_failure` turns a DuckDB error into the Trino error a user would see.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from xtrinode.trino_protocol import ErrorCode, StandardError

from .errors import QueryFailure
from .metadata import Metadata, Table
from .types import normalize_type

__all__ = ["OutputColumn", "SessionContext", "Translation", "duckdb_failure", "location_of", "parse_query",
           "syntax_failure", "translate"]


@dataclass(frozen=True, slots=True)
class SessionContext:
    catalog: str | None
    schema: str | None
    user: str
    version: str
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class OutputColumn:
    """A result column as the query text determines it: its Trino name, and its type when known."""

    name: str | None
    type_hint: str | None = None


@dataclass(slots=True)
class Translation:
    duck_sql: str
    columns: list[OutputColumn] | None
    """One entry per result column, or None when a star could not be expanded (DuckDB names them)."""
    system_tables: dict[str, Table] = field(default_factory=dict)
    """DuckDB temporary table name -> the system table whose rows it needs, filled per query."""
    sleep_seconds: float = 0.0


_STATEMENT_WORDS: Final = (
    "'ALTER', 'ANALYZE', 'CALL', 'COMMENT', 'COMMIT', 'CREATE', 'DEALLOCATE', 'DELETE', 'DENY', 'DESC', "
    "'DESCRIBE', 'DROP', 'EXECUTE', 'EXPLAIN', 'GRANT', 'INSERT', 'MERGE', 'PREPARE', 'REFRESH', 'RESET', "
    "'REVOKE', 'ROLLBACK', 'SET', 'SHOW', 'START', 'TRUNCATE', 'UPDATE', 'USE', 'WITH', <query>"
)


def location_of(sql: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = sql.count("\n", 0, offset) + 1
    column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _failure(code: ErrorCode, message: str, sql: str, offset: int | None) -> QueryFailure:
    if offset is None:
        return QueryFailure(code, message)
    line, column = location_of(sql, offset)
    return QueryFailure(code, f"line {line}:{column}: {message}", (line, column))


def _offset(node: exp.Expression | None) -> int | None:
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
                        f"Expecting: {_STATEMENT_WORDS}", (line, column))


def parse_query(sql: str) -> exp.Expression:
    """The Trino text of one query as a sqlglot tree; SYNTAX_ERROR (with location) when it does not parse."""
    try:
        parsed = sqlglot.parse(sql, read="trino")
    except (ParseError, TokenError) as e:
        raise syntax_failure(sql, e) from e
    statements = [statement for statement in parsed if statement is not None]
    if len(statements) != 1:
        second = sql.find(";")
        raise _failure(StandardError.SYNTAX_ERROR, "mismatched input ';'. Expecting: <EOF>", sql,
                       second if second >= 0 else 0)
    statement = statements[0]
    if not isinstance(statement, (exp.Query, exp.Values, exp.Subquery)):
        raise _failure(StandardError.SYNTAX_ERROR, f"mismatched input '{sql.split()[0]}'. Expecting: "
                       f"{_STATEMENT_WORDS}", sql, 0)
    return cast(exp.Expression, statement)


# -- output names and types -----------------------------------------------------------------------
_SAME_TYPE_FUNCTIONS: Final = (exp.Upper, exp.Lower, exp.Trim, exp.Substring, exp.Min, exp.Max, exp.AnyValue,
                               exp.Paren, exp.Alias)
_TRINO_VARCHAR: Final = re.compile(r"^varchar\((\d+)\)$")


def _literal_type(node: exp.Literal) -> str | None:
    if node.is_string:
        return f"varchar({len(node.this)})"
    text = node.this
    if re.fullmatch(r"\d+", text):
        return "integer" if int(text) <= 2147483647 else "bigint"
    if re.fullmatch(r"\d*\.\d*", text):
        digits = text.replace(".", "").lstrip("0") or "0"
        scale = len(text.split(".")[1])
        return f"decimal({max(len(digits), scale, 1)}, {scale})"
    return "double" if re.fullmatch(r"[\d.]+[eE][-+]?\d+", text) else None


def _decimal_literal_type(text: str) -> str | None:
    match = re.fullmatch(r"\s*[-+]?(\d*)(?:\.(\d*))?\s*", text)
    if match is None:
        return None
    whole, fraction = match.group(1).lstrip("0"), match.group(2) or ""
    return f"decimal({max(len(whole) + len(fraction), 1)}, {len(fraction)})"


def _common_varchar(types: Sequence[str | None]) -> str | None:
    lengths = []
    for type_text in types:
        if type_text is None:
            continue
        match = _TRINO_VARCHAR.match(type_text)
        if match is None:
            return None if type_text != "unknown" else None
        lengths.append(int(match.group(1)))
    return f"varchar({max(lengths)})" if lengths else None


class _Scope:
    """The relations one SELECT reads from: alias -> (column name -> Trino type)."""

    def __init__(self, relations: dict[str, list[tuple[str, str | None]]], complete: bool) -> None:
        self.relations = relations
        self.complete = complete

    def column_type(self, column: exp.Column) -> str | None:
        name = column.name.lower()
        qualifier = column.table.lower() if column.table else None
        found: set[str | None] = set()
        for alias, columns in self.relations.items():
            if qualifier is not None and alias != qualifier:
                continue
            found.update(type_text for column_name, type_text in columns if column_name == name)
        return found.pop() if len(found) == 1 else None


class _Namer:
    """Trino's result names and type hints for a query tree (before it is rewritten)."""

    def __init__(self, resolve: Callable[[exp.Table], Table | None], session: SessionContext) -> None:
        self._resolve = resolve
        self._session = session
        self._ctes: dict[str, list[tuple[str, str | None]]] = {}

    def columns(self, query: exp.Expression) -> list[OutputColumn] | None:
        for cte in query.find_all(exp.CTE):
            body = cte.this
            described = self.columns(body) if isinstance(body, exp.Expression) else None
            if described is not None:
                self._ctes[cte.alias_or_name.lower()] = [((c.name or "").lower(), c.type_hint) for c in described]
        if isinstance(query, exp.Subquery):
            return self.columns(query.this)
        if isinstance(query, exp.SetOperation):
            return self.columns(cast(exp.Expression, query.left))
        if isinstance(query, exp.Values):
            width = len(query.expressions[0].expressions) if query.expressions and isinstance(
                query.expressions[0], exp.Tuple) else 1
            return [OutputColumn(f"_col{i}") for i in range(width)]
        if not isinstance(query, exp.Select):
            return None
        scope = self._scope(query)
        out: list[OutputColumn] = []
        for index, item in enumerate(query.expressions):
            if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
                qualifier = item.table.lower() if isinstance(item, exp.Column) and item.table else None
                expanded = [(alias, cols) for alias, cols in scope.relations.items()
                            if qualifier is None or alias == qualifier]
                if not scope.complete and qualifier is None or not expanded:
                    return None
                out += [OutputColumn(name, type_text) for _, cols in expanded for name, type_text in cols]
                continue
            out.append(OutputColumn(self._name(item, len(out)), self._hint(item, scope)))
        return out

    @staticmethod
    def _name(item: exp.Expression, position: int) -> str:
        if isinstance(item, exp.Alias):
            return item.alias
        if isinstance(item, exp.Column) and isinstance(item.this, exp.Identifier):
            return str(item.this.this)
        return f"_col{position}"

    def _scope(self, select: exp.Select) -> _Scope:
        relations: dict[str, list[tuple[str, str | None]]] = {}
        complete = True
        sources = []
        source_from = select.args.get("from_") or select.args.get("from")  # the key is `from_` since sqlglot 27
        if source_from is not None:
            sources.append(source_from.this)
        sources += [join.this for join in select.args.get("joins") or []]
        for source in sources:
            alias = source.alias_or_name.lower() if hasattr(source, "alias_or_name") else ""
            if isinstance(source, exp.Table) and not source.db and source.name.lower() in self._ctes:
                relations[alias] = self._ctes[source.name.lower()]
            elif isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                table = self._resolve(source)
                if table is None:
                    complete = False
                    continue
                relations[alias or table.name] = list(table.columns)
            elif isinstance(source, exp.Subquery):
                described = self.columns(source.this)
                if described is None:
                    complete = False
                    continue
                relations[alias] = [((c.name or "").lower(), c.type_hint) for c in described]
            else:
                complete = False
        return _Scope(relations, complete)

    def _hint(self, node: exp.Expression, scope: _Scope) -> str | None:
        if isinstance(node, _SAME_TYPE_FUNCTIONS):
            return self._hint(node.this, scope) if isinstance(node.this, exp.Expression) else None
        if isinstance(node, exp.Column):
            return scope.column_type(node)
        if isinstance(node, exp.Literal):
            return _literal_type(node)
        if isinstance(node, exp.Boolean):
            return "boolean"
        if isinstance(node, exp.Null):
            return "unknown"
        if isinstance(node, (exp.CurrentUser, exp.CurrentCatalog, exp.CurrentVersion)):
            return "varchar"
        if isinstance(node, exp.Cast):
            if (isinstance(node.this, exp.Literal) and node.this.is_string and node.to.this == exp.DataType.Type.DECIMAL
                    and not node.to.expressions):
                return _decimal_literal_type(node.this.this)
            return normalize_type(node.to.sql(dialect="trino"))
        if isinstance(node, exp.Coalesce):
            return _common_varchar([self._hint(node.this, scope), *(self._hint(e, scope) for e in node.expressions)])
        if isinstance(node, exp.Case):
            branches = [self._hint(branch.args["true"], scope) for branch in node.args.get("ifs") or []]
            if node.args.get("default") is not None:
                branches.append(self._hint(node.args["default"], scope))
            return _common_varchar(branches)
        if isinstance(node, exp.Anonymous) and node.name.lower() == "sleep":
            return "boolean"
        if isinstance(node, exp.Array):
            element = self._common([self._hint(e, scope) for e in node.expressions])
            return f"array({element})" if element else None
        if isinstance(node, exp.Map):
            keys, values = (self._hint(part, scope) if part is not None else None
                            for part in (node.args.get("keys"), node.args.get("values")))
            if keys and values and keys.startswith("array(") and values.startswith("array("):
                return f"map({keys[len('array('):-1]}, {values[len('array('):-1]})"
            return None
        if isinstance(node, exp.Struct) and not any(isinstance(e, (exp.PropertyEQ, exp.Alias)) for e in node.expressions):
            fields = [self._hint(e, scope) for e in node.expressions]
            return f"row({', '.join(f for f in fields if f)})" if fields and all(fields) else None
        return None

    @staticmethod
    def _common(types: list[str | None]) -> str | None:
        """The type of ARRAY[...] elements: all the same, or the longest of varchar(n)s."""
        if not types or any(t is None for t in types):
            return None
        if len(set(types)) == 1:
            return types[0]
        return _common_varchar(types)


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
        raise _failure(StandardError.NOT_SUPPORTED, "the emulator's sleep(seconds) takes one constant number",
                       sql, _offset(node))
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
        offset = _offset(node)
        if len(parts) > 3:
            raise _failure(StandardError.SYNTAX_ERROR, f"Too many dots in table name: {'.'.join(parts)}", self.sql,
                           offset)
        if len(parts) == 1:
            if self.session.catalog is None or self.session.schema is None:
                if not fail:
                    return None
                raise _failure(StandardError.MISSING_SCHEMA_NAME,
                               "Schema must be specified when session schema is not set", self.sql, offset)
            parts = [self.session.catalog, self.session.schema, *parts]
        elif len(parts) == 2:
            if self.session.catalog is None:
                if not fail:
                    return None
                raise _failure(StandardError.MISSING_CATALOG_NAME,
                               "Catalog must be specified when session catalog is not set", self.sql, offset)
            parts = [self.session.catalog, *parts]
        catalog, schema, name = parts
        table = self.metadata.table(catalog, schema, name)
        if table is not None or not fail:
            return table
        if catalog not in self.metadata.catalog_names():
            raise _failure(StandardError.CATALOG_NOT_FOUND, f"Catalog '{catalog}' not found", self.sql, offset)
        if not self.metadata.has_schema(catalog, schema):
            raise _failure(StandardError.SCHEMA_NOT_FOUND, f"Schema '{schema}' does not exist", self.sql, offset)
        raise _failure(StandardError.TABLE_NOT_FOUND, f"Table '{catalog}.{schema}.{name}' does not exist", self.sql,
                       offset)

    def _duck_table(self, node: exp.Table, table: Table) -> None:
        if table.kind == "tpch":
            from . import tpch  # noqa: PLC0415 - the schema list, without a cycle at import time

            schema = table.schema
            if table.name in tpch.SCALE_INDEPENDENT:
                schema = "tiny"  # the same rows at every scale: no need to generate a big one for them
            elif schema not in tpch.GENERATED_SCALES:
                raise _failure(
                    StandardError.NOT_SUPPORTED,
                    f"The xtrinode Trino emulator generates tpch data for schemas tiny and sf1 only; "
                    f"use tpch.tiny.{table.name} or tpch.sf1.{table.name} instead of {table.qualified}",
                    self.sql, _offset(node))
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
            type_text = _decimal_literal_type(node.this.this)
            if type_text is None:
                raise _failure(StandardError.INVALID_LITERAL, f"'{node.this.this}' is not a valid decimal literal",
                               self.sql, _offset(node))
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
    columns = _Namer(lambda node: translator.resolve(node), session).columns(tree)
    rewritten = translator.rewrite(tree.copy())
    duck_sql = rewritten.sql(dialect="duckdb")
    return Translation(duck_sql, columns, translator.system_tables, translator.sleep_seconds)


# -- DuckDB errors in Trino's words ------------------------------------------------------------------------
def _first(tree: exp.Expression | None, kind: type[exp.Expression], name: str) -> exp.Expression | None:
    if tree is None:
        return None
    for node in tree.find_all(kind):
        node_name = node.name if not isinstance(node, exp.Column) else node.name
        if node_name.lower() == name.lower():
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
        return _failure(StandardError.COLUMN_NOT_FOUND, f"Column '{name}' cannot be resolved", sql,
                        _offset(_first(tree, exp.Column, name)))
    if match := re.search(r'Referenced table "([^"]+)" not found', text):
        return _failure(StandardError.COLUMN_NOT_FOUND, f"Column '{match.group(1)}' cannot be resolved", sql, None)
    if match := re.search(r"(?:Scalar|Aggregate|Table) Function with name (\S+) does not exist", text):
        name = match.group(1).strip('"')
        return _failure(StandardError.FUNCTION_NOT_FOUND, f"Function '{name}' not registered", sql,
                        _offset(_function_node(tree, name)))
    if match := re.search(r"No function matches the given name and argument types '([^(]+)\(([^)]*)\)'", text):
        name, arguments = match.group(1), match.group(2)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            return QueryFailure(StandardError.TYPE_MISMATCH, f"Cannot apply operator: {arguments.lower()}")
        return _failure(StandardError.FUNCTION_NOT_FOUND,
                        f"Unexpected parameters ({arguments.lower()}) for function {name}", sql,
                        _offset(_function_node(tree, name)))
    if match := re.search(r'column "([^"]+)" must appear in the GROUP BY clause', text):
        name = match.group(1)
        return _failure(StandardError.EXPRESSION_NOT_AGGREGATE,
                        f"'{name}' must be an aggregate expression or appear in GROUP BY clause", sql,
                        _offset(_first(tree, exp.Column, name)))
    if match := re.search(r'Ambiguous reference to column name "([^"]+)"', text):
        name = match.group(1)
        return _failure(StandardError.AMBIGUOUS_NAME, f"Column '{name}' is ambiguous", sql,
                        _offset(_first(tree, exp.Column, name)))
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


def describe_value(value: Any) -> str:
    """A Python value as the SQL literal that means it (for parameters given as values)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
