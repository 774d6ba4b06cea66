"""`HealthServer`: the probe and metrics port of the processes that serve no HTTP of their own (the
lifecycle worker and the operator): `/healthz` (the event loop answers), `/readyz` (the process's own
readiness check: 200 or 503 with the reason) and `/metrics` (the Prometheus default registry).

Kubernetes probes and Prometheus read it (`--health-port`; the chart sets 8090).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["HealthServer", "Readiness"]

Readiness = Callable[[], str | None]
"""None when ready, else why not (shown in the 503 body)."""


class HealthServer:
    """`async with HealthServer(port, ready):` serves the three endpoints until the block ends."""

    def __init__(self, port: int, ready: Readiness, host: str = "0.0.0.0") -> None:
        self.host, self.requested_port, self._ready = host, port, ready
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        assert self._runner is not None and self._runner.addresses
        return int(self._runner.addresses[0][1])

    def app(self) -> web.Application:
        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok\n")

        async def readyz(_: web.Request) -> web.Response:
            problem = self._ready()
            if problem is None:
                return web.Response(text="ready\n")
            return web.Response(status=503, text=f"not ready: {problem}\n")

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/metrics", metrics)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.requested_port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
