"""Trino statements the emulator tells apart: a small lexer and the parser of everything but queries.

`parse_statement` turns text into one of the statement dataclasses of parsed.py. Queries (SELECT, WITH,
VALUES, TABLE) are kept as text for translate.py (sqlglot + DuckDB); SHOW, DESCRIBE, USE, session,
transaction, prepared-statement and EXPLAIN statements are parsed here. Anything else is a
Trino-style SYNTAX_ERROR or NOT_SUPPORTED with its 1-based line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from xtrinode.trino_protocol import StandardError

from . import parsed
from .errors import QueryFailure
from .parsed import QualifiedName, Query, Statement

__all__ = ["QualifiedName", "Query", "Statement", "Token", "location_of", "parse_statement", "prepared_statement", "tokenize"]

_TOKEN: Final = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^']|'')*')
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_@$]*)
  | (?P<op><>|!=|<=|>=|\|\||=>|->|[-+*/%(),.;=<>\[\]?:|{}^&~])
    """,
    re.S | re.X,
)

_STATEMENT_KEYWORDS: Final = (
    "ALTER", "ANALYZE", "CALL", "COMMENT", "COMMIT", "CREATE", "DEALLOCATE", "DELETE", "DENY", "DESC",
    "DESCRIBE", "DROP", "EXECUTE", "EXPLAIN", "GRANT", "INSERT", "MERGE", "PREPARE", "REFRESH", "RESET",
    "REVOKE", "ROLLBACK", "SET", "SHOW", "START", "TRUNCATE", "UPDATE", "USE", "WITH",
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def identifier(self) -> str:
        """Name of an identifier token: unquoted lower-cased, quoted unescaped (Trino lower-cases both)."""
        if self.kind == "qident":
            return self.text[1:-1].replace('""', '"').lower()
        return self.text.lower()

    def string_value(self) -> str:
        return self.text[1:-1].replace("''", "'")


def location_of(sql: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = sql.count("\n", 0, offset) + 1
    column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _syntax_error(sql: str, offset: int, message: str) -> QueryFailure:
    line, column = location_of(sql, offset)
    return QueryFailure(StandardError.SYNTAX_ERROR, f"line {line}:{column}: {message}", (line, column))


def tokenize(sql: str) -> list[Token]:
    """Significant tokens (no whitespace or comments)."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            snippet = sql[pos]
            if snippet in "'\"":
                raise _syntax_error(sql, pos, f"mismatched input '{sql[pos:pos + 20]}'. Expecting: <expression>")
            raise _syntax_error(sql, pos, f"token recognition error at: '{snippet}'")
        kind = match.lastgroup or "op"
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, sql: str, tokens: list[Token]) -> None:
        self.sql = sql
        self.tokens = tokens
        self.pos = 0

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def accept(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and (token.upper in words or (token.kind == "op" and token.text in words)):
            self.pos += 1
            return True
        return False

    def expect(self, word: str, expecting: str | None = None) -> None:
        if not self.accept(word):
            raise self.fail(expecting or f"'{word}'")

    def fail(self, expecting: str) -> QueryFailure:
        """The error for an unexpected token here (the caller raises it)."""
        token = self.peek()
        if token is None:
            return _syntax_error(self.sql, len(self.sql.rstrip()), f"mismatched input '<EOF>'. Expecting: {expecting}")
        return _syntax_error(self.sql, token.start, f"mismatched input '{token.text}'. Expecting: {expecting}")

    def name(self) -> QualifiedName:
        token = self.peek()
        if token is None or token.kind not in ("ident", "qident"):
            raise self.fail("<identifier>")
        parts = [token.identifier()]
        self.pos += 1
        while self.accept("."):
            part = self.peek()
            if part is None or part.kind not in ("ident", "qident"):
                raise self.fail("<identifier>")
            parts.append(part.identifier())
            self.pos += 1
        return QualifiedName(tuple(parts), token.start)

    def string(self) -> str:
        token = self.peek()
        if token is None or token.kind != "string":
            raise self.fail("<string>")
        self.pos += 1
        return token.string_value()

    def like(self) -> tuple[str | None, str | None]:
        if not self.accept("LIKE"):
            return None, None
        pattern = self.string()
        escape = self.string() if self.accept("ESCAPE") else None
        return pattern, escape

    def done(self) -> None:
        if self.peek() is not None:
            raise self.fail("<EOF>")

    def rest(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("<query>")
        return self.sql[token.start:self.tokens[-1].end]

    def literal(self) -> tuple[str, str, int]:
        """A SET SESSION value: (text, kind, offset) of a string, number or boolean."""
        token = self.peek()
        if token is None:
            raise self.fail("<expression>")
        self.pos += 1
        if token.kind == "string":
            return token.string_value(), "string", token.start
        if token.kind == "op" and token.text == "-" and (nxt := self.peek()) is not None and nxt.kind == "number":
            self.pos += 1
            return "-" + nxt.text, "integer" if nxt.text.isdigit() else "decimal", token.start
        if token.kind == "number":
            return token.text, "integer" if token.text.isdigit() else "decimal", token.start
        if token.upper in ("TRUE", "FALSE"):
            return token.text.lower(), "boolean", token.start
        raise _syntax_error(self.sql, token.start, f"mismatched input '{token.text}'. Expecting: <expression>")

    def arguments(self) -> tuple[str, ...]:
        """Comma-separated expressions up to the end, as texts (`USING a, b`)."""
        if self.peek() is None:
            raise self.fail("<expression>")
        out: list[str] = []
        depth, start = 0, self.tokens[self.pos].start
        for token in self.tokens[self.pos:]:
            if token.kind == "op" and token.text in "([":
                depth += 1
            elif token.kind == "op" and token.text in ")]":
                depth -= 1
            elif depth == 0 and token.kind == "op" and token.text == ",":
                out.append(self.sql[start:token.start].strip())
                start = token.end
        out.append(self.sql[start:self.tokens[-1].end].strip())
        if any(not text for text in out):
            raise self.fail("<expression>")
        self.pos = len(self.tokens)
        return tuple(out)


def strip_statement(sql: str) -> str:
    """Trailing semicolons and whitespace go, as the CLI strips them."""
    return sql.strip().rstrip(";").rstrip()


def _expecting_statement() -> str:
    return ", ".join(f"'{word}'" for word in _STATEMENT_KEYWORDS) + ", <query>"


def _not_supported(sql: str, token: Token, what: str) -> QueryFailure:
    """What the emulator does not run; like Trino's connector refusals (`This connector does not support
    inserts`), the error carries no location."""
    return QueryFailure(
        StandardError.NOT_SUPPORTED,
        f"{what} is not supported by the xtrinode Trino emulator; it runs queries, SHOW, DESCRIBE, EXPLAIN, USE, "
        "session, transaction and prepared-statement statements",
    )


def parse_statement(sql: str) -> Statement:
    tokens = tokenize(sql)
    if not tokens:
        raise _syntax_error(sql, 0, "mismatched input '<EOF>'. Expecting: " + _expecting_statement())
    if tokens[-1].text == ";":
        tokens = tokens[:-1]
    if not tokens:
        raise _syntax_error(sql, 0, "mismatched input ';'. Expecting: " + _expecting_statement())
    parser = _Parser(sql, tokens)
    first = tokens[0]
    if first.upper in ("SELECT", "WITH", "VALUES", "TABLE") or first.text == "(":
        return Query(sql[:tokens[-1].end])  # leading text kept: error locations are in the client's text
    if parser.accept("EXECUTE"):
        if parser.accept("IMMEDIATE"):
            inner = parser.string()
            parameters = parser.arguments() if parser.accept("USING") else ()
            parser.done()
            return _query_or_statement(inner, parameters)
        name = parser.name()
        parameters = parser.arguments() if parser.accept("USING") else ()
        parser.done()
        return parsed.Execute(str(name), parameters)
    if parser.accept("SHOW"):
        return _parse_show(parser, sql)
    if parser.accept("DESCRIBE", "DESC"):
        described: Statement
        if parser.accept("INPUT"):
            described = parsed.DescribeInput(str(parser.name()))
        elif parser.accept("OUTPUT"):
            described = parsed.DescribeOutput(str(parser.name()))
        else:
            return _done(parser, parsed.ShowColumns(parser.name()))
        return _done(parser, described)
    if parser.accept("USE"):
        name = parser.name()
        if len(name.parts) > 2:
            raise _syntax_error(sql, name.start, f"mismatched input '{name}'. Expecting: <identifier>")
        return _done(parser, parsed.Use(name, first.start))
    if first.upper == "SET" and (second := parser.peek(1)) is not None and second.upper == "SESSION":
        parser.pos = 2
        nxt = parser.peek()
        if nxt is not None and nxt.upper == "AUTHORIZATION":
            raise _not_supported(sql, first, "SET SESSION AUTHORIZATION")
        name = parser.name()
        parser.expect("=", "'.', '='")
        value, kind, value_start = parser.literal()
        return _done(parser, parsed.SetSession(str(name), value, kind, name.start, value_start))
    if first.upper == "RESET" and (second := parser.peek(1)) is not None and second.upper == "SESSION":
        parser.pos = 2
        name = parser.name()
        return _done(parser, parsed.ResetSession(str(name), first.start))
    if parser.accept("START"):
        parser.expect("TRANSACTION")
        parser.pos = len(tokens)  # isolation level and read/write modes are accepted and ignored
        return parsed.StartTransaction()
    if parser.accept("COMMIT"):
        parser.accept("WORK")
        return _done(parser, parsed.Commit())
    if parser.accept("ROLLBACK"):
        parser.accept("WORK")
        return _done(parser, parsed.Rollback())
    if parser.accept("PREPARE"):
        name = parser.name()
        parser.expect("FROM")
        return parsed.Prepare(str(name), parser.rest())
    if parser.accept("DEALLOCATE"):
        parser.expect("PREPARE")
        return _done(parser, parsed.Deallocate(str(parser.name())))
    if parser.accept("EXPLAIN"):
        return _parse_explain(parser)
    if first.upper in _STATEMENT_KEYWORDS or first.upper in ("ABORT", "BEGIN"):
        words = " ".join(token.text.upper() for token in tokens[:2] if token.kind == "ident")
        raise _not_supported(sql, first, words or first.upper)
    raise _syntax_error(sql, first.start, f"mismatched input '{first.text}'. Expecting: {_expecting_statement()}")


def _done(parser: _Parser, statement: Statement) -> Statement:
    parser.done()
    return statement


def _query_or_statement(sql: str, parameters: tuple[str, ...]) -> Statement:
    statement = parse_statement(sql)
    if isinstance(statement, Query):
        return Query(statement.sql, parameters)
    if parameters:
        raise QueryFailure(StandardError.INVALID_PARAMETER_USAGE,
                           f"Incorrect number of parameters: expected 0 but found {len(parameters)}")
    return statement


def prepared_statement(sql: str, parameters: tuple[str, ...]) -> Statement:
    """What `EXECUTE name USING ...` runs: the prepared text with its parameters."""
    return _query_or_statement(sql, parameters)


def _parse_explain(parser: _Parser) -> Statement:
    analyze = parser.accept("ANALYZE")
    if analyze:
        parser.accept("VERBOSE")
    options: dict[str, str] = {}
    if parser.accept("("):
        while True:
            key = parser.peek()
            if key is None or key.upper not in ("TYPE", "FORMAT"):
                raise parser.fail("'FORMAT', 'TYPE'")
            parser.pos += 1
            value = parser.peek()
            if value is None or value.kind != "ident":
                raise parser.fail("<identifier>")
            parser.pos += 1
            options[key.upper] = value.upper
            if parser.accept(")"):
                break
            parser.expect(",", "',', ')'")
    inner = parser.rest()
    kind = options.get("TYPE", "DISTRIBUTED")
    if kind not in ("LOGICAL", "DISTRIBUTED", "VALIDATE", "IO"):
        raise parser.fail("'DISTRIBUTED', 'IO', 'LOGICAL', 'VALIDATE'")
    fmt = options.get("FORMAT", "TEXT")
    if fmt not in ("TEXT", "GRAPHVIZ", "JSON"):
        raise parser.fail("'GRAPHVIZ', 'JSON', 'TEXT'")
    parse_statement(inner)  # a syntax error in the explained statement is the EXPLAIN's error
    return parsed.Explain(inner, kind, fmt, analyze, options)


def _parse_show(parser: _Parser, sql: str) -> Statement:
    statement: Statement
    start = parser.tokens[0].start
    if parser.accept("CATALOGS"):
        statement = parsed.ShowCatalogs(parser.like()[0])
    elif parser.accept("SCHEMAS"):
        catalog = parser.name() if parser.accept("FROM", "IN") else None
        statement = parsed.ShowSchemas(catalog, parser.like()[0], start)
    elif parser.accept("TABLES"):
        schema = parser.name() if parser.accept("FROM", "IN") else None
        statement = parsed.ShowTables(schema, parser.like()[0], start)
    elif parser.accept("COLUMNS"):
        if not parser.accept("FROM", "IN"):
            raise parser.fail("'FROM', 'IN'")
        table = parser.name()
        statement = parsed.ShowColumns(table, parser.like()[0])
    elif parser.accept("SESSION"):
        statement = parsed.ShowSession(*parser.like())
    elif parser.accept("FUNCTIONS"):
        if parser.accept("FROM", "IN"):
            parser.name()
        statement = parsed.ShowFunctions(*parser.like())
    else:
        token = parser.peek()
        if token is None:
            raise parser.fail("'CATALOGS', 'COLUMNS', 'CREATE', 'FUNCTIONS', 'GRANTS', 'ROLES', 'SCHEMAS', "
                              "'SESSION', 'STATS', 'TABLES'")
        raise _not_supported(sql, token, f"SHOW {token.text.upper()}")
    parser.done()
    return statement
