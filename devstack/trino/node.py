"""Running a node: `TrinoNode` (in-process, for tests and the kubelet's many-nodes mode) and `serve`.

`async with TrinoNode(settings) as node:` binds the app (port 0 allowed) and exposes `node.url`;
`serve` runs the process until SIGTERM/SIGINT or until a graceful shutdown asks it to exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import TracebackType

from aiohttp import web

from .app import create_app
from .keys import LIFECYCLE, RUNTIME
from .settings import NodeSettings

__all__ = ["TrinoNode", "serve"]

log = logging.getLogger("devstack.trino")


class TrinoNode:
    """One emulated node served on loopback by an aiohttp runner inside the current event loop."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the node is not started; use 'async with TrinoNode(settings) as node'")
        host = self.settings.advertised_host
        return f"http://{host}:{self.port}"

    @property
    def exit_requested(self) -> asyncio.Event:
        """Set when a graceful shutdown finished: the process would exit now."""
        return self.app[LIFECYCLE].exit_requested

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        try:
            site = web.TCPSite(runner, self.settings.host, self.settings.port, reuse_address=True)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        self.port = int(runner.addresses[0][1])
        self.app[RUNTIME].set_bound(self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> TrinoNode:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def serve(settings: NodeSettings) -> int:
    """Serve until SIGTERM/SIGINT (clean stop) or until a graceful shutdown completes; returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with TrinoNode(settings) as node:
            log.info("listening", extra={"uri": node.url, "coordinator": settings.coordinator})
            stopped = asyncio.create_task(stop.wait())
            exited = asyncio.create_task(node.exit_requested.wait())
            await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
            for task in (stopped, exited):
                task.cancel()
            await asyncio.gather(stopped, exited, return_exceptions=True)
            log.info("stopping", extra={"reason": "signal" if stop.is_set() else "graceful shutdown"})
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0
