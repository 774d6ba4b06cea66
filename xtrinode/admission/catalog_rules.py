"""Rejection rules for an `XTrinodeCatalog`: one known connector, immutable type, no plaintext secrets.

Catalog properties land in a ConfigMap, so anything that looks like a secret must come from a Secret.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from xtrinode.admission.findings import Change, Report, get
from xtrinode.models.catalog import CONNECTOR_TYPES

__all__ = [
    "CATALOG_RULES",
    "looks_secret",
    "embeds_password",
    "connector_types",
    "check_connector_count",
    "check_connector_type_change",
    "check_plaintext_secrets",
    "check_secret_namespaces",
]

_JDBC_TYPES = ("postgres", "mysql")
_CHOICES = ", ".join(CONNECTOR_TYPES)
_SECRET_WORDS = {
    "password", "passwd", "pwd", "passphrase", "secret", "token", "credential", "credentials",
    "apikey", "accesskey", "secretkey", "privatekey",
}  # fmt: skip
# `key` is a secret only after one of these (access-key, secret-key, private-key, json-key...).
_KEY_QUALIFIERS = {"access", "secret", "private", "api", "json", "account", "master", "encryption", "signing",
                   "shared", "client", "sas", "auth", "credentials", "credential"}  # fmt: skip
# A name ending in one of these describes a secret (where it is, whether it is on), it is not one.
_DESCRIPTORS = {
    "path", "file", "files", "location", "dir", "directory", "enabled", "enable", "type", "id", "name",
    "names", "prefix", "suffix", "column", "columns", "url", "uri", "provider", "class", "user", "username",
    "role", "region", "endpoint", "header", "ttl", "timeout", "duration", "interval", "mode", "format",
    "pattern", "size", "length", "expiration", "refresh", "scope", "scopes", "audience",
}  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")
_PLACEHOLDER = re.compile(r"^\$\{(ENV|FILE):[^}]+\}$")
_PASSWORD_ASSIGNMENT = re.compile(r"(?i)\b(password|passwd|pwd)\s*=\s*(?!\$\{)[\"']?[^&;\s\"']")
_URL_USERINFO_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


def _tokens(name: str) -> list[str]:
    return [t for t in _SPLIT.split(_CAMEL.sub("-", name).lower()) if t]


def looks_secret(name: str) -> bool:
    """True for property names like `connection-password`, `hive.s3.aws-secret-key`, `oauth2.token`."""
    tokens = _tokens(name)
    if not tokens or tokens[-1] in _DESCRIPTORS:
        return False
    for index, token in enumerate(tokens):
        if token in _SECRET_WORDS:
            return True
        if token == "key" and index > 0 and tokens[index - 1] in _KEY_QUALIFIERS:
            return True
    return False


def embeds_password(value: str) -> bool:
    """True for `...?user=a&password=b`, `;pwd=b`, `password="b"` and `scheme://user:b@host`."""
    return bool(_PASSWORD_ASSIGNMENT.search(value) or _URL_USERINFO_PASSWORD.search(value))


def connector_types(spec: Mapping[str, Any] | None) -> list[str] | None:
    """The known connector types set in a catalog spec (in wire spelling); None if there is no connector."""
    connector = get(spec, "connector")
    if not isinstance(connector, Mapping):
        return None
    return [key for key in CONNECTOR_TYPES if connector.get(key) is not None]


def check_connector_count(change: Change, report: Report) -> None:
    """Exactly one connector, and only known connector types."""
    connector = change.spec.get("connector")
    if not isinstance(connector, Mapping):
        return
    unknown = [str(key) for key in connector if key not in CONNECTOR_TYPES]
    for key in unknown:
        close = difflib.get_close_matches(key, CONNECTOR_TYPES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        report.reject(
            ("spec", "connector", key),
            f"{key!r} is not a connector type; {hint}use one of {_CHOICES}, or "
            "custom: {connectorName, properties} for any other Trino connector",
        )
    chosen = connector_types(change.spec) or []
    if len(chosen) > 1:
        report.reject(
            ("spec", "connector"),
            f"sets {len(chosen)} connector types ({', '.join(chosen)}); a catalog has exactly one "
            f"connector: keep one and create another XTrinodeCatalog for {chosen[1]!r}",
        )
    elif not chosen and not unknown:
        report.reject(("spec", "connector"), f"sets no connector type; set exactly one of {_CHOICES}")


def check_connector_type_change(change: Change, report: Report) -> None:
    """The connector type (and a custom connector's connectorName) is immutable."""
    if change.old_spec is None:
        return
    old, new = connector_types(change.old_spec), connector_types(change.spec)
    if not old or not new or len(old) != 1 or len(new) != 1:
        return
    advice = (
        "the connector type is immutable: create a new XTrinodeCatalog with the new connector "
        "(same labels to be selected by the same runtimes) and delete this one"
    )
    if old != new:
        report.reject(("spec", "connector"), f"changes the connector type from {old[0]!r} to {new[0]!r}; {advice}")
        return
    if new[0] == "custom":
        before = get(change.old_spec, "connector", "custom", "connectorName")
        after = get(change.spec, "connector", "custom", "connectorName")
        if isinstance(before, str) and isinstance(after, str) and before != after:
            report.reject(
                ("spec", "connector", "custom", "connectorName"),
                f"changes from {before!r} to {after!r}; {advice}",
            )


def _secret_target(kind: str, name: str) -> str:
    if kind in _JDBC_TYPES and "password" in _tokens(name):
        return f"spec.connector.{kind}.connectionPasswordSecret: {{name, key}}"
    return f"spec.connector.{kind}.propertySecretRefs[{name!r}]: {{name, key}} (a Secret in this namespace)"


def check_plaintext_secrets(change: Change, report: Report) -> None:
    """No secret-looking property names, no passwords in URLs or values (they would land in a ConfigMap)."""
    for kind in connector_types(change.spec) or []:
        body = get(change.spec, "connector", kind)
        base = ("spec", "connector", kind)
        url = get(body, "connectionURL")
        if isinstance(url, str) and embeds_password(url):
            report.reject(
                (*base, "connectionURL"),
                "embeds a password, which would be stored in plain text; remove it from the URL and set "
                f"spec.connector.{kind}.connectionPasswordSecret: {{name, key}} instead",
            )
        properties = get(body, "properties")
        if not isinstance(properties, Mapping):
            continue
        refs = get(body, "propertySecretRefs")
        for raw_name, value in properties.items():
            name = str(raw_name)
            loc = (*base, "properties", name)
            if isinstance(refs, Mapping) and name in refs:
                report.reject(
                    loc, f"is set both here and in propertySecretRefs; keep only propertySecretRefs[{name!r}]"
                )
                continue
            if isinstance(value, str) and _PLACEHOLDER.match(value.strip()):
                continue
            if looks_secret(name):
                # Never echo the value: it is probably a real secret.
                report.reject(
                    loc,
                    f"{name!r} looks like a secret, and properties are stored in plain text in a ConfigMap; "
                    f"move it to {_secret_target(kind, name)}",
                )
            elif isinstance(value, str) and embeds_password(value):
                report.reject(
                    loc,
                    f"{name!r} embeds a password in its value, which would be stored in plain text; remove it "
                    f"and put the password in {_secret_target(kind, 'password')}",
                )


def check_secret_namespaces(change: Change, report: Report) -> None:
    """connectionPasswordSecret and propertySecretRefs name Secrets of the catalog's own namespace."""
    from xtrinode.admission.runtime_rules import secret_in_other_namespace

    for kind in connector_types(change.spec) or []:
        base = ("spec", "connector", kind)
        body = get(change.spec, "connector", kind)
        secret_in_other_namespace(report, (*base, "connectionPasswordSecret"), get(body, "connectionPasswordSecret"),
                                  change.namespace, "the catalog's")
        refs = get(body, "propertySecretRefs")
        if isinstance(refs, Mapping):
            for name, ref in refs.items():
                secret_in_other_namespace(report, (*base, "propertySecretRefs", str(name)), ref, change.namespace,
                                          "the catalog's")


CATALOG_RULES = (check_connector_count, check_connector_type_change, check_plaintext_secrets, check_secret_namespaces)
