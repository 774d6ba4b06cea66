"""Validating OIDC bearer JWTs: signature by a key of the issuer's JWKS (RS256/384/512 only), `iss`,
`aud`, `exp`, `nbf` (with leeway), `sub`, and RFC 7519 NumericDates. Shared by the gateway and the API
server; a refusal is `TokenError` with a short reason (a metric label) and a message without the token.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import jwt

from .errors import TokenError
from .jwks import JwksCache, SigningKey
from .settings import ALLOWED_ALGORITHMS, OAuthSettings

__all__ = ["JwtValidator", "claim_groups", "create_jwt_validator"]

_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
_NUMERIC_DATES = ("exp", "nbf", "iat")


class JwtValidator:
    """`await validate(token)` -> the verified claims; `start()` loads the JWKS and refreshes it."""

    def __init__(self, settings: OAuthSettings, jwks: JwksCache) -> None:
        assert settings.issuer is not None
        self._issuer = settings.issuer
        self._audience = settings.audiences()
        self._leeway = settings.leeway.total_seconds()
        self._algorithms = tuple(a for a in settings.algorithms if a in ALLOWED_ALGORITHMS)
        self.jwks = jwks

    @property
    def ready(self) -> bool:
        return self.jwks.loaded

    async def start(self) -> None:
        await self.jwks.start()

    async def close(self) -> None:
        await self.jwks.close()

    async def validate(self, token: str) -> dict[str, Any]:
        alg, kid = self._header(token)
        return self._checked(token, alg, await self.jwks.get_key(kid))

    def validate_now(self, token: str) -> dict[str, Any] | None:
        """`validate` without waiting: None when the token's key is not loaded (then await `validate`, which
        refetches the JWKS once per cooldown); a bad token raises TokenError as `validate` does."""
        alg, kid = self._header(token)
        signing_key = self.jwks.find(kid)
        return None if signing_key is None else self._checked(token, alg, signing_key)

    def _header(self, token: str) -> tuple[str, str | None]:
        """The token's allowed algorithm and its key id."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise TokenError("malformed", "the bearer token is not a well-formed JWT") from e
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            shown = alg[:16] if isinstance(alg, str) else alg
            raise TokenError(
                "alg_not_allowed",
                f"token algorithm {shown!r} is not allowed; use one of {list(self._algorithms)!r}",
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("malformed", "the token's `kid` header is not a string")
        return alg, kid

    def _checked(self, token: str, alg: str, signing_key: SigningKey) -> dict[str, Any]:
        """The claims of a token signed by `signing_key` (signature, dates, issuer, audience, subject)."""
        if signing_key.alg is not None and signing_key.alg != alg:
            raise TokenError(
                "alg_not_allowed",
                f"token algorithm {alg!r} differs from {signing_key.alg!r} declared by its key",
            )
        claims = self._decode(token, signing_key.key, alg)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenError("no_subject", "the token has no `sub` claim")
        return claims

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        _check_numeric_dates(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS, "verify_sub": False},
            )
        except jwt.ExpiredSignatureError as e:
            raise TokenError("expired", "the token has expired") from e
        except jwt.ImmatureSignatureError as e:
            raise TokenError("not_yet_valid", "the token is not yet valid (nbf or iat)") from e
        except jwt.InvalidIssuerError as e:
            raise TokenError("bad_issuer", f"the token was not issued by {self._issuer!r}") from e
        except jwt.InvalidAudienceError as e:
            raise TokenError(
                "bad_audience", f"the token's audience is not {self._audience!r}"
            ) from e
        except jwt.InvalidSignatureError as e:
            raise TokenError("bad_signature", "the token's signature does not verify") from e
        except jwt.InvalidAlgorithmError as e:
            raise TokenError("alg_not_allowed", "the token's algorithm is not allowed") from e
        except jwt.MissingRequiredClaimError as e:
            raise _missing_claim(e.claim) from e
        except jwt.PyJWTError as e:
            raise TokenError("malformed", f"the token is not valid: {type(e).__name__}") from e
        return claims


def _check_numeric_dates(token: str) -> None:
    """RFC 7519 NumericDate: `exp`, `nbf` and `iat` must be JSON numbers (PyJWT would take "9999999999")."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as e:
        raise TokenError("malformed", f"the token is not valid: {type(e).__name__}") from e
    for claim in _NUMERIC_DATES:
        if claim in claims:
            value = claims[claim]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TokenError("malformed", f"the token's `{claim}` is not a number (RFC 7519 NumericDate)")


def claim_groups(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _missing_claim(claim: str) -> TokenError:
    reason = {"sub": "no_subject", "iss": "bad_issuer", "aud": "bad_audience"}.get(claim)
    if reason == "no_subject":
        return TokenError("no_subject", "the token has no `sub` claim")
    if reason == "bad_issuer":
        return TokenError("bad_issuer", "the token has no `iss` claim")
    if reason == "bad_audience":
        return TokenError("bad_audience", "the token has no `aud` claim")
    return TokenError("malformed", f"the token has no `{claim}` claim")


def create_jwt_validator(
    oauth: OAuthSettings, session: aiohttp.ClientSession, *, unknown_kid_wait: float | None = None
) -> JwtValidator:
    """A validator for `oauth`; `session` fetches discovery and JWKS documents (owned by the caller)."""
    assert oauth.issuer is not None
    jwks = JwksCache(
        session,
        issuer=oauth.issuer,
        jwks_url=oauth.jwks_url,
        refresh_interval=oauth.refresh_interval.total_seconds(),
        unknown_kid_cooldown=oauth.unknown_kid_cooldown.total_seconds(),
        fetch_timeout=oauth.fetch_timeout.total_seconds(),
        algorithms=tuple(a for a in oauth.algorithms if a in ALLOWED_ALGORITHMS),
        unknown_kid_wait=oauth.unknown_kid_wait.total_seconds() if unknown_kid_wait is None else unknown_kid_wait,
    )
    return JwtValidator(oauth, jwks)
