"""`xtrinode gateway --config FILE`: run the gateway process until SIGTERM/SIGINT, then shut down gracefully.

`run_gateway(argv)` is the entry point the `xtrinode` CLI calls; `python -m gateway` runs it too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from gateway.app import create_app
from gateway.settings import ENV_PREFIX, GatewayConfigError, GatewaySettings, load_settings

__all__ = ["main", "run_gateway", "serve"]

log = logging.getLogger("xtrinode.gateway")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return json.dumps(body)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xtrinode gateway",
        description="The Trino-aware query gateway. Settings come from --config (YAML, keys as in the chart's "
        f"`gateway:` values) and {ENV_PREFIX}<SECTION>__<KEY> environment variables, which win.",
    )
    parser.add_argument("--config", "-c", help="YAML settings file (optional: defaults plus environment)")
    parser.add_argument("--port", type=int, help="Override listen.port")
    return parser


async def serve(settings: GatewaySettings, backend_resolver: Callable[[str], str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests get a few seconds to finish."""
    app = create_app(settings, backend_resolver=backend_resolver)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=10.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, settings.listen.host, settings.listen.port, reuse_address=True)
        await site.start()
        log.info("gateway listening on %s:%s", settings.listen.host, runner.addresses[0][1] if runner.addresses else "?")
        await stop.wait()
        log.info("gateway stopping")
    finally:
        await runner.cleanup()


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
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    try:
        asyncio.run(serve(settings, backend_resolver))
    except (OSError, ValueError) as e:
        print(f"error: the gateway could not start: {e}{start_hint}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`xtrinode gateway ...`."""
    return run_gateway(argv)
