"""Settings of gateway authentication, mirroring the chart's `gateway.auth.*` values (camelCase).

Off by default; `apiKey` reads keys from a mounted Secret file (or inline), `oauth` checks RS* JWTs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from xtrinode.durations import Duration

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ApiKeySettings",
    "AuthSettings",
    "AuthorizationRule",
    "AuthorizationSettings",
    "ImpersonationSettings",
    "OAuthSettings",
]

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "RS384", "RS512")
"""The only JWT algorithms ever accepted: RSA signatures, never `none` or HMAC."""


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


class OAuthSettings(_Settings):
    """OIDC bearer JWTs: where the signing keys are and what the tokens must say."""

    issuer: str | None = Field(
        default=None,
        description="Expected `iss`; also the base of discovery (`<issuer>/.well-known/"
        "openid-configuration`) when jwksURL is not set. Required when oauth is used.",
    )
    audience: str | list[str] | None = Field(
        default=None, description="Expected `aud` (one of these). Required when oauth is used."
    )
    jwks_url: str | None = Field(
        default=None,
        alias="jwksURL",
        description="Explicit JWKS URL; default none means issuer discovery.",
    )
    refresh_interval: Duration = Field(
        default=timedelta(hours=1), description="How often the JWKS is refetched. Default 1h."
    )
    unknown_kid_cooldown: Duration = Field(
        default=timedelta(seconds=5),
        description="At most one JWKS refetch per this period on tokens with an unknown `kid`; a "
        "token that arrives during it waits for the refetch at its end, so a newly published key "
        "is accepted within this period. Default 5s.",
    )
    unknown_kid_wait: Duration = Field(
        default=timedelta(seconds=5),
        description="A token with an unknown `kid` during the cooldown waits for the refetch at the "
        "cooldown's end when that is at most this far away; else it is refused at once. Default 5s.",
    )
    leeway: Duration = Field(
        default=timedelta(seconds=60),
        description="Clock skew allowed on `exp`, `nbf` and `iat`. Default 60s.",
    )
    fetch_timeout: Duration = Field(
        default=timedelta(seconds=5),
        description="Total timeout of one discovery or JWKS HTTP request. Default 5s.",
    )
    user_claim: str = Field(
        default="sub",
        description="Claim whose value is the Trino user of a token's requests (e.g. "
        "`preferred_username`, `email`). Default `sub`.",
    )
    groups_claim: str = Field(
        default="groups",
        description="Claim holding the caller's groups (a list of strings, or one string), matched by "
        "authorization and impersonation rules. Default `groups`.",
    )
    algorithms: list[str] = Field(
        default_factory=lambda: list(ALLOWED_ALGORITHMS),
        description="Accepted `alg` values; only RS256, RS384 and RS512 may be listed. "
        "Default all three.",
    )

    @field_validator("algorithms")
    @classmethod
    def _rsa_only(cls, value: list[str]) -> list[str]:
        bad = [alg for alg in value if alg not in ALLOWED_ALGORITHMS]
        if bad:
            raise ValueError(
                f"algorithms {bad!r} are not allowed; list only {list(ALLOWED_ALGORITHMS)!r}"
            )
        if not value:
            raise ValueError(f"algorithms is empty; list some of {list(ALLOWED_ALGORITHMS)!r}")
        return value

    @field_validator("refresh_interval", "unknown_kid_cooldown", "fetch_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"duration must be more than zero, got {value!r}; e.g. '30s'")
        return value

    def audiences(self) -> list[str]:
        """The configured audience as a list (empty when unset)."""
        if self.audience is None:
            return []
        return [self.audience] if isinstance(self.audience, str) else list(self.audience)


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
