"""Kubernetes resource quantities (`500m`, `2`, `4Gi`, `1.5G`) parsed to exact Decimals.

Rendering compares limits with requests and sizes the JVM heap from memory limits.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ["Quantity", "parse_quantity", "format_bytes"]

_SUFFIX = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+]?[0-9]+(?:\.[0-9]*)?|[+]?\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$")


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a Kubernetes quantity into its exact value (cores or bytes)."""
    try:
        return _parse_quantity(value)
    except ArithmeticError as e:
        raise ValueError(f"quantity {value!r} is too large; write a realistic size such as '64Gi'") from e


def _parse_quantity(value: str | int | float) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"quantity {value!r} is a boolean; write a quantity such as '2' or '4Gi'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"quantity {value!r} is negative")
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"invalid quantity {value!r}: use a Kubernetes quantity such as '500m', '2', '4Gi' or '1.5G'"
        )
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as e:  # pragma: no cover - the regex admits only numbers
        raise ValueError(f"invalid quantity {value!r}") from e
    if match.group(3) is not None:
        return number * (Decimal(10) ** int(match.group(3)))
    return number * _SUFFIX[match.group(2) or ""]


def format_bytes(value: Decimal | int) -> str:
    """Bytes as the largest whole binary unit a JVM flag accepts: 3G, 512M, 1024K."""
    amount = int(value)
    for unit, size in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if amount >= size and amount % size == 0:
            return f"{amount // size}{unit}"
    return f"{amount // 2**20}M" if amount >= 2**20 else str(amount)


def _validate(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid quantity {value!r}: expected a string such as '4Gi'")
    parse_quantity(value)
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_validate),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
        }
    ),
]
"""A quantity kept as the user wrote it, validated on load."""
