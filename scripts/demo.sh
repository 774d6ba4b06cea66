#!/usr/bin/env bash
# The README's run command. Until `xtrinode dev up` (the devstack) lands, it shows what exists:
# the admission verdicts and the rendered manifests of the example runtimes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== xtrinode validate (admission rules) on deploy/examples/"
"$BIN/xtrinode" validate $(for f in deploy/examples/*.yaml; do printf -- '-f %s ' "$f"; done) || true
echo
echo "== xtrinode render -f deploy/examples/minimal.yaml (what the lifecycle would apply)"
"$BIN/xtrinode" render -f deploy/examples/minimal.yaml
