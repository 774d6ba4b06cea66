"""Trino types as the wire shows them: type text, `typeSignature`, JDBC metadata codes, JSON values.

Type text is Trino's own spelling (`decimal(10, 2)`, `varchar(25)`, `array(varchar(1))`,
`timestamp(3) with time zone`, `row(a integer)`); `trino_type_of_duckdb` maps what DuckDB
reports for a result column; `converter` turns DuckDB's Python values into Trino's JSON values.
"""

from __future__ import annotations

import base64
import datetime
import functools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "UNBOUNDED_VARCHAR",
    "TrinoType",
    "column_json",
    "converter",
    "jdbc_column_facts",
    "normalize_type",
    "parse_type",
    "trino_type_of_duckdb",
    "type_signature",
]

UNBOUNDED_VARCHAR: Final = 2147483647
_ALIASES: Final = {"int": "integer", "string": "varchar", "text": "varchar", "float": "real",
                   "double precision": "double", "character varying": "varchar", "character": "char",
                   "numeric": "decimal", "dec": "decimal"}
_SIMPLE: Final = frozenset({
    "boolean", "tinyint", "smallint", "integer", "bigint", "double", "real", "date", "varbinary", "unknown", "json",
    "uuid", "ipaddress", "interval year to month", "interval day to second", "hyperloglog", "color",
})


@dataclass(frozen=True, slots=True)
class TrinoType:
    """A parsed Trino type: `name` plus numeric parameters or nested types (`fields` name row fields)."""

    name: str
    numbers: tuple[int, ...] = ()
    children: tuple[TrinoType, ...] = ()
    fields: tuple[str | None, ...] = ()
    with_time_zone: bool = False

    def __str__(self) -> str:
        if self.name in ("timestamp", "time"):
            precision = f"({self.numbers[0]})" if self.numbers else ""
            return f"{self.name}{precision}" + (" with time zone" if self.with_time_zone else "")
        if self.name == "row":
            parts = [f"{field} {child}" if field else str(child) for field, child in zip(self.fields, self.children,
                                                                                           strict=True)]
            return f"row({', '.join(parts)})"
        if self.children:
            return f"{self.name}({', '.join(str(child) for child in self.children)})"
        if self.numbers:
            return f"{self.name}({', '.join(str(n) for n in self.numbers)})"
        return self.name

    @property
    def raw(self) -> str:
        return f"{self.name} with time zone" if self.with_time_zone else self.name


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def word(self) -> str:
        self.skip()
        match = re.compile(r'"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_]*').match(self.text, self.pos)
        if match is None:
            raise ValueError(f"expected a type name at {self.pos} in {self.text!r}")
        self.pos = match.end()
        word = match.group()
        return word[1:-1].replace('""', '"') if word.startswith('"') else word.lower()

    def peek(self, what: str) -> bool:
        self.skip()
        return self.text.startswith(what, self.pos)

    def take(self, what: str) -> None:
        if not self.peek(what):
            raise ValueError(f"expected {what!r} at {self.pos} in {self.text!r}")
        self.pos += len(what)

    def number(self) -> int:
        self.skip()
        match = re.compile(r"\d+").match(self.text, self.pos)
        if match is None:
            raise ValueError(f"expected a number at {self.pos} in {self.text!r}")
        self.pos = match.end()
        return int(match.group())


def _phrase(reader: _Reader) -> str:
    """A multi-word type name (`double precision`, `interval day to second`)."""
    name = reader.word()
    while True:
        save = reader.pos
        reader.skip()
        match = re.compile(r"[A-Za-z_]+").match(reader.text, reader.pos)
        if match is None:
            break
        candidate = f"{name} {match.group().lower()}"
        if any(known.startswith(candidate) for known in (*_SIMPLE, *_ALIASES)):
            reader.pos = match.end()
            name = candidate
            continue
        reader.pos = save
        break
    return _ALIASES.get(name, name)


def _read(reader: _Reader) -> TrinoType:
    name = _phrase(reader)
    if name in ("array", "map"):
        reader.take("(")
        children = [_read(reader)]
        while reader.peek(","):
            reader.take(",")
            children.append(_read(reader))
        reader.take(")")
        return TrinoType(name, children=tuple(children))
    if name == "row":
        reader.take("(")
        fields: list[str | None] = []
        children = []
        while True:
            save = reader.pos
            field: str | None = reader.word()
            reader.skip()
            if reader.peek(",") or reader.peek(")") or reader.peek("("):
                reader.pos, field = save, None
            fields.append(field)
            children.append(_read(reader))
            if not reader.peek(","):
                break
            reader.take(",")
        reader.take(")")
        return TrinoType("row", children=tuple(children), fields=tuple(fields))
    numbers: list[int] = []
    if reader.peek("("):
        reader.take("(")
        numbers.append(reader.number())
        while reader.peek(","):
            reader.take(",")
            numbers.append(reader.number())
        reader.take(")")
    if name in ("timestamp", "time"):
        zone = False
        reader.skip()
        rest = reader.text[reader.pos:].lower()
        if rest.startswith("with time zone"):
            reader.pos += len("with time zone")
            zone = True
        elif rest.startswith("without time zone"):
            reader.pos += len("without time zone")
        default = 3 if name == "timestamp" else 3
        return TrinoType(name, (numbers[0] if numbers else default,), with_time_zone=zone)
    if name == "decimal":
        precision = numbers[0] if numbers else 38
        return TrinoType(name, (precision, numbers[1] if len(numbers) > 1 else 0))
    if name == "char":
        return TrinoType(name, (numbers[0] if numbers else 1,))
    if name == "varchar":
        return TrinoType(name, tuple(numbers[:1]))
    if numbers:
        raise ValueError(f"type {name!r} takes no parameters")
    return TrinoType(name)


@functools.lru_cache(maxsize=4096)
def parse_type(text: str) -> TrinoType:
    """`DECIMAL(10,2)` -> decimal(10, 2); raises ValueError for text that is not a type."""
    reader = _Reader(text)
    parsed = _read(reader)
    reader.skip()
    if reader.pos != len(text):
        raise ValueError(f"unexpected {text[reader.pos:]!r} after the type in {text!r}")
    return parsed


def normalize_type(text: str) -> str | None:
    """Trino's spelling of a type (`VARCHAR( 10 )` -> `varchar(10)`), or None when it is not one."""
    try:
        return str(parse_type(text))
    except ValueError:
        return None


def _signature(t: TrinoType) -> dict[str, Any]:
    arguments: list[dict[str, Any]]
    if t.name == "row":
        arguments = []
        for field, child in zip(t.fields, t.children, strict=True):
            value: dict[str, Any] = {"typeSignature": _signature(child)}
            if field:
                value = {"fieldName": {"name": field}, **value}
            arguments.append({"kind": "NAMED_TYPE", "value": value})
    elif t.children:
        arguments = [{"kind": "TYPE", "value": _signature(child)} for child in t.children]
    elif t.name == "varchar":
        arguments = [{"kind": "LONG", "value": t.numbers[0] if t.numbers else UNBOUNDED_VARCHAR}]
    else:
        arguments = [{"kind": "LONG", "value": n} for n in t.numbers]
    return {"rawType": t.raw, "arguments": arguments}


@functools.lru_cache(maxsize=4096)
def _signature_cached(type_text: str) -> dict[str, Any]:
    return _signature(parse_type(type_text))


def type_signature(type_text: str) -> dict[str, Any]:
    """ClientTypeSignature (unbounded varchar carries 2147483647, as Trino sends it)."""
    return _signature_cached(type_text)


def column_json(name: str, type_text: str) -> dict[str, Any]:
    return {"name": name, "type": type_text, "typeSignature": type_signature(type_text)}


# -- DuckDB result types -> Trino ------------------------------------------------------------------
_DUCK_SIMPLE: Final = {
    "BOOLEAN": "boolean", "TINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint",
    "HUGEINT": "bigint", "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint", "UBIGINT": "bigint",
    "UHUGEINT": "bigint", "FLOAT": "real", "DOUBLE": "double", "DATE": "date", "VARCHAR": "varchar",
    "BLOB": "varbinary", "UUID": "uuid", "JSON": "json", "NULL": "unknown", "INTERVAL": "interval day to second",
    "TIME": "time(6)", "TIME WITH TIME ZONE": "time(6) with time zone", "TIMESTAMP": "timestamp(6)",
    "TIMESTAMP_S": "timestamp(0)", "TIMESTAMP_MS": "timestamp(3)", "TIMESTAMP_NS": "timestamp(9)",
    "TIMESTAMP WITH TIME ZONE": "timestamp(6) with time zone", "BIT": "varchar",
}


def trino_type_of_duckdb(duck_type: Any) -> str:
    """Trino's name for a DuckDB result type (a `DuckDBPyType` or its text)."""
    text = str(duck_type)
    if text in _DUCK_SIMPLE:
        return _DUCK_SIMPLE[text]
    if text.startswith("DECIMAL("):
        precision, scale = (int(n) for n in text[len("DECIMAL("):-1].split(","))
        return f"decimal({precision}, {scale})"
    if text.startswith("ENUM("):
        return "varchar"
    children = getattr(duck_type, "children", None)
    kind = getattr(duck_type, "id", "")
    if kind == "list" or (children is None and text.endswith("[]")):
        inner = children[0][1] if children else text[:-2]
        return f"array({trino_type_of_duckdb(inner)})"
    if kind == "array" and children:
        return f"array({trino_type_of_duckdb(children[0][1])})"
    if kind == "map" and children:
        return f"map({trino_type_of_duckdb(children[0][1])}, {trino_type_of_duckdb(children[1][1])})"
    if kind == "struct" and children:
        anonymous = all(re.fullmatch(r"_\d+|v\d+", name) for name, _ in children)
        parts = [trino_type_of_duckdb(child) if anonymous else f"{name} {trino_type_of_duckdb(child)}"
                 for name, child in children]
        return f"row({', '.join(parts)})"
    return "varchar"


# -- values ------------------------------------------------------------------------------------------
Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _double(value: Any) -> Any:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


def _integer(value: Any) -> Any:
    return None if value is None else int(value)


def _boolean(value: Any) -> Any:
    return None if value is None else bool(value)


def _decimal(scale: int) -> Converter:
    quantum = Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Any:
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        return f"{number.quantize(quantum):f}"

    return convert


def _text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def _char(length: int) -> Converter:
    def convert(value: Any) -> Any:
        return None if value is None else str(value).ljust(length)

    return convert


def _binary(value: Any) -> Any:
    if value is None:
        return None
    data = value if isinstance(value, bytes) else str(value).encode()
    return base64.b64encode(data).decode()


def _date(value: Any) -> Any:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def _fraction(micros: int, precision: int) -> str:
    if precision <= 0:
        return ""
    digits = f"{micros:06d}" + "0" * max(0, precision - 6)
    return "." + digits[:precision]


def _timestamp(precision: int, zone: bool) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime.datetime):
            return str(value)
        text = value.strftime("%Y-%m-%d %H:%M:%S") + _fraction(value.microsecond, precision)
        if zone:
            offset = value.utcoffset()
            name = value.tzname() or "UTC"
            text += " " + ("UTC" if offset is not None and not offset and name in ("UTC", "Etc/UTC") else name)
        return text

    return convert


def _time(precision: int) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime.time):
            return str(value)
        return value.strftime("%H:%M:%S") + _fraction(value.microsecond, precision)

    return convert


def _array(inner: Converter) -> Converter:
    def convert(value: Any) -> Any:
        return None if value is None else [inner(item) for item in value]

    return convert


def _map(key: Converter, inner: Converter) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        pairs: Iterable[tuple[Any, Any]]
        if isinstance(value, dict) and set(value) == {"key", "value"} and isinstance(value["key"], list):
            pairs = zip(value["key"], value["value"], strict=True)
        else:
            pairs = value.items() if isinstance(value, dict) else iter(value)
        return {str(key(k)): inner(v) for k, v in pairs}

    return convert


def _row(inner: tuple[Converter, ...]) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        items = list(value.values()) if isinstance(value, dict) else list(value)
        return [convert_item(item) for convert_item, item in zip(inner, items, strict=False)]

    return convert


def _build(t: TrinoType) -> Converter:
    name = t.name
    if name in ("varchar", "json", "uuid", "ipaddress", "interval year to month", "interval day to second"):
        return _text
    if name in ("tinyint", "smallint", "integer", "bigint"):
        return _integer
    if name in ("double", "real"):
        return _double
    if name == "boolean":
        return _boolean
    if name == "decimal":
        return _decimal(t.numbers[1])
    if name == "char":
        return _char(t.numbers[0])
    if name == "varbinary":
        return _binary
    if name == "date":
        return _date
    if name == "timestamp":
        return _timestamp(t.numbers[0], t.with_time_zone)
    if name == "time":
        return _time(t.numbers[0])
    if name == "array":
        return _array(_build(t.children[0]))
    if name == "map":
        return _map(_build(t.children[0]), _build(t.children[1]))
    if name == "row":
        return _row(tuple(_build(child) for child in t.children))
    if name == "unknown":
        return lambda _value: None
    return _text


@functools.lru_cache(maxsize=1024)
def converter(type_text: str) -> Converter:
    """Python value (as DuckDB returns it) -> Trino's JSON value for this type."""
    t = parse_type(type_text)
    if t.name in ("varchar", "bigint", "integer", "boolean"):
        return _identity
    return _build(t)


# -- JDBC DatabaseMetaData facts (system.jdbc.columns) ---------------------------------------------------
_JDBC_CODES: Final = {
    "boolean": 16, "tinyint": -6, "smallint": 5, "integer": 4, "bigint": -5, "real": 7, "double": 8,
    "decimal": 3, "varchar": 12, "char": 1, "varbinary": -3, "date": 91, "time": 92, "timestamp": 93,
    "array": 2003, "json": 12,
}
_SIZES: Final = {"tinyint": 3, "smallint": 5, "integer": 10, "bigint": 19, "real": 24, "double": 53, "date": 14}


def jdbc_column_facts(type_text: str) -> tuple[int, int | None, int | None, int | None, int | None]:
    """(data_type, column_size, decimal_digits, num_prec_radix, char_octet_length) as Trino's
    `system.jdbc.columns` reports them (checked against Trino 476 for the tpch column types)."""
    t = parse_type(type_text)
    code = _JDBC_CODES.get(t.name, 2000)
    if t.with_time_zone:
        code = 2014 if t.name == "timestamp" else 2013
    radix = 10 if t.name in ("tinyint", "smallint", "integer", "bigint", "decimal") else (
        2 if t.name in ("real", "double") else None)
    if t.name in ("varchar", "char"):
        size = t.numbers[0] if t.numbers else UNBOUNDED_VARCHAR
        return code, size, None, None, size
    if t.name == "decimal":
        return code, t.numbers[0], t.numbers[1], radix, None
    if t.name in ("timestamp", "time"):
        return code, None, t.numbers[0], None, None
    return code, _SIZES.get(t.name), None, radix, None
