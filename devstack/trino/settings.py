"""Settings of one emulated Trino node: what the rendered Trino files say plus emulator knobs.

Built by `config.load_settings` from a config directory and CLI flags, or directly by tests.
Durations are `timedelta`; every field names its unit and default.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AccessControl",
    "CatalogConfig",
    "JwtAuth",
    "NodeSettings",
    "PasswordAuth",
    "SystemInformationRule",
]

DEFAULT_VERSION = "476"


class CatalogConfig(BaseModel):
    """One `catalog/<name>.properties` file, placeholders already resolved.

    `properties` may hold secret values resolved from `${ENV:...}`: the model hides them
    from `repr`, and nothing logs them.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    connector_name: str
    properties: dict[str, str] = Field(default_factory=dict, repr=False)
    env_properties: frozenset[str] = Field(
        default_factory=frozenset, description="property names whose value came from ${ENV:...}"
    )


class PasswordAuth(BaseModel):
    """`http-server.authentication.type=PASSWORD` with the `file` password authenticator.

    `users` maps a user name to its Trino password-file hash (PBKDF2 `iterations:salt:hash`).
    """

    model_config = ConfigDict(frozen=True)

    users: dict[str, str] = Field(default_factory=dict, repr=False)
    allow_insecure_over_http: bool = Field(
        False, description="`http-server.authentication.allow-insecure-over-http` (default false)"
    )


class JwtAuth(BaseModel):
    """`JWT` (`http-server.authentication.jwt.*`) or `OAUTH2` bearer tokens checked against a JWKS URL.

    For OAUTH2 the audience is the client id (plus `additional-audiences`) and the JWKS URL comes from
    `oauth2.jwks-url` or the issuer's discovery document, read on first use.
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["JWT", "OAUTH2"] = "JWT"
    jwks_url: str | None = Field(None, description="`jwt.key-file` (a JWKS URL) or `oauth2.jwks-url`")
    issuer: str | None = Field(None, description="`jwt.required-issuer` / `oauth2.issuer`: required `iss`")
    audiences: tuple[str, ...] = Field((), description="accepted `aud` values; empty: `aud` not checked")
    principal_field: str = Field("sub", description="claim naming the user (`principal-field`, default sub)")


class SystemInformationRule(BaseModel):
    """A `system_information` entry of file-based access control: `user` regex and `allow` list."""

    model_config = ConfigDict(frozen=True)

    user: str = ".*"
    allow: tuple[Literal["read", "write"], ...] = ()

    @field_validator("user")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"system_information user {value!r} is not a valid regular expression: {e}") from e
        return value


class AccessControl(BaseModel):
    """`access-control.properties`: `allow-all`, `default` (no management writes) or `file` rules.

    With no file the node uses `default`, as Trino does: everything but user impersonation and graceful
    shutdown is allowed, so `PUT /v1/info/state` answers 403 `Management only resource` (checked against
    Trino 476 with no access control configured and with file rules granting system_information write).
    """

    model_config = ConfigDict(frozen=True)

    name: Literal["allow-all", "default", "file"] = "allow-all"
    system_information: tuple[SystemInformationRule, ...] = ()

    def can_write_system_information(self, user: str) -> bool:
        if self.name == "allow-all":
            return True
        if self.name == "default":
            return False
        for rule in self.system_information:
            if re.fullmatch(rule.user, user):
                return "write" in rule.allow
        return False


def _new_node_id() -> str:
    return str(uuid.uuid4())


class NodeSettings(BaseModel):
    """Everything one emulated node needs; defaults make a single-node coordinator with tpch."""

    model_config = ConfigDict(frozen=True)

    coordinator: bool = Field(True, description="`coordinator=` in config.properties")
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8080, description="`http-server.http.port`; 0 picks a free port")
    environment: str = Field("test", description="`node.environment`")
    node_id: str = Field(default_factory=_new_node_id, description="`node.id` (default a random UUID)")
    internal_address: str | None = Field(
        None, description="`node.internal-address`; default the bind host (127.0.0.1 for 0.0.0.0)"
    )
    version: str = Field(DEFAULT_VERSION, description="reported `nodeVersion.version`")
    discovery_uri: str | None = Field(None, description="`discovery.uri`; workers announce there")
    catalogs: tuple[CatalogConfig, ...] = Field(
        (CatalogConfig(name="tpch", connector_name="tpch"),),
        description="catalog files; `system` is always added",
    )
    shutdown_grace_period: timedelta = Field(
        timedelta(minutes=2), description="`shutdown.grace-period` (default 2m)"
    )
    required_workers: int = Field(1, ge=0, description="`query-manager.required-workers` (default 1)")
    required_workers_max_wait: timedelta = Field(
        timedelta(minutes=5), description="`query-manager.required-workers-max-wait` (default 5m)"
    )
    include_coordinator: bool = Field(
        True, description="`node-scheduler.include-coordinator` (default true): the coordinator counts as a worker"
    )
    process_forwarded: bool = Field(False, description="`http-server.process-forwarded` (default false)")
    password_auth: PasswordAuth | None = Field(None, description="PASSWORD authentication, or none")
    bearer_auth: tuple[JwtAuth, ...] = Field((), description="JWT and OAUTH2 authenticators, in configured order")
    allow_insecure_over_http: bool = Field(
        False, description="`http-server.authentication.allow-insecure-over-http` (default false)")
    shared_secret_set: bool = Field(False, description="whether `internal-communication.shared-secret` is set")
    groups: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="user -> groups from the `file` group provider (group-provider.properties)")
    access_control: AccessControl | None = Field(
        None, description="None: allow-all without authentication, `default` with it"
    )
    query_client_timeout: timedelta = Field(
        timedelta(minutes=5), description="`query.client.timeout`: a query nobody polls fails ABANDONED_QUERY"
    )
    task_client_timeout: timedelta = Field(
        timedelta(minutes=2), description="`task.client.timeout`: a worker drops a task not refreshed this long"
    )
    max_query_history: int = Field(100, description="`query.max-history`: finished queries kept")
    startup_delay: timedelta = Field(timedelta(0), description="`starting` stays true this long after start")
    page_rows: int | None = Field(
        None, ge=1, description="rows per result page (emulator knob); default None: pages sized by bytes, as Trino"
    )
    target_result_size: int = Field(
        1 << 20, ge=1024, description="bytes of row data per page unless the client asks `targetResultSize` (1 MB, "
        "Trino's default)"
    )
    tpch_cache_dir: Path | None = Field(
        None, description="where generated tpch scales are cached (default $XTRINODE_CACHE_DIR, "
        "$XDG_CACHE_HOME/xtrinode or ~/.cache/xtrinode, under tpch-duckdb-<version>)"
    )
    announce_interval: timedelta = Field(timedelta(seconds=5), description="worker announce period")
    announce_expiry: timedelta = Field(timedelta(seconds=30), description="an announcement lives this long")
    node_poll_interval: timedelta = Field(
        timedelta(seconds=5), description="coordinator polls announced nodes' /v1/info this often"
    )

    @property
    def authentication_enabled(self) -> bool:
        return self.password_auth is not None or bool(self.bearer_auth)

    @property
    def effective_access_control(self) -> AccessControl:
        if self.access_control is not None:
            return self.access_control
        return AccessControl(name="default")

    @property
    def advertised_host(self) -> str:
        if self.internal_address:
            return self.internal_address
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
