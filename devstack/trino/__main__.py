"""`python -m devstack.trino --role coordinator|worker --port N [--config-dir DIR] ...`.

With no config dir: a single-node coordinator with the tpch catalog. Flags override the files;
a config the emulator refuses (like Trino would) exits with status 2 and a one-line reason.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from xtrinode.durations import parse_duration

from .config import ConfigError, load_settings
from .logs import configure_logging
from .node import serve
from .settings import NodeSettings

__all__ = ["UsageError", "main", "settings_from_argv"]


def _parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = parser_class(prog="python -m devstack.trino",
                                     description="Trino protocol emulator (one coordinator or worker)")
    parser.add_argument("--role", choices=("coordinator", "worker"), help="overrides coordinator= in config.properties")
    parser.add_argument("--port", type=int, help="overrides http-server.http.port (0 picks a free port)")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--config-dir", type=Path, help="rendered Trino etc directory")
    parser.add_argument("--environment", help="overrides node.environment")
    parser.add_argument("--node-id", help="overrides node.id")
    parser.add_argument("--discovery-uri", help="overrides discovery.uri")
    parser.add_argument("--version", dest="version", help="reported Trino version (default 476)")
    for flag, help_text in (
        ("--startup-delay", "report starting=true this long, e.g. 2s"),
        ("--shutdown-grace-period", "overrides shutdown.grace-period"),
        ("--required-workers-max-wait", "overrides query-manager.required-workers-max-wait"),
        ("--query-client-timeout", "overrides query.client.timeout"),
        ("--announce-interval", "worker announce period (default 5s)"),
        ("--announce-expiry", "announcement lifetime on the coordinator (default 30s)"),
        ("--node-poll-interval", "coordinator /v1/info poll period (default 5s)"),
    ):
        parser.add_argument(flag, help=help_text)
    parser.add_argument("--path-map", action="append", default=[], metavar="CONTAINER_PATH=LOCAL_DIR",
                        help="where a container path the config names lives here (repeatable; the devstack kubelet "
                             "passes each volume mount, e.g. /etc/trino=<pod dir>)")
    parser.add_argument("--required-workers", type=int, help="overrides query-manager.required-workers")
    parser.add_argument("--page-rows", type=int, help="rows per result page (default: pages of about 1 MB, as Trino)")
    parser.add_argument("--tpch-cache-dir", type=Path,
                        help="cache of generated tpch data (default ~/.cache/xtrinode/tpch-duckdb-<version>)")
    parser.add_argument("--process-forwarded", action="store_true", default=None,
                        help="as http-server.process-forwarded=true")
    parser.add_argument("--log-level", default="INFO")
    return parser


def _duration(value: str) -> timedelta:
    """`2s`, `500ms`, `5m`, or a bare number of seconds (`--startup-delay 2`)."""
    try:
        return timedelta(seconds=float(value))
    except ValueError:
        return parse_duration(value)


class UsageError(ValueError):
    """Flags argparse refuses (the process would print usage and exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def settings_from_argv(argv: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[NodeSettings, str]:
    """What `main` runs for these flags: the node settings (config files read with `env` for `${ENV:...}`)
    and the log level. The kubelet's in-process mode calls this with the argv a pod process would get, so
    both modes run the same node from the same flags. Raises `UsageError`, `ConfigError` or `ValueError`."""
    args = _parser(_Parser).parse_args(list(argv))
    overrides: dict[str, Any] = {
        "port": args.port, "host": args.host, "environment": args.environment, "node_id": args.node_id,
        "discovery_uri": args.discovery_uri, "version": args.version, "required_workers": args.required_workers,
        "page_rows": args.page_rows, "process_forwarded": args.process_forwarded,
        "tpch_cache_dir": args.tpch_cache_dir,
    }
    if args.role is not None:
        overrides["coordinator"] = args.role == "coordinator"
    for name in ("startup_delay", "shutdown_grace_period", "required_workers_max_wait", "query_client_timeout",
                 "announce_interval", "announce_expiry", "node_poll_interval"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = _duration(value)
    path_map = []
    for entry in args.path_map:
        container_path, sep, local = entry.partition("=")
        if not sep or not container_path.startswith("/") or not local:
            raise UsageError(f"--path-map {entry!r}: expected CONTAINER_PATH=LOCAL_DIR with an absolute container path")
        path_map.append((container_path, Path(local)))
    return load_settings(args.config_dir, overrides, env, path_map), str(args.log_level)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _parser().parse_args(argv)  # --help and usage errors as argparse prints them
    try:
        settings, log_level = settings_from_argv(argv)
    except (ConfigError, ValueError) as e:
        print(f"xtrinode trino emulator: {e}", file=sys.stderr)
        return 2
    configure_logging(log_level, role="coordinator" if settings.coordinator else "worker",
                      node_id=settings.node_id)
    logging.getLogger("devstack.trino").info(
        "starting", extra={"port": settings.port, "catalogs": [c.name for c in settings.catalogs]}
    )
    try:
        return asyncio.run(serve(settings))
    except OSError as e:
        logging.getLogger("devstack.trino").error(
            "cannot listen", extra={"host": settings.host, "port": settings.port, "error": str(e)}
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
