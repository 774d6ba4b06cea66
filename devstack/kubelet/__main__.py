"""`python -m devstack.kubelet --kubeconfig PATH --state-dir DIR [...]`.

Runs in the foreground until SIGTERM/SIGINT, then stops every pod process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from xtrinode.durations import parse_duration

from .kubelet import Kubelet
from .settings import KubeletSettings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack.kubelet",
                                     description="local kubelet: runs the emulated cluster's Deployments as processes")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig of the Kubernetes API")
    parser.add_argument("--state-dir", type=Path, required=True, help="pod dirs, logs/ and services.json")
    parser.add_argument("--node-name", default="xtrinode-devstack", help="spec.nodeName of the pods (default %(default)s)")
    parser.add_argument("--namespace", action="append", default=[], help="manage only this namespace (repeatable)")
    parser.add_argument("--resync-period", default="5m", help="re-list period, e.g. 5m (default %(default)s)")
    parser.add_argument("--readiness-poll-interval", default="1s", help="readiness probe period (default %(default)s)")
    parser.add_argument("--in-process-nodes", action="store_true",
                        help="host every pod's emulated Trino inside the kubelet process (for scale tests with "
                             "hundreds of runtimes); default: one OS process per pod")
    parser.add_argument("--trino-home", type=Path,
                        help="an unpacked trino-server tarball: run real Trino instead of the emulator")
    parser.add_argument("--java-home", type=Path, help="JDK for real Trino (default $JAVA_HOME)")
    parser.add_argument("--emulator-arg", action="append", default=[],
                        help="extra flag for every emulator process, e.g. --emulator-arg=--announce-interval=1s")
    parser.add_argument("--log-level", default="INFO")
    return parser


async def _run(settings: KubeletSettings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with Kubelet(settings):
            print(f"kubelet running; services map at {settings.services_file}", flush=True)
            await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = KubeletSettings(
            kubeconfig=args.kubeconfig, state_dir=args.state_dir, node_name=args.node_name,
            namespaces=tuple(args.namespace), resync_period=parse_duration(args.resync_period),
            readiness_poll_interval=parse_duration(args.readiness_poll_interval),
            trino_home=args.trino_home, java_home=args.java_home,
            emulator_args=tuple(args.emulator_arg), in_process_nodes=args.in_process_nodes,
        )
        asyncio.run(_run(settings))
    except (ValueError, RuntimeError, NotImplementedError) as e:
        print(f"xtrinode kubelet: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
