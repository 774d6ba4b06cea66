"""XTrinodeCatalog rules: exactly one known connector, immutable type, no plaintext secrets.

Checks: secret-looking property names (and names that only describe a secret), passwords embedded in
JDBC URLs and property values, `${ENV:...}` placeholders, properties duplicated in propertySecretRefs,
several or unknown connectors, connector type and custom connectorName changes on UPDATE.
Secret values never appear in a reason.
"""

from __future__ import annotations

from typing import Any

import pytest
from admission_builders import catalog_request, postgres

from xtrinode.admission import evaluate
from xtrinode.admission.catalog_rules import embeds_password, looks_secret

SECRET = "s3cr3t-value"


@pytest.mark.parametrize(
    "name",
    [
        "password", "connection-password", "hive.s3.aws-access-key", "hive.s3.aws-secret-key",
        "s3.aws-secret-key", "hive.azure.abfs-access-key", "hive.gcs.json-key", "private-key",
        "snowflake.private-key-passphrase", "iceberg.rest-catalog.oauth2.token",
        "iceberg.rest-catalog.oauth2.credential", "bigquery.credentials-key", "apiKey", "api_key",
        "kafka.ssl.keystore.password", "hive.metastore.thrift.client.ssl.key-password", "client-secret",
        "sas-token",
    ],
)  # fmt: skip
def test_secret_looking_property_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name",
    [
        "connection-url", "connection-user", "hive.s3.sse.kms-key-id", "bigquery.credentials-file",
        "hive.gcs.json-key-file-path", "iceberg.rest-catalog.oauth2.token-refresh-enabled",
        "redis.key-prefix-schema-table", "hive.metastore.thrift.client.ssl.key", "tpch.splits-per-node",
        "kafka.table-names", "password-authenticator.config-files", "hive.s3.aws-access-key-provider",
    ],
)  # fmt: skip
def test_names_that_only_describe_a_secret_are_not_secrets(name: str) -> None:
    assert not looks_secret(name)


@pytest.mark.parametrize(
    ("value", "embedded"),
    [
        ("jdbc:postgresql://db:5432/x?user=a&password=b", True),
        ("jdbc:sqlserver://db;user=a;PWD=b", True),
        ("jdbc:mysql://a:b@db:3306/x", True),
        ('org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";', True),
        ("jdbc:postgresql://db:5432/x?password=${ENV:DB_PASSWORD}", False),
        ("jdbc:mysql://db:3306/x?useSSL=true", False),
        ("jdbc:postgresql://db:5432/x", False),
    ],
)
def test_embedded_passwords(value: str, embedded: bool) -> None:
    assert embeds_password(value) is embedded


REJECTIONS = [
    pytest.param(postgres(properties={"password": SECRET}), "spec.connector.postgres.properties.password", ["'password'", "connectionPasswordSecret"], id="jdbc-password-property"),
    pytest.param(postgres(properties={"connection-password": SECRET}), "spec.connector.postgres.properties['connection-password']", ["plain text", "connectionPasswordSecret"], id="jdbc-connection-password-property"),
    pytest.param({"connector": {"hive": {"properties": {"hive.s3.aws-secret-key": SECRET}}}}, "spec.connector.hive.properties['hive.s3.aws-secret-key']", ["ConfigMap", "propertySecretRefs['hive.s3.aws-secret-key']"], id="hive-secret-key"),
    pytest.param({"connector": {"iceberg": {"properties": {"iceberg.rest-catalog.oauth2.token": SECRET}}}}, "spec.connector.iceberg.properties['iceberg.rest-catalog.oauth2.token']", ["propertySecretRefs"], id="iceberg-token"),
    pytest.param({"connector": {"custom": {"connectorName": "snowflake", "properties": {"snowflake.private-key": SECRET}}}}, "spec.connector.custom.properties['snowflake.private-key']", ["propertySecretRefs"], id="custom-private-key"),
    pytest.param(postgres(connectionURL=f"jdbc:postgresql://db/x?user=a&password={SECRET}"), "spec.connector.postgres.connectionURL", ["embeds a password", "connectionPasswordSecret"], id="password-in-jdbc-url"),
    pytest.param(postgres(connectionURL=f"jdbc:postgresql://a:{SECRET}@db/x"), "spec.connector.postgres.connectionURL", ["embeds a password"], id="password-in-url-userinfo"),
    pytest.param({"connector": {"custom": {"connectorName": "sqlserver", "properties": {"connection-url": f"jdbc:sqlserver://db;password={SECRET}"}}}}, "spec.connector.custom.properties['connection-url']", ["embeds a password", "propertySecretRefs['password']"], id="password-in-property-value"),
    pytest.param({"connector": {"hive": {"properties": {"hive.s3.aws-access-key": "AKIA"}, "propertySecretRefs": {"hive.s3.aws-access-key": {"name": "s3", "key": "id"}}}}}, "spec.connector.hive.properties['hive.s3.aws-access-key']", ["both", "propertySecretRefs['hive.s3.aws-access-key']"], id="property-also-in-secret-refs"),
    pytest.param({"connector": {"postgres": {"connectionURL": "jdbc:postgresql://db/x"}, "mysql": {"connectionURL": "jdbc:mysql://db/x"}}}, "spec.connector", ["2 connector types", "postgres, mysql", "exactly one", "another XTrinodeCatalog"], id="two-connectors"),
    pytest.param({"connector": {}}, "spec.connector", ["no connector type", "postgres", "custom"], id="no-connector"),
    pytest.param({"connector": {"postgresql": {"connectionURL": "jdbc:postgresql://db/x"}}}, "spec.connector.postgresql", ["'postgresql'", "did you mean 'postgres'", "custom"], id="unknown-connector"),
]


@pytest.mark.parametrize(("spec", "path", "fragments"), REJECTIONS)
def test_catalog_rejections_name_the_field_and_the_alternative(
    spec: dict[str, Any], path: str, fragments: list[str]
) -> None:
    result = evaluate(catalog_request(spec))
    assert not result.allowed
    matching = [r for r in result.reasons if r.startswith(f"{path}: ")]
    assert len(matching) == 1, result.reasons
    for fragment in fragments:
        assert fragment in matching[0], (fragment, matching[0])
    assert all(SECRET not in reason for reason in result.reasons)


def test_secret_in_a_non_string_property_is_not_echoed_by_the_schema_check() -> None:
    result = evaluate(catalog_request(postgres(properties={"max-connections": 123456789})))
    assert not result.allowed
    assert all("123456789" not in reason for reason in result.reasons), result.reasons


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(postgres(), id="postgres-with-password-secret"),
        pytest.param(postgres(properties={"password": "${ENV:ORDERS_PASSWORD}"}), id="env-placeholder"),
        pytest.param({"connector": {"hive": {"properties": {"hive.s3.sse.kms-key-id": "abc", "hive.metastore.uri": "thrift://hms:9083"}, "propertySecretRefs": {"hive.s3.aws-secret-key": {"name": "s3", "key": "secret"}}}}}, id="hive-with-secret-refs"),
        pytest.param({"connector": {"custom": {"connectorName": "clickhouse", "properties": {"connection-url": "jdbc:clickhouse://ch:8123/db"}}}}, id="custom-connector"),
    ],
)
def test_catalogs_without_plaintext_secrets_are_allowed(spec: dict[str, Any]) -> None:
    result = evaluate(catalog_request(spec))
    assert result.allowed, result.reasons


def test_changing_the_connector_type_is_rejected() -> None:
    new = {"connector": {"mysql": {"connectionURL": "jdbc:mysql://db:3306/x"}}}
    result = evaluate(catalog_request(new, old_spec=postgres()))
    assert not result.allowed
    [reason] = result.reasons
    assert reason.startswith("spec.connector: changes the connector type from 'postgres' to 'mysql'")
    assert "immutable" in reason and "create a new XTrinodeCatalog" in reason


def test_changing_a_custom_connector_name_is_rejected() -> None:
    old = {"connector": {"custom": {"connectorName": "clickhouse"}}}
    new = {"connector": {"custom": {"connectorName": "druid"}}}
    [reason] = evaluate(catalog_request(new, old_spec=old)).reasons
    assert reason.startswith("spec.connector.custom.connectorName: changes from 'clickhouse' to 'druid'")


def test_changing_properties_of_the_same_connector_is_allowed() -> None:
    new = postgres(properties={"case-insensitive-name-matching": "true"})
    assert evaluate(catalog_request(new, old_spec=postgres())).allowed


def test_more_than_one_connector_is_reported_once() -> None:
    spec = {"connector": {"tpch": {}, "tpcds": {}}}
    assert len(evaluate(catalog_request(spec)).reasons) == 1
