"""Names of everything rendered for a runtime, its URLs, and catalog env var names.

The single place that knows `trino-<n>-coordinator` and friends; other packages import these helpers.
"""

from __future__ import annotations

import re
from xtrinode.models import XTrinode, XTrinodeCatalog
from xtrinode.render.settings import RenderSettings

__all__ = [
    "runtime_name",
    "service_account_name",
    "service_name",
    "worker_service_name",
    "discovery_service_name",
    "coordinator_deployment_name",
    "worker_deployment_name",
    "scaled_object_name",
    "network_policy_name",
    "pdb_name",
    "config_map_prefix",
    "catalog_config_map_name",
    "catalog_env_name",
    "service_port",
    "coordinator_service_url",
    "discovery_service_url",
]

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def runtime_name(runtime: XTrinode | str) -> str:
    """The runtime's metadata.name, from the object or the name itself."""
    return runtime if isinstance(runtime, str) else runtime.name


def service_account_name(runtime: XTrinode | str) -> str:
    return f"trino-{runtime_name(runtime)}"


def service_name(runtime: XTrinode | str) -> str:
    """The coordinator Service (the gateway's backend)."""
    return f"trino-{runtime_name(runtime)}"


def worker_service_name(runtime: XTrinode | str) -> str:
    """The headless Service over worker pods."""
    return f"trino-{runtime_name(runtime)}-workers"


def discovery_service_name(runtime: XTrinode | str) -> str:
    """The Service over the coordinator that also lists it while not ready: the workers' discovery.uri."""
    return f"trino-{runtime_name(runtime)}-discovery"


def coordinator_deployment_name(runtime: XTrinode | str) -> str:
    return f"trino-{runtime_name(runtime)}-coordinator"


def worker_deployment_name(runtime: XTrinode | str) -> str:
    return f"trino-{runtime_name(runtime)}-worker"


def scaled_object_name(runtime: XTrinode | str) -> str:
    return f"trino-{runtime_name(runtime)}-workers"


def network_policy_name(runtime: XTrinode | str) -> str:
    return f"trino-{runtime_name(runtime)}"


def pdb_name(runtime: XTrinode | str, role: str) -> str:
    """PodDisruptionBudget of one role (`coordinator` or `worker`)."""
    return f"trino-{runtime_name(runtime)}-{role}"


def config_map_prefix(runtime: XTrinode | str, role: str) -> str:
    """Config ConfigMaps are `<prefix>-<hash10>`; the lifecycle prunes old ones by this prefix."""
    return f"trino-{runtime_name(runtime)}-{role}"


def catalog_config_map_name(catalog: XTrinodeCatalog | str) -> str:
    """`trino-catalog-<c>`, shared by every runtime of the namespace that selects the catalog."""
    name = catalog if isinstance(catalog, str) else catalog.name
    return f"trino-catalog-{name}"


def catalog_env_name(catalog_name: str, prop: str) -> str:
    """`CATALOG_<C>_<PROP>`: upper case, every character other than A-Z and 0-9 turned into '_'."""
    return "CATALOG_" + _NOT_ALNUM.sub("_", catalog_name.upper()) + "_" + _NOT_ALNUM.sub("_", prop.upper())


def service_port(runtime: XTrinode, settings: RenderSettings | None = None) -> int:
    """The coordinator Service port: `valuesOverlay.service.port`, else the Trino HTTP port."""
    from xtrinode.render.overlay import overlay

    settings = settings or RenderSettings()
    service = overlay(runtime).service
    return service.port if service is not None and service.port is not None else settings.trino_http_port


def _service_url(runtime: XTrinode, name: str, port: int, settings: RenderSettings) -> str:
    return f"http://{name}.{runtime.namespace}.svc.{settings.cluster_domain}:{port}"


def coordinator_service_url(runtime: XTrinode, settings: RenderSettings | None = None) -> str:
    """`http://trino-<n>.<ns>.svc.<cluster_domain>:<port>`: the coordinator as pods and the gateway see it."""
    settings = settings or RenderSettings()
    return _service_url(runtime, service_name(runtime), service_port(runtime, settings), settings)


def discovery_service_url(runtime: XTrinode, settings: RenderSettings | None = None) -> str:
    """`http://trino-<n>-discovery.<ns>.svc.<cluster_domain>:<trino port>`: where the workers announce."""
    settings = settings or RenderSettings()
    return _service_url(runtime, discovery_service_name(runtime), settings.trino_http_port, settings)
