"""Settings of gateway authentication, mirroring the chart's `gateway.auth.*` values (camelCase).

Off by default; `apiKey` reads keys from a mounted Secret file (or inline), `oauth` checks RS* JWTs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from xtrinode.durations import Duration
from xtrinode.oidc import ALLOWED_ALGORITHMS, OAuthSettings

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ApiKeySettings",
    "AuthSettings",
    "AuthorizationRule",
    "AuthorizationSettings",
    "ImpersonationSettings",
    "OAuthSettings",
]




class _Settings(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ApiKeySettings(_Settings):
    """Where API keys come from: a mounted Secret file (reloaded when it changes) and/or inline."""

    file: str | None = Field(
        default=None,
        description="Path of the mounted Secret file: a YAML/JSON map key-id -> key, or one "
        "`id:key` per line (`#` comments allowed). Default none.",
    )
    existing_secret: str | None = Field(
        default=None,
        description="Secret holding the keys (the chart's `gateway.auth.apiKeys.existingSecret`); the chart "
        "mounts its `existingSecretKey` and sets `file` to it. Default none.",
    )
    existing_secret_key: str = Field(
        default="api-keys", description="Key of the keys file in `existingSecret`. Default `api-keys`."
    )
    inline: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Keys given directly, key-id -> key (tests and local runs). Default empty.",
    )
    reload_interval: Duration = Field(
        default=timedelta(seconds=10),
        description="How often the file is checked for changes (mtime, size, inode). Default 10s.",
    )
    users: dict[str, str] = Field(
        default_factory=dict,
        description="Key id -> the Trino user its requests run as. Default: the key id itself.",
    )
    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Key id -> groups, matched by authorization and impersonation rules. Default none.",
    )

    @field_validator("reload_interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"reloadInterval must be more than zero, got {value!r}; e.g. '10s'")
        return value


class ImpersonationSettings(_Settings):
    """`auth.impersonation`: who may send an `X-Trino-User` other than their own user."""

    principals: list[str] = Field(
        default_factory=list,
        description="API key ids or JWT subjects that may run queries as any Trino user. Default none.",
    )
    groups: list[str] = Field(
        default_factory=list, description="Groups whose members may run queries as any Trino user."
    )


class AuthorizationRule(_Settings):
    """Who (principals, groups) may use which runtimes (`namespace/name` globs) and routing groups."""

    principals: list[str] = Field(
        default_factory=list, description="API key ids, JWT subjects or Trino users this rule is for."
    )
    groups: list[str] = Field(
        default_factory=list, description="Groups (API key groups or the OIDC groups claim) this rule is for."
    )
    runtimes: list[str] = Field(
        default_factory=list,
        description="Runtimes they may use, as `namespace/name` globs (`team-a/*`).",
    )
    routing_groups: list[str] = Field(
        default_factory=list, description="Routing groups they may use (globs); every runtime of the group."
    )
    admin: bool = Field(
        default=False,
        description="Also see and cancel every query of those runtimes (`/v1/query`, other users' "
        "queries). Default false.",
    )

    @model_validator(mode="after")
    def _complete(self) -> AuthorizationRule:
        if not self.principals and not self.groups:
            raise ValueError("an authorization rule needs `principals` or `groups` (who it is for)")
        if not self.runtimes and not self.routing_groups:
            raise ValueError(
                "an authorization rule needs `runtimes` or `routingGroups` (what they may use); "
                "use runtimes: ['*/*'] for every runtime"
            )
        return self


class AuthorizationSettings(_Settings):
    """`auth.authorization`: with rules present, everything no rule allows is denied."""

    rules: list[AuthorizationRule] = Field(
        default_factory=list,
        description="Allow rules; none means every authenticated principal may use every runtime.",
    )


class AuthSettings(_Settings):
    """`gateway.auth`: off, API keys or OAuth/OIDC bearer JWTs, identities and authorization."""

    enabled: bool = Field(default=False, description="Authenticate requests. Default false.")
    type: Literal["apiKey", "oauth"] = Field(
        default="apiKey", description="`apiKey` or `oauth` (OIDC bearer JWT). Default apiKey."
    )
    api_keys: ApiKeySettings = Field(default_factory=ApiKeySettings)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    impersonation: ImpersonationSettings = Field(default_factory=ImpersonationSettings)
    authorization: AuthorizationSettings = Field(default_factory=AuthorizationSettings)

    @model_validator(mode="after")
    def _complete_for_type(self) -> AuthSettings:
        if not self.enabled:
            return self
        if self.type == "apiKey" and self.api_keys.existing_secret and self.api_keys.file is None:
            raise ValueError(
                f"auth.apiKeys.existingSecret is {self.api_keys.existing_secret!r} but auth.apiKeys.file is not "
                "set; mount the Secret and set file to its key's path (the chart does)"
            )
        if self.type == "apiKey" and self.api_keys.file is None and not self.api_keys.inline:
            raise ValueError(
                "auth.type is 'apiKey' but auth.apiKeys has neither `file` nor `inline` keys; "
                "set auth.apiKeys.file to the mounted Secret"
            )
        if self.type == "oauth":
            if not self.oauth.issuer:
                raise ValueError("auth.type is 'oauth' but auth.oauth.issuer is not set")
            if not self.oauth.audiences():
                raise ValueError("auth.type is 'oauth' but auth.oauth.audience is not set")
        return self
