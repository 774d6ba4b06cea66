"""`python -m gateway --config FILE`: the same as `xtrinode gateway`."""

from __future__ import annotations

import sys

from gateway.cli import run_gateway

sys.exit(run_gateway())
