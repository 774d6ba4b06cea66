"""The `XTrinodeCatalog` resource: one reusable Trino catalog, selected by runtimes by label.

Exactly one typed connector; secrets are Secret references, never plain values.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from xtrinode.models.base import GROUP_VERSION, KubeModel, LabelSelector, ObjectMeta, SecretKeySelector

__all__ = [
    "CONNECTOR_TYPES",
    "ConnectorType",
    "ConnectorBase",
    "JdbcConnector",
    "CustomConnector",
    "Connector",
    "EgressPort",
    "CatalogEgress",
    "XTrinodeCatalogSpec",
    "XTrinodeCatalogStatus",
    "XTrinodeCatalog",
]

ConnectorType = Literal[
    "postgres", "mysql", "tpch", "tpcds", "memory", "blackHole", "iceberg", "hive", "deltaLake", "kafka", "custom"
]
CONNECTOR_TYPES: tuple[ConnectorType, ...] = (
    "postgres",
    "mysql",
    "tpch",
    "tpcds",
    "memory",
    "blackHole",
    "iceberg",
    "hive",
    "deltaLake",
    "kafka",
    "custom",
)
# Trino's connector.name for each typed connector.
TRINO_CONNECTOR_NAMES: dict[str, str] = {
    "postgres": "postgresql",
    "mysql": "mysql",
    "tpch": "tpch",
    "tpcds": "tpcds",
    "memory": "memory",
    "blackHole": "blackhole",
    "iceberg": "iceberg",
    "hive": "hive",
    "deltaLake": "delta_lake",
    "kafka": "kafka",
}
_CATALOG_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConnectorBase(KubeModel):
    properties: dict[str, str] = Field(
        default_factory=dict, description="Trino catalog properties (plain, non-secret values)."
    )
    property_secret_refs: dict[str, SecretKeySelector] = Field(
        default_factory=dict,
        description="Catalog properties whose values come from Secrets, injected as env vars.",
    )


class JdbcConnector(ConnectorBase):
    connection_url: str = Field(alias="connectionURL", min_length=1)
    connection_user: str | None = None
    connection_password_secret: SecretKeySelector | None = None


class CustomConnector(ConnectorBase):
    connector_name: str = Field(min_length=1, description="Trino connector.name.")


class Connector(KubeModel):
    """Exactly one of the typed connectors."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    postgres: JdbcConnector | None = None
    mysql: JdbcConnector | None = None
    tpch: ConnectorBase | None = None
    tpcds: ConnectorBase | None = None
    memory: ConnectorBase | None = None
    black_hole: ConnectorBase | None = None
    iceberg: ConnectorBase | None = None
    hive: ConnectorBase | None = None
    delta_lake: ConnectorBase | None = None
    kafka: ConnectorBase | None = None
    custom: CustomConnector | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Connector:
        chosen = self.chosen_types()
        if len(chosen) != 1:
            raise ValueError(
                f"connector must set exactly one connector type, got {chosen or 'none'}; "
                f"choose one of {', '.join(CONNECTOR_TYPES)}"
            )
        return self

    def chosen_types(self) -> list[str]:
        wire = self.model_dump(by_alias=True, exclude_none=True)
        return [key for key in CONNECTOR_TYPES if key in wire]

    @property
    def type(self) -> ConnectorType:
        return self.chosen_types()[0]  # type: ignore[return-value]

    @property
    def body(self) -> ConnectorBase:
        for name in self.__class__.model_fields:
            value = getattr(self, name)
            if value is not None:
                assert isinstance(value, ConnectorBase)
                return value
        raise AssertionError("validated connector has no body")  # pragma: no cover

    @property
    def trino_connector_name(self) -> str:
        body = self.body
        if isinstance(body, CustomConnector):
            return body.connector_name
        return TRINO_CONNECTOR_NAMES[self.type]


class EgressPort(KubeModel):
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] = "TCP"


class CatalogEgress(KubeModel):
    """A destination the runtime's pods may reach for this catalog (NetworkPolicy egress)."""

    cidr: str | None = None
    namespace_selector: LabelSelector | None = None
    pod_selector: LabelSelector | None = None
    ports: list[EgressPort] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> CatalogEgress:
        if self.cidr is None and self.namespace_selector is None and self.pod_selector is None:
            raise ValueError("egress entry needs cidr, namespaceSelector or podSelector")
        if self.cidr is not None and (self.namespace_selector or self.pod_selector):
            raise ValueError("egress entry sets cidr together with a selector; use separate entries")
        return self


MAX_CATALOG_NAME_LENGTH = 63 - len("trino-catalog-")
"""A catalog's name is part of a label value of its ConfigMap (`trino-catalog-<name>`)."""


class XTrinodeCatalogSpec(KubeModel):
    labels: dict[str, str] = Field(default_factory=dict, description="Labels runtimes select on.")
    catalog_name: str | None = Field(
        default=None,
        description="Trino catalog name; default metadata.name with '-' turned into '_'.",
    )
    connector: Connector
    egress: list[CatalogEgress] = Field(default_factory=list)

    @field_validator("catalog_name")
    @classmethod
    def _catalog_name(cls, value: str | None) -> str | None:
        if value is not None and not _CATALOG_NAME.match(value):
            raise ValueError(
                f"catalogName {value!r} is not a Trino catalog name: use lower-case letters, digits "
                "and '_', starting with a letter"
            )
        return value


class XTrinodeCatalogStatus(KubeModel):
    model_config = ConfigDict(extra="ignore")

    phase: Literal["Pending", "Ready", "Error"] | None = None
    message: str | None = None
    config_map_name: str | None = None


class XTrinodeCatalog(KubeModel):
    model_config = ConfigDict(extra="ignore")

    api_version: Literal["analytics.xtrinode.io/v1"] = GROUP_VERSION  # type: ignore[assignment]
    kind: Literal["XTrinodeCatalog"] = "XTrinodeCatalog"
    metadata: ObjectMeta
    spec: XTrinodeCatalogSpec
    status: XTrinodeCatalogStatus | None = None

    @field_validator("metadata")
    @classmethod
    def _name_fits_labels(cls, meta: ObjectMeta) -> ObjectMeta:
        # The name becomes label values (xtrinode.io/catalog, and app.kubernetes.io/instance
        # 'trino-catalog-<name>' on its ConfigMap): label values are at most 63 characters.
        if len(meta.name) > MAX_CATALOG_NAME_LENGTH:
            raise ValueError(
                f"metadata.name {meta.name!r} has {len(meta.name)} characters, more than the "
                f"{MAX_CATALOG_NAME_LENGTH} that fit in the label 'app.kubernetes.io/instance: trino-catalog-<name>' "
                "(label values are at most 63 characters); choose a shorter name (spec.catalogName sets the "
                "name Trino shows)"
            )
        return meta

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def trino_name(self) -> str:
        """The catalog's name inside Trino (`SHOW CATALOGS`)."""
        if self.spec.catalog_name:
            return self.spec.catalog_name
        return self.metadata.name.replace("-", "_").replace(".", "_")
