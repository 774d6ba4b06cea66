"""Who is calling and what URL they see: Trino's user extraction, PASSWORD, JWT and OAUTH2 auth,
forwarded headers.

Without authentication `X-Trino-User` (or a password-less Basic user) names the user; with PASSWORD
a Basic header is checked against PBKDF2 hashes; with JWT or OAUTH2 a bearer token is checked against
the JWKS the rendered config names (`jwt.key-file`, `oauth2.jwks-url` or the issuer's discovery
document), fetched on first use and again for an unknown `kid`. X-Forwarded-* is applied or rejected (406).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import urllib.request
from collections.abc import Awaitable, Callable

import jwt
from aiohttp import web
from multidict import CIMultiDict

from xtrinode.trino_protocol import ALT_HEADER_PREFIX, Header

from .settings import JwtAuth, NodeSettings

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
BEARER_CHALLENGE = 'Bearer realm="Trino", token_type="JWT"'
_FORWARDED_PREFIX = "x-forwarded-"
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
_FETCH_TIMEOUT = 5.0
# JWKS clients and discovered JWKS URLs, per URL: the keys a node fetched stay cached like Trino's JwkService.
_JWK_CLIENTS: dict[str, jwt.PyJWKClient] = {}
_DISCOVERED: dict[str, str] = {}
_CACHE_LOCK = threading.Lock()


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


def _unauthorized(message: str, settings: NodeSettings | None = None) -> web.HTTPUnauthorized:
    headers: CIMultiDict[str] = CIMultiDict()
    if settings is not None and settings.bearer_auth:
        headers.add("WWW-Authenticate", BEARER_CHALLENGE)
    if settings is None or settings.password_auth is not None or not settings.bearer_auth:
        headers.add("WWW-Authenticate", AUTHENTICATE_HEADER)
    return web.HTTPUnauthorized(text=message, headers=headers)


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _jwks_url(auth: JwtAuth) -> str:
    if auth.jwks_url:
        return auth.jwks_url
    issuer = (auth.issuer or "").rstrip("/")
    with _CACHE_LOCK:
        found = _DISCOVERED.get(issuer)
    if found is None:
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=_FETCH_TIMEOUT) as reply:
            found = str(json.loads(reply.read())["jwks_uri"])
        with _CACHE_LOCK:
            _DISCOVERED[issuer] = found
    return found


def _jwk_client(url: str) -> jwt.PyJWKClient:
    with _CACHE_LOCK:
        client = _JWK_CLIENTS.get(url)
        if client is None:
            client = _JWK_CLIENTS[url] = jwt.PyJWKClient(
                url, cache_keys=True, timeout=_FETCH_TIMEOUT, cooldown_duration=0)  # refetch on every unknown kid
    return client


def _verify_bearer(token: str, auth: JwtAuth) -> str:
    """The principal of a valid token; raises jwt.PyJWTError (or OSError/ValueError fetching keys)."""
    key = _jwk_client(_jwks_url(auth)).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=_ALGORITHMS, issuer=auth.issuer or None,
        audience=list(auth.audiences) or None, options={"verify_aud": bool(auth.audiences)},
    )
    principal = claims.get(auth.principal_field)
    if not isinstance(principal, str) or not principal:
        raise jwt.InvalidTokenError(f"the token has no {auth.principal_field!r} claim")
    return principal


def _bearer_principal(token: str, settings: NodeSettings) -> str:
    for auth in settings.bearer_auth:
        try:
            return _verify_bearer(token, auth)
        except (jwt.PyJWTError, OSError, ValueError, KeyError):
            continue
    raise _unauthorized("Access Denied: invalid or expired bearer token", settings)


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
    if not settings.authentication_enabled:
        header_user = _header_user(request)
        basic = _basic(request)
        if header_user is None and basic is not None:
            if basic[1]:
                raise _unauthorized("Password not allowed for insecure authentication")
            header_user = basic[0] or None
        if header_user is None:
            raise _unauthorized("Basic authentication or X-Trino-Original-User or X-Trino-User must be sent")
        return header_user, header_user
    insecure_ok = settings.allow_insecure_over_http or (auth is not None and auth.allow_insecure_over_http)
    if not is_secure(request, settings) and not insecure_ok:
        raise web.HTTPForbidden(text="Authentication over HTTP is not enabled")
    token = _bearer(request)
    if token is not None and settings.bearer_auth:
        principal = _bearer_principal(token, settings)
        return principal, _header_user(request) or principal
    basic = _basic(request) if auth is not None else None
    if basic is None or auth is None:
        raise _unauthorized("Unauthorized", settings)
    user, password = basic
    stored = auth.users.get(user)
    if stored is None or not _check_password(stored, password):
        raise _unauthorized("Access Denied: Invalid credentials", settings)
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
