#!/usr/bin/env bash
# Build Jaeger all-in-one for `xtrinode dev up --traces`, once, into a cache.
#   scripts/fetch-jaeger.sh [VERSION]   prints the path of the jaeger binary on stdout
# Cache: $XTRINODE_CACHE_DIR, else $XDG_CACHE_HOME/xtrinode, else ~/.cache/xtrinode, keyed by version
# (jaeger-v1.76.0/bin/jaeger). The source comes from the Go module proxy
# (github.com/jaegertracing/jaeger/cmd/jaeger) and builds with the local Go toolchain; later runs print
# the cached path at once. The module zip carries no UI assets (cmd/query/app/ui/actual is empty; the
# release build fills it from the jaeger-ui submodule), so the binary serves a placeholder page at /
# and the full query API (/api/services, /api/traces/<id>, /api/v3/...). Idempotent and safe to run
# concurrently: a second caller waits on a lock and then finds the finished binary.
set -euo pipefail
version="${1:-${XTRINODE_JAEGER_VERSION:-1.76.0}}"
version="${version#v}"
tool=fetch-jaeger
source "$(dirname "${BASH_SOURCE[0]}")/lib/cache.sh"
home="$cache/jaeger-v$version"
out="$home/bin/jaeger"

complete() { [[ -f "$home/.complete" && -x "$out" ]]; }

cache_begin
go_build_env
mkdir -p "$home/bin"
go_module_source "github.com/jaegertracing/jaeger@v$version" "$work/src"
echo "fetch-jaeger: building cmd/jaeger v$version (the first build takes several minutes)" >&2
(cd "$work/src" && go build -trimpath -o "$work/jaeger" ./cmd/jaeger)
mv "$work/jaeger" "$out"
echo "jaeger v$version, built $(date -u +%FT%TZ) in $((SECONDS - started))s (no UI assets)" >"$home/.complete"
echo "fetch-jaeger: done in $((SECONDS - started))s" >&2
echo "$out"
