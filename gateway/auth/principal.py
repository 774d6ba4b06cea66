"""Who made a request: the authenticated `Principal`, the `AuthError` family and `principal_key`.

`principal_key` names the rate-limit bucket of a request; credentials are read here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from xtrinode.oidc import TokenError

__all__ = [
    "AuthError",
    "AuthReason",
    "AuthSetupError",
    "Principal",
    "MAX_TOKEN_BYTES",
    "bearer_token",
    "checked_credential",
    "principal_key",
]

AuthReason = Literal[
    "missing",
    "malformed",
    "bad_key",
    "bad_signature",
    "alg_not_allowed",
    "expired",
    "not_yet_valid",
    "bad_issuer",
    "bad_audience",
    "no_subject",
    "unknown_kid",
    "jwks_unavailable",
    "no_user",
]

TRINO_USER_HEADER = "X-Trino-User"
API_KEY_HEADER = "X-API-Key"
_MAX_KEY_PART = 200


class AuthError(TokenError):
    """A request that did not authenticate: `.reason` is a short metric label, `.message` the
    text of the 401 body. Neither ever contains the token or the key."""

    def __init__(self, reason: AuthReason, message: str) -> None:
        super().__init__(reason, message)
        self.reason: AuthReason = reason


class AuthSetupError(Exception):
    """Authentication cannot start (for example the API key file is unreadable)."""


MAX_TOKEN_BYTES = 16 * 1024
"""Longest credential accepted (a JWT with many groups fits well below this); longer ones are 401."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    `subject` is the API key id or the JWT `sub`; `user` is the Trino user its queries run as (the
    key's configured user or the token's user claim); `groups` feed authorization and impersonation.
    """

    name: str
    kind: Literal["apiKey", "jwt"]
    subject: str
    user: str = ""
    groups: frozenset[str] = field(default_factory=frozenset)
    claims: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.user:
            object.__setattr__(self, "user", self.name)

    @property
    def key(self) -> str:
        """A stable identity string: the rate-limit bucket and the owner of the queries it starts."""
        prefix = "key" if self.kind == "apiKey" else "sub"
        return f"{prefix}:{_bounded(self.subject)}"


def bearer_token(request: web.BaseRequest) -> str | None:
    """The credential of `Authorization: Bearer <token>`, None without that header.

    Raises AuthError("malformed") for another scheme, an empty, oversized or non-ASCII token.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("malformed", "the Authorization header must use the Bearer scheme")
    return checked_credential(token.strip(), "the Authorization header's Bearer token")


def checked_credential(value: str, what: str) -> str:
    """`value` if it is a plausible credential (non-empty printable ASCII, at most MAX_TOKEN_BYTES)."""
    if not value:
        raise AuthError("malformed", f"{what} is empty")
    if len(value) > MAX_TOKEN_BYTES:
        raise AuthError("malformed", f"{what} is longer than {MAX_TOKEN_BYTES} bytes")
    if not (value.isascii() and value.isprintable()):
        raise AuthError("malformed", f"{what} holds characters a credential never has")
    return value


def _bounded(value: str) -> str:
    """Untrusted values become bounded Redis key parts (long ones are hashed)."""
    if len(value) <= _MAX_KEY_PART:
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def principal_key(principal: Principal | None, client_address: str) -> str:
    """The rate-limit identity of a request, prefixed by its source so sources never collide.

    `key:<id>` for an API key, `sub:<subject>` for a JWT, else (auth off) `ip:<client address>`:
    never a header the client chooses freely (a random `X-Trino-User` per statement would otherwise
    be a fresh bucket each time). The address comes from `TrustedProxies.view`.
    """
    if principal is not None:
        return principal.key
    return f"ip:{_bounded(client_address or 'unknown')}"
