"""Who is calling and what URL they see: Trino's user extraction, PASSWORD auth, forwarded headers.

Without authentication `X-Trino-User` (or a password-less Basic user) names the user; with PASSWORD
a Basic header is checked against PBKDF2 hashes. X-Forwarded-* is applied or rejected (406).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from xtrinode.trino_protocol import ALT_HEADER_PREFIX, Header

from .settings import NodeSettings

__all__ = [
    "AUTHENTICATE_HEADER",
    "authenticate",
    "external_base",
    "forwarded_middleware",
    "hash_password",
    "is_secure",
    "management_write_user",
    "request_user",
]

AUTHENTICATE_HEADER = 'Basic realm="Trino"'
_FORWARDED_PREFIX = "x-forwarded-"


def hash_password(password: str, iterations: int = 1000) -> str:
    """A password-file entry value in Trino's PBKDF2 form `iterations:salt-hex:hash-hex`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, dklen=64)
    return f"{iterations}:{salt.hex()}:{digest.hex()}"


def _check_password(stored: str, password: str) -> bool:
    try:
        iterations_text, salt_hex, hash_hex = stored.split(":")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
        iterations = int(iterations_text)
    except ValueError:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, dklen=len(expected))
    return hmac.compare_digest(actual, expected)


def _first(value: str | None) -> str | None:
    if value is None:
        return None
    first = value.split(",")[0].strip()
    return first or None


def is_secure(request: web.Request, settings: NodeSettings) -> bool:
    if settings.process_forwarded and (proto := _first(request.headers.get(Header.FORWARDED_PROTO))):
        return proto.lower() == "https"
    return request.scheme == "https"


def external_base(request: web.Request, settings: NodeSettings) -> str:
    """`scheme://host[:port][/prefix]` for nextUri/infoUri, honouring X-Forwarded-* when enabled."""
    scheme = request.scheme
    host = request.host
    prefix = ""
    if settings.process_forwarded:
        headers = request.headers
        scheme = (_first(headers.get(Header.FORWARDED_PROTO)) or scheme).lower()
        forwarded_host = _first(headers.get(Header.FORWARDED_HOST))
        if forwarded_host:
            host = forwarded_host
        if forwarded_port := _first(headers.get(Header.FORWARDED_PORT)):
            hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            default = (scheme == "http" and forwarded_port == "80") or (scheme == "https" and forwarded_port == "443")
            host = hostname if default else f"{hostname}:{forwarded_port}"
        prefix = (_first(headers.get(Header.FORWARDED_PREFIX)) or "").rstrip("/")
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
    return f"{scheme}://{host}{prefix}"


def forwarded_middleware(settings: NodeSettings) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Reject any X-Forwarded-* header with 406 unless `http-server.process-forwarded=true` (Trino >= 451)."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not settings.process_forwarded:
            for name in request.headers:
                if name.lower().startswith(_FORWARDED_PREFIX):
                    canonical = "-".join(part.capitalize() for part in name.split("-"))
                    return web.Response(
                        status=406,
                        text=f"Server configuration does not allow processing of the {canonical} header",
                    )
        return await handler(request)

    return middleware


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(text=message, headers={"WWW-Authenticate": AUTHENTICATE_HEADER})


def _basic(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("Malformed credentials: invalid basic authentication header") from None
    user, _, password = decoded.partition(":")
    return user, password


def _header_user(request: web.Request) -> str | None:
    value = request.headers.get(Header.USER) or request.headers.get(ALT_HEADER_PREFIX + "User")
    return value.strip() if value and value.strip() else None


def authenticate(request: web.Request, settings: NodeSettings) -> tuple[str, str]:
    """(authenticated principal, session user) of a request; raises 401/403 like Trino's filter."""
    auth = settings.password_auth
    if auth is None:
        header_user = _header_user(request)
        basic = _basic(request)
        if header_user is None and basic is not None:
            if basic[1]:
                raise _unauthorized("Password not allowed for insecure authentication")
            header_user = basic[0] or None
        if header_user is None:
            raise _unauthorized("Basic authentication or X-Trino-User must be sent")
        return header_user, header_user
    if not is_secure(request, settings) and not auth.allow_insecure_over_http:
        raise web.HTTPForbidden(text="Authentication over HTTP is not enabled")
    basic = _basic(request)
    if basic is None:
        raise _unauthorized("Unauthorized")
    user, password = basic
    stored = auth.users.get(user)
    if stored is None or not _check_password(stored, password):
        raise _unauthorized("Access Denied: Invalid credentials")
    return user, _header_user(request) or user


def request_user(request: web.Request, settings: NodeSettings) -> str:
    """The session user of an AUTHENTICATED_USER request."""
    return authenticate(request, settings)[1]


def management_write_user(request: web.Request, settings: NodeSettings) -> str:
    """MANAGEMENT_WRITE: the authenticated principal must be allowed to write system information, else 403."""
    principal, _ = authenticate(request, settings)
    if not settings.effective_access_control.can_write_system_information(principal):
        raise web.HTTPForbidden(text="Management only resource")
    return principal
