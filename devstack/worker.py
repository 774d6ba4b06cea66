"""The lifecycle worker for the devstack: `python -m devstack.worker --services-file S <worker flags>`.

The same process as `xtrinode worker` (workers/lifecycle.py), with in-cluster Service URLs resolved
through the kubelet's services.json (the devstack injects its resolver; the product never imports it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from devstack.resolver import ServiceResolver
from workers.lifecycle import main as worker_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """`xtrinode worker ...` flags plus `--services-file`, the kubelet's services.json."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--services-file", type=Path, help="devstack: the kubelet's services.json")
    known, rest = parser.parse_known_args(argv)
    if known.services_file is None:
        return worker_main(rest)
    return worker_main(rest, resolve=ServiceResolver(known.services_file).resolve_url)


if __name__ == "__main__":
    sys.exit(main())
