"""Catalog ConfigMaps and their Secret env vars.

Checks: `catalog_env_name` normalisation; `trino-catalog-<c>` holds `<trino_name>.properties` with
connector.name and properties for typed, JDBC and custom connectors; the JDBC password and every
propertySecretRef appear only as `${ENV:CATALOG_<C>_<PROP>}` with a matching secretKeyRef; precedence of
typed fields and Secret refs over plain properties; the ConfigMap is the same whichever runtime renders
it; duplicate Trino catalog names and clashing env names are render errors.
"""

from __future__ import annotations

import pytest
from render_testkit import PG, SELECT_TEAM_A, build_catalog, build_runtime, one, parse_properties

from xtrinode.render import RenderError, catalog_env_name, catalog_properties, render_catalog, render_runtime


@pytest.mark.parametrize(
    "catalog,prop,expected",
    [
        ("sales", "connection-password", "CATALOG_SALES_CONNECTION_PASSWORD"),
        ("sales_db", "hive.s3.aws-secret-key", "CATALOG_SALES_DB_HIVE_S3_AWS_SECRET_KEY"),
        ("Mixed-Case", "a/b c", "CATALOG_MIXED_CASE_A_B_C"),
    ],
)
def test_catalog_env_name_is_upper_case_with_underscores(catalog: str, prop: str, expected: str) -> None:
    assert catalog_env_name(catalog, prop) == expected


def test_catalog_password_appears_only_as_env_placeholder() -> None:
    rendered = render_catalog(build_catalog("sales-db", PG))
    cm = rendered.config_map
    assert cm["metadata"]["name"] == "trino-catalog-sales-db"
    (filename,) = cm["data"]
    assert filename == "sales_db.properties"
    props = parse_properties(cm["data"][filename])
    assert props == {
        "connector.name": "postgresql",
        "connection-url": "jdbc:postgresql://db:5432/sales",
        "connection-user": "trino",
        "connection-password": "${ENV:CATALOG_SALES_DB_CONNECTION_PASSWORD}",
        "connection-ssl-key-password": "${ENV:CATALOG_SALES_DB_CONNECTION_SSL_KEY_PASSWORD}",
        "case-insensitive-name-matching": "true",
    }
    cm_again, env = render_catalog(build_catalog("sales-db", PG), build_runtime(), None)
    assert cm_again == cm
    assert env == [
        {"name": "CATALOG_SALES_DB_CONNECTION_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}},
        {"name": "CATALOG_SALES_DB_CONNECTION_SSL_KEY_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "ssl"}}},
    ]


@pytest.mark.parametrize(
    "connector,name",
    [
        ({"tpch": {}}, "tpch"),
        ({"tpcds": {}}, "tpcds"),
        ({"memory": {}}, "memory"),
        ({"blackHole": {}}, "blackhole"),
        ({"iceberg": {"properties": {"iceberg.catalog.type": "rest"}}}, "iceberg"),
        ({"hive": {"properties": {"hive.metastore.uri": "thrift://hms:9083"}}}, "hive"),
        ({"deltaLake": {}}, "delta_lake"),
        ({"kafka": {}}, "kafka"),
        ({"mysql": {"connectionURL": "jdbc:mysql://db:3306"}}, "mysql"),
        ({"custom": {"connectorName": "clickhouse", "properties": {"connection-url": "jdbc:clickhouse://ch"}}}, "clickhouse"),
    ],
)
def test_connector_name_for_every_connector_type(connector: dict[str, object], name: str) -> None:
    props = catalog_properties(build_catalog("c", connector))
    assert props["connector.name"] == name


def test_secret_refs_override_plain_properties_and_typed_fields_win() -> None:
    connector = {
        "iceberg": {
            "properties": {"s3.aws-secret-key": "plain", "connector.name": "wrong"},
            "propertySecretRefs": {"s3.aws-secret-key": {"name": "s3", "key": "secret"}},
        }
    }
    props = catalog_properties(build_catalog("lake", connector))
    assert props["s3.aws-secret-key"] == "${ENV:CATALOG_LAKE_S3_AWS_SECRET_KEY}"
    assert props["connector.name"] == "iceberg"


def test_catalog_name_override_names_file_and_env() -> None:
    rendered = render_catalog(build_catalog("sales-db", PG, catalogName="sales"))
    assert list(rendered.config_map["data"]) == ["sales.properties"]
    assert rendered.env[0]["name"] == "CATALOG_SALES_CONNECTION_PASSWORD"


def test_catalog_config_map_is_the_same_for_every_runtime() -> None:
    catalog = build_catalog("pg", PG)
    a = render_runtime(build_runtime("a", catalogSelector=SELECT_TEAM_A), [catalog])
    b = render_runtime(build_runtime("b", uid="uid-b", catalogSelector=SELECT_TEAM_A), [catalog])
    assert one(a, "ConfigMap", "trino-catalog-pg") == one(b, "ConfigMap", "trino-catalog-pg")


def test_two_catalogs_with_one_trino_name_are_a_render_error() -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A)
    catalogs = [build_catalog("sales-db"), build_catalog("other", catalogName="sales_db")]
    with pytest.raises(RenderError, match="'sales_db'"):
        render_runtime(runtime, catalogs)


def test_secret_properties_clashing_on_env_name_are_a_render_error() -> None:
    connector = {
        "tpch": {
            "propertySecretRefs": {
                "a.b": {"name": "s", "key": "one"},
                "a-b": {"name": "s", "key": "two"},
            }
        }
    }
    with pytest.raises(RenderError, match="CATALOG_C_A_B"):
        render_catalog(build_catalog("c", connector))


def test_env_names_clashing_across_catalogs_are_a_render_error() -> None:
    runtime = build_runtime(catalogSelector=SELECT_TEAM_A)
    first = build_catalog("a_b", {"tpch": {"propertySecretRefs": {"c": {"name": "s", "key": "one"}}}})
    second = build_catalog("a", {"tpch": {"propertySecretRefs": {"b_c": {"name": "s", "key": "two"}}}})
    with pytest.raises(RenderError, match="CATALOG_A_B_C"):
        render_runtime(runtime, [first, second])
