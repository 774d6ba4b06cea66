"""Settings of OIDC bearer-token validation, shared by the gateway (`gateway.auth.oauth`) and the API
server: issuer, audience, JWKS source and refresh, and which claims name the user and the groups.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from xtrinode.durations import Duration

__all__ = ["ALLOWED_ALGORITHMS", "OAuthSettings"]

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "RS384", "RS512")
"""The only JWT algorithms ever accepted: RSA signatures, never `none` or HMAC."""


class _Settings(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


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
