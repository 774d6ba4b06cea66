"""SELECT planning: resolve Trino table names, rewrite the text for SQLite, hint column names and types.

Tables become quoted `"catalog.schema.table"` SQLite tables (loaded per query by sqlite_backend);
typed literals, `CAST(... AS date)` and `UNNEST(sequence(a, b)) AS t(x)` are rewritten; names and
Trino types come from the select list (aliases, casts, literals, known columns) where it tells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from xtrinode.trino_protocol import StandardError

from .errors import QueryFailure
from .metadata import Metadata, Table
from .sql import Select, Token, location_of
from .types import normalize_type

__all__ = ["SelectItem", "SelectPlan", "SessionContext", "plan_select", "quote"]

MAX_SEQUENCE: Final = 10000
_CLAUSE_END: Final = frozenset(
    {"WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "UNION", "EXCEPT", "INTERSECT", "OFFSET", "FETCH", "WINDOW"}
)
_NOT_ALIAS: Final = _CLAUSE_END | frozenset(
    {"JOIN", "LEFT", "RIGHT", "INNER", "OUTER", "CROSS", "FULL", "NATURAL", "ON", "USING", "TABLESAMPLE", "FROM"}
)
_SELECT_END: Final = _CLAUSE_END | {"FROM"}
_EXPR_KEYWORDS: Final = frozenset(
    {"NULL", "TRUE", "FALSE", "END", "AND", "OR", "NOT", "IS", "IN", "LIKE", "BETWEEN", "THEN", "ELSE", "WHEN",
     "CASE", "DISTINCT", "ASC", "DESC", "ESCAPE", "DATE", "AS"}
)
_BOOLEAN_OPS: Final = frozenset({"=", "<>", "!=", "<", ">", "<=", ">="})
_BOOLEAN_WORDS: Final = frozenset({"AND", "OR", "NOT", "IS", "IN", "LIKE", "BETWEEN", "EXISTS"})
_VARCHAR_FUNCTIONS: Final = frozenset(
    {"upper", "lower", "concat", "substr", "substring", "trim", "ltrim", "rtrim", "replace", "reverse", "lpad",
     "rpad", "format", "version", "typeof", "current_user"}
)
_INTEGER_TYPES: Final = frozenset({"tinyint", "smallint", "integer", "bigint"})
_TYPED_LITERALS: Final[dict[str, str | None]] = {
    "DATE": None, "TIMESTAMP": None, "TIME": None, "VARCHAR": None, "CHAR": None, "JSON": None,
    "DOUBLE": "REAL", "REAL": "REAL", "DECIMAL": "NUMERIC", "BIGINT": "INTEGER", "INTEGER": "INTEGER",
    "SMALLINT": "INTEGER", "TINYINT": "INTEGER",
}


@dataclass(frozen=True, slots=True)
class SessionContext:
    catalog: str | None
    schema: str | None
    user: str
    version: str


@dataclass(slots=True)
class SelectItem:
    name: str | None
    type: str | None
    literal_arithmetic: bool = False


@dataclass(slots=True)
class SelectPlan:
    sql: str
    sqlite_sql: str
    tables: list[tuple[Table, list[Sequence[Any]]]] = field(default_factory=list)
    scopes: dict[str, dict[str, str]] = field(default_factory=dict)
    items: list[SelectItem] | None = None


def _matching_paren(tokens: Sequence[Token], open_index: int) -> int:
    depth = 0
    for index in range(open_index, len(tokens)):
        if tokens[index].text == "(" and tokens[index].kind == "op":
            depth += 1
        elif tokens[index].text == ")" and tokens[index].kind == "op":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _split_depth0(tokens: Sequence[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == "op" and token.text in "([":
            depth += 1
        elif token.kind == "op" and token.text in ")]":
            depth -= 1
        if depth == 0 and token.kind == "op" and token.text == ",":
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


class _Planner:
    def __init__(self, statement: Select, session: SessionContext, metadata: Metadata) -> None:
        self.sql = statement.sql
        self.tokens = statement.tokens
        self.session = session
        self.metadata = metadata
        self.replacements: list[tuple[int, int, str]] = []
        self.plan = SelectPlan(statement.sql, statement.sql)
        self.ctes = {
            self.tokens[i].identifier()
            for i in range(len(self.tokens) - 2)
            if self.tokens[i].kind in ("ident", "qident") and self.tokens[i + 1].upper == "AS"
            and self.tokens[i + 2].text == "("
        }

    def failure(self, code: Any, token_start: int, message: str) -> QueryFailure:
        line, column = location_of(self.sql, token_start)
        return QueryFailure(code, f"line {line}:{column}: {message}", (line, column))

    def build(self) -> SelectPlan:
        tokens = self.tokens
        depth = 0
        in_from: dict[int, bool] = {}
        index = 0
        openers: list[str] = []
        while index < len(tokens):
            token = tokens[index]
            if token.kind == "op" and token.text == "(":
                depth += 1
                openers.append(tokens[index - 1].upper if index else "")
            elif token.kind == "op" and token.text == ")":
                in_from[depth] = False
                depth -= 1
                if openers:
                    openers.pop()
            elif (token.upper == "AS" and index + 1 < len(tokens) and tokens[index + 1].kind == "ident"
                  and not (openers and openers[-1] in ("CAST", "TRY_CAST"))):
                alias = tokens[index + 1]
                self.replacements.append((alias.start, alias.end, quote(alias.identifier())))
            elif token.upper == "FROM":
                in_from[depth] = True
            elif token.upper in _CLAUSE_END:
                in_from[depth] = False
            elif token.upper in _TYPED_LITERALS and index + 1 < len(tokens) and tokens[index + 1].kind == "string":
                literal = tokens[index + 1]
                affinity = _TYPED_LITERALS[token.upper]
                text = literal.text if affinity is None else f"CAST({literal.text} AS {affinity})"
                self.replacements.append((token.start, literal.end, text))
                index += 2
                continue
            elif token.upper == "AS" and index + 2 < len(tokens) and tokens[index + 1].upper == "DATE" \
                    and tokens[index + 2].text == ")":
                self.replacements.append((tokens[index + 1].start, tokens[index + 1].end, "TEXT"))
            previous = tokens[index - 1] if index else None
            at_table = previous is not None and (
                previous.upper in ("FROM", "JOIN") or (previous.text == "," and in_from.get(depth, False))
            )
            if at_table and token.kind in ("ident", "qident"):
                index = self._table_reference(index)
                continue
            index += 1
        self.plan.items = self._select_items()
        self.plan.sqlite_sql = self._apply_replacements()
        return self.plan

    def _apply_replacements(self) -> str:
        out, last = [], 0
        for start, end, text in sorted(self.replacements):
            out.append(self.sql[last:start])
            out.append(text)
            last = end
        out.append(self.sql[last:])
        return "".join(out).strip().rstrip(";")

    def _table_reference(self, index: int) -> int:
        tokens = self.tokens
        start = index
        if tokens[index].upper == "UNNEST" and index + 1 < len(tokens) and tokens[index + 1].text == "(":
            return self._unnest(index)
        parts = [tokens[index]]
        index += 1
        while index + 1 < len(tokens) and tokens[index].text == "." and tokens[index + 1].kind in ("ident", "qident"):
            parts.append(tokens[index + 1])
            index += 2
        if index < len(tokens) and tokens[index].text == "(":
            raise self.failure(StandardError.NOT_SUPPORTED, tokens[start].start,
                               f"table function {tokens[start].text!r} is not supported by the emulator")
        names = [part.identifier() for part in parts]
        alias = None
        if index < len(tokens) and tokens[index].upper == "AS" and index + 1 < len(tokens):
            alias = tokens[index + 1].identifier()
        elif index < len(tokens) and tokens[index].kind in ("ident", "qident") \
                and tokens[index].upper not in _NOT_ALIAS:
            alias = tokens[index].identifier()
        if len(names) == 1 and names[0] in self.ctes:
            return index
        table = self._resolve(names, tokens[start].start)
        if all(loaded.qualified != table.qualified for loaded, _ in self.plan.tables):
            self.plan.tables.append((table, list(table.rows())))
        replacement = quote(table.qualified)
        if alias is None:
            replacement += f" AS {quote(table.name)}"
        self.plan.scopes[alias or table.name] = dict(table.columns)
        self.replacements.append((tokens[start].start, parts[-1].end, replacement))
        return index

    def _resolve(self, names: list[str], start: int) -> Table:
        session = self.session
        if len(names) == 1:
            if session.catalog is None or session.schema is None:
                raise self.failure(StandardError.MISSING_SCHEMA_NAME, start,
                                   "Schema must be specified when session schema is not set")
            names = [session.catalog, session.schema, *names]
        elif len(names) == 2:
            if session.catalog is None:
                raise self.failure(StandardError.MISSING_CATALOG_NAME, start,
                                   "Catalog must be specified when session catalog is not set")
            names = [session.catalog, *names]
        elif len(names) > 3:
            raise self.failure(StandardError.SYNTAX_ERROR, start, f"Too many dots in table name: {'.'.join(names)}")
        catalog, schema, name = names
        if catalog not in self.metadata.catalog_names():
            raise self.failure(StandardError.CATALOG_NOT_FOUND, start, f"Catalog '{catalog}' not found")
        if schema not in self.metadata.schema_names(catalog):
            raise self.failure(StandardError.SCHEMA_NOT_FOUND, start, f"Schema '{schema}' does not exist")
        table = self.metadata.table(catalog, schema, name)
        if table is None:
            raise self.failure(StandardError.TABLE_NOT_FOUND, start, f"Table '{catalog}.{schema}.{name}' does not exist")
        return table

    def _unnest(self, index: int) -> int:
        tokens = self.tokens
        close = _matching_paren(tokens, index + 1)
        inner = tokens[index + 2:close] if close > 0 else []
        if len(inner) < 3 or inner[0].text.lower() != "sequence" or inner[1].text != "(" \
                or _matching_paren(inner, 1) != len(inner) - 1:
            raise self.failure(StandardError.NOT_SUPPORTED, tokens[index].start,
                               "only UNNEST(sequence(start, stop)) AS t(x) is supported by the emulator")
        args = _split_depth0(inner[2:-1])
        if len(args) != 2 or not all(args):
            raise self.failure(StandardError.NOT_SUPPORTED, inner[0].start,
                               "the emulator supports sequence(start, stop) with two arguments")
        bounds = [self.sql[arg[0].start:arg[-1].end] for arg in args]
        pos = close + 1
        if pos < len(tokens) and tokens[pos].upper == "AS":
            pos += 1
        alias_ok = (pos + 3 < len(tokens) and tokens[pos].kind in ("ident", "qident") and tokens[pos + 1].text == "("
                    and tokens[pos + 2].kind in ("ident", "qident") and tokens[pos + 3].text == ")")
        if not alias_ok:
            raise self.failure(StandardError.NOT_SUPPORTED, tokens[index].start,
                               "write UNNEST(sequence(start, stop)) AS t(x) so the column has a name")
        alias, column = tokens[pos].identifier(), tokens[pos + 2].identifier()
        start, stop = bounds
        sequence = (
            f"(WITH RECURSIVE _xt_seq(v) AS (SELECT CAST(({start}) AS INTEGER) UNION ALL SELECT v + 1 FROM _xt_seq "
            f"WHERE v < ({stop}) AND v - ({start}) < {MAX_SEQUENCE}) "
            f"SELECT v AS {quote(column)} FROM _xt_seq) AS {quote(alias)}"
        )
        self.replacements.append((tokens[index].start, tokens[pos + 3].end, sequence))
        self.plan.scopes[alias] = {column: "bigint"}
        return pos + 4

    def _select_items(self) -> list[SelectItem] | None:
        tokens = self.tokens
        depth, begin = 0, -1
        for index, token in enumerate(tokens):
            if token.text == "(":
                depth += 1
            elif token.text == ")":
                depth -= 1
            elif depth == 0 and token.upper == "SELECT":
                begin = index + 1
                break
        if begin < 0:
            return None
        if begin < len(tokens) and tokens[begin].upper in ("DISTINCT", "ALL"):
            begin += 1
        end, depth = len(tokens), 0
        for index in range(begin, len(tokens)):
            text = tokens[index].text
            if text == "(":
                depth += 1
            elif text == ")":
                depth -= 1
            elif depth == 0 and tokens[index].upper in _SELECT_END:
                end = index
                break
        items = []
        for part in _split_depth0(tokens[begin:end]):
            if not part or part[-1].text == "*":
                return None
            items.append(self._item(part))
        return items

    def _item(self, part: list[Token]) -> SelectItem:
        alias = None
        if len(part) >= 3 and part[-2].upper == "AS" and part[-1].kind in ("ident", "qident"):
            alias, part = part[-1].identifier(), part[:-2]
        elif (len(part) >= 2 and part[-1].kind in ("ident", "qident") and part[-1].upper not in _EXPR_KEYWORDS
              and (part[-2].kind != "op" or part[-2].text == ")")):
            alias, part = part[-1].identifier(), part[:-1]
        column_name = None
        if len(part) == 1 and part[0].kind in ("ident", "qident") and part[0].upper not in _EXPR_KEYWORDS:
            column_name = part[0].identifier()
        elif len(part) == 3 and part[1].text == "." and part[2].kind in ("ident", "qident"):
            column_name = part[2].identifier()
        type_text, literal = self._hint(part)
        return SelectItem(alias or column_name, type_text, literal)

    def _column_type(self, part: Sequence[Token]) -> str | None:
        if len(part) == 1 and part[0].kind in ("ident", "qident"):
            name = part[0].identifier()
            found = {scope[name] for scope in self.plan.scopes.values() if name in scope}
            return found.pop() if len(found) == 1 else None
        if len(part) == 3 and part[1].text == ".":
            return self.plan.scopes.get(part[0].identifier(), {}).get(part[2].identifier())
        return None

    def _hint(self, part: list[Token]) -> tuple[str | None, bool]:
        if not part:
            return None, False
        first = part[0]
        if len(part) == 1:
            if first.kind == "number":
                return _number_type(first.text), False
            if first.kind == "string":
                return f"varchar({len(first.string_value())})", False
            if first.upper in ("TRUE", "FALSE"):
                return "boolean", False
            if first.upper == "NULL":
                return "unknown", False
        if len(part) == 2 and first.upper in _TYPED_LITERALS and part[1].kind == "string":
            return _typed_literal_type(first.upper, part[1].string_value()), False
        column = self._column_type(part)
        if column is not None:
            return column, False
        depth0 = _depth0(part)
        if first.upper != "CASE" and any(
            (t.kind == "op" and t.text in _BOOLEAN_OPS) or t.upper in _BOOLEAN_WORDS for t in depth0
        ):
            return "boolean", False
        if any(t.text == "||" for t in depth0):
            return "varchar", False
        if len(part) >= 3 and part[1].text == "(" and _matching_paren(part, 1) == len(part) - 1:
            return self._function_type(first, part[2:-1]), False
        literal = all(t.kind == "number" or (t.kind == "op" and t.text in "+-*/%()") for t in part)
        return None, literal and not any("." in t.text or "e" in t.text.lower() for t in part if t.kind == "number")

    def _function_type(self, name_token: Token, args: list[Token]) -> str | None:
        name = name_token.text.lower()
        if name in ("cast", "try_cast"):
            depth0 = [i for i, t in enumerate(args) if t.upper == "AS" and t in _depth0(args)]
            if depth0:
                as_index = depth0[-1]
                return normalize_type(self.sql[args[as_index + 1].start:args[-1].end]) if as_index + 1 < len(args) \
                    else None
            return None
        if name in ("count", "count_if", "approx_distinct", "length", "strpos"):
            return "bigint"
        if name in ("avg", "random", "rand", "sqrt", "ln", "log10", "power", "pow"):
            return "double"
        if name == "sleep":
            return "boolean"
        if name in _VARCHAR_FUNCTIONS:
            return "varchar"
        argument = self._column_type(args)
        if name == "sum" and argument is not None:
            return "bigint" if argument in _INTEGER_TYPES else argument
        if name in ("min", "max", "arbitrary", "any_value", "abs", "round", "coalesce") and argument is not None:
            return argument
        return None


def _depth0(tokens: Sequence[Token]) -> list[Token]:
    result, depth = [], 0
    for token in tokens:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        elif depth == 0:
            result.append(token)
    return result


def _typed_literal_type(keyword: str, value: str) -> str:
    if keyword == "DECIMAL":
        return _number_type(value.strip().lstrip("+-")) if "." in value else f"decimal({len(value.strip()) or 1},0)"
    if keyword == "TIMESTAMP":
        fraction = value.partition(".")[2]
        return f"timestamp({len(fraction.split()[0]) if fraction else 0})"
    if keyword in ("VARCHAR", "CHAR"):
        return f"{keyword.lower()}({len(value)})"
    return {"TIME": "time(0)"}.get(keyword, keyword.lower())


def _number_type(text: str) -> str:
    if "e" in text.lower():
        return "double"
    if "." in text:
        whole, _, fraction = text.partition(".")
        digits = len(whole.lstrip("0")) + len(fraction)
        return f"decimal({max(digits, 1)},{len(fraction)})"
    return "integer" if int(text) <= 2147483647 else "bigint"


def quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def plan_select(statement: Select, session: SessionContext, metadata: Metadata) -> SelectPlan:
    """Resolve names and rewrite for SQLite; raises QueryFailure for unknown tables or catalogs."""
    return _Planner(statement, session, metadata).build()
