"""The statements the emulator runs, as the parser (sql.py) hands them to the engine: one frozen dataclass each.

Queries (SELECT, WITH, VALUES, TABLE) stay text for translate.py; offsets (`start`) point into the
client's text, for Trino's `line:column` error locations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Commit", "Deallocate", "DescribeInput", "DescribeOutput", "Execute", "Explain", "Prepare", "QualifiedName",
    "Query", "ResetSession", "Rollback", "SetSession", "ShowCatalogs", "ShowColumns", "ShowFunctions", "ShowSchemas",
    "ShowSession", "ShowTables", "StartTransaction", "Statement", "Use",
]


@dataclass(frozen=True, slots=True)
class QualifiedName:
    parts: tuple[str, ...]
    start: int

    def __str__(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Query:
    """A query for DuckDB; `parameters` are the texts of EXECUTE ... USING arguments."""

    sql: str
    parameters: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ShowCatalogs:
    like: str | None = None


@dataclass(frozen=True, slots=True)
class ShowSchemas:
    catalog: QualifiedName | None = None
    like: str | None = None
    start: int = 0


@dataclass(frozen=True, slots=True)
class ShowTables:
    schema: QualifiedName | None = None
    like: str | None = None
    start: int = 0


@dataclass(frozen=True, slots=True)
class ShowColumns:
    table: QualifiedName
    like: str | None = None


@dataclass(frozen=True, slots=True)
class ShowSession:
    like: str | None = None
    escape: str | None = None


@dataclass(frozen=True, slots=True)
class ShowFunctions:
    like: str | None = None
    escape: str | None = None


@dataclass(frozen=True, slots=True)
class Use:
    name: QualifiedName
    start: int = 0


@dataclass(frozen=True, slots=True)
class SetSession:
    name: str
    value: str
    kind: str
    """What the value literal is: string, integer, decimal, boolean or other."""
    name_start: int = 0
    value_start: int = 0


@dataclass(frozen=True, slots=True)
class ResetSession:
    name: str
    start: int = 0


@dataclass(frozen=True, slots=True)
class StartTransaction:
    pass


@dataclass(frozen=True, slots=True)
class Commit:
    pass


@dataclass(frozen=True, slots=True)
class Rollback:
    pass


@dataclass(frozen=True, slots=True)
class Prepare:
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class Execute:
    name: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Deallocate:
    name: str


@dataclass(frozen=True, slots=True)
class DescribeOutput:
    name: str


@dataclass(frozen=True, slots=True)
class DescribeInput:
    name: str


@dataclass(frozen=True, slots=True)
class Explain:
    statement: str
    kind: str = "DISTRIBUTED"
    """LOGICAL, DISTRIBUTED, VALIDATE or IO."""
    format: str = "TEXT"
    analyze: bool = False
    options: dict[str, str] = field(default_factory=dict)


Statement = (Query | ShowCatalogs | ShowSchemas | ShowTables | ShowColumns | ShowSession | ShowFunctions | Use
             | SetSession | ResetSession | StartTransaction | Commit | Rollback | Prepare | Execute | Deallocate
             | DescribeOutput | DescribeInput | Explain)
