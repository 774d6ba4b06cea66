"""`python -m devstack.kubeapi --port N [--host H] [--state-file F] [--kubeconfig-out P]`.

Serves in the foreground until SIGINT/SIGTERM, then saves the state file if one was given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from .runner import KubeApiServer
from .server import KubeApiSettings, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.kubeapi", description="Kubernetes API server emulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=6443, help="TCP port; 0 picks a free one (default 6443)")
    parser.add_argument("--state-file", "--state", dest="state_file", type=Path, help="JSON file to load at start and save to")
    parser.add_argument(
        "--kubeconfig-out", "--kubeconfig", dest="kubeconfig", type=Path, help="write a kubeconfig for this server here"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = KubeApiSettings(host=args.host, port=args.port, state_file=args.state_file)

    def ready(server: KubeApiServer) -> None:
        if args.kubeconfig is not None:
            server.write_kubeconfig(args.kubeconfig)
        print(f"kubeapi listening on {server.url}", flush=True)

    try:
        asyncio.run(run(settings, on_ready=ready))
    except OSError as e:
        print(f"kubeapi cannot listen on {args.host}:{args.port}: {e}; pick another --port", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
