"""The request authenticators behind `create_authenticator`: off, API key and OAuth (JWT).

Each turns an aiohttp request into a `Principal` or raises `AuthError` with a metric reason.
"""

from __future__ import annotations

import abc
from typing import Any

import aiohttp
from aiohttp import web

from xtrinode.oidc import JwksCache, JwtValidator, OAuthSettings, TokenError, claim_groups, create_jwt_validator

from .apikeys import ApiKeyStore
from .principal import API_KEY_HEADER, AuthError, Principal, bearer_token, checked_credential
from .settings import ApiKeySettings, AuthSettings

__all__ = [
    "ApiKeyAuthenticator",
    "Authenticator",
    "DisabledAuthenticator",
    "OAuthAuthenticator",
    "Undecided",
    "create_authenticator",
]



class Undecided(Exception):
    """`verify_now` cannot decide without waiting (an OAuth token whose signing key is not loaded): the
    caller awaits `authenticate`."""


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

    synchronous = False
    """True when `verify_now` decides without waiting, or raises Undecided (the gateway's fast path uses it)."""

    async def authenticate(self, request: web.BaseRequest) -> Principal | None:
        return await self._verify(request)

    def verify_now(self, request: web.BaseRequest) -> Principal | None:
        """`authenticate` without awaiting, for authenticators that are `synchronous`; Undecided when it
        would have to wait."""
        raise NotImplementedError(f"{type(self).__name__} authenticates asynchronously only")

    @abc.abstractmethod
    async def _verify(self, request: web.BaseRequest) -> Principal | None: ...


class DisabledAuthenticator(Authenticator):
    """Auth off: every request is anonymous."""

    synchronous = True

    def verify_now(self, request: web.BaseRequest) -> Principal | None:
        return None

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

    synchronous = True

    async def _verify(self, request: web.BaseRequest) -> Principal | None:
        return self.verify_now(request)

    def verify_now(self, request: web.BaseRequest) -> Principal | None:
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
    """An OIDC bearer JWT checked by the shared validator (xtrinode.oidc); the Trino user and groups come
    from the configured claims."""

    def __init__(self, settings: OAuthSettings, validator: JwtValidator) -> None:
        self._user_claim = settings.user_claim
        self._groups_claim = settings.groups_claim
        self.validator = validator

    @property
    def jwks(self) -> JwksCache:
        return self.validator.jwks

    @property
    def ready(self) -> bool:
        return self.validator.ready

    async def start(self) -> None:
        await self.validator.start()

    async def close(self) -> None:
        await self.validator.close()

    synchronous = True

    async def _verify(self, request: web.BaseRequest) -> Principal | None:
        token = self._token(request)
        try:
            claims = await self.validator.validate(token)
        except TokenError as e:
            raise AuthError(e.reason, e.message) from e  # type: ignore[arg-type]
        return self._principal(claims)

    def verify_now(self, request: web.BaseRequest) -> Principal | None:
        token = self._token(request)
        try:
            claims = self.validator.validate_now(token)
        except TokenError as e:
            raise AuthError(e.reason, e.message) from e  # type: ignore[arg-type]
        if claims is None:
            raise Undecided("the token's signing key is not loaded")
        return self._principal(claims)

    @staticmethod
    def _token(request: web.BaseRequest) -> str:
        token = bearer_token(request)
        if token is None:
            raise AuthError("missing", "a bearer token is required: send Authorization: Bearer")
        return token

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = str(claims["sub"])
        user = claims.get(self._user_claim)
        if not isinstance(user, str) or not user.strip() or not user.isprintable():
            raise AuthError(
                "no_user", f"the token has no usable `{self._user_claim}` claim (the Trino user); "
                "ask the identity provider to include it"
            )
        return Principal(name=subject, kind="jwt", subject=subject, user=user.strip(),
                         groups=claim_groups(claims.get(self._groups_claim)), claims=claims)


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
    return OAuthAuthenticator(settings.oauth, create_jwt_validator(settings.oauth, session))
