"""Catalog ConfigMaps, the Secret env vars they need, and which catalogs a runtime selects.

Each catalog renders to ConfigMap `trino-catalog-<c>` with one file `<trino_name>.properties`. Its content
depends on the catalog alone, so every runtime of the namespace that selects the catalog renders the same
object: the ConfigMap is owned by its XTrinodeCatalog (not by any runtime), lives as long as the catalog,
and the catalog's `status.configMapName` names exactly one object. Runtime deletion never removes a catalog
another runtime still mounts.

Secret values never appear: a property backed by a Secret is written `${ENV:CATALOG_<C>_<PROP>}` and
the pods get that variable from a `secretKeyRef`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from xtrinode.models import JdbcConnector, SecretKeySelector, XTrinode, XTrinodeCatalog
from xtrinode.render.config import properties_text
from xtrinode.render.metadata import (
    APP_NAME,
    LABEL_CATALOG,
    LABEL_COMPONENT,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    MANAGED_BY,
    Manifest,
    owner_references,
)
from xtrinode.render.names import catalog_config_map_name, catalog_env_name
from xtrinode.render.settings import RenderError, RenderSettings

__all__ = [
    "SecretEnv",
    "RenderedCatalog",
    "CatalogBundle",
    "select_catalogs",
    "catalog_properties",
    "catalog_secret_env",
    "render_catalog",
    "render_catalog_config_map",
    "render_catalogs",
    "env_var",
]

CONNECTION_PASSWORD = "connection-password"


class SecretEnv(NamedTuple):
    """One environment variable filled from a Secret key."""

    name: str
    secret: SecretKeySelector


class RenderedCatalog(NamedTuple):
    """A catalog's ConfigMap and the container `env` entries (secretKeyRef) its placeholders need."""

    config_map: Manifest
    env: list[dict[str, Any]]


class CatalogBundle(NamedTuple):
    """All selected catalogs of a runtime, ready for the pod templates."""

    config_maps: list[Manifest]
    env: list[SecretEnv]


def select_catalogs(runtime: XTrinode, catalogs: Iterable[XTrinodeCatalog]) -> list[XTrinodeCatalog]:
    """Catalogs of the runtime's namespace whose `spec.labels` match `spec.catalogSelector`, by name.

    No selector selects nothing; an empty selector (`{}`) selects every catalog of the namespace,
    as with Kubernetes label selectors.
    """
    selector = runtime.spec.catalog_selector
    if selector is None:
        return []
    chosen = [c for c in catalogs if c.namespace == runtime.namespace and selector.matches(c.spec.labels)]
    return sorted(chosen, key=lambda c: c.name)


def catalog_secret_env(catalog: XTrinodeCatalog) -> list[SecretEnv]:
    """The Secret-backed properties of a catalog as env vars, sorted by property."""
    body = catalog.spec.connector.body
    refs: dict[str, SecretKeySelector] = {}
    if isinstance(body, JdbcConnector) and body.connection_password_secret is not None:
        refs[CONNECTION_PASSWORD] = body.connection_password_secret
    refs.update(body.property_secret_refs)
    env: dict[str, SecretEnv] = {}
    for prop in sorted(refs):
        name = catalog_env_name(catalog.trino_name, prop)
        if name in env and env[name].secret != refs[prop]:
            raise RenderError(
                f"catalog {catalog.name!r}: secret properties map to the same variable {name!r}; "
                "rename one of them so they differ in letters or digits"
            )
        env[name] = SecretEnv(name, refs[prop])
    return list(env.values())


def catalog_properties(catalog: XTrinodeCatalog) -> dict[str, str]:
    """Trino catalog properties; Secret-backed ones are `${ENV:...}` placeholders.

    Precedence: `properties` < typed fields (connector.name, JDBC connection settings) < Secret refs.
    """
    connector = catalog.spec.connector
    body = connector.body
    props = dict(body.properties)
    props["connector.name"] = connector.trino_connector_name
    if isinstance(body, JdbcConnector):
        props["connection-url"] = body.connection_url
        if body.connection_user is not None:
            props["connection-user"] = body.connection_user
    if isinstance(body, JdbcConnector) and body.connection_password_secret is not None:
        props[CONNECTION_PASSWORD] = "${ENV:" + catalog_env_name(catalog.trino_name, CONNECTION_PASSWORD) + "}"
    for prop in body.property_secret_refs:
        props[prop] = "${ENV:" + catalog_env_name(catalog.trino_name, prop) + "}"
    return props


def render_catalog_config_map(catalog: XTrinodeCatalog) -> Manifest:
    """ConfigMap `trino-catalog-<c>`, owned by the catalog, with `<trino_name>.properties`."""
    name = catalog_config_map_name(catalog)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": catalog.namespace,
        "labels": {
            LABEL_NAME: APP_NAME,
            LABEL_INSTANCE: name,
            LABEL_COMPONENT: "catalog",
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_CATALOG: catalog.name,
        },
    }
    refs = owner_references(catalog)
    if refs:
        meta["ownerReferences"] = refs
    config_map: Manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {f"{catalog.trino_name}.properties": properties_text(catalog_properties(catalog))},
    }
    return config_map


def render_catalog(
    catalog: XTrinodeCatalog,
    runtime: XTrinode | None = None,
    settings: RenderSettings | None = None,
) -> RenderedCatalog:
    """`(config_map, env)` of one catalog: its ConfigMap and the container env entries it needs.

    The result depends on the catalog alone (see the module docstring); `runtime` and `settings` are
    accepted so call sites can pass the context they have, and are not used.
    """
    del runtime, settings
    return RenderedCatalog(render_catalog_config_map(catalog), [env_var(e) for e in catalog_secret_env(catalog)])


def render_catalogs(catalogs: Sequence[XTrinodeCatalog]) -> CatalogBundle:
    """Render selected catalogs; two catalogs with one Trino name are an error (Trino would refuse)."""
    seen: dict[str, str] = {}
    config_maps: list[Manifest] = []
    env: dict[str, SecretEnv] = {}
    owners: dict[str, str] = {}
    for catalog in sorted(catalogs, key=lambda c: c.name):
        if catalog.trino_name in seen:
            raise RenderError(
                f"catalogs {seen[catalog.trino_name]!r} and {catalog.name!r} both define Trino catalog "
                f"{catalog.trino_name!r}; give one a different spec.catalogName or narrow catalogSelector"
            )
        seen[catalog.trino_name] = catalog.name
        config_maps.append(render_catalog_config_map(catalog))
        for var in catalog_secret_env(catalog):
            if var.name in env and env[var.name].secret != var.secret:
                raise RenderError(
                    f"catalog {catalog.name!r}: secret variable {var.name!r} is also used by catalog "
                    f"{owners[var.name]!r} for another Secret key; rename a property or a catalog"
                )
            env[var.name] = var
            owners[var.name] = catalog.name
    return CatalogBundle(config_maps, [env[name] for name in sorted(env)])


def env_var(env: SecretEnv) -> dict[str, Any]:
    """The container `env` entry of a Secret-backed variable."""
    return {
        "name": env.name,
        "valueFrom": {"secretKeyRef": {"name": env.secret.name, "key": env.secret.key}},
    }
