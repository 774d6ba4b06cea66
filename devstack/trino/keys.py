"""Application keys of the emulator app and the small mutable runtime holder they share.

`Runtime` carries what exists only once the app runs: the aiohttp client session and the
node's own URI (known after the socket is bound, which matters for port 0).
"""

from __future__ import annotations

import asyncio
import aiohttp
from aiohttp import web

from .discovery import NodeRegistry
from .lifecycle import NodeLifecycle
from .queries import QueryManager
from .settings import NodeSettings

__all__ = ["LIFECYCLE", "MANAGER", "REGISTRY", "RUNTIME", "Runtime", "SETTINGS"]


class Runtime:
    """Late-bound parts of a running node."""

    def __init__(self) -> None:
        self._http: aiohttp.ClientSession | None = None
        self.self_uri: str | None = None
        self.bound = asyncio.Event()

    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("the HTTP client exists only while the app runs")
        return self._http

    def set_http(self, session: aiohttp.ClientSession | None) -> None:
        self._http = session

    def set_bound(self, uri: str) -> None:
        self.self_uri = uri
        self.bound.set()


SETTINGS = web.AppKey("settings", NodeSettings)
LIFECYCLE = web.AppKey("lifecycle", NodeLifecycle)
RUNTIME = web.AppKey("runtime", Runtime)
REGISTRY = web.AppKey("registry", NodeRegistry)
MANAGER = web.AppKey("manager", QueryManager)
