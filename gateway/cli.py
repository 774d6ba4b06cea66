"""`xtrinode gateway --config FILE`: run the gateway process until SIGTERM/SIGINT, then shut down gracefully.

`run_gateway(argv)` is the entry point the `xtrinode` CLI calls; `python -m gateway` runs it too.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.app import INTERNAL, create_app, public_fast_path, public_handler
from gateway.server import PublicServer, start_public_server
from gateway.settings import ENV_PREFIX, GatewayConfigError, GatewaySettings, load_settings
from xtrinode.logs import json_log_handler
from xtrinode.tracing import start_process

__all__ = ["Serving", "json_log_handler", "main", "run_gateway", "serve", "start_serving"]

log = logging.getLogger("xtrinode.gateway")


def run_loop(main: Coroutine[Any, Any, None], choice: str) -> None:
    """Run `main` on uvloop when chosen (or `auto` and installed), else on the standard asyncio loop."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise ValueError("eventLoop is uvloop but uvloop is not installed; pip install uvloop or use auto") from None
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xtrinode gateway",
        description="The Trino-aware query gateway. Settings come from --config (YAML, keys as in the chart's "
        f"`gateway:` values) and {ENV_PREFIX}<SECTION>__<KEY> environment variables, which win.",
    )
    parser.add_argument("--config", "-c", help="YAML settings file (optional: defaults plus environment)")
    parser.add_argument("--port", type=int, help="Override listen.port")
    return parser


@dataclass
class Serving:
    """A running gateway: the started app, its public server and its internal listener."""

    app: web.Application
    public: PublicServer
    runner: web.AppRunner
    internal: web.AppRunner

    @property
    def port(self) -> int:
        return self.public.port

    @property
    def internal_port(self) -> int:
        return int(self.internal.addresses[0][1])

    async def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, let running requests finish (at most `timeout`), then stop the components."""
        await self.public.close(timeout)
        await self.internal.cleanup()
        await self.runner.cleanup()


async def start_serving(settings: GatewaySettings, backend_resolver: Callable[[str], str] | None = None) -> Serving:
    """Start the components (the app's cleanup context), the public server and the internal listener."""
    app = create_app(settings, backend_resolver=backend_resolver)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    internal = web.AppRunner(app[INTERNAL], handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()  # starts the components; the public server below serves the pipeline
    try:
        await internal.setup()
        await web.TCPSite(internal, settings.internal.host, settings.internal.port, reuse_address=True).start()
        public = await start_public_server(app, public_handler(app), settings.listen.host, settings.listen.port,
                                           max_body=settings.upstream.max_statement_bytes,
                                           fast=public_fast_path(app))
    except BaseException:
        await internal.cleanup()
        await runner.cleanup()
        raise
    return Serving(app, public, runner, internal)


async def serve(settings: GatewaySettings, backend_resolver: Callable[[str], str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests get a few seconds to finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    serving = await start_serving(settings, backend_resolver)
    # What exists now (modules, settings, the app) lives as long as the process: keep the collector from
    # walking it again and again, and collect the young generation less often (requests allocate many
    # short-lived objects; the default threshold of 700 ran a collection every few requests).
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    try:
        log.info("gateway listening on %s:%s (internal %s:%s)", settings.listen.host, serving.port,
                 settings.internal.host, serving.internal_port)
        await stop.wait()
        log.info("gateway stopping")
    finally:
        await serving.close(10.0)


def run_gateway(
    argv: Sequence[str] | None = None,
    *,
    backend_resolver: Callable[[str], str] | None = None,
    start_hint: str = "",
) -> int:
    """Parse flags, load settings, serve; returns the exit code (2 for unusable settings).

    `backend_resolver` maps route backends to where to connect (the devstack passes its service
    map); `start_hint` is appended to a start failure (e.g. which flag picks another port).
    """
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        if args.port is not None:
            settings = settings.model_copy(update={"listen": settings.listen.model_copy(update={"port": args.port})})
    except GatewayConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    start_process("xtrinode-gateway", settings.log_level)
    try:
        run_loop(serve(settings, backend_resolver), settings.event_loop)
    except (OSError, ValueError) as e:
        print(f"error: the gateway could not start: {e}{start_hint}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`xtrinode gateway ...`."""
    return run_gateway(argv)
