"""The route table in use: listed and then watched on the routes ConfigMap through the Kubernetes API.

`RouteSource` holds the last good table (a bad write is counted and ignored); `watch_routes` lists,
watches with bookmarks, re-lists on 410 Expired and reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml
from pydantic import ValidationError

from gateway.kube import KubeAccess
from gateway.metrics import GatewayMetrics
from gateway.settings import RoutesSettings
from xtrinode.models.routes import RouteEntry, RouteTable

__all__ = ["RouteSource", "watch_routes"]

log = logging.getLogger("xtrinode.gateway.routes")

_WATCH_SECONDS = 290


class _Expired(Exception):
    """The watch's resourceVersion is too old: list again."""


class RouteSource:
    """The current route table; `changed` is notified on every accepted table."""

    def __init__(self, metrics: GatewayMetrics, source: str = "routes") -> None:
        self.table: RouteTable | None = None
        self._by_key: dict[str, RouteEntry] = {}
        self._by_backend: dict[str, RouteEntry] = {}
        self.version = 0
        self.changed = asyncio.Condition()
        self._metrics = metrics
        self._source = source

    @property
    def loaded(self) -> bool:
        return self.table is not None

    def routes(self) -> list[RouteEntry]:
        return list(self.table.routes) if self.table is not None else []

    def entry(self, key: str) -> RouteEntry | None:
        """The route of runtime `key` (`namespace/name`); a dict lookup (follow-ups ask on every request)."""
        return self._by_key.get(key)

    def entry_for_backend(self, backend: str) -> RouteEntry | None:
        return self._by_backend.get(backend)

    async def install(self, table: RouteTable) -> None:
        self._by_key = {route.key: route for route in table.routes}
        self._by_backend = {route.backend: route for route in reversed(table.routes)}
        self.table = table
        self.version += 1
        self._metrics.route_table_loaded.set(len(table.routes))
        async with self.changed:
            self.changed.notify_all()

    async def apply_text(self, text: str | None) -> bool:
        """Install the table in `text` (None or empty: no routes); a bad one is counted and the last good kept."""
        try:
            table = RouteTable.from_yaml(text or "")
        except (ValueError, yaml.YAMLError) as e:
            reason = "invalid_routes" if isinstance(e, ValidationError) else "invalid_yaml"
            self._metrics.route_table_errors.labels(reason).inc()
            kept = "no table yet" if self.table is None else f"keeping the last good table ({len(self.table.routes)} routes)"
            log.error("rejected route table from %s: %s; %s", self._source, str(e)[:500], kept)
            return False
        if self.table is None or table != self.table:
            log.info("route table from %s: %d routes", self._source, len(table.routes))
        await self.install(table)
        return True

    async def wait_for(self, key: str, predicate: Any, timeout: float) -> RouteEntry | None:
        """Wait until route `key` satisfies `predicate(entry)`; None on timeout."""

        def check() -> RouteEntry | None:
            found = self.entry(key)
            return found if found is not None and predicate(found) else None

        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(check), timeout)
            except TimeoutError:
                return None
        return check()


async def _apply_object(source: RouteSource, obj: dict[str, Any], key: str) -> None:
    data = obj.get("data") or {}
    await source.apply_text(data.get(key) if isinstance(data, dict) else None)


async def _list(session: aiohttp.ClientSession, access: KubeAccess, url: str, settings: RoutesSettings, source: RouteSource) -> str:
    params = {"fieldSelector": f"metadata.name={settings.config_map}"}
    async with session.get(url, params=params, headers=access.headers(), ssl=access.ssl_context) as response:
        if response.status != 200:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message=(await response.text())[:300]
            )
        body = await response.json()
    items = body.get("items") or []
    if items:
        await _apply_object(source, items[0], settings.key)
    else:
        log.info("ConfigMap %s/%s does not exist yet: no routes", settings.namespace, settings.config_map)
        await source.apply_text(None)
    return str(body.get("metadata", {}).get("resourceVersion", ""))


async def _watch(
    session: aiohttp.ClientSession, access: KubeAccess, url: str, settings: RoutesSettings, source: RouteSource, rv: str
) -> str:
    params = {
        "watch": "1",
        "fieldSelector": f"metadata.name={settings.config_map}",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(_WATCH_SECONDS),
        "resourceVersion": rv,
    }
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=_WATCH_SECONDS + 30)
    async with session.get(url, params=params, headers=access.headers(), ssl=access.ssl_context, timeout=timeout) as response:
        if response.status == 410:
            raise _Expired()
        if response.status != 200:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message=(await response.text())[:300]
            )
        buffer = b""
        async for chunk in response.content.iter_any():
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    rv = await _handle_event(json.loads(line), settings, source, rv)
    return rv


async def _handle_event(event: dict[str, Any], settings: RoutesSettings, source: RouteSource, rv: str) -> str:
    kind, obj = event.get("type"), event.get("object") or {}
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise _Expired()
        raise aiohttp.ClientError(f"watch error: {str(obj.get('message'))[:300]}")
    new_rv = str(obj.get("metadata", {}).get("resourceVersion") or rv)
    if kind in ("ADDED", "MODIFIED"):
        await _apply_object(source, obj, settings.key)
    elif kind == "DELETED":
        log.warning("ConfigMap %s/%s was deleted: no routes", settings.namespace, settings.config_map)
        await source.apply_text(None)
    return new_rv


async def watch_routes(
    session: aiohttp.ClientSession, access: KubeAccess, settings: RoutesSettings, source: RouteSource
) -> None:
    """List then watch the routes ConfigMap until cancelled."""
    url = f"{access.server}/api/v1/namespaces/{quote(settings.namespace, safe='')}/configmaps"
    delay, rv = 0.2, ""
    while True:
        try:
            if not rv:
                rv = await _list(session, access, url, settings, source)
            rv = await _watch(session, access, url, settings, source, rv)
            delay = 0.2
        except _Expired:
            log.info("route watch expired at resourceVersion %s; listing again", rv)
            rv = ""
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as e:
            log.warning("route watch on %s failed (%s: %s); retrying in %.1fs", access.server, type(e).__name__, str(e)[:200], delay)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)
            rv = ""
