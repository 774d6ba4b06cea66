"""Settings of gateway authentication, mirroring the chart's `gateway.auth.*` values (camelCase).

Off by default; `apiKey` reads keys from a mounted Secret file (or inline), `oauth` checks RS* JWTs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from xtrinode.durations import Duration

__all__ = ["ALLOWED_ALGORITHMS", "ApiKeySettings", "AuthSettings", "OAuthSettings"]

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
        default=timedelta(seconds=30),
        description="At most one JWKS refetch per this period on tokens with an unknown `kid`. "
        "Default 30s.",
    )
    leeway: Duration = Field(
        default=timedelta(seconds=60),
        description="Clock skew allowed on `exp`, `nbf` and `iat`. Default 60s.",
    )
    fetch_timeout: Duration = Field(
        default=timedelta(seconds=5),
        description="Total timeout of one discovery or JWKS HTTP request. Default 5s.",
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


class AuthSettings(_Settings):
    """`gateway.auth`: off, API keys or OAuth/OIDC bearer JWTs, plus the X-Trino-User rule."""

    enabled: bool = Field(default=False, description="Authenticate requests. Default false.")
    type: Literal["apiKey", "oauth"] = Field(
        default="apiKey", description="`apiKey` or `oauth` (OIDC bearer JWT). Default apiKey."
    )
    api_keys: ApiKeySettings = Field(default_factory=ApiKeySettings)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    require_user_match: bool = Field(
        default=False,
        description="When set, a request that sends X-Trino-User must name the authenticated "
        "principal (API key id or JWT subject). Default false.",
    )

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
