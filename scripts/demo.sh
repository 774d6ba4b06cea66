#!/usr/bin/env bash
# The README's run command: the devstack in the foreground (`xtrinode dev up`); Ctrl-C stops it all.
# Extra flags come from XTRINODE_DEV_UP_ARGS, e.g. XTRINODE_DEV_UP_ARGS="--gateway-port 0 --state-dir /tmp/x".
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086  # word splitting of the extra flags is intended
exec .venv/bin/xtrinode dev up ${XTRINODE_DEV_UP_ARGS:-} "$@"
