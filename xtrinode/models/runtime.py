"""The `XTrinode` resource: one Trino runtime (coordinator, workers, catalogs, route).

SPEC section 1. The CRD schema in deploy/crds/ is generated from these models.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from xtrinode.durations import Duration
from xtrinode.models.base import (
    GROUP_VERSION,
    Condition,
    KubeModel,
    LabelSelector,
    ObjectMeta,
    SecretKeySelector,
)
from xtrinode.models.presets import Size
from xtrinode.quantity import Quantity

__all__ = [
    "DEFAULT_IMAGE_REPOSITORY",
    "DEFAULT_IMAGE_TAG",
    "MAX_WORKERS_LIMIT",
    "Phase",
    "PHASES",
    "ResourceList",
    "RoleResources",
    "Resources",
    "Toleration",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "PreferredSchedulingTerm",
    "NodeAffinity",
    "PodAffinityTerm",
    "WeightedPodAffinityTerm",
    "PodAffinity",
    "Affinity",
    "RolePlacement",
    "Placement",
    "Routing",
    "Image",
    "GracefulShutdown",
    "Keda",
    "SessionLimits",
    "Limits",
    "TrinoControlAuth",
    "XTrinodeSpec",
    "WorkersStatus",
    "WakeStatus",
    "XTrinodeStatus",
    "XTrinode",
    "DATA_SIZE_PATTERN",
    "NAME_MAX_LENGTH",
    "NAME_PATTERN",
    "WORKER_BOUNDS_RULES",
]

DEFAULT_IMAGE_REPOSITORY = "trinodb/trino"
DEFAULT_IMAGE_TAG = "476"
MAX_WORKERS_LIMIT = 500
DATA_SIZE_PATTERN = r"^\d+(\.\d+)?(B|kB|MB|GB|TB|PB)$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAME_MAX_LENGTH = 40
"""An XTrinode's name becomes trino-<name>-coordinator: a DNS label, so at most 40 characters."""
_DNS_LABEL = re.compile(NAME_PATTERN)
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

Phase = Literal[
    "Pending",
    "Provisioning",
    "Ready",
    "Suspending",
    "Suspended",
    "Resuming",
    "Draining",
    "Deleting",
    "Error",
]
PHASES: tuple[Phase, ...] = (
    "Pending",
    "Provisioning",
    "Ready",
    "Suspending",
    "Suspended",
    "Resuming",
    "Draining",
    "Deleting",
    "Error",
)


class ResourceList(KubeModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class RoleResources(KubeModel):
    """Requests and limits for one role; anything left out comes from the size preset."""

    requests: ResourceList = Field(default_factory=ResourceList)
    limits: ResourceList = Field(default_factory=ResourceList)


class Resources(KubeModel):
    coordinator: RoleResources | None = None
    worker: RoleResources | None = None


class Toleration(KubeModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class NodeSelectorRequirement(KubeModel):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] = Field(default_factory=list)


class NodeSelectorTerm(KubeModel):
    match_expressions: list[NodeSelectorRequirement] = Field(default_factory=list)
    match_fields: list[NodeSelectorRequirement] = Field(default_factory=list)


class NodeSelector(KubeModel):
    node_selector_terms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(KubeModel):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(
        default_factory=list
    )


class PodAffinityTerm(KubeModel):
    label_selector: LabelSelector | None = None
    namespaces: list[str] = Field(default_factory=list)
    topology_key: str


class WeightedPodAffinityTerm(KubeModel):
    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(
        default_factory=list
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = Field(
        default_factory=list
    )


class Affinity(KubeModel):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


class RolePlacement(KubeModel):
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    affinity: Affinity | None = None


class Placement(KubeModel):
    coordinator: RolePlacement | None = None
    worker: RolePlacement | None = None


class Routing(KubeModel):
    """How the gateway finds this runtime. At least one selector is required when set."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!(has(self.hostname) && has(self.hostnameDomain))",
         "message": "set hostname (one exact host) or hostnameDomain ('<routingGroup>.<domain>'), not both"},
        {"rule": "has(self.routingGroup) || has(self.hostname) || has(self.hostnameDomain) || has(self.header)"
                 " || (has(self.default) && self.default)",
         "message": "routing sets no selector: set routingGroup, hostname, hostnameDomain, header or "
                    "default: true, or remove spec.routing to route by the group '<namespace>--<name>'"},
    ]})

    routing_group: str | None = Field(
        default=None,
        max_length=253,
        description="Routing group; default '<namespace>--<name>'. The same value on several "
        "runtimes makes a shared pool.",
    )
    hostname: str | None = Field(default=None, max_length=253, description="Exact Host header.")
    hostname_domain: str | None = Field(
        default=None, max_length=253, description="Host header '<routingGroup>.<hostnameDomain>'."
    )
    header: str | None = Field(
        default=None, max_length=253, description="Value matched against header X-Trino-XTrinode."
    )
    default: bool = Field(default=False, description="The cluster-wide default route (one only).")
    capacity_units: int = Field(
        default=1, ge=1, le=1000, description="Weight of this runtime in a shared pool."
    )

    @field_validator("hostname", "hostname_domain")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a DNS name: use lower-case letters, digits, '-' and '.', "
                "for example 'sales.trino.example.com'"
            )
        return value


class Image(KubeModel):
    repository: str = Field(default=DEFAULT_IMAGE_REPOSITORY, min_length=1)
    tag: str = Field(default=DEFAULT_IMAGE_TAG, min_length=1)
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


class GracefulShutdown(KubeModel):
    enabled: bool = True
    grace_period_seconds: int = Field(
        default=120, ge=0, le=3600, description="Trino shutdown.grace-period, seconds."
    )
    max_drain_seconds: int = Field(
        default=600,
        ge=0,
        le=86400,
        description="Upper bound on waiting for running queries during suspend and delete, seconds.",
    )


class Keda(KubeModel):
    enabled: bool = False
    scaler_type: Literal["prometheus", "http"] | None = None
    scaling_metric: Literal["query", "memory", "cpu"] = "query"
    threshold: str | None = Field(
        default=None, description="Target value per worker, as KEDA reads it (string number)."
    )
    prometheus_server: str | None = Field(default=None, description="Prometheus server URL.")
    prometheus_query: str | None = Field(
        default=None,
        description="PromQL with {namespace}, {xtrinodeName} and {releaseName} placeholders.",
    )
    scale_down_cooldown: Duration | None = None
    scale_up_cooldown: Duration | None = None

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if value is not None:
            try:
                float(value)
            except (TypeError, ValueError) as e:
                raise ValueError(f"threshold {value!r} is not a number; write for example '10'") from e
        return value

    @property
    def active(self) -> bool:
        """KEDA drives the workers only when enabled *and* given a scaler (SPEC: else fixed)."""
        if not self.enabled or self.scaler_type is None:
            return False
        if self.scaler_type == "prometheus":
            return bool(self.prometheus_server)
        return True


class SessionLimits(KubeModel):
    max_query_memory: str | None = Field(
        default=None, pattern=DATA_SIZE_PATTERN, description="Trino query.max-memory, e.g. '20GB'."
    )


class Limits(KubeModel):
    session: SessionLimits | None = None


class TrinoControlAuth(KubeModel):
    username: str = Field(default="xtrinode-operator", min_length=1)
    password_secret: SecretKeySelector | None = None


WORKER_BOUNDS_RULES: list[Any] = [
    {"rule": "(has(self.minWorkers) ? self.minWorkers : 0) <= (has(self.maxWorkers) ? self.maxWorkers : 2)",
     "message": "minWorkers is greater than maxWorkers; set minWorkers <= maxWorkers, or raise maxWorkers",
     "fieldPath": ".minWorkers"},
]
"""Cross-field rules the CRD carries as CEL (`x-kubernetes-validations`): the API server refuses them at
apply, before the operator sees the object; the models check the same."""


class XTrinodeSpec(KubeModel):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": WORKER_BOUNDS_RULES})

    size: Size
    min_workers: int = Field(default=0, ge=0, le=MAX_WORKERS_LIMIT)
    max_workers: int = Field(default=2, ge=0, le=MAX_WORKERS_LIMIT)
    suspended: bool = False
    auto_suspend_after: Duration | None = Field(
        default=timedelta(minutes=5),
        description="Idle time before autosuspend; absent means 5m, '0' disables autosuspend.",
    )
    wake_min_workers: int | None = Field(default=None, ge=0, le=MAX_WORKERS_LIMIT)
    wake_ttl: Duration = Field(default=timedelta(minutes=5), alias="wakeTTL")
    resources: Resources | None = None
    placement: Placement | None = None
    routing: Routing | None = None
    catalog_selector: LabelSelector | None = None
    image: Image = Field(default_factory=Image)
    graceful_shutdown: GracefulShutdown = Field(default_factory=GracefulShutdown)
    keda: Keda | None = None
    limits: Limits | None = None
    trino_control_auth: TrinoControlAuth | None = None
    values_overlay: dict[str, Any] | None = Field(
        default=None,
        description="Privileged free-form overrides; gated by admission (update xtrinodes/valuesoverlay).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @model_validator(mode="after")
    def _bounds(self) -> XTrinodeSpec:
        if self.min_workers > self.max_workers:
            raise ValueError(
                f"minWorkers ({self.min_workers}) is greater than maxWorkers ({self.max_workers}); "
                "set minWorkers <= maxWorkers"
            )
        return self

    @property
    def autosuspend_enabled(self) -> bool:
        return self.auto_suspend_after is not None and self.auto_suspend_after > timedelta(0)

    @property
    def keda_active(self) -> bool:
        return self.keda is not None and self.keda.active


class WorkersStatus(KubeModel):
    ready: int = 0
    desired: int = 0


class WakeStatus(KubeModel):
    min_workers: int = 0
    expires_at: datetime | None = None


class XTrinodeStatus(KubeModel):
    model_config = ConfigDict(extra="ignore")

    phase: Phase = "Pending"
    observed_generation: int | None = None
    coordinator_url: str | None = Field(default=None, alias="coordinatorURL")
    workers: WorkersStatus = Field(default_factory=WorkersStatus)
    last_activity: datetime | None = None
    wake: WakeStatus | None = None
    observed_catalogs: list[str] = Field(default_factory=list)
    workflow_id: str | None = None
    message: str | None = None
    conditions: list[Condition] = Field(default_factory=list)


class XTrinode(KubeModel):
    """An XTrinode object as the API server stores it."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["analytics.xtrinode.io/v1"] = GROUP_VERSION  # type: ignore[assignment]
    kind: Literal["XTrinode"] = "XTrinode"
    metadata: ObjectMeta
    spec: XTrinodeSpec
    status: XTrinodeStatus | None = None

    @field_validator("metadata")
    @classmethod
    def _name(cls, meta: ObjectMeta) -> ObjectMeta:
        # Object names become Service and Deployment names: trino-<name>-coordinator must be a DNS label.
        if not _DNS_LABEL.match(meta.name) or len(meta.name) > NAME_MAX_LENGTH:
            raise ValueError(
                f"metadata.name {meta.name!r} must be a DNS label of at most 40 characters "
                "(lower-case letters, digits and '-'), because it names Services and Deployments"
            )
        return meta

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def routing_group(self) -> str:
        routing = self.spec.routing
        if routing is not None and routing.routing_group:
            return routing.routing_group
        return f"{self.namespace}--{self.name}"

    @property
    def workflow_id(self) -> str:
        return f"xtrinode/{self.namespace}/{self.name}"
