"""The names and Trino types of a query's result columns, as Trino derives them from the query text.

Aliases as written, a bare column's name, `_colN` for expressions; types where the text pins them: table
columns (`varchar(25)`), literals (`varchar(3)`, `decimal(3, 2)`, `integer`), casts, ARRAY/MAP/ROW of those,
and functions that keep their argument's type. Everything else is left to DuckDB's result type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, cast

from sqlglot import exp

from .metadata import Table
from .types import normalize_type

__all__ = ["OutputColumn", "Namer", "decimal_literal_type"]


@dataclass(frozen=True, slots=True)
class OutputColumn:
    """A result column as the query text determines it: its Trino name, and its type when known."""

    name: str | None
    type_hint: str | None = None



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


def decimal_literal_type(text: str) -> str | None:
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


class Namer:
    """Trino's result names and type hints for a query tree (before it is rewritten)."""

    def __init__(self, resolve: Callable[[exp.Table], Table | None]) -> None:
        self._resolve = resolve
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
                return decimal_literal_type(node.this.this)
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
