"""`GatewaySettings`: the gateway's one settings model, read from YAML whose keys mirror the chart's `gateway:`
(at the top of the file, or under one `gateway:` key exactly as in the chart's values).

Keys are camelCase (`resume.abandonAfter`), durations are strings such as `5m`; environment variables
`XTRINODE_GATEWAY__<SECTION>__<KEY>` (e.g. `XTRINODE_GATEWAY__REDIS__URL`) override the file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from gateway.auth import AuthSettings
from gateway.ratelimit import RateLimitSettings
from xtrinode.durations import Duration
from xtrinode.models.routes import ROUTES_CONFIGMAP, ROUTES_KEY
from xtrinode.settings_files import SettingsError, load_settings_file
from xtrinode.temporal import TemporalSettings

__all__ = ["ENV_PREFIX", "GatewayConfigError", "GatewaySettings", "load_settings"]

ENV_PREFIX = "XTRINODE_GATEWAY__"


class GatewayConfigError(SettingsError):
    """The settings file or an environment override is not usable; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ListenSettings(_Section):
    host: str = Field("0.0.0.0", description="Address to bind.")
    port: int = Field(8080, ge=0, le=65535, description="Port to bind (0 picks a free one, for tests).")


class InternalSettings(_Section):
    host: str = Field("0.0.0.0", description="Address of the internal listener (demand/load for the lifecycle "
                      "worker and KEDA, probes, metrics); keep it off the public Service (NetworkPolicy).")
    port: int = Field(8081, ge=0, le=65535, description="Port of the internal listener (0 picks a free one).")


class RoutesSettings(_Section):
    namespace: str = Field("xtrinode-gateway", description="Namespace of the routes ConfigMap.")
    config_map: str = Field(ROUTES_CONFIGMAP, description="Name of the routes ConfigMap.")
    key: str = Field(ROUTES_KEY, description="Data key holding the route table YAML.")


class _Choice(_Section):
    runtime: str | None = Field(None, description="The runtime chosen: `namespace/name` or its route header value.")
    routing_group: str | None = Field(None, description="Or the routing group chosen (its shared pool).")

    @model_validator(mode="after")
    def _one(self) -> _Choice:
        if (self.runtime is None) == (self.routing_group is None):
            raise ValueError("give exactly one of `runtime` and `routingGroup`")
        return self


class SourceRule(_Choice):
    """Statements whose X-Trino-Source matches `source` (a glob) go to `runtime` or `routingGroup`."""

    source: str = Field(description="Glob on X-Trino-Source, e.g. `airflow*` (trino CLI --source, JDBC source).")


class PrincipalDefault(_Choice):
    """The runtime of principals that name none: by API key id, JWT subject, Trino user or group."""

    principals: list[str] = Field(default_factory=list, description="API key ids, JWT subjects or Trino users.")
    groups: list[str] = Field(default_factory=list, description="Groups (API key groups or the groups claim).")


class RoutingSettings(_Section):
    """Choices for clients that cannot send the X-Trino-XTrinode header (gateway/routing.py, rows 6 and 7)."""

    source_rules: list[SourceRule] = Field(default_factory=list, description="First matching rule wins.")
    principal_defaults: list[PrincipalDefault] = Field(default_factory=list, description="First match wins.")


class KubeSettings(_Section):
    kubeconfig: str | None = Field(None, description="Kubeconfig path; None means in-cluster service account.")
    context: str | None = Field(None, description="Kubeconfig context; None means current-context.")


class RedisSettings(_Section):
    enabled: bool | None = Field(
        None, description="Use Redis (the chart's `gateway.redis.enabled`). Default: when `url` is set.")
    url: str | None = Field(None, description="redis:// URL; None keeps sticky routes and rate limits local.")
    existing_secret: str | None = Field(
        None, description="Secret holding the Redis password. The process does not read it: the chart passes its "
        "key to the gateway as XTRINODE_GATEWAY__REDIS__PASSWORD (never in the settings ConfigMap).")
    existing_secret_key: str = Field("redis-password", description="Key of the password in `existingSecret`.")
    password: SecretStr | None = Field(
        None, description="Redis password (from the environment, e.g. the Secret); wins over none in the URL.")
    key_prefix: str = Field("xtrinode:gateway:", description="Prefix of every key the gateway writes.")
    timeout: Duration = Field(timedelta(milliseconds=500), description="Socket timeout of one command.")
    retry_after: Duration = Field(
        timedelta(seconds=1), description="After a Redis failure, stay local this long before trying again."
    )
    demand_interval: Duration = Field(
        timedelta(seconds=2), description="How often this replica publishes its per-runtime query counts."
    )

    @property
    def active(self) -> bool:
        """Whether the gateway uses Redis."""
        return self.url is not None if self.enabled is None else self.enabled

    @model_validator(mode="after")
    def _usable(self) -> RedisSettings:
        if self.enabled and not self.url:
            raise ValueError("redis.enabled is true but redis.url is not set; set it (redis://host:6379/0)")
        if self.active and self.existing_secret and self.password is None:
            raise ValueError(
                f"redis.existingSecret is {self.existing_secret!r} but no password reached the gateway; set "
                f"XTRINODE_GATEWAY__REDIS__PASSWORD from its key {self.existing_secret_key!r} (the chart does)")
        return self


class TemporalSection(_Section):
    address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    namespace: str = Field("default", description="Temporal namespace.")
    tls: bool = Field(False, description="Use TLS to reach the frontend.")
    tls_ca_file: str | None = Field(None, description="PEM CA of the frontend's certificate (a mounted Secret); implies TLS.")
    tls_cert_file: str | None = Field(None, description="PEM client certificate for mTLS (with tlsKeyFile).")
    tls_key_file: str | None = Field(None, description="PEM key of tlsCertFile.")
    tls_server_name: str | None = Field(None, description="Name to verify in the frontend's certificate.")
    api_key: str | None = Field(None, repr=False, description="Temporal Cloud API key; never logged.")

    def to_temporal(self) -> TemporalSettings:
        return TemporalSettings.model_validate({
            **self.model_dump(by_alias=False, exclude={"api_key"}), "api_key": self.api_key})


class ApiServerLink(_Section):
    url: str | None = Field(None, description="Base URL of the API server, e.g. http://xtrinode-api.xtrinode-system:8081.")
    token_file: str | None = Field(
        None, description="File holding the gateway's API token (a mounted Secret; scope resume); read per resume.")


class ResumeSettings(_Section):
    enabled: bool = Field(True, description="Hold statements and resume suspended runtimes.")
    via: Literal["temporal", "apiServer"] = Field(
        "temporal", description="Ask the workflow directly (Temporal update) or through the API server.")
    api_server: ApiServerLink = Field(default_factory=ApiServerLink)
    timeout: Duration = Field(timedelta(minutes=5), description="Longest wait for a runtime to become Ready.")
    abandon_after: Duration = Field(
        timedelta(seconds=30), description="A held statement nobody polls this long is dropped."
    )
    poll_wait: Duration = Field(timedelta(seconds=1), description="Long-poll of a held statement's QUEUED page.")
    max_update_attempts: int = Field(8, ge=1, description="Attempts of the resume update on retryable errors.")
    @model_validator(mode="after")
    def _link_complete(self) -> ResumeSettings:
        if self.via == "apiServer" and (not self.api_server.url or not self.api_server.token_file):
            raise ValueError("resume.via is apiServer: set resume.apiServer.url and resume.apiServer.tokenFile")
        return self

    settle: Duration = Field(
        timedelta(seconds=10),
        description="After a resume answered Ready, wait at most this long for the route to turn RUNNING before "
        "asking the workflow again (no fixed wait: the route watch ends the wait at once).",
    )


class HealthSettings(_Section):
    interval: Duration = Field(timedelta(seconds=5), description="Period of the /v1/info probes.")
    timeout: Duration = Field(timedelta(seconds=2), description="Timeout of one probe.")


class BreakerSettings(_Section):
    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open a backend's breaker.")
    open_for: Duration = Field(timedelta(seconds=30), description="How long an open breaker refuses new queries.")


class StickySettings(_Section):
    ttl: Duration = Field(timedelta(hours=1), description="Lifetime of a query -> backend mapping in Redis.")
    lru_size: int = Field(100_000, ge=1, description="Mappings kept in the local LRU.")


class InflightSettings(_Section):
    idle_after: Duration = Field(
        timedelta(minutes=5), description="A forwarded query nobody polled this long stops counting as in flight."
    )


class UpstreamSettings(_Section):
    connect_timeout: Duration = Field(timedelta(seconds=5), description="TCP connect timeout to a backend.")
    max_connections_per_backend: int = Field(200, ge=1, description="Keep-alive pool size per backend.")
    max_statement_bytes: int = Field(16 * 1024 * 1024, ge=1, description="Largest SQL text accepted in a POST.")


class GatewaySettings(_Section):
    """Everything the gateway process reads; see the chart's `gateway:` values."""

    listen: ListenSettings = Field(default_factory=ListenSettings)
    internal: InternalSettings = Field(default_factory=InternalSettings)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs of front proxies whose X-Forwarded-* headers are believed (e.g. the ingress "
        "controller's pod range). From anyone else they are dropped and the gateway sets its own.",
    )
    routes: RoutesSettings = Field(default_factory=RoutesSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    kube: KubeSettings = Field(default_factory=KubeSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    temporal: TemporalSection = Field(default_factory=TemporalSection)
    resume: ResumeSettings = Field(default_factory=ResumeSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    sticky: StickySettings = Field(default_factory=StickySettings)
    inflight: InflightSettings = Field(default_factory=InflightSettings)
    upstream: UpstreamSettings = Field(default_factory=UpstreamSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    log_level: str = Field("INFO", description="Python logging level name.")
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="The event loop: uvloop (faster proxying) when installed (auto), or the standard one.")
    access_log: bool = Field(True, description="One JSON line per request on the xtrinode.gateway.access logger.")
    fast_path: bool = Field(
        True, description="Answer statement page polls and new statements from the server's callbacks when nothing "
        "needs waiting for "
        "(gateway/fastpath.py); off: every request runs the full pipeline.")

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as e:
                raise ValueError(f"trustedProxies entry {cidr!r} is not a CIDR such as 10.0.0.0/8: {e}") from e
        return value


def load_settings(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> GatewaySettings:
    """Read the YAML file (optional; its keys at the top or under `gateway:`, as in the chart's values),
    apply `XTRINODE_GATEWAY__*` overrides, validate."""
    try:
        return load_settings_file(GatewaySettings, path, ENV_PREFIX, "gateway", environ, root="gateway")
    except SettingsError as e:
        raise GatewayConfigError(str(e)) from e
