"""Who runs a query and with what session: the `X-Trino-*` request headers, and Trino's session properties.

`Identity` is read from the POST's headers (catalog, schema, session properties, prepared
statements, transaction id). The session properties and their defaults are Trino 476's own
(`data/session_properties.json`, recorded from `SHOW SESSION`); `check_set_session` refuses what
Trino refuses (unknown names, a value of the wrong type, a value outside an enum's list).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Final

from xtrinode.trino_protocol import StandardError

from .errors import QueryFailure

__all__ = ["Identity", "SessionProperty", "check_set_session", "functions", "session_properties"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who asked and with which session (from the `X-Trino-*` request headers)."""

    user: str
    source: str | None = None
    catalog: str | None = None
    schema: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    client_info: str | None = None
    client_tags: tuple[str, ...] = ()
    time_zone: str | None = None
    user_agent: str | None = None
    prepared: dict[str, str] = field(default_factory=dict)
    """`X-Trino-Prepared-Statement`: name -> SQL text."""
    transaction_id: str | None = None
    """`X-Trino-Transaction-Id`: None when the client sent none (it cannot do transactions), else the
    id or `NONE`."""
    client_capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionProperty:
    name: str
    default: str
    type: str
    description: str

    @property
    def allowed(self) -> tuple[str, ...]:
        """The values of an enum-like property (Trino lists them in the description)."""
        match = re.search(r"Possible values: \[([^\]]*)\]", self.description)
        return tuple(v.strip() for v in match.group(1).split(",")) if match else ()


def _load(name: str) -> dict[str, object]:
    text = resources.files("devstack.trino").joinpath("data", name).read_text(encoding="utf-8")
    loaded: dict[str, object] = json.loads(text)
    return loaded


@functools.cache
def session_properties() -> dict[str, SessionProperty]:
    """Trino 476's system session properties by name."""
    rows = _load("session_properties.json")["rows"]
    assert isinstance(rows, list)
    return {row[0]: SessionProperty(*row) for row in rows}


@functools.cache
def functions() -> tuple[tuple[str, str, str, str, bool, str], ...]:
    """`SHOW FUNCTIONS` rows of Trino 476 (what Trino lists; DuckDB runs the queries)."""
    rows = _load("functions.json")["rows"]
    assert isinstance(rows, list)
    return tuple((str(r[0]), str(r[1]), str(r[2]), str(r[3]), bool(r[4]), str(r[5])) for r in rows)


_INTEGER_TYPES: Final = frozenset({"integer", "bigint", "tinyint", "smallint"})


def check_set_session(name: str, value: str, kind: str, location: tuple[int, int] | None,
                      value_location: tuple[int, int] | None) -> None:
    """Refuse `SET SESSION name = value` as Trino does; `kind` is the literal's kind (string, integer,
    decimal, boolean). Catalog properties (`catalog.name`) do not exist for the emulated connectors."""

    def fail(message: str, where: tuple[int, int] | None) -> QueryFailure:
        prefix = f"line {where[0]}:{where[1]}: " if where else ""
        return QueryFailure(StandardError.INVALID_SESSION_PROPERTY, prefix + message, where)

    prop = session_properties().get(name)
    if prop is None:
        raise fail(f"Session property '{name}' does not exist", location)
    literal_type = {"string": f"varchar({len(value)})", "integer": "integer", "decimal": "decimal",
                    "boolean": "boolean"}.get(kind, kind)
    fits = {
        "boolean": kind == "boolean",
        "varchar": kind == "string",
        "double": kind in ("integer", "decimal", "string"),
    }.get(prop.type, kind == "integer" if prop.type in _INTEGER_TYPES else True)
    if not fits:
        raise fail(f"Unable to set session property '{name}' to '{value}': Cannot cast type {literal_type} to "
                   f"{prop.type}", None)
    if prop.allowed and value.upper() not in prop.allowed:
        raise fail(f"Invalid value [{value}]. Valid values: [{', '.join(prop.allowed)}]", value_location)


def check_reset_session(name: str, location: tuple[int, int] | None) -> None:
    if name not in session_properties():
        prefix = f"line {location[0]}:{location[1]}: " if location else ""
        raise QueryFailure(StandardError.INVALID_SESSION_PROPERTY, f"{prefix}Session property '{name}' does not exist",
                           location)
