"""`xtrinode api-server --config FILE`: the API server process (workers/api), until SIGTERM/SIGINT.

Settings: YAML (`--config`) plus `XTRINODE_API__<SECTION>__<KEY>` environment overrides, unknown keys
refused by name; JSON log lines on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from workers.api import ApiServerSettings, create_app
from workers.api.settings import ENV_PREFIX
from xtrinode.settings_files import SettingsError, load_settings_file
from xtrinode.tracing import start_process

__all__ = ["main", "serve"]

log = logging.getLogger("xtrinode.api")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xtrinode api-server",
        description="The XTrinode API server: list, status, resume and suspend runtimes over HTTP. Settings come "
        f"from --config (YAML) and {ENV_PREFIX}<SECTION>__<KEY> environment variables, which win.")
    parser.add_argument("--config", "-c", help="YAML settings file")
    parser.add_argument("--port", type=int, help="Override listen.port")
    return parser


async def serve(settings: ApiServerSettings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, settings.listen.host, settings.listen.port, reuse_address=True)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else "?"
        log.info("api server listening on %s:%s", settings.listen.host, port)
        print(f"xtrinode api server ready on {settings.listen.host}:{port}", flush=True)
        await stop.wait()
        log.info("api server stopping")
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings_file(ApiServerSettings, args.config, ENV_PREFIX, "api server")
        if args.port is not None:
            settings = settings.model_copy(update={"listen": settings.listen.model_copy(update={"port": args.port})})
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    start_process("xtrinode-api", settings.log_level)
    try:
        asyncio.run(serve(settings))
    except (OSError, ValueError) as e:
        print(f"error: the api server could not start: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
