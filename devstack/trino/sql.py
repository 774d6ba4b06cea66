"""Trino SQL as far as the emulator understands it: a lexer and the statement parser.

`parse_statement` turns text into one of the statement dataclasses below; anything else is a
Trino-style SYNTAX_ERROR or NOT_SUPPORTED with its 1-based line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from xtrinode.trino_protocol import StandardError

from .errors import QueryFailure

__all__ = [
    "QualifiedName",
    "ResetSession",
    "Select",
    "SetSession",
    "ShowCatalogs",
    "ShowColumns",
    "ShowSchemas",
    "ShowTables",
    "Statement",
    "Token",
    "Use",
    "location_of",
    "parse_statement",
    "tokenize",
]

_TOKEN: Final = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^']|'')*')
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|\|\||=>|->|[-+*/%(),.;=<>\[\]?:|])
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


@dataclass(frozen=True, slots=True)
class QualifiedName:
    parts: tuple[str, ...]
    start: int

    def __str__(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class ShowCatalogs:
    like: str | None = None


@dataclass(frozen=True, slots=True)
class ShowSchemas:
    catalog: QualifiedName | None = None
    like: str | None = None


@dataclass(frozen=True, slots=True)
class ShowTables:
    schema: QualifiedName | None = None
    like: str | None = None


@dataclass(frozen=True, slots=True)
class ShowColumns:
    table: QualifiedName


@dataclass(frozen=True, slots=True)
class Use:
    name: QualifiedName


@dataclass(frozen=True, slots=True)
class SetSession:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ResetSession:
    name: str


@dataclass(frozen=True, slots=True)
class Select:
    sql: str
    tokens: list[Token] = field(default_factory=list)


Statement = ShowCatalogs | ShowSchemas | ShowTables | ShowColumns | Use | SetSession | ResetSession | Select


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

    def like(self) -> str | None:
        if not self.accept("LIKE"):
            return None
        token = self.peek()
        if token is None or token.kind != "string":
            raise self.fail("<string>")
        self.pos += 1
        return token.string_value()

    def done(self) -> None:
        if self.peek() is not None:
            raise self.fail("<EOF>")

    def literal_text(self) -> str:
        """A SET SESSION value: a string, number, boolean or bare word, as its text."""
        token = self.peek()
        if token is None:
            raise self.fail("<expression>")
        self.pos += 1
        if token.kind == "string":
            return token.string_value()
        if token.kind == "op" and token.text == "-" and self.peek() is not None:
            nxt = self.tokens[self.pos]
            self.pos += 1
            return "-" + nxt.text
        if token.kind in ("number", "ident"):
            return token.text.lower() if token.upper in ("TRUE", "FALSE") else token.text
        raise _syntax_error(self.sql, token.start, f"mismatched input '{token.text}'. Expecting: <expression>")


def strip_statement(sql: str) -> str:
    """Trailing semicolons and whitespace go, as the CLI strips them."""
    return sql.strip().rstrip(";").rstrip()


def parse_statement(sql: str) -> Statement:
    tokens = tokenize(sql)
    if not tokens:
        raise _syntax_error(sql, 0, "mismatched input '<EOF>'. Expecting: " + _expecting_statement())
    if tokens[-1].text == ";":
        tokens = tokens[:-1]
    parser = _Parser(sql, tokens)
    first = tokens[0]
    if first.upper in ("SELECT", "WITH", "VALUES", "TABLE") or first.text == "(":
        if any(token.text == ";" for token in tokens):
            bad = next(token for token in tokens if token.text == ";")
            raise _syntax_error(sql, bad.start, "mismatched input ';'. Expecting: <EOF>")
        return Select(sql, tokens)
    if first.upper == "EXECUTE" and (second := parser.peek(1)) is not None and second.upper == "IMMEDIATE":
        return parse_statement(_execute_immediate(sql, tokens))
    if parser.accept("SHOW"):
        return _parse_show(parser, sql)
    if parser.accept("DESCRIBE", "DESC"):
        nxt = parser.peek()
        if nxt is not None and nxt.upper in ("INPUT", "OUTPUT"):
            raise _not_supported(sql, first, f"DESCRIBE {nxt.upper}")
        statement = ShowColumns(parser.name())
        parser.done()
        return statement
    if parser.accept("USE"):
        name = parser.name()
        if len(name.parts) > 2:
            raise _syntax_error(sql, name.start, f"mismatched input '{name}'. Expecting: <identifier>")
        parser.done()
        return Use(name)
    if first.upper == "SET" and (second := parser.peek(1)) is not None and second.upper == "SESSION":
        parser.pos = 2
        nxt = parser.peek()
        if nxt is not None and nxt.upper == "AUTHORIZATION":
            raise _not_supported(sql, first, "SET SESSION AUTHORIZATION")
        name = parser.name()
        parser.expect("=", "'.', '='")
        value = parser.literal_text()
        parser.done()
        return SetSession(str(name), value)
    if first.upper == "RESET" and (second := parser.peek(1)) is not None and second.upper == "SESSION":
        parser.pos = 2
        name = parser.name()
        parser.done()
        return ResetSession(str(name))
    if first.upper in _STATEMENT_KEYWORDS or first.upper in ("START", "ABORT", "BEGIN"):
        words = " ".join(token.text.upper() for token in tokens[:2] if token.kind == "ident")
        raise _not_supported(sql, first, words or first.upper)
    raise _syntax_error(sql, first.start, f"mismatched input '{first.text}'. Expecting: {_expecting_statement()}")


def _execute_immediate(sql: str, tokens: list[Token]) -> str:
    """`EXECUTE IMMEDIATE 'text' [USING a, b]` (what trino-python-client sends for parameters) as plain SQL."""
    if len(tokens) < 3 or tokens[2].kind != "string":
        target = tokens[2] if len(tokens) > 2 else None
        offset = target.start if target is not None else len(sql.rstrip())
        shown = target.text if target is not None else "<EOF>"
        raise _syntax_error(sql, offset, f"mismatched input '{shown}'. Expecting: <string>")
    inner = tokens[2].string_value()
    arguments: list[str] = []
    if len(tokens) > 3:
        if tokens[3].upper != "USING" or len(tokens) == 4:
            raise _syntax_error(sql, tokens[3].start, f"mismatched input '{tokens[3].text}'. Expecting: 'USING', <EOF>")
        depth, start = 0, tokens[4].start
        for token in tokens[4:]:
            depth += {"(": 1, ")": -1}.get(token.text, 0) if token.kind == "op" else 0
            if depth == 0 and token.kind == "op" and token.text == ",":
                arguments.append(sql[start:token.start].strip())
                start = token.end
        arguments.append(sql[start:tokens[-1].end].strip())
    marks = [token for token in tokenize(inner) if token.kind == "op" and token.text == "?"]
    if len(marks) != len(arguments):
        raise QueryFailure(
            StandardError.INVALID_PARAMETER_USAGE,
            f"Incorrect number of parameters: expected {len(marks)} but found {len(arguments)}",
        )
    out, last = [], 0
    for mark, argument in zip(marks, arguments, strict=True):
        out += [inner[last:mark.start], argument]
        last = mark.end
    out.append(inner[last:])
    return "".join(out)


def _expecting_statement() -> str:
    return ", ".join(f"'{word}'" for word in _STATEMENT_KEYWORDS) + ", <query>"


def _not_supported(sql: str, token: Token, what: str) -> QueryFailure:
    line, column = location_of(sql, token.start)
    return QueryFailure(
        StandardError.NOT_SUPPORTED,
        f"line {line}:{column}: {what} is not supported by the xtrinode Trino emulator; "
        "it runs SELECT, SHOW, DESCRIBE, USE and SET/RESET SESSION",
        (line, column),
    )


def _parse_show(parser: _Parser, sql: str) -> Statement:
    statement: Statement
    if parser.accept("CATALOGS"):
        statement = ShowCatalogs(parser.like())
    elif parser.accept("SCHEMAS"):
        catalog = parser.name() if parser.accept("FROM", "IN") else None
        statement = ShowSchemas(catalog, parser.like())
    elif parser.accept("TABLES"):
        schema = parser.name() if parser.accept("FROM", "IN") else None
        statement = ShowTables(schema, parser.like())
    elif parser.accept("COLUMNS"):
        if not parser.accept("FROM", "IN"):
            raise parser.fail("'FROM', 'IN'")
        statement = ShowColumns(parser.name())
    else:
        token = parser.peek()
        if token is None:
            raise parser.fail("'CATALOGS', 'COLUMNS', 'SCHEMAS', 'TABLES'")
        raise _not_supported(sql, token, f"SHOW {token.text.upper()}")
    parser.done()
    return statement
