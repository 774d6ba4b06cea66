"""Who made a request: the authenticated `Principal`, the `AuthError` family and `principal_key`.

`principal_key` names the rate-limit bucket of a request; credentials are read here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

__all__ = [
    "AuthError",
    "AuthReason",
    "AuthSetupError",
    "Principal",
    "bearer_token",
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
    "user_mismatch",
]

TRINO_USER_HEADER = "X-Trino-User"
API_KEY_HEADER = "X-API-Key"
_MAX_KEY_PART = 200


class AuthError(Exception):
    """A request that did not authenticate: `.reason` is a short metric label, `.message` the
    text of the 401 body. Neither ever contains the token or the key."""

    def __init__(self, reason: AuthReason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: AuthReason = reason
        self.message = message


class AuthSetupError(Exception):
    """Authentication cannot start (for example the API key file is unreadable)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: `name` is what X-Trino-User must match when that rule is on;
    `subject` is the API key id or the JWT `sub`."""

    name: str
    kind: Literal["apiKey", "jwt"]
    subject: str
    claims: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


def bearer_token(request: web.BaseRequest) -> str | None:
    """The credential of `Authorization: Bearer <token>`, None without that header.

    Raises AuthError("malformed") for another scheme or an empty token.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("malformed", "the Authorization header must use the Bearer scheme")
    token = token.strip()
    if not token:
        raise AuthError("malformed", "the Authorization header has an empty Bearer token")
    return token


def _bounded(value: str) -> str:
    """Untrusted header values become bounded Redis key parts (long ones are hashed)."""
    if len(value) <= _MAX_KEY_PART:
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def principal_key(
    request: web.BaseRequest, principal: Principal | None, *, trust_forwarded_for: bool = False
) -> str:
    """The rate-limit identity of a request, prefixed by its source so sources never collide.

    `key:<id>` for an API key, `sub:<subject>` for a JWT, else `user:<X-Trino-User>`, else
    `ip:<client address>`. The address is the TCP peer: X-Forwarded-For is ignored unless
    `trust_forwarded_for` is set (only safe behind a proxy that overwrites that header), since
    any client could otherwise pick a fresh bucket per request.
    """
    if principal is not None:
        prefix = "key" if principal.kind == "apiKey" else "sub"
        return f"{prefix}:{_bounded(principal.subject)}"
    user = request.headers.get(TRINO_USER_HEADER, "").strip()
    if user:
        return f"user:{_bounded(user)}"
    address: str | None = None
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        address = first or None
    if address is None:
        address = request.remote
    return f"ip:{_bounded(address or 'unknown')}"
