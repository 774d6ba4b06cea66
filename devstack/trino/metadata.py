"""What an emulated coordinator can show and select from: catalogs, schemas, tables and their columns.

`tpch` catalogs serve Trino's ten schemas (data from DuckDB, tpch.py); `system` serves `jdbc.*`,
`runtime.*`, `metadata.*` (column lists as Trino 476 has them) and the emulator-only
`emulator.catalog_properties` (SHA-256 of each value, never the value); every catalog has an
`information_schema`. Other connectors (memory, blackhole, postgresql, ...) have an empty `default`.
System tables read live state through the callables given; the engine copies their rows into
per-query DuckDB temporary tables.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from xtrinode.trino_protocol import StandardError

from . import tpch
from .errors import QueryFailure
from .settings import CatalogConfig
from .types import jdbc_column_facts

__all__ = ["Metadata", "NodeRow", "QueryRow", "Table"]

Rows = Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One line of `system.runtime.nodes`."""

    node_id: str
    http_uri: str
    node_version: str
    coordinator: bool
    state: str


@dataclass(frozen=True, slots=True)
class QueryRow:
    """One line of `system.runtime.queries`."""

    query_id: str
    state: str
    user: str
    source: str | None
    query: str
    queued_time_ms: int
    analysis_time_ms: int
    planning_time_ms: int
    created: datetime
    started: datetime | None
    last_heartbeat: datetime
    end: datetime | None
    error_type: str | None
    error_code: str | None


@dataclass(frozen=True, slots=True)
class Table:
    """A table and where its rows come from: `tpch` data in DuckDB, or `rows` of a system table."""

    catalog: str
    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]
    kind: Literal["tpch", "system"]
    rows: Callable[[], Rows] | None = None

    @property
    def qualified(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"

    def column_type(self, name: str) -> str | None:
        for column, type_text in self.columns:
            if column == name:
                return type_text
        return None


def _columns(text: str) -> tuple[tuple[str, str], ...]:
    """`a varchar, b array(varchar)` -> (("a", "varchar"), ("b", "array(varchar)"))."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return tuple((part.strip().split(" ", 1)[0], part.strip().split(" ", 1)[1]) for part in parts)


_PROPERTIES = "catalog_name varchar, property_name varchar, default_value varchar, type varchar, description varchar"
SYSTEM_TABLES: Final = {
    "jdbc": {
        "attributes": "type_cat varchar, type_schem varchar, type_name varchar, attr_name varchar, data_type bigint, "
        "attr_type_name varchar, attr_size bigint, decimal_digits bigint, num_prec_radix bigint, nullable bigint, "
        "remarks varchar, attr_def varchar, sql_data_type bigint, sql_datetime_sub bigint, char_octet_length bigint, "
        "ordinal_position bigint, is_nullable varchar, scope_catalog varchar, scope_schema varchar, "
        "scope_table varchar, source_data_type bigint",
        "catalogs": "table_cat varchar",
        "columns": "table_cat varchar, table_schem varchar, table_name varchar, column_name varchar, data_type bigint, "
        "type_name varchar, column_size bigint, buffer_length bigint, decimal_digits bigint, num_prec_radix bigint, "
        "nullable bigint, remarks varchar, column_def varchar, sql_data_type bigint, sql_datetime_sub bigint, "
        "char_octet_length bigint, ordinal_position bigint, is_nullable varchar, scope_catalog varchar, "
        "scope_schema varchar, scope_table varchar, source_data_type bigint, is_autoincrement varchar, "
        "is_generatedcolumn varchar",
        "procedure_columns": "procedure_cat varchar, procedure_schem varchar, procedure_name varchar, "
        "column_name varchar, column_type bigint, data_type bigint, type_name varchar, precision bigint, "
        "length bigint, scale bigint, radix bigint, nullable bigint, remarks varchar, column_def varchar, "
        "sql_data_type bigint, sql_datetime_sub bigint, char_octet_length bigint, ordinal_position bigint, "
        "is_nullable varchar, specific_name varchar",
        "procedures": "procedure_cat varchar, procedure_schem varchar, procedure_name varchar, remarks varchar, "
        "procedure_type bigint, specific_name varchar",
        "pseudo_columns": "table_cat varchar, table_schem varchar, table_name varchar, column_name varchar, "
        "data_type bigint, column_size bigint, decimal_digits bigint, num_prec_radix bigint, column_usage varchar, "
        "remarks varchar, char_octet_length bigint, is_nullable bigint",
        "schemas": "table_schem varchar, table_catalog varchar",
        "super_tables": "table_cat varchar, table_schem varchar, table_name varchar, supertable_name varchar",
        "super_types": "type_cat varchar, type_schem varchar, type_name varchar, supertype_cat varchar, "
        "supertype_schem varchar, supertype_name varchar",
        "table_types": "table_type varchar",
        "tables": "table_cat varchar, table_schem varchar, table_name varchar, table_type varchar, remarks varchar, "
        "type_cat varchar, type_schem varchar, type_name varchar, self_referencing_col_name varchar, "
        "ref_generation varchar",
        "types": "type_name varchar, data_type bigint, precision bigint, literal_prefix varchar, "
        "literal_suffix varchar, create_params varchar, nullable bigint, case_sensitive boolean, searchable bigint, "
        "unsigned_attribute boolean, fixed_prec_scale boolean, auto_increment boolean, local_type_name varchar, "
        "minimum_scale bigint, maximum_scale bigint, sql_data_type bigint, sql_datetime_sub bigint, "
        "num_prec_radix bigint",
        "udts": "type_cat varchar, type_schem varchar, type_name varchar, class_name varchar, data_type varchar, "
        "remarks varchar, base_type varchar",
    },
    "runtime": {
        "nodes": "node_id varchar, http_uri varchar, node_version varchar, coordinator boolean, state varchar",
        "queries": "query_id varchar, state varchar, user varchar, source varchar, query varchar, "
        "resource_group_id array(varchar), queued_time_ms bigint, analysis_time_ms bigint, planning_time_ms bigint, "
        "created timestamp(3) with time zone, started timestamp(3) with time zone, "
        "last_heartbeat timestamp(3) with time zone, end timestamp(3) with time zone, error_type varchar, "
        "error_code varchar",
        "tasks": "node_id varchar, task_id varchar, stage_id varchar, query_id varchar, state varchar, splits bigint, "
        "queued_splits bigint, running_splits bigint, completed_splits bigint, split_scheduled_time_ms bigint, "
        "split_cpu_time_ms bigint, split_blocked_time_ms bigint, raw_input_bytes bigint, raw_input_rows bigint, "
        "processed_input_bytes bigint, processed_input_rows bigint, output_bytes bigint, output_rows bigint, "
        "physical_input_bytes bigint, physical_written_bytes bigint, created timestamp(3) with time zone, "
        "start timestamp(3) with time zone, last_heartbeat timestamp(3) with time zone, "
        "end timestamp(3) with time zone",
        "transactions": "transaction_id varchar, isolation_level varchar, read_only boolean, "
        "auto_commit_context boolean, create_time timestamp(3) with time zone, idle_time_secs bigint, "
        "written_catalog varchar, catalogs array(varchar)",
    },
    "metadata": {
        "analyze_properties": _PROPERTIES,
        "catalogs": "catalog_name varchar, connector_id varchar, connector_name varchar",
        "column_properties": _PROPERTIES,
        "materialized_view_properties": _PROPERTIES,
        "materialized_views": "catalog_name varchar, schema_name varchar, name varchar, storage_catalog varchar, "
        "storage_schema varchar, storage_table varchar, freshness varchar, "
        "last_fresh_time timestamp(9) with time zone, comment varchar, definition varchar",
        "schema_properties": _PROPERTIES,
        "table_comments": "catalog_name varchar, schema_name varchar, table_name varchar, comment varchar",
        "table_properties": _PROPERTIES,
    },
    "emulator": {
        "catalog_properties": "catalog_name varchar, property_name varchar, from_env boolean, value_sha256 varchar",
    },
}
INFORMATION_SCHEMA: Final = {
    "applicable_roles": "grantee varchar, grantee_type varchar, role_name varchar, is_grantable varchar",
    "columns": "table_catalog varchar, table_schema varchar, table_name varchar, column_name varchar, "
    "ordinal_position bigint, column_default varchar, is_nullable varchar, data_type varchar",
    "enabled_roles": "role_name varchar",
    "roles": "role_name varchar",
    "schemata": "catalog_name varchar, schema_name varchar",
    "table_privileges": "grantor varchar, grantor_type varchar, grantee varchar, grantee_type varchar, "
    "table_catalog varchar, table_schema varchar, table_name varchar, privilege_type varchar, "
    "is_grantable varchar, with_hierarchy varchar",
    "tables": "table_catalog varchar, table_schema varchar, table_name varchar, table_type varchar",
    "views": "table_catalog varchar, table_schema varchar, table_name varchar, view_definition varchar",
}
_JDBC_TYPES: Final = (  # system.jdbc.types rows for the common types (Trino 476): name, code, precision, radix
    ("bigint", -5, 19, 10), ("boolean", 16, None, None), ("char", 2000, None, None), ("date", 91, 14, None),
    ("decimal", 2000, None, None), ("double", 8, 53, 2), ("integer", 4, 10, 10), ("json", 2000, None, None),
    ("real", 7, 24, 2), ("smallint", 5, 5, 10), ("time", 2000, None, None), ("timestamp", 2000, None, None),
    ("timestamp with time zone", 2000, None, None), ("tinyint", -6, 3, 10), ("uuid", 2000, None, None),
    ("varbinary", -3, 2147483647, None), ("varchar", 2000, None, None), ("array", 2003, None, None),
    ("map", 2000, None, None), ("row", 2000, None, None), ("unknown", 2000, None, None),
)


class Metadata:
    """Catalog tree of one node; system tables read live state through the given callables."""

    def __init__(
        self,
        catalogs: Sequence[CatalogConfig],
        nodes: Callable[[], Sequence[NodeRow]],
        queries: Callable[[], Sequence[QueryRow]] = lambda: (),
    ) -> None:
        self._catalogs = {catalog.name: catalog for catalog in catalogs if catalog.name != "system"}
        self._nodes = nodes
        self._queries = queries

    # -- tree -----------------------------------------------------------------------------------------
    def catalog_names(self) -> list[str]:
        return sorted([*self._catalogs, "system"])

    def connector(self, catalog: str) -> str:
        if catalog == "system":
            return "system"
        if catalog not in self._catalogs:
            raise QueryFailure(StandardError.CATALOG_NOT_FOUND, f"Catalog '{catalog}' not found")
        return self._catalogs[catalog].connector_name

    def schema_names(self, catalog: str) -> list[str]:
        connector = self.connector(catalog)
        if connector == "system":
            return ["emulator", "information_schema", "jdbc", "metadata", "runtime"]
        if connector == "tpch":
            return ["information_schema", *tpch.SCHEMAS]
        return ["default", "information_schema"]

    def has_schema(self, catalog: str, schema: str) -> bool:
        return catalog in self.catalog_names() and schema in self.schema_names(catalog)

    def check_schema(self, catalog: str, schema: str) -> None:
        if schema not in self.schema_names(catalog):
            raise QueryFailure(StandardError.SCHEMA_NOT_FOUND, f"Schema '{schema}' does not exist")

    def table_names(self, catalog: str, schema: str) -> list[str]:
        self.check_schema(catalog, schema)
        if schema == "information_schema":
            return sorted(INFORMATION_SCHEMA)
        connector = self.connector(catalog)
        if connector == "system":
            return sorted(SYSTEM_TABLES.get(schema, {}))
        if connector == "tpch":
            return sorted(tpch.TABLES)
        return []

    def table(self, catalog: str, schema: str, name: str) -> Table | None:
        if catalog not in self.catalog_names() or schema not in self.schema_names(catalog):
            return None
        if schema == "information_schema":
            if name not in INFORMATION_SCHEMA:
                return None
            return Table(catalog, schema, name, _columns(INFORMATION_SCHEMA[name]), "system",
                         lambda: self._information_schema_rows(catalog, name))
        connector = self.connector(catalog)
        if connector == "tpch" and name in tpch.TABLES:
            return Table(catalog, schema, name, tuple((c, t) for c, t, _ in tpch.TABLES[name]), "tpch")
        if connector == "system" and name in SYSTEM_TABLES.get(schema, {}):
            return Table(catalog, schema, name, _columns(SYSTEM_TABLES[schema][name]), "system",
                         lambda: self._system_rows(schema, name))
        return None

    def all_tables(self) -> list[Table]:
        tables = []
        for catalog in self.catalog_names():
            for schema in self.schema_names(catalog):
                for name in self.table_names(catalog, schema):
                    table = self.table(catalog, schema, name)
                    if table is not None:
                        tables.append(table)
        return tables

    # -- rows of system tables ------------------------------------------------------------------------------
    def _information_schema_rows(self, catalog: str, name: str) -> Rows:
        tables = [t for t in self.all_tables() if t.catalog == catalog]
        if name == "schemata":
            return [(catalog, schema) for schema in self.schema_names(catalog)]
        if name == "tables":
            return [(t.catalog, t.schema, t.name, "BASE TABLE") for t in tables]
        if name == "columns":
            return [(t.catalog, t.schema, t.name, column, position, None, "YES" if t.kind == "system" else "NO",
                     type_text)
                    for t in tables for position, (column, type_text) in enumerate(t.columns, start=1)]
        if name in ("enabled_roles", "roles", "applicable_roles"):
            return []
        return []

    def _system_rows(self, schema: str, name: str) -> Rows:
        key = f"{schema}.{name}"
        if key == "runtime.nodes":
            return [(n.node_id, n.http_uri, n.node_version, n.coordinator, n.state) for n in self._nodes()]
        if key == "runtime.queries":
            return [(q.query_id, q.state, q.user, q.source, q.query, ["global"], q.queued_time_ms, q.analysis_time_ms,
                     q.planning_time_ms, q.created, q.started, q.last_heartbeat, q.end, q.error_type, q.error_code)
                    for q in self._queries()]
        if key == "metadata.catalogs":
            return [(c, c, self.connector(c)) for c in self.catalog_names()]
        if key == "emulator.catalog_properties":
            return self._catalog_property_rows()
        if key == "jdbc.catalogs":
            return [(c,) for c in self.catalog_names()]
        if key == "jdbc.schemas":
            return [(schema_name, c) for c in self.catalog_names() for schema_name in self.schema_names(c)]
        if key == "jdbc.table_types":
            return [("TABLE",), ("VIEW",)]
        if key == "jdbc.tables":
            return [(t.catalog, t.schema, t.name, "TABLE", None, None, None, None, None, None)
                    for t in self.all_tables()]
        if key == "jdbc.columns":
            return [self._jdbc_column(t, position, column, type_text)
                    for t in self.all_tables() for position, (column, type_text) in enumerate(t.columns, start=1)]
        if key == "jdbc.types":
            return [(type_name, code, precision, None, None, None, 1, False, 3 if code != 2000 else 0, None, False,
                     None, None, 0, 0, None, None, radix) for type_name, code, precision, radix in _JDBC_TYPES]
        return []

    @staticmethod
    def _jdbc_column(table: Table, position: int, column: str, type_text: str) -> tuple[Any, ...]:
        data_type, size, digits, radix, octets = jdbc_column_facts(type_text)
        nullable = 1 if table.kind == "system" else 0
        return (table.catalog, table.schema, table.name, column, data_type, type_text, size, 0, digits, radix,
                nullable, None, None, None, None, octets, position, "YES" if nullable else "NO", None, None, None,
                None, None, None)

    def _catalog_property_rows(self) -> Rows:
        rows = []
        for catalog in sorted(self._catalogs.values(), key=lambda c: c.name):
            for key in sorted(catalog.properties):
                digest = hashlib.sha256(catalog.properties[key].encode()).hexdigest()
                rows.append((catalog.name, key, key in catalog.env_properties, digest))
        return rows


def like_matcher(pattern: str | None, escape: str | None = None) -> Callable[[str], bool]:
    """SQL LIKE (`%`, `_`, optional escape character) as a predicate over names."""
    if pattern is None:
        return lambda _name: True
    regex, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if escape and char == escape and index + 1 < len(pattern):
            regex.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        regex.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    compiled = re.compile("".join(regex), re.S)
    return lambda name: compiled.fullmatch(name) is not None
