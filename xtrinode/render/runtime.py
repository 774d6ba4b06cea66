"""`render_runtime`: one XTrinode and its catalogs in, every manifest of the runtime out, in apply order.

Pure and deterministic: the same input gives the same list, and `manifests_to_yaml` the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from xtrinode.models import SecretKeySelector, XTrinode, XTrinodeCatalog
from xtrinode.render.catalogs import render_catalogs, select_catalogs
from xtrinode.render.config import render_config_map
from xtrinode.render.keda import render_scaled_object
from xtrinode.render.metadata import Manifest
from xtrinode.render.network import render_network_policy
from xtrinode.render.services import (
    render_coordinator_service,
    render_discovery_service,
    render_pdbs,
    render_worker_service,
)
from xtrinode.render.settings import RenderSettings
from xtrinode.render.workloads import render_deployment, render_service_account, secret_references

__all__ = ["render_runtime", "runtime_secret_references", "manifests_to_yaml"]


def render_runtime(
    runtime: XTrinode,
    catalogs: Sequence[XTrinodeCatalog],
    settings: RenderSettings | None = None,
    *,
    secret_versions: Mapping[str, str] | None = None,
) -> list[Manifest]:
    """Every manifest of `runtime`, in apply order.

    `catalogs` may be all catalogs of the namespace: only those `spec.catalogSelector` selects are
    rendered. `secret_versions` maps Secret name -> resourceVersion for the Secrets the pods read
    (see `runtime_secret_references`); a changed version changes the config-hash annotation and rolls
    the pods. Names of other Secrets are ignored; Secret values are never an input.
    Order: ServiceAccount, catalog ConfigMaps, config ConfigMaps, Services, Deployments, PDBs,
    NetworkPolicy, ScaledObject (when KEDA is active and the runtime is not suspended).
    """
    settings = settings or RenderSettings()
    selected = select_catalogs(runtime, catalogs)
    bundle = render_catalogs(selected)
    coordinator_config = render_config_map(runtime, "coordinator", settings)
    worker_config = render_config_map(runtime, "worker", settings)
    manifests: list[Manifest] = [
        render_service_account(runtime),
        *bundle.config_maps,
        coordinator_config,
        worker_config,
        render_coordinator_service(runtime, settings),
        render_discovery_service(runtime, settings),
        render_worker_service(runtime, settings),
        render_deployment(runtime, "coordinator", coordinator_config, bundle, settings, secret_versions),
        render_deployment(runtime, "worker", worker_config, bundle, settings, secret_versions),
        *render_pdbs(runtime),
        render_network_policy(runtime, selected, settings),
    ]
    scaled_object = render_scaled_object(runtime, settings)
    if scaled_object is not None:
        manifests.append(scaled_object)
    # A JSON round trip: no two places share a nested object (callers may patch one safely), and
    # everything returned is plain JSON data.
    result: list[Manifest] = json.loads(json.dumps(manifests))
    return result


def runtime_secret_references(runtime: XTrinode, catalogs: Sequence[XTrinodeCatalog]) -> list[SecretKeySelector]:
    """Secret keys the runtime's pods read (selected catalogs and control auth): fetch their versions."""
    return secret_references(runtime, render_catalogs(select_catalogs(runtime, catalogs)))


_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    """No anchors or aliases; multi-line strings (config files) as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def manifests_to_yaml(manifests: Iterable[Mapping[str, Any]]) -> str:
    """Multi-document YAML with sorted keys: byte-identical for equal manifests."""
    return yaml.dump_all(
        [dict(m) for m in manifests],
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        explicit_start=True,
        width=100,
    )
