"""The gateway process for the devstack: `python -m devstack.gateway --config FILE --services-file S`.

The same process as `xtrinode gateway` (gateway/cli.py), with route backends (in-cluster Service URLs)
resolved through the kubelet's services.json. Without `--services-file` it is the plain gateway.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.cli import run_gateway
from devstack.resolver import ServiceResolver

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """`xtrinode gateway ...`: the gateway; with `--services-file`, resolving through the devstack."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--services-file", type=Path, help="devstack: the kubelet's services.json")
    known, rest = parser.parse_known_args(argv)
    if known.services_file is None:
        return run_gateway(rest)
    return run_gateway(rest, backend_resolver=ServiceResolver(known.services_file).resolve_url,
                       start_hint="; pick another port (xtrinode dev up --gateway-port)")


if __name__ == "__main__":
    sys.exit(main())
