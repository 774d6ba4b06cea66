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
from collections.abc import Callable, Coroutine, Sequence

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.app import INTERNAL, create_app
from gateway.auth import MAX_TOKEN_BYTES
from gateway.settings import ENV_PREFIX, GatewayConfigError, GatewaySettings, load_settings

__all__ = ["RUNNER_OPTIONS", "json_log_handler", "main", "run_gateway", "serve"]

log = logging.getLogger("xtrinode.gateway")

RUNNER_OPTIONS: dict[str, Any] = {
    # Request bodies are never decompressed: a Content-Encoding is refused with 415 at the edge, so a
    # gzip bomb costs nothing.
    "auto_decompress": False,
    # Room for a bearer token up to MAX_TOKEN_BYTES, so an oversized one is a 401 that says why (the
    # parser answers 400 beyond this).
    "max_field_size": MAX_TOKEN_BYTES + 8192,
}
"""AppRunner options of the public listener (tests use them too)."""

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class _JsonFormatter(logging.Formatter):
    """One JSON object per record with a UTC timestamp; `extra=` fields (the access log's) are kept."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in body:
                body[key] = value
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


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


def json_log_handler() -> logging.Handler:
    """A stderr handler writing one JSON object per record (with a UTC timestamp and `extra=` fields)."""
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter())
    return handler


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
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=10.0, **RUNNER_OPTIONS)
    internal = web.AppRunner(app[INTERNAL], handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await internal.setup()
        site = web.TCPSite(runner, settings.listen.host, settings.listen.port, reuse_address=True)
        await site.start()
        internal_site = web.TCPSite(internal, settings.internal.host, settings.internal.port, reuse_address=True)
        await internal_site.start()
        log.info("gateway listening on %s:%s (internal %s:%s)", settings.listen.host,
                 runner.addresses[0][1] if runner.addresses else "?", settings.internal.host,
                 internal.addresses[0][1] if internal.addresses else "?")
        await stop.wait()
        log.info("gateway stopping")
    finally:
        await internal.cleanup()
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
    logging.basicConfig(level=settings.log_level.upper(), handlers=[json_log_handler()], force=True)
    try:
        run_loop(serve(settings, backend_resolver), settings.event_loop)
    except (OSError, ValueError) as e:
        print(f"error: the gateway could not start: {e}{start_hint}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`xtrinode gateway ...`."""
    return run_gateway(argv)
