"""`python -m devstack.realkube --state-dir D [--kube-bin DIR] [--port P] [--kubeconfig-out F]`.

Runs the real control plane in the foreground until SIGINT/SIGTERM; writes an admin kubeconfig.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .controlplane import ControlPlaneError, find_binaries
from .runner import RealControlPlane


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.realkube", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True, help="etcd data, keys, tokens, logs")
    parser.add_argument("--kube-bin", type=Path, help="directory with the binaries (default: scripts/fetch-kubernetes.sh)")
    parser.add_argument("--port", type=int, default=0, help="kube-apiserver port (default: free)")
    parser.add_argument("--kubeconfig-out", type=Path, help="where to write the admin kubeconfig")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        plane = RealControlPlane(find_binaries(args.kube_bin), args.state_dir, apiserver_port=args.port)
        took = plane.start()
    except ControlPlaneError as e:
        print(f"devstack.realkube: {e}", file=sys.stderr)
        return 1
    try:
        kubeconfig = plane.write_kubeconfig(args.kubeconfig_out or args.state_dir / "kubeconfig")
        print(f"control plane ready at {plane.url} in {took:.1f}s; export KUBECONFIG={kubeconfig}", flush=True)
        while not stop.wait(1.0):
            if not plane.alive():
                print(f"devstack.realkube: a process exited; see {plane.logs}", file=sys.stderr)
                return 1
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
