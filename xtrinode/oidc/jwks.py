"""The OIDC signing keys: JWKS fetched with aiohttp (explicit URL or issuer discovery), cached,
refreshed every `refreshInterval`, and refetched on an unknown `kid` at most once per cooldown.
Fetches are single-flight: concurrent callers share one in-flight HTTP request. An unknown `kid`
seen during the cooldown schedules one refetch at its end, which such tokens wait for when it is
due within `unknown_kid_wait` (a rotated key is then accepted without a failed request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from jwt import PyJWK
from yarl import URL
from jwt.exceptions import PyJWKError

from .errors import TokenError

__all__ = ["JwksCache", "JwksError", "SigningKey"]

log = logging.getLogger("xtrinode.oidc.jwks")

_MAX_DOCUMENT_BYTES = 1 << 20
DISCOVERY_PATH = "/.well-known/openid-configuration"


def safe_url(url: str | None) -> str:
    """`url` without user info or query, fit for logs and messages."""
    if url is None:
        return "<no URL>"
    try:
        return str(URL(url).with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<unparsable URL>"


_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


def _decoded(body: bytes, encoding: str) -> bytes:
    """The body decompressed by hand, since the caller's session may not auto-decompress."""
    if encoding in ("gzip", "x-gzip", "deflate") and body[:1] in (b"\x1f", b"\x78"):
        return zlib.decompressobj(wbits=47).decompress(body, _MAX_DOCUMENT_BYTES + 1)
    return body


class JwksError(Exception):
    """Discovery or the JWKS could not be fetched or understood."""


@dataclass(frozen=True)
class SigningKey:
    kid: str | None
    key: Any
    alg: str | None
    """The `alg` the JWK declares, if any; tokens must then use exactly that one."""


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a fetch's error as seen even when every waiter was cancelled (callers log it)."""
    if not task.cancelled():
        task.exception()


class JwksCache:
    """Signing keys by `kid`; `start()` fetches once and runs the refresh loop."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        issuer: str,
        jwks_url: str | None,
        refresh_interval: float,
        unknown_kid_cooldown: float,
        fetch_timeout: float,
        algorithms: tuple[str, ...],
        clock: Callable[[], float] | None = None,
        unknown_kid_wait: float = 5.0,
    ) -> None:
        self._session = session
        self._issuer = issuer
        self._discovered = jwks_url is None
        self._jwks_url = jwks_url
        self._refresh_interval = refresh_interval
        self._cooldown = unknown_kid_cooldown
        self._timeout = aiohttp.ClientTimeout(total=fetch_timeout)
        self._algorithms = algorithms
        self._clock = clock or time.monotonic
        self._keys: dict[str | None, SigningKey] = {}
        self._loaded = False
        self._inflight: asyncio.Task[None] | None = None
        self._last_kid_refetch: float | None = None
        self._deferred: asyncio.Task[None] | None = None
        self._kid_wait = unknown_kid_wait
        self._task: asyncio.Task[None] | None = None
        self.fetches = 0
        """How many JWKS documents were requested (successful or not)."""

    @property
    def loaded(self) -> bool:
        """True once a JWKS has been fetched successfully."""
        return self._loaded

    @property
    def kids(self) -> list[str | None]:
        return list(self._keys)

    async def start(self) -> None:
        """First fetch (failure is logged, not raised: requests get `jwks_unavailable` and the
        refresh loop retries after the cooldown), then the periodic refresh."""
        try:
            await self.refresh()
        except JwksError as e:
            log.warning("initial JWKS fetch failed, retrying in the background: %s", e)
        self._task = asyncio.create_task(self._refresh_loop(), name="oidc-jwks-refresh")

    async def close(self) -> None:
        tasks = [t for t in (self._task, self._inflight, self._deferred) if t is not None]
        self._task = self._inflight = self._deferred = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, JwksError):
                await task

    async def refresh(self) -> None:
        """Fetch the JWKS now, or join the fetch already in flight; raises JwksError."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._fetch(), name="oidc-jwks-fetch")
            self._inflight.add_done_callback(_retrieve)
        # shield: a cancelled caller must not cancel the fetch other callers are waiting for
        await asyncio.shield(self._inflight)

    async def get_key(self, kid: str | None) -> SigningKey:
        """The key for `kid`; on a miss, refetch (single flight, once per cooldown) and retry."""
        key = self.find(kid)
        if key is not None:
            return key
        now = self._clock()
        joining = self._inflight is not None and not self._inflight.done()
        last = self._last_kid_refetch
        may_refetch = last is None or now - last >= self._cooldown
        if joining or may_refetch:
            if not joining:
                self._last_kid_refetch = now
            try:
                await self.refresh()
            except JwksError as e:
                if not self._loaded:
                    raise TokenError(
                        "jwks_unavailable", "the identity provider's signing keys are unavailable"
                    ) from e
                log.warning("JWKS refetch for an unknown kid failed: %s", e)
            key = self.find(kid)
            if key is not None:
                return key
        elif last is not None:
            due = last + self._cooldown - now
            deferred = self._defer(due)
            if due <= self._kid_wait:
                with contextlib.suppress(JwksError):
                    await asyncio.shield(deferred)
                key = self.find(kid)
                if key is not None:
                    return key
        if not self._loaded:
            raise TokenError(
                "jwks_unavailable", "the identity provider's signing keys are unavailable"
            )
        if kid is None:
            raise TokenError(
                "unknown_kid",
                f"the token has no `kid` and the JWKS has {len(self._keys)} keys; "
                "send a token whose header names its key",
            )
        raise TokenError("unknown_kid", f"no signing key with kid {kid[:64]!r} in the JWKS")

    def _defer(self, delay: float) -> asyncio.Task[None]:
        """The one refetch scheduled at the end of the current cooldown (created on first need)."""
        if self._deferred is None or self._deferred.done():
            self._deferred = asyncio.create_task(self._refetch_later(delay), name="oidc-jwks-deferred")
            self._deferred.add_done_callback(_retrieve)
        return self._deferred

    async def _refetch_later(self, delay: float) -> None:
        await asyncio.sleep(max(delay, 0.0))
        self._last_kid_refetch = self._clock()
        try:
            await self.refresh()
        except JwksError as e:
            log.warning("JWKS refetch for an unknown kid failed: %s", e)
            raise

    def find(self, kid: str | None) -> SigningKey | None:
        """The loaded key for `kid` (the only key when `kid` is None and there is one), or None; never fetches."""
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if kid is not None else None

    async def _refresh_loop(self) -> None:
        while True:
            delay = self._refresh_interval
            if not self._loaded:
                delay = min(self._cooldown, self._refresh_interval)
            await asyncio.sleep(delay)
            try:
                await self.refresh()
            except JwksError as e:
                log.warning("JWKS refresh failed, keeping %d cached key(s): %s", len(self._keys), e)

    async def _fetch(self) -> None:
        if self._jwks_url is None:
            self._jwks_url = await self._discover()
        self.fetches += 1
        try:
            document = await self._get_json(self._jwks_url, "JWKS")
        except JwksError:
            if self._discovered:
                self._jwks_url = None  # discover again next time: the jwks_uri may have moved
            raise
        keys = self._parse(document)
        if not keys:
            raise JwksError(
                f"JWKS at {safe_url(self._jwks_url)!r} has no usable RSA signing key "
                f"for {list(self._algorithms)!r}"
            )
        self._keys = keys
        self._loaded = True
        log.info("JWKS loaded from %s: %d key(s)", safe_url(self._jwks_url), len(keys))

    async def _discover(self) -> str:
        url = self._issuer.rstrip("/") + DISCOVERY_PATH
        document = await self._get_json(url, "OpenID discovery document")
        issuer = document.get("issuer")
        if issuer is not None and str(issuer).rstrip("/") != self._issuer.rstrip("/"):
            raise JwksError(
                f"discovery at {safe_url(url)!r} names issuer {issuer!r}, "
                f"not the configured {self._issuer!r}"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise JwksError(
                f"discovery at {safe_url(url)!r} has no `jwks_uri`; set auth.oauth.jwksURL"
            )
        return jwks_uri

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with self._session.get(url, timeout=self._timeout, headers=_HEADERS) as response:
                if response.status != 200:
                    raise JwksError(f"{what} at {safe_url(url)!r} answered HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_any():
                    body.extend(chunk)
                    if len(body) > _MAX_DOCUMENT_BYTES:
                        break
                encoding = response.headers.get("Content-Encoding", "identity").lower()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            detail = f"HTTP {e.status}" if isinstance(e, aiohttp.ClientResponseError) else str(e)
            raise JwksError(
                f"cannot fetch {what} from {safe_url(url)!r}: {type(e).__name__}: {detail[:200]}"
            ) from e
        if len(body) > _MAX_DOCUMENT_BYTES:
            raise JwksError(
                f"{what} at {safe_url(url)!r} is larger than {_MAX_DOCUMENT_BYTES} bytes"
            )
        try:
            document = json.loads(_decoded(bytes(body), encoding))
        except (ValueError, zlib.error) as e:
            raise JwksError(f"{what} at {safe_url(url)!r} is not JSON") from e
        if not isinstance(document, dict):
            raise JwksError(f"{what} at {safe_url(url)!r} is not a JSON object")
        return document

    def _parse(self, document: dict[str, Any]) -> dict[str | None, SigningKey]:
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise JwksError(f"JWKS at {safe_url(self._jwks_url)!r} has no `keys` list")
        keys: dict[str | None, SigningKey] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA":
                continue
            if entry.get("use", "sig") != "sig":
                continue
            alg = entry.get("alg")
            if alg is not None and alg not in self._algorithms:
                continue
            kid = entry.get("kid")
            try:
                jwk = PyJWK(entry, algorithm=alg or "RS256")
            except PyJWKError as e:
                log.warning("skipping JWK %r: %s", kid, e)
                continue
            keys[kid if isinstance(kid, str) else None] = SigningKey(
                kid=kid if isinstance(kid, str) else None, key=jwk.key, alg=alg
            )
        return keys

