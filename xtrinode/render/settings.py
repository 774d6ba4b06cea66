"""Cluster-wide knobs of rendering (namespaces, DNS domain, ports) and the render error.

One `RenderSettings` per process, passed to every render function; defaults match the Helm chart.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RenderSettings", "RenderError"]


class RenderError(ValueError):
    """A spec that can never render to valid manifests (permanent: retrying cannot help)."""


class RenderSettings(BaseModel):
    """Where the rest of XTrinode lives, so rendered objects can reach it and be reached by it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway_namespace: str = Field(
        default="xtrinode-gateway",
        description="Namespace of the gateway; its pods may reach every runtime's HTTP port.",
    )
    control_plane_namespace: str = Field(
        default="xtrinode-system",
        description="Namespace of the operator and lifecycle workers; they make Trino control calls.",
    )
    monitoring_namespace: str = Field(
        default="monitoring",
        description="Namespace of Prometheus; it may scrape the metrics port of every runtime pod.",
    )
    dns_namespace: str = Field(
        default="kube-system",
        description="Namespace of the cluster DNS; runtime pods may reach it on port 53 (UDP and TCP).",
    )
    namespace_label_key: str = Field(
        default="kubernetes.io/metadata.name",
        description="Namespace label whose value is the namespace name; NetworkPolicy "
        "namespaceSelectors match on it (Kubernetes sets it on every namespace since 1.21).",
    )
    cluster_domain: str = Field(
        default="cluster.local", description="Cluster DNS domain used in Service URLs."
    )
    trino_http_port: int = Field(
        default=8080,
        ge=1,
        le=65535,
        description="Trino HTTP port in the pods (http-server.http.port) and default Service port.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port Prometheus scrapes; default None means the Trino HTTP port (Trino serves "
        "/metrics there).",
    )
    environment: str = Field(
        default="xtrinode",
        pattern=r"^[a-z0-9_]+$",
        description="Trino node.environment of every runtime (lower-case letters, digits, '_').",
    )
    release_name: str = Field(
        default="xtrinode",
        description="Helm release name; substituted for {releaseName} in KEDA Prometheus queries.",
    )
    gateway_service: str = Field(
        default="xtrinode-gateway",
        description="Name of the gateway Service in gateway_namespace (KEDA http scaler target).",
    )
    gateway_port: int = Field(
        default=8081, ge=1, le=65535,
        description="Internal port of the gateway Service (demand/load; the KEDA http scaler reads it).",
    )
    gateway_load_path: str = Field(
        default="/v1/xtrinode/load/{namespace}/{xtrinodeName}",
        description="Gateway path answering JSON {\"inflight\": <number>} for one runtime; read by "
        "the KEDA http scaler (metrics-api trigger). {namespace} and {xtrinodeName} are filled in.",
    )

    @property
    def scrape_port(self) -> int:
        """The port the monitoring namespace may reach."""
        return self.metrics_port if self.metrics_port is not None else self.trino_http_port
