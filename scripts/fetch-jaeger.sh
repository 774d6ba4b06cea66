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
cache="${XTRINODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xtrinode}"
home="$cache/jaeger-v$version"
bin="$home/bin/jaeger"

complete() { [[ -f "$home/.complete" && -x "$bin" ]]; }

if complete; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "fetch-jaeger: needs the Go toolchain (go) on PATH" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$home.lock"
if ! flock -n 9; then
  echo "fetch-jaeger: another build of $home is running; waiting for it" >&2
  flock 9
fi
if complete; then   # the other build finished it
  echo "$bin"
  exit 0
fi
mkdir -p "$home/bin"
work="$(mktemp -d "$cache/.build-jaeger-XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
started=$SECONDS
echo "fetch-jaeger: downloading github.com/jaegertracing/jaeger@v$version" >&2
dir="$(go mod download -json "github.com/jaegertracing/jaeger@v$version" | sed -n -E 's/^\t"Dir": "(.*)",?$/\1/p')"
[[ -n "$dir" && -d "$dir" ]] || { echo "fetch-jaeger: go mod download github.com/jaegertracing/jaeger@v$version gave no source" >&2; exit 1; }
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
echo "fetch-jaeger: building cmd/jaeger v$version (the first build takes several minutes)" >&2
(cd "$work/src" && go build -trimpath -o "$work/jaeger" ./cmd/jaeger)
mv "$work/jaeger" "$bin"
echo "jaeger v$version, built $(date -u +%FT%TZ) in $((SECONDS - started))s (no UI assets)" >"$home/.complete"
echo "fetch-jaeger: done in $((SECONDS - started))s" >&2
echo "$bin"
