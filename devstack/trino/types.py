"""Trino column types: the `columns[]` entries (`type` + `typeSignature`) and JSON value encoding.

Covers what the emulator produces: boolean, integer, bigint, double, real, decimal(p,s),
varchar(n)/varchar, date, varbinary and unknown (the type of a bare NULL).
"""

from __future__ import annotations

import base64
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = ["UNBOUNDED_VARCHAR", "column_json", "encode_value", "normalize_type", "type_signature"]

UNBOUNDED_VARCHAR: Final = 2147483647
_TYPE = re.compile(r"^\s*([a-z][a-z ]*?)\s*(?:\(\s*([0-9,\s]*)\s*\))?\s*$")
_ALIASES: Final = {"int": "integer", "string": "varchar", "text": "varchar", "float": "real", "double precision": "double"}
KNOWN_TYPES: Final = frozenset(
    {"boolean", "tinyint", "smallint", "integer", "bigint", "double", "real", "decimal", "varchar", "char", "date",
     "varbinary", "unknown"}
)


def normalize_type(text: str) -> str | None:
    """`VARCHAR( 10 )` -> `varchar(10)`, `DECIMAL(10, 2)` -> `decimal(10,2)`; None for types not emulated."""
    match = _TYPE.match(text.lower())
    if match is None:
        return None
    base = _ALIASES.get(match.group(1).strip(), match.group(1).strip())
    if base not in KNOWN_TYPES:
        return None
    args = [part.strip() for part in (match.group(2) or "").split(",") if part.strip()]
    if base == "decimal":
        precision = int(args[0]) if args else 38
        scale = int(args[1]) if len(args) > 1 else 0
        return f"decimal({precision},{scale})"
    if base in ("varchar", "char") and args:
        return f"{base}({int(args[0])})"
    if base == "char":
        return "char(1)"
    return base if not args else None


def type_signature(type_text: str) -> dict[str, Any]:
    """ClientTypeSignature for a normalized type text (unbounded varchar has the max length argument)."""
    raw, _, rest = type_text.partition("(")
    arguments: list[dict[str, Any]] = []
    if rest:
        arguments = [{"kind": "LONG", "value": int(part)} for part in rest.rstrip(")").split(",")]
    elif raw == "varchar":
        arguments = [{"kind": "LONG", "value": UNBOUNDED_VARCHAR}]
    return {"rawType": raw, "arguments": arguments}


def column_json(name: str, type_text: str) -> dict[str, Any]:
    return {"name": name, "type": type_text, "typeSignature": type_signature(type_text)}


def _decimal_text(value: Any, scale: int) -> str:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{number.quantize(Decimal(1).scaleb(-scale)):f}" if scale else f"{number.to_integral_value():f}"


def encode_value(value: Any, type_text: str) -> Any:
    """A value as Trino's JSON encodes it for this type (decimals and dates as strings, NaN as text)."""
    if value is None:
        return None
    raw = type_text.partition("(")[0]
    if raw == "boolean":
        return bool(value)
    if raw in ("tinyint", "smallint", "integer", "bigint"):
        return int(value) if not isinstance(value, str) else value
    if raw in ("double", "real"):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    if raw == "decimal":
        scale = int(type_text.rstrip(")").split(",")[1])
        return _decimal_text(value, scale)
    if raw == "varbinary":
        data = value if isinstance(value, bytes) else str(value).encode()
        return base64.b64encode(data).decode()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and raw in ("varchar", "char") and value.is_integer():
        return str(value)
    return str(value) if raw != "unknown" else value
