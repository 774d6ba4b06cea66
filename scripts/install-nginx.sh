#!/usr/bin/env bash
# nginx from Debian, for the gateway benchmark's baseline hop (bench/gateway.py); prints its path.
# Idempotent; as root it installs the package, otherwise it says what to run.
set -euo pipefail
if command -v nginx >/dev/null 2>&1; then command -v nginx; exit 0; fi
if [ -x /usr/sbin/nginx ]; then echo /usr/sbin/nginx; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-nginx: nginx is missing; run as root or: apt-get install nginx" >&2
  exit 1
fi
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
command -v nginx || echo /usr/sbin/nginx
