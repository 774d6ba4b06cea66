# Shared by the scripts/fetch-*.sh that build or fetch a tool once into the cache (source it).
# The caller sets `tool` (for messages), `home` (the cache entry) and `out` (what to print on stdout),
# and defines `complete` (true when the entry is whole). `cache_begin` prints `out` and exits when the
# entry is complete; otherwise it takes the entry's lock (waiting for a concurrent caller, then looking
# again) and makes `$work`, a scratch directory removed on exit. `go_build_env` sets the Go environment
# of an offline module-proxy build and `go_module_source MODULE@VERSION DEST` copies a module's source.

cache="${XTRINODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xtrinode}"

cache_begin() {
  if complete; then
    echo "$out"
    exit 0
  fi
  mkdir -p "$cache"
  exec 9>"$home.lock"
  if ! flock -n 9; then
    echo "$tool: another run is filling $home; waiting for it" >&2
    flock 9
  fi
  if complete; then   # the other run finished it
    echo "$out"
    exit 0
  fi
  work="$(mktemp -d "$cache/.build-$tool-XXXXXX")"
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  started=$SECONDS
}

go_build_env() {
  command -v go >/dev/null || { echo "$tool: needs the Go toolchain (go) on PATH" >&2; exit 1; }
  export GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local
}

go_module_source() {
  local module="$1" dest="$2" json dir
  echo "$tool: downloading $module" >&2
  json="$(go mod download -json "$module")" || true
  dir="$(sed -n -E 's/^\t"Dir": "(.*)",?$/\1/p' <<<"$json")"
  [[ -n "$dir" && -d "$dir" ]] || {
    echo "$tool: go mod download $module gave no source: $(sed -n -E 's/^\t"Error": "(.*)",?$/\1/p' <<<"$json")" >&2
    exit 1
  }
  cp -r "$dir" "$dest"
  chmod -R u+w "$dest"
}
