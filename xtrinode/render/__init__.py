"""Pure rendering: one XTrinode plus its catalogs -> the Kubernetes manifests of that runtime.

No I/O: activities apply what these functions return. SPEC section 2; names live in `names`.
"""

from xtrinode.render.catalogs import (
    CatalogBundle,
    RenderedCatalog,
    SecretEnv,
    catalog_properties,
    catalog_secret_env,
    render_catalog,
    render_catalog_config_map,
    select_catalogs,
)
from xtrinode.render.config import role_config_data
from xtrinode.render.keda import desired_workers, keda_query
from xtrinode.render.metadata import CONFIG_HASH_ANNOTATION, SECRET_REFS_ANNOTATION, Manifest, content_hash
from xtrinode.render.names import (
    catalog_config_map_name,
    catalog_env_name,
    config_map_prefix,
    coordinator_deployment_name,
    coordinator_service_url,
    discovery_service_name,
    discovery_service_url,
    network_policy_name,
    scaled_object_name,
    service_account_name,
    service_name,
    service_port,
    worker_deployment_name,
    worker_service_name,
)
from xtrinode.render.resources import ROLES, Role, jvm_heap, jvm_heap_bytes, resolve_resources
from xtrinode.render.runtime import manifests_to_yaml, render_runtime, runtime_secret_references
from xtrinode.render.settings import RenderError, RenderSettings

__all__ = [
    "CONFIG_HASH_ANNOTATION",
    "SECRET_REFS_ANNOTATION",
    "ROLES",
    "CatalogBundle",
    "Manifest",
    "RenderError",
    "RenderSettings",
    "RenderedCatalog",
    "Role",
    "SecretEnv",
    "catalog_config_map_name",
    "catalog_env_name",
    "catalog_properties",
    "catalog_secret_env",
    "config_map_prefix",
    "content_hash",
    "coordinator_deployment_name",
    "coordinator_service_url",
    "desired_workers",
    "discovery_service_name",
    "discovery_service_url",
    "jvm_heap",
    "jvm_heap_bytes",
    "keda_query",
    "manifests_to_yaml",
    "network_policy_name",
    "render_catalog",
    "render_catalog_config_map",
    "render_runtime",
    "resolve_resources",
    "role_config_data",
    "runtime_secret_references",
    "scaled_object_name",
    "select_catalogs",
    "service_account_name",
    "service_name",
    "service_port",
    "worker_deployment_name",
    "worker_service_name",
]
