"""Services and PodDisruptionBudgets of a runtime.

`trino-<n>` (ClusterIP, port `http`) fronts the coordinator for the gateway and the coordinator's own
discovery lookups; `trino-<n>-discovery` (ClusterIP, `publishNotReadyAddresses`) is where the workers
announce, from the moment the coordinator's HTTP server answers; `trino-<n>-workers` is headless over
the workers. PDBs keep the coordinator up during voluntary disruptions and let workers leave one at a
time (each drains through its preStop hook).
"""

from __future__ import annotations

from xtrinode.models import XTrinode
from xtrinode.render.metadata import Manifest, runtime_metadata, selector_labels
from xtrinode.render.names import (
    discovery_service_name,
    pdb_name,
    service_name,
    service_port,
    worker_service_name,
)
from xtrinode.render.settings import RenderSettings

__all__ = ["render_coordinator_service", "render_discovery_service", "render_worker_service", "render_pdbs"]


def _http_service(runtime: XTrinode, name: str, role: str, port: int, **spec: object) -> Manifest:
    """A Service `name` over the pods of `role`, one TCP port `http` -> the container's `http`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": runtime_metadata(runtime, name, role),
        "spec": {
            **spec,
            "selector": selector_labels(runtime, role),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def render_coordinator_service(runtime: XTrinode, settings: RenderSettings) -> Manifest:
    """ClusterIP Service `trino-<n>` over the coordinator pod."""
    return _http_service(runtime, service_name(runtime), "coordinator", service_port(runtime, settings),
                         type="ClusterIP")


def render_discovery_service(runtime: XTrinode, settings: RenderSettings) -> Manifest:
    """ClusterIP Service `trino-<n>-discovery` over the coordinator pod, ready or not.

    Trino's coordinator looks its workers up in its own discovery server every 10 s (airlift's fixed
    refresh) and, on its first lookup, sees every worker that has announced by then. Its lookups go
    through `trino-<n>`, which routes only once the coordinator is Ready; the workers announce here,
    which routes as soon as its HTTP server answers, so workers that started with it are in its first
    lookup instead of the next one 10 s later (a resume's first query waited for that refresh).
    """
    return _http_service(runtime, discovery_service_name(runtime), "coordinator", settings.trino_http_port,
                         type="ClusterIP", publishNotReadyAddresses=True)


def render_worker_service(runtime: XTrinode, settings: RenderSettings) -> Manifest:
    """Headless Service `trino-<n>-workers`: stable DNS for each worker pod."""
    return _http_service(runtime, worker_service_name(runtime), "worker", settings.trino_http_port, clusterIP="None")


def render_pdbs(runtime: XTrinode) -> list[Manifest]:
    """Coordinator: minAvailable 1 (no voluntary eviction of a running one). Workers: maxUnavailable 1."""
    out: list[Manifest] = []
    for role, budget in (("coordinator", {"minAvailable": 1}), ("worker", {"maxUnavailable": 1})):
        out.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": runtime_metadata(runtime, pdb_name(runtime, role), role),
                "spec": {**budget, "selector": {"matchLabels": selector_labels(runtime, role)}},
            }
        )
    return out
