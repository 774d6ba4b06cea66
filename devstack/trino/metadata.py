"""What the emulated node can show and select from: catalogs, schemas, tables with typed columns.

`tpch` catalogs serve nation and region; `system` serves `runtime.nodes`, `metadata.catalogs`
and the emulator-only `emulator.catalog_properties` (SHA-256 of each value, never the value).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xtrinode.trino_protocol import StandardError

from . import tpch
from .errors import QueryFailure
from .settings import CatalogConfig

__all__ = ["Metadata", "NodeRow", "Table"]

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
class Table:
    catalog: str
    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]
    rows: Callable[[], Rows]

    @property
    def qualified(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"

    def column_type(self, name: str) -> str | None:
        for column, type_text in self.columns:
            if column == name:
                return type_text
        return None


def _constant(rows: Rows) -> Callable[[], Rows]:
    return lambda: rows


class Metadata:
    """Catalog tree of one node; system tables read live state through the given callables."""

    def __init__(self, catalogs: Sequence[CatalogConfig], nodes: Callable[[], Sequence[NodeRow]]) -> None:
        self._catalogs = {catalog.name: catalog for catalog in catalogs if catalog.name != "system"}
        self._nodes = nodes

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

    def check_schema(self, catalog: str, schema: str) -> None:
        if schema not in self.schema_names(catalog):
            raise QueryFailure(StandardError.SCHEMA_NOT_FOUND, f"Schema '{schema}' does not exist")

    def table_names(self, catalog: str, schema: str) -> list[str]:
        self.check_schema(catalog, schema)
        return sorted(name for (c, s, name) in self._all_table_keys() if c == catalog and s == schema)

    def table(self, catalog: str, schema: str, name: str) -> Table | None:
        connector = self._catalogs[catalog].connector_name if catalog in self._catalogs else catalog
        if connector == "tpch" and schema in tpch.SCHEMAS:
            if name == "nation":
                return Table(catalog, schema, name, tpch.NATION_COLUMNS, _constant(tpch.NATION_ROWS))
            if name == "region":
                return Table(catalog, schema, name, tpch.REGION_COLUMNS, _constant(tpch.REGION_ROWS))
        if catalog == "system":
            return self._system_table(schema, name)
        return None

    def _all_table_keys(self) -> list[tuple[str, str, str]]:
        keys = [("system", "runtime", "nodes"), ("system", "metadata", "catalogs"),
                ("system", "emulator", "catalog_properties")]
        for catalog in self._catalogs.values():
            if catalog.connector_name == "tpch":
                keys += [(catalog.name, schema, table) for schema in tpch.SCHEMAS for table in ("nation", "region")]
        return keys

    def _system_table(self, schema: str, name: str) -> Table | None:
        columns: tuple[tuple[str, str], ...]
        if (schema, name) == ("runtime", "nodes"):
            columns = (("node_id", "varchar"), ("http_uri", "varchar"), ("node_version", "varchar"),
                       ("coordinator", "boolean"), ("state", "varchar"))
            return Table("system", schema, name, columns, lambda: [
                (n.node_id, n.http_uri, n.node_version, n.coordinator, n.state) for n in self._nodes()
            ])
        if (schema, name) == ("metadata", "catalogs"):
            columns = (("catalog_name", "varchar"), ("connector_id", "varchar"), ("connector_name", "varchar"))
            return Table("system", schema, name, columns, lambda: [
                (c, c, self.connector(c)) for c in self.catalog_names()
            ])
        if (schema, name) == ("emulator", "catalog_properties"):
            columns = (("catalog_name", "varchar"), ("property_name", "varchar"), ("from_env", "boolean"),
                       ("value_sha256", "varchar"))
            return Table("system", schema, name, columns, self._catalog_property_rows)
        return None

    def _catalog_property_rows(self) -> Rows:
        rows = []
        for catalog in sorted(self._catalogs.values(), key=lambda c: c.name):
            for key in sorted(catalog.properties):
                digest = hashlib.sha256(catalog.properties[key].encode()).hexdigest()
                rows.append((catalog.name, key, key in catalog.env_properties, digest))
        return rows
