"""The request authenticators behind `create_authenticator`: off, API key and OAuth (JWT).

Each turns an aiohttp request into a `Principal` or raises `AuthError` with a metric reason.
"""

from __future__ import annotations

import abc
from typing import Any

import aiohttp
import jwt
from aiohttp import web

from .apikeys import ApiKeyStore
from .jwks import JwksCache
from .principal import API_KEY_HEADER, AuthError, Principal, bearer_token, checked_credential
from .settings import ALLOWED_ALGORITHMS, ApiKeySettings, AuthSettings, OAuthSettings

__all__ = [
    "ApiKeyAuthenticator",
    "Authenticator",
    "DisabledAuthenticator",
    "OAuthAuthenticator",
    "create_authenticator",
]

_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
_NUMERIC_DATES = ("exp", "nbf", "iat")


class Authenticator(abc.ABC):
    """`start()` loads keys and starts background refresh, `close()` stops it, and
    `authenticate(request)` returns the Principal (None when auth is off) or raises AuthError."""

    @property
    def ready(self) -> bool:
        """True when requests can be authenticated (for OAuth: a JWKS has been loaded)."""
        return True

    async def start(self) -> None:
        """Load keys and start background tasks; the default has none."""

    async def close(self) -> None:
        """Cancel background tasks; safe to call twice."""

    async def authenticate(self, request: web.BaseRequest) -> Principal | None:
        return await self._verify(request)

    @abc.abstractmethod
    async def _verify(self, request: web.BaseRequest) -> Principal | None: ...


class DisabledAuthenticator(Authenticator):
    """Auth off: every request is anonymous."""

    async def _verify(self, request: web.BaseRequest) -> Principal | None:
        return None


class ApiKeyAuthenticator(Authenticator):
    """A key in `X-API-Key` or `Authorization: Bearer <key>`, matched against the Secret's keys."""

    def __init__(self, store: ApiKeyStore, settings: ApiKeySettings | None = None) -> None:
        self.store = store
        self._users = dict(settings.users) if settings else {}
        self._groups = {k: frozenset(v) for k, v in settings.groups.items()} if settings else {}

    async def start(self) -> None:
        await self.store.start()

    async def close(self) -> None:
        await self.store.close()

    async def _verify(self, request: web.BaseRequest) -> Principal | None:
        presented = request.headers.get(API_KEY_HEADER)
        if presented is not None:
            presented = checked_credential(presented.strip(), "the X-API-Key header")
        else:
            presented = bearer_token(request)
        if presented is None:
            raise AuthError(
                "missing", "an API key is required: send X-API-Key or Authorization: Bearer"
            )
        key_id = self.store.lookup(presented)
        if key_id is None:
            raise AuthError("bad_key", "the API key is not valid")
        return Principal(
            name=key_id, kind="apiKey", subject=key_id, user=self._users.get(key_id, key_id),
            groups=self._groups.get(key_id, frozenset()),
        )


class OAuthAuthenticator(Authenticator):
    """An RS256/384/512 bearer JWT checked for signature, `iss`, `aud`, `exp`, `nbf` and `sub`."""

    def __init__(self, settings: OAuthSettings, jwks: JwksCache) -> None:
        assert settings.issuer is not None
        self._user_claim = settings.user_claim
        self._groups_claim = settings.groups_claim
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

    async def _verify(self, request: web.BaseRequest) -> Principal | None:
        token = bearer_token(request)
        if token is None:
            raise AuthError("missing", "a bearer token is required: send Authorization: Bearer")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise AuthError("malformed", "the bearer token is not a well-formed JWT") from e
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            shown = alg[:16] if isinstance(alg, str) else alg
            raise AuthError(
                "alg_not_allowed",
                f"token algorithm {shown!r} is not allowed; use one of {list(self._algorithms)!r}",
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("malformed", "the token's `kid` header is not a string")
        signing_key = await self.jwks.get_key(kid)
        if signing_key.alg is not None and signing_key.alg != alg:
            raise AuthError(
                "alg_not_allowed",
                f"token algorithm {alg!r} differs from {signing_key.alg!r} declared by its key",
            )
        claims = self._decode(token, signing_key.key, alg)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise AuthError("no_subject", "the token has no `sub` claim")
        user = claims.get(self._user_claim)
        if not isinstance(user, str) or not user.strip() or not user.isprintable():
            raise AuthError(
                "no_user", f"the token has no usable `{self._user_claim}` claim (the Trino user); "
                "ask the identity provider to include it"
            )
        return Principal(name=subject, kind="jwt", subject=subject, user=user.strip(),
                         groups=_groups(claims.get(self._groups_claim)), claims=claims)

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
            raise AuthError("expired", "the token has expired") from e
        except jwt.ImmatureSignatureError as e:
            raise AuthError("not_yet_valid", "the token is not yet valid (nbf or iat)") from e
        except jwt.InvalidIssuerError as e:
            raise AuthError("bad_issuer", f"the token was not issued by {self._issuer!r}") from e
        except jwt.InvalidAudienceError as e:
            raise AuthError(
                "bad_audience", f"the token's audience is not {self._audience!r}"
            ) from e
        except jwt.InvalidSignatureError as e:
            raise AuthError("bad_signature", "the token's signature does not verify") from e
        except jwt.InvalidAlgorithmError as e:
            raise AuthError("alg_not_allowed", "the token's algorithm is not allowed") from e
        except jwt.MissingRequiredClaimError as e:
            raise _missing_claim(e.claim) from e
        except jwt.PyJWTError as e:
            raise AuthError("malformed", f"the token is not valid: {type(e).__name__}") from e
        return claims


def _check_numeric_dates(token: str) -> None:
    """RFC 7519 NumericDate: `exp`, `nbf` and `iat` must be JSON numbers (PyJWT would take "9999999999")."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as e:
        raise AuthError("malformed", f"the token is not valid: {type(e).__name__}") from e
    for claim in _NUMERIC_DATES:
        if claim in claims:
            value = claims[claim]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AuthError("malformed", f"the token's `{claim}` is not a number (RFC 7519 NumericDate)")


def _groups(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _missing_claim(claim: str) -> AuthError:
    reason = {"sub": "no_subject", "iss": "bad_issuer", "aud": "bad_audience"}.get(claim)
    if reason == "no_subject":
        return AuthError("no_subject", "the token has no `sub` claim")
    if reason == "bad_issuer":
        return AuthError("bad_issuer", "the token has no `iss` claim")
    if reason == "bad_audience":
        return AuthError("bad_audience", "the token has no `aud` claim")
    return AuthError("malformed", f"the token has no `{claim}` claim")


def create_authenticator(settings: AuthSettings, session: aiohttp.ClientSession) -> Authenticator:
    """The authenticator for `settings`; call `await start()` before use and `close()` after.

    `session` fetches discovery and JWKS documents; it stays owned by the caller.
    """
    if not settings.enabled:
        return DisabledAuthenticator()
    if settings.type == "apiKey":
        store = ApiKeyStore(
            settings.api_keys.file,
            {key_id: key.get_secret_value() for key_id, key in settings.api_keys.inline.items()},
            settings.api_keys.reload_interval.total_seconds(),
        )
        return ApiKeyAuthenticator(store, settings.api_keys)
    oauth = settings.oauth
    assert oauth.issuer is not None
    jwks = JwksCache(
        session,
        issuer=oauth.issuer,
        jwks_url=oauth.jwks_url,
        refresh_interval=oauth.refresh_interval.total_seconds(),
        unknown_kid_cooldown=oauth.unknown_kid_cooldown.total_seconds(),
        unknown_kid_wait=oauth.unknown_kid_wait.total_seconds(),
        fetch_timeout=oauth.fetch_timeout.total_seconds(),
        algorithms=tuple(a for a in oauth.algorithms if a in ALLOWED_ALGORITHMS),
    )
    return OAuthAuthenticator(oauth, jwks)
