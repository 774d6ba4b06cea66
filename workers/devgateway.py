"""The gateway process for the devstack: `python -m workers.devgateway --config FILE --services-file S`.

Loads the settings as `xtrinode gateway` does and resolves route backends (in-cluster Service URLs)
through the kubelet's services.json. Without `--services-file` it is the plain gateway process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from gateway.app import create_app
from gateway.cli import run_gateway
from gateway.settings import GatewayConfigError, GatewaySettings, load_settings
from xtrinode.devstack.jsonlog import JsonFormatter
from xtrinode.devstack.resolver import ServiceResolver

__all__ = ["main"]

log = logging.getLogger("xtrinode.gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xtrinode gateway",
        description="The Trino-aware query gateway. With --services-file (the devstack), route backends resolve "
        "through the kubelet's services.json.")
    parser.add_argument("--config", "-c", help="YAML settings file (as for `python -m gateway`)")
    parser.add_argument("--port", type=int, help="override listen.port")
    parser.add_argument("--services-file", type=Path,
                        help="devstack: the kubelet's services.json; backends resolve through it")
    return parser


async def _serve(settings: GatewaySettings, resolve: Callable[[str], str]) -> None:
    app = create_app(settings, backend_resolver=resolve)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=10.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, settings.listen.host, settings.listen.port, reuse_address=True)
        await site.start()
        log.info("gateway listening on %s:%s (backends via services.json)", settings.listen.host, settings.listen.port)
        await stop.wait()
        log.info("gateway stopping")
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """`xtrinode gateway ...`: the gateway; with `--services-file`, resolving through the devstack."""
    args = _parser().parse_args(argv)
    if args.services_file is None:
        return run_gateway(argv)
    try:
        settings = load_settings(args.config)
        if args.port is not None:
            settings = settings.model_copy(update={"listen": settings.listen.model_copy(update={"port": args.port})})
    except GatewayConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    try:
        asyncio.run(_serve(settings, ServiceResolver(args.services_file).resolve_url))
    except (OSError, ValueError) as e:
        print(f"error: the gateway could not start: {e}; pick another port (xtrinode dev up --gateway-port)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
