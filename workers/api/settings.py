"""`ApiServerSettings`: the API server's settings, read like every process's (YAML `--config` plus
`XTRINODE_API__<SECTION>__<KEY>` environment overrides; unknown keys are errors that name the key).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from xtrinode.durations import Duration
from xtrinode.oidc import OAuthSettings
from xtrinode.temporal import TemporalSettings

__all__ = ["ENV_PREFIX", "ApiServerSettings", "GroupGrant", "Scope", "TokenSettings"]

ENV_PREFIX = "XTRINODE_API__"

Scope = Literal["read", "resume", "admin"]
"""`read`: list, status, events; `resume`: also resume; `admin`: also suspend (everything)."""


class _Section(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ListenSettings(_Section):
    host: str = Field("0.0.0.0", description="Address to bind.")
    port: int = Field(8081, ge=0, le=65535, description="Port to bind (0 picks a free one).")


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


class KubeSection(_Section):
    kubeconfig: str | None = Field(None, description="Kubeconfig path; None means in-cluster service account.")
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces of the runtimes; empty = all. With a list, the runtime list "
        "reads each of them (a service account limited to them may not list cluster-wide) and no other.")


class TokenSettings(_Section):
    """Bearer tokens from a mounted Secret file, reloaded when it changes."""

    file: str | None = Field(
        None, description="YAML list of {name, token, scopes: [read|resume|admin], namespaces: [..]} "
        "(namespaces absent: all). A deleted file revokes its tokens; an unparsable one keeps the last good.")
    reload_interval: Duration = Field(timedelta(seconds=10), description="How often the file is checked.")


class GroupGrant(_Section):
    """What OIDC principals in `groups` may do, and in which namespaces."""

    groups: list[str] = Field(description="Groups (the token's groups claim) this grant is for.")
    scopes: list[Scope] = Field(description="read, resume or admin.")
    namespaces: list[str] | None = Field(None, description="Namespaces the grant covers; absent: all.")


class AuthSettings(_Section):
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    oauth: OAuthSettings | None = Field(None, description="OIDC bearer tokens (the gateway's validator).")
    group_grants: list[GroupGrant] = Field(default_factory=list, description="OIDC groups -> scopes, namespaces.")

    @model_validator(mode="after")
    def _some_way_in(self) -> AuthSettings:
        if self.tokens.file is None and self.oauth is None:
            raise ValueError("auth needs tokens.file or oauth: the API server never runs without authentication")
        if self.oauth is not None and (not self.oauth.issuer or not self.oauth.audiences()):
            raise ValueError("auth.oauth needs issuer and audience")
        return self


class ApiServerSettings(_Section):
    """Everything `xtrinode api-server` reads."""

    listen: ListenSettings = Field(default_factory=ListenSettings)
    temporal: TemporalSection = Field(default_factory=TemporalSection)
    kube: KubeSection = Field(default_factory=KubeSection)
    auth: AuthSettings
    wait_timeout: Duration = Field(
        timedelta(minutes=10), description="Longest `?wait=true` (the answer is then 202 with the runtime's state).")
    accept_wait: Duration = Field(
        timedelta(seconds=1), description="Without ?wait, how long an action may take to answer 200 before 202.")
    status_concurrency: int = Field(16, ge=1, description="Workflow status queries in parallel for a list.")
    status_timeout: Duration = Field(
        timedelta(seconds=2), description="Longest wait for one workflow's live status; past it the runtime is shown "
        "from its XTrinode status (`live: false`), so one stuck workflow never stalls a list.")
    max_body_bytes: int = Field(16 * 1024, ge=256, description="Largest request body.")
    log_level: str = Field("INFO", description="Python logging level name.")
